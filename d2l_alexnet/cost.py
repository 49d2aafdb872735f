"""``python -m d2l_alexnet.cost``: the chapter's first exercise as a table (or JSON), for the
chapter's AlexNet or, with ``--model``, LeNet-5 and the exercises' tables."""

import json
import sys
from collections.abc import Sequence

from .cli import command_parser, stdout_failed
from .core.architecture import IN_CHANNELS, minimum_resize
from .core.cost import MODELS, NATURAL_RESIZE, TITLE_NAMES, cost_report, format_cost_report

# Where each table's own input side comes from, for the refusal of a resize too small for it.
_RESIZE_SOURCE = {"alexnet": "the chapter uses"}


def main(argv: Sequence[str] | None = None) -> int:
    parser = command_parser("cost", "Parameters, memory and FLOPs of AlexNet (or of another "
                                    "table, --model), layer by layer.")
    parser.add_argument("--model", default="alexnet", metavar="NAME",
                        help=f"the table to cost: {', '.join(MODELS)} (default: alexnet, the "
                             "chapter's; the others are exercises 5 and 7's)")
    parser.add_argument("--resize", type=int, default=None,
                        help="input side in pixels (default: the model's own, 224 for "
                             "alexnet, 28 for the exercises' tables)")
    parser.add_argument("--num-classes", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=1, help="images per forward pass")
    parser.add_argument("--in-channels", type=int, default=IN_CHANNELS,
                        help="input channels: 1 for Fashion-MNIST (the default), 3 for RGB "
                             "images (the network train --image-folder builds for them)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    # Checked here, not with argparse's choices, whose refusal is a usage block, not one line.
    if args.model not in MODELS:
        parser.exit(2, f"error: unknown --model {args.model!r}: choose one of "
                       f"{', '.join(MODELS)}\n")
    if args.num_classes < 2:
        parser.exit(2, f"error: --num-classes must be at least 2 (a classifier chooses between "
                       f"classes), got {args.num_classes}\n")
    if args.batch_size < 1:
        parser.exit(2, f"error: --batch-size must be at least 1, got {args.batch_size}\n")
    if args.in_channels < 1:
        parser.exit(2, f"error: --in-channels must be at least 1, got {args.in_channels}\n")
    layers, natural = MODELS[args.model], NATURAL_RESIZE[args.model]
    resize = natural if args.resize is None else args.resize
    smallest = minimum_resize(layers)
    if resize < smallest:
        parser.exit(2, f"error: --resize must be at least {smallest} for "
                       f"{TITLE_NAMES.get(args.model, args.model)} "
                       f"({_RESIZE_SOURCE.get(args.model, 'the exercises use')} {natural})\n")
    try:
        report = cost_report(resize, args.num_classes, args.batch_size, args.in_channels,
                             layers=layers, model=args.model)
    except ValueError as error:  # any other size the table cannot take, said by layer_table
        parser.exit(2, f"error: {error}\n")
    return print_output(json.dumps(report, indent=2) if args.json else format_cost_report(report))


def print_output(text: str) -> int:
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
