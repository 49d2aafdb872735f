"""Images as JAX inputs (NHWC) and the data modules that batch them as JAX arrays."""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from ..core import images as core_images
from ..core.datamodule import DataModule, FashionMNISTBase, InMemoryData

__all__ = ["ArrayData", "DataModule", "FashionMNIST", "ImageFolder", "JaxBatches",
           "resize_images"]

# uint8 -> float32 in [0, 1] by table: XLA's division on a CPU is not correctly rounded (some
# values of x / 255 come out one rounding off numpy's), and every backend, like a lesson that
# scales its own images, must give the network the same numbers.
_UNIT_SCALE = (np.arange(256) / 255.0).astype(np.float32)


@partial(jax.jit, static_argnums=1)
def _resize(images, size, unit_scale):
    if images.dtype == jnp.uint8:
        X = unit_scale[images]
    else:
        X = images.astype(jnp.float32)
    if X.ndim == 3:
        X = X[..., None]
    if X.shape[1:3] != tuple(size):
        # antialias=False: plain bilinear with half-pixel centres, torch's align_corners=False.
        X = jax.image.resize(X, (X.shape[0], *size, X.shape[3]), "bilinear", antialias=False)
    return X


def resize_images(images: "np.ndarray | jax.Array", size: "tuple[int, ...]") -> "jax.Array":
    """numpy or JAX images ``(B, H, W)`` or ``(B, H, W, C)`` -> float32 ``(B, *size, C)``: uint8
    scaled into [0, 1] once, floats as they are; bilinear (half-pixel centres, no antialiasing:
    the convention every backend shares)."""
    return _resize(jnp.asarray(images), tuple(int(side) for side in size), _UNIT_SCALE)


class JaxBatches(InMemoryData):
    """``train_dataloader()`` batches as JAX arrays: images ``(B, H, W, C)``."""

    def convert_batch(self, images: np.ndarray, labels: np.ndarray) -> tuple[jax.Array, jax.Array]:
        return resize_images(images, self.resize), jnp.asarray(labels.astype(np.int32))


class FashionMNIST(JaxBatches, FashionMNISTBase):
    """Fashion-MNIST as JAX arrays, NHWC (d2l, sec_fashion_mnist)."""


class ArrayData(JaxBatches, core_images.ArrayData):
    __doc__ = core_images.ArrayData.__doc__


class ImageFolder(JaxBatches, core_images.ImageFolder):
    __doc__ = core_images.ImageFolder.__doc__
