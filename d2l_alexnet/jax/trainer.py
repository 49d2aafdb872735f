"""The JAX ``Trainer``: jit-compiled, functional steps over one :class:`TrainState`, on one
device or a mesh of replicas, under the shared fit loop of ``core.trainer``."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct
from flax.training import train_state
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from ..core.data import DataError
from ..core.trainer import ReplicaError, TrainerBase, replica_slices, validation_sums
from . import runtime
from .data import resize_images
from .model import _bare, optax_schedule
from .runtime import _keys, num_gpus, to_numpy
from .weights import _check_params, _in_mode, _path_name, check_params_kind, per_model


class TrainState(train_state.TrainState):
    """Parameters, SGD state, step, the dropout key and BatchNorm's running statistics (empty
    for a model without BatchNorm): everything a step changes, one pytree."""

    dropout_key: jax.Array
    batch_stats: Any = struct.field(default_factory=dict)


@per_model(maxsize=8)
def _compiled_steps(model: Any, precision: str, gradient_clip_val: float, plan: Any = None,
                    ) -> tuple[Callable[..., Any], Any, Callable[..., Any], Callable[..., Any]]:
    """The optimizer and the jitted steps of one configuration, cached: a new Trainer for an
    equal model (Flax modules compare by their fields; one with a list field, by its fields
    made hashable) and plan reuses the compiled code."""
    dtype = jnp.bfloat16 if precision == "bf16" else None
    # A model of another lesson takes no plan (it has no recipe, so the plan is None).
    tx = model.configure_optimizers() if plan is None else model.configure_optimizers(plan)
    if gradient_clip_val > 0:
        tx = optax.chain(optax.clip_by_global_norm(gradient_clip_val), tx)

    # `real` marks the batch's examples, False on the padding of a short batch (prepare_batch):
    # loss, gradients and sums count the real ones only.
    def train_step(state, X, Y, real):
        # A fresh dropout mask every step, a pure function of (seed, step).
        dropout_key = jax.random.fold_in(state.dropout_key, state.step)
        if not state.batch_stats:  # (known when traced: a model without BatchNorm)
            loss, grads = jax.value_and_grad(model.training_step)(
                state.params, (X, Y), dropout_key, dtype, mask=real)
            return state.apply_gradients(grads=grads), loss
        (loss, batch_stats), grads = jax.value_and_grad(model.training_step, has_aux=True)(
            state.params, (X, Y), dropout_key, dtype, mask=real, batch_stats=state.batch_stats)
        return state.apply_gradients(grads=grads).replace(batch_stats=batch_stats), loss

    def eval_step(params, X, Y, real, batch_stats=None):
        logits = (model.logits(params, X, None, dtype, batch_stats) if batch_stats else
                  model.logits(params, X, None, dtype))
        return validation_sums(model, logits, Y,
                               total=lambda values: jnp.where(real, values, 0).sum())

    # The old state is dead after a step: donating it lets XLA update the parameters in place.
    # `apply_fn` and `tx` are static parts of the state, compared by identity: hand out the same.
    return model.apply, tx, jax.jit(train_step, donate_argnums=0), jax.jit(eval_step)


def _refuse_the_books_state_loss(model: Any) -> None:
    """A ``TypeError`` in one line for a ``loss`` that asks for more than predictions and labels,
    as the book's JAX ``Classifier.loss(self, params, X, Y, state, averaged=True)`` does: its
    BatchNorm chapter's ``#@save`` cell puts that one on ``d2l.Classifier`` with
    ``@d2l.add_to_class``, and every Classifier (AlexNet too) then failed inside the compiled
    step, ``loss() missing 2 required positional arguments``."""
    try:
        parameters = inspect.signature(model.loss).parameters.values()
    except (TypeError, ValueError):  # a callable inspect cannot read: let the step try it
        return
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    required = [parameter.name for parameter in parameters
                if parameter.kind in positional and parameter.default is parameter.empty]
    if len(required) > 2:
        raise TypeError(
            f"{type(model).__name__}.loss takes ({', '.join(required)}), as the book's JAX "
            "Classifier.loss that its BatchNorm chapter's cell (@d2l.add_to_class(d2l."
            "Classifier) above def loss(self, params, X, Y, state, averaged=True)) puts on "
            "every Classifier, but this Trainer calls loss(Y_hat, Y, averaged=True) and carries "
            "BatchNorm's batch_stats itself, so that cell is not needed: restart the kernel and "
            "leave it out (it changed d2l.Classifier in place: importing d2l again keeps it)")


@partial(jax.jit, static_argnums=5)
def _gather(images: jax.Array, labels: jax.Array, order: jax.Array, start: int, count: int,
            size: int) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``size`` examples at ``order[start:]`` of a split held on the device, those past the
    first ``count`` (a short batch's padding) zero images labelled 0, as ``prepare_batch``
    pads; returns ``(images, labels, real)``."""
    chosen = jax.lax.dynamic_slice(order, (start,), (size,))
    real = jnp.arange(size) < count
    images = jnp.where(real.reshape(-1, *(1,) * (images.ndim - 1)), images[chosen], 0)
    return images, jnp.where(real, labels[chosen], 0), real


class Trainer(TrainerBase):
    """The shared fit loop with jit-compiled, functional JAX steps (d2l, sec_oo-design).

    ``self.state`` (a :class:`TrainState`) holds the parameters while training; ``fit`` ends by
    handing them to the model (``model.params``). Training starts from the parameters the model
    carries, or from ``init_params`` when given (the first fit; later ones train on from where
    it ended, as the model carries it); the dropout key comes from the seed.
    """

    backend, framework = "jax", "JAX"
    CPU_REPLICAS = ('device="cpu" with XLA_FLAGS=--xla_force_host_platform_device_count={count} '
                    "set before JAX starts")
    supports_data_on_device = True

    def __init__(self, max_epochs: int, num_gpus: int = 0, gradient_clip_val: float = 0, *,
                 init_params: Any = None, **kwargs: Any) -> None:
        super().__init__(max_epochs, num_gpus, gradient_clip_val, **kwargs)
        if init_params is not None:
            check_params_kind(init_params, "Trainer(init_params=...)")
        self.init_params = init_params
        self.mesh: Mesh | None = None

    def gpu_available(self) -> bool:
        return num_gpus() > 0

    def no_gpu_message(self) -> str:
        return ("no GPU is visible to JAX (install jax[cuda12] for NVIDIA GPUs): use --device "
                "cpu or auto")

    def open_device(self, platform: str) -> Any:
        runtime.check_platforms()  # one line when JAX_PLATFORMS names none JAX can start
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

    def describe_device(self) -> str:
        platform = self.device.platform
        return "cpu" if platform == "cpu" else f"{platform}:{self.device.id}"

    def placement(self, spec: PartitionSpec | None = None) -> Any:
        """Where arrays go: the device, or on a mesh, sharded along ``spec`` (replicated when
        ``None``)."""
        if self.mesh is None:
            return self.device
        return NamedSharding(self.mesh, PartitionSpec() if spec is None else spec)

    def prepare_model(self, model: Any) -> None:
        _refuse_the_books_state_loss(model)  # before any step is traced
        # In training mode, as the book's Trainer sets it (model.training = True) whatever the
        # model was made with; its evaluation step runs without dropout all the same.
        apply_fn, tx, self.jitted_train_step, self.jitted_eval_step = _compiled_steps(
            _in_mode(_bare(model), training=True), self.precision, self.gradient_clip_val,
            self.lr_plan)
        self.learning_rates = (optax_schedule(self.lr_plan) if self.lr_plan is not None
                               else optax.constant_schedule(model.recipe.lr)
                               if hasattr(model, "recipe") else None)
        if self.init_params is None and not model.has_params:
            # The book's JAX Trainer's way: a model that says not its input size is
            # initialized from the first batch's shape (with the seed it was made with).
            model.initialize(self.sample_input_shape(model))
        start = model.params if self.init_params is None else self.init_params
        _check_params(model, start, "Trainer(init_params=...)")
        carried = model._carried["batch_stats"]
        batch_stats = model.batch_stats_for(
            () if carried is not None else self.sample_input_shape(model))
        # Copied: the steps donate their state, which must not delete the caller's arrays.
        params, batch_stats = jax.tree.map(jnp.array, (dict(start), dict(batch_stats)))
        state = TrainState.create(apply_fn=apply_fn, params=params, tx=tx,
                                  dropout_key=_keys(runtime._seed)[1], batch_stats=batch_stats)
        # Committed to the chosen device (replicated over the mesh); the steps then run there,
        # and on a mesh XLA inserts the gradient all-reduce itself. (device_put also turns the
        # Python step 0 into an array, as each step returns it, so step 2 does not compile anew.)
        self.state = self.replicate(state)

    def sample_input_shape(self, model: Any) -> tuple[int, ...]:
        """The shape of a batch of one input as ``fit`` prepares it: the model's own input, or
        for a model that says not its size, the data's first training image."""
        if model.input_size is not None:
            return model.input_batch_shape()
        images = self.first_training_images()
        if images is None:
            where = (f"{type(self.data).__name__}" if self.position_aware
                     else f"{type(self.data).__name__}.train_dataloader()")
            raise DataError(f"{type(model).__name__} has no parameters yet and {where} "
                            "yielded no batch to make them from: give it data, or give "
                            "the model its parameters (set_params, or the Trainer's "
                            "init_params)")
        images = np.asarray(images[:1])
        return tuple(resize_images(images, self.input_size or images.shape[1:3]).shape)

    def replicate(self, tree: Any) -> Any:
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

    def batch_preparer(self, train: bool) -> Callable[..., Any]:
        """``prepare_batch`` padding every batch of a split to the split's full size: the
        data's ``batch_size`` (the split's size when smaller), or for a loader the largest
        batch of the pass so far (its first, as a rule)."""
        if train and self.state.batch_stats:
            # BatchNorm's statistics would count the padding: a short batch stays short (its
            # step compiles once more).
            return self.prepare_batch
        if self.position_aware:
            return partial(self.prepare_batch, padded_size=self.full_batch_size(train))
        largest = 0

        def prepare(images, labels):
            nonlocal largest
            largest = max(largest, len(labels))
            return self.prepare_batch(images, labels, padded_size=largest)

        return prepare

    def prepare_batch(self, images: np.ndarray, labels: np.ndarray,
                      padded_size: int | None = None) -> tuple[Any, ...]:
        """``(images, labels, real)`` on the device; a batch shorter than ``padded_size`` (an
        epoch's last) is padded with zero images up to it, ``real`` False there: one shape for
        every batch of a split, so XLA compiles each step once, not again for the last."""
        labels = labels.astype(np.int32)
        real = np.ones(len(labels), bool)
        missing = 0 if padded_size is None else padded_size - len(labels)
        if missing > 0:
            images, labels, real = (np.concatenate([array, np.zeros((missing, *array.shape[1:]),
                                                                    array.dtype)])
                                    for array in (images, labels, real))
        if self.mesh is None:
            images, labels, real = jax.device_put(
                (np.ascontiguousarray(images), labels, real), self.device)
        else:
            images, labels, real = (self.global_array(array) for array in (images, labels, real))
        return resize_images(images, self.input_size or images.shape[1:3]), labels, real

    # ---- data_on_device: the splits on the device, each batch gathered there --------------
    def device_is_gpu(self) -> bool:
        return self.device.platform != "cpu"

    def data_on_device_problem(self, data: Any) -> str | None:
        if self.num_replicas > 1:
            return (f"{{data_on_device}} is for one device, and JAX trains on "
                    f"{self.num_replicas} replicas here, whose batches are split from the host: "
                    f"leave it unset or off")
        return super().data_on_device_problem(data)

    def put_data_on_device(self, splits: Mapping[bool, tuple[np.ndarray, np.ndarray]]) -> None:
        self.device_splits = {train: jax.device_put((np.ascontiguousarray(images),
                                                     labels.astype(np.int32)), self.device)
                              for train, (images, labels) in splits.items()}

    def device_order(self, indices: np.ndarray) -> jax.Array:
        # Padded to whole batches, so that every batch slices the same size out of it.
        size = self.data.batch_size
        padded = np.zeros(-(-len(indices) // size) * size, np.int32)
        padded[:len(indices)] = indices
        return jax.device_put(padded, self.device)

    def gather_batch(self, train: bool, order: jax.Array, start: int, count: int,
                     ) -> tuple[Any, ...]:
        # The pass's order is on the device already (uploaded once per epoch): a step sends
        # only its start and count, and is padded to the split's full size as batch_preparer
        # pads, so the steps compile once.
        size = count if train and self.state.batch_stats else self.full_batch_size(train)
        images, labels, real = _gather(*self.device_splits[train], order, start, count, size)
        return resize_images(images, self.input_size or images.shape[1:3]), labels, real

    def global_array(self, array: np.ndarray) -> jax.Array:
        """One global batch over the mesh, split along the batch axis; each host gives its
        part. A batch that does not split evenly (a batch size that the replicas do not
        divide) runs replicated."""
        if len(array) % self.num_replicas:
            return jax.make_array_from_process_local_data(self.placement(), array, array.shape)
        mine = replica_slices(len(array), jax.process_count())[jax.process_index()]
        return jax.make_array_from_process_local_data(
            self.placement(PartitionSpec("batch")), np.ascontiguousarray(array[mine]),
            array.shape)

    def train_step(self, batch: tuple[Any, ...]) -> jax.Array:
        self.state, loss = self.jitted_train_step(self.state, *batch)
        return loss

    def host_array(self, value: Any) -> np.ndarray:
        return to_numpy(value)  # a multi-host run's replicated arrays: this host's copy

    def learning_rate(self) -> float:
        """The rate the next step applies: the optax schedule the optimizer was built with, at
        the step count that it and the train state share."""
        if self.learning_rates is None:
            raise NotImplementedError(f"{type(self.model).__name__} has no recipe: its "
                                      "optimizer's rate is its own")
        return float(self.learning_rates(to_numpy(self.state.step)))

    def fit_finished(self) -> None:
        """The model carries what training reached (a later fit copies before donating), unless
        an interruption came while a step held the state's buffers (donated, so deleted)."""
        if hasattr(self.model, "set_params") and not any(
                getattr(leaf, "is_deleted", lambda: False)()
                for leaf in jax.tree.leaves((self.state.params, self.state.batch_stats))):
            self.model.set_params(self.state.params, batch_stats=self.state.batch_stats)
            # The model carries this fit's end now: a second fit trains on from it, as in every
            # backend, rather than from init_params again (which dropped the first fit).
            self.init_params = None

    def eval_step(self, batch: tuple[Any, ...]) -> tuple[Any, Any]:
        if self.state.batch_stats:
            return self.jitted_eval_step(self.state.params, *batch,
                                         batch_stats=self.state.batch_stats)
        return self.jitted_eval_step(self.state.params, *batch)

    def state_arrays(self) -> dict[str, np.ndarray]:
        """Parameters, the optimizer state, the step, the dropout key (as raw key data) and
        BatchNorm's running statistics: the whole :class:`TrainState`."""
        arrays = {}
        for prefix, tree in (("params", self.state.params), ("optimizer", self.state.opt_state),
                             ("batch_stats", self.state.batch_stats)):
            for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
                arrays[f"{prefix}.{_path_name(path)}"] = to_numpy(leaf)
        arrays["step"] = to_numpy(self.state.step)
        arrays["rng.dropout_key"] = to_numpy(jax.random.key_data(self.state.dropout_key))
        return arrays

    def load_state_arrays(self, arrays: Mapping[str, np.ndarray]) -> None:
        def rebuild(tree, prefix):
            leaves, treedef = jax.tree_util.tree_flatten_with_path(tree)
            return jax.tree_util.tree_unflatten(treedef, [
                jnp.asarray(arrays[f"{prefix}.{_path_name(path)}"], dtype=leaf.dtype)
                for path, leaf in leaves])

        state = self.state.replace(params=rebuild(self.state.params, "params"),
                                   opt_state=rebuild(self.state.opt_state, "optimizer"),
                                   batch_stats=rebuild(self.state.batch_stats, "batch_stats"),
                                   step=jnp.asarray(arrays["step"], dtype=self.state.step.dtype))
        if "rng.dropout_key" in arrays:
            state = state.replace(dropout_key=jax.random.wrap_key_data(
                jnp.asarray(arrays["rng.dropout_key"])))
        self.state = self.replicate(state)
