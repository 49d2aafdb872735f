"""The first convolution's learned filters as one picture, the chapter's figure of what
AlexNet's first layer learns (numpy and matplotlib only: no framework).

The kernel is read in the canonical OIHW layout of the weights files (``conv1.weight``,
``(96, C, 11, 11)``). Each filter is stretched to its own range, so that a filter with small
weights is as visible as one with large weights: what the picture shows is the pattern each
filter responds to, not how strong it is. A greyscale network (``C = 1``) is drawn in grey, an
RGB one (``C = 3``) in colour.
"""

from __future__ import annotations

import math
import os

from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from .arrays import host_array
from .errors import D2LAlexNetError
from .files import atomic_write_bytes
from .progress import figure_png
from .types import Log, PathLike
from .weights import check_finite, read_tensors, save_safetensors

if TYPE_CHECKING:  # matplotlib is imported only where a figure is drawn
    from matplotlib.figure import Figure

KERNEL_NAME = "conv1.weight"
COLUMNS = 12  # 96 filters: 8 rows of 12


class FiltersError(D2LAlexNetError):
    """A kernel or weights file that cannot be drawn; the message says what to give instead."""


def check_kernel(kernel: ArrayLike, source: str = "the kernel") -> np.ndarray:
    """``kernel`` (numpy, or any framework's tensor: a model's own parameter) as float32 OIHW
    with 1 or 3 input channels and finite values, or a :class:`FiltersError`."""
    kernel = host_array(kernel).astype(np.float32, copy=False)
    if kernel.ndim != 4 or kernel.shape[1] not in (1, 3) or 0 in kernel.shape:
        raise FiltersError(f"{source} has shape {tuple(kernel.shape)}: a first-layer kernel is "
                           "(filters, 1 or 3 channels, height, width), as conv1.weight is")
    if not np.isfinite(kernel).all():  # it would be drawn as blank tiles, without a word
        raise FiltersError(f"{source} holds NaN or infinite values: training diverged; draw "
                           "the kernel of an earlier checkpoint")
    return kernel


def filter_mosaic(kernel: ArrayLike, columns: int = COLUMNS, gap: int = 1) -> np.ndarray:
    """One RGB image (values in [0, 1]) with the filters of an OIHW ``kernel`` in a grid,
    row by row, ``gap`` white pixels apart; each filter scaled to its own minimum and maximum
    (a constant filter is mid-grey)."""
    kernel = check_kernel(kernel)
    if isinstance(columns, bool) or not isinstance(columns, int) or columns < 1:
        raise FiltersError(f"columns must be a whole number of at least 1, got {columns!r}")
    count, channels, height, width = kernel.shape
    low = kernel.min(axis=(1, 2, 3), keepdims=True)
    span = kernel.max(axis=(1, 2, 3), keepdims=True) - low
    scaled = np.where(span > 0, (kernel - low) / np.where(span > 0, span, 1), 0.5)
    tiles = scaled.transpose(0, 2, 3, 1)  # (filters, height, width, channels)
    if channels == 1:
        tiles = np.repeat(tiles, 3, axis=3)  # grey: the same value in every colour
    columns = min(columns, count)
    rows = math.ceil(count / columns)
    mosaic = np.ones((rows * (height + gap) - gap, columns * (width + gap) - gap, 3),
                     dtype=np.float32)
    for index, tile in enumerate(tiles):
        row, column = divmod(index, columns)
        top, left = row * (height + gap), column * (width + gap)
        mosaic[top:top + height, left:left + width] = tile
    return mosaic


def draw_filters(kernel: ArrayLike, title: str | None = None, columns: int = COLUMNS) -> Figure:
    """A matplotlib figure of the filters of an OIHW ``kernel`` (see :func:`filter_mosaic`)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    mosaic = filter_mosaic(kernel, columns)
    scale = 0.055  # inches per pixel of the mosaic: an 11×11 filter about 0.6 inch wide
    figure = Figure(figsize=(mosaic.shape[1] * scale, mosaic.shape[0] * scale
                             + (0.35 if title else 0)))
    FigureCanvasAgg(figure)
    axes = figure.add_axes((0, 0, 1, 1 if not title else 1 - 0.35 / figure.get_figheight()))
    axes.imshow(mosaic, interpolation="nearest")
    axes.set_axis_off()
    if title:
        figure.suptitle(title, fontsize=10, y=1 - 0.05 / figure.get_figheight(), va="top")
    return figure


def read_kernel(path: PathLike, log: Log | None = None) -> np.ndarray:
    """The ``conv1.weight`` kernel of a safetensors file (a full weights file, a checkpoint,
    said through ``log``, or one kept with :func:`save_kernel`), checked by
    :func:`check_kernel`; NaN or infinite values are refused (``WeightsError``)."""
    return read_kernel_and_metadata(path, log)[0]


def read_kernel_and_metadata(path: PathLike,
                             log: Log | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """:func:`read_kernel` and the file's metadata, from one read of the file."""
    tensors, metadata = read_tensors(path, log)
    if KERNEL_NAME not in tensors:
        raise FiltersError(f"{path} holds no {KERNEL_NAME}: give a weights.safetensors that "
                           "training wrote, or a kernel file --save-kernel kept")
    check_finite(path, {KERNEL_NAME: tensors[KERNEL_NAME]})
    return check_kernel(tensors[KERNEL_NAME], f"{KERNEL_NAME} in {path}"), metadata


def kernel_change(kernel: ArrayLike, start: ArrayLike, source: str = "the start") -> np.ndarray:
    """What training added to a kernel: ``kernel - start``, both checked first kernels of one
    shape. A layer can learn a clear pattern that its random start still hides when the
    kernel itself is drawn (see the chapter's "What the first layer learned")."""
    kernel, start = check_kernel(kernel), check_kernel(start, source)
    if kernel.shape != start.shape:
        raise FiltersError(f"{source} has shape {tuple(start.shape)} and the kernel "
                           f"{tuple(kernel.shape)}: give the start of the same network")
    return kernel - start


def save_kernel(weights_path: PathLike, out_path: PathLike) -> np.ndarray:
    """Keep only the first layer's kernel of ``weights_path`` in a small safetensors file
    (the weights file's metadata comes along, with the file it was kept from)."""
    kernel, metadata = read_kernel_and_metadata(weights_path)
    write_kernel(out_path, kernel, metadata, weights_path)
    return kernel


def write_kernel(out_path: PathLike, kernel: np.ndarray, metadata: dict[str, Any],
                 weights_path: PathLike) -> None:
    """Write what :func:`read_kernel_and_metadata` read of ``weights_path`` as the small file
    :func:`save_kernel` keeps, without reading the weights again."""
    metadata = dict(metadata, kept_from=os.path.basename(os.fspath(weights_path)))
    save_safetensors(out_path, {KERNEL_NAME: kernel}, metadata)


def save_filters_png(kernel: ArrayLike, out_path: PathLike, title: str | None = None) -> None:
    """Draw ``kernel`` (see :func:`draw_filters`) into a PNG file, written atomically."""
    atomic_write_bytes(out_path, figure_png(draw_filters(kernel, title)))
