"""The backend contract: what ``d2l_alexnet.torch``, ``.tensorflow``, ``.jax`` and ``.mxnet``
each provide, written down once (and checked for every backend by ``tests/contract``).

A backend is a package of the same files, so that ``diff d2l_alexnet/torch/trainer.py
d2l_alexnet/mxnet/trainer.py`` compares like with like:

- ``runtime.py``: devices, seeds, processes and host arrays (what the other files need);
- ``model.py``: ``Module``, ``Classifier``, ``build_network``, ``AlexNet``, ``BookAlexNet``;
- ``data.py``: ``resize_images`` and the data modules in the framework's tensors;
- ``weights.py``: the parameters as named numpy arrays, both ways;
- ``trainer.py``: the ``Trainer``, the framework steps under :class:`TrainerBase`;
- ``tensors.py``: the book's tensor aliases for that framework (its ``config.ini``: ``ones``,
  ``reshape``, ``randn`` where the book's module has it...), outside ``__all__``, as each of the
  book's modules names its own;
- ``bench.py``: hooks for ``python -m d2l_alexnet.bench`` only (:data:`BENCH_HOOKS`), never
  imported by a lesson.

Its ``__init__`` exports exactly :data:`PUBLIC_NAMES` as ``__all__``; a backend may keep more
names for its framework's own idiom (``init_cnn``, ``init_params``...), outside ``__all__``.
The module as a whole satisfies :class:`BackendModule` (PEP 544: a module may implement a
protocol); its ``Trainer`` overrides every one of :data:`TRAINER_HOOKS` and its ``AlexNet``
every one of :data:`MODEL_HOOKS`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any, Protocol, runtime_checkable

import numpy as np

from .architecture import Layer
from .types import Size

PUBLIC_NAMES = (
    # the book's classes (sec_oo-design, sec_alexnet)
    "Module", "Classifier", "AlexNet", "BookAlexNet", "DataModule", "FashionMNIST", "Trainer",
    # data of other lessons
    "ArrayData", "ImageFolder",
    # the network and its parameters
    "build_network", "example_input_shape", "parameter_arrays", "assign_parameter_arrays",
    # images, arrays, devices, seeds and processes
    "resize_images", "to_numpy", "cpu", "gpu", "num_gpus", "try_gpu", "try_all_gpus",
    "set_seed", "initialize_distributed",
    # the book's helper for writing a class's methods cell by cell (sec_oo-design)
    "add_to_class",
    # constants
    "LAYOUT", "PRECISIONS",
)

# What TrainerBase leaves to a backend (core/trainer.py says what each must do).
TRAINER_HOOKS = ("gpu_available", "open_device", "prepare_model", "prepare_batch",
                 "train_step", "eval_step", "learning_rate", "state_arrays", "load_state_arrays")

# What ModuleContract leaves to a backend's models (core/module.py).
MODEL_HOOKS = ("loss", "accuracy", "configure_optimizers", "layer_outputs", "weight_arrays",
               "assign_weight_arrays", "images_to_input", "evaluate_batch")

# What ``<backend>.bench`` gives the benchmark.
BENCH_HOOKS = ("matmul_benchmark", "peak_memory_bytes")


@runtime_checkable
class BackendModule(Protocol):
    """A backend package, as the commands and the tests use it."""

    LAYOUT: str  # "NCHW" or "NHWC": the layout of the model's inputs
    PRECISIONS: tuple  # the --precision values it trains in ("fp32", "bf16", ...)

    Module: type
    Classifier: type
    AlexNet: type  # AlexNet(lr, num_classes, resize, in_channels, dropout, layers, *, recipe)
    BookAlexNet: type  # the chapter's network as the book writes it for this framework
    DataModule: type
    FashionMNIST: type
    ArrayData: type
    ImageFolder: type
    Trainer: type  # a TrainerBase

    def build_network(self, num_classes: int = 10, resize: Size = 224,
                      layers: Sequence[Layer] | None = None, in_channels: int = 1) -> Any:
        """The framework's sequential network from a table of ``core.architecture``."""

    def example_input_shape(self, resize: Size = 224, batch_size: int = 1,
                            in_channels: int = 1) -> tuple[int, ...]:
        """The shape of an input batch in :attr:`LAYOUT`, for ``layer_summary``."""

    def parameter_arrays(self, model: Any) -> list[tuple[str, np.ndarray]]:
        """``[(name, numpy array), ...]`` of the parameters ``model`` holds, in the table's
        order (kernel, then bias, per weight layer) and the framework's own layout."""

    def assign_parameter_arrays(self, model: Any, arrays: Sequence[tuple[str, np.ndarray]],
                                skip_head: bool = False) -> Any:
        """Set ``model``'s parameters from arrays like :meth:`parameter_arrays`' (all but the
        last layer's with ``skip_head``), every shape checked before any is set."""

    def resize_images(self, images: Any, size: Sequence[int]) -> Any:
        """numpy or framework images ``(B, H, W)``/``(B, H, W, C)`` -> float32 inputs of
        ``size`` in :attr:`LAYOUT`: uint8 scaled by 1/255 once, bilinear, half-pixel centres."""

    def to_numpy(self, value: Any) -> np.ndarray:
        """A framework array (on any device) as a numpy array."""

    def cpu(self) -> Any:
        """The framework's CPU device."""

    def gpu(self, i: int = 0) -> Any:
        """The framework's ``i``-th GPU."""

    def num_gpus(self) -> int:
        """How many GPUs the framework sees (0 without any)."""

    def try_gpu(self, i: int = 0) -> Any:
        """``gpu(i)`` where the framework sees it, ``cpu()`` where not (d2l, sec_use_gpu)."""

    def try_all_gpus(self) -> list:
        """Every GPU the framework sees, or ``[cpu()]`` where it sees none."""

    def add_to_class(self, Class: type) -> Any:
        """The book's decorator that adds the function below it to ``Class`` as a method."""

    def set_seed(self, seed: int) -> None:
        """Seed what initialization and dropout draw from."""

    def initialize_distributed(self) -> None:
        """Join the other processes of a multi-host run named in the environment, before the
        framework is used; nothing where the framework joins them itself or there are none."""


def device_choosers(cpu: Callable[[], Any], gpu: Callable[[int], Any],
                    num_gpus: Callable[[], int]) -> tuple[Callable[..., Any], Callable[[], list]]:
    """A backend's ``try_gpu`` and ``try_all_gpus`` (d2l, sec_use_gpu), from its ``cpu``,
    ``gpu`` and ``num_gpus``: the book's training cells ask for a GPU this way and run on the
    CPU where there is none (TensorFlow's as ``with d2l.try_gpu(): ...``)."""
    def try_gpu(i: int = 0) -> Any:
        """``gpu(i)`` where the framework sees it, ``cpu()`` where not."""
        return gpu(i) if num_gpus() > i else cpu()

    def try_all_gpus() -> list:
        """Every GPU the framework sees, or ``[cpu()]`` where it sees none."""
        return [gpu(i) for i in range(num_gpus())] or [cpu()]

    return try_gpu, try_all_gpus


def problems(backend: ModuleType) -> list[str]:
    """What ``backend`` (an imported backend package) lacks of the contract, as sentences;
    an empty list when it meets it."""
    from .module import ModuleContract
    from .trainer import TrainerBase

    found = []
    name = getattr(backend, "__name__", repr(backend))
    missing = [public for public in PUBLIC_NAMES if not hasattr(backend, public)]
    if missing:
        found.append(f"{name} lacks {', '.join(missing)}")
    exported = tuple(getattr(backend, "__all__", ()))
    if sorted(exported) != sorted(PUBLIC_NAMES):
        extra = sorted(set(exported) - set(PUBLIC_NAMES))
        absent = sorted(set(PUBLIC_NAMES) - set(exported))
        found.append(f"{name}.__all__ differs from PUBLIC_NAMES (extra {extra}, absent "
                     f"{absent})")
    if missing:
        return found
    for hook in TRAINER_HOOKS:
        if getattr(backend.Trainer, hook) is getattr(TrainerBase, hook):
            found.append(f"{name}.Trainer does not override {hook}")
    for hook in MODEL_HOOKS:
        if getattr(backend.AlexNet, hook, None) is getattr(ModuleContract, hook, None):
            found.append(f"{name}.AlexNet does not override {hook}")
    if not isinstance(backend, BackendModule):
        found.append(f"{name} does not satisfy BackendModule")
    return found
