"""The book's models on Gluon: ``Module``, ``Classifier``, the network from the shared table,
``AlexNet`` and the chapter's own ``BookAlexNet``, and the schedule their optimizer follows."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

import mxnet as mx
from mxnet import gluon, init
from mxnet.gluon import nn

from ..core.architecture import (ALEXNET, CHAPTER_RESIZE, IN_CHANNELS, Layer, as_size,
                                 check_in_channels, layer_table, with_dropout)
from ..core.module import ModuleContract, sequential_net_refusal
from ..core.recipe import LearningRatePlan
from ..core.types import Size
from .data import resize_images
from .runtime import (LAYOUT, NumpyModeError, check_float32_parameters, check_numpy_mode,
                      device_array, in_mode, naming_numpy_operators, numpy_mode, to_numpy)
from .weights import assign_parameter_arrays, parameter_arrays


SEQUENTIAL = (nn.Sequential, nn.HybridSequential)  # what features and layer_summary walk


class Module(nn.Block, ModuleContract):
    """Base of all models (d2l, sec_oo-design): a network, its loss and its optimizer."""

    LAYOUT, BACKEND = LAYOUT, "mxnet"

    def __init__(self, plot_train_per_epoch: int = 2, plot_valid_per_epoch: int = 1) -> None:
        super().__init__()
        self.save_hyperparameters()

    # What a weights file holds: this backend's parameter arrays (weights.py), as methods.
    weight_arrays, assign_weight_arrays = parameter_arrays, assign_parameter_arrays

    def __call__(self, *inputs: Any) -> Any:
        try:
            with naming_numpy_operators():  # a lesson's npx.relu on our arrays: say what to write
                return super().__call__(*inputs)
        except Exception:
            # Checked only on failure (collect_params would cost each step): a model called in
            # the other NumPy mode than it was built in fails deep in Gluon; say which and why.
            try:
                check_numpy_mode(self)
            except NumpyModeError as mismatch:
                raise mismatch from None
            raise

    # Copies and pickles: the model made again from its class, its hyperparameters and its
    # weights, hybridized again (a hybridized block's cached graph holds C pointers, and a
    # trained parameter its Gluon Trainer, neither of which pickles).
    __reduce__ = ModuleContract.rebuilding_reduce
    __copy__ = ModuleContract.shallow_copy

    def copy_state(self) -> dict[str, Any]:
        """The parameters (BatchNorm's statistics too), the devices they live on, and which
        blocks are hybridized (with their options)."""
        hybridized = [(index, dict(block._flags)) for index, block in enumerate(_blocks(self))
                      if isinstance(block, nn.HybridBlock) and block._active]
        contexts = next(iter(self.collect_params().values())).list_ctx()
        return {"weights": self.weight_arrays(), "contexts": contexts, "hybridized": hybridized}

    def restore_copy_state(self, state: dict[str, Any]) -> None:
        contexts = state["contexts"]
        gpus = mx.context.num_gpus()
        if contexts != [mx.cpu()] and all(context.device_type == "cpu"
                                          or context.device_id < gpus for context in contexts):
            self.collect_params().reset_ctx(contexts)  # where the original is, if there is one
        self.assign_weight_arrays(state["weights"])
        blocks = _blocks(self)
        for index, flags in state["hybridized"]:
            blocks[index].hybridize(True, **flags)

    def forward(self, X: mx.nd.NDArray) -> mx.nd.NDArray:
        self.check_input_shape(X.shape)
        return self.net(X)

    def parameter_context(self) -> mx.Context:
        """Where the (first copy of the) parameters live: the model's inputs go there."""
        return next(iter(self.collect_params().values())).list_ctx()[0]

    def images_to_input(self, images: np.ndarray) -> mx.nd.NDArray:
        return resize_images(images, self.input_size,  # type: ignore[arg-type]  # built for one
                             ctx=self.parameter_context())

    def evaluate_batch(self, X: Any, features: bool) -> np.ndarray:
        check_numpy_mode(self)
        if isinstance(X, mx.nd.NDArray):
            X = in_mode(X)
        else:
            X = device_array(to_numpy(X), self.parameter_context())
        X = X.as_in_context(self.parameter_context())
        layers = self._feature_layers() if features else [self]  # its forward, as fit runs
        try:
            with naming_numpy_operators():
                for layer in layers:  # outside autograd.record: predict mode, dropout is off
                    X = layer(X)
            return X.astype("float32").asnumpy()  # (MXNet raises its errors at the copy)
        except mx.base.MXNetError:
            try:  # checked on failure only: it walks every parameter
                check_float32_parameters(self)
            except TypeError as refusal:
                raise refusal from None
            raise

    def _feature_layers(self) -> list[Any]:
        """``self.net``'s layers but its last, whose input ``features`` gives; refused in one
        line for a model without a sequential ``self.net``."""
        net = getattr(self, "net", None)
        if not isinstance(net, SEQUENTIAL):
            raise sequential_net_refusal(self, "features")
        return list(net)[:-1]

    def configure_optimizers(self) -> gluon.Trainer:
        """A Gluon Trainer with the model's recipe: ``sgd``, or ``nag`` for Nesterov's momentum,
        with ``wd`` (coupled L2, as MXNet applies it); with a schedule (the trainer's plan over
        its run), an ``mxnet.lr_scheduler`` of the update count."""
        recipe = self.recipe
        settings = {"learning_rate": recipe.lr, "momentum": recipe.momentum,
                    "wd": recipe.weight_decay}
        plan = getattr(getattr(self, "trainer", None), "lr_plan", None)
        if plan is not None:
            settings["lr_scheduler"] = PlannedSchedule(plan)
        return gluon.Trainer(self.collect_params(), "nag" if recipe.nesterov else "sgd",
                             settings)

    def layer_outputs(self, X_shape: Sequence[int]) -> Iterator[tuple[str, tuple[int, ...]]]:
        if not isinstance(getattr(self, "net", None), SEQUENTIAL):
            raise sequential_net_refusal(self, "layer_summary")
        ctx = next(iter(self.collect_params().values())).list_ctx()[0]
        X = (mx.np.random.normal(size=X_shape, ctx=ctx) if numpy_mode()
             else mx.nd.random.normal(shape=X_shape, ctx=ctx))
        for layer in self.net:  # outside autograd.record: predict mode, dropout is off
            with naming_numpy_operators():
                X = layer(X)
            yield type(layer).__name__, X.shape


def _blocks(model: nn.Block) -> list[nn.Block]:
    """Every block of ``model`` (itself last), in the order Gluon's ``apply`` walks them."""
    blocks: list[nn.Block] = []
    model.apply(blocks.append)
    return blocks


class Classifier(Module):
    """A model that predicts classes: cross-entropy loss and accuracy (d2l, sec_classification)."""

    def validation_step(self, batch: Sequence[mx.nd.NDArray],
                        ) -> tuple[mx.nd.NDArray, mx.nd.NDArray]:
        return self.score_validation(self(*batch[:-1]), batch[-1])

    def accuracy(self, Y_hat: mx.nd.NDArray, Y: mx.nd.NDArray, averaged: bool = True,
                 ) -> mx.nd.NDArray:
        Y_hat = Y_hat.reshape((-1, Y_hat.shape[-1]))
        preds = Y_hat.argmax(axis=1).astype(Y.dtype)
        compare = (preds == Y.reshape((-1,))).astype("float32")
        return compare.mean() if averaged else compare

    def loss(self, Y_hat: mx.nd.NDArray, Y: mx.nd.NDArray, averaged: bool = True,
             ) -> mx.nd.NDArray:
        Y_hat = Y_hat.reshape((-1, Y_hat.shape[-1]))
        losses = gluon.loss.SoftmaxCrossEntropyLoss()(Y_hat, Y.reshape((-1,)))
        smoothing = self.smoothing()
        if smoothing:  # the targets' share ε spread evenly: ε × the mean of -log p over classes
            log_softmax = mx.npx.log_softmax if numpy_mode() else mx.nd.log_softmax
            losses = ((1 - smoothing) * losses
                      - smoothing * log_softmax(Y_hat, axis=-1).mean(axis=-1))
        return losses.mean() if averaged else losses


class PlannedSchedule(mx.lr_scheduler.LRScheduler):
    """A :class:`~d2l_alexnet.core.recipe.LearningRatePlan` as an MXNet scheduler. MXNet counts
    updates from 1 (the first update asks for ``num_update`` 1), the plan steps from 0."""

    def __init__(self, plan: LearningRatePlan) -> None:
        super().__init__(base_lr=plan.lr)
        self.plan = plan

    def __call__(self, num_update: int) -> float:
        return self.plan(max(0, num_update - 1))


def build_network(num_classes: int = 10, resize: Size = CHAPTER_RESIZE,
                  layers: Sequence[Layer] = ALEXNET, in_channels: int = IN_CHANNELS,
                  ) -> nn.HybridSequential:
    """``nn.HybridSequential`` from the shared architecture table, as the book writes it for Gluon.

    A ReLU row right after a convolution or dense layer becomes that layer's ``activation``, and
    the flatten row is dropped (Gluon's ``Dense`` flattens its input), so the summary prints the
    book's MXNet lines. Input sizes come from the table, so no parameter's initialization is
    deferred to a first forward pass.
    """
    net = nn.HybridSequential()
    rows = layer_table(resize, num_classes, in_channels, layers=layers)
    in_shape: tuple[int, ...] = (in_channels,)
    for index, row in enumerate(rows):
        layer = row.layer
        following = rows[index + 1].layer.kind if index + 1 < len(rows) else None
        activation = following if following in ("relu", "sigmoid") else None
        if layer.kind == "conv":
            net.add(nn.Conv2D(layer.units, layer.kernel, layer.stride, layer.padding,
                              activation=activation, in_channels=in_shape[0]))
        elif layer.kind == "dense":
            net.add(nn.Dense(row.output_shape[0], activation=activation, in_units=in_shape[0]))
        elif layer.kind in ("maxpool", "avgpool"):
            pool = nn.MaxPool2D if layer.kind == "maxpool" else nn.AvgPool2D
            net.add(pool(layer.kernel, layer.stride, layer.padding))
        elif layer.kind == "dropout":
            net.add(nn.Dropout(layer.rate))
        elif (layer.kind in ("relu", "sigmoid")
              and (index == 0 or rows[index - 1].layer.kind not in ("conv", "dense"))):
            net.add(nn.Activation(layer.kind))  # an activation with nothing to fold into
        in_shape = row.output_shape
    return net


class AlexNet(Classifier):
    """AlexNet as in the chapter (Krizhevsky et al., 2012; d2l, sec_alexnet).

    ``resize``: the input's side, or its ``(height, width)``, that the dense layers are sized
    for (224 in the chapter); ``in_channels``: 1 for greyscale (Fashion-MNIST), 3 for RGB.
    Weights are Xavier-uniform (magnitude 3: bound sqrt(6/(fan_in+fan_out))) and biases zero
    from the start. ``dropout`` overrides the table's rate (0.5) when given (0 turns dropout
    off); ``layers``: another table of rows (``core/architecture.py``) to build instead.

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
        with self.name_scope():
            self.net = build_network(num_classes, resize, with_dropout(dropout, self.table),
                                     in_channels)
        self.net.initialize(init.Xavier(rnd_type="uniform", factor_type="avg", magnitude=3))
        # One cached graph instead of op-by-op Python calls.
        self.net.hybridize()


class BookAlexNet(Classifier):
    """The chapter's AlexNet written the way the book writes it for MXNet (sec_alexnet): one
    Gluon ``nn.Sequential``, the ReLUs as the layers' activations, no flatten (Gluon's ``Dense``
    flattens), input sizes inferred at the first forward pass, the first convolution unpadded.
    It computes exactly :class:`AlexNet`'s function; ours states every input size, so no
    initialization waits for a first batch, and is hybridized into one graph. It runs in both
    of MXNet's modes, classic (``mx.nd``) and NumPy (after the book's ``npx.set_np()``): the
    forward pass that makes its parameters is given zeros of the mode in force."""

    def __init__(self, lr=0.1, num_classes=10):
        super().__init__()
        self.save_hyperparameters()
        with self.name_scope():
            self.net = nn.Sequential()
            self.net.add(
                nn.Conv2D(96, kernel_size=11, strides=4, activation="relu"),
                nn.MaxPool2D(pool_size=3, strides=2),
                nn.Conv2D(256, kernel_size=5, padding=2, activation="relu"),
                nn.MaxPool2D(pool_size=3, strides=2),
                nn.Conv2D(384, kernel_size=3, padding=1, activation="relu"),
                nn.Conv2D(384, kernel_size=3, padding=1, activation="relu"),
                nn.Conv2D(256, kernel_size=3, padding=1, activation="relu"),
                nn.MaxPool2D(pool_size=3, strides=2),
                nn.Dense(4096, activation="relu"), nn.Dropout(0.5),
                nn.Dense(4096, activation="relu"), nn.Dropout(0.5),
                nn.Dense(num_classes))
        self.net.initialize(init.Xavier(rnd_type="uniform", factor_type="avg", magnitude=3))
        zeros = mx.np.zeros if mx.npx.is_np_array() else mx.nd.zeros  # npx.set_np() or not
        self.net(zeros((1, IN_CHANNELS, CHAPTER_RESIZE, CHAPTER_RESIZE)))  # the sizes


# Outside the class, which stays the book's listing (the chapter shows its source): its dense
# layer is sized for 224×224 inputs, which the Trainer checks data against.
BookAlexNet.BUILT_FOR = CHAPTER_RESIZE


def example_input_shape(resize: Size = CHAPTER_RESIZE, batch_size: int = 1,
                        in_channels: int = IN_CHANNELS) -> tuple[int, int, int, int]:
    """The input layout of this backend (NCHW) for ``layer_summary``."""
    return (batch_size, in_channels, *as_size(resize))
