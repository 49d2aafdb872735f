"""The models: the book's ``Module`` and ``Classifier`` as Keras models, the chapter's network
built from the shared table (:func:`build_network`, :class:`AlexNet`), the book's own
:class:`BookAlexNet`, ``init_cnn``, and the learning-rate schedule ``configure_optimizers``
uses."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from ..core.architecture import (ALEXNET, CHAPTER_RESIZE, IN_CHANNELS, Layer, as_size,
                                 check_in_channels, layer_table, with_dropout)
from ..core.module import ModuleContract, constructor_arguments
from ..core.recipe import LearningRatePlan
from ..core.types import Log, PathLike, Size
from .data import resize_images
from .runtime import LAYOUT, keras, tf, to_numpy
from .weights import assign_parameter_arrays, parameter_arrays


def init_cnn(layer: Any) -> None:
    """Xavier-uniform kernel and zero bias for a built ``Conv2D`` or ``Dense`` (d2l, sec_lenet).

    :class:`AlexNet` already starts this way (its layers are built with these initializers);
    this re-initializes a layer, and refuses one whose weights do not exist yet.
    """
    if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense)):
        if not layer.built:
            raise ValueError(f"{layer.name} has no weights yet: build it before init_cnn")
        layer.kernel.assign(keras.initializers.GlorotUniform()(layer.kernel.shape))
        layer.bias.assign(tf.zeros(layer.bias.shape))


class Module(keras.Model, ModuleContract):
    """Base of all models (d2l, sec_oo-design): a network, its loss and its optimizer."""

    def __init__(self, plot_train_per_epoch: int = 2, plot_valid_per_epoch: int = 1) -> None:
        super().__init__()
        # Keras 3's Trainer.__init__ sets ``self.loss = None`` (compile()'s slot), which would hide
        # the book's ``loss`` method; we never compile, so drop the instance attribute.
        self.__dict__.pop("loss", None)
        self.save_hyperparameters()

    LAYOUT, BACKEND = LAYOUT, "tensorflow"

    def loss(self, y_hat: Any, y: Any) -> Any:
        raise NotImplementedError

    # What a weights file holds: this backend's parameter arrays (weights.py), as methods.
    weight_arrays, assign_weight_arrays = parameter_arrays, assign_parameter_arrays

    def __setattr__(self, name: str, value: Any) -> None:
        # Keras 3 tracks only its own Variables: a tf.Variable made by hand (the book's
        # from-scratch models, self.W1 = tf.Variable(...)) would be left out of the model's
        # variables, so it would neither train nor be checkpointed. Kept with Keras' own.
        previous = self.__dict__.get(name)
        super().__setattr__(name, value)
        if "_non_trainable_variables" not in self.__dict__:  # before Keras' tracker exists
            return
        trainable, other = self._trainable_variables, self._non_trainable_variables
        if isinstance(previous, tf.Variable):  # replaced: the old one is no longer the model's
            for variables in (trainable, other):  # (by identity: == on variables is elementwise)
                variables[:] = [variable for variable in variables if variable is not previous]
        if isinstance(value, tf.Variable) and not any(v is value for v in self.variables):
            (trainable if value.trainable else other).append(value)

    def forward(self, X: Any) -> Any:
        """The book's ``forward`` (sec_oo-design): the network ``self.net`` on ``X``. A lesson's
        model overrides it (a from-scratch model computes with its own variables); every call,
        in training, evaluation and prediction alike, goes through it."""
        if getattr(self, "net", None) is None:
            raise NotImplementedError(f"{type(self).__name__} has no forward method and no "
                                      "self.net: define forward(self, X) or set self.net")
        return self.net(X)  # training=: Keras passes the call's own to the layers inside

    def call(self, X: Any, *args: Any, training: bool | None = None) -> Any:
        self.check_input_shape(tuple(X.shape))  # static shapes: checked when traced
        if training is not None:  # as the book's Module: a from-scratch dropout reads it
            self.training = training
        return self.forward(X, *args)

    def network(self, purpose: str,
                fix: str = "build its layers as a keras.Sequential in self.net") -> Any:
        """``self.net``, for what walks its layers (``purpose``); refused in one line, with
        ``fix``, for a model that computes in its own ``forward`` without one."""
        net = getattr(self, "net", None)
        if net is None:
            raise TypeError(f"{purpose} needs the layers of self.net, and {type(self).__name__} "
                            f"has none (it computes in forward): {fix}")
        return net

    def save_weights(self, filepath: PathLike, *args: Any,  # type: ignore[override]
                     classes: Sequence[str] | None = None, **kwargs: Any) -> None:
        """The canonical safetensors file every backend reads (``ModuleContract.save_weights``,
        with ``classes`` by keyword, as in every backend); ``*.weights.h5``: Keras' own format,
        with Keras' options."""
        if str(filepath).endswith(".weights.h5"):
            _refuse_our_options("save_weights", filepath, {"classes": classes is not None})
            return super().save_weights(filepath, *args, **kwargs)
        _refuse_keras_options("save_weights", filepath, args, kwargs, "classes=")
        return ModuleContract.save_weights(self, filepath, classes=classes)

    def load_weights(self, filepath: PathLike, *args: Any,  # type: ignore[override]
                     skip_head: bool = False, log: Log | None = print, **kwargs: Any) -> Any:
        """From a canonical weights file (``ModuleContract.load_weights``: ``skip_head`` and
        ``log`` by keyword, the channel rule); returns the model. ``*.weights.h5``: Keras' own
        format, with Keras' options."""
        if str(filepath).endswith(".weights.h5"):
            _refuse_our_options("load_weights", filepath,
                                {"skip_head": skip_head is not False, "log": log is not print})
            return super().load_weights(filepath, *args, **kwargs)
        _refuse_keras_options("load_weights", filepath, args, kwargs, "skip_head= and log=")
        return ModuleContract.load_weights(self, filepath, skip_head=skip_head, log=log)

    # Copies and pickles: the model made again from its class, its hyperparameters and its
    # variables (Keras' own __reduce__ rebuilds from a config of registered classes).
    __reduce__ = ModuleContract.rebuilding_reduce
    __copy__ = ModuleContract.shallow_copy

    def get_config(self) -> dict[str, Any]:
        """The constructor's arguments, as ``save_hyperparameters`` kept them (Keras' own
        config of a subclassed model holds the defaults, not the values given)."""
        return constructor_arguments(type(self), self.hparams)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Module:
        """A model made from :meth:`get_config`'s arguments (its own docstring: Keras' does not
        read as reStructuredText on the API page)."""
        return cls(**config)

    def copy_state(self) -> dict[str, Any]:
        """Every variable's value in order (the weights, hand-made ``tf.Variable``s, the dropout
        layers' seed states) and the input shape ``self.net`` was built for."""
        net = getattr(self, "net", None)
        built = net is not None and net.built and net.get_build_config()
        return {"variables": [to_numpy(variable) for variable in self.variables],
                "net_build_config": built or None}

    def restore_copy_state(self, state: dict[str, Any]) -> None:
        arrays, build_config = state["variables"], state["net_build_config"]
        if len(self.variables) != len(arrays) and build_config is not None:
            self.net.build_from_config(build_config)  # a lesson's, built by its first batch
        variables = self.variables
        if [tuple(variable.shape) for variable in variables] != [array.shape for array in arrays]:
            raise TypeError(f"{type(self).__name__} made again from its hyperparameters has "
                            f"{len(variables)} variables of other shapes than the "
                            f"{len(arrays)} it is copied from: keep its weights with "
                            "save_weights and load_weights")
        for variable, array in zip(variables, arrays):
            variable.assign(array)

    # Class indices, as in every backend, not Keras' outputs (those are model(X, training=False)).
    predict = ModuleContract.predict

    def images_to_input(self, images: np.ndarray) -> Any:
        return resize_images(images, self.input_size)  # type: ignore[arg-type]  # built for one

    def evaluate_batch(self, X: Any, features: bool) -> np.ndarray:
        X = tf.convert_to_tensor(X)
        if not features:  # through forward, as training and evaluation go
            return tf.cast(self(X, training=False), tf.float32).numpy()
        for layer in self.network(f"{type(self).__name__}.features").layers[:-1]:
            X = layer(X, training=False)  # training=False: dropout off
        return tf.cast(X, tf.float32).numpy()

    def training_step(self, batch: Sequence[Any]) -> Any:
        loss = self.loss(self(*batch[:-1], training=True), batch[-1])
        self.plot("loss", loss, train=True)
        return loss

    def validation_step(self, batch: Sequence[Any]) -> Any:
        loss = self.loss(self(*batch[:-1], training=False), batch[-1])
        self.plot("loss", loss, train=False)
        return loss

    def configure_optimizers(self) -> keras.optimizers.SGD:
        """Keras' SGD with the model's recipe; with a schedule (the trainer's plan over its
        run), its learning rate is a ``keras.optimizers.schedules`` schedule of the step.
        (Weight decay is not Keras' decoupled ``weight_decay``: the trainer adds the coupled L2
        term to the gradients, as the other backends' SGD does.)"""
        recipe = self.recipe
        plan = getattr(getattr(self, "trainer", None), "lr_plan", None)
        return keras.optimizers.SGD(
            learning_rate=recipe.lr if plan is None else PlannedSchedule(plan),
            momentum=recipe.momentum, nesterov=recipe.nesterov)

    def layer_outputs(self, X_shape: Sequence[int]) -> Iterator[tuple[str, tuple[int, ...]]]:
        X = tf.random.normal(X_shape)
        for layer in self.network(f"{type(self).__name__}.layer_summary").layers:
            X = layer(X, training=False)
            yield type(layer).__name__, tuple(X.shape)


class Classifier(Module):
    """A model that predicts classes: cross-entropy loss and accuracy (d2l, sec_classification)."""

    def validation_step(self, batch: Sequence[Any]) -> tuple[Any, Any]:
        return self.score_validation(self(*batch[:-1], training=False), batch[-1])

    def accuracy(self, Y_hat: Any, Y: Any, averaged: bool = True) -> Any:
        Y_hat = tf.reshape(Y_hat, (-1, Y_hat.shape[-1]))
        preds = tf.cast(tf.argmax(Y_hat, axis=1), Y.dtype)
        compare = tf.cast(preds == tf.reshape(Y, (-1,)), tf.float32)
        return tf.reduce_mean(compare) if averaged else compare

    def loss(self, Y_hat: Any, Y: Any, averaged: bool = True) -> Any:
        # Logits in fp32 even under bf16: the softmax's log-sum-exp needs the range.
        Y_hat = tf.cast(tf.reshape(Y_hat, (-1, Y_hat.shape[-1])), tf.float32)
        losses = tf.nn.sparse_softmax_cross_entropy_with_logits(tf.reshape(Y, (-1,)), Y_hat)
        smoothing = self.smoothing()
        if smoothing:  # the targets' share ε spread evenly: ε × the mean of -log p over classes
            losses = ((1 - smoothing) * losses
                      - smoothing * tf.reduce_mean(tf.nn.log_softmax(Y_hat), axis=-1))
        return tf.reduce_mean(losses) if averaged else losses


class PlannedSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """A :class:`~d2l_alexnet.core.recipe.LearningRatePlan` as a Keras schedule: the same
    rates, in TensorFlow ops on the optimizer's step (so a compiled step reads it each time)."""

    def __init__(self, plan: LearningRatePlan) -> None:
        self.plan = plan

    def __call__(self, step: Any) -> Any:
        plan = self.plan
        step = tf.cast(step, tf.float32)
        warmup = plan.lr + (plan.peak_lr - plan.lr) * step / max(plan.warmup_steps, 1)
        if plan.schedule == "constant":  # the peak after the warmup, however long the run
            after = tf.constant(plan.peak_lr, tf.float32)
        else:
            # Never a division by 0 (tf.where computes both branches: a warmup as long as the
            # run made the rate after it NaN); a falling schedule's recipe check already leaves
            # it steps after its warmup, so the values are the plan's.
            falling = max(plan.total_steps - plan.warmup_steps, 1)
            progress = tf.clip_by_value((step - plan.warmup_steps) / falling, 0.0, 1.0)
            after = (plan.peak_lr * (1.0 - progress) if plan.schedule == "onecycle"
                     else plan.peak_lr * 0.5 * (1.0 + tf.cos(np.pi * progress)))
        return tf.where(step < plan.warmup_steps, warmup, after)

    def get_config(self) -> dict[str, Any]:
        return dataclasses.asdict(self.plan)


ACTIVATIONS = ("relu", "sigmoid")  # rows folded into the layer before them, as the book writes


def _keras_padding(layer):
    """Keras' own padding for a row: "valid" (none) or "same" (kernel - 1 in all, at stride
    1); ``None`` where the row's padding must come first, from a layer of its own. Keras' "same"
    average pooling leaves its padding out of each mean, where the other backends count the
    zeros, so a padded average pool always takes the explicit zeros."""
    if layer.padding == 0:
        return "valid"
    if (layer.stride == 1 and 2 * layer.padding == layer.kernel - 1
            and layer.kind != "avgpool"):
        return "same"
    return None


class LowestPadding2D(keras.layers.Layer):
    """Pads the height and width by ``padding`` on each side with -inf: a max pool's padding,
    which no window's maximum takes (zeros would win over negative inputs), as PyTorch, JAX
    and MXNet pad theirs."""

    def __init__(self, padding: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.padding = padding

    def call(self, inputs: Any) -> Any:
        side = [self.padding, self.padding]
        return tf.pad(inputs, [[0, 0], side, side, [0, 0]], constant_values=float("-inf"))

    def compute_output_shape(self, input_shape: tuple[Any, ...]) -> tuple[Any, ...]:
        batch, height, width, channels = input_shape
        grow = 2 * self.padding
        return (batch, None if height is None else height + grow,
                None if width is None else width + grow, channels)


def _padded(layer, make):
    """``make(padding)``'s Keras layer, after a padding layer where Keras has no padding of the
    row's own (zeros for a convolution or an average pool, -inf for a max pool)."""
    padding = _keras_padding(layer)
    if padding is not None:
        return [make(padding)]
    pad = LowestPadding2D if layer.kind == "maxpool" else keras.layers.ZeroPadding2D
    return [pad(layer.padding), make("valid")]


def build_network(num_classes: int = 10, resize: Size = CHAPTER_RESIZE,
                  layers: Sequence[Layer] = ALEXNET, in_channels: int = IN_CHANNELS,
                  ) -> keras.Sequential:
    """``keras.Sequential`` from the shared architecture table, built for ``in_channels`` ×
    ``resize`` inputs (a side or ``(height, width)``).

    As in the book's TensorFlow code, a ReLU row after a convolution or dense layer becomes that
    layer's ``activation``, so the printed summary has the book's 14 lines.
    """
    rows = layer_table(resize, num_classes, in_channels, layers=layers)
    init = dict(kernel_initializer="glorot_uniform", bias_initializer="zeros")  # Xavier (sec_lenet)
    modules = []
    for index, row in enumerate(rows):
        layer = row.layer
        following = rows[index + 1].layer.kind if index + 1 < len(rows) else None
        activation = following if following in ACTIVATIONS else None
        if layer.kind == "conv":
            modules += _padded(layer, lambda padding: keras.layers.Conv2D(
                layer.units, layer.kernel, layer.stride, padding, activation=activation, **init))
        elif layer.kind == "dense":
            modules.append(keras.layers.Dense(row.output_shape[0], activation=activation, **init))
        elif layer.kind in ACTIVATIONS:
            if index == 0 or rows[index - 1].layer.kind not in ("conv", "dense"):
                modules.append(keras.layers.Activation(layer.kind))  # nothing to fold it into
        elif layer.kind in ("maxpool", "avgpool"):
            pool = (keras.layers.MaxPooling2D if layer.kind == "maxpool"
                    else keras.layers.AveragePooling2D)
            modules += _padded(layer, lambda padding: pool(layer.kernel, layer.stride, padding))
        elif layer.kind == "flatten":
            modules.append(keras.layers.Flatten())
        elif layer.kind == "dropout":
            modules.append(keras.layers.Dropout(layer.rate))
    net = keras.Sequential(modules)
    # Built now, from the known input size, so the weights exist (and are Xavier) at once.
    net.build((None, *example_input_shape(resize, in_channels=in_channels)[1:]))
    return net


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

    :meth:`save_weights`/:meth:`load_weights` override Keras' own: they write and read the
    canonical safetensors file every backend shares. Paths ending in ``.weights.h5`` still go to
    Keras' format.
    """

    TAKES_RECIPE = True  # its momentum, schedule... are the optimizer's (core/module.py)

    def __init__(self, lr: float = 0.1, num_classes: int = 10, resize: Size = CHAPTER_RESIZE,
                 in_channels: int = IN_CHANNELS, dropout: float | None = None,
                 layers: Sequence[Layer] | None = None, *, momentum: float = 0.0,
                 nesterov: bool = False, weight_decay: float = 0.0, label_smoothing: float = 0.0,
                 schedule: str = "constant", warmup_epochs: float | None = None,
                 max_lr: float | None = None) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["layers"])  # Keras reserves the attribute `layers`
        self.hparams["layers"] = layers
        check_in_channels(in_channels)
        self.recipe.check()  # a bad momentum, say, refused now rather than at fit
        self.net = build_network(num_classes, resize, with_dropout(dropout, self.table),
                                 in_channels)
        self.built = True  # self.net is built; nothing else holds weights


class BookAlexNet(Classifier):
    """The chapter's AlexNet written the way the book writes it for TensorFlow (sec_alexnet):
    one ``keras.Sequential``, the ReLUs as the layers' activations, the first convolution
    unpadded. It computes exactly :class:`AlexNet`'s function; what differs is around it: the
    book's Keras layers start from Keras' defaults (Glorot-uniform kernels, as Xavier here,
    and zero biases), and the book never passes ``training=``, so its dropout never acts in
    training; ours always says which."""

    def __init__(self, lr=0.1, num_classes=10):
        super().__init__()
        self.save_hyperparameters()
        self.net = keras.Sequential([
            keras.layers.Conv2D(filters=96, kernel_size=11, strides=4, activation="relu"),
            keras.layers.MaxPooling2D(pool_size=3, strides=2),
            keras.layers.Conv2D(filters=256, kernel_size=5, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(pool_size=3, strides=2),
            keras.layers.Conv2D(filters=384, kernel_size=3, padding="same", activation="relu"),
            keras.layers.Conv2D(filters=384, kernel_size=3, padding="same", activation="relu"),
            keras.layers.Conv2D(filters=256, kernel_size=3, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(pool_size=3, strides=2),
            keras.layers.Flatten(),
            keras.layers.Dense(4096, activation="relu"), keras.layers.Dropout(0.5),
            keras.layers.Dense(4096, activation="relu"), keras.layers.Dropout(0.5),
            keras.layers.Dense(num_classes)])
        self.net.build((None, CHAPTER_RESIZE, CHAPTER_RESIZE, IN_CHANNELS))
        self.built = True


# Outside the class, which stays the book's listing (the chapter shows its source): its dense
# layer is sized for 224×224 inputs, which the Trainer checks data against.
BookAlexNet.BUILT_FOR = CHAPTER_RESIZE


def example_input_shape(resize: Size = CHAPTER_RESIZE, batch_size: int = 1,
                        in_channels: int = IN_CHANNELS) -> tuple[int, int, int, int]:
    """The input layout of this backend (NHWC) for ``layer_summary``."""
    return (batch_size, *as_size(resize), in_channels)


def _refuse_keras_options(method: str, filepath: PathLike, args: tuple[Any, ...],
                          kwargs: dict[str, Any], ours: str) -> None:
    """A safetensors file takes only our keyword options: what else a call gives (positional
    values, Keras' options for its ``.weights.h5``) would be dropped without a word."""
    if args or kwargs:
        given = [repr(value) for value in args] + [f"{name}=" for name in kwargs]
        raise TypeError(f"{method}({str(filepath)!r}, ...) got {', '.join(given)}: a .safetensors "
                        f"file takes only {ours} by keyword, as in every backend (Keras' own "
                        f"options are for a .weights.h5 file)")


def _refuse_our_options(method: str, filepath: PathLike, given: dict[str, bool]) -> None:
    """A Keras ``.weights.h5`` file takes only Keras' options: ours (``classes``, ``skip_head``,
    ``log``) would be dropped without a word, as Keras has nowhere to put them."""
    names = [f"{name}=" for name, is_given in given.items() if is_given]
    if names:
        raise TypeError(f"{method}({str(filepath)!r}, ...) got {', '.join(names)}: a Keras "
                        ".weights.h5 file takes only Keras' options; ours are for a "
                        ".safetensors path, as in every backend")
