"""Augmentation: flips, crops and colour changes drawn from (seed, epoch, index) alone."""

import numpy as np
import pytest

from d2l_alexnet.core.augment import CROP_FRACTION, augment_batch, epoch_draws
from d2l_alexnet.core.checkpoint import CheckpointError, check_compatible
from d2l_alexnet.core.datamodule import FashionMNISTBase
from d2l_alexnet.core.images import ArrayData

rng = np.random.default_rng(0)
GREY = rng.integers(0, 256, (12, 16, 16), dtype=np.uint8)
RGB = rng.integers(0, 256, (12, 16, 16, 3), dtype=np.uint8)


def test_an_image_is_changed_by_its_own_draws_whatever_batch_it_is_in():
    whole = augment_batch(GREY, np.arange(12), 12, seed=3, epoch=2)
    alone = augment_batch(GREY[7:8], [7], 12, seed=3, epoch=2)
    assert np.array_equal(whole[7], alone[0])
    assert np.array_equal(whole, augment_batch(GREY, np.arange(12), 12, seed=3, epoch=2))
    assert not np.array_equal(whole, augment_batch(GREY, np.arange(12), 12, seed=3, epoch=3))
    assert not np.array_equal(whole, augment_batch(GREY, np.arange(12), 12, seed=4, epoch=2))
    assert whole.shape == GREY.shape and whole.dtype == np.uint8


def test_each_image_is_a_flipped_or_not_window_of_its_reflected_border():
    draws = epoch_draws(12, 0, 0)
    assert 2 <= draws["flip"].sum() <= 10  # about half, of twelve
    changed = augment_batch(GREY, np.arange(12), 12, seed=0, epoch=0)
    pad = int(16 * CROP_FRACTION)
    for index, image in enumerate(GREY):
        source = image[:, ::-1] if draws["flip"][index] else image
        padded = np.pad(source, pad, mode="reflect")
        windows = [padded[top:top + 16, left:left + 16] for top in range(2 * pad + 1)
                   for left in range(2 * pad + 1)]
        assert any(np.array_equal(changed[index], window) for window in windows), index
    assert not np.array_equal(changed, GREY)


def test_only_colour_images_are_recoloured_and_pixels_stay_in_range():
    grey = augment_batch(GREY, np.arange(12), 12, seed=1, epoch=0)
    assert set(np.unique(grey)) <= set(np.unique(GREY))  # moved, never new values
    colour = augment_batch(RGB, np.arange(12), 12, seed=1, epoch=0)
    assert colour.dtype == np.uint8 and colour.shape == RGB.shape
    # Each channel alone is moved as a greyscale image would be: the same flips and crops;
    # the colour changes come on top, in every image.
    moved = np.stack([augment_batch(RGB[..., channel], np.arange(12), 12, seed=1, epoch=0)
                      for channel in range(3)], axis=-1)
    assert all(not np.array_equal(colour[index], moved[index]) for index in range(12))
    assert np.corrcoef(colour.ravel().astype(float), moved.ravel().astype(float))[0, 1] > 0.5
    floats = augment_batch(RGB.astype(np.float32) / 255, np.arange(12), 12, seed=1, epoch=0)
    assert floats.dtype == np.float32 and 0 <= floats.min() and floats.max() <= 1
    # The same draws: the float images' flips and crops land where the uint8 images' do.
    assert np.abs(floats * 255 - colour).max() <= 1


def test_data_modules_augment_training_batches_only_and_resume_mid_epoch():
    labels = np.arange(12) % 3
    plain = ArrayData((GREY, labels), (GREY, labels), batch_size=5)
    data = ArrayData((GREY, labels), (GREY, labels), batch_size=5, augment=True)
    for (a, _), (b, _) in zip(plain.raw_batches(False), data.raw_batches(False)):
        assert np.array_equal(a, b)  # validation as stored
    epoch = list(data.raw_batches(True, epoch=4))
    assert not all(np.array_equal(a, b) for (a, _), (b, _)
                   in zip(plain.raw_batches(True, epoch=4), epoch))
    resumed = list(data.raw_batches(True, epoch=4, start_batch=1))
    for (a, la), (b, lb) in zip(epoch[1:], resumed):
        assert np.array_equal(a, b) and np.array_equal(la, lb)
    assert FashionMNISTBase(batch_size=8, limit_train=16, limit_val=8, log=None).augment is False


def test_a_checkpoint_resumes_only_with_the_same_augmentation():
    class Saved:  # what check_compatible reads of a checkpoint
        name, path = "checkpoint-1.ckpt", "ckpt/checkpoint-1.ckpt"

        def __init__(self, metadata):
            self.metadata = metadata

    check_compatible(Saved({"augment": True}), {"augment": True})
    check_compatible(Saved({}), {"augment": False})  # written before the key existed
    with pytest.raises(CheckpointError, match="augment True, this run has False: resume with "
                                              "augment=True, or choose another directory for "
                                              "the Checkpointer") as refused:
        check_compatible(Saved({"augment": True}), {"augment": False})
    assert refused.value.for_command_line().endswith(
        "resume with --augment, or choose another --checkpoint-dir")
    with pytest.raises(CheckpointError, match="resume with augment=False") as refused:
        check_compatible(Saved({}), {"augment": True})
    assert "resume without --augment" in refused.value.for_command_line()


def test_recolouring_is_the_three_steps_one_after_another():
    """Brightness, then contrast about the mean grey, then saturation about each pixel's grey,
    done in float64 as the docstring says them: one affine map computes the same (within a
    rounding level of uint8, 1e-5 of floats)."""
    from d2l_alexnet.core.augment import _GREY, _recolour

    rng = np.random.default_rng(4)
    images = rng.integers(0, 256, (6, 9, 7, 3), dtype=np.uint8)
    factors = rng.uniform(0.6, 1.4, (6, 3))
    grey = _GREY.astype(np.float64)
    brightness, contrast, saturation = (factors[:, column, None, None, None] for column in range(3))
    pixels = images.astype(np.float64) * brightness
    mean_grey = (pixels @ grey).mean(axis=(1, 2))[:, None, None, None]
    pixels = (pixels - mean_grey) * contrast + mean_grey
    pixel_grey = (pixels @ grey)[..., None]
    expected = np.clip((pixels - pixel_grey) * saturation + pixel_grey, 0, 255)
    got = _recolour(images, factors)
    assert got.dtype == np.uint8 and got.shape == images.shape
    assert np.abs(got.astype(np.float64) - expected).max() <= 0.5 + 1e-3
    floats = _recolour(images / np.float32(255), factors)
    assert floats.dtype == np.float32
    np.testing.assert_allclose(floats, expected / 255, atol=1e-5)
