"""Images resized into NHWC float32 tensors, and the data modules whose batches they are."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..core import images as core_images
from ..core.datamodule import DataModule, FashionMNISTBase, InMemoryData
from .runtime import tf

__all__ = ["resize_images", "TensorBatches", "DataModule", "FashionMNIST", "ArrayData",
           "ImageFolder"]


def resize_images(images: Any, size: Sequence[int]) -> Any:  # numpy or tf.Tensor -> tf.Tensor
    """numpy or tensor images ``(B, H, W)`` or ``(B, H, W, C)`` -> float32 ``(B, *size, C)``:
    uint8 scaled into [0, 1] once, floats as they are; bilinear (half-pixel centres, no
    antialiasing: the convention every backend shares)."""
    images = tf.convert_to_tensor(images)
    X = tf.cast(images, tf.float32)
    if images.dtype == tf.uint8:
        X = X / 255.0
    if X.shape.rank == 3:
        X = X[..., tf.newaxis]
    if tuple(X.shape[1:3]) != tuple(size):
        X = tf.image.resize(X, size, method="bilinear", antialias=False)
    return X


class TensorBatches(InMemoryData):
    """``train_dataloader()`` batches as TensorFlow tensors: images ``(B, H, W, C)``."""

    def convert_batch(self, images: np.ndarray, labels: np.ndarray) -> tuple[Any, Any]:
        return resize_images(images, self.resize), tf.convert_to_tensor(labels.astype(np.int32))


class FashionMNIST(TensorBatches, FashionMNISTBase):
    """Fashion-MNIST as TensorFlow tensors, NHWC (d2l, sec_fashion_mnist)."""


class ArrayData(TensorBatches, core_images.ArrayData):
    __doc__ = core_images.ArrayData.__doc__


class ImageFolder(TensorBatches, core_images.ImageFolder):
    __doc__ = core_images.ImageFolder.__doc__
