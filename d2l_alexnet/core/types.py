"""Names for the types the public API's annotations share."""

import numbers
import os
from typing import Any, Callable, Union

import numpy as np

__all__ = ["PathLike", "Log", "Size", "Record", "is_whole", "is_flag", "is_number",
           "log_or_none", "user_path"]

# A file or folder as every function here takes it: a string or a path object.
PathLike = Union[str, "os.PathLike[str]"]
# Where a function says what it did, one line at a time (``print`` by default).
Log = Callable[[str], object]
# An image size: the side of a square, or ``(height, width)``.
Size = Union[int, "tuple[int, int]"]
# An epoch's entry in ``trainer.history`` (``epoch``, ``step``, ``train_loss``, ``val_acc``...).
Record = dict[str, Any]


def is_whole(value: object) -> bool:
    """Whether ``value`` is a whole number: a Python or numpy integer, but not a bool (which
    Python counts as one, so ``True`` would pass as a size of 1)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def log_or_none(owner: str, log: Any) -> Log | None:
    """``log`` as the library calls it: a function of one line (``print``, a logger's
    ``info``), or ``None`` for silence, which ``False`` means too (the word people reach for);
    anything else that cannot be called is refused at once, where it failed at the first line
    to say (after every image of a folder was decoded, or a setup)."""
    if log is None or log is False:
        return None
    if not callable(log) or isinstance(log, type):
        raise TypeError(f"{owner}: log must be a function that takes one line (print, say) or "
                        f"None for silence, got {log!r}")
    return log


def is_flag(value: object) -> bool:
    """Whether ``value`` is ``True`` or ``False``: a Python or numpy bool. Anything else is
    refused where a flag is taken, as Python would read it as one: ``augment="False"`` and
    ``progress="no"`` are true."""
    return isinstance(value, (bool, np.bool_))


def is_number(value: object) -> bool:
    """Whether ``value`` is a real number (Python's or numpy's, whole or not), but not a bool
    nor a string of digits (``lr="0.01"`` failed deep in the arithmetic)."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def user_path(path: PathLike) -> PathLike:
    """A path given in Python with ``~`` expanded to the home folder, as the shell and the CLI's
    path flags expand it (and torchvision's datasets and Lightning's checkpoints): taken as it
    is, ``Checkpointer("~/ck")`` made a folder named ``~`` in the current one. A path object
    stays one."""
    if isinstance(path, str):
        return os.path.expanduser(path)
    expanduser = getattr(path, "expanduser", None)
    return expanduser() if callable(expanduser) else os.path.expanduser(os.fspath(path))
