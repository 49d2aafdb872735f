"""Images as MXNet arrays: ``resize_images`` and the data modules that batch in them (classic
NDArrays, or ``mx.np`` arrays in NumPy mode)."""

from __future__ import annotations

from collections.abc import Sequence

import mxnet as mx
import numpy as np

from ..core import images as core_images
from ..core.datamodule import DataModule, FashionMNISTBase, InMemoryData
from .runtime import classic, device_array, in_mode

__all__ = ["ArrayData", "DataModule", "FashionMNIST", "ImageFolder", "NDArrayBatches",
           "resize_images"]


def resize_images(images: np.ndarray | mx.nd.NDArray, size: Sequence[int],
                  ctx: mx.Context | None = None) -> mx.nd.NDArray:
    """numpy or NDArray images ``(B, H, W)`` or ``(B, H, W, C)`` -> float32 ``(B, C, *size)``:
    uint8 scaled into [0, 1] once, floats as they are; bilinear (half-pixel centres, no
    antialiasing: the convention every backend shares). numpy arrays are copied to ``ctx`` (the
    CPU by default). In NumPy mode (``npx.set_np()``) the result is an ``mx.np`` array."""
    if isinstance(images, np.ndarray):
        images = mx.nd.array(images, ctx=ctx or mx.cpu(), dtype=images.dtype)
    images = classic(images)  # the resize is a classic operator
    X = images.astype("float32")
    if images.dtype == np.uint8:
        X = X / 255.0
    X = X.expand_dims(axis=1) if X.ndim == 3 else X.transpose((0, 3, 1, 2))
    if tuple(X.shape[-2:]) != tuple(size):
        # align_corners defaults to True in MXNet; False is torch's half-pixel convention.
        X = mx.nd.contrib.BilinearResize2D(X, height=size[0], width=size[1],
                                           align_corners=False)
    return in_mode(X)


class NDArrayBatches(InMemoryData):
    """``train_dataloader()`` batches as MXNet NDArrays: images ``(B, C, H, W)``."""

    def convert_batch(self, images: np.ndarray, labels: np.ndarray,
                      ) -> tuple[mx.nd.NDArray, mx.nd.NDArray]:
        return resize_images(images, self.resize), device_array(labels, dtype="int32")


class FashionMNIST(NDArrayBatches, FashionMNISTBase):
    """Fashion-MNIST as MXNet NDArrays (d2l, sec_fashion_mnist)."""

    BOOK_SPLITS = "examples"  # data.train[0]: an (image, label) example, as in the book


class ArrayData(NDArrayBatches, core_images.ArrayData):
    __doc__ = core_images.ArrayData.__doc__


class ImageFolder(NDArrayBatches, core_images.ImageFolder):
    __doc__ = core_images.ImageFolder.__doc__
