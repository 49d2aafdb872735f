"""The errors d2l_alexnet raises for a person to act on, under one base.

Every one carries the exit status the command-line tools give it (``d2l_alexnet/cli.py``):

- 2, the default: input to change (a flag, a data or weights file, a checkpoint that does not
  fit, a device that is not there). Nothing has been written when it is raised.
- 1 (:class:`RunFailed` and its kind): a run that went wrong on its way (a loss that diverged,
  a disk that filled up while writing).

The message is one sentence that names the fix; the tools print it after ``error: ``. A message
that names a setting (``lr``) spells it as a Python caller writes it (``lr=0.02``), and
:meth:`D2LAlexNetError.for_command_line` as the tools take it (``--lr 0.02``). Each
module keeps its own class (``DataError``, ``WeightsError``...) so a caller can catch one kind;
catching :class:`D2LAlexNetError` catches them all.
"""

from __future__ import annotations

from typing import Callable


class D2LAlexNetError(Exception):
    """Base of every error meant for a person; ``exit_status`` is what the CLIs exit with."""

    exit_status = 2

    def __init__(self, *args: object, **settings: object) -> None:
        """``settings``: the values of the ``{name}`` fields of the message (``args[0]``),
        spelled ``name=value`` in ``str(error)`` and ``--name value`` on the command line."""
        self.settings = settings
        if settings:
            self.template, *rest = args
            args = (self.spelled(self.in_python), *rest)
        super().__init__(*args)

    @staticmethod
    def in_python(name: str, value: object) -> str:
        """How ``str(error)`` spells a setting (an error type may say some otherwise)."""
        return python_spelling(name, value)

    def spelled(self, spelling: Callable[[str, object], str]) -> str:
        """The message with each setting written by ``spelling(name, value)``."""
        if not self.settings:
            return str(self)
        text = str(self.template)
        for name, value in self.settings.items():
            text = text.replace("{" + name + "}", spelling(name, value))
        return text

    def for_command_line(self) -> str:
        """The message as the command-line tools print it (settings as their flags)."""
        return self.spelled(command_line_spelling)


def python_spelling(name: str, value: object) -> str:
    return f"{name}={value}"


def command_line_spelling(name: str, value: object) -> str:
    return f"--{name.replace('_', '-')} {value}"


class UsageError(D2LAlexNetError):
    """Bad command-line input: the message names the fix."""


class DeviceError(D2LAlexNetError, RuntimeError):
    """The device asked for is not there (``device="gpu"`` without a GPU, say). A
    ``RuntimeError`` too, as the backends raised before there was a base."""


class RunFailed(D2LAlexNetError):
    """A run that failed on its way, after its input was accepted."""

    exit_status = 1
