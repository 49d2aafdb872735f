"""Images and data modules as PyTorch tensors: ``resize_images``, ``FashionMNIST``,
``ArrayData``, ``ImageFolder``."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.nn import functional as F

from ..core import images as core_images
from ..core.datamodule import DataModule, FashionMNISTBase, InMemoryData

__all__ = ["resize_images", "TensorBatches", "DataModule", "FashionMNIST", "ArrayData",
           "ImageFolder"]


def resize_images(images: np.ndarray | torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """numpy or tensor images ``(B, H, W)`` or ``(B, H, W, C)`` -> float32 ``(B, C, *size)``:
    uint8 scaled into [0, 1] once, floats as they are; bilinear (half-pixel centres, no
    antialiasing: the convention every backend shares)."""
    if isinstance(images, np.ndarray):
        images = torch.from_numpy(np.ascontiguousarray(images))
    X = images.to(torch.float32)
    if images.dtype == torch.uint8:
        X = X.div_(255.0)
    X = X.unsqueeze(1) if X.dim() == 3 else X.permute(0, 3, 1, 2)
    if tuple(X.shape[-2:]) != tuple(size):
        X = F.interpolate(X, size=tuple(size), mode="bilinear", align_corners=False)
    return X


class TensorBatches(InMemoryData):
    """``train_dataloader()`` batches as PyTorch tensors: images ``(B, C, H, W)``."""

    def convert_batch(self, images: np.ndarray, labels: np.ndarray,
                      ) -> tuple[torch.Tensor, torch.Tensor]:
        return (resize_images(images, self.resize),
                torch.from_numpy(labels.astype(np.int64)))


class FashionMNIST(TensorBatches, FashionMNISTBase):
    """Fashion-MNIST as PyTorch tensors (d2l, sec_fashion_mnist)."""

    BOOK_SPLITS = "examples"  # data.train[0]: an (image, label) example, as in the book


class ArrayData(TensorBatches, core_images.ArrayData):
    __doc__ = core_images.ArrayData.__doc__


class ImageFolder(TensorBatches, core_images.ImageFolder):
    __doc__ = core_images.ImageFolder.__doc__
