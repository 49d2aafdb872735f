"""What every backend's ``Module``/``Classifier`` shares, without a framework (d2l, sec_oo-design).

Each backend's ``Classifier`` implements ``loss``, ``accuracy``, ``training_step``,
``validation_step``, ``configure_optimizers`` and ``layer_outputs``; this mixin turns the last
into the book's ``layer_summary`` printout, so all four print the same way. It also holds the
parts of reuse that are the same everywhere: the input-shape check with its one-line message,
and ``predict``/``features`` batching over numpy images or framework tensors.
"""

from __future__ import annotations

import inspect
import numbers
import random
from collections.abc import Iterator, Sequence
from dataclasses import fields
from typing import Any, ClassVar, TYPE_CHECKING

import numpy as np

from . import weights
from .arrays import dtype_name, host_array
from .architecture import (ALEXNET, IN_CHANNELS, Layer, as_size, check_layers, format_size,
                           layer_table)
from .errors import D2LAlexNetError
from .hyperparameters import HyperParameters
from .images import CHANNEL_COUNTS, channels_last
from .language import say
from .progress import ProgressBoard
from .recipe import TrainingRecipe
from .types import Log, PathLike, Size, is_whole, log_or_none

# A batch's shape as a framework gives it (a side may be unknown: None).
Shape = Sequence["int | None"]


class InputShapeError(D2LAlexNetError, ValueError):
    """A batch does not fit the model's input; the message names the shape the model expects
    and the argument that changes it."""


def input_shape_problem(shape: Shape, layout: str | None, in_channels: int,
                        size: tuple[int, int], model_name: str = "AlexNet") -> str | None:
    """The one-line message for a batch of ``shape`` (in ``layout``) that does not fit a model
    of ``in_channels``×``size`` inputs, or ``None`` when it fits."""
    height, width = size
    expected = f"{in_channels}×{height}×{width} (channels×height×width)"
    shape = tuple(int(side) if side is not None else None for side in shape)
    if len(shape) != 4:
        return (f"{model_name} takes 4-d batches ({layout}) of {expected}, got a batch of shape "
                f"{shape}: add the batch axis (and the channel axis for greyscale images)")
    channels, got_h, got_w = ((shape[1], shape[2], shape[3]) if layout == "NCHW"
                              else (shape[3], shape[1], shape[2]))
    other, axes = ("NHWC", (0, 3, 1, 2)) if layout == "NCHW" else ("NCHW", (0, 2, 3, 1))
    in_other = (shape[3], shape[1], shape[2]) if other == "NHWC" else (shape[1], shape[2], shape[3])
    if (channels, got_h, got_w) != (in_channels, height, width) and in_other == (
            in_channels, height, width):  # the right images, their axes in the other order
        return (f"{model_name} takes {layout} batches of {expected}, but this batch of shape "
                f"{shape} is in {other} order: move the channel axis, transposing the batch's "
                f"axes to {axes} (X.permute{axes} in PyTorch, tf.transpose(X, {axes}) in "
                f"TensorFlow, X.transpose{axes} for numpy, JAX or MXNet arrays)")
    fixes = []
    if channels is not None and channels != in_channels:
        fixes.append(f"build the model with in_channels={channels}")
    if (got_h, got_w) != (height, width) and None not in (got_h, got_w):
        argument = got_h if got_h == got_w else (got_h, got_w)
        fixes.append(f"resize the images to {height}×{width} (the data module's resize=) or "
                     f"build the model with resize={argument!r}")
    if not fixes:
        return None
    return (f"{model_name} was built for inputs of {expected}, but this batch of shape {shape} "
            f"({layout}) holds {channels}×{got_h}×{got_w}: {'; or '.join(fixes)}")


# How each backend's tensor is made from a numpy array, for messages.
TENSOR_FROM_NUMPY = {"pytorch": "torch.as_tensor(X)", "tensorflow": "tf.constant(X)",
                     "jax": "jnp.asarray(X)", "mxnet": "mx.nd.array(X)"}


def sequential_net_refusal(model: Any, method: str) -> TypeError:
    """The one-line refusal of ``features`` or ``layer_summary`` (``method``) for a model whose
    ``self.net`` is no sequential network: a from-scratch model has none, a torchvision-style
    one has its own ``forward`` (the book's ``layer_summary`` walks ``self.net`` too)."""
    net = getattr(model, "net", None)
    found = "it has none" if net is None else f"it is a {type(net).__name__}"
    name = type(model).__name__
    if method == "features":
        return TypeError(f"{name}.features needs self.net to be an nn.Sequential (the features "
                         f"are what its last layer takes), and {found}: use predict or "
                         "probabilities, or build self.net as a sequential network of its body "
                         "and head")
    return TypeError(f"{name}.layer_summary walks the layers of self.net, an nn.Sequential, and "
                     f"{found}: build self.net as one, or print the model itself")


RECIPE_SETTINGS = frozenset(field.name for field in fields(TrainingRecipe))


def constructor_arguments(cls: type, hparams: dict[str, Any]) -> dict[str, Any]:
    """The arguments that make a model of ``cls`` again: those of its ``hparams`` (what
    ``save_hyperparameters`` kept) that its ``__init__`` takes; a ``TypeError`` in one line when
    they are not enough (a lesson's model that keeps none of its own)."""
    signature = inspect.signature(getattr(cls, "__init__"))  # (mypy: cls.__init__ is unsound)
    parameters = list(signature.parameters.values())[1:]  # not self
    takes_any = any(parameter.kind is parameter.VAR_KEYWORD for parameter in parameters)
    names = {parameter.name for parameter in parameters}
    arguments = {name: value for name, value in hparams.items() if takes_any or name in names}
    try:
        signature.bind(None, **arguments)
    except TypeError as error:
        raise TypeError(f"{cls.__name__} cannot be copied or pickled: it is made again from the "
                        "arguments its save_hyperparameters() kept "
                        f"({', '.join(hparams) or 'none'}), and {error}: call "
                        "self.save_hyperparameters() in its __init__, or keep its weights with "
                        "save_weights and load_weights") from None
    return arguments


def rebuilt_model(cls: type, arguments: dict[str, Any], changed: dict[str, Any],
                  state: Any) -> Any:
    """A copy or an unpickled model (:meth:`ModuleContract.rebuilding_reduce`): ``cls`` made
    again from its constructor's ``arguments``, its recipe's values set since (``changed``),
    then given ``state``. Python's RNG, from which Keras' initializers draw their seeds, is left
    as it was, so a copy changes no model made after it. (MXNet's RNG cannot be read: there,
    the weights the copy draws before they are replaced move its stream.)"""
    python_rng = random.getstate()
    try:
        model = cls(**arguments)
    finally:
        random.setstate(python_rng)
    for name, value in changed.items():
        setattr(model, name, value)
    model.restore_copy_state(state)
    return model


class ModuleContract(HyperParameters):
    """Framework-free half of ``Module``: the book's steps, written once, and the summary.

    ``training_step``/``validation_step`` call the model on a batch ``(inputs..., labels)`` and
    score it with ``loss``; backends whose calls need more (a ``training=`` flag, parameters)
    override them.
    """

    LAYOUT: str | None = None  # "NCHW" or "NHWC": set by each backend
    # The CLI's name of the backend, recorded in the weights files it writes.
    BACKEND: str | None = None
    # Whether the recipe's names among the hyperparameters (momentum, weight_decay, schedule...)
    # set the optimizer and the loss: our AlexNet's do. A lesson's model trains as the book's
    # configure_optimizers does, plain SGD at its lr, whatever its arguments are called (a
    # "momentum" of its own is BatchNorm's, not SGD's).
    TAKES_RECIPE: ClassVar[bool] = False

    if TYPE_CHECKING:
        # The framework's own module class, beside this one in each backend, makes it callable.
        def __call__(self, *inputs: Any, **options: Any) -> Any: ...

    def loss(self, y_hat: Any, y: Any) -> Any:
        raise NotImplementedError

    def training_step(self, batch: Sequence[Any]) -> Any:
        loss = self.loss(self(*batch[:-1]), batch[-1])
        self.plot("loss", loss, train=True)
        return loss

    def validation_step(self, batch: Sequence[Any]) -> Any:
        loss = self.loss(self(*batch[:-1]), batch[-1])
        self.plot("loss", loss, train=False)
        return loss

    def score_validation(self, Y_hat: Any, Y: Any) -> tuple[Any, Any]:
        """A classifier's ``validation_step`` after its forward pass: loss and accuracy, each
        plotted as the book's are, and returned."""
        loss, accuracy = self.loss(Y_hat, Y), self.accuracy(Y_hat, Y)
        self.plot("loss", loss, train=False)
        self.plot("acc", accuracy, train=False)
        return loss, accuracy

    # ---- the book's board, for the book's Trainer ----------------------------------------------
    @property
    def board(self) -> ProgressBoard:
        """The book's ``Module.board``: the ProgressBoard the book's ``Trainer`` sets up and
        :meth:`plot` draws on. (Our ``Trainer`` draws on its own board.)"""
        board = self.__dict__.get("_book_board")
        if board is None:
            board = ProgressBoard(xlabel="epoch")
            object.__setattr__(self, "_book_board", board)  # not a tracked layer or field
        return board

    def plot(self, key: str, value: Any, train: bool) -> None:
        """The book's ``Module.plot`` (sec_oo-design): a point of ``key`` on :attr:`board`,
        placed by the book's trainer's batch counters and averaged over a half epoch (training)
        or an epoch (validation). Under our ``Trainer`` it does nothing: that one draws its own
        points and reads the loss from the device only when it must."""
        trainer = getattr(self, "trainer", None)
        if trainer is None or getattr(trainer, "draws_its_own_board", False):
            return
        self.board.xlabel = "epoch"
        if train:
            x = trainer.train_batch_idx / trainer.num_train_batches
            every = trainer.num_train_batches / self.plot_train_per_epoch
        else:
            x = trainer.epoch + 1
            every = trainer.num_val_batches / self.plot_valid_per_epoch
        self.board.draw(x, float(self.to_host(value)), ("train_" if train else "val_") + key,
                        every_n=max(1, int(every)))

    def to_host(self, value: Any) -> np.ndarray:
        """A framework scalar or array as numpy (backends whose tensors need more override)."""
        return host_array(value)

    def layer_outputs(self, X_shape: Sequence[int]) -> Iterator[tuple[str, Any]]:
        """Yield ``(layer name, printable output shape)`` for a random input of ``X_shape``."""
        raise NotImplementedError

    def summary_lines(self, X_shape: Sequence[int]) -> list[str]:
        """The book's ``layer_summary`` lines: ``'<Layer> output shape:\\t <shape>'`` (in the
        language of :func:`~d2l_alexnet.core.language.set_language`)."""
        self.check_input_shape(tuple(X_shape))  # one line, not a framework's shape error
        return [say("layer_output", layer=name, shape=shape)
                for name, shape in self.layer_outputs(X_shape)]

    def layer_summary(self, X_shape: Sequence[int]) -> None:
        """Print each layer's output shape for an input of ``X_shape`` (d2l, sec_lenet)."""
        for line in self.summary_lines(X_shape):
            print(line)

    # ---- how it trains ---------------------------------------------------------------------
    @property
    def recipe(self) -> TrainingRecipe:
        """The :class:`~d2l_alexnet.core.recipe.TrainingRecipe` of this model's hyperparameters
        (``lr``, ``momentum``, ``schedule``...; the chapter's for those it does not have). Only
        a model that :attr:`TAKES_RECIPE` reads more than ``lr`` from them."""
        values = self.recipe_values()
        return TrainingRecipe.from_values(values if self.TAKES_RECIPE else
                                          {"lr": values["lr"]} if "lr" in values else {})

    def recipe_values(self) -> dict[str, Any]:
        """The recipe's hyperparameters as the model holds them now: one set after it was built
        (``model.lr = 0.05``, read as the book's ``configure_optimizers`` reads ``self.lr``)
        wins over the value it was built with, so that the rate trained with is the one the
        metrics record."""
        values = {name: getattr(self, name, value) for name, value in self.hparams.items()
                  if name in RECIPE_SETTINGS}
        # A lesson's model may set ``self.lr = lr`` without save_hyperparameters(): the book's
        # configure_optimizers reads self.lr all the same.
        lr = getattr(self, "lr", None)
        if "lr" not in values and isinstance(lr, numbers.Real) and not isinstance(lr, bool):
            values["lr"] = lr
        return values

    def smoothing(self) -> float:
        """The label smoothing ``loss`` applies (0: plain cross-entropy), as the model holds it
        now. (Read in the loss, so kept simple enough for torch.compile to trace.)"""
        if not self.TAKES_RECIPE or "label_smoothing" not in self.hparams:
            return 0.0
        return getattr(self, "label_smoothing", self.hparams["label_smoothing"]) or 0.0

    # ---- inputs ----------------------------------------------------------------------------
    #: The input side a model that takes no ``resize`` is built for, if it is built for one
    #: (the book's listing of AlexNet: its dense layer is sized at 224).
    BUILT_FOR: ClassVar[Size | None] = None

    @property
    def input_size(self) -> tuple[int, int] | None:
        """``(height, width)`` of the inputs the model is built for, or ``None`` if it says not
        (a model of another lesson, say)."""
        resize = getattr(self, "resize", None)
        if resize is None:
            resize = self.BUILT_FOR
        return None if resize is None else as_size(resize)

    @property
    def table(self) -> tuple[Layer, ...]:
        """The architecture table this model is built from: its ``layers``, or the chapter's."""
        layers = self.hparams.get("layers")  # not self.layers: Keras reserves that name
        return ALEXNET if layers is None else tuple(check_layers(layers))

    @property
    def input_channels(self) -> int:
        return getattr(self, "in_channels", IN_CHANNELS)

    def input_batch_shape(self, batch_size: int = 1) -> tuple[int, int, int, int]:
        """The shape of a batch this model takes, in its backend's layout; a model that says
        not its input size (a lesson's, without ``resize=``) raises :class:`InputShapeError`."""
        if self.input_size is None:
            raise InputShapeError(
                f"{type(self).__name__}.input_batch_shape needs the model's input size, and "
                f"{type(self).__name__} says not which it takes (it has no resize=): write the "
                "batch's shape yourself, in the layout of its backend "
                f"({self.LAYOUT})")
        height, width = self.input_size
        if self.LAYOUT == "NCHW":
            return (batch_size, self.input_channels, height, width)
        return (batch_size, height, width, self.input_channels)

    def check_input_shape(self, shape: Shape) -> None:
        """Raise :class:`InputShapeError` (one line: the expected shape and the argument that
        changes it) unless a batch of ``shape`` fits this model."""
        if self.input_size is None:
            return
        problem = input_shape_problem(shape, self.LAYOUT, self.input_channels, self.input_size,
                                      type(self).__name__)
        if problem is not None:
            raise InputShapeError(problem)

    def describe_input(self) -> str:
        """``"3×96×128 (in_channels=3, resize=(96, 128))"``, for messages."""
        return (f"{self.input_channels}×"
                f"{format_size(self.input_size)} "  # type: ignore[arg-type]  # built for one
                f"(in_channels={self.input_channels}, resize={self.hparams.get('resize')!r})")

    # ---- weights files ---------------------------------------------------------------------
    def weight_arrays(self) -> list[tuple[str, np.ndarray]]:
        """Backends: the parameters as ``[(name, numpy array), ...]`` in their own layout."""
        raise NotImplementedError

    def assign_weight_arrays(self, arrays: Sequence[tuple[str, np.ndarray]],
                             skip_head: bool = False) -> None:
        """Backends: set the parameters from :meth:`weight_arrays`-like arrays."""
        raise NotImplementedError

    def save_weights(self, path: PathLike, *, classes: Sequence[str] | None = None) -> None:
        """Write the parameters to ``path`` as the canonical safetensors file every backend
        reads (``core/weights.py``), with ``classes``, the names of the labels in order
        (``data.classes``), in its metadata when given: ``predict`` prints them."""
        self.check_chapter_table()
        # (LAYOUT and BACKEND: set by every backend's Module)
        weights.save_weights(path, self.weight_arrays(), self.LAYOUT,  # type: ignore[arg-type]
                             self.resize, self.num_classes, backend=self.BACKEND,
                             in_channels=self.input_channels, classes=classes)

    def load_weights(self, path: PathLike, *, skip_head: bool = False,
                     log: Log | None = print) -> ModuleContract:
        """Set the parameters from a canonical weights file (saved by any backend). A file for
        another number of classes raises ``WeightsError``, unless ``skip_head``: then everything
        but the last layer is loaded (fine-tuning to other classes). A file for another input
        size raises ``WeightsError`` either way, naming the ``resize=`` to build the model with.
        A file for another channel count adapts the first convolution (``core/weights.py``),
        said through ``log``. Returns the model."""
        self.check_chapter_table()
        log = log_or_none("load_weights", log)
        self.assign_weight_arrays(weights.load_weights(
            path, self.LAYOUT,  # type: ignore[arg-type]  # (set by every backend's Module)
            self.resize, self.num_classes, self.input_channels, skip_head, log),
            skip_head=skip_head)
        return self

    def check_chapter_table(self) -> None:
        """Weights files name the chapter's layers (conv1...dense3): refuse another table, and
        a model of another lesson (one that says not its input size, such as the book's LeNet)."""
        if getattr(self, "resize", None) is None and type(self).__name__ == "BookAlexNet":
            raise weights.WeightsError(
                "BookAlexNet is the book's listing of the chapter's network, kept to compare "
                "with, and weights files hold the table-built one: save and load weights "
                "with d2l.AlexNet(), which builds the same network from the table")
        if getattr(self, "resize", None) is None:
            raise weights.WeightsError(
                f"{type(self).__name__} is not the chapter's AlexNet: weights files hold that "
                "network only; keep this model's parameters with its framework's own saving "
                "(or a checkpoint of our Trainer) instead")
        if self.table != ALEXNET:
            raise weights.WeightsError(
                f"{type(self).__name__} is built from its own layers=: weights files hold the "
                "chapter's AlexNet only; keep this model's parameters with "
                "parameter_arrays(model) (or a checkpoint) instead")

    # ---- copies and pickles ------------------------------------------------------------------
    def rebuilding_reduce(self) -> tuple[Any, ...]:
        """``__reduce__`` for a backend whose models cannot be pickled as they are (Keras pickles
        a model through its registry of classes; MXNet's compiled graph holds C pointers): the
        model made again from its class and the arguments ``save_hyperparameters`` kept, then
        given :meth:`copy_state` (its weights), so ``copy.deepcopy``, ``pickle`` and a process
        pool give an independent model of the same class, hyperparameters and weights."""
        cls = type(self)
        arguments = constructor_arguments(cls, self.hparams)
        changed = {name: getattr(self, name) for name, value in self.hparams.items()
                   if name in RECIPE_SETTINGS and getattr(self, name, value) is not value}
        return (rebuilt_model, (cls, arguments, changed, self.copy_state()))

    def shallow_copy(self) -> Any:
        """``copy.copy``, as PyTorch's and Flax's modules give it: a new model of the same
        class whose attributes are the original's (the same layers and weights)."""
        copied = type(self).__new__(type(self))
        copied.__dict__.update(self.__dict__)
        return copied

    def copy_state(self) -> Any:
        """Backends: what a copy needs beside the constructor's arguments (the weights)."""
        raise NotImplementedError

    def restore_copy_state(self, state: Any) -> None:
        """Backends: take :meth:`copy_state`'s ``state`` into a freshly made model."""
        raise NotImplementedError

    # ---- inference ---------------------------------------------------------------------------
    def predict(self, X: Any, batch_size: int = 256) -> np.ndarray:
        """Class indices (numpy int64, ``(N,)``) of the images ``X``, in evaluation mode (no
        dropout), ``batch_size`` images at a time. ``X``: numpy images in any form the data
        modules take (``(N, H, W)``, ``(N, C, H, W)``, ``(N, H, W, C)``; uint8 or floats in
        [0, 1]; resized to the model's input as the data modules do), or a framework float32 tensor
        that already is the model's input (one of other types is taken as numpy images are)."""
        return np.concatenate([logits.argmax(axis=-1) for logits in
                               self._evaluate(X, batch_size, features=False)]).astype(np.int64)

    def probabilities(self, X: Any, batch_size: int = 256) -> np.ndarray:
        """Class probabilities (numpy float32, ``(N, num_classes)``, each row summing to 1: the
        softmax of the logits) of the images ``X``, in evaluation mode; ``X`` as for
        :meth:`predict`. What Keras' ``predict`` returns for a softmax classifier."""
        rows = []
        for logits in self._evaluate(X, batch_size, features=False):
            shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))  # no overflow
            rows.append(shifted / shifted.sum(axis=-1, keepdims=True))
        return np.concatenate(rows).astype(np.float32)

    def features(self, X: Any, batch_size: int = 256) -> np.ndarray:
        """The penultimate activations (numpy float32, ``(N, 4096)`` for AlexNet: the second
        dense layer after its ReLU), in evaluation mode; ``X`` as for :meth:`predict`. What a
        lesson feeds to another classifier, or compares between images."""
        return self.canonical_features(
            np.concatenate(list(self._evaluate(X, batch_size, features=True))))

    def canonical_features(self, values: np.ndarray) -> np.ndarray:
        """``values`` of a table whose features are a flattened feature map (no dense layer
        between the flatten and the head), as every backend gives them: flat, channels first
        (the weights files' order). Channels-last backends flatten channels last, and MXNet's
        dense layer flattens for itself (its table leaves the flatten row out)."""
        values = values.reshape(len(values), -1)
        table, size = getattr(self, "table", None), self.input_size
        num_classes = getattr(self, "num_classes", None)
        if self.LAYOUT != "NHWC" or table is None or size is None or num_classes is None:
            return values
        rows = layer_table(size, num_classes, self.input_channels, layers=table)
        for row in reversed(rows[:-1]):  # back from the head, to a dense layer or the flatten
            if row.layer.kind == "dense":
                return values
            if row.layer.kind == "flatten":
                channels, height, width = rows[rows.index(row) - 1].output_shape
                return np.ascontiguousarray(values.reshape(-1, height, width, channels)
                                            .transpose(0, 3, 1, 2)).reshape(len(values), -1)
        return values

    def _evaluate(self, X, batch_size, features):
        if not is_whole(batch_size) or batch_size < 1:  # ("8" and None failed at a comparison)
            raise ValueError(f"batch_size must be a whole number of at least 1, got "
                             f"{batch_size!r}; pass e.g. batch_size=256")
        # A framework tensor in float32 (or 16-bit float) is taken as the model's input as it
        # is; one of integers or float64 goes the numpy images' way: uint8 scaled once, float64
        # cast, in every backend alike.
        host = (isinstance(X, (np.ndarray, list, tuple))
                or dtype_name(X) not in ("float32", "bfloat16", "float16"))
        if host:
            method = f"{type(self).__name__}.{'features' if features else 'predict'}"
            given, X = X, self.to_host(X)
            if X.ndim == 0 and X.dtype == object:  # a Dataset, a loader, a generator, a dict
                raise TypeError(f"{method} takes an array or a framework tensor of images, got "
                                f"{type(given).__name__}: for a dataset, iterate its batches "
                                "and pass each batch's images")
            if self.input_size is None:
                as_tensor = TENSOR_FROM_NUMPY.get(self.BACKEND or "", "a framework tensor")
                raise InputShapeError(
                    f"{method} resizes numpy images to the model's input size, and "
                    f"{type(self).__name__} says not which it takes (it has no resize=): give "
                    f"it the model's input as a float32 tensor ({as_tensor}), which is taken "
                    "as it is")
            self.check_not_one_image(X.shape, method)
            X = channels_last(X, self.images_layout(X.shape, method), owner=method)
        for start in range(0, len(X), batch_size):
            part = X[start:start + batch_size]
            batch = self.images_to_input(part) if host else part
            self.check_input_shape(tuple(batch.shape))
            yield np.asarray(self.evaluate_batch(batch, features), dtype=np.float32)

    def images_layout(self, shape: tuple[int, ...], method: str = "predict") -> str | None:
        """The layout of numpy images of ``shape`` whose channel axis the data modules' guess
        cannot tell (1, 3 or 4 at both ends): the end that holds this model's channels. None
        (the guess) for any other shape; one line when neither end or both ends hold them
        (``predict`` has no ``layout=`` to say which, as ``ArrayData`` has)."""
        if len(shape) != 4 or not (shape[1] in CHANNEL_COUNTS and shape[-1] in CHANNEL_COUNTS):
            return None
        channels = self.input_channels
        if shape[1] == channels != shape[-1]:
            return "NCHW"
        if shape[-1] == channels != shape[1]:
            return "NHWC"
        if shape[1] != channels:
            raise InputShapeError(
                f"{method}: images of shape {shape} have {shape[1]} or {shape[-1]} channels "
                f"(the first or last axis after the batch), and {type(self).__name__} takes "
                f"{channels} (in_channels={channels}): give images of {channels} channel(s)")
        as_tensor = TENSOR_FROM_NUMPY.get(self.BACKEND or "", "a framework tensor")
        raise InputShapeError(
            f"{method} cannot tell which axis of the images of shape {shape} holds their "
            f"{channels} channel(s): both ends could; give the model's input itself, a float32 "
            f"{self.LAYOUT} tensor of shape {self.input_batch_shape(shape[0])} scaled to "
            f"[0, 1] ({as_tensor}), which is taken as it is")

    def check_not_one_image(self, shape: Shape, method: str = "predict") -> None:
        """Refuse, in one line, numpy input that is one image rather than a batch of them: 2-d,
        or 3-d with the model's channels at one end (``(H, W, C)``, or ``(C, H, W)`` for
        several channels: a 3-d batch is ``(N, H, W)`` greyscale)."""
        channels = self.input_channels
        one_image = len(shape) == 2 or len(shape) == 3 and (
            shape[-1] == channels or channels > 1 and shape[0] == channels)
        if one_image:
            raise InputShapeError(
                f"{method} takes a batch of images, got an array of shape "
                f"{tuple(shape)}, which is one image: add a batch axis (X[None], or "
                f"np.stack([...]) for several)")

    def images_to_input(self, images: np.ndarray) -> Any:
        """Backends: channels-last numpy images -> the model's input on its device (scaled once
        if uint8, in the backend's layout, resized to :attr:`input_size`)."""
        raise NotImplementedError

    def evaluate_batch(self, X: Any, features: bool) -> np.ndarray:
        """Backends: evaluation-mode logits (or the penultimate features) of the input ``X``, as
        a numpy array."""
        raise NotImplementedError
