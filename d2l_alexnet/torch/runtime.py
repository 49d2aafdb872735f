"""Devices, seeds, processes and host arrays for the PyTorch backend (what the other files
need)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..core.arrays import host_array
from ..core.contract import device_choosers
from ..core.errors import D2LAlexNetError

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


class CompilerMissing(D2LAlexNetError, RuntimeError):
    """``torch.compile`` cannot build its CPU kernels here: no working C++ compiler."""


def check_cpu_compiler() -> None:
    """A :class:`CompilerMissing` in one line unless inductor, ``torch.compile``'s code
    generator, finds the C++ compiler it builds its CPU kernels with.

    Inductor looks for it only at the first compiled step (``cpp_builder.get_cpp_compiler``:
    each of ``torch._inductor.config.cpp.cxx``, ``$CXX`` or else ``g++``, must answer
    ``--version``), so a slim image without one failed there, after the run had begun and made
    its folder; this asks the same function before anything is written.
    """
    from torch._inductor import config, cpp_builder, exc
    try:
        cpp_builder.get_cpp_compiler()
    except exc.InvalidCxxCompiler as error:
        searched = config.cpp.cxx if isinstance(config.cpp.cxx, (list, tuple)) \
            else (config.cpp.cxx,)
        tried = ", ".join(str(name) for name in searched if name)  # None: conda's, if allowed
        raise CompilerMissing(
            f"torch.compile (--compile, compile=True) builds its CPU kernels with a C++ "
            f"compiler and found no working one (tried {tried}): install one (apt-get install "
            f"g++, or set CXX to one), or drop --compile (compile=False)") from error


def to_numpy(tensor: Any) -> np.ndarray:
    """A tensor (or anything array-like) as a numpy array (on the host)."""
    if torch.is_tensor(tensor):
        return tensor.detach().cpu().numpy()
    return host_array(tensor)
