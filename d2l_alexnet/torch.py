"""The chapter's AlexNet on PyTorch (d2l, sec_alexnet), on the shared core.

``from d2l_alexnet import torch as d2l`` gives the book's names: ``Module``, ``Classifier``,
``AlexNet``, ``init_cnn``, ``DataModule``, ``FashionMNIST``, ``Trainer``, and for other lessons
``ArrayData`` and ``ImageFolder``.
"""

import os

import numpy as np
import torch
from torch import distributed as dist
from torch import nn
from torch.nn import functional as F

from .core import images as core_images
from .core import weights
from .core.architecture import (ALEXNET, CHAPTER_RESIZE, IN_CHANNELS, as_size,
                                check_in_channels, layer_table, with_dropout)
from .core.datamodule import DataModule, FashionMNISTBase, InMemoryData
from .core.module import ModuleContract, host_array
from .core.trainer import ReplicaError, TrainerBase, replica_slices

# Precisions this backend trains in (bf16: torch.autocast).
PRECISIONS = ("fp32", "bf16")
# Parameter layout (core/weights.py): OIHW kernels, (out, in) dense weights, C×H×W flatten.
LAYOUT = "NCHW"

__all__ = ["LAYOUT", "assign_parameter_arrays",
           "PRECISIONS", "AlexNet", "ArrayData", "BookAlexNet", "build_network", "Classifier", "cpu",
           "DataModule", "example_input_shape", "FashionMNIST", "gpu", "ImageFolder",
           "init_cnn", "matmul_benchmark", "Module", "num_gpus", "parameter_arrays",
           "peak_memory_bytes", "resize_images", "set_seed", "to_numpy", "Trainer"]


def cpu():
    return torch.device("cpu")


def gpu(i=0):
    return torch.device(f"cuda:{i}")


def num_gpus():
    return torch.cuda.device_count()


def set_seed(seed):
    """Seed every RNG the model and its dropout draw from."""
    torch.manual_seed(seed)


def init_cnn(module):
    """Xavier-uniform weights and zero biases for convolutions and dense layers (d2l, sec_lenet).

    Unlike the book's version, which compares ``type(module)`` and so silently skips lazy layers,
    this refuses a layer whose parameters do not exist yet.
    """
    if isinstance(module, (nn.Conv2d, nn.Linear)):
        if isinstance(module.weight, nn.parameter.UninitializedParameter):
            raise ValueError(f"{module} has no parameters yet: run a forward pass before init_cnn")
        nn.init.xavier_uniform_(module.weight)
        nn.init.zeros_(module.bias)


class Module(nn.Module, ModuleContract):
    """Base of all models (d2l, sec_oo-design): a network, its loss and its optimizer."""

    LAYOUT, BACKEND = LAYOUT, "pytorch"

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

    def to_host(self, value):
        return to_numpy(value)

    def parameter_device(self):
        """Where the parameters live (the model's inputs go there)."""
        return next(self.parameters()).device

    def images_to_input(self, images):
        X = torch.from_numpy(np.ascontiguousarray(images)).to(self.parameter_device())
        return resize_images(X, self.input_size)

    def evaluate_batch(self, X, features):
        was_training = self.training
        self.eval()  # dropout off
        try:
            with torch.no_grad():
                X = torch.as_tensor(X).to(self.parameter_device())
                return to_numpy((self.net[:-1] if features else self.net)(X).float())
        finally:
            self.train(was_training)

    def configure_optimizers(self):
        """SGD with the model's recipe; with a schedule (the trainer's plan over its run), also
        a ``LambdaLR`` that the trainer steps after every optimizer step."""
        recipe = self.recipe
        optimizer = torch.optim.SGD(self.parameters(), lr=recipe.lr, momentum=recipe.momentum,
                                    nesterov=recipe.nesterov, weight_decay=recipe.weight_decay)
        plan = getattr(getattr(self, "trainer", None), "lr_plan", None)
        if plan is None:
            return optimizer
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer,
                                                      lambda step: plan(step) / recipe.lr)
        return {"optimizer": optimizer, "lr_scheduler": scheduler}

    def apply_init(self, inputs, init=None):
        """Run a forward pass (materializing lazy layers), then apply ``init`` (the book's)."""
        self.forward(*inputs)
        if init is not None:
            self.net.apply(init)

    def layer_outputs(self, X_shape):
        X = torch.randn(*X_shape, device=next(self.parameters()).device)
        with torch.no_grad():
            for layer in self.net:
                X = layer(X)
                yield type(layer).__name__, X.shape


class Classifier(Module):
    """A model that predicts classes: cross-entropy loss and accuracy (d2l, sec_classification)."""

    def validation_step(self, batch):
        return self.score_validation(self(*batch[:-1]), batch[-1])

    def accuracy(self, Y_hat, Y, averaged=True):
        Y_hat = Y_hat.reshape((-1, Y_hat.shape[-1]))
        compare = (Y_hat.argmax(dim=1).type(Y.dtype) == Y.reshape(-1)).type(torch.float32)
        return compare.mean() if averaged else compare

    def loss(self, Y_hat, Y, averaged=True):
        Y_hat = Y_hat.reshape((-1, Y_hat.shape[-1]))
        return F.cross_entropy(Y_hat, Y.reshape((-1,)), reduction="mean" if averaged else "none",
                               label_smoothing=self.smoothing())


def build_network(num_classes=10, resize=CHAPTER_RESIZE, layers=ALEXNET,
                  in_channels=IN_CHANNELS):
    """``nn.Sequential`` from the shared architecture table; sizes come from the table, so no
    layer is lazy and every initialization really happens."""
    modules = []
    in_shape = (in_channels,)
    for row in layer_table(resize, num_classes, in_channels, layers=layers):
        layer = row.layer
        if layer.kind == "conv":
            modules.append(nn.Conv2d(in_shape[0], layer.units, layer.kernel, layer.stride,
                                     layer.padding))
        elif layer.kind == "dense":
            modules.append(nn.Linear(in_shape[0], row.output_shape[0]))
        elif layer.kind == "relu":
            # Not in place: no faster here, and it breaks DDP on Gloo (BENCHMARKS.md).
            modules.append(nn.ReLU())
        elif layer.kind == "sigmoid":
            modules.append(nn.Sigmoid())
        elif layer.kind == "maxpool":
            modules.append(nn.MaxPool2d(layer.kernel, layer.stride, layer.padding))
        elif layer.kind == "avgpool":
            modules.append(nn.AvgPool2d(layer.kernel, layer.stride, layer.padding))
        elif layer.kind == "flatten":
            modules.append(nn.Flatten())
        elif layer.kind == "dropout":
            modules.append(nn.Dropout(layer.rate))
        in_shape = row.output_shape
    return nn.Sequential(*modules)


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
    """

    def __init__(self, lr=0.1, num_classes=10, resize=CHAPTER_RESIZE, in_channels=IN_CHANNELS,
                 dropout=None, layers=None, *, momentum=0.0, nesterov=False, weight_decay=0.0,
                 label_smoothing=0.0, schedule="constant", warmup_epochs=None, max_lr=None):
        super().__init__()
        self.save_hyperparameters()
        check_in_channels(in_channels)
        self.recipe.check()  # a bad momentum, say, refused now rather than at fit
        self.net = build_network(num_classes, resize, with_dropout(dropout, self.table),
                                 in_channels)
        self.net.apply(init_cnn)



class BookAlexNet(Classifier):
    """The chapter's AlexNet written the way the book writes it for PyTorch (sec_alexnet): one
    ``nn.Sequential`` of lazy layers, the first convolution padded by 1. Shapes and parameters
    are :class:`AlexNet`'s; the padding shifts the first windows by a pixel. One fix: the book
    applies ``init_cnn`` to layers that do not exist yet, which does nothing, so here one forward
    pass at 224×224 makes them first and Xavier initialization really happens."""

    def __init__(self, lr=0.1, num_classes=10):
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Sequential(
            nn.LazyConv2d(96, kernel_size=11, stride=4, padding=1), nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.LazyConv2d(256, kernel_size=5, padding=2), nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.LazyConv2d(384, kernel_size=3, padding=1), nn.ReLU(),
            nn.LazyConv2d(384, kernel_size=3, padding=1), nn.ReLU(),
            nn.LazyConv2d(256, kernel_size=3, padding=1), nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=2), nn.Flatten(),
            nn.LazyLinear(4096), nn.ReLU(), nn.Dropout(p=0.5),
            nn.LazyLinear(4096), nn.ReLU(), nn.Dropout(p=0.5),
            nn.LazyLinear(num_classes))
        self.apply_init([torch.zeros(1, 1, CHAPTER_RESIZE, CHAPTER_RESIZE)], init_cnn)


def resize_images(images, size):
    """numpy or tensor images ``(B, H, W)`` or ``(B, H, W, C)`` -> float32 ``(B, C, *size)``:
    uint8 scaled into [0, 1] once, floats as they are; bilinear (half-pixel centres, no
    antialiasing: the convention every backend shares)."""
    if isinstance(images, np.ndarray):
        images = torch.from_numpy(np.ascontiguousarray(images))
    X = images.to(torch.float32)
    if images.dtype == torch.uint8:
        X = X.div_(255.0)
    X = X.unsqueeze(1) if X.dim() == 3 else X.permute(0, 3, 1, 2)
    if tuple(X.shape[-2:]) != tuple(size):
        X = F.interpolate(X, size=tuple(size), mode="bilinear", align_corners=False)
    return X


class TensorBatches(InMemoryData):
    """``train_dataloader()`` batches as PyTorch tensors: images ``(B, C, H, W)``."""

    def convert_batch(self, images, labels):
        return (resize_images(images, self.resize),
                torch.from_numpy(labels.astype(np.int64)))


class FashionMNIST(TensorBatches, FashionMNISTBase):
    """Fashion-MNIST as PyTorch tensors (d2l, sec_fashion_mnist)."""


class ArrayData(TensorBatches, core_images.ArrayData):
    __doc__ = core_images.ArrayData.__doc__


class ImageFolder(TensorBatches, core_images.ImageFolder):
    __doc__ = core_images.ImageFolder.__doc__


class Trainer(TrainerBase):
    """The shared fit loop with PyTorch steps (d2l, sec_oo-design).

    Several devices: one process per device, launched by ``torchrun --nproc-per-node N``
    (several machines: torchrun's ``--nnodes``/``--rdzv-*`` flags). Each process finds its
    rank in ``RANK``/``WORLD_SIZE``/``LOCAL_RANK``, joins the process group (NCCL on GPUs, Gloo
    on the CPU) and trains a ``DistributedDataParallel`` copy on its slice of every global batch.
    ``num_gpus``, when above 1, must then equal ``WORLD_SIZE``.
    """

    backend, framework = "pytorch", "PyTorch"

    def replicas(self, requested):
        """One process per replica: torchrun's ``WORLD_SIZE`` and ``RANK`` say how many and
        which; ``num_gpus`` above 1 must agree."""
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        if requested > 1 and requested != world_size:
            raise ReplicaError(f"PyTorch trains on {requested} devices as {requested} processes: "
                               f"launch with torchrun --nproc-per-node {requested} (WORLD_SIZE "
                               f"is {world_size})")
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        return world_size, int(os.environ.get("RANK", "0"))

    def gpu_available(self):
        """CUDA, or Apple's MPS (fp32 on one device only: bf16 autocast and several processes
        there are not tested by us)."""
        return torch.cuda.is_available() or (mps_available() and self.precision == "fp32"
                                             and self.num_replicas == 1)

    def no_gpu_message(self):
        if mps_available():
            return ("PyTorch sees Apple's MPS GPU, which trains here in fp32 on one device "
                    "only: use --precision fp32 without --devices, or --device cpu")
        return "no CUDA GPU is visible to PyTorch: use --device cpu or auto"

    def open_device(self, kind):
        if kind == "cpu":
            device = torch.device("cpu")
        elif torch.cuda.is_available():
            device = torch.device(f"cuda:{self.local_rank if self.num_replicas > 1 else 0}")
        else:
            device = torch.device("mps")
        if self.num_replicas > 1 and not dist.is_initialized():
            if device.type == "cuda":
                torch.cuda.set_device(device)
            # env:// rendezvous: torchrun sets MASTER_ADDR/MASTER_PORT, RANK and WORLD_SIZE.
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        return device

    def prepare_model(self, model):
        if any(isinstance(parameter, nn.parameter.UninitializedParameter)
               for parameter in model.parameters()):
            raise ValueError(f"{type(model).__name__} has parameters that do not exist yet "
                             "(lazy layers): run model.apply_init([X], d2l.init_cnn) with a "
                             "batch X first, as the book does")
        # Channels-last (NHWC in memory) lets oneDNN and cuDNN pick their fastest convolutions
        # (the figures: BENCHMARKS.md).
        model.to(self.device, memory_format=torch.channels_last)
        model.trainer = self
        self.network = model
        if self.num_replicas > 1:
            # DDP broadcasts rank 0's weights and averages the gradients in backward().
            self.network = nn.parallel.DistributedDataParallel(
                model, device_ids=[self.device] if self.device.type == "cuda" else None)
        self.optim, self.scheduler = optimizer_and_scheduler(model.configure_optimizers())
        self.autocast = torch.autocast(self.device.type, dtype=torch.bfloat16,
                                       enabled=self.precision == "bf16")

    def prepare_batch(self, images, labels):
        total = len(labels)
        if self.num_replicas > 1:  # this rank's slice of the global batch
            mine = replica_slices(total, self.num_replicas)[self.replica_rank]
            images, labels = images[mine], labels[mine]
        images = torch.from_numpy(np.ascontiguousarray(images)).to(self.device, non_blocking=True)
        labels = torch.from_numpy(labels.astype(np.int64)).to(self.device, non_blocking=True)
        X = resize_images(images, self.input_size or images.shape[1:3])
        X = X.contiguous(memory_format=torch.channels_last)
        return (X, labels) if self.num_replicas == 1 else (X, labels, total)

    def train_step(self, batch):
        if self.num_replicas > 1:
            return self._replica_train_step(*batch)
        self.model.train()
        with self.autocast:
            loss = self.model.training_step(batch)
        self.optim.zero_grad(set_to_none=True)
        loss.backward()
        if self.gradient_clip_val > 0:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.gradient_clip_val)
        self.optimizer_step()
        return loss.detach()

    def _replica_train_step(self, X, labels, total):
        self.network.train()
        with self.autocast:
            loss_sum = self.model.loss(self.network(X), labels, averaged=False).sum()
        # DDP averages the replicas' gradients: scaled so, they are the global batch mean's
        # even when the slices differ in size.
        self.optim.zero_grad(set_to_none=True)
        (loss_sum * (self.num_replicas / total)).backward()
        if self.gradient_clip_val > 0:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.gradient_clip_val)
        self.optimizer_step()
        loss_sum = loss_sum.detach().float()
        dist.all_reduce(loss_sum)
        return loss_sum / total

    def optimizer_step(self):
        self.optim.step()
        if self.scheduler is not None:
            self.scheduler.step()

    def eval_step(self, batch):
        self.model.eval()
        with torch.no_grad(), self.autocast:
            Y_hat = self.model(batch[0]).float()
            sums = (self.model.loss(Y_hat, batch[1], averaged=False).sum(),
                    self.model.accuracy(Y_hat, batch[1], averaged=False).sum())
        if self.num_replicas > 1:
            sums = torch.stack(sums)
            dist.all_reduce(sums)
        return sums

    def learning_rate(self):
        """The rate the next step applies (the scheduler has set it on the optimizer)."""
        return float(self.optim.param_groups[0]["lr"])

    def host_array(self, value):
        return to_numpy(value)  # a loader's tensors may be on a GPU, or need a detach

    def close(self, failed=False):
        """Leave the process group this trainer joined (torchrun's processes then exit).

        After a run that went well, every rank first waits for the others: a rank that tore
        down its Gloo connections while a peer was still finishing was seen to abort the peer
        ("terminate called without an active exception"). After a failure, no waiting: the
        others may never arrive."""
        if self.num_replicas > 1 and dist.is_initialized():
            if not failed:
                dist.barrier()
            dist.destroy_process_group()

    def state_arrays(self):
        """Parameters, SGD's per-parameter state (none without momentum) and the RNG dropout
        draws from (the CPU generator, and the GPU's when training on one). Arrays may share
        memory with the tensors: use them before the next step."""
        arrays = {f"params.{name}": to_numpy(tensor)
                  for name, tensor in self.model.named_parameters()}
        for index, slots in self.optim.state_dict()["state"].items():
            for key, value in slots.items():
                if torch.is_tensor(value):
                    arrays[f"optimizer.{index}.{key}"] = to_numpy(value)
        arrays["rng.torch_cpu"] = torch.get_rng_state().numpy()
        if self.device.type == "cuda":
            arrays["rng.torch_cuda"] = torch.cuda.get_rng_state(self.device).numpy()
        return arrays

    def load_state_arrays(self, arrays):
        with torch.no_grad():
            for name, tensor in self.model.named_parameters():
                tensor.copy_(torch.from_numpy(np.array(arrays[f"params.{name}"])))
        slots = {}
        for name, array in arrays.items():
            if name.startswith("optimizer."):
                _, index, key = name.split(".", 2)
                slots.setdefault(int(index), {})[key] = torch.from_numpy(np.array(array))
        if slots:
            # param_groups (the learning rate) stay this run's: --lr may change on resume.
            self.optim.load_state_dict({"state": slots,
                                        "param_groups": self.optim.state_dict()["param_groups"]})
        if self.scheduler is not None:  # the schedule continues at the checkpoint's step
            self.scheduler = torch.optim.lr_scheduler.LambdaLR(
                self.optim, self.scheduler.lr_lambdas, last_epoch=self.step - 1)
        if "rng.torch_cpu" in arrays:
            torch.set_rng_state(torch.from_numpy(np.array(arrays["rng.torch_cpu"])))
        if "rng.torch_cuda" in arrays and self.device.type == "cuda":
            torch.cuda.set_rng_state(torch.from_numpy(np.array(arrays["rng.torch_cuda"])),
                                     self.device)


def optimizer_and_scheduler(configured):
    """``configure_optimizers()``'s result as ``(optimizer, scheduler or None)``: an optimizer
    (the book's models), or Lightning's ``{"optimizer": ..., "lr_scheduler": ...}``, the
    scheduler stepped after every optimizer step."""
    if isinstance(configured, dict):
        return configured["optimizer"], configured.get("lr_scheduler")
    return configured, None


def mps_available():
    """Whether Apple's Metal GPU backend is usable (never on the machines that test this)."""
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def example_input_shape(resize=CHAPTER_RESIZE, batch_size=1, in_channels=IN_CHANNELS):
    """The input layout of this backend (NCHW) for ``layer_summary``."""
    return (batch_size, in_channels, *as_size(resize))


def parameter_arrays(model, seed=0):
    """The model's parameters as ``[(name, numpy array), ...]`` in the architecture table's order
    (each convolution and dense layer: kernel, then bias), in PyTorch's own layout (OIHW kernels,
    ``(out, in)`` dense weights). ``seed`` is unused: PyTorch models hold their parameters."""
    return [(name, to_numpy(tensor)) for name, tensor in model.named_parameters()]


def assign_parameter_arrays(model, arrays, skip_head=False):
    """Set the model's parameters from ``[(name, array), ...]`` in PyTorch's layout and the
    table's order (what :func:`parameter_arrays` returns; all but the last layer's two with
    ``skip_head``). Every shape is checked first, so a ``WeightsError`` leaves the model
    unchanged."""
    parameters = list(model.parameters())
    arrays = weights.match_arrays(arrays, [(name, tuple(tensor.shape))
                                           for name, tensor in model.named_parameters()],
                                  skip_head)
    with torch.no_grad():
        for parameter, array in zip(parameters, arrays):
            parameter.copy_(torch.from_numpy(array))


def to_numpy(tensor):
    """A tensor (or anything array-like) as a numpy array (on the host)."""
    if torch.is_tensor(tensor):
        return tensor.detach().cpu().numpy()
    return host_array(tensor)


def matmul_benchmark(precision, device, size=2048):
    """A blocking ``size×size`` matmul in ``precision`` for the benchmark's peak; returns
    ``(function, flops per call)``."""
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)

    def run():
        (a @ b).sum().item()  # .item() waits for the device

    return run, 2 * size ** 3


def peak_memory_bytes(device):
    """Peak device memory for a GPU; ``None`` on the CPU (the benchmark reports max RSS)."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device)
    return None
