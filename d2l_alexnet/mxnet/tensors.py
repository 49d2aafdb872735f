"""The book's tensor aliases for MXNet (d2l's ``config.ini``): ``d2l.ones``, ``d2l.randn``,
``d2l.reshape``, ... mean what they mean in ``from d2l import mxnet as d2l``: MXNet's NumPy
arrays (``mx.np``), as after the book's first line, ``npx.set_np()``, so that the later
chapters' cells (ResNet's ``X = d2l.randn(4, 3, 6, 6)``) run as the book writes them.
``tests/contract/test_book.py`` checks each against the book's own."""

from __future__ import annotations

from typing import Any

from mxnet import np, npx
from mxnet.gluon import nn

from ..core import arrays
from ..core.arrays import calls_method

# The base class of the book's Gluon models.
nn_Module = nn.Block

# Making arrays.
tensor = np.array
ones, zeros = np.ones, np.zeros
ones_like, zeros_like = np.ones_like, np.zeros_like
arange, linspace, meshgrid, eye = np.arange, np.linspace, np.meshgrid, np.eye
normal, rand, randn = np.random.normal, np.random.rand, np.random.randn
int32, int64, float32 = np.int32, np.int64, np.float32

# Elementwise functions.
sin, sinh, cos, cosh, tanh = np.sin, np.sinh, np.cos, np.cosh, np.tanh
exp, log, abs, sigmoid = np.exp, np.log, np.abs, npx.sigmoid

# Products and joins.
matmul, batch_matmul = np.dot, npx.batch_dot
concat, stack, expand_dims = np.concatenate, np.stack, np.expand_dims

# An array's own methods, under the book's names.
reshape, reduce_sum, reduce_mean = arrays.reshape, arrays.reduce_sum, arrays.reduce_mean
argmax, swapaxes, repeat = arrays.argmax, arrays.swapaxes, arrays.repeat
astype = calls_method("astype")
transpose = calls_method("transpose")  # no axes: reversed, as the book's a.T
to = calls_method("as_in_context")
numpy = calls_method("asnumpy")


def size(x: Any) -> int:
    """How many elements ``x`` holds."""
    return x.size
