"""The book's tensor aliases for JAX (d2l's ``config.ini``): ``d2l.ones``, ``d2l.reshape``, ...
mean what they mean in ``from d2l import jax as d2l``, so that the later chapters' cells run as
the book writes them; its key source, ``d2l.get_key()`` (ResNet's ``blk.init_with_output(
d2l.get_key(), X)``), is in ``runtime.py``, beside the seed it splits its keys from.
``tests/contract/test_book.py`` checks each against the book's own."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn

from ..core import arrays
from ..core.arrays import calls_method

# The base class of the book's Flax models.
nn_Module = nn.Module

# Making arrays.
tensor = jnp.array
ones, zeros = jnp.ones, jnp.zeros
ones_like, zeros_like = jnp.ones_like, jnp.zeros_like
arange, linspace, meshgrid, eye = jnp.arange, jnp.linspace, jnp.meshgrid, jnp.eye
int32, int64, float32 = jnp.int32, jnp.int64, jnp.float32

# Elementwise functions.
sin, sinh, cos, cosh, tanh = jnp.sin, jnp.sinh, jnp.cos, jnp.cosh, jnp.tanh
exp, log, abs, sigmoid = jnp.exp, jnp.log, jnp.abs, jax.nn.sigmoid

# Products and joins.
matmul = jnp.matmul
concat, stack, expand_dims = jnp.concatenate, jnp.stack, jnp.expand_dims

# An array's own methods, under the book's names.
reshape, reduce_sum, reduce_mean = arrays.reshape, arrays.reduce_sum, arrays.reduce_mean
argmax, swapaxes, repeat = arrays.argmax, arrays.swapaxes, arrays.repeat
astype = calls_method("astype")
transpose = calls_method("transpose")  # no axes: reversed, as the book's a.T

# To a device, and to the host.
to = jax.device_put
numpy = np.asarray
