"""The chapter's AlexNet on MXNet Gluon (d2l, sec_alexnet), on the shared core.

``from d2l_alexnet import mxnet as d2l`` gives the book's names: ``Module``, ``Classifier``,
``AlexNet``, ``DataModule``, ``FashionMNIST``, ``Trainer``, and for other lessons ``ArrayData`` and
``ImageFolder``. MXNet 1.9 is the last release and needs numpy<1.24,
so it runs from its own environment (``make mxnet-env``). We use the classic ``mx.nd`` API rather
than the book's ``npx.set_np()``, which would switch every array in the process to numpy mode.
"""

import os
import sys

import numpy as np

# MXNet keeps cores back for its engine's worker threads and so runs each operator on fewer
# OpenMP threads than there are cores (one of two here: half the speed). Its operators are the
# work, so give them every core this process may use, unless the user chose a number.
_usable_cores = (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                 else os.cpu_count())
os.environ.setdefault("OMP_NUM_THREADS", str(_usable_cores))
# The default threaded engine runs independent operators at once, so a convolution's backward
# pass gets a varying share of those threads and sums its weight gradient in a varying order:
# the last bits differed between two identical runs (momentum with weight decay), and a resumed
# run was no longer exact. The synchronous engine gives each operator all of them, every time;
# measured no slower (67 against 65 img/s on 2 cores).
os.environ.setdefault("MXNET_ENGINE_TYPE", "NaiveEngine")
import mxnet as mx  # noqa: E402  (reads both variables when it loads)
from mxnet import autograd, gluon, init
from mxnet.gluon import nn

from .core import images as core_images
from .core import weights
from .core.architecture import (ALEXNET, CHAPTER_RESIZE, IN_CHANNELS, as_size,
                                check_in_channels, layer_table, with_dropout)
from .core.datamodule import DataModule, FashionMNISTBase, InMemoryData
from .core.module import ModuleContract
from .core.trainer import ReplicaError, TrainerBase


def _start_engine_without_its_log_line():
    """MXNet starts its engine at the first operation and, for a non-default engine, logs a
    line to stderr: the CLI's one-line errors would get a second line. Start it here with that
    line dropped (anything else written meanwhile is passed on)."""
    import tempfile

    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            mx.nd.zeros(1).wait_to_read()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        caught.seek(0)
        for line in caught.read().decode(errors="replace").splitlines(keepends=True):
            if "MXNet start using engine" not in line:
                sys.stderr.write(line)


_start_engine_without_its_log_line()

# Precisions this backend trains in: MXNet 1.9's bf16 AMP is process-wide and fails with
# numpy 1.23, so fp32 only.
PRECISIONS = ("fp32",)
# Parameter layout (core/weights.py): OIHW kernels, (out, in) dense weights, C×H×W flatten.
LAYOUT = "NCHW"

__all__ = ["LAYOUT", "assign_parameter_arrays",
           "PRECISIONS", "AlexNet", "ArrayData", "BookAlexNet", "build_network", "Classifier", "cpu",
           "DataModule", "example_input_shape", "FashionMNIST", "gpu", "ImageFolder",
           "matmul_benchmark", "Module", "num_gpus", "parameter_arrays", "peak_memory_bytes",
           "resize_images", "set_seed", "to_numpy", "Trainer"]


def cpu():
    return mx.cpu()


def gpu(i=0):
    return mx.gpu(i)


def num_gpus():
    return mx.context.num_gpus()


def set_seed(seed):
    """Seed every RNG the model and its dropout draw from (MXNet's, on every device)."""
    global _seed
    _seed = int(seed)
    mx.random.seed(seed)


# The Trainer reseeds dropout from this and the step number (see _step_seed).
_seed = 0


def _step_seed(seed, step):
    """MXNet's RNG state can be neither read nor set, so a checkpoint could not carry it:
    instead, after each training step, the RNG is reseeded from ``(seed, next step)``. Step 0
    draws from ``set_seed`` as ever; every later step's dropout masks are a pure function of the
    seed and the step (as JAX's ``fold_in(key, step)``), so a resumed run draws the same."""
    return int(np.random.SeedSequence([seed, step]).generate_state(1)[0] & 0x7FFFFFFF)


class Module(nn.Block, ModuleContract):
    """Base of all models (d2l, sec_oo-design): a network, its loss and its optimizer."""

    LAYOUT, BACKEND = LAYOUT, "mxnet"

    def __init__(self, plot_train_per_epoch=2, plot_valid_per_epoch=1):
        super().__init__()
        self.save_hyperparameters()

    def weight_arrays(self):
        return parameter_arrays(self)

    def assign_weight_arrays(self, arrays, skip_head=False):
        assign_parameter_arrays(self, arrays, skip_head)

    def forward(self, X):
        self.check_input_shape(X.shape)
        return self.net(X)

    def parameter_context(self):
        """Where the (first copy of the) parameters live: the model's inputs go there."""
        return next(iter(self.collect_params().values())).list_ctx()[0]

    def images_to_input(self, images):
        return resize_images(images, self.input_size, ctx=self.parameter_context())

    def evaluate_batch(self, X, features):
        if not isinstance(X, mx.nd.NDArray):
            X = mx.nd.array(to_numpy(X), ctx=self.parameter_context())
        X = X.as_in_context(self.parameter_context())
        layers = list(self.net)[:-1] if features else [self.net]
        for layer in layers:  # outside autograd.record: predict mode, dropout is off
            X = layer(X)
        return X.astype("float32").asnumpy()

    def configure_optimizers(self):
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

    def layer_outputs(self, X_shape):
        ctx = next(iter(self.collect_params().values())).list_ctx()[0]
        X = mx.nd.random.normal(shape=X_shape, ctx=ctx)
        for layer in self.net:  # outside autograd.record: predict mode, dropout is off
            X = layer(X)
            yield type(layer).__name__, X.shape


class Classifier(Module):
    """A model that predicts classes: cross-entropy loss and accuracy (d2l, sec_classification)."""

    def validation_step(self, batch):
        return self.score_validation(self(*batch[:-1]), batch[-1])

    def accuracy(self, Y_hat, Y, averaged=True):
        Y_hat = Y_hat.reshape((-1, Y_hat.shape[-1]))
        preds = Y_hat.argmax(axis=1).astype(Y.dtype)
        compare = (preds == Y.reshape((-1,))).astype("float32")
        return compare.mean() if averaged else compare

    def loss(self, Y_hat, Y, averaged=True):
        Y_hat = Y_hat.reshape((-1, Y_hat.shape[-1]))
        losses = gluon.loss.SoftmaxCrossEntropyLoss()(Y_hat, Y.reshape((-1,)))
        smoothing = self.smoothing()
        if smoothing:  # the targets' share ε spread evenly: ε × the mean of -log p over classes
            losses = ((1 - smoothing) * losses
                      - smoothing * mx.nd.log_softmax(Y_hat, axis=-1).mean(axis=-1))
        return losses.mean() if averaged else losses


class PlannedSchedule(mx.lr_scheduler.LRScheduler):
    """A :class:`~d2l_alexnet.core.recipe.LearningRatePlan` as an MXNet scheduler. MXNet counts
    updates from 1 (the first update asks for ``num_update`` 1), the plan steps from 0."""

    def __init__(self, plan):
        super().__init__(base_lr=plan.lr)
        self.plan = plan

    def __call__(self, num_update):
        return self.plan(max(0, num_update - 1))


def build_network(num_classes=10, resize=CHAPTER_RESIZE, layers=ALEXNET,
                  in_channels=IN_CHANNELS):
    """``nn.HybridSequential`` from the shared architecture table, as the book writes it for Gluon.

    A ReLU row right after a convolution or dense layer becomes that layer's ``activation``, and
    the flatten row is dropped (Gluon's ``Dense`` flattens its input), so the summary prints the
    book's MXNet lines. Input sizes come from the table, so no parameter's initialization is
    deferred to a first forward pass.
    """
    net = nn.HybridSequential()
    rows = layer_table(resize, num_classes, in_channels, layers=layers)
    in_shape = (in_channels,)
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

    def __init__(self, lr=0.1, num_classes=10, resize=CHAPTER_RESIZE, in_channels=IN_CHANNELS,
                 dropout=None, layers=None, *, momentum=0.0, nesterov=False, weight_decay=0.0,
                 label_smoothing=0.0, schedule="constant", warmup_epochs=None, max_lr=None):
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
    initialization waits for a first batch, and is hybridized into one graph."""

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
        self.net(mx.nd.zeros((1, IN_CHANNELS, CHAPTER_RESIZE, CHAPTER_RESIZE)))  # the sizes


def resize_images(images, size, ctx=None):
    """numpy or NDArray images ``(B, H, W)`` or ``(B, H, W, C)`` -> float32 ``(B, C, *size)``:
    uint8 scaled into [0, 1] once, floats as they are; bilinear (half-pixel centres, no
    antialiasing: the convention every backend shares). numpy arrays are copied to ``ctx`` (the
    CPU by default)."""
    if isinstance(images, np.ndarray):
        images = mx.nd.array(images, ctx=ctx or mx.cpu(), dtype=images.dtype)
    X = images.astype("float32")
    if images.dtype == np.uint8:
        X = X / 255.0
    X = X.expand_dims(axis=1) if X.ndim == 3 else X.transpose((0, 3, 1, 2))
    if tuple(X.shape[-2:]) != tuple(size):
        # align_corners defaults to True in MXNet; False is torch's half-pixel convention.
        X = mx.nd.contrib.BilinearResize2D(X, height=size[0], width=size[1],
                                           align_corners=False)
    return X


class NDArrayBatches(InMemoryData):
    """``train_dataloader()`` batches as MXNet NDArrays: images ``(B, C, H, W)``."""

    def convert_batch(self, images, labels):
        return resize_images(images, self.resize), mx.nd.array(labels, dtype="int32")


class FashionMNIST(NDArrayBatches, FashionMNISTBase):
    """Fashion-MNIST as MXNet NDArrays (d2l, sec_fashion_mnist)."""


class ArrayData(NDArrayBatches, core_images.ArrayData):
    __doc__ = core_images.ArrayData.__doc__


class ImageFolder(NDArrayBatches, core_images.ImageFolder):
    __doc__ = core_images.ImageFolder.__doc__


class Trainer(TrainerBase):
    """The shared fit loop with MXNet Gluon steps (d2l, sec_oo-design).

    ``num_gpus=N > 1``: the parameters live on N contexts (``gpu(0)``..., or ``cpu(0)``... with
    ``device="cpu"``), each global batch is split over them by ``gluon.utils.split_and_load``,
    and the Gluon trainer's ``device`` kvstore sums the gradients before every update.
    """

    backend, framework = "mxnet", "MXNet"

    def gpu_available(self):
        return num_gpus() > 0

    def open_device(self, kind):
        kind = mx.gpu if kind == "gpu" else mx.cpu
        if kind is mx.gpu and num_gpus() < self.num_replicas:
            raise ReplicaError(f"{self.num_replicas} replicas need {self.num_replicas} GPUs but "
                               f"MXNet sees {num_gpus()}: use --devices {num_gpus()} or fewer")
        self.contexts = [kind(index) for index in range(self.num_replicas)]
        return self.contexts[0]

    def describe_device(self):
        return "cpu" if self.device.device_type == "cpu" else f"gpu:{self.device.device_id}"

    def prepare_model(self, model):
        if self.precision != "fp32":
            # MXNet 1.9's AMP must be on (amp.init) before a network is built, process-wide.
            raise ValueError(f"precision {self.precision!r} is not supported on the MXNet "
                             "backend (fp32 only): use --precision fp32")
        if self.num_replicas > 1 and self.gradient_clip_val > 0:
            raise ReplicaError("gradient_clip_val is not supported on several MXNet contexts: "
                               "train on one, or without clipping")
        model.collect_params().reset_ctx(self.contexts if self.num_replicas > 1 else self.device)
        model.trainer = self
        self.optim = model.configure_optimizers()  # Gluon's default kvstore: "device"
        self.parameters = [p for p in model.collect_params().values() if p.grad_req != "null"]

    def prepare_batch(self, images, labels):
        images = mx.nd.array(images, ctx=self.device, dtype=images.dtype)  # uint8: 4x less to copy
        labels = mx.nd.array(labels, ctx=self.device, dtype="int32")
        size = self.input_size or images.shape[1:3]
        if self.num_replicas == 1:
            return resize_images(images, size), labels
        # A short last batch may have fewer images than there are contexts: it uses fewer.
        contexts = self.contexts[:min(self.num_replicas, len(labels))]
        parts = (gluon.utils.split_and_load(array, contexts, even_split=False)
                 for array in (images, labels))
        images, labels = parts
        return ([resize_images(part, size) for part in images], labels, len(labels))

    def train_step(self, batch):
        if self.num_replicas > 1:
            return self._replica_train_step(*batch)
        with autograd.record(train_mode=True):  # train_mode: dropout is active
            loss = self.model.training_step(batch)  # the batch's mean loss...
        loss.backward()
        if self.gradient_clip_val > 0:
            grads = [p.grad(self.device) for p in self.parameters]
            # check_isfinite=False: no host sync; a NaN shows up in the loss anyway.
            gluon.utils.clip_global_norm(grads, self.gradient_clip_val, check_isfinite=False)
        self.optim.step(1)  # ...so step(1): Trainer.step(n) divides the gradients by n
        mx.random.seed(_step_seed(_seed, self.step + 1), ctx=self.device)  # see _step_seed
        return loss

    def _replica_train_step(self, images, labels, _):
        total = sum(len(part) for part in labels)
        with autograd.record(train_mode=True):
            # Each context's share of the global batch's mean loss: the kvstore sums the
            # contexts' gradients, which is then the mean's gradient (so step(1), as above).
            losses = [self.model.loss(self.model(X), y, averaged=False).sum() / total
                      for X, y in zip(images, labels)]
        autograd.backward(losses)
        self.optim.step(1)
        for context in self.contexts:
            mx.random.seed(_step_seed(_seed, self.step + 1), ctx=context)
        return mx.nd.add_n(*(loss.as_in_context(self.device) for loss in losses))

    def eval_step(self, batch):
        if self.num_replicas > 1:
            sums = [self._eval_sums(X, y) for X, y in zip(*batch[:2])]
            return tuple(mx.nd.add_n(*(part[index].as_in_context(self.device) for part in sums))
                         for index in range(2))
        return self._eval_sums(*batch)

    def _eval_sums(self, X, y):
        Y_hat = self.model(X)  # outside autograd.record: predict mode, no dropout
        return (self.model.loss(Y_hat, y, averaged=False).sum(),
                self.model.accuracy(Y_hat, y, averaged=False).sum())

    def learning_rate(self):
        """The rate the next update applies: the scheduler at the next update count."""
        optimizer = self.optim._optimizer
        if optimizer.lr_scheduler is None:
            return float(optimizer.lr)
        return float(optimizer.lr_scheduler(optimizer.num_update + 1))

    def state_arrays(self):
        """Parameters (by position: Gluon's names carry per-process counters) and the SGD
        state: its update count and any per-parameter slots (none without momentum). No RNG
        state beyond the step its dropout seed derives from (:func:`_step_seed`)."""
        arrays = {f"params.{index:02d}.{name.rsplit('_', 1)[-1]}": to_numpy(param.data(self.device))
                  for index, (name, param) in enumerate(self.model.collect_params().items())}
        optimizer = self.optim._optimizer
        arrays["optimizer.num_update"] = np.array([optimizer.num_update], dtype=np.int64)
        for index, slot in sorted(self.optim._updaters[0].states.items()):
            if slot is not None:
                if not isinstance(slot, mx.nd.NDArray):
                    raise TypeError(f"cannot checkpoint optimizer state of type {type(slot)}")
                arrays[f"optimizer.state.{index}"] = to_numpy(slot)
        arrays["rng.step"] = np.array([self.step], dtype=np.int64)
        return arrays

    def load_state_arrays(self, arrays):
        for index, (name, param) in enumerate(self.model.collect_params().items()):
            array = arrays[f"params.{index:02d}.{name.rsplit('_', 1)[-1]}"]
            param.set_data(mx.nd.array(array, ctx=self.device, dtype=array.dtype))  # every context
        optimizer = self.optim._optimizer
        if "optimizer.num_update" in arrays:
            count = int(arrays["optimizer.num_update"][0])
            optimizer.num_update = count
            if count:  # per parameter index, kept per device (the updater switches to it)
                counts = optimizer._all_index_update_counts.setdefault(self.device.device_id, {})
                counts.update(dict.fromkeys(range(len(self.optim._params)), count))
        updater = self.optim._updaters[0]
        for name, array in arrays.items():
            if name.startswith("optimizer.state."):
                index = int(name.rsplit(".", 1)[1])
                updater.states[index] = mx.nd.array(array, ctx=self.device, dtype=array.dtype)
                updater.states_synced[index] = True
        step = int(arrays["rng.step"][0]) if "rng.step" in arrays else 0
        if step:  # at step 0 the RNG is as set_seed and the model's initialization left it
            mx.random.seed(_step_seed(_seed, step), ctx=self.device)


def example_input_shape(resize=CHAPTER_RESIZE, batch_size=1, in_channels=IN_CHANNELS):
    """The input layout of this backend (NCHW) for ``layer_summary``."""
    return (batch_size, in_channels, *as_size(resize))


def parameter_arrays(model, seed=0):
    """The model's parameters as ``[(name, numpy array), ...]`` in the architecture table's order
    (each convolution and dense layer: kernel, then bias), in MXNet's own layout (OIHW kernels,
    ``(out, in)`` dense weights). ``seed`` is unused: Gluon models hold their parameters."""
    return [(name, to_numpy(param.data(param.list_ctx()[0])))
            for name, param in model.collect_params().items()]


def assign_parameter_arrays(model, arrays, skip_head=False):
    """Set the model's parameters from ``[(name, array), ...]`` in MXNet's layout and the
    table's order (what :func:`parameter_arrays` returns; all but the last layer's two with
    ``skip_head``), on every device they live on. Every shape is checked first, so a
    ``WeightsError`` leaves the model unchanged."""
    parameters = list(model.collect_params().values())
    arrays = weights.match_arrays(arrays, [(param.name, param.shape) for param in parameters],
                                  skip_head)
    for param, array in zip(parameters, arrays):
        param.set_data(mx.nd.array(array, dtype="float32"))


def to_numpy(array):
    """An NDArray as a numpy array (on the host)."""
    return array.asnumpy() if isinstance(array, mx.nd.NDArray) else np.asarray(array)


def matmul_benchmark(precision, device, size=2048):
    """A blocking ``size×size`` matmul for the benchmark's peak; returns ``(function, flops per
    call)``. fp32 only, like the rest of this backend."""
    if precision != "fp32":
        raise ValueError(f"precision {precision!r} is not supported on the MXNet backend "
                         "(fp32 only): use --precision fp32")
    a = mx.nd.random.normal(shape=(size, size), ctx=device)
    b = mx.nd.random.normal(shape=(size, size), ctx=device)

    def run():
        # FullyConnected (a @ b.T) is what Dense runs: oneDNN, about 4x this wheel's BLAS nd.dot.
        mx.nd.FullyConnected(a, b, no_bias=True, num_hidden=size).wait_to_read()

    return run, 2 * size ** 3


def peak_memory_bytes(device):
    """GPU memory in use (MXNet's pool keeps what it once allocated, so this is about the peak,
    plus the CUDA context); ``None`` on the CPU (the benchmark reports max RSS)."""
    if device.device_type == "gpu":
        free, total = mx.context.gpu_memory_info(device.device_id)
        return total - free
    return None
