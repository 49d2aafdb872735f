"""The chapter's models on PyTorch: ``Module``, ``Classifier``, ``build_network``, ``AlexNet``,
``BookAlexNet`` and the book's ``init_cnn``."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.modules.lazy import LazyModuleMixin

from ..core.architecture import (ALEXNET, CHAPTER_RESIZE, IN_CHANNELS, Layer, as_size,
                                 check_in_channels, layer_table, with_dropout)
from ..core.module import ModuleContract, sequential_net_refusal
from ..core.types import Size
from .data import resize_images
from .runtime import LAYOUT, to_numpy
from .weights import assign_parameter_arrays, parameter_arrays


def init_cnn(module: nn.Module) -> None:
    """Xavier-uniform weights and zero biases for convolutions and dense layers (d2l, sec_lenet).

    Biases: the book's version leaves them at PyTorch's default (uniform within
    ±1/sqrt(fan_in)); this one sets them to zero, as our AlexNet has always started. A layer
    built with ``bias=False`` (a convolution before BatchNorm) gets its weights only.

    The book's version compares ``type(module)`` and so silently skips lazy layers, which keep
    PyTorch's default initialization. Here a lazy layer whose parameters do not exist yet gets
    a hook that initializes them as soon as its first forward pass makes them (``apply_init``,
    ``layer_summary``; our Trainer asks for one first), so ``self.net.apply(d2l.init_cnn)`` at
    the end of ``__init__``, as the book's later lessons write it, really initializes them.
    """
    if not isinstance(module, (nn.Conv2d, nn.Linear)):
        return
    if isinstance(module, LazyModuleMixin) and module.has_uninitialized_params():
        if not hasattr(module, "_init_cnn_hook"):  # once, however often init_cnn is applied
            # Prepended: it runs before the layer's own hook, so it sees whether the forward
            # pass is what makes the parameters (a load_state_dict may have made them already).
            module._init_cnn_hook = module.register_forward_pre_hook(
                _init_cnn_when_materialized, prepend=True, with_kwargs=True)
        return
    _xavier_and_zeros(module)


def _xavier_and_zeros(module: nn.Conv2d | nn.Linear) -> None:
    nn.init.xavier_uniform_(module.weight)
    if module.bias is not None:  # bias=False
        nn.init.zeros_(module.bias)


def _init_cnn_when_materialized(module: nn.Module, args: tuple[Any, ...],
                                kwargs: dict[str, Any]) -> None:
    """Forward pre-hook left by ``init_cnn`` on a lazy layer: makes its parameters from the
    first input (what the layer's own hook, which runs next, would do) and initializes them;
    parameters loaded meanwhile are kept. Runs once."""
    if module.has_uninitialized_params():
        module.initialize_parameters(*args, **kwargs)
        _xavier_and_zeros(module)
    module._init_cnn_hook.remove()
    del module._init_cnn_hook


_MAKING_LOCKS = threading.Lock()  # so two threads make one model's lock once


class Module(nn.Module, ModuleContract):
    """Base of all models (d2l, sec_oo-design): a network, its loss and its optimizer."""

    LAYOUT, BACKEND = LAYOUT, "pytorch"

    def __init__(self, plot_train_per_epoch: int = 2, plot_valid_per_epoch: int = 1) -> None:
        super().__init__()
        self.save_hyperparameters()

    # What a weights file holds: this backend's parameter arrays (weights.py), as methods.
    weight_arrays, assign_weight_arrays = parameter_arrays, assign_parameter_arrays

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        self.check_input_shape(X.shape)
        return self.net(X)

    def to_host(self, value: Any) -> np.ndarray:
        return to_numpy(value)

    def parameter_device(self) -> torch.device:
        """Where the parameters live (the model's inputs go there)."""
        return next(self.parameters()).device

    def images_to_input(self, images: np.ndarray) -> torch.Tensor:
        X = torch.from_numpy(np.ascontiguousarray(images)).to(self.parameter_device())
        return resize_images(X, self.input_size)  # type: ignore[arg-type]  # built for a size

    def evaluate_batch(self, X: Any, features: bool) -> np.ndarray:
        network = self._feature_layers() if features else self  # its forward, as fit runs it
        # The mode is one flag of the shared model: another thread's predict between this
        # eval() and its train() would run with dropout on, and then leave the model in eval.
        with self._evaluation_lock():
            was_training = self.training
            self.eval()  # dropout off
            try:
                with torch.no_grad():
                    X = torch.as_tensor(X).to(self.parameter_device())
                    return to_numpy(network(X).float())
            finally:
                self.train(was_training)

    def _evaluation_lock(self) -> threading.RLock:
        """This model's lock around a batch's evaluation, made on first use (a lock cannot be
        pickled or copied: :meth:`__getstate__` leaves it out, and a copy makes its own)."""
        lock = self.__dict__.get("_evaluation_lock_")
        if lock is None:
            with _MAKING_LOCKS:
                lock = self.__dict__.setdefault("_evaluation_lock_", threading.RLock())
        return lock

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state.pop("_evaluation_lock_", None)
        return state

    def _feature_layers(self) -> nn.Sequential:
        """``self.net`` but its last layer, whose output ``features`` gives; refused in one line
        for a network that is not an ``nn.Sequential`` (which of its layers is last is its own
        ``forward``'s business)."""
        net = getattr(self, "net", None)
        if not isinstance(net, nn.Sequential):
            raise sequential_net_refusal(self, "features")
        return net[:-1]

    def configure_optimizers(self) -> torch.optim.SGD | dict[str, Any]:
        """SGD with the model's recipe; with a schedule (the trainer's plan over its run), also
        a ``LambdaLR`` that the trainer steps after every optimizer step (Lightning's config,
        ``"interval": "step"``: its default is once per epoch)."""
        recipe = self.recipe
        optimizer = torch.optim.SGD(self.parameters(), lr=recipe.lr, momentum=recipe.momentum,
                                    nesterov=recipe.nesterov, weight_decay=recipe.weight_decay)
        plan = getattr(getattr(self, "trainer", None), "lr_plan", None)
        if plan is None:
            return optimizer
        # A partial of a module's function, not a lambda: the model holds its trainer, and so
        # this scheduler, which must pickle with it (torch.save(model), a process pool).
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, functools.partial(factor_of_the_plan, plan, recipe.lr))
        return {"optimizer": optimizer,
                "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def apply_init(self, inputs: Sequence[torch.Tensor],
                   init: Callable[[nn.Module], object] | None = None) -> None:
        """Run a forward pass (materializing lazy layers), then apply ``init`` (the book's)."""
        self.forward(*inputs)
        if init is not None:
            self.net.apply(init)

    def layer_outputs(self, X_shape: Sequence[int]) -> Iterator[tuple[str, torch.Size]]:
        if not isinstance(getattr(self, "net", None), nn.Sequential):
            raise sequential_net_refusal(self, "layer_summary")
        X = torch.randn(*X_shape, device=next(self.parameters()).device)
        with torch.no_grad():
            for layer in self.net:
                X = layer(X)
                yield type(layer).__name__, X.shape


class Classifier(Module):
    """A model that predicts classes: cross-entropy loss and accuracy (d2l, sec_classification)."""

    def validation_step(self, batch: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        return self.score_validation(self(*batch[:-1]), batch[-1])

    def accuracy(self, Y_hat: torch.Tensor, Y: torch.Tensor, averaged: bool = True,
                 ) -> torch.Tensor:
        Y_hat = Y_hat.reshape((-1, Y_hat.shape[-1]))
        compare = (Y_hat.argmax(dim=1).type(Y.dtype) == Y.reshape(-1)).type(torch.float32)
        return compare.mean() if averaged else compare

    def loss(self, Y_hat: torch.Tensor, Y: torch.Tensor, averaged: bool = True,
             ) -> torch.Tensor:
        Y_hat = Y_hat.reshape((-1, Y_hat.shape[-1]))
        return F.cross_entropy(Y_hat, Y.reshape((-1,)), reduction="mean" if averaged else "none",
                               label_smoothing=self.smoothing())


def build_network(num_classes: int = 10, resize: Size = CHAPTER_RESIZE,
                  layers: Sequence[Layer] = ALEXNET, in_channels: int = IN_CHANNELS,
                  ) -> nn.Sequential:
    """``nn.Sequential`` from the shared architecture table; sizes come from the table, so no
    layer is lazy and every initialization really happens."""
    modules = []
    in_shape: tuple[int, ...] = (in_channels,)
    for row in layer_table(resize, num_classes, in_channels, layers=layers):
        layer = row.layer
        if layer.kind == "conv":
            modules.append(nn.Conv2d(in_shape[0], layer.units, layer.kernel, layer.stride,
                                     layer.padding))
        elif layer.kind == "dense":
            modules.append(nn.Linear(in_shape[0], row.output_shape[0]))
        elif layer.kind == "relu":
            # Not in place: no faster here, and it breaks DDP on Gloo (BENCHMARKS.md).
            modules.append(nn.ReLU())
        elif layer.kind == "sigmoid":
            modules.append(nn.Sigmoid())
        elif layer.kind == "maxpool":
            modules.append(nn.MaxPool2d(layer.kernel, layer.stride, layer.padding))
        elif layer.kind == "avgpool":
            modules.append(nn.AvgPool2d(layer.kernel, layer.stride, layer.padding))
        elif layer.kind == "flatten":
            modules.append(nn.Flatten())
        elif layer.kind == "dropout":
            modules.append(nn.Dropout(layer.rate))
        in_shape = row.output_shape
    return nn.Sequential(*modules)


def factor_of_the_plan(plan: Any, lr: float, step: int) -> float:
    """The planned rate at ``step`` as ``LambdaLR``'s factor of the optimizer's ``lr``."""
    return plan(step) / lr


class AlexNet(Classifier):
    """AlexNet as in the chapter (Krizhevsky et al., 2012; d2l, sec_alexnet).

    ``resize``: the input's side, or its ``(height, width)``, that the dense layers are sized
    for (224 in the chapter); ``in_channels``: 1 for greyscale (Fashion-MNIST), 3 for RGB;
    ``dropout`` overrides the table's rate (0.5) when given (0 turns dropout off); ``layers``:
    another table of rows (``core/architecture.py``) to build instead of the chapter's.

    The keyword arguments ``momentum``, ``nesterov``, ``weight_decay``, ``label_smoothing``,
    ``schedule``, ``warmup_epochs`` and ``max_lr`` are the training recipe
    (:class:`~d2l_alexnet.core.recipe.TrainingRecipe`); their defaults, with ``lr=0.01``, are
    the chapter's plain SGD.
    """

    TAKES_RECIPE = True  # its momentum, schedule... are the optimizer's (core/module.py)

    def __init__(self, lr: float = 0.1, num_classes: int = 10, resize: Size = CHAPTER_RESIZE,
                 in_channels: int = IN_CHANNELS, dropout: float | None = None,
                 layers: Sequence[Layer] | None = None, *, momentum: float = 0.0,
                 nesterov: bool = False, weight_decay: float = 0.0, label_smoothing: float = 0.0,
                 schedule: str = "constant", warmup_epochs: float | None = None,
                 max_lr: float | None = None) -> None:
        super().__init__()
        self.save_hyperparameters()
        check_in_channels(in_channels)
        self.recipe.check()  # a bad momentum, say, refused now rather than at fit
        self.net = build_network(num_classes, resize, with_dropout(dropout, self.table),
                                 in_channels)
        self.net.apply(init_cnn)


class BookAlexNet(Classifier):
    """The chapter's AlexNet written the way the book writes it for PyTorch (sec_alexnet): one
    ``nn.Sequential`` of lazy layers, the first convolution padded by 1. Shapes and parameters
    are :class:`AlexNet`'s; the padding shifts the first windows by a pixel. One fix: the book
    applies ``init_cnn`` to layers that do not exist yet, which does nothing, so here one forward
    pass at 224×224 makes them first and Xavier initialization really happens."""

    def __init__(self, lr=0.1, num_classes=10):
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Sequential(
            nn.LazyConv2d(96, kernel_size=11, stride=4, padding=1), nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.LazyConv2d(256, kernel_size=5, padding=2), nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.LazyConv2d(384, kernel_size=3, padding=1), nn.ReLU(),
            nn.LazyConv2d(384, kernel_size=3, padding=1), nn.ReLU(),
            nn.LazyConv2d(256, kernel_size=3, padding=1), nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=2), nn.Flatten(),
            nn.LazyLinear(4096), nn.ReLU(), nn.Dropout(p=0.5),
            nn.LazyLinear(4096), nn.ReLU(), nn.Dropout(p=0.5),
            nn.LazyLinear(num_classes))
        self.apply_init([torch.zeros(1, 1, CHAPTER_RESIZE, CHAPTER_RESIZE)], init_cnn)



# Outside the class, which stays the book's listing (the chapter shows its source): its dense
# layer is sized for 224×224 inputs, which the Trainer checks data against.
BookAlexNet.BUILT_FOR = CHAPTER_RESIZE


def example_input_shape(resize: Size = CHAPTER_RESIZE, batch_size: int = 1,
                        in_channels: int = IN_CHANNELS) -> tuple[int, int, int, int]:
    """The input layout of this backend (NCHW) for ``layer_summary``."""
    return (batch_size, in_channels, *as_size(resize))
