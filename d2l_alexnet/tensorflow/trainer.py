"""The :class:`Trainer`: the shared fit loop (``core.trainer.TrainerBase``) with TensorFlow's
compiled steps, on one device or under a ``tf.distribute`` strategy."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from ..core.data import DataError
from ..core.trainer import ReplicaError, TrainerBase, replica_slices, validation_sums
from . import runtime
from .data import resize_images
from .runtime import keras, tf, to_numpy


class _OwnRetracingFilter(logging.Filter):
    """Drops TensorFlow's retracing warning about this Trainer's own steps: each fit and
    evaluate makes them anew (a fit's optimizer is a new one), so a notebook's sixth such cell
    traced once more, as meant, and the warning blamed the reader's code for it. Its warnings
    about any other function still pass."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not ("tf.function retracing" in message and f"{__name__}.Trainer " in message)


logging.getLogger("tensorflow").addFilter(_OwnRetracingFilter())


# Two MirroredStrategy objects over the same devices number their all-reduces alike, so a
# second model of another size trained in the same process failed ("Shape mismatch in the
# collective instance 100"): every Trainer shares one strategy per set of devices.
MIRRORED_STRATEGIES: dict[tuple[str, ...], Any] = {}


class CPUReplicaError(ReplicaError):
    """Fewer CPU devices than replicas: a Python caller can split the CPU into logical devices
    before TensorFlow's first op, and the command line cannot (TensorFlow has run ops by the
    time it reads its flags), so there it names what works instead."""

    def __init__(self, replicas: int, seen: int) -> None:
        self.shortage = (f"{replicas} replicas need {replicas} CPU devices but TensorFlow sees "
                         f"{seen}")
        super().__init__(f"{self.shortage}: split the CPU into logical devices with "
                         "tf.config.set_logical_device_configuration before any op")

    def for_command_line(self) -> str:
        return (f"{self.shortage}, and the command line cannot split the CPU: give each replica "
                "a GPU (--device gpu), or run one process per replica with TF_CONFIG naming "
                "them as a cluster of workers (README, Scaling out)")


class Trainer(TrainerBase):
    """The shared fit loop with TensorFlow steps (d2l, sec_oo-design).

    ``precision="bf16"`` switches this model's layers to Keras' ``mixed_bfloat16`` policy
    (fp32 weights, bf16 compute; the last layer stays fp32 so the logits are fp32) while
    ``fit`` or ``evaluate`` runs; when it ends they are back in fp32, so ``predict``,
    ``probabilities`` and ``features`` compute in fp32 afterwards, as in the other backends.

    ``num_gpus=N > 1``: ``tf.distribute.MirroredStrategy`` over N local devices, or
    ``MultiWorkerMirroredStrategy`` when ``TF_CONFIG`` describes several machines (N is then
    the number of replicas over all of them). The model's own network, ``self.net``, is cloned
    under the strategy's scope (mirrored variables) with the same weights.
    """

    backend, framework = "tensorflow", "TensorFlow"
    CPU_REPLICAS = ('device="cpu", after tf.config.set_logical_device_configuration has split '
                    "the CPU in {count} before TensorFlow's first op,")
    strategy = None  # a tf.distribute strategy, for several replicas

    def gpu_available(self) -> bool:
        return bool(tf.config.list_physical_devices("GPU"))

    def open_device(self, kind: str) -> str:
        # Steps run under tf.device(this). The weights stay where TF put them at construction
        # (the GPU when there is one), so --device cpu on a GPU machine reads them from the GPU.
        device = "/GPU:0" if kind == "gpu" else "/CPU:0"
        if self.num_replicas > 1 and self.strategy is None:
            self.strategy = self._make_strategy(device.strip("/").split(":")[0])
        return device

    def _make_strategy(self, kind):
        if runtime.CLUSTER_STRATEGY is not None:  # several machines: each worker's own devices
            strategy = runtime.CLUSTER_STRATEGY
            self.replica_rank = strategy.cluster_resolver.task_id
        else:
            devices = [device.name for device in tf.config.list_logical_devices(kind)]
            if len(devices) < self.num_replicas and kind == "CPU":
                raise CPUReplicaError(self.num_replicas, len(devices))
            if len(devices) < self.num_replicas:
                raise ReplicaError(f"{self.num_replicas} replicas need {self.num_replicas} "
                                   f"{kind} devices but TensorFlow sees {len(devices)}: use "
                                   f"--devices {len(devices)} or fewer")
            devices = tuple(devices[:self.num_replicas])
            if devices not in MIRRORED_STRATEGIES:  # one per device set, for every Trainer
                MIRRORED_STRATEGIES[devices] = tf.distribute.MirroredStrategy(list(devices))
            strategy = MIRRORED_STRATEGIES[devices]
        if strategy.num_replicas_in_sync != self.num_replicas:
            raise ReplicaError(f"asked for {self.num_replicas} replicas, the cluster in TF_CONFIG "
                               f"has {strategy.num_replicas_in_sync}")
        return strategy

    def describe_device(self) -> str:
        return self.device.strip("/").lower()

    def setup(self, model: Any, data: Any) -> Trainer:
        refuse_keras_compile(model)  # before the core's check, which would say "lacks loss"
        return super().setup(model, data)  # type: ignore[return-value]  # (self)

    def prepare_model(self, model: Any) -> None:
        self._build_unbuilt(model)  # before anything reads the weights (replicas, bf16, resume)
        if self.strategy is not None and not _is_mirrored(model):
            self._mirror_network(model)
        self._set_precision(model)
        model.trainer = self
        recipe = getattr(model, "recipe", None)
        self.weight_decay = recipe.weight_decay if recipe is not None else 0.0
        if self.strategy is not None:
            with self.strategy.scope():
                self.optim = model.configure_optimizers()
                self.optim.build(model.trainable_variables)
            self.compiled_train_step = tf.function(self._distributed_train_step, autograph=False)
            self.compiled_eval_step = tf.function(self._distributed_eval_step, autograph=False)
            return
        self.optim = model.configure_optimizers()
        self.optim.build(model.trainable_variables)
        # One trace for every batch size (the last batch may be short); a model of another
        # lesson, which says not its input size, is traced once per batch shape. No XLA: slower
        # on a CPU, after a slow compile (BENCHMARKS.md).
        tracing: dict[str, Any] = {"reduce_retracing": True} if model.input_size is None else {
            "input_signature": (tf.TensorSpec(model.input_batch_shape(None), tf.float32),
                                tf.TensorSpec((None,), tf.int32))}
        self.compiled_train_step = tf.function(self._train_step, autograph=False, **tracing)
        self.compiled_eval_step = tf.function(self._eval_step, autograph=False, **tracing)

    def _build_unbuilt(self, model):
        """Make the weights of a model whose layers have none yet (a lesson's keras.Sequential
        that says not its input shape: Keras makes a layer's weights on its first call, which
        in the book's TensorFlow fit is the first step) by a call in evaluation mode on zeros
        shaped as an image of the first training batch. Keras' initializers drew their seeds
        when the layers were made, so these are the weights model(X) right before fit makes."""
        if model.trainable_variables and all(layer.built for layer in sublayers(model)):
            return
        shape = self.first_input_shape(model)
        model(tf.zeros(shape), training=False)
        if not model.trainable_variables:  # the optimizer is made for the weights there are
            frozen = sum(int(np.prod(variable.shape)) for variable in model.variables
                         if "float" in str(variable.dtype))
            if frozen:
                raise ValueError(f"{type(model).__name__}'s {frozen:,} weights are all frozen "
                                 "(trainable=False), so fit has none to train: set "
                                 "model.trainable = True, or unfreeze the layers to fine-tune")
            raise ValueError(f"{type(model).__name__} has no weights to train, even after a "
                             f"call on a batch of shape {shape}: give it layers with weights "
                             "(in self.net) or tf.Variables")

    def first_input_shape(self, model: Any) -> tuple[int, ...]:
        """The shape of one image of the first training batch as ``fit`` prepares it (resized
        to the model's or the data's size, channels last), read without drawing from any RNG:
        the data's stored images, the first batch of a position-aware module's first epoch,
        or a ``tf.data.Dataset``'s element spec; else the first batch of the loader ``setup``
        already made."""
        images = self.first_training_images()
        if images is None:
            raise DataError(f"{type(model).__name__} has no weights yet (Keras makes a layer's "
                            f"weights on its first call), and {type(self.data).__name__} gave "
                            "no training image to make them from: give it data, or call the "
                            "model once on a batch, model(X), before fitting it")
        images = np.asarray(images[:1])
        return tuple(resize_images(images, self.input_size or images.shape[1:3]).shape)

    def first_loader_images(self, loader: Any) -> np.ndarray | None:
        spec = getattr(loader, "element_spec", None)  # a tf.data.Dataset's: known unread
        if (isinstance(spec, tuple) and len(spec) == 2
                and all(isinstance(part, tf.TensorSpec) for part in spec)
                and spec[-1].shape.rank == 1 and spec[0].shape[1:].is_fully_defined()):
            return self.loader_images(
                np.zeros((1, *spec[0].shape[1:]), spec[0].dtype.as_numpy_dtype))
        return super().first_loader_images(loader)

    def _mirror_network(self, model):
        """Rebuild ``model.net`` under the strategy's scope (mirrored variables) with its
        current weights: a clone of the model's own network, whatever lesson it is from."""
        purpose = f"Training {type(model).__name__} on {self.num_replicas} replicas"
        net = model.network(purpose, fix="train it on one device")
        inside = {id(variable) for variable in net.variables}
        outside = [variable.name for variable in model.variables if id(variable) not in inside]
        if outside:
            raise ReplicaError(f"{purpose} mirrors self.net only, and {type(model).__name__} "
                               f"also holds {', '.join(outside[:3])} outside it: keep every "
                               "layer in self.net, or train it on one device")
        with self.strategy.scope():  # mirrored variables, with the model's current weights
            try:
                mirrored = keras.models.clone_model(net)
            except (TypeError, ValueError, NotImplementedError) as error:
                # Keras' first sentence names the layer; it may start with a blank line and
                # run over several, before an example of code.
                paragraph = str(error).strip().split("\n\n")[0]
                reason = " ".join(paragraph.split()).split(". ")[0].rstrip(".")
                reason = reason or type(error).__name__
                raise ReplicaError(f"{purpose} rebuilds self.net from its layers' configs, "
                                   f"which failed ({reason}): give each custom layer "
                                   "get_config, or train it on one device") from error
            mirrored.set_weights(net.get_weights())
        # Keras keeps tracking a replaced sublayer: untracked, the old weights leave
        # model.trainable_variables (and checkpoints).
        model._layers.remove(net)
        model.net = mirrored

    def fit_finished(self) -> None:
        self._back_to_fp32(self.model)

    def fit_abandoned(self, model: Any) -> None:
        self._back_to_fp32(model)

    def evaluate(self, model: Any, data: Any) -> dict[str, float]:
        try:
            return super().evaluate(model, data)
        finally:
            self._back_to_fp32(model)

    def _back_to_fp32(self, model):
        """Inference after a bf16 fit or evaluation, ended or not: fp32, as in every backend."""
        if self.precision == "bf16":
            self._set_precision(model, "fp32")

    def _set_precision(self, model, precision=None):
        """Every layer of ``model.net``, nested blocks' too, in bf16 compute but the output
        layer (fp32 logits), for ``precision="bf16"`` (this trainer's unless given). Per
        layer, not keras.config.set_dtype_policy: a global policy would leak into every model
        built later. Set both ways: ``fit`` and ``evaluate`` put the layers back in fp32 when
        they end (their compiled steps keep the precision they were traced in)."""
        precision = precision or self.precision
        if getattr(model, "net", None) is None:
            if precision == "bf16":
                raise TypeError(f"precision='bf16' (Keras' mixed_bfloat16 policy, set per "
                                f"layer) needs the layers of self.net, and "
                                f"{type(model).__name__} has none (it computes in forward): "
                                "train it in fp32, or build its layers as a keras.Sequential "
                                "in self.net")
            return
        layers = list(sublayers(model.net))
        output = [layer for layer in layers if not list(sublayers(layer))][-1:]
        policy = "mixed_bfloat16" if precision == "bf16" else "float32"
        for layer in layers:
            layer.dtype_policy = "float32" if layer in output else policy

    def prepare_batch(self, images: np.ndarray, labels: np.ndarray) -> tuple[Any, ...]:
        if self.strategy is not None:
            return self._distribute(images, labels)
        with tf.device(self.device):
            return (resize_images(tf.constant(images), self.input_size or images.shape[1:3]),
                    tf.constant(labels.astype(np.int32)))

    def _distribute(self, images, labels):
        """Each replica's slice of the global batch (by its global replica id, so every worker
        of a multi-worker run, holding the same global batch, takes its own), the global
        batch's size, and each replica's weight. A batch with fewer examples than replicas (an
        epoch's last) cannot give each one a share, and a replica given none failed: every
        replica takes the whole batch, the first with weight 1 and the others 0, so the step
        is one device's (and so are the moving statistics the replicas average)."""
        short = len(labels) < self.num_replicas
        slices = ([slice(None)] * self.num_replicas if short
                  else replica_slices(len(labels), self.num_replicas))

        def distributed(value_of_rank):
            return self.strategy.experimental_distribute_values_from_function(
                lambda context: value_of_rank(context.replica_id_in_sync_group))

        X = distributed(lambda rank: resize_images(tf.constant(images[slices[rank]]),
                                                   self.input_size))
        y = distributed(lambda rank: tf.constant(labels[slices[rank]].astype(np.int32)))
        weight = distributed(lambda rank: tf.constant(0.0 if short and rank else 1.0))
        return X, y, tf.constant(float(len(labels))), weight

    def _train_step(self, X, y):
        variables = self.model.trainable_variables
        with tf.GradientTape() as tape:
            loss = self.model.training_step((X, y))
        grads = tape.gradient(loss, variables)
        if self.gradient_clip_val > 0:  # the loss's gradient alone, before the decay term
            grads, _ = tf.clip_by_global_norm(grads, self.gradient_clip_val)
        self.optim.apply_gradients(zip(self.with_weight_decay(grads, variables), variables))
        return loss

    def with_weight_decay(self, grads: Sequence[Any], variables: Sequence[Any],
                          share: float = 1.0) -> Sequence[Any]:
        """The coupled L2 term ``weight_decay × w`` added to each gradient (``share`` of it on
        each replica, whose gradients the optimizer sums), after any clipping: as PyTorch's
        ``clip_grad_norm_`` before its SGD's ``weight_decay``, and optax's chain, clip the
        loss's gradient alone."""
        if not self.weight_decay:
            return grads
        return [grad + (share * self.weight_decay) * variable
                for grad, variable in zip(grads, variables)]

    def _replica_train_step(self, X, y, total, weight):
        variables = self.model.trainable_variables
        with tf.GradientTape() as tape:
            # Scaled by the global batch: the optimizer sums the replicas' gradients, which is
            # then the gradient of the global batch's mean loss (0 from a replica weighing 0).
            loss = tf.reduce_sum(self.model.loss(self.model(X, training=True), y,
                                                 averaged=False)) * (weight / total)
        grads = tape.gradient(loss, variables)
        if self.gradient_clip_val > 0:  # the global batch's gradient, before the decay term
            context = tf.distribute.get_replica_context()
            grads = context.all_reduce(tf.distribute.ReduceOp.SUM, grads)
            grads, _ = tf.clip_by_global_norm(grads, self.gradient_clip_val)
            grads = [grad / self.num_replicas for grad in grads]  # summed again when applied
        grads = self.with_weight_decay(grads, variables, share=1.0 / self.num_replicas)
        self.optim.apply_gradients(zip(grads, variables))
        return loss

    def _distributed_train_step(self, X, y, total, weight):
        losses = self.strategy.run(self._replica_train_step, args=(X, y, total, weight))
        return self.strategy.reduce(tf.distribute.ReduceOp.SUM, losses, axis=None)

    def _eval_step(self, X, y):
        return validation_sums(self.model, self.model(X, training=False), y, total=tf.reduce_sum)

    def _replica_eval_step(self, X, y, weight):
        return tuple(value * tf.cast(weight, value.dtype) for value in self._eval_step(X, y))

    def _distributed_eval_step(self, X, y, total, weight):
        sums = self.strategy.run(self._replica_eval_step, args=(X, y, weight))
        return tuple(self.strategy.reduce(tf.distribute.ReduceOp.SUM, value, axis=None)
                     for value in sums)

    def train_step(self, batch: tuple[Any, ...]) -> Any:
        with tf.device(self.device):
            return self.compiled_train_step(*batch)

    def eval_step(self, batch: tuple[Any, ...]) -> tuple[Any, Any]:
        with tf.device(self.device):
            return self.compiled_eval_step(*batch)

    def learning_rate(self) -> float:
        """The rate the next step applies (Keras evaluates its schedule at the step count);
        through numpy, as on several replicas the variable holds a ``MirroredVariable``, which
        ``float()`` does not take."""
        return float(to_numpy(self.optim.learning_rate))

    def state_arrays(self) -> dict[str, np.ndarray]:
        """Every variable of the model (weights; other state, such as batch normalization's
        moving statistics; the seed generators' states, nested blocks' too), the SGD state (its
        step count), by position (Keras' variable paths carry per-process counters)."""
        arrays = {key: to_numpy(variable) for key, variable in self._state_variables()}
        for index, variable in enumerate(self._optimizer_state()):
            arrays[f"optimizer.{index:02d}.{variable.name}"] = to_numpy(variable)
        return arrays

    def load_state_arrays(self, arrays: Mapping[str, np.ndarray]) -> None:
        for key, variable in self._state_variables():
            if key in arrays:  # (the core checked that only seed states may be missing)
                variable.assign(arrays[key])
        # By position alone: a slot's name carries its layer's per-process counter, so the
        # second model a process builds names its momentum sequential_1_conv2d_5_kernel_momentum
        # where the checkpoint, from a fresh process, says sequential_conv2d_kernel_momentum.
        saved = {key.split(".")[1]: array for key, array in arrays.items()
                 if key.startswith("optimizer.")}
        for index, variable in enumerate(self._optimizer_state()):
            variable.assign(saved[f"{index:02d}"])  # (the recipe, checked, made the same slots)

    def _state_variables(self):
        """``(key, variable)`` for every variable of the model. Seed states are named by their
        layer's kind and its count in the layers' order (AlexNet's dropouts: rng.dropout.0 and
        1, as checkpoints named them before nested blocks were walked)."""
        seeds, counts = [], {}
        for layer in [self.model, *sublayers(self.model)]:
            for generator in layer._seed_generators:
                kind = type(layer).__name__.lower()
                seeds.append((f"rng.{kind}.{counts.get(kind, 0)}", generator.state))
                counts[kind] = counts.get(kind, 0) + 1
        seed_ids = {id(state) for _, state in seeds}
        others = [variable for variable in self.model.non_trainable_variables
                  if id(variable) not in seed_ids]
        return ([(f"params.{index:02d}.{_name(variable)}", variable)
                 for index, variable in enumerate(self.model.trainable_variables)]
                + [(f"state.{index:02d}.{_name(variable)}", variable)
                   for index, variable in enumerate(others)] + seeds)

    def _optimizer_state(self):
        # The learning rate is a setting, not state: a resumed run may lower it (--lr).
        return [variable for variable in self.optim.variables if variable.name != "learning_rate"]


def sublayers(layer: Any) -> Iterator[Any]:
    """Every layer inside ``layer``, depth first in the order they were added (a nested
    block's layers after the block), each once; not Keras' own input layers."""
    seen: set[int] = set()

    def walk(parent):
        for child in parent._layers:
            if id(child) in seen or isinstance(child, keras.layers.InputLayer):
                continue
            seen.add(id(child))
            yield child
            yield from walk(child)

    return walk(layer)


def refuse_keras_compile(model: Any) -> None:
    """Keras' ``compile()`` sets an attribute ``loss`` that hides the book's ``loss`` method:
    refuse in one line, naming it, rather than train without the model's loss."""
    if isinstance(model, keras.Model) and "loss" in vars(model) and callable(
            getattr(type(model), "loss", None)):
        name = type(model).__name__
        raise TypeError(f"{name} was compile()d for Keras' own fit, which set {name}.loss to "
                        f"{vars(model)['loss']!r} over the model's loss method: this Trainer "
                        "trains with the model's own loss and configure_optimizers, so build "
                        "the model again without compile() (or del model.loss first)")


def _name(variable):
    return variable.name.split(":")[0]  # a tf.Variable's name ends in ":0"


def _is_mirrored(model):
    """Whether ``model``'s weights were made under a ``tf.distribute`` strategy's scope."""
    return any(isinstance(getattr(variable, "value", variable), tf.distribute.DistributedValues)
               for variable in model.weights[:1])

