"""``python -m d2l_alexnet``: the package's commands, and a way to run any of them.

``python -m d2l_alexnet`` lists them; ``python -m d2l_alexnet train --backend jax`` is the same as
``python -m d2l_alexnet.train --backend jax`` (and so for every command).
"""

import importlib
import sys

from . import __version__
from .cli import print_anywhere, printed

# Each command is the module d2l_alexnet.<name>, whose main(argv) returns the exit status.
COMMANDS = {
    "train": "train AlexNet on Fashion-MNIST (the chapter's run) or on your own image folder",
    "evaluate": "validation loss and accuracy of a weights file",
    "predict": "classify image files with a weights file: class names and probabilities",
    "bench": "throughput of a training step, or the time a recipe takes to reach an accuracy",
    "cost": "parameters, memory and FLOPs of AlexNet, layer by layer (no framework needed)",
    "filters": "draw the first layer's learned filters, or keep that layer's kernel",
}


def usage():
    width = max(map(len, COMMANDS))
    lines = [f"d2l-alexnet {__version__}: the AlexNet chapter of Dive into Deep Learning",
             "",
             "usage: python -m d2l_alexnet COMMAND [flags]   (or python -m d2l_alexnet.COMMAND)",
             "", "commands:"]
    lines += [f"  {name:<{width}}  {summary}" for name, summary in COMMANDS.items()]
    lines += ["", "python -m d2l_alexnet COMMAND --help says what a command takes."]
    return "\n".join(lines)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    print_anywhere()  # (its refusal below too: a full stderr loses it, not the exit status)
    if not argv or argv[0] in ("-h", "--help", "--version"):
        return printed(f"d2l-alexnet {__version__}" if argv[:1] == ["--version"] else usage())
    command, *rest = argv
    if command not in COMMANDS:
        print(f"error: no command {command!r}: choose one of {', '.join(COMMANDS)} "
              "(python -m d2l_alexnet lists them)", file=sys.stderr)
        return 2
    return importlib.import_module(f"d2l_alexnet.{command}").main(rest)


if __name__ == "__main__":
    sys.exit(main())
