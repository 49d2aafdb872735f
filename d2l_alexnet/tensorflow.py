"""The chapter's AlexNet on TensorFlow with Keras 3 (d2l, sec_alexnet), on the shared core.

``from d2l_alexnet import tensorflow as d2l`` gives the book's names: ``Module``, ``Classifier``,
``AlexNet``, ``init_cnn``, ``DataModule``, ``FashionMNIST``, ``Trainer``, and for other lessons
``ArrayData`` and ``ImageFolder``. Images are NHWC, as in the book's
TensorFlow code. Unlike that code, dropout really is active while training: every call passes
``training=True`` or ``training=False``.
"""

import dataclasses
import os
import sys
import tempfile

import numpy as np

from .core import images as core_images
from .core import weights
from .core.architecture import (ALEXNET, CHAPTER_RESIZE, IN_CHANNELS, as_size,
                                check_in_channels, layer_table, with_dropout)
from .core.datamodule import DataModule, FashionMNISTBase, InMemoryData
from .core.module import ModuleContract
from .core.trainer import ReplicaError, TrainerBase, replica_slices


def _import_tensorflow():
    """Import TensorFlow without its start-up log lines unless ``TF_CPP_MIN_LOG_LEVEL=0``.

    TF 2.21 writes its oneDNN notice through absl before it reads ``TF_CPP_MIN_LOG_LEVEL``, so
    the variable alone does not silence it; and its CUDA build logs a "failed call to cuInit"
    error the first time it looks for devices on a machine without a GPU, so it looks here.
    Stderr goes to a temporary file for the import only; if the import fails, what TF wrote is
    replayed before the error, so nothing useful is lost.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "tensorflow" in sys.modules or os.environ["TF_CPP_MIN_LOG_LEVEL"] in ("", "0"):
        import tensorflow
        return tensorflow
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        try:
            os.dup2(captured.fileno(), 2)
            import tensorflow
            tensorflow.config.list_physical_devices()
        except BaseException:
            os.dup2(saved, 2)
            captured.seek(0)
            sys.stderr.write(captured.read().decode("utf-8", "replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
    return tensorflow


tf = _import_tensorflow()
keras = tf.keras
if not keras.__version__.startswith("3."):  # variable paths, dtype policies per layer...
    raise ImportError(f"the tensorflow backend needs Keras 3 (TensorFlow >= 2.16); found "
                      f"TensorFlow {tf.__version__} with Keras {keras.__version__}")

# Several machines (TF_CONFIG names the cluster): TensorFlow configures the collectives only
# before its first op ("Collective ops must be configured at program startup"), so the strategy
# is made here, on import, before any model, in the CLI and in Python alike.
CLUSTER_STRATEGY = tf.distribute.MultiWorkerMirroredStrategy() if "TF_CONFIG" in os.environ \
    else None

# Precisions this backend trains in (bf16: Keras mixed_bfloat16 on this model's layers).
PRECISIONS = ("fp32", "bf16")
# Parameter layout (core/weights.py): HWIO kernels, (in, out) dense kernels, H×W×C flatten.
LAYOUT = "NHWC"

__all__ = ["LAYOUT", "assign_parameter_arrays",
           "PRECISIONS", "AlexNet", "ArrayData", "BookAlexNet", "build_network", "Classifier", "cpu",
           "DataModule", "example_input_shape", "FashionMNIST", "gpu", "ImageFolder", "init_cnn",
           "matmul_benchmark", "Module", "num_gpus", "parameter_arrays", "peak_memory_bytes",
           "resize_images", "set_seed", "to_numpy", "Trainer"]


def cpu():
    return tf.device("/CPU:0")


def gpu(i=0):
    return tf.device(f"/GPU:{i}")


def num_gpus():
    return len(tf.config.list_physical_devices("GPU"))


def set_seed(seed):
    """Seed every RNG the model and its dropout draw from (Python's, which Keras initializers and
    dropout layers take their seeds from, numpy's and TensorFlow's)."""
    keras.utils.set_random_seed(int(seed))


def init_cnn(layer):
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

    def __init__(self, plot_train_per_epoch=2, plot_valid_per_epoch=1):
        super().__init__()
        # Keras 3's Trainer.__init__ sets ``self.loss = None`` (compile()'s slot), which would hide
        # the book's ``loss`` method; we never compile, so drop the instance attribute.
        self.__dict__.pop("loss", None)
        self.save_hyperparameters()

    LAYOUT, BACKEND = LAYOUT, "tensorflow"

    def loss(self, y_hat, y):
        raise NotImplementedError

    def weight_arrays(self):
        return parameter_arrays(self)

    def assign_weight_arrays(self, arrays, skip_head=False):
        assign_parameter_arrays(self, arrays, skip_head)

    def call(self, X, training=None):
        self.check_input_shape(tuple(X.shape))  # static shapes: checked when traced
        return self.net(X, training=training)

    # Class indices, as in every backend, not Keras' outputs (those are model(X, training=False)).
    predict = ModuleContract.predict

    def images_to_input(self, images):
        return resize_images(images, self.input_size)

    def evaluate_batch(self, X, features):
        layers = self.net.layers[:-1] if features else self.net.layers
        X = tf.convert_to_tensor(X)
        for layer in layers:  # training=False: dropout off
            X = layer(X, training=False)
        return tf.cast(X, tf.float32).numpy()

    def training_step(self, batch):
        loss = self.loss(self(*batch[:-1], training=True), batch[-1])
        self.plot("loss", loss, train=True)
        return loss

    def validation_step(self, batch):
        loss = self.loss(self(*batch[:-1], training=False), batch[-1])
        self.plot("loss", loss, train=False)
        return loss

    def configure_optimizers(self):
        """Keras' SGD with the model's recipe; with a schedule (the trainer's plan over its
        run), its learning rate is a ``keras.optimizers.schedules`` schedule of the step.
        (Weight decay is not Keras' decoupled ``weight_decay``: the trainer adds the coupled L2
        term to the gradients, as the other backends' SGD does.)"""
        recipe = self.recipe
        plan = getattr(getattr(self, "trainer", None), "lr_plan", None)
        return keras.optimizers.SGD(
            learning_rate=recipe.lr if plan is None else PlannedSchedule(plan),
            momentum=recipe.momentum, nesterov=recipe.nesterov)

    def layer_outputs(self, X_shape):
        X = tf.random.normal(X_shape)
        for layer in self.net.layers:
            X = layer(X, training=False)
            yield type(layer).__name__, tuple(X.shape)


class Classifier(Module):
    """A model that predicts classes: cross-entropy loss and accuracy (d2l, sec_classification)."""

    def validation_step(self, batch):
        return self.score_validation(self(*batch[:-1], training=False), batch[-1])

    def accuracy(self, Y_hat, Y, averaged=True):
        Y_hat = tf.reshape(Y_hat, (-1, Y_hat.shape[-1]))
        preds = tf.cast(tf.argmax(Y_hat, axis=1), Y.dtype)
        compare = tf.cast(preds == tf.reshape(Y, (-1,)), tf.float32)
        return tf.reduce_mean(compare) if averaged else compare

    def loss(self, Y_hat, Y, averaged=True):
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

    def __init__(self, plan):
        self.plan = plan

    def __call__(self, step):
        plan = self.plan
        step = tf.cast(step, tf.float32)
        warmup = plan.lr + (plan.peak_lr - plan.lr) * step / max(plan.warmup_steps, 1)
        progress = tf.clip_by_value((step - plan.warmup_steps)
                                    / (plan.total_steps - plan.warmup_steps), 0.0, 1.0)
        after = {"constant": plan.peak_lr + 0.0 * progress,
                 "onecycle": plan.peak_lr * (1.0 - progress),
                 "cosine": plan.peak_lr * 0.5 * (1.0 + tf.cos(np.pi * progress))}[plan.schedule]
        return tf.where(step < plan.warmup_steps, warmup, after)

    def get_config(self):
        return dataclasses.asdict(self.plan)


ACTIVATIONS = ("relu", "sigmoid")  # rows folded into the layer before them, as the book writes


def _keras_padding(layer):
    """Keras pads only "valid" (none) or "same" (kernel - 1 in all, at stride 1)."""
    if layer.padding == 0:
        return "valid"
    if layer.stride == 1 and 2 * layer.padding == layer.kernel - 1:
        return "same"
    raise ValueError(f"padding {layer.padding} for a {layer.kernel}×{layer.kernel} "
                     f"stride-{layer.stride} {layer.kind} has no Keras equivalent")


def build_network(num_classes=10, resize=CHAPTER_RESIZE, layers=ALEXNET,
                  in_channels=IN_CHANNELS):
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
            modules.append(keras.layers.Conv2D(layer.units, layer.kernel, layer.stride,
                                               _keras_padding(layer), activation=activation,
                                               **init))
        elif layer.kind == "dense":
            modules.append(keras.layers.Dense(row.output_shape[0], activation=activation, **init))
        elif layer.kind in ACTIVATIONS:
            if index == 0 or rows[index - 1].layer.kind not in ("conv", "dense"):
                modules.append(keras.layers.Activation(layer.kind))  # nothing to fold it into
        elif layer.kind in ("maxpool", "avgpool"):
            pool = (keras.layers.MaxPooling2D if layer.kind == "maxpool"
                    else keras.layers.AveragePooling2D)
            modules.append(pool(layer.kernel, layer.stride, _keras_padding(layer)))
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

    def __init__(self, lr=0.1, num_classes=10, resize=CHAPTER_RESIZE, in_channels=IN_CHANNELS,
                 dropout=None, layers=None, *, momentum=0.0, nesterov=False, weight_decay=0.0,
                 label_smoothing=0.0, schedule="constant", warmup_epochs=None, max_lr=None):
        super().__init__()
        self.save_hyperparameters(ignore=["layers"])  # Keras reserves the attribute `layers`
        self.hparams["layers"] = layers
        check_in_channels(in_channels)
        self.recipe.check()  # a bad momentum, say, refused now rather than at fit
        self.net = build_network(num_classes, resize, with_dropout(dropout, self.table),
                                 in_channels)
        self.built = True  # self.net is built; nothing else holds weights

    def save_weights(self, filepath, *args, **kwargs):
        """The canonical safetensors file every backend reads (``ModuleContract.save_weights``);
        ``*.weights.h5``: Keras' own format."""
        if str(filepath).endswith(".weights.h5"):
            return super().save_weights(filepath, *args, **kwargs)
        return ModuleContract.save_weights(self, filepath)

    def load_weights(self, filepath, *args, skip_head=False, log=print, **kwargs):
        """From a canonical weights file (``ModuleContract.load_weights``: ``skip_head``, the
        channel rule); returns the model. ``*.weights.h5``: Keras' own format."""
        if str(filepath).endswith(".weights.h5"):
            return super().load_weights(filepath, *args, **kwargs)
        return ModuleContract.load_weights(self, filepath, skip_head, log)


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


def resize_images(images, size):
    """numpy or tensor images ``(B, H, W)`` or ``(B, H, W, C)`` -> float32 ``(B, *size, C)``:
    uint8 scaled into [0, 1] once, floats as they are; bilinear (half-pixel centres, no
    antialiasing: the convention every backend shares)."""
    images = tf.convert_to_tensor(images)
    X = tf.cast(images, tf.float32)
    if images.dtype == tf.uint8:
        X = X / 255.0
    if X.shape.rank == 3:
        X = X[..., tf.newaxis]
    if tuple(X.shape[1:3]) != tuple(size):
        X = tf.image.resize(X, size, method="bilinear", antialias=False)
    return X


class TensorBatches(InMemoryData):
    """``train_dataloader()`` batches as TensorFlow tensors: images ``(B, H, W, C)``."""

    def convert_batch(self, images, labels):
        return resize_images(images, self.resize), tf.convert_to_tensor(labels.astype(np.int32))


class FashionMNIST(TensorBatches, FashionMNISTBase):
    """Fashion-MNIST as TensorFlow tensors, NHWC (d2l, sec_fashion_mnist)."""


class ArrayData(TensorBatches, core_images.ArrayData):
    __doc__ = core_images.ArrayData.__doc__


class ImageFolder(TensorBatches, core_images.ImageFolder):
    __doc__ = core_images.ImageFolder.__doc__


class Trainer(TrainerBase):
    """The shared fit loop with TensorFlow steps (d2l, sec_oo-design).

    ``precision="bf16"`` switches this model's layers to Keras' ``mixed_bfloat16`` policy
    (fp32 weights, bf16 compute; the last layer stays fp32 so the logits are fp32).

    ``num_gpus=N > 1``: ``tf.distribute.MirroredStrategy`` over N local devices, or
    ``MultiWorkerMirroredStrategy`` when ``TF_CONFIG`` describes several machines (N is then
    the number of replicas over all of them). The model's network is rebuilt under the
    strategy's scope (mirrored variables) with the same weights.
    """

    backend, framework = "tensorflow", "TensorFlow"
    strategy = None  # a tf.distribute strategy, for several replicas

    def gpu_available(self):
        return bool(tf.config.list_physical_devices("GPU"))

    def open_device(self, kind):
        # Steps run under tf.device(this). The weights stay where TF put them at construction
        # (the GPU when there is one), so --device cpu on a GPU machine reads them from the GPU.
        device = "/GPU:0" if kind == "gpu" else "/CPU:0"
        if self.num_replicas > 1 and self.strategy is None:
            self.strategy = self._make_strategy(device.strip("/").split(":")[0])
        return device

    def _make_strategy(self, kind):
        if CLUSTER_STRATEGY is not None:  # several machines: each worker's own devices
            strategy = CLUSTER_STRATEGY
            self.replica_rank = strategy.cluster_resolver.task_id
        else:
            devices = [device.name for device in tf.config.list_logical_devices(kind)]
            if len(devices) < self.num_replicas:
                hint = ("split the CPU into logical devices with "
                        "tf.config.set_logical_device_configuration before any op"
                        if kind == "CPU" else f"use --devices {len(devices)} or fewer")
                raise ReplicaError(f"{self.num_replicas} replicas need {self.num_replicas} "
                                   f"{kind} devices but TensorFlow sees {len(devices)}: {hint}")
            strategy = tf.distribute.MirroredStrategy(devices[:self.num_replicas])
        if strategy.num_replicas_in_sync != self.num_replicas:
            raise ReplicaError(f"asked for {self.num_replicas} replicas, the cluster in TF_CONFIG "
                               f"has {strategy.num_replicas_in_sync}")
        return strategy

    def describe_device(self):
        return self.device.strip("/").lower()

    def prepare_model(self, model):
        if self.strategy is not None and not _is_mirrored(model.net):
            with self.strategy.scope():  # mirrored variables, with the model's current weights
                net = build_network(model.num_classes, model.resize,
                                    with_dropout(model.dropout, model.table), model.in_channels)
                net.set_weights(model.net.get_weights())
            # Keras keeps tracking a replaced sublayer: untracked, the old weights leave
            # model.trainable_variables (and checkpoints).
            model._layers.remove(model.net)
            model.net = net
        # Per layer, not keras.config.set_dtype_policy: a global policy would leak into every
        # model built later. Set both ways, so the last fit's precision is the model's.
        policy = "mixed_bfloat16" if self.precision == "bf16" else "float32"
        for layer in model.net.layers[:-1]:
            layer.dtype_policy = policy
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
        # One trace for every batch size (the last batch may be short). No XLA: slower on a CPU,
        # after seconds of compiling (BENCHMARKS.md).
        spec = (tf.TensorSpec(model.input_batch_shape(None), tf.float32),
                tf.TensorSpec((None,), tf.int32))
        self.compiled_train_step = tf.function(self._train_step, input_signature=spec,
                                               autograph=False)
        self.compiled_eval_step = tf.function(self._eval_step, input_signature=spec,
                                              autograph=False)

    def prepare_batch(self, images, labels):
        if self.strategy is not None:
            return self._distribute(images, labels)
        with tf.device(self.device):
            return (resize_images(tf.constant(images), self.input_size or images.shape[1:3]),
                    tf.constant(labels.astype(np.int32)))

    def _distribute(self, images, labels):
        """Each replica's slice of the global batch (by its global replica id, so every worker
        of a multi-worker run, holding the same global batch, takes its own)."""
        slices = replica_slices(len(labels), self.num_replicas)

        def replica_value(context):
            mine = slices[context.replica_id_in_sync_group]
            return (resize_images(tf.constant(images[mine]), self.input_size),
                    tf.constant(labels[mine].astype(np.int32)))

        X, y = self.strategy.experimental_distribute_values_from_function(
            lambda context: replica_value(context)[0]), \
            self.strategy.experimental_distribute_values_from_function(
                lambda context: replica_value(context)[1])
        return X, y, tf.constant(float(len(labels)))

    def _train_step(self, X, y):
        variables = self.model.trainable_variables
        with tf.GradientTape() as tape:
            loss = self.model.training_step((X, y))
        grads = self.with_weight_decay(tape.gradient(loss, variables), variables)
        if self.gradient_clip_val > 0:
            grads, _ = tf.clip_by_global_norm(grads, self.gradient_clip_val)
        self.optim.apply_gradients(zip(grads, variables))
        return loss

    def with_weight_decay(self, grads, variables, share=1.0):
        """The coupled L2 term ``weight_decay × w`` added to each gradient (``share`` of it on
        each replica, whose gradients the optimizer sums)."""
        if not self.weight_decay:
            return grads
        return [grad + (share * self.weight_decay) * variable
                for grad, variable in zip(grads, variables)]

    def _replica_train_step(self, X, y, total):
        variables = self.model.trainable_variables
        with tf.GradientTape() as tape:
            # Scaled by the global batch: the optimizer sums the replicas' gradients, which is
            # then the gradient of the global batch's mean loss.
            loss = tf.reduce_sum(self.model.loss(self.model(X, training=True), y,
                                                 averaged=False)) / total
        grads = self.with_weight_decay(tape.gradient(loss, variables), variables,
                                       share=1.0 / self.num_replicas)
        if self.gradient_clip_val > 0:
            context = tf.distribute.get_replica_context()
            grads = context.all_reduce(tf.distribute.ReduceOp.SUM, grads)
            grads, _ = tf.clip_by_global_norm(grads, self.gradient_clip_val)
            grads = [grad / self.num_replicas for grad in grads]  # summed again when applied
        self.optim.apply_gradients(zip(grads, variables))
        return loss

    def _distributed_train_step(self, X, y, total):
        losses = self.strategy.run(self._replica_train_step, args=(X, y, total))
        return self.strategy.reduce(tf.distribute.ReduceOp.SUM, losses, axis=None)

    def _eval_step(self, X, y):
        Y_hat = self.model(X, training=False)
        return (tf.reduce_sum(self.model.loss(Y_hat, y, averaged=False)),
                tf.reduce_sum(self.model.accuracy(Y_hat, y, averaged=False)))

    def _distributed_eval_step(self, X, y, total):
        sums = self.strategy.run(self._eval_step, args=(X, y))
        return tuple(self.strategy.reduce(tf.distribute.ReduceOp.SUM, value, axis=None)
                     for value in sums)

    def train_step(self, batch):
        with tf.device(self.device):
            return self.compiled_train_step(*batch)

    def eval_step(self, batch):
        with tf.device(self.device):
            return self.compiled_eval_step(*batch)

    def learning_rate(self):
        """The rate the next step applies (Keras evaluates its schedule at the step count)."""
        return float(self.optim.learning_rate)

    def state_arrays(self):
        """Weights, the SGD state (its step count) and the dropout layers' seed-generator
        states, by position (Keras' variable paths carry per-process counters)."""
        arrays = {f"params.{index:02d}.{variable.name}": to_numpy(variable)
                  for index, variable in enumerate(self.model.trainable_variables)}
        for index, variable in enumerate(self._optimizer_state()):
            arrays[f"optimizer.{index:02d}.{variable.name}"] = to_numpy(variable)
        for index, variable in enumerate(self._dropout_states()):
            arrays[f"rng.dropout.{index}"] = to_numpy(variable)
        return arrays

    def load_state_arrays(self, arrays):
        for prefix, variables in (("params", self.model.trainable_variables),
                                  ("optimizer", self._optimizer_state())):
            for index, variable in enumerate(variables):
                variable.assign(arrays[f"{prefix}.{index:02d}.{variable.name}"])
        for index, variable in enumerate(self._dropout_states()):
            if f"rng.dropout.{index}" in arrays:
                variable.assign(arrays[f"rng.dropout.{index}"])

    def _optimizer_state(self):
        # The learning rate is a setting, not state: a resumed run may lower it (--lr).
        return [variable for variable in self.optim.variables if variable.name != "learning_rate"]

    def _dropout_states(self):
        return [layer.seed_generator.state for layer in self.model.net.layers
                if isinstance(layer, keras.layers.Dropout)]


def _is_mirrored(net):
    """Whether ``net``'s weights were made under a ``tf.distribute`` strategy's scope."""
    return any(isinstance(getattr(variable, "value", variable), tf.distribute.DistributedValues)
               for variable in net.weights[:1])


def example_input_shape(resize=CHAPTER_RESIZE, batch_size=1, in_channels=IN_CHANNELS):
    """The input layout of this backend (NHWC) for ``layer_summary``."""
    return (batch_size, *as_size(resize), in_channels)


def parameter_arrays(model, seed=0):
    """The model's parameters as ``[(name, numpy array), ...]`` in the architecture table's order
    (each convolution and dense layer: kernel, then bias), in Keras' own layout (HWIO kernels,
    ``(in, out)`` dense weights). ``seed`` is unused: Keras models hold their parameters."""
    return [(variable.path, to_numpy(variable)) for variable in model.net.weights]


def assign_parameter_arrays(model, arrays, skip_head=False):
    """Set the model's parameters from ``[(name, array), ...]`` in Keras' layout and the
    table's order (what :func:`parameter_arrays` returns; all but the last layer's two with
    ``skip_head``). Every shape is checked first, so a ``WeightsError`` leaves the model
    unchanged."""
    variables = model.net.weights
    arrays = weights.match_arrays(arrays, [(variable.path, tuple(variable.shape))
                                           for variable in variables], skip_head)
    for variable, array in zip(variables, arrays):
        variable.assign(array)


def to_numpy(tensor):
    """A tensor or variable as a numpy array (on the host)."""
    return tensor.numpy() if hasattr(tensor, "numpy") else np.asarray(tensor)


def matmul_benchmark(precision, device, size=2048):
    """A blocking ``size×size`` matmul in ``precision`` for the benchmark's peak; returns
    ``(function, flops per call)``."""
    dtype = tf.bfloat16 if precision == "bf16" else tf.float32
    with tf.device(device):
        a, b = (tf.cast(tf.random.normal((size, size), seed=seed), dtype) for seed in (1, 2))

    def run():
        with tf.device(device):
            tf.reduce_sum(tf.matmul(a, b)).numpy()  # .numpy() waits for the device

    return run, 2 * size ** 3


def peak_memory_bytes(device):
    """Peak device memory for a GPU; ``None`` on the CPU (the benchmark reports max RSS)."""
    if "GPU" in device.upper():
        return tf.config.experimental.get_memory_info(device.strip("/"))["peak"]
    return None
