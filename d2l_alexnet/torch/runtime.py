"""Devices, seeds, processes and host arrays for the PyTorch backend (what the other files
need)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..core.arrays import host_array
from ..core.contract import device_choosers

#: Precisions this backend trains in (bf16: torch.autocast).
PRECISIONS = ("fp32", "bf16")
#: Parameter layout (core/weights.py): OIHW kernels, (out, in) dense weights, C×H×W flatten.
LAYOUT = "NCHW"


def cpu() -> torch.device:
    return torch.device("cpu")


def gpu(i: int = 0) -> torch.device:
    return torch.device(f"cuda:{i}")


def num_gpus() -> int:
    return torch.cuda.device_count()


try_gpu, try_all_gpus = device_choosers(cpu, gpu, num_gpus)


def set_seed(seed: int) -> None:
    """Seed every RNG the model and its dropout draw from."""
    torch.manual_seed(seed)


def initialize_distributed() -> None:
    """Nothing to do: the Trainer joins torchrun's process group itself when it opens its
    device (``Trainer.open_device``)."""


def mps_available() -> bool:
    """Whether Apple's Metal GPU backend is usable (never on the machines that test this)."""
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def to_numpy(tensor: Any) -> np.ndarray:
    """A tensor (or anything array-like) as a numpy array (on the host)."""
    if torch.is_tensor(tensor):
        return tensor.detach().cpu().numpy()
    return host_array(tensor)
