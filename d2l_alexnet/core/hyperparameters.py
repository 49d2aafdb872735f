"""``HyperParameters``: the book's way of keeping constructor arguments, and ``add_to_class``,
its way of writing a class's methods in cells of their own (d2l, sec_oo-design)."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

Function = TypeVar("Function", bound=Callable[..., Any])


def add_to_class(Class: type) -> Callable[[Function], Function]:
    """A decorator that makes the function it decorates a method of ``Class``, as the book's
    later lessons write theirs (``@d2l.add_to_class(ResNet)`` above ``def block(self, ...)``).
    Unlike the book's, it gives the function back, so its name still names it after the cell."""
    def add(function: Function) -> Function:
        setattr(Class, function.__name__, function)
        return function
    return add


class HyperParameters:
    """Base class that stores a constructor's arguments as attributes.

    ``self.save_hyperparameters()`` called inside ``__init__`` copies every argument of that
    ``__init__`` (except ``self``, the names in ``ignore`` and ``_``-prefixed ones) onto the object,
    so ``AlexNet(lr=0.01).lr == 0.01`` without a line of boilerplate per argument.
    """

    def save_hyperparameters(self, ignore: Iterable[str] = ()) -> None:
        # CPython always has frames (currentframe() is None only on implementations without).
        frame = inspect.currentframe().f_back  # type: ignore[union-attr]
        _, _, _, local_vars = inspect.getargvalues(frame)  # type: ignore[arg-type]
        self.hparams = {
            name: value
            for name, value in local_vars.items()
            if name not in set(ignore) | {"self"} and not name.startswith("_")
            # Skip the implicit cell variable that zero-argument super() puts in the frame.
            and name != "__class__"
        }
        for name, value in self.hparams.items():
            setattr(self, name, value)

    if TYPE_CHECKING:
        # save_hyperparameters sets each argument of a subclass's __init__ as an attribute: a
        # type checker cannot see which, so any attribute it does not know reads as Any.
        def __getattr__(self, name: str) -> Any: ...
