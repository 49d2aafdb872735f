"""``python -m d2l_alexnet.filters``: draw the first layer's learned filters, and keep that
layer's kernel of a full weights file as a small file of its own.

    python -m d2l_alexnet.filters --weights runs/chapter/weights.safetensors \\
        --save-kernel results/first-layer-filters/conv1.safetensors --out filters.png

``--minus`` draws what training changed instead (the kernel minus a start's, see
:func:`~d2l_alexnet.core.filters.kernel_change`).

Exit 2 with one ``error:`` line on bad input; nothing is written then.
"""

import errno
import os
import sys

from .cli import check_output_path, command_parser, failure_reason, main_of, path_argument
from .core.errors import RunFailed, UsageError
from .core.files import atomic_write_bytes
from .core.filters import (kernel_change, read_kernel, read_kernel_and_metadata,
                           save_filters_png, write_kernel)


def check_target(path, suffix, flag):
    if not path.endswith(suffix):
        raise UsageError(f"{flag} {path} must end in {suffix}")
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isfile(folder):
        raise UsageError(f"{flag} {path}: {folder} is a file, not a folder; name a file in a "
                         "folder")
    if not os.path.isdir(folder):
        raise UsageError(f"{flag} {path}: the folder {folder} does not exist; create it first")
    check_output_path(flag, path, is_file=True)  # writable (and not a folder itself)


def same_file(path, other):
    """Whether two paths name one file (through links too), or would: a path not written yet
    is compared by its absolute, resolved form."""
    try:
        return os.path.samefile(path, other)
    except OSError:
        return os.path.realpath(path) == os.path.realpath(other)


def run(args):
    if args.out is None and args.save_kernel is None:
        raise UsageError("nothing to do: give --out PNG (draw the filters), --save-kernel "
                         "FILE (keep the kernel), or both")
    for path, suffix, flag in ((args.out, ".png", "--out"),
                               (args.save_kernel, ".safetensors", "--save-kernel")):
        if path is not None:
            check_target(path, suffix, flag)
    for source, flag in ((args.weights, "--weights"), (args.minus, "--minus")):
        if args.save_kernel is not None and source is not None and same_file(args.save_kernel,
                                                                             source):
            raise UsageError(f"--save-kernel {args.save_kernel} is the {flag} file: keeping "
                             "the kernel there would replace what it is read from; name "
                             "another file")
    # Every check before anything is written; the weights file is read once.
    kernel, metadata = read_kernel_and_metadata(args.weights, log=print)
    drawn = kernel
    if args.minus is not None:
        drawn = kernel_change(kernel, read_kernel(args.minus, log=print), f"--minus {args.minus}")
    writes = [(path, write) for path, write in (
        (args.save_kernel, lambda: write_kernel(args.save_kernel, kernel, metadata, args.weights)),
        (args.out, lambda: save_filters_png(drawn, args.out, args.title))) if path is not None]
    # Files these writes replace (a kernel kept before, say), put back if a later write fails.
    earlier = {path: read_bytes(path) for path, _ in writes}
    written = []
    for path, write in writes:
        try:
            write()
        except BaseException as error:  # a full disk, or a Ctrl-C: leave no half output
            for done in written:
                if earlier[done] is None:
                    os.remove(done)
                else:
                    atomic_write_bytes(done, earlier[done])
            if not isinstance(error, OSError):
                raise
            fix = ("free some space" if error.errno == errno.ENOSPC
                   else "choose a writable place")
            raise FiltersWriteError(f"cannot write {path} ({failure_reason(error)}): {fix} and "
                                    "run it again; nothing was written") from None
        written.append(path)
    if args.save_kernel is not None:
        print(f"kept {tuple(kernel.shape)} conv1.weight in {args.save_kernel}")
    if args.out is not None:
        change = f" minus those of {args.minus}" if args.minus is not None else ""
        print(f"drew {kernel.shape[0]} filters{change} in {args.out}")
    return 0


def read_bytes(path):
    """The bytes of the file at ``path``, or ``None`` where there is none."""
    try:
        with open(path, "rb") as stream:
            return stream.read()
    except FileNotFoundError:
        return None


class FiltersWriteError(RunFailed):
    """The kernel or the figure could not be written (a full disk, say): exit 1."""


def main(argv=None):
    parser = command_parser(
        "filters", "Draw AlexNet's first-layer filters; keep that layer's kernel.")
    parser.add_argument("--weights", type=path_argument, required=True,
                        help="a weights.safetensors that training wrote, a checkpoint, or a kept "
                             "kernel file")
    parser.add_argument("--out", type=path_argument, default=None, metavar="PNG",
                        help="draw the filters here")
    parser.add_argument("--save-kernel", type=path_argument, default=None, metavar="FILE",
                        help="keep conv1.weight alone in this .safetensors file")
    parser.add_argument("--minus", type=path_argument, default=None, metavar="WEIGHTS",
                        help="draw what training changed: the filters of --weights minus those "
                             "of WEIGHTS (the run's initial weights, or an earlier checkpoint); "
                             "--save-kernel still keeps --weights' own kernel")
    parser.add_argument("--title", default=None, help="a title above the filters")
    return main_of(parser, run, argv)


if __name__ == "__main__":
    sys.exit(main())
