"""``python -m d2l_alexnet.cost``: the chapter's first exercise as a table (or JSON)."""

import json
import sys

from .cli import command_parser, stdout_failed
from .core.architecture import CHAPTER_RESIZE, IN_CHANNELS, minimum_resize
from .core.cost import cost_report, format_cost_report


def main(argv=None):
    parser = command_parser("cost", "Parameters, memory and FLOPs of AlexNet, layer by layer.")
    parser.add_argument("--resize", type=int, default=CHAPTER_RESIZE, help="input side in pixels")
    parser.add_argument("--num-classes", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=1, help="images per forward pass")
    parser.add_argument("--in-channels", type=int, default=IN_CHANNELS,
                        help="input channels: 1 for Fashion-MNIST (the default), 3 for RGB "
                             "images (the network train --image-folder builds for them)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    if args.num_classes < 2:
        parser.exit(2, f"error: --num-classes must be at least 2 (a classifier chooses between "
                       f"classes), got {args.num_classes}\n")
    if args.batch_size < 1:
        parser.exit(2, f"error: --batch-size must be at least 1, got {args.batch_size}\n")
    if args.in_channels < 1:
        parser.exit(2, f"error: --in-channels must be at least 1, got {args.in_channels}\n")
    if args.resize < minimum_resize():
        parser.exit(2, f"error: --resize must be at least {minimum_resize()} for AlexNet "
                       f"(the chapter uses {CHAPTER_RESIZE})\n")
    report = cost_report(args.resize, args.num_classes, args.batch_size, args.in_channels)
    return print_output(json.dumps(report, indent=2) if args.json else format_cost_report(report))


def print_output(text):
    """Print ``text`` to stdout; returns the exit status. A reader that stopped reading (``|
    head``) ends the command quietly, as it ends any other (141, 128 + SIGPIPE); a stdout that
    cannot be written (a full disk) is said in one line (1)."""
    try:
        print(text)
        sys.stdout.flush()
    except OSError as error:
        return stdout_failed(error, "the report")
    return 0


if __name__ == "__main__":
    sys.exit(main())
