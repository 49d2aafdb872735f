"""The JAX models: ``Module`` and ``Classifier`` (Flax modules that carry their parameters),
the chapter's ``AlexNet`` built from the shared table, the book's ``BookAlexNet``, and the
optax optimizer and schedules ``configure_optimizers`` makes."""

from collections.abc import Iterator, Sequence
from functools import lru_cache, partial
from typing import Any, Optional

import numpy as np

import jax
import jax.numpy as jnp
import optax
from flax import linen as nn

from ..core import weights as core_weights
from ..core.architecture import (ALEXNET, CHAPTER_RESIZE, IN_CHANNELS, Layer, as_size,
                                 layer_table, with_dropout)
from ..core.module import ModuleContract
from ..core.recipe import LearningRatePlan
from ..core.types import PathLike, Size
from . import runtime
from .data import resize_images
from .runtime import LAYOUT, to_numpy
from .weights import _check_params, _in_mode, _param_arrays, assign_parameter_arrays, init_params


class Module(nn.Module, ModuleContract):
    """Base of all models (d2l, sec_oo-design): a network, its loss and its optimizer.

    A Flax module is a dataclass, so its fields already are the hyperparameters
    (``AlexNet(lr=0.01).lr == 0.01``); the methods below are pure functions of ``params`` and
    run on the unbound module (hence ``nn.nowrap``).
    """

    plot_train_per_epoch = 2  # class constants, not fields: they would come first positionally
    plot_valid_per_epoch = 1
    LAYOUT, BACKEND = LAYOUT, "jax"

    # What `save_hyperparameters` collects elsewhere: here, the fields (read-only, so a type
    # checker sees it override the attribute HyperParameters sets).
    @property
    def hparams(self) -> dict[str, Any]:  # type: ignore[override]
        return {name: getattr(self, name) for name in self.__dataclass_fields__
                if name not in ("parent", "name")}

    def __post_init__(self):
        super().__post_init__()
        # Not fields: they must not take part in comparing, hashing or cloning the module.
        object.__setattr__(self, "_carried", {"seed": runtime._seed, "params": None})

    @property
    def params(self) -> dict[str, Any]:
        """The parameters this model carries (made from the seed of the moment it was made, on
        first use; those of :meth:`set_params`, ``load_weights`` and ``Trainer.fit`` after)."""
        carried = self._carried
        if carried["params"] is None:
            carried["params"] = init_params(self, carried["seed"])
        return carried["params"]

    @nn.nowrap
    def set_params(self, params: dict[str, Any]) -> "Module":
        """Carry ``params`` from now on (checked against this model's shapes first)."""
        _check_params(self, params)
        self._carried["params"] = params
        return self

    @nn.nowrap
    def loss(self, Y_hat: jax.Array, Y: jax.Array, averaged: bool = True) -> jax.Array:
        raise NotImplementedError

    def __call__(self, X: jax.Array, features: bool = False) -> jax.Array:
        """The network's output; with ``features``, the penultimate activations instead (every
        layer but the last)."""
        self.check_input_shape(X.shape)  # static shapes: checked when traced
        for layer in self.net.layers[:-1] if features else self.net.layers:
            X = layer(X)
        return X

    @nn.nowrap
    def logits(self, params: dict[str, Any], X: jax.Array, dropout_key: jax.Array | None = None,
               dtype: Any = None) -> jax.Array:
        """fp32 logits; training mode (dropout) only when a ``dropout_key`` is given. With
        ``dtype=jnp.bfloat16`` parameters and inputs are cast, so the math runs in bf16 while
        the gradients flow back to the fp32 master parameters."""
        if dtype is not None:
            params = jax.tree.map(lambda p: p.astype(dtype), params)
            X = X.astype(dtype)
        rngs = {} if dropout_key is None else {"dropout": dropout_key}
        logits = _in_mode(self, training=bool(rngs)).apply({"params": params}, X, rngs=rngs)
        return logits.astype(jnp.float32)

    @nn.nowrap
    def training_step(self, params: dict[str, Any], batch: Sequence[jax.Array],
                      dropout_key: jax.Array, dtype: Any = None,
                      mask: jax.Array | None = None) -> jax.Array:
        """The batch's mean loss; with a boolean ``mask``, the mean over the examples it marks
        (the Trainer pads a short batch to the compiled shape and masks the padding out)."""
        Y_hat = self.logits(params, batch[0], dropout_key, dtype)
        if mask is None:
            return self.loss(Y_hat, batch[-1])
        return masked_mean(self.loss(Y_hat, batch[-1], averaged=False), mask)

    @nn.nowrap
    def validation_step(self, params: dict[str, Any], batch: Sequence[jax.Array],
                        dtype: Any = None) -> jax.Array:
        return self.loss(self.logits(params, batch[0], None, dtype), batch[-1])

    @nn.nowrap
    def configure_optimizers(self, plan: LearningRatePlan | None = None,
                             ) -> optax.GradientTransformation:
        """optax's SGD with the model's recipe; ``plan``, the trainer's schedule over its run
        (handed in: a Flax module is frozen and cannot point at its trainer), becomes an optax
        schedule of the step. Weight decay is optax's ``add_decayed_weights`` before SGD."""
        recipe = self.recipe
        tx = optax.sgd(recipe.lr if plan is None else optax_schedule(plan),
                       momentum=recipe.momentum or None, nesterov=recipe.nesterov)
        if recipe.weight_decay:
            tx = optax.chain(optax.add_decayed_weights(recipe.weight_decay), tx)
        return tx

    @nn.nowrap
    def weight_arrays(self) -> list[tuple[str, np.ndarray]]:
        return _param_arrays(self.params)

    @nn.nowrap
    def assign_weight_arrays(self, arrays: Sequence[tuple[str, np.ndarray]],
                             skip_head: bool = False) -> None:
        assign_parameter_arrays(self, arrays, skip_head)

    @nn.nowrap
    def images_to_input(self, images: np.ndarray) -> jax.Array:
        return resize_images(images, self.input_size)  # type: ignore[arg-type]  # built for one

    @nn.nowrap
    def evaluate_batch(self, X: Any, features: bool) -> np.ndarray:
        return to_numpy(_evaluation(_bare(self), features)(self.params, jnp.asarray(X)))

    @nn.nowrap
    def layer_outputs(self, X_shape: Sequence[int]) -> Iterator[tuple[str, tuple[int, ...]]]:
        # Evaluation mode, so no dropout key is needed and the lines match any `training`;
        # shapes only (jax.eval_shape), so nothing is initialized or computed.
        model, names = _in_mode(self, training=False), []

        def forward(X):
            bound = model.bind(model.init(jax.random.key(0), X))
            outputs = []
            for layer in bound.net.layers:
                X = layer(X)
                names.append(_layer_name(layer))
                outputs.append(X)
            return outputs

        outputs = jax.eval_shape(forward, jax.ShapeDtypeStruct(tuple(X_shape), jnp.float32))
        yield from zip(names, (output.shape for output in outputs))


def _layer_name(layer):
    """The class of a module (``Conv``), the name of a function (``relu``, ``max_pool``)."""
    if isinstance(layer, nn.Module):
        return type(layer).__name__
    return getattr(layer, "func", layer).__name__  # unwrap functools.partial


@lru_cache(maxsize=16)
def _evaluation(model, features):
    """The jitted evaluation-mode forward pass (logits, or the features) of one configuration."""
    model = _in_mode(model, training=False)
    return jax.jit(lambda params, X: model.apply({"params": params}, X, features=features))


def _bare(model):
    """``model`` without the parameters it carries: a key for the compile caches, which would
    otherwise keep every model's parameters alive."""
    return model.clone()


class Classifier(Module):
    """A model that predicts classes: cross-entropy loss and accuracy (d2l, sec_classification)."""

    @nn.nowrap
    def validation_step(self, params: dict[str, Any], batch: Sequence[jax.Array],
                        dtype: Any = None) -> tuple[jax.Array, jax.Array]:
        Y_hat = self.logits(params, batch[0], None, dtype)
        return self.loss(Y_hat, batch[-1]), self.accuracy(Y_hat, batch[-1])

    @nn.nowrap
    def accuracy(self, Y_hat: jax.Array, Y: jax.Array, averaged: bool = True) -> jax.Array:
        Y_hat = Y_hat.reshape((-1, Y_hat.shape[-1]))
        compare = (Y_hat.argmax(axis=1) == Y.reshape(-1)).astype(jnp.float32)
        return compare.mean() if averaged else compare

    @nn.nowrap
    def loss(self, Y_hat: jax.Array, Y: jax.Array, averaged: bool = True) -> jax.Array:
        Y_hat = Y_hat.reshape((-1, Y_hat.shape[-1]))
        smoothing = self.smoothing()
        if smoothing:
            targets = optax.smooth_labels(jax.nn.one_hot(Y.reshape((-1,)), Y_hat.shape[-1]),
                                          smoothing)
            losses = optax.softmax_cross_entropy(Y_hat, targets)
        else:
            losses = optax.softmax_cross_entropy_with_integer_labels(Y_hat, Y.reshape((-1,)))
        return losses.mean() if averaged else losses


def masked_mean(values: jax.Array, mask: jax.Array) -> jax.Array:
    """The mean of ``values`` where ``mask`` is True. Written as the plain mean scaled by
    size/count, so that a full mask gives the plain mean's bits, gradients included (× 1.0);
    ``where``, not a product, so that nothing in the padding can reach the sum."""
    count = mask.sum().astype(values.dtype)
    return jnp.where(mask, values, 0).mean() * (mask.size / count)


def optax_schedule(plan: LearningRatePlan) -> optax.Schedule:
    """A :class:`~d2l_alexnet.core.recipe.LearningRatePlan` as optax's schedules: the linear
    warmup joined to what follows it (constant, linear to 0, or a half cosine to 0)."""
    decay_steps = plan.total_steps - plan.warmup_steps
    after = {"constant": lambda: optax.constant_schedule(plan.peak_lr),
             "onecycle": lambda: optax.linear_schedule(plan.peak_lr, 0.0, decay_steps),
             "cosine": lambda: optax.cosine_decay_schedule(plan.peak_lr, decay_steps)}
    after = after[plan.schedule]()
    if plan.warmup_steps == 0:
        return after
    warmup = optax.linear_schedule(plan.lr, plan.peak_lr, plan.warmup_steps)
    return optax.join_schedules([warmup, after], [plan.warmup_steps])


def flatten(X: jax.Array) -> jax.Array:
    return X.reshape((X.shape[0], -1))


class Dropout(nn.Dropout):
    """``nn.Dropout`` that, left undecided (``deterministic=None``), is active exactly when the
    call has a ``"dropout"`` RNG: applying a model without one is evaluation."""

    def __call__(self, inputs: jax.Array, deterministic: bool | None = None,
                 rng: jax.Array | None = None) -> jax.Array:
        if deterministic is None and self.deterministic is None:
            deterministic = not self.has_rng("dropout")
        return super().__call__(inputs, deterministic, rng)


def build_network(num_classes: int = 10, training: bool | None = None,
                  layers: Sequence[Layer] = ALEXNET) -> nn.Sequential:
    """``nn.Sequential`` from the shared architecture table: Xavier-uniform kernels (HWIO, or
    ``(in, out)``) and zero biases; input sizes are inferred at ``init``. ``training``: dropout
    on (True), off (False), or when the call has a ``"dropout"`` RNG (None)."""
    init = dict(kernel_init=nn.initializers.xavier_uniform(), bias_init=nn.initializers.zeros)
    modules = []
    for layer in layers:
        if layer.kind == "conv":
            padding = [(layer.padding,) * 2] * 2 if layer.padding else "VALID"
            modules.append(nn.Conv(layer.units, (layer.kernel,) * 2, layer.stride, padding,
                                   **init))
        elif layer.kind == "dense":
            modules.append(nn.Dense(num_classes if layer.units is None else layer.units, **init))
        elif layer.kind in ("relu", "sigmoid"):
            modules.append(nn.relu if layer.kind == "relu" else nn.sigmoid)
        elif layer.kind in ("maxpool", "avgpool"):
            pool = nn.max_pool if layer.kind == "maxpool" else nn.avg_pool
            padding = [(layer.padding,) * 2] * 2 if layer.padding else "VALID"
            modules.append(partial(pool, window_shape=(layer.kernel,) * 2,
                                   strides=(layer.stride,) * 2, padding=padding))
        elif layer.kind == "flatten":
            modules.append(flatten)
        elif layer.kind == "dropout":
            modules.append(Dropout(layer.rate,
                                   deterministic=None if training is None else not training))
        else:
            raise ValueError(f"unknown layer kind {layer.kind!r}")
    return nn.Sequential(modules)


class AlexNet(Classifier):
    """AlexNet as in the chapter (Krizhevsky et al., 2012; d2l, sec_alexnet), NHWC.

    ``resize``: the input's side, or its ``(height, width)`` (a tuple: fields must hash), that
    the parameters are initialized for (224 in the chapter); ``in_channels``: 1 for greyscale
    (Fashion-MNIST), 3 for RGB; ``dropout`` overrides the table's rate (0.5) when given (0 turns
    dropout off); ``layers``: another table of rows (a tuple of ``core.architecture.Layer``) to
    build instead of the chapter's; ``training``: dropout always on (True), off (False), or, by
    default (None), on exactly when the call has a ``"dropout"`` RNG. ``momentum``, ``nesterov``,
    ``weight_decay``, ``label_smoothing``, ``schedule``, ``warmup_epochs`` and ``max_lr`` are the
    training recipe (:class:`~d2l_alexnet.core.recipe.TrainingRecipe`); their defaults, with
    ``lr=0.01``, are the chapter's plain SGD.

    The module carries one set of parameters beside its fields (:attr:`params`): from
    :func:`init_params` with the seed of the moment it was made, replaced by
    :meth:`load_weights`, :meth:`set_params` and at the end of each ``Trainer.fit``.
    """

    lr: float = 0.1
    num_classes: int = 10
    resize: int = CHAPTER_RESIZE
    in_channels: int = IN_CHANNELS
    dropout: Optional[float] = None
    layers: Optional[tuple] = None
    training: Optional[bool] = None
    momentum: float = 0.0
    nesterov: bool = False
    weight_decay: float = 0.0
    label_smoothing: float = 0.0
    schedule: str = "constant"
    warmup_epochs: Optional[float] = None
    max_lr: Optional[float] = None

    def __post_init__(self):
        for name in ("resize", "layers"):  # a list would not hash (fields are cache keys)
            if isinstance(getattr(self, name), list):
                object.__setattr__(self, name, tuple(getattr(self, name)))
        layer_table(self.resize, self.num_classes, self.in_channels, self.table)  # refuses now
        self.recipe.check()  # a bad momentum, say, refused now rather than at fit
        super().__post_init__()

    def setup(self) -> None:
        self.net = build_network(self.num_classes, self.training,
                                 with_dropout(self.dropout, self.table))

    @nn.nowrap
    def save_weights(self, path: PathLike, *, params: dict[str, Any] | None = None,
                     classes: Sequence[str] | None = None) -> None:
        """The canonical safetensors file every backend reads (``ModuleContract.save_weights``,
        with ``classes``) of the parameters the model carries, or of ``params``."""
        if params is None:
            return ModuleContract.save_weights(self, path, classes=classes)
        core_weights.save_weights(path, _param_arrays(params), LAYOUT, self.resize,
                                  self.num_classes, backend=self.BACKEND,
                                  in_channels=self.in_channels, classes=classes)


class BookAlexNet(Classifier):
    """The chapter's AlexNet written the way the book writes it for JAX (sec_alexnet): a Flax
    module whose ``setup`` makes one ``nn.Sequential``, pooling and flattening as lambdas, the
    first convolution padded by 1 and the others Flax's ``"SAME"``. Shapes and parameters are
    :class:`AlexNet`'s; the padding shifts the first windows by a pixel. Flax's defaults start
    it (LeCun-normal kernels, not the Xavier-uniform of the chapter's ``init_cnn``); ours
    initializes as the chapter does."""

    lr: float = 0.1
    num_classes: int = 10
    training: bool = True
    resize = CHAPTER_RESIZE  # not a field: the book builds it for the chapter's input

    def setup(self):
        self.net = nn.Sequential([
            nn.Conv(features=96, kernel_size=(11, 11), strides=4, padding=1), nn.relu,
            lambda x: nn.max_pool(x, window_shape=(3, 3), strides=(2, 2)),
            nn.Conv(features=256, kernel_size=(5, 5)), nn.relu,
            lambda x: nn.max_pool(x, window_shape=(3, 3), strides=(2, 2)),
            nn.Conv(features=384, kernel_size=(3, 3)), nn.relu,
            nn.Conv(features=384, kernel_size=(3, 3)), nn.relu,
            nn.Conv(features=256, kernel_size=(3, 3)), nn.relu,
            lambda x: nn.max_pool(x, window_shape=(3, 3), strides=(2, 2)),
            lambda x: x.reshape((x.shape[0], -1)),  # flatten
            nn.Dense(features=4096), nn.relu,
            nn.Dropout(0.5, deterministic=not self.training),
            nn.Dense(features=4096), nn.relu,
            nn.Dropout(0.5, deterministic=not self.training),
            nn.Dense(features=self.num_classes)])


def example_input_shape(resize: Size = CHAPTER_RESIZE, batch_size: int = 1,
                        in_channels: int = IN_CHANNELS) -> tuple[int, int, int, int]:
    """The input layout of this backend (NHWC) for ``layer_summary``."""
    return (batch_size, *as_size(resize), in_channels)
