"""``HyperParameters``: the book's way of keeping constructor arguments (d2l, sec_oo-design)."""

import inspect


class HyperParameters:
    """Base class that stores a constructor's arguments as attributes.

    ``self.save_hyperparameters()`` called inside ``__init__`` copies every argument of that
    ``__init__`` (except ``self``, the names in ``ignore`` and ``_``-prefixed ones) onto the object,
    so ``AlexNet(lr=0.01).lr == 0.01`` without a line of boilerplate per argument.
    """

    def save_hyperparameters(self, ignore=()):
        frame = inspect.currentframe().f_back
        _, _, _, local_vars = inspect.getargvalues(frame)
        self.hparams = {
            name: value
            for name, value in local_vars.items()
            if name not in set(ignore) | {"self"} and not name.startswith("_")
            # Skip the implicit cell variable that zero-argument super() puts in the frame.
            and name != "__class__"
        }
        for name, value in self.hparams.items():
            setattr(self, name, value)
