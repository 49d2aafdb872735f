"""A lesson author's own images as data modules (d2l, sec_alexnet, trained on other data).

:class:`ArrayData` wraps numpy arrays already in memory; :class:`ImageFolder` reads a folder of
class subfolders, the layout torchvision's ``ImageFolder`` and Keras'
``image_dataset_from_directory`` read. Both follow the data contract of ``FashionMNISTBase``
(sec_fashion_mnist) that the core Trainer relies on: ``raw_batches(train, epoch, start_batch)``
yields channels-last numpy batches, and the training order is a pure function of
``(seed, epoch)``, so a run can be repeated, or resumed in the middle of an epoch, exactly.

Neither class resizes batches or scales pixels: the backends do both on the device. uint8
pixels are scaled by 1/255 there, once; float pixels must already lie in [0, 1] and are never
scaled again (a second division by 255 would silently train on near-black images).
"""

from __future__ import annotations

import numbers
import os
import unicodedata
import warnings
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

from .data import DataError
from .datamodule import (DataModule, InMemoryData, check_batch_size, check_flag, check_resize,
                         check_seed)
from .language import byte_size, number, say
from .types import Log, PathLike, Size, log_or_none, user_path

# A split as ArrayData takes it: ``(images, labels)``.
Split = tuple[ArrayLike, ArrayLike]

__all__ = ["ArrayData", "ImageFolder", "IMAGE_EXTENSIONS", "channels_last", "folder_classes",
           "folder_color_mode", "folder_images", "read_image", "VALIDATION_SPLIT"]

# What ImageFolder reads, compared case-insensitively (Pillow decodes each of these): with
# JPEG's other names (.jfif: Windows' browsers save photos so) and the Netpbm files
# torchvision's ImageFolder reads too.
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".jpe", ".jfif", ".bmp", ".gif", ".webp", ".tif",
                    ".tiff", ".ppm", ".pgm", ".pbm")

LAYOUTS = ("NCHW", "NHWC")
CHANNEL_COUNTS = (1, 3, 4)  # greyscale, RGB, RGBA: what a layout guess may take as channels
COLOR_MODES = {"rgb": ("RGB", 3), "grayscale": ("L", 1)}  # Keras' names -> Pillow mode, C
SHOWN_PATHS = 5  # unreadable files named in one message; the rest are counted
SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N")  # Pillow's 16-bit greyscale modes
# Pillow modes whose pixels are shades of grey (with or without transparency): what
# folder_color_mode takes for a greyscale file ("P"/"PA" are greyscale when their palette is).
GREYSCALE_MODES = ("1", "L", "LA", "La", "I", "F", *SIXTEEN_BIT_MODES)
VALIDATION_SPLIT = 0.2  # ImageFolder's share of each class for validation, by default
TRANSPARENT_BACKGROUND = (255, 255, 255, 255)  # transparent pixels show white, as on a page
# How far above 1 the brightest float pixel of a [0, 1] image may lie: an overshoot of
# rounding or resampling, under one step of 8 bits (1.0000001 is white, not 1 of 255).
FLOAT_ROUNDING = 1 / 255


class PixelRangeError(ValueError):
    """An image Pillow reads whose pixel values cannot be read as an 8-bit picture without a
    guess (floats below 0 or beyond [0, 1] and 0..255's reach, integers beyond 16 bits)."""


def _one_line(text):
    return " ".join(str(text).split())


def shown_path(path: PathLike) -> str:
    """A file name as text that any terminal prints: bytes that are not UTF-8 (kept by Python as
    surrogates) become ``\\xNN`` escapes, so a log line or message never fails to print."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _guess_layout(owner, split, shape):
    first, last = shape[1] in CHANNEL_COUNTS, shape[-1] in CHANNEL_COUNTS
    if first and not last:
        return "NCHW"
    if last and not first:
        return "NHWC"
    raise DataError(f"{owner}: cannot tell which axis of the {split} images of shape {shape} "
                    f"holds the channels; pass layout=\"NCHW\" or layout=\"NHWC\"")


def _channels_last(owner, split, images, layout):
    """``(N, H, W)``, ``(N, C, H, W)`` or ``(N, H, W, C)`` -> an ``(N, H, W, C)`` view."""
    shape = images.shape
    if images.ndim == 3:
        if layout is not None:
            raise DataError(f"{owner}: layout={layout!r} is for 4-d images, but the {split} "
                            f"images have shape {shape}; leave layout out for greyscale "
                            f"(N, H, W) arrays")
        images = images[..., np.newaxis]
    elif images.ndim == 4:
        if layout is None:
            layout = _guess_layout(owner, split, shape)
        _check_layout_fits(owner, split, shape, layout)
        if layout == "NCHW":
            images = images.transpose(0, 2, 3, 1)
    else:
        raise DataError(f"{owner}: {split} images have shape {shape} ({images.ndim}-d); pass "
                        f"an (N, H, W), (N, C, H, W) or (N, H, W, C) array")
    if shape[0] == 0:
        raise DataError(f"{owner}: the {split} split is empty (0 images); pass at least one "
                        f"image")
    if 0 in images.shape[1:]:
        raise DataError(f"{owner}: {split} images have shape {shape}, with an empty axis; "
                        f"every image needs at least one pixel and one channel")
    return images


def _check_layout_fits(owner, split, shape, layout):
    """Refuse a ``layout`` that reads a side as the channels where the other end holds 1, 3 or
    4 (NHWC images passed as NCHW, say): it was taken as given, and the fit then asked for
    a model of 67 input channels."""
    channels, other = (shape[1], shape[3]) if layout == "NCHW" else (shape[3], shape[1])
    if channels not in CHANNEL_COUNTS and other in CHANNEL_COUNTS:
        right = "NHWC" if layout == "NCHW" else "NCHW"
        raise DataError(f"{owner}: layout={layout!r} reads {channels} channels in the {split} "
                        f"images of shape {shape}, whose other end holds {other}, as {right} "
                        f"images do: pass layout={right!r}, or leave layout out")


def _check_pixels(owner, split, images):
    """uint8 stays uint8; floats in [0, 1] become float32; anything else is refused."""
    if images.dtype == np.uint8:
        return np.ascontiguousarray(images)
    if not np.issubdtype(images.dtype, np.floating):
        raise DataError(f"{owner}: {split} images have dtype {images.dtype}; pass uint8 images "
                        f"with values 0..255 or floats in [0, 1]")
    if not np.isfinite(images).all():
        raise DataError(f"{owner}: {split} images contain NaN or infinite values; replace them "
                        f"so that every pixel is a float in [0, 1]")
    low, high = float(images.min()), float(images.max())
    if low < 0 or high > 1:
        fix = "divide by 255" if low >= 0 and high <= 255 else "scale them into [0, 1]"
        raise DataError(f"{owner}: {split} images are float with values in [{low}, {high}]; "
                        f"floats must lie in [0, 1]: {fix}, or pass uint8 images")
    return np.ascontiguousarray(images, dtype=np.float32)


def _check_labels(owner, split, labels, num_images):
    if labels.ndim == 2 and labels.shape[1] == 1:  # a column of indices, as loaders may give
        labels = labels[:, 0]
    if labels.ndim != 1:
        raise DataError(f"{owner}: {split} labels have shape {labels.shape}; pass one class "
                        f"index per image as a 1-d array (one-hot labels: "
                        f"labels.argmax(axis=1))")
    if not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"{owner}: {split} labels have dtype {labels.dtype}; pass integer class "
                        f"indices 0, 1, ... (e.g. labels.astype(np.int64) if they are whole "
                        f"numbers)")
    if len(labels) != num_images:
        raise DataError(f"{owner}: {split} has {num_images} images but {len(labels)} labels; "
                        f"pass one label per image")
    if labels.min() < 0:
        raise DataError(f"{owner}: {split} labels include {labels.min()}; class indices must "
                        f"be 0 or more")
    return labels.astype(np.int64)


def channels_last(images: ArrayLike, layout: str | None = None, owner: str = "predict",
                  split: str = "input") -> np.ndarray:
    """Images in any form :class:`ArrayData` takes -> checked channels-last ``(N, H, W, C)``,
    uint8 or float32 in [0, 1] (what ``predict``/``features`` do with numpy images)."""
    return _check_pixels(owner, split, _channels_last(owner, split, np.asarray(images), layout))


def _class_names(owner, classes):
    """``classes`` as a list of distinct names, refused in one line otherwise: a weights file
    and every message name each class by its text."""
    names = list(classes)
    for name in names:
        if not isinstance(name, str):
            raise DataError(f"{owner}: classes must be names (text), got {name} "
                            f"({type(name).__name__}); pass [str(name) for name in classes]")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise DataError(f"{owner}: classes names {', '.join(map(repr, repeated))} more than "
                        f"once; give each label its own name")
    return names


def _split_arrays(owner, split, pair, layout):
    """One ``(images, labels)`` pair, checked -> ``(images (N, H, W, C), labels int64 (N,))``."""
    try:
        images, labels = pair
    except (TypeError, ValueError):
        raise DataError(f"{owner}: {split} must be an (images, labels) pair of arrays, got "
                        f"{type(pair).__name__}") from None
    arrays = []
    for what, array in (("images", images), ("labels", labels)):
        try:
            arrays.append(np.asarray(array))
        except ValueError as error:  # ragged nested lists
            raise DataError(f"{owner}: {split} {what} are not one rectangular array "
                            f"({_one_line(error)}); give every image the same shape") from None
    images = _check_pixels(owner, split, _channels_last(owner, split, arrays[0], layout))
    return images, _check_labels(owner, split, arrays[1], len(images))


class ArrayData(InMemoryData, DataModule):
    """Images and labels already in numpy arrays, as a data module for the Trainer.

    ``train`` and ``val`` are ``(images, labels)`` pairs. Images are ``(N, H, W)`` (greyscale),
    ``(N, C, H, W)`` or ``(N, H, W, C)``; the channel axis is guessed when ``layout`` is None
    (1, 3 or 4 channels at exactly one end), else ``layout`` is ``"NCHW"`` or ``"NHWC"``. They
    are held channels-last, ``(N, H, W, C)``, without a copy where they already are. uint8
    pixels are kept as they are (the backends scale them by 1/255 on the device); float pixels
    must lie in [0, 1] and are held as float32, never scaled again. Labels are class indices
    0, 1, ...; ``classes`` optionally names them.

    ``resize``: the size the backends resize each batch to on the device, an int or
    ``(height, width)``; None keeps the training images' own size. ``seed`` fixes the training
    order of every epoch. ``augment=True`` flips and crops the training images at random, and
    recolours RGB ones, anew in every epoch (:mod:`~d2l_alexnet.core.augment`). Any problem
    raises :class:`DataError` in one line saying what to fix.
    """

    def __init__(self, train: Split, val: Split, batch_size: int = 64, resize: Size | None = None,
                 *, layout: str | None = None, seed: int = 0,
                 classes: Iterable[str] | None = None, augment: bool = False) -> None:
        self.save_hyperparameters(ignore=["train", "val"])  # never copy the arrays into hparams
        self._set_arrays(train, val, layout=layout, classes=classes)

    def _set_arrays(self, train, val, *, layout, classes):
        """Check and store both splits; uses ``self.batch_size``, ``resize`` and ``seed``."""
        owner = type(self).__name__
        self.batch_size = check_batch_size(owner, self.batch_size)
        self.seed = check_seed(owner, self.seed)
        self.augment = check_flag(owner, "augment", self.augment)
        if layout is not None and layout not in LAYOUTS:
            raise DataError(f"{owner}: layout must be None (guess), \"NCHW\" or \"NHWC\", got "
                            f"{layout!r}")
        if isinstance(classes, str):
            raise DataError(f"{owner}: classes must be a list of names, got the single string "
                            f"{classes!r}; pass e.g. classes=[\"cat\", \"dog\"]")
        self.train_images, self.train_labels = _split_arrays(owner, "train", train, layout)
        self.val_images, self.val_labels = _split_arrays(owner, "val", val, layout)
        train_channels, val_channels = self.train_images.shape[-1], self.val_images.shape[-1]
        if train_channels != val_channels:
            raise DataError(f"{owner}: train images have {train_channels} channel(s) but val "
                            f"images have {val_channels}; give both splits the same channels "
                            f"(both RGB or both greyscale)")
        self.in_channels = int(train_channels)
        height, width = self.train_images.shape[1:3]
        self.resize = (int(height), int(width)) if self.resize is None else check_resize(
            owner, self.resize)
        self.classes = None if classes is None else _class_names(owner, classes)
        if self.classes is None:
            self.num_classes = int(max(self.train_labels.max(), self.val_labels.max())) + 1
        else:
            if len(self.classes) < 2:  # (labels that are all 0: the model's check refuses)
                raise DataError(f"{owner}: classes names one class only ({self.classes!r}); a "
                                f"classifier needs at least two (one is learnt perfectly and "
                                f"means nothing): add images of another class")
            for split, labels in (("train", self.train_labels), ("val", self.val_labels)):
                if labels.max() >= len(self.classes):
                    raise DataError(f"{owner}: {split} labels go up to {labels.max()} but "
                                    f"classes names only {len(self.classes)}; give a name for "
                                    f"every label 0..{labels.max()}, or fix the labels")
            self.num_classes = len(self.classes)

    @property
    def image_shape(self) -> tuple[int, ...]:
        """``(H, W, C)`` of the stored training images (before the backends resize them)."""
        return tuple(int(size) for size in self.train_images.shape[1:])

    def text_labels(self, indices: Iterable[int]) -> list[str]:
        """Class names of label indices (the book's ``text_labels``); ``"3"`` without names."""
        if self.classes is None:
            return [str(int(index)) for index in indices]
        return [self.classes[int(index)] for index in indices]


def _pillow_image():
    try:
        from PIL import Image
    except ImportError:
        raise DataError("ImageFolder needs Pillow to read image files: pip install Pillow") \
            from None
    return Image


def _image_files(folder, name):
    """Image files under ``folder/name``, recursively, as sorted paths relative to ``folder``.
    Linked subfolders are followed (as torchvision's ImageFolder does), each real folder once:
    a link back to a folder above it would otherwise be walked round forever."""
    found = []
    walked = set()  # real paths of the folders walked so far
    for directory, subfolders, file_names in os.walk(folder / name, followlinks=True):
        real = os.path.realpath(directory)
        if real in walked:  # a loop, or a second way into a folder already read
            subfolders[:] = []
            continue
        walked.add(real)
        # Hidden folders (.ipynb_checkpoints, .git) are not part of a class; sorted, so that of
        # two ways into one folder the same one is always kept.
        subfolders[:] = sorted(sub for sub in subfolders if not sub.startswith("."))
        for file_name in file_names:
            if (not file_name.startswith(".")
                    and os.path.splitext(file_name)[1].lower() in IMAGE_EXTENSIONS):
                found.append(Path(directory, file_name).relative_to(folder).as_posix())
    return sorted(found)


def _readable(folder_name):
    """A folder's name as text every file format can hold: a name that is not UTF-8 (a Latin-1
    folder from an old disk, held by Python with surrogate escapes) shows its odd bytes as
    ``\\xe9``, where it made a weights file or a checkpoint fail to save."""
    return os.fsencode(folder_name).decode("utf-8", "backslashreplace")


def _list_classes(owner, folder, what):
    """``(sorted class names, {name: sorted relative image paths})`` of one folder; the names
    are the subfolders' as text (:func:`_readable`), the paths as the file system has them."""
    if not folder.exists():
        raise DataError(f"{owner}: {what} {folder} does not exist; pass the folder that holds "
                        f"one subfolder of images per class")
    if not folder.is_dir():
        raise DataError(f"{owner}: {what} {folder} is not a directory; pass the folder that "
                        f"holds one subfolder of images per class")
    try:
        folders = sorted(entry.name for entry in folder.iterdir()
                         if entry.is_dir() and not entry.name.startswith("."))
        files = {_readable(name): _image_files(folder, name) for name in folders}
    except OSError as error:
        raise DataError(f"{owner}: cannot list {what} {folder} ({_one_line(error)})") from None
    classes = sorted(files)
    if not classes:
        raise DataError(f"{owner}: {what} {folder} has no class subfolders; put each class's "
                        f"images in a subfolder named after the class, e.g. "
                        f"{(folder / 'cat' / '1.png').as_posix()}")
    return classes, files


def _refuse_empty_classes(owner, folder, what, classes, files):
    empty = [name for name in classes if not files[name]]
    if empty:
        raise DataError(f"{owner}: class folder(s) with no images in {what} {folder}: "
                        f"{', '.join(empty)}; add images ({' '.join(IMAGE_EXTENSIONS)}) or "
                        f"remove the folder(s)")


def _normal_form(name):
    """A class name in Unicode's NFC form: a folder copied from macOS names its classes
    decomposed (NFD), which look the same as the composed names of a folder made elsewhere."""
    return unicodedata.normalize("NFC", name)


def _matching_classes(owner, root, val_root, classes, val_classes):
    """``{class name in root: the name of its folder in val_root}``, names compared as people
    read them (NFC-normalised); folders of other classes are refused in one line."""
    def in_normal_order(names):  # the same class in both at the same place
        return sorted(names, key=lambda name: (_normal_form(name), name))

    ours, theirs = in_normal_order(classes), in_normal_order(val_classes)
    if list(map(_normal_form, ours)) != list(map(_normal_form, theirs)):
        counts, val_counts = Counter(map(_normal_form, ours)), Counter(map(_normal_form, theirs))
        difference = "; ".join(
            f"{label} {', '.join(sorted(names.elements()))}"
            for label, names in (("missing", counts - val_counts), ("extra", val_counts - counts))
            if names)
        raise DataError(f"{owner}: val_root {val_root} has other classes than root {root}: "
                        f"{difference}; give both folders the same class subfolders")
    return dict(zip(ours, theirs))


def _folder_path(owner, folder, what):
    """A folder argument as a ``Path``, ``~`` expanded; an empty name refused: ``Path("")`` is
    the current folder, whose subfolders an empty ``--image-folder ""`` took for classes."""
    if not os.fspath(folder):
        raise DataError(f"{owner}: {what} is an empty path: name the folder of class "
                        f"subfolders")
    return Path(user_path(folder))


def _classes_and_files(owner, folder, what, test_set=False):
    """:func:`_list_classes`, refusing a folder with fewer than two classes or a class without
    images; a ``test_set`` needs neither (it may hold some of a model's classes only), only an
    image somewhere."""
    classes, files = _list_classes(owner, folder, what)
    if test_set:
        if not any(files.values()):
            raise DataError(f"{owner}: no images in the class folders of {what} {folder}; add "
                            f"images ({' '.join(IMAGE_EXTENSIONS)})")
        return classes, files
    if len(classes) < 2:
        raise DataError(f"{owner}: {what} {shown_path(folder)} has one class folder "
                        f"({shown_path(classes[0])}); a classifier needs at least two: put "
                        f"each class's images in a folder of its own")
    _refuse_empty_classes(owner, folder, what, classes, files)
    return classes, files


def folder_classes(root: PathLike, what: str = "root", owner: str = "ImageFolder", *,
                   test_set: bool = False) -> list[str]:
    """The class names of a folder of class subfolders, sorted, as :class:`ImageFolder` finds
    them (label i = the i-th name), without decoding an image: cheap, to check a folder before
    reading it. A folder with fewer than two classes, or a class without images, raises
    :class:`DataError` (``what`` names the folder in it: ``"--image-folder"``, say), unless it
    is a ``test_set``, which may hold some of a model's classes only."""
    return _classes_and_files(owner, _folder_path(owner, root, what), what, test_set)[0]


def _stratified_split(classes, files, validation_split, seed):
    """``(train, val)`` lists of ``(path, label)``: per class, a seeded share to validation.

    Each class keeps at least one image for training and gives at least one to validation when
    it has two or more; within a split, each class's files stay in sorted order.
    """
    train, val = [], []
    for label, name in enumerate(classes):
        paths = files[name]
        count = len(paths)
        num_val = 0
        if count >= 2 and validation_split > 0:
            num_val = min(max(round(count * validation_split), 1), count - 1)
        to_val = set(np.random.default_rng([seed, label]).permutation(count)[:num_val].tolist())
        for index, path in enumerate(paths):
            (val if index in to_val else train).append((path, label))
    return train, val


def _split_readable(classes, files, decoded, validation_split, seed):
    """The stratified split drawn again over the files that could be read, from the decoded
    ``(images, labels, paths)`` of a split drawn over all of them: skipping unreadable files
    afterwards left a class with fewer validation images than ``validation_split`` of it, or
    none. Returns the two splits' ``(images, labels, paths)``."""
    rows = {path: (images, row) for images, _, paths in decoded for row, path in enumerate(paths)}
    readable = {name: [path for path in files[name] if path in rows] for name in classes}
    images, splits = decoded[0][0], []  # (the shape and type of an empty split)
    for entries in _stratified_split(classes, readable, validation_split, seed):
        stacked = (np.stack([rows[path][0][rows[path][1]] for path, _ in entries]) if entries
                   else np.empty((0, *images.shape[1:]), dtype=images.dtype))
        splits.append((stacked, np.array([label for _, label in entries], dtype=np.int64),
                       [path for path, _ in entries]))
    return splits


def _eight_bit_greyscale(image, image_module):
    """A 16-bit, 32-bit integer or float greyscale image as 8-bit ``L``, scaled by its range
    (Pillow's own ``convert`` clips such pixels at 255: a 16-bit picture would come out white).
    16-bit pixels are divided by 257 (0..65535 onto 0..255), and a value the file marks
    transparent (PNG's tRNS) becomes transparent; 32-bit integer ones must hold 16-bit values
    (what Pillow reads some 16-bit files as). Floats are taken as [0, 1] when they lie there
    (up to :data:`FLOAT_ROUNDING` above 1), as 0..255 from 2 up; between, a picture that dark in
    0..255 is far likelier one of [0, 1] gone beyond it, and either guess could be wrong: it is
    refused (:class:`PixelRangeError`), as are negative or non-finite floats."""
    pixels = np.asarray(image)
    transparent = None
    if image.mode in SIXTEEN_BIT_MODES or image.mode == "I":
        low, high = int(pixels.min()), int(pixels.max())
        if low < 0 or high > 65535:
            raise PixelRangeError(f"32-bit integer pixels from {low} to {high} are beyond 16 "
                                  f"bits; save the image with 8 or 16 bits per pixel")
        scaled = pixels.astype(np.float32) / 257
        marked = image.info.get("transparency")
        if isinstance(marked, int):  # matched before scaling: several values share 8 bits
            transparent = pixels == marked
    else:  # "F"
        low, high = float(pixels.min()), float(pixels.max())
        if not (np.isfinite(pixels).all() and 0 <= low and high <= 255):
            raise PixelRangeError(f"float pixels from {low:g} to {high:g} are neither in "
                                  f"[0, 1] nor in 0..255; save the image scaled to one of them")
        if 1 + FLOAT_ROUNDING < high < 2:
            raise PixelRangeError(f"float pixels from {low:g} to {high:g} lie beyond [0, 1], "
                                  f"yet would be almost black read as 0..255; save the image "
                                  f"scaled to [0, 1] or to 0..255")
        scaled = np.minimum(pixels * 255, 255) if high <= 1 + FLOAT_ROUNDING else pixels
    grey = image_module.fromarray(np.rint(scaled).astype(np.uint8), "L")
    if transparent is None or not transparent.any():
        return grey
    alpha = image_module.fromarray(np.where(transparent, 0, 255).astype(np.uint8), "L")
    grey.putalpha(alpha)  # now LA: laid over white as any transparency is
    return grey


def _has_transparency(image):
    """Pillow's ``Image.has_transparency_data`` (new in Pillow 10.1), worked out as it does on
    an older Pillow: an alpha channel, a "transparency" entry, or a palette with alpha."""
    known = getattr(image, "has_transparency_data", None)
    if known is not None:
        return known
    if image.mode in ("LA", "La", "PA", "RGBA", "RGBa") or "transparency" in image.info:
        return True
    return image.mode == "P" and image.palette is not None and image.palette.mode.endswith("A")


def _decoded(source, mode, image_module):
    """The picture of an open file in ``mode`` (``"RGB"`` or ``"L"``), as it looks: 16-bit and
    float greyscale scaled to 8 bits, transparency laid over white (rather than exposing
    whatever colour the transparent pixels hold), Lab converted to sRGB, and a photo turned
    upright as its EXIF orientation says."""
    from PIL import ImageOps

    image = ImageOps.exif_transpose(source)  # decodes the whole file (a copy, always)
    if image.mode in (*SIXTEEN_BIT_MODES, "I", "F"):
        image = _eight_bit_greyscale(image, image_module)
    elif image.mode == "LAB":  # Pillow converts Lab only through a colour profile
        from PIL import ImageCms

        image = ImageCms.applyTransform(image, ImageCms.buildTransform(
            ImageCms.createProfile("LAB"), ImageCms.createProfile("sRGB"), "LAB", "RGB"))
    if _has_transparency(image):
        background = image_module.new("RGBA", image.size, TRANSPARENT_BACKGROUND)
        image = image_module.alpha_composite(background, image.convert("RGBA"))
    return image.convert(mode)


def _load_image(image_module, path, mode, channels, size):
    """One image file as uint8 ``(height, width, channels)``: decoded as :func:`_decoded`
    says, resized bilinearly to ``size`` when it is another size. Pillow's errors propagate."""
    height, width = size
    # Pillow warns of an image above 89 million pixels (and refuses one above twice that, with
    # DecompressionBombError): below its limit a large photo is read without a word. Its other
    # warnings ("Corrupt EXIF data", a truncated file) name no file: they are given again with
    # the file's name, which in a folder of thousands is the one thing to know.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.simplefilter("ignore", image_module.DecompressionBombWarning)
        # From an open file, not its name: Pillow then never memory-maps the pixels, which
        # for an uncompressed TIFF turned by its orientation tag (5-8) laid them out at the
        # turned width (Pillow 13: a scramble of stripes).
        with open(path, "rb") as stream, image_module.open(stream) as source:
            image = _decoded(source, mode, image_module)  # inside the `with`
    for warning in caught:
        warnings.warn(f"{shown_path(path)}: {warning.message}", warning.category, stacklevel=2)
    if image.size != (width, height):
        image = image.resize((width, height), image_module.BILINEAR)
    return np.asarray(image, dtype=np.uint8).reshape(height, width, channels)


def _read_images(folder, entries, mode, channels, size):
    """Decode ``entries`` (``(path, label)``) -> ``(images uint8 (N, H, W, C), labels, paths,
    failures)``, where ``failures`` lists ``(path, why)`` of the files that cannot be read,
    ``why`` in words (:func:`_why_unreadable`)."""
    image_module = _pillow_image()
    height, width = size
    images = np.empty((len(entries), height, width, channels), dtype=np.uint8)
    labels, paths, failures = [], [], []
    for path, label in entries:
        try:
            pixels = _load_image(image_module, folder / path, mode, channels, size)
        # Pillow's decoders raise many types for a bad file (OSError, SyntaxError, ValueError,
        # EOFError, struct.error, DecompressionBombError...): all mean "this file is unreadable".
        except Exception as error:  # noqa: BLE001
            failures.append((path, _why_unreadable(folder / path, error, size, image_module)[0]))
            continue
        images[len(paths)] = pixels
        labels.append(label)
        paths.append(path)
    if len(paths) < len(entries):
        images = images[:len(paths)].copy()  # don't keep the unused rows' memory alive
    return images, np.array(labels, dtype=np.int64), paths, failures


def _why_unreadable(path, error, size, image_module):
    """``(why, known)``: why the image file at ``path`` could not be read, in words, from the
    ``error`` its decoding raised. ``known`` where the words say what is wrong and what to do (a
    missing file, a link to nothing, an empty file, a picture too large, pixel values that need
    a guess); otherwise they are the error's type and message."""
    if isinstance(error, FileNotFoundError):
        if os.path.islink(path):
            return f"a link to {shown_path(os.readlink(path))}, which does not exist", True
        return "no such file", True
    if isinstance(error, image_module.DecompressionBombError):
        return (f"larger than Pillow decodes ({_one_line(error)}): downscale it (a few thousand "
                f"pixels a side is plenty: it is resized to {size[0]}×{size[1]})"), True
    if isinstance(error, PixelRangeError):
        return str(error), True
    try:
        if os.path.getsize(path) == 0:
            return "empty (0 bytes): copy the image again", True
    except OSError:
        pass
    if isinstance(error, image_module.UnidentifiedImageError):  # (its message: the stream's repr)
        return "UnidentifiedImageError: no image format Pillow knows", False
    return f"{type(error).__name__}: {_one_line(error)}", False


def _decode_splits(owner, root, splits, mode, channels, size, skip_unreadable, log):
    """Decode each split, ``(folder, entries, shown_in)``, into ``(images, labels, paths)``.
    Unreadable files are refused all together in one :class:`DataError`, or with
    ``skip_unreadable`` skipped with one ``log`` line; they are named relative to their folder,
    or under ``shown_in`` when it is given. Returns ``(decoded splits, skipped paths)``."""
    decoded, failures = [], []
    for folder, entries, shown_in in splits:
        images, labels, paths, failed = _read_images(folder, entries, mode, channels, size)
        decoded.append((images, labels, paths))
        failures += [(path if shown_in is None else (shown_in / path).as_posix(), why)
                     for path, why in failed]
    failures.sort(key=lambda failure: failure[0])
    skipped = [path for path, _ in failures]
    if failures:
        shown_root = shown_path(root)
        count = f"{len(failures)} unreadable image file{'s' if len(failures) > 1 else ''}"
        if not skip_unreadable:
            first_path, first_why = failures[0]
            # Skipping (or removing) them leaves a training class without images, which is
            # refused in turn: then only a repair helps, and the first refusal says so.
            # (A split of root is drawn again over the files read: its validation files count.)
            _, train_entries, _ = splits[0]
            read = {int(label) for (_, _, shown_in), (_, labels, _) in zip(splits, decoded)
                    if shown_in is None for label in labels}
            emptied = sorted({Path(path).parts[0] for path, label in train_entries
                              if label not in read})
            fix = (f"repair or replace them: the class folder(s) {', '.join(emptied)} would "
                   f"have no training image left without them" if emptied else
                   "remove or repair them, or pass skip_unreadable=True")
            raise DataError(f"{owner} {shown_root}: {count}: {_name_paths(skipped)} "
                            f"({shown_path(first_path)}: {first_why}); {fix}")
        if log is not None:
            log(say("skipped_one" if len(failures) == 1 else "skipped_many", owner=owner,
                    root=shown_root, count=number(len(failures)), paths=_name_paths(skipped)))
    return decoded, skipped


def read_image(path: PathLike, color_mode: str = "rgb", resize: Size = 224) -> np.ndarray:
    """One image file as uint8 ``(height, width, channels)``, read exactly as
    :class:`ImageFolder` reads each of its files (16-bit and float greyscale scaled, transparency
    over white, EXIF orientation applied, converted to ``color_mode`` and resized bilinearly to
    ``resize``): what a model trained on an ImageFolder expects of an image it classifies. A
    file Pillow cannot read raises :class:`DataError` in one line."""
    owner = "read_image"
    if color_mode not in COLOR_MODES:
        raise DataError(f"{owner}: color_mode must be \"rgb\" or \"grayscale\", got "
                        f"{color_mode!r}")
    mode, channels = COLOR_MODES[color_mode]
    size = check_resize(owner, resize)
    image_module = _pillow_image()
    path = user_path(path)
    if os.path.isdir(path):
        raise DataError(f"{shown_path(path)} is a directory, not an image file; name the image "
                        f"files themselves")
    try:
        return _load_image(image_module, path, mode, channels, size)
    except Exception as error:  # noqa: BLE001 (as in _read_images: any failure to decode)
        why, known = _why_unreadable(path, error, size, image_module)
        if known:
            raise DataError(f"{shown_path(path)}: {why}") from None
        raise DataError(f"{shown_path(path)} is not an image Pillow can read ({why}); pass "
                        f"PNG, JPEG or another of {' '.join(IMAGE_EXTENSIONS)}") from None


def _is_greyscale(image):
    """Whether a file opened by Pillow (its header read, nothing decoded) holds shades of grey:
    a greyscale mode, or a palette whose colours are all grey."""
    if image.mode in GREYSCALE_MODES:
        return True
    if image.mode in ("P", "PA"):
        palette = np.asarray(image.getpalette("RGB") or [], dtype=np.uint8).reshape(-1, 3)
        return bool((palette == palette[:, :1]).all())
    return False


def folder_color_mode(*folders: PathLike) -> str:
    """``"grayscale"`` when every image file under ``folders`` (folders of class subfolders) is
    greyscale, else ``"rgb"``: the ``color_mode`` that loses nothing. Reads only each file's
    header; a file Pillow cannot open is left for :class:`ImageFolder` to name."""
    image_module = _pillow_image()
    for folder in (Path(user_path(folder)) for folder in folders):
        for paths in _list_classes("ImageFolder", folder, "root")[1].values():
            for path in paths:
                try:
                    with image_module.open(folder / path) as image:
                        greyscale = _is_greyscale(image)
                except Exception:  # noqa: BLE001 (unreadable: ImageFolder refuses it by name)
                    continue
                if not greyscale:
                    return "rgb"
    return "grayscale"


def folder_images(root: PathLike, color_mode: str = "rgb", resize: Size = 224, *,
                  skip_unreadable: bool = False, log: Log | None = print,
                  owner: str = "ImageFolder",
                  ) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    """Every image of a folder of class subfolders, read as :class:`ImageFolder` reads them (a
    test set, all of it): ``(images uint8 (N, H, W, C), labels int64 (N,), classes, paths)``,
    paths relative to ``root``. Refuses what ImageFolder refuses, in one :class:`DataError`,
    except that a test set may hold one class, or class folders without images (some of a
    model's classes only: see :func:`folder_classes`)."""
    if color_mode not in COLOR_MODES:
        raise DataError(f"{owner}: color_mode must be \"rgb\" or \"grayscale\", got "
                        f"{color_mode!r}")
    mode, channels = COLOR_MODES[color_mode]
    size = check_resize(owner, resize)
    check_flag(owner, "skip_unreadable", skip_unreadable)
    log = log_or_none(owner, log)
    root = _folder_path(owner, root, "root")
    classes, files = _classes_and_files(owner, root, "root", test_set=True)
    entries = [(path, label) for label, name in enumerate(classes) for path in files[name]]
    ((images, labels, paths),), skipped = _decode_splits(
        owner, root, [(root, entries, None)], mode, channels, size, skip_unreadable, log)
    if not len(labels):
        raise DataError(f"{owner} {shown_path(root)}: no images left after skipping "
                        f"{len(skipped)} unreadable; add images to the class folders")
    return images, labels, classes, paths


def _name_paths(names):
    shown = ", ".join(shown_path(name) for name in names[:SHOWN_PATHS])
    return shown + (f" and {len(names) - SHOWN_PATHS} more" if len(names) > SHOWN_PATHS else "")


class ImageFolder(ArrayData):
    """A folder of class subfolders of image files, as an :class:`ArrayData`.

    The layout torchvision's ``ImageFolder`` and Keras' ``image_dataset_from_directory`` read:
    classes are the sorted names of ``root``'s subfolders (label i = the i-th name); each
    class's images are the files found under its folder, recursively, with the extensions in
    :data:`IMAGE_EXTENSIONS` (any case); linked folders are followed, each real folder read
    once. Hidden files and folders, other files, and files directly in ``root`` are ignored.

    Every image is decoded once with Pillow, converted to RGB (``color_mode="rgb"``) or
    greyscale (``"grayscale"``), resized bilinearly to ``resize`` (an int or ``(height,
    width)``) and held in memory as uint8: N×H×W×C bytes in all. For data larger than memory,
    use a framework loader through the book's ``train_dataloader()`` contract instead.

    Validation images come from ``val_root`` (a folder with the same class subfolders, their
    names compared Unicode-normalised, so a folder copied from macOS matches) or,
    without it, from a stratified split: in class i, a permutation from
    ``np.random.default_rng([seed, i])`` sends ``round(n * validation_split)`` of its n images
    to validation (at least one when n >= 2, and never all of them). ``validation_split`` is
    ignored when ``val_root`` is given.

    Files Pillow cannot read are refused all together in one :class:`DataError`, or, with
    ``skip_unreadable=True``, skipped with one ``log`` line naming them (``self.skipped`` lists
    them too). ``files(train)`` gives the relative path of each stored image, in order.
    ``augment=True`` flips, crops and (RGB) recolours the training images at random, anew in
    every epoch (:mod:`~d2l_alexnet.core.augment`): small folders overfit without it.
    """

    # Set by __init__: each stored image's path, relative to its folder (files(train)).
    train_files: list[str]
    val_files: list[str]

    def __init__(self, root: PathLike, batch_size: int = 32, resize: Size = 224, *,
                 val_root: PathLike | None = None, validation_split: float = VALIDATION_SPLIT,
                 seed: int = 0, color_mode: str = "rgb", skip_unreadable: bool = False,
                 augment: bool = False, log: Log | None = print) -> None:
        self.save_hyperparameters(ignore=["log"])
        owner = type(self).__name__
        log = log_or_none(owner, log)
        # The cheap checks first: a typo should not wait for thousands of images to decode.
        if color_mode not in COLOR_MODES:
            raise DataError(f"{owner}: color_mode must be \"rgb\" or \"grayscale\", got "
                            f"{color_mode!r}")
        mode, channels = COLOR_MODES[color_mode]
        check_batch_size(owner, batch_size)
        check_seed(owner, seed)
        size = check_resize(owner, resize)
        check_flag(owner, "skip_unreadable", skip_unreadable)
        check_flag(owner, "augment", augment)
        if (isinstance(validation_split, bool) or not isinstance(validation_split, numbers.Real)
                or not 0 <= validation_split < 1):
            raise DataError(f"{owner}: validation_split must be a number in [0, 1), got "
                            f"{validation_split!r}; e.g. 0.2 keeps a fifth of each class for "
                            f"validation")
        if val_root is None and validation_split == 0:
            raise DataError(f"{owner}: validation_split=0 and no val_root leaves no validation "
                            f"images; pass val_root=FOLDER or a validation_split above 0 "
                            f"(e.g. 0.2)")

        self.root = _folder_path(owner, root, "root")
        self.val_root = None if val_root is None else _folder_path(owner, val_root, "val_root")
        classes, files = _classes_and_files(owner, self.root, "root")
        if self.val_root is None:
            train_entries, val_entries = _stratified_split(classes, files, validation_split,
                                                           seed)
            val_folder = self.root
        else:
            val_classes, val_files = _list_classes(owner, self.val_root, "val_root")
            # Each class's validation images get root's label for it, whatever order the
            # val_root's own names sort in (an NFD "é" sorts before "f", an NFC one after).
            folder_of = _matching_classes(owner, self.root, self.val_root, classes, val_classes)
            val_files = {name: val_files[folder_of[name]] for name in classes}
            _refuse_empty_classes(owner, self.val_root, "val_root", classes, val_files)
            train_entries = [(path, label) for label, name in enumerate(classes)
                             for path in files[name]]
            val_entries = [(path, label) for label, name in enumerate(classes)
                           for path in val_files[name]]
            val_folder = self.val_root

        root = shown_path(self.root)  # in messages
        # Named relative to root; a separate val_root's files by their full path.
        ((train_images, train_labels, self.train_files),
         (val_images, val_labels, self.val_files)), self.skipped = _decode_splits(
            owner, self.root, [(self.root, train_entries, None),
                               (val_folder, val_entries, self.val_root)],
            mode, channels, size, skip_unreadable, log)
        if self.skipped and self.val_root is None:
            ((train_images, train_labels, self.train_files),
             (val_images, val_labels, self.val_files)) = _split_readable(
                classes, files, [(train_images, train_labels, self.train_files),
                                 (val_images, val_labels, self.val_files)],
                validation_split, seed)
        after_skipping = (f" after skipping {len(self.skipped)} unreadable" if self.skipped
                          else "")
        if not len(train_labels):
            raise DataError(f"{owner} {root}: no training images left{after_skipping}; "
                            f"add images to the class folders")
        bare = [name for label, name in enumerate(classes) if not (train_labels == label).any()]
        if bare:  # skipping emptied them: a class never seen would be trained on as absent
            raise DataError(f"{owner} {root}: no training images left in class folder(s) "
                            f"{', '.join(bare)}{after_skipping}; repair or replace their "
                            f"files")
        if not len(val_labels):
            raise DataError(f"{owner} {root}: no validation images left{after_skipping}; "
                            f"pass val_root=FOLDER, or add images (a class needs 2 to give one "
                            f"to validation)")

        self._set_arrays((train_images, train_labels), (val_images, val_labels),
                         layout="NHWC", classes=classes)
        if log is not None:
            log(say("image_folder", owner=owner, root=root, classes=len(classes),
                    train=number(len(train_labels)), val=number(len(val_labels)),
                    shape=f"{channels}×{size[0]}×{size[1]}",
                    memory=byte_size(train_images.nbytes + val_images.nbytes)))

    def files(self, train: bool) -> list[str]:
        """The path of each stored image of a split, in order: relative to ``root``, or to
        ``val_root`` for its validation images."""
        return list(self.train_files if train else self.val_files)
