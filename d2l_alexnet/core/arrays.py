"""Any framework's arrays, seen from numpy: what the framework-free core needs to read a
tensor without importing the framework that made it, and the book's aliases that call a
tensor's own method, which need no framework either (each backend's ``tensors.py`` takes those
its framework's arrays answer to)."""

from collections.abc import Callable
from typing import Any

import numpy as np


def host_array(value: Any) -> np.ndarray:
    """Any framework's CPU tensor, or anything array-like, as a numpy array."""
    if hasattr(value, "requires_grad") and callable(getattr(value, "detach", None)):
        value = value.detach().cpu()  # a PyTorch parameter (its numpy() refuses a graph's)
    for method in ("asnumpy", "numpy"):  # MXNet's NDArray; TensorFlow's and PyTorch's tensors
        if hasattr(value, method) and not isinstance(value, np.ndarray):
            return np.asarray(getattr(value, method)())
    return np.asarray(value)


def dtype_name(value: Any) -> str:
    """The numpy name of a tensor's element type (``"float32"``, ``"uint8"``, ``"bfloat16"``),
    whichever framework made it, read without copying the tensor."""
    dtype = getattr(value, "dtype", None)
    dtype = getattr(dtype, "as_numpy_dtype", dtype)  # TensorFlow's DType
    try:
        return np.dtype(dtype).name  # numpy, JAX, MXNet (a numpy type)
    except TypeError:
        return str(dtype).rpartition(".")[2]  # PyTorch's torch.float32


def calls_method(method: str) -> Callable[..., Any]:
    """A function of a tensor that calls the tensor's own ``method`` with the other arguments:
    the book's method-style aliases (``d2l.reshape(X, shape)`` is ``X.reshape(shape)``,
    ``d2l.reduce_sum(X)`` is ``X.sum()``), one line in each backend's ``tensors.py``."""
    def call(x: Any, *args: Any, **kwargs: Any) -> Any:
        return getattr(x, method)(*args, **kwargs)

    call.__doc__ = f"``x.{method}(*args, **kwargs)``, as the book's d2l writes it."
    return call


# The book's method-style aliases that mean the same method in every framework whose arrays have
# numpy's methods (JAX, MXNet, PyTorch); TensorFlow's tensors have none, so its ``tensors.py``
# names TensorFlow's functions instead.
reshape = calls_method("reshape")
reduce_sum = calls_method("sum")
reduce_mean = calls_method("mean")
argmax = calls_method("argmax")
swapaxes = calls_method("swapaxes")
repeat = calls_method("repeat")
