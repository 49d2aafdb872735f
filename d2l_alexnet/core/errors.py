"""The errors d2l_alexnet raises for a person to act on, under one base.

Every one carries the exit status the command-line tools give it (``d2l_alexnet/cli.py``):

- 2, the default: input to change (a flag, a data or weights file, a checkpoint that does not
  fit, a device that is not there). Nothing has been written when it is raised.
- 1 (:class:`RunFailed` and its kind): a run that went wrong on its way (a loss that diverged,
  a disk that filled up while writing).

The message is one sentence that names the fix; the tools print it after ``error: ``. Each
module keeps its own class (``DataError``, ``WeightsError``...) so a caller can catch one kind;
catching :class:`D2LAlexNetError` catches them all.
"""


class D2LAlexNetError(Exception):
    """Base of every error meant for a person; ``exit_status`` is what the CLIs exit with."""

    exit_status = 2


class UsageError(D2LAlexNetError):
    """Bad command-line input: the message names the fix."""


class DeviceError(D2LAlexNetError, RuntimeError):
    """The device asked for is not there (``device="gpu"`` without a GPU, say). A
    ``RuntimeError`` too, as the backends raised before there was a base."""


class RunFailed(D2LAlexNetError):
    """A run that failed on its way, after its input was accepted."""

    exit_status = 1
