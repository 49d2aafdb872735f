"""The book's tensor aliases for PyTorch (d2l's ``config.ini``): ``d2l.ones``, ``d2l.randn``,
``d2l.reshape``, ... mean what they mean in ``from d2l import torch as d2l``, so that the
later chapters' cells (ResNet's ``X = d2l.randn(4, 3, 6, 6)``) run as the book writes them.
``tests/contract/test_book.py`` checks each against the book's own, on a small example."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..core import arrays
from ..core.arrays import calls_method

# The base class of the book's PyTorch models.
nn_Module = nn.Module

# Making tensors.
tensor = torch.tensor
ones, zeros = torch.ones, torch.zeros
ones_like, zeros_like = torch.ones_like, torch.zeros_like
arange, linspace, meshgrid, eye = torch.arange, torch.linspace, torch.meshgrid, torch.eye
normal, rand, randn = torch.normal, torch.rand, torch.randn
int32, int64, float32 = torch.int32, torch.int64, torch.float32

# Elementwise functions.
sin, sinh, cos, cosh, tanh = torch.sin, torch.sinh, torch.cos, torch.cosh, torch.tanh
exp, log, abs, sigmoid = torch.exp, torch.log, torch.abs, torch.sigmoid

# Products and joins.
matmul, batch_matmul = torch.matmul, torch.bmm
concat, stack = torch.cat, torch.stack

# A tensor's own methods, under the book's names (PyTorch's repeat tiles: x.repeat(2, 1)
# stacks x twice).
reshape, reduce_sum, reduce_mean = arrays.reshape, arrays.reduce_sum, arrays.reduce_mean
argmax, swapaxes, repeat = arrays.argmax, arrays.swapaxes, arrays.repeat
astype = calls_method("type")  # PyTorch converts with .type(dtype)
transpose = calls_method("t")  # a matrix's transpose
expand_dims = calls_method("unsqueeze")
to = calls_method("to")
size = calls_method("numel")


def numpy(x: Any, *args: Any, **kwargs: Any) -> Any:
    """A tensor as a numpy array, out of the autograd graph (and, unlike the book's, off a
    GPU too)."""
    return x.detach().cpu().numpy(*args, **kwargs)
