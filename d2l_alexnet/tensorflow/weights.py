"""A Keras model's parameters as named numpy arrays, and back, in Keras' own layout."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..core.weights import match_arrays
from .runtime import to_numpy


def parameter_arrays(model: Any, seed: int | None = 0) -> list[tuple[str, np.ndarray]]:
    """The model's parameters as ``[(name, numpy array), ...]`` in the architecture table's order
    (each convolution and dense layer: kernel, then bias), in Keras' own layout (HWIO kernels,
    ``(in, out)`` dense weights). ``seed`` is unused: Keras models hold their parameters."""
    return [(variable.path, to_numpy(variable)) for variable in model.net.weights]


def assign_parameter_arrays(model: Any, arrays: Sequence[tuple[str, np.ndarray]],
                            skip_head: bool = False) -> None:
    """Set the model's parameters from ``[(name, array), ...]`` in Keras' layout and the
    table's order (what :func:`parameter_arrays` returns; all but the last layer's two with
    ``skip_head``). Every shape is checked first, so a ``WeightsError`` leaves the model
    unchanged."""
    variables = model.net.weights
    matched = match_arrays(arrays, [(variable.path, tuple(variable.shape))
                                    for variable in variables], skip_head)
    for variable, array in zip(variables, matched):
        variable.assign(array)
