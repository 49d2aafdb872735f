"""The JAX models: ``Module`` and ``Classifier`` (Flax modules that carry their parameters),
the chapter's ``AlexNet`` built from the shared table, the book's ``BookAlexNet``, and the
optax optimizer and schedules ``configure_optimizers`` makes."""

import inspect
from collections.abc import Iterator, Sequence
from functools import partial
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
from .weights import (_bare, _check_params, _in_mode, _param_arrays, assign_parameter_arrays,
                      init_params, init_variables, per_model)


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
        # batch_stats: BatchNorm's running statistics ({} for a model without BatchNorm; None
        # while not yet known, made fresh when first needed).
        object.__setattr__(self, "_carried", {"seed": runtime._seed, "params": None,
                                              "batch_stats": None})

    def clone(self, *, parent: Any = None, _deep_clone: Any = False, _reset_names: bool = False,
              **updates: Any) -> Any:
        """Flax's ``clone``, carrying the parameters (and BatchNorm's statistics) and the seed
        as ``copy.deepcopy`` does; a clone whose new fields no longer fit the parameters
        (``num_classes=5``) makes fresh ones from that seed instead."""
        copy = super().clone(parent=parent, _deep_clone=_deep_clone,
                             _reset_names=_reset_names, **updates)
        carried = dict(self._carried)
        if (carried["params"] is not None and set(updates) - {"training", "name"}
                and not _fits(copy, carried["params"])):
            carried.update(params=None, batch_stats=None)
        object.__setattr__(copy, "_carried", carried)
        return copy

    @property
    def params(self) -> dict[str, Any]:
        """The parameters this model carries (made from the seed of the moment it was made, on
        first use; those of :meth:`set_params`, ``load_weights`` and ``Trainer.fit`` after)."""
        carried = self._carried
        if carried["params"] is None:
            if self.input_size is None:
                init_params(self)  # refuses in one line: no input size, no parameters
            self.initialize(self.input_batch_shape())
        return carried["params"]

    @property
    def has_params(self) -> bool:
        """Whether the model carries parameters already (one that says not its input size has
        none until they are given, or ``Trainer.fit`` makes them from its first batch)."""
        return self._carried["params"] is not None or self.input_size is not None

    @nn.nowrap
    def initialize(self, X_shape: Sequence[int]) -> None:
        """Make the parameters (and BatchNorm's running statistics) for inputs of ``X_shape``
        from the seed of the moment the model was made, as the book's JAX Trainer does with its
        first batch; the model carries them from now on."""
        variables = init_variables(self, self._carried["seed"], X_shape)
        _refuse_other_collections(self, variables)
        self._carried["params"] = variables["params"]
        self._carried["batch_stats"] = variables.get("batch_stats", {})

    @nn.nowrap
    def set_params(self, params: dict[str, Any],
                   batch_stats: dict[str, Any] | None = None) -> "Module":
        """Carry ``params`` from now on (checked against this model's shapes first), and with
        them ``batch_stats``, BatchNorm's running statistics (fresh ones when not given)."""
        _check_params(self, params, "set_params(params)")
        self._carried["params"] = params
        self._carried["batch_stats"] = batch_stats
        return self

    @nn.nowrap
    def batch_stats_for(self, X_shape: Sequence[int]) -> dict[str, Any]:
        """BatchNorm's running statistics the model carries (``{}`` for a model without
        BatchNorm), made fresh for inputs of ``X_shape`` when it carries none yet."""
        carried = self._carried
        if carried["batch_stats"] is None:
            collections = _collections(_bare(self), tuple(X_shape))
            _refuse_other_collections(self, collections)
            carried["batch_stats"] = (init_variables(self, carried["seed"], X_shape)["batch_stats"]
                                      if "batch_stats" in collections else {})
        return carried["batch_stats"]

    @nn.nowrap
    def loss(self, Y_hat: jax.Array, Y: jax.Array, averaged: bool = True) -> jax.Array:
        raise NotImplementedError

    def __call__(self, X: jax.Array, *args: Any, **kwargs: Any) -> jax.Array:
        """:meth:`forward`, as in the book: a lesson's model may define only ``forward``."""
        self.check_input_shape(X.shape)  # static shapes: checked when traced
        return self.forward(X, *args, **kwargs)

    def forward(self, X: jax.Array, features: bool = False) -> jax.Array:
        """The network's output; with ``features``, the penultimate activations instead (every
        layer but the last)."""
        for layer in self.net.layers[:-1] if features else self.net.layers:
            X = layer(X)
        return X

    @nn.nowrap
    def logits(self, params: dict[str, Any], X: jax.Array, dropout_key: jax.Array | None = None,
               dtype: Any = None, batch_stats: dict[str, Any] | None = None) -> jax.Array:
        """fp32 logits; training mode (dropout) only when a ``dropout_key`` is given (and the
        model is not made with ``training=False``). With
        ``dtype=jnp.bfloat16`` parameters and inputs are cast, so the math runs in bf16 while
        the gradients flow back to the fp32 master parameters. ``batch_stats``: BatchNorm's
        running statistics, for a model that has them."""
        return self.logits_and_batch_stats(params, X, dropout_key, dtype, batch_stats)[0]

    @nn.nowrap
    def logits_and_batch_stats(self, params: dict[str, Any], X: jax.Array,
                               dropout_key: jax.Array | None = None, dtype: Any = None,
                               batch_stats: dict[str, Any] | None = None,
                               ) -> tuple[jax.Array, dict[str, Any] | None]:
        """:meth:`logits`, and BatchNorm's running statistics after the batch: updated by it in
        training mode, as given in evaluation."""
        if dtype is not None:
            params = jax.tree.map(lambda p: p.astype(dtype), params)
            X = X.astype(dtype)
        # A model made with training=False keeps dropout off even given a key, as the book's
        # does; the Trainer switches it on for its steps (prepare_model), as the book's does.
        if getattr(self, "training", None) is False:
            dropout_key = None
        rngs = {} if dropout_key is None else {"dropout": dropout_key}
        model, variables = _in_mode(self, training=bool(rngs)), {"params": params}
        if not batch_stats:
            logits = model.apply(variables, X, rngs=rngs)
        elif not rngs:  # (mutable: a lesson's own BatchNorm may write them even so, unused)
            logits, _ = model.apply({**variables, "batch_stats": batch_stats}, X,
                                    mutable=["batch_stats"])
        else:
            logits, updates = model.apply({**variables, "batch_stats": batch_stats}, X,
                                          rngs=rngs, mutable=["batch_stats"])
            batch_stats = updates["batch_stats"]
        return logits.astype(jnp.float32), batch_stats

    @nn.nowrap
    def training_step(self, params: dict[str, Any], batch: Sequence[jax.Array],
                      dropout_key: jax.Array, dtype: Any = None,
                      mask: jax.Array | None = None, batch_stats: dict[str, Any] | None = None,
                      ) -> Any:
        """The batch's mean loss; with a boolean ``mask``, the mean over the examples it marks
        (the Trainer pads a short batch to the compiled shape and masks the padding out). With
        ``batch_stats`` (a model with BatchNorm): ``(loss, batch_stats updated by the batch)``,
        for ``jax.value_and_grad(..., has_aux=True)``."""
        if batch_stats:
            Y_hat, batch_stats = self.logits_and_batch_stats(params, batch[0], dropout_key,
                                                             dtype, batch_stats)
        else:
            Y_hat = self.logits(params, batch[0], dropout_key, dtype)
        if mask is None:
            loss = self.loss(Y_hat, batch[-1])
        else:
            loss = masked_mean(self.loss(Y_hat, batch[-1], averaged=False), mask)
        return (loss, batch_stats) if batch_stats else loss

    @nn.nowrap
    def validation_step(self, params: dict[str, Any], batch: Sequence[jax.Array],
                        dtype: Any = None, batch_stats: dict[str, Any] | None = None,
                        ) -> jax.Array:
        return self.loss(self.logits(params, batch[0], None, dtype, batch_stats), batch[-1])

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
        if features and not _gives_features(self):
            raise NotImplementedError(
                f"{type(self).__name__} cannot give features: its own __call__ or forward "
                "takes no features= argument; use predict or probabilities, or define "
                "forward(self, X, features=False) returning the penultimate activations")
        X = jnp.asarray(X)
        variables = {"params": self.params}
        batch_stats = self.batch_stats_for(X.shape)
        if batch_stats:
            variables["batch_stats"] = batch_stats
        return to_numpy(_evaluation(_bare(self), features)(variables, X))

    @nn.nowrap
    def layer_outputs(self, X_shape: Sequence[int]) -> Iterator[tuple[str, tuple[int, ...]]]:
        # Evaluation mode, so no dropout key is needed and the lines match any `training`;
        # shapes only (jax.eval_shape), so nothing is initialized or computed.
        model, names = _in_mode(self, training=False), []

        def forward(X):
            bound = model.bind(model.init(jax.random.key(0), X), mutable=["batch_stats"])
            if getattr(bound, "net", None) is None:
                raise NotImplementedError(
                    f"{type(self).__name__} has no self.net, whose layers layer_summary lists "
                    "(as the book's does): make its layers self.net = nn.Sequential([...]) in "
                    "setup to see their shapes")
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


@per_model(maxsize=16)
def _evaluation(model, features):
    """The jitted evaluation-mode forward pass (logits, or the features) of one configuration,
    applied to the model's variables (its parameters, and BatchNorm's statistics if any).
    ``features=`` is passed only when asked for: a lesson's own ``__call__(self, X)`` takes
    none."""
    model = _in_mode(model, training=False)
    options = {"features": True} if features else {}
    # BatchNorm's statistics mutable, their updates dropped: the book's own BatchNorm layer
    # (sec_batch_norm) writes them in evaluation mode too, unchanged.
    return jax.jit(lambda variables, X: model.apply(variables, X, mutable=["batch_stats"],
                                                    **options)[0])


@per_model(maxsize=16)
def _collections(model, X_shape):
    """The names of the collections ``model.init`` makes for inputs of ``X_shape`` (shapes
    only: nothing is computed)."""
    model = _in_mode(model, training=False)
    return tuple(jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros(X_shape))))


def _refuse_other_collections(model, collections):
    """Refuse in one line, before anything is compiled, a model whose variable
    ``collections`` hold more than the parameters and BatchNorm's ``batch_stats``."""
    others = sorted(set(collections) - {"params", "batch_stats"})
    if others:
        raise NotImplementedError(
            f"{type(model).__name__} makes the variable collections {others}, which this "
            "backend does not carry (it carries params and BatchNorm's batch_stats): keep them "
            "out of the model, or train it with a loop of its own")


def _gives_features(model):
    """Whether ``features=True`` reaches a forward pass that takes it: ours, or a lesson's own
    ``__call__``/``forward`` with a ``features`` parameter."""
    cls = type(model)
    own = cls.forward if cls.__call__ is Module.__call__ else cls.__call__
    return "features" in inspect.signature(own).parameters


def _fits(model, params):
    """Whether ``params`` have ``model``'s shapes (taken as fitting where it says no input size)."""
    try:
        _check_params(model, params)
    except ValueError:
        return False
    return True


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


def build_network(num_classes: int = 10, resize: Size = CHAPTER_RESIZE,
                  layers: Sequence[Layer] = ALEXNET, in_channels: int = IN_CHANNELS, *,
                  training: bool | None = None) -> nn.Sequential:
    """``nn.Sequential`` from the shared architecture table: Xavier-uniform kernels (HWIO, or
    ``(in, out)``) and zero biases. The arguments are the other backends' (the table is checked
    for ``resize`` and ``in_channels`` as theirs is: too small an input is refused), though
    Flax infers the input sizes at ``init``. ``training``: dropout on (True), off (False), or
    when the call has a ``"dropout"`` RNG (None)."""
    layer_table(resize, num_classes, in_channels, layers=layers)
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
    build instead of the chapter's; ``training``: the mode, which, as in the book, ``Trainer.fit``
    switches itself (dropout on in its training steps, off in validation, whatever the model was
    made with; ``dropout=0`` trains without it); outside the Trainer, for ``model.apply`` and
    :meth:`training_step`, dropout on (True, which needs a ``"dropout"`` RNG), off (False, even
    given a key), or, by default (None), on exactly when the call has a ``"dropout"`` RNG;
    ``predict`` and ``evaluate`` always run without it. ``momentum``, ``nesterov``,
    ``weight_decay``, ``label_smoothing``, ``schedule``, ``warmup_epochs`` and ``max_lr`` are the
    training recipe (:class:`~d2l_alexnet.core.recipe.TrainingRecipe`); their defaults, with
    ``lr=0.01``, are the chapter's plain SGD.

    The module carries one set of parameters beside its fields (:attr:`params`): from
    :func:`init_params` with the seed of the moment it was made, replaced by
    :meth:`load_weights`, :meth:`set_params` and at the end of each ``Trainer.fit``.
    """

    TAKES_RECIPE = True  # its momentum, schedule... are the optimizer's (core/module.py)

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
        with_dropout(self.dropout, self.table)  # (setup would refuse it only at the first init)
        self.recipe.check()  # a bad momentum, say, refused now rather than at fit
        super().__post_init__()

    def setup(self) -> None:
        self.net = build_network(self.num_classes, self.resize,
                                 with_dropout(self.dropout, self.table), self.in_channels,
                                 training=self.training)

    @nn.nowrap
    def save_weights(self, path: PathLike, *, params: dict[str, Any] | None = None,
                     classes: Sequence[str] | None = None) -> None:
        """The canonical safetensors file every backend reads (``ModuleContract.save_weights``,
        with ``classes``) of the parameters the model carries, or of ``params``."""
        if params is None:
            return ModuleContract.save_weights(self, path, classes=classes)
        _check_params(self, params, "save_weights(params=...)")
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
