"""The parameters of a PyTorch model as named numpy arrays, both ways."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ..core import weights as core_weights
from .runtime import to_numpy


def parameter_arrays(model: torch.nn.Module, seed: int | None = 0,
                     ) -> list[tuple[str, np.ndarray]]:
    """The model's parameters as ``[(name, numpy array), ...]`` in the architecture table's order
    (each convolution and dense layer: kernel, then bias), in PyTorch's own layout (OIHW kernels,
    ``(out, in)`` dense weights). ``seed`` is unused: PyTorch models hold their parameters."""
    return [(name, to_numpy(tensor)) for name, tensor in model.named_parameters()]


def assign_parameter_arrays(model: torch.nn.Module, arrays: Sequence[tuple[str, np.ndarray]],
                            skip_head: bool = False) -> None:
    """Set the model's parameters from ``[(name, array), ...]`` in PyTorch's layout and the
    table's order (what :func:`parameter_arrays` returns; all but the last layer's two with
    ``skip_head``). Every shape is checked first, so a ``WeightsError`` leaves the model
    unchanged."""
    parameters = list(model.parameters())
    matched = core_weights.match_arrays(arrays, [(name, tuple(tensor.shape))
                                                 for name, tensor in model.named_parameters()],
                                        skip_head)
    with torch.no_grad():
        for parameter, array in zip(parameters, matched):
            parameter.copy_(torch.from_numpy(array))
