"""Image augmentation, one of AlexNet's ingredients: random horizontal flips and crops of every
training image, and for colour images random changes of brightness, contrast and saturation.

Each image's changes are a pure function of ``(seed, epoch, index)`` (``index`` being its place
in the training set: row ``index`` of the epoch's draws), never the state of a generator that
batches share: a run resumed mid-epoch from a checkpoint sees exactly the images the
uninterrupted run saw, and the same image differs from one epoch to the next. Pixels are
changed as stored (uint8 or float in [0, 1]), before the backends resize them on the device.
Validation images are never changed.
"""

from __future__ import annotations

import functools

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["COLOUR_RANGE", "CROP_FRACTION", "augment_batch", "epoch_draws"]

# A crop keeps the image's size and moves its window by up to this fraction of each side (the
# border reflected): AlexNet cut 224×224 windows out of 256×256 images, 1/8 of a side.
CROP_FRACTION = 1 / 8
# Brightness, contrast and saturation are each scaled by a factor drawn from
# [1 - COLOUR_RANGE, 1 + COLOUR_RANGE] (colour images only).
COLOUR_RANGE = 0.4
# Keeps these draws apart from every other generator seeded with (seed, epoch).
_STREAM = 0x0A06
_GREY = np.array([0.299, 0.587, 0.114], np.float32)  # ITU-R BT.601 luma weights


@functools.lru_cache(maxsize=2)
def epoch_draws(num_examples: int, seed: int, epoch: int) -> dict[str, np.ndarray]:
    """Every training example's draws for one epoch, from one generator of ``(seed, epoch)``:
    ``flip`` (bool), ``top``/``left`` (uniform in [0, 1), the crop window's place) and
    ``colour`` (brightness, contrast and saturation factors). Example ``i`` takes row ``i``."""
    rng = np.random.default_rng([int(seed), int(epoch), _STREAM])
    draws = {"flip": rng.random(num_examples) < 0.5, "top": rng.random(num_examples),
             "left": rng.random(num_examples),
             "colour": rng.uniform(1 - COLOUR_RANGE, 1 + COLOUR_RANGE, (num_examples, 3))}
    for array in draws.values():
        array.setflags(write=False)  # cached: shared by every batch of the epoch
    return draws


def augment_batch(images: np.ndarray, indices: ArrayLike, num_examples: int, seed: int,
                  epoch: int) -> np.ndarray:
    """``images``, a training batch (``(B, H, W)`` or ``(B, H, W, C)``, uint8 or float in
    [0, 1]) whose examples sit at ``indices`` of a training set of ``num_examples``: each
    flipped left to right or not, its window moved by up to :data:`CROP_FRACTION` of each side
    (the border reflected) and, with three channels, recoloured, as ``(seed, epoch, index)``
    draws. A new array of the same shape and dtype."""
    indices = np.asarray(indices)
    if len(images) != len(indices):
        raise ValueError(f"{len(images)} images but {len(indices)} indices")
    draws = epoch_draws(num_examples, seed, epoch)
    count, height, width = images.shape[:3]
    pad_y, pad_x = int(height * CROP_FRACTION), int(width * CROP_FRACTION)
    padding = [(0, 0), (pad_y, pad_y), (pad_x, pad_x)] + [(0, 0)] * (images.ndim - 3)
    padded = np.pad(images, padding, mode="reflect") if pad_y or pad_x else images
    flip = draws["flip"][indices]
    top = (draws["top"][indices] * (2 * pad_y + 1)).astype(np.int64)
    left = (draws["left"][indices] * (2 * pad_x + 1)).astype(np.int64)
    moved = np.empty_like(images)
    for index in range(count):  # a slice per image: gathering every pixel by index took 3×
        # The border is reflected alike on both sides, so flipping the padded image is
        # padding the flipped one: its window is the flipped image's.
        image = padded[index, :, ::-1] if flip[index] else padded[index]
        moved[index] = image[top[index]:top[index] + height, left[index]:left[index] + width]
    images = moved
    if images.ndim == 4 and images.shape[3] == 3:
        images = _recolour(images, draws["colour"][indices])
    return np.ascontiguousarray(images)


def _recolour(images, factors):
    """Brightness scales every pixel, contrast stretches an image about its mean grey, and
    saturation moves each pixel away from (or towards) its own grey; one factor each per image
    (``factors``: ``(B, 3)``).

    The grey weights sum to 1, so the three steps are one affine map of each pixel's channels:
    ``s·c·b·x + (1 − s)·c·b·grey(x) + (1 − c)·b·mean_grey(x)``, applied as one matrix product
    per image (the steps one after another took 3 times as long: 224×224 RGB batches are
    augmented on the host while the device waits)."""
    top = 255.0 if images.dtype == np.uint8 else 1.0
    brightness, contrast, saturation = (factors[:, column].astype(np.float32)
                                        for column in range(3))
    pixels = images.astype(np.float32).reshape(len(images), -1, 3)  # (B, pixels, channels)
    mean_grey = (pixels @ _GREY).mean(axis=1)  # (B,), before brightness
    scale = saturation * contrast * brightness
    matrix = (scale[:, None, None] * np.eye(3, dtype=np.float32)
              + ((1 - saturation) * contrast * brightness)[:, None, None] * _GREY[:, None])
    pixels = pixels @ matrix
    pixels += ((1 - contrast) * brightness * mean_grey)[:, None, None]
    np.clip(pixels, 0, top, out=pixels)
    if images.dtype == np.uint8:
        np.rint(pixels, out=pixels)
    return pixels.astype(images.dtype).reshape(images.shape)
