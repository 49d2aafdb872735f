"""The book's tensor aliases for TensorFlow (d2l's ``config.ini``): ``d2l.ones``,
``d2l.normal``, ``d2l.reshape``, ... mean what they mean in ``from d2l import tensorflow as
d2l``, so that the later chapters' cells (ResNet's ``X = d2l.normal((4, 6, 6, 3))``) run as the
book writes them. ``tests/contract/test_book.py`` checks each against the book's own."""

from __future__ import annotations

from typing import Any

from ..core.arrays import calls_method
from .runtime import tf

# The base class of the book's TensorFlow models.
nn_Module = tf.keras.Model

# Making tensors.
tensor = tf.constant
ones, zeros = tf.ones, tf.zeros
ones_like, zeros_like = tf.ones_like, tf.zeros_like
arange, linspace, meshgrid, eye = tf.range, tf.linspace, tf.meshgrid, tf.eye
normal, rand = tf.random.normal, tf.random.uniform
int32, int64, float32 = tf.int32, tf.int64, tf.float32

# Elementwise functions.
sin, sinh, cos, cosh, tanh = tf.sin, tf.sinh, tf.cos, tf.cosh, tf.tanh
exp, log, abs, sigmoid = tf.exp, tf.math.log, tf.abs, tf.sigmoid

# Products, joins and reshapes: TensorFlow's functions take the tensor first already.
matmul = batch_matmul = tf.matmul
concat, stack = tf.concat, tf.stack
reshape, transpose, expand_dims, repeat = tf.reshape, tf.transpose, tf.expand_dims, tf.repeat
reduce_sum, reduce_mean, argmax = tf.reduce_sum, tf.reduce_mean, tf.argmax
astype = tf.cast
numpy = calls_method("numpy")


def size(x: Any) -> Any:
    """How many elements ``x`` holds, as a number."""
    return tf.size(x).numpy()
