"""The chapter's AlexNet on JAX and Flax (d2l, sec_alexnet), on the shared core.

``from d2l_alexnet import jax as d2l`` gives the book's names: ``Module``, ``Classifier``,
``AlexNet``, ``DataModule``, ``FashionMNIST``, ``Trainer``, and for other lessons ``ArrayData`` and
``ImageFolder``. Images are NHWC. While training, the ``Trainer`` keeps the parameters, the SGD
state and the dropout key in one functional :class:`TrainState` (``trainer.state``). Flax
modules are frozen dataclasses that hold no parameters; our ``Module`` (so ``AlexNet`` and
``BookAlexNet``) still carries a set beside its fields (initialized from the seed at
construction, replaced by ``load_weights`` and at the end of every ``fit``), so ``predict``,
``features``, ``save_weights``, ``load_weights`` and ``parameter_arrays`` take the same arguments as in every other backend. ``model.apply({"params": params}, X)`` is
evaluation (no dropout) unless a ``"dropout"`` RNG is passed.

Unlike the book's JAX ``Trainer`` (which needs the removed ``jax.random.PRNGKeyArray``), this uses
typed keys from ``jax.random.key`` and jit-compiles one step per batch shape.
"""

import os
from functools import lru_cache, partial
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import linen as nn
from flax.training import train_state
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from .core import images as core_images
from .core import weights
from .core.architecture import (ALEXNET, CHAPTER_RESIZE, IN_CHANNELS, as_size, layer_table,
                                with_dropout)
from .core.datamodule import DataModule, FashionMNISTBase, InMemoryData
from .core.module import ModuleContract
from .core.trainer import ReplicaError, TrainerBase, replica_slices

# Precisions this backend trains in (bf16: params and inputs cast inside the loss).
PRECISIONS = ("fp32", "bf16")
# Parameter layout (core/weights.py): HWIO kernels, (in, out) dense kernels, H×W×C flatten.
LAYOUT = "NHWC"

__all__ = ["LAYOUT", "assign_parameter_arrays",
           "PRECISIONS", "AlexNet", "ArrayData", "BookAlexNet", "build_network", "Classifier", "cpu",
           "DataModule", "Dropout", "example_input_shape", "FashionMNIST", "gpu", "ImageFolder",
           "init_params", "matmul_benchmark", "Module", "num_gpus", "parameter_arrays",
           "peak_memory_bytes", "resize_images", "set_seed", "to_numpy", "Trainer", "TrainState"]

# JAX has no global RNG: the Trainer derives its init and dropout keys from this seed.
_seed = 0


def cpu():
    return jax.devices("cpu")[0]


def gpu(i=0):
    return jax.devices("gpu")[i]


def num_gpus():
    try:
        return len(jax.devices("gpu"))
    except RuntimeError:  # no GPU backend in this jaxlib, or no device
        return 0


def initialize_distributed():
    """Join the other hosts of a multi-host run when ``JAX_COORDINATOR_ADDRESS`` (with
    ``JAX_NUM_PROCESSES`` and ``JAX_PROCESS_ID``) is set, through ``jax.distributed.initialize``;
    must run before anything else touches JAX (the CLI calls it first). Does nothing otherwise."""
    address = os.environ.get("JAX_COORDINATOR_ADDRESS")
    if address and not jax.distributed.is_initialized():
        # CPU devices of several processes talk through Gloo (without it, XLA:CPU has no
        # collectives across processes); GPUs use NCCL whatever this says.
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        jax.distributed.initialize(address, int(os.environ["JAX_NUM_PROCESSES"]),
                                   int(os.environ["JAX_PROCESS_ID"]))


def set_seed(seed):
    """Set the seed the ``Trainer`` derives its initialization and dropout keys from."""
    global _seed
    _seed = int(seed)


class Module(nn.Module, ModuleContract):
    """Base of all models (d2l, sec_oo-design): a network, its loss and its optimizer.

    A Flax module is a dataclass, so its fields already are the hyperparameters
    (``AlexNet(lr=0.01).lr == 0.01``); the methods below are pure functions of ``params`` and
    run on the unbound module (hence ``nn.nowrap``).
    """

    plot_train_per_epoch = 2  # class constants, not fields: they would come first positionally
    plot_valid_per_epoch = 1
    LAYOUT, BACKEND = LAYOUT, "jax"

    @property
    def hparams(self):  # what `save_hyperparameters` collects elsewhere: here, the fields
        return {name: getattr(self, name) for name in self.__dataclass_fields__
                if name not in ("parent", "name")}

    def __post_init__(self):
        super().__post_init__()
        # Not fields: they must not take part in comparing, hashing or cloning the module.
        object.__setattr__(self, "_carried", {"seed": _seed, "params": None})

    @property
    def params(self):
        """The parameters this model carries (made from the seed of the moment it was made, on
        first use; those of :meth:`set_params`, ``load_weights`` and ``Trainer.fit`` after)."""
        carried = self._carried
        if carried["params"] is None:
            carried["params"] = init_params(self, carried["seed"])
        return carried["params"]

    @nn.nowrap
    def set_params(self, params):
        """Carry ``params`` from now on (checked against this model's shapes first)."""
        _check_params(self, params)
        self._carried["params"] = params
        return self

    @nn.nowrap
    def loss(self, Y_hat, Y, averaged=True):
        raise NotImplementedError

    def __call__(self, X, features=False):
        """The network's output; with ``features``, the penultimate activations instead (every
        layer but the last)."""
        self.check_input_shape(X.shape)  # static shapes: checked when traced
        for layer in self.net.layers[:-1] if features else self.net.layers:
            X = layer(X)
        return X

    @nn.nowrap
    def logits(self, params, X, dropout_key=None, dtype=None):
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
    def training_step(self, params, batch, dropout_key, dtype=None):
        return self.loss(self.logits(params, batch[0], dropout_key, dtype), batch[-1])

    @nn.nowrap
    def validation_step(self, params, batch, dtype=None):
        return self.loss(self.logits(params, batch[0], None, dtype), batch[-1])

    @nn.nowrap
    def configure_optimizers(self, plan=None):
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
    def weight_arrays(self):
        return _param_arrays(self.params)

    @nn.nowrap
    def assign_weight_arrays(self, arrays, skip_head=False):
        assign_parameter_arrays(self, arrays, skip_head)

    @nn.nowrap
    def images_to_input(self, images):
        return resize_images(images, self.input_size)

    @nn.nowrap
    def evaluate_batch(self, X, features):
        return to_numpy(_evaluation(_bare(self), features)(self.params, jnp.asarray(X)))

    @nn.nowrap
    def layer_outputs(self, X_shape):
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


def _in_mode(model, training):
    """``model`` with dropout on or off (a model without a ``training`` field as it is)."""
    return model.clone(training=training) if "training" in model.hparams else model


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
    def validation_step(self, params, batch, dtype=None):
        Y_hat = self.logits(params, batch[0], None, dtype)
        return self.loss(Y_hat, batch[-1]), self.accuracy(Y_hat, batch[-1])

    @nn.nowrap
    def accuracy(self, Y_hat, Y, averaged=True):
        Y_hat = Y_hat.reshape((-1, Y_hat.shape[-1]))
        compare = (Y_hat.argmax(axis=1) == Y.reshape(-1)).astype(jnp.float32)
        return compare.mean() if averaged else compare

    @nn.nowrap
    def loss(self, Y_hat, Y, averaged=True):
        Y_hat = Y_hat.reshape((-1, Y_hat.shape[-1]))
        smoothing = self.smoothing()
        if smoothing:
            targets = optax.smooth_labels(jax.nn.one_hot(Y.reshape((-1,)), Y_hat.shape[-1]),
                                          smoothing)
            losses = optax.softmax_cross_entropy(Y_hat, targets)
        else:
            losses = optax.softmax_cross_entropy_with_integer_labels(Y_hat, Y.reshape((-1,)))
        return losses.mean() if averaged else losses


def optax_schedule(plan):
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


def flatten(X):
    return X.reshape((X.shape[0], -1))


class Dropout(nn.Dropout):
    """``nn.Dropout`` that, left undecided (``deterministic=None``), is active exactly when the
    call has a ``"dropout"`` RNG: applying a model without one is evaluation."""

    def __call__(self, inputs, deterministic=None, rng=None):
        if deterministic is None and self.deterministic is None:
            deterministic = not self.has_rng("dropout")
        return super().__call__(inputs, deterministic, rng)


def build_network(num_classes=10, training=None, layers=ALEXNET):
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
    build instead of the chapter's; ``training``: dropout always on (True), off (False), or, by default (None),
    on exactly when the call has a ``"dropout"`` RNG. ``momentum``, ``nesterov``,
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

    def setup(self):
        self.net = build_network(self.num_classes, self.training,
                                 with_dropout(self.dropout, self.table))

    @nn.nowrap
    def save_weights(self, path, params=None):
        """The canonical safetensors file every backend reads (``ModuleContract.save_weights``)
        of the parameters the model carries, or of ``params``."""
        if params is None:
            return ModuleContract.save_weights(self, path)
        weights.save_weights(path, _param_arrays(params), LAYOUT, self.resize, self.num_classes,
                             backend=self.BACKEND, in_channels=self.in_channels)


# uint8 -> float32 in [0, 1] by table: XLA's division on a CPU is not correctly rounded (126 of
# the 256 values of x / 255 came out one rounding off numpy's), and every backend, like a lesson
# that scales its own images, must give the network the same numbers.
_UNIT_SCALE = (np.arange(256) / 255.0).astype(np.float32)


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


@partial(jax.jit, static_argnums=1)
def _resize(images, size, unit_scale):
    if images.dtype == jnp.uint8:
        X = unit_scale[images]
    else:
        X = images.astype(jnp.float32)
    if X.ndim == 3:
        X = X[..., None]
    if X.shape[1:3] != tuple(size):
        # antialias=False: plain bilinear with half-pixel centres, torch's align_corners=False.
        X = jax.image.resize(X, (X.shape[0], *size, X.shape[3]), "bilinear", antialias=False)
    return X


def resize_images(images, size):
    """numpy or JAX images ``(B, H, W)`` or ``(B, H, W, C)`` -> float32 ``(B, *size, C)``: uint8
    scaled into [0, 1] once, floats as they are; bilinear (half-pixel centres, no antialiasing:
    the convention every backend shares)."""
    return _resize(jnp.asarray(images), tuple(int(side) for side in size), _UNIT_SCALE)


class JaxBatches(InMemoryData):
    """``train_dataloader()`` batches as JAX arrays: images ``(B, H, W, C)``."""

    def convert_batch(self, images, labels):
        return resize_images(images, self.resize), jnp.asarray(labels.astype(np.int32))


class FashionMNIST(JaxBatches, FashionMNISTBase):
    """Fashion-MNIST as JAX arrays, NHWC (d2l, sec_fashion_mnist)."""


class ArrayData(JaxBatches, core_images.ArrayData):
    __doc__ = core_images.ArrayData.__doc__


class ImageFolder(JaxBatches, core_images.ImageFolder):
    __doc__ = core_images.ImageFolder.__doc__


class TrainState(train_state.TrainState):
    """Parameters, SGD state, step and the dropout key: everything a step changes, one pytree."""

    dropout_key: jax.Array


def _keys(seed):
    """The initialization key and the dropout key of ``seed``."""
    return jax.random.split(jax.random.key(seed))


@partial(jax.jit, static_argnums=0)
def _init(model, key, X):
    # Compiled: the first eager init compiles each of its many small ops on its own, slower.
    return model.init(key, X)["params"]


def init_params(model, seed=0):
    """Fresh parameters for ``model`` from ``seed`` (what an ``AlexNet`` made after
    ``set_seed(seed)`` carries), sized for its input."""
    if model.input_size is None:
        raise ValueError(f"{type(model).__name__} does not say its input size (it has no "
                         "resize=), so its parameters cannot be made before a batch: give them "
                         "with model.set_params(model.init(key, X)['params'])")
    X = jnp.zeros(model.input_batch_shape())
    return _init(_in_mode(model, training=False), _keys(seed)[0], X)


@lru_cache(maxsize=8)
def _compiled_steps(model, precision, gradient_clip_val, plan=None):
    """The optimizer and the jitted steps of one configuration, cached: a new Trainer for an
    equal model (Flax modules compare by their fields) and plan reuses the compiled code."""
    dtype = jnp.bfloat16 if precision == "bf16" else None
    # A model of another lesson takes no plan (it has no recipe, so the plan is None).
    tx = model.configure_optimizers() if plan is None else model.configure_optimizers(plan)
    if gradient_clip_val > 0:
        tx = optax.chain(optax.clip_by_global_norm(gradient_clip_val), tx)

    def train_step(state, X, Y):
        # A fresh dropout mask every step, a pure function of (seed, step).
        dropout_key = jax.random.fold_in(state.dropout_key, state.step)
        loss, grads = jax.value_and_grad(model.training_step)(state.params, (X, Y), dropout_key,
                                                              dtype)
        return state.apply_gradients(grads=grads), loss

    def eval_step(params, X, Y):
        Y_hat = model.logits(params, X, None, dtype)
        return (model.loss(Y_hat, Y, averaged=False).sum(),
                model.accuracy(Y_hat, Y, averaged=False).sum())

    # The old state is dead after a step: donating it lets XLA update the parameters in place.
    # `apply_fn` and `tx` are static parts of the state, compared by identity: hand out the same.
    return model.apply, tx, jax.jit(train_step, donate_argnums=0), jax.jit(eval_step)


class Trainer(TrainerBase):
    """The shared fit loop with jit-compiled, functional JAX steps (d2l, sec_oo-design).

    ``self.state`` (a :class:`TrainState`) holds the parameters while training; ``fit`` ends by
    handing them to the model (``model.params``). Training starts from the parameters the model
    carries, or from ``init_params`` when given; the dropout key comes from the seed.
    """

    backend, framework = "jax", "JAX"

    def __init__(self, max_epochs, num_gpus=0, gradient_clip_val=0, *, init_params=None,
                 **kwargs):
        super().__init__(max_epochs, num_gpus, gradient_clip_val, **kwargs)
        self.init_params = init_params
        self.mesh = None

    def gpu_available(self):
        return num_gpus() > 0

    def no_gpu_message(self):
        return ("no GPU is visible to JAX (install jax[cuda12] for NVIDIA GPUs): use --device "
                "cpu or auto")

    def open_device(self, platform):
        devices = jax.devices(platform)  # every host's, after jax.distributed.initialize
        if self.num_replicas > 1:
            if len(devices) < self.num_replicas:
                hint = ("set XLA_FLAGS=--xla_force_host_platform_device_count="
                        f"{self.num_replicas} before starting" if platform == "cpu" else
                        f"use --devices {len(devices)} or fewer")
                raise ReplicaError(f"{self.num_replicas} replicas need {self.num_replicas} "
                                   f"{platform} devices but JAX sees {len(devices)}: {hint}")
            # One mesh axis, "batch": batches are split along it, the state is replicated.
            self.mesh = Mesh(np.array(devices[:self.num_replicas]), ("batch",))
            self.replica_rank = jax.process_index()
        return devices[0]

    def describe_device(self):
        platform = self.device.platform
        return "cpu" if platform == "cpu" else f"{platform}:{self.device.id}"

    def placement(self, spec=None):
        """Where arrays go: the device, or on a mesh, sharded along ``spec`` (replicated when
        ``None``)."""
        if self.mesh is None:
            return self.device
        return NamedSharding(self.mesh, PartitionSpec() if spec is None else spec)

    def prepare_model(self, model):
        apply_fn, tx, self.jitted_train_step, self.jitted_eval_step = _compiled_steps(
            _bare(model), self.precision, self.gradient_clip_val, self.lr_plan)
        self.learning_rates = (optax_schedule(self.lr_plan) if self.lr_plan is not None
                               else optax.constant_schedule(model.recipe.lr)
                               if hasattr(model, "recipe") else None)
        start = model.params if self.init_params is None else self.init_params
        _check_params(model, start)
        # Copied: the steps donate their state, which must not delete the caller's arrays.
        params = jax.tree.map(jnp.array, dict(start))
        state = TrainState.create(apply_fn=apply_fn, params=params, tx=tx,
                                  dropout_key=_keys(_seed)[1])
        # Committed to the chosen device (replicated over the mesh); the steps then run there,
        # and on a mesh XLA inserts the gradient all-reduce itself. (device_put also turns the
        # Python step 0 into an array, as each step returns it, so step 2 does not compile anew.)
        self.state = self.replicate(state)

    def replicate(self, tree):
        """``tree`` on the device, or replicated over the mesh. With several processes each
        gives its own (equal) copy: ``device_put`` cannot place onto other hosts' devices."""
        if self.mesh is None or jax.process_count() == 1:
            return jax.device_put(tree, self.placement())
        sharding = self.placement()

        def leaf_to_global(leaf):
            if jax.dtypes.issubdtype(getattr(leaf, "dtype", np.float32), jax.dtypes.prng_key):
                return jax.random.wrap_key_data(leaf_to_global(jax.random.key_data(leaf)))
            return jax.make_array_from_process_local_data(sharding, np.asarray(leaf))

        return jax.tree.map(leaf_to_global, tree)

    def prepare_batch(self, images, labels):
        labels = labels.astype(np.int32)
        if self.mesh is None:
            images = jax.device_put(np.ascontiguousarray(images), self.device)
            labels = jax.device_put(labels, self.device)
        else:
            images, labels = (self.global_array(array) for array in (images, labels))
        return resize_images(images, self.input_size or images.shape[1:3]), labels

    def global_array(self, array):
        """One global batch over the mesh, split along the batch axis; each host gives its
        part. A batch that does not split evenly (a short last one) runs replicated."""
        if len(array) % self.num_replicas:
            return jax.make_array_from_process_local_data(self.placement(), array, array.shape)
        mine = replica_slices(len(array), jax.process_count())[jax.process_index()]
        return jax.make_array_from_process_local_data(
            self.placement(PartitionSpec("batch")), np.ascontiguousarray(array[mine]),
            array.shape)

    def train_step(self, batch):
        self.state, loss = self.jitted_train_step(self.state, *batch)
        return loss

    def host_array(self, value):
        return to_numpy(value)  # a multi-host run's replicated arrays: this host's copy

    def learning_rate(self):
        """The rate the next step applies: the optax schedule the optimizer was built with, at
        the step count that it and the train state share."""
        if self.learning_rates is None:
            raise NotImplementedError(f"{type(self.model).__name__} has no recipe: its "
                                      "optimizer's rate is its own")
        return float(self.learning_rates(to_numpy(self.state.step)))

    def fit_finished(self):
        """The model carries what training reached (a later fit copies before donating)."""
        if hasattr(self.model, "set_params"):
            self.model.set_params(self.state.params)

    def eval_step(self, batch):
        return self.jitted_eval_step(self.state.params, *batch)

    def state_arrays(self):
        """Parameters, the optimizer state, the step and the dropout key (as raw key data):
        the whole :class:`TrainState`."""
        arrays = {}
        for prefix, tree in (("params", self.state.params), ("optimizer", self.state.opt_state)):
            for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
                arrays[f"{prefix}.{_path_name(path)}"] = to_numpy(leaf)
        arrays["step"] = to_numpy(self.state.step)
        arrays["rng.dropout_key"] = to_numpy(jax.random.key_data(self.state.dropout_key))
        return arrays

    def load_state_arrays(self, arrays):
        def rebuild(tree, prefix):
            leaves, treedef = jax.tree_util.tree_flatten_with_path(tree)
            return jax.tree_util.tree_unflatten(treedef, [
                jnp.asarray(arrays[f"{prefix}.{_path_name(path)}"], dtype=leaf.dtype)
                for path, leaf in leaves])

        state = self.state.replace(params=rebuild(self.state.params, "params"),
                                   opt_state=rebuild(self.state.opt_state, "optimizer"),
                                   step=jnp.asarray(arrays["step"], dtype=self.state.step.dtype))
        if "rng.dropout_key" in arrays:
            state = state.replace(dropout_key=jax.random.wrap_key_data(
                jnp.asarray(arrays["rng.dropout_key"])))
        self.state = self.replicate(state)


def _path_name(path):
    """``net.layers_0.kernel`` for a pytree path."""
    return ".".join(str(getattr(key, "key", getattr(key, "idx", getattr(key, "name", key))))
                    for key in path)


def example_input_shape(resize=CHAPTER_RESIZE, batch_size=1, in_channels=IN_CHANNELS):
    """The input layout of this backend (NHWC) for ``layer_summary``."""
    return (batch_size, *as_size(resize), in_channels)


def parameter_arrays(model, seed=None):
    """The parameters as ``[(name, numpy array), ...]`` in the architecture table's order (each
    convolution and dense layer: kernel, then bias), in Flax's layout (HWIO kernels, ``(in, out)``
    dense kernels): those the model carries, or with ``seed``, fresh ones from that seed."""
    return _param_arrays(model.params if seed is None else init_params(model, seed))


def _layer_names(params):
    """The weight layers' names in the table's order (``layers_10`` after ``layers_9``)."""
    return sorted(params["net"], key=lambda name: int(name.rsplit("_", 1)[1]))


def _param_arrays(params):
    """A params pytree as ``[(name, numpy array), ...]``, kernel then bias per layer."""
    return [(f"net.{layer}.{kind}", to_numpy(params["net"][layer][kind]))
            for layer in _layer_names(params) for kind in ("kernel", "bias")]


def assign_parameter_arrays(model, arrays, skip_head=False):
    """Set the model's parameters from ``[(name, array), ...]`` in Flax's layout and the table's
    order (what :func:`parameter_arrays` returns; all but the last layer's two with
    ``skip_head``, which keeps the model's own last layer); returns the params pytree. Every
    shape is checked first (``WeightsError``), so a refusal leaves the model unchanged."""
    expected = jax.eval_shape(lambda: init_params(model))  # shapes only: nothing is computed
    targets = [(f"net.{layer}.{kind}", expected["net"][layer][kind].shape)
               for layer in _layer_names(expected) for kind in ("kernel", "bias")]
    arrays = iter(weights.match_arrays(arrays, targets, skip_head))
    head = _layer_names(expected)[-1]
    params = {"net": {layer: {kind: (model.params["net"][layer][kind]
                                     if skip_head and layer == head else jnp.asarray(next(arrays)))
                              for kind in ("kernel", "bias")}
                      for layer in _layer_names(expected)}}
    if hasattr(model, "set_params"):
        model.set_params(params)
    return params


def _check_params(model, params):
    """Refuse parameters that do not fit ``model`` before anything is compiled with them,
    naming the first leaf that differs."""
    def shapes(tree):
        return {_path_name(path): tuple(getattr(leaf, "shape", ()))
                for path, leaf in jax.tree_util.tree_flatten_with_path(dict(tree))[0]}

    got, wanted = shapes(params), shapes(jax.eval_shape(lambda: init_params(model)))
    if got != wanted:
        name = next((key for key in wanted if got.get(key) != wanted[key]),
                    next(iter(set(got) - set(wanted)), "?"))
        raise ValueError(f"these parameters do not fit this AlexNet ({model.describe_input()}, "
                         f"{model.num_classes} classes): {name} is {got.get(name, 'missing')}, "
                         f"the model's is {wanted.get(name, 'absent')}; make them with "
                         "model.load_weights(path) (which can adapt the channels and skip the "
                         "head) or init_params(model)")


def to_numpy(array):
    """An array as a numpy array (on the host). A replicated array of a multi-host run is read
    from this host's copy."""
    if isinstance(array, jax.Array) and not array.is_fully_addressable:
        array = array.addressable_shards[0].data
    return np.asarray(jax.device_get(array))


def matmul_benchmark(precision, device, size=2048):
    """A blocking ``size×size`` matmul in ``precision`` for the benchmark's peak; returns
    ``(function, flops per call)``."""
    dtype = jnp.bfloat16 if precision == "bf16" else jnp.float32
    a, b = (jax.device_put(jax.random.normal(key, (size, size), dtype), device)
            for key in jax.random.split(jax.random.key(0)))
    matmul = jax.jit(jnp.matmul)

    def run():
        matmul(a, b).block_until_ready()

    return run, 2 * size ** 3


def peak_memory_bytes(device):
    """Peak device memory for a GPU; ``None`` on the CPU (the benchmark reports max RSS)."""
    stats = device.memory_stats() if device.platform != "cpu" else None
    return stats.get("peak_bytes_in_use") if stats else None
