"""The chapter's AlexNet on PyTorch (d2l, sec_alexnet), on the shared core.

``from d2l_alexnet import torch as d2l`` gives the book's names: ``Module``, ``Classifier``,
``AlexNet``, ``init_cnn``, ``FashionMNIST``, ``Trainer``.
"""

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .core.architecture import ALEXNET, CHAPTER_RESIZE, IN_CHANNELS, layer_table
from .core.datamodule import FashionMNISTBase
from .core.module import ModuleContract
from .core.trainer import TrainerBase

# Precisions this backend trains in (bf16: torch.autocast).
PRECISIONS = ("fp32", "bf16")

__all__ = ["PRECISIONS", "AlexNet", "Classifier", "cpu", "example_input_shape", "FashionMNIST",
           "gpu", "init_cnn", "Module", "num_gpus", "parameter_arrays", "resize_images",
           "set_seed", "to_numpy", "Trainer"]


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

    def __init__(self, plot_train_per_epoch=2, plot_valid_per_epoch=1):
        super().__init__()
        self.save_hyperparameters()

    def loss(self, y_hat, y):
        raise NotImplementedError

    def forward(self, X):
        return self.net(X)

    def training_step(self, batch):
        return self.loss(self(*batch[:-1]), batch[-1])

    def validation_step(self, batch):
        return self.loss(self(*batch[:-1]), batch[-1])

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.lr)

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
        Y_hat = self(*batch[:-1])
        return self.loss(Y_hat, batch[-1]), self.accuracy(Y_hat, batch[-1])

    def accuracy(self, Y_hat, Y, averaged=True):
        Y_hat = Y_hat.reshape((-1, Y_hat.shape[-1]))
        compare = (Y_hat.argmax(dim=1).type(Y.dtype) == Y.reshape(-1)).type(torch.float32)
        return compare.mean() if averaged else compare

    def loss(self, Y_hat, Y, averaged=True):
        Y_hat = Y_hat.reshape((-1, Y_hat.shape[-1]))
        return F.cross_entropy(Y_hat, Y.reshape((-1,)), reduction="mean" if averaged else "none")


def build_network(num_classes=10, resize=CHAPTER_RESIZE, layers=ALEXNET):
    """``nn.Sequential`` from the shared architecture table; sizes come from the table, so no
    layer is lazy and every initialization really happens."""
    modules = []
    in_shape = (IN_CHANNELS,)
    for row in layer_table(resize, num_classes, layers=layers):
        layer = row.layer
        if layer.kind == "conv":
            modules.append(nn.Conv2d(in_shape[0], layer.units, layer.kernel, layer.stride,
                                     layer.padding))
        elif layer.kind == "dense":
            modules.append(nn.Linear(in_shape[0], row.output_shape[0]))
        elif layer.kind == "relu":
            modules.append(nn.ReLU())
        elif layer.kind == "maxpool":
            modules.append(nn.MaxPool2d(layer.kernel, layer.stride))
        elif layer.kind == "flatten":
            modules.append(nn.Flatten())
        elif layer.kind == "dropout":
            modules.append(nn.Dropout(layer.rate))
        in_shape = row.output_shape
    return nn.Sequential(*modules)


class AlexNet(Classifier):
    """AlexNet as in the chapter (Krizhevsky et al., 2012; d2l, sec_alexnet).

    ``resize`` is the input side the dense layers are sized for (224 in the chapter).
    """

    def __init__(self, lr=0.1, num_classes=10, resize=CHAPTER_RESIZE):
        super().__init__()
        self.save_hyperparameters()
        self.net = build_network(num_classes, resize)
        self.net.apply(init_cnn)


def resize_images(images, size):
    """uint8 ``(B, H, W)`` -> float32 ``(B, 1, *size)`` in [0, 1], bilinear (half-pixel centres,
    no antialiasing: the convention every backend shares). Takes a tensor or a numpy array."""
    if isinstance(images, np.ndarray):
        images = torch.from_numpy(np.ascontiguousarray(images))
    X = images.to(torch.float32).div_(255.0).unsqueeze(1)
    if tuple(X.shape[-2:]) != tuple(size):
        X = F.interpolate(X, size=tuple(size), mode="bilinear", align_corners=False)
    return X


class FashionMNIST(FashionMNISTBase):
    """Fashion-MNIST as PyTorch tensors (d2l, sec_fashion_mnist)."""

    def convert_batch(self, images, labels):
        return (resize_images(images, self.resize),
                torch.from_numpy(labels.astype(np.int64)))


class Trainer(TrainerBase):
    """The shared fit loop with PyTorch steps (d2l, sec_oo-design)."""

    def select_device(self, request):
        if request == "cpu":
            return torch.device("cpu")
        if torch.cuda.is_available():
            return torch.device("cuda:0")
        if request == "gpu":
            raise RuntimeError("no CUDA GPU is visible to PyTorch: use --device cpu or auto")
        return torch.device("cpu")

    def prepare_model(self, model):
        model.to(self.device)
        model.trainer = self
        self.optim = model.configure_optimizers()
        self.autocast = torch.autocast(self.device.type, dtype=torch.bfloat16,
                                       enabled=self.precision == "bf16")

    def prepare_batch(self, images, labels):
        images = torch.from_numpy(np.ascontiguousarray(images)).to(self.device, non_blocking=True)
        labels = torch.from_numpy(labels.astype(np.int64)).to(self.device, non_blocking=True)
        return resize_images(images, self.data.resize), labels

    def train_step(self, batch):
        self.model.train()
        with self.autocast:
            loss = self.model.training_step(batch)
        self.optim.zero_grad(set_to_none=True)
        loss.backward()
        if self.gradient_clip_val > 0:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.gradient_clip_val)
        self.optim.step()
        return loss.detach()

    def eval_step(self, batch):
        self.model.eval()
        with torch.no_grad(), self.autocast:
            Y_hat = self.model(*batch[:-1]).float()
            return (self.model.loss(Y_hat, batch[-1], averaged=False).sum(),
                    self.model.accuracy(Y_hat, batch[-1], averaged=False).sum())

    def to_float(self, value):
        return float(value.item())


def example_input_shape(resize=CHAPTER_RESIZE, batch_size=1):
    """The input layout of this backend (NCHW) for ``layer_summary``."""
    return (batch_size, IN_CHANNELS, resize, resize)


def parameter_arrays(model, seed=0):
    """The model's parameters as ``[(name, numpy array), ...]`` in the architecture table's order
    (each convolution and dense layer: kernel, then bias), in PyTorch's own layout (OIHW kernels,
    ``(out, in)`` dense weights). ``seed`` is unused: PyTorch models hold their parameters."""
    return [(name, to_numpy(tensor)) for name, tensor in model.named_parameters()]


def to_numpy(tensor):
    """A tensor as a numpy array (on the host)."""
    return tensor.detach().cpu().numpy()


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
