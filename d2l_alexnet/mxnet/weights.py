"""A Gluon model's parameters as named numpy arrays, both ways, in MXNet's own layout."""

from __future__ import annotations

from collections.abc import Sequence

import mxnet as mx
import numpy as np

from ..core import weights as core_weights
from .runtime import device_array, to_numpy


def parameter_arrays(model: mx.gluon.Block, seed: int | None = 0,
                     ) -> list[tuple[str, np.ndarray]]:
    """The model's parameters as ``[(name, numpy array), ...]`` in the architecture table's order
    (each convolution and dense layer: kernel, then bias), in MXNet's own layout (OIHW kernels,
    ``(out, in)`` dense weights). ``seed`` is unused: Gluon models hold their parameters."""
    return [(name, to_numpy(param.data(param.list_ctx()[0])))
            for name, param in model.collect_params().items()]


def assign_parameter_arrays(model: mx.gluon.Block, arrays: Sequence[tuple[str, np.ndarray]],
                            skip_head: bool = False) -> None:
    """Set the model's parameters from ``[(name, array), ...]`` in MXNet's layout and the
    table's order (what :func:`parameter_arrays` returns; all but the last layer's two with
    ``skip_head``), on every device they live on. Every shape is checked first, so a
    ``WeightsError`` leaves the model unchanged."""
    parameters = list(model.collect_params().values())
    matched = core_weights.match_arrays(arrays, [(param.name, param.shape) for param in parameters],
                                        skip_head)
    for param, array in zip(parameters, matched):
        param.set_data(device_array(array, dtype="float32"))  # of the parameter's kind
