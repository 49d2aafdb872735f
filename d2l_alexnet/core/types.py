"""Names for the types the public API's annotations share (PEP 604 unions, Python >= 3.10)."""

import os
from typing import Callable, Union

__all__ = ["PathLike", "Log", "Size"]

# A file or folder as every function here takes it: a string or a path object.
PathLike = Union[str, "os.PathLike[str]"]
# Where a function says what it did, one line at a time (``print`` by default).
Log = Callable[[str], object]
# An image size: the side of a square, or ``(height, width)``.
Size = Union[int, "tuple[int, int]"]
