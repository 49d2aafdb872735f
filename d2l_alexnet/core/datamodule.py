"""Framework-free data modules (d2l, sec_oo-design and sec_fashion_mnist).

The core hands out uint8 batches as numpy arrays; each backend's ``FashionMNIST`` only turns a
batch into its framework's tensors and resizes it there (bilinear, pixels scaled to [0, 1]).
Examples, not batches, are reshuffled every epoch, and the order is a pure function of
``(seed, epoch)`` so a run can be repeated or resumed exactly.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from .architecture import as_size
from .arrays import host_array
from .augment import augment_batch
from .data import TEXT_LABELS, DataError, load_fashion_mnist
from .hyperparameters import HyperParameters
from .types import Log, PathLike, Size, is_flag, is_whole, log_or_none

if TYPE_CHECKING:  # matplotlib is imported only where a figure is drawn
    from matplotlib.figure import Figure

# A numpy batch: ``(images, labels)``.
Batch = tuple[np.ndarray, np.ndarray]

__all__ = ["DataModule", "BatchLoader", "InMemoryData", "SplitExamples", "FashionMNISTBase",
           "as_size", "epoch_order", "show_images"]


class DataModule(HyperParameters):
    """Base data module: ``train_dataloader()`` and ``val_dataloader()`` as in the book.

    A lesson's own module subclasses it and writes ``get_dataloader(train)``, returning anything
    that yields ``(X, y)`` batches; every backend's ``Trainer`` trains on it (the README's "The
    data contract").
    """

    # The book's defaults, for the modules here that take neither (Fashion-MNIST is found, not
    # downloaded to root, and read in memory): a lesson's get_dataloader written as the book's,
    # DataLoader(..., num_workers=self.num_workers), works on them as on the book's.
    root: PathLike = "../data"
    num_workers = 4

    def __init__(self, root: PathLike = "../data", num_workers: int = 4) -> None:
        self.save_hyperparameters()

    def get_dataloader(self, train: bool) -> Iterable[Any]:
        raise NotImplementedError

    def train_dataloader(self) -> Iterable[Any]:
        return self.get_dataloader(train=True)

    def val_dataloader(self) -> Iterable[Any]:
        return self.get_dataloader(train=False)


def check_seed(owner: str, seed: Any) -> int:
    """``seed`` as an int, or a one-line ``DataError``: numpy's seed sequences take whole
    numbers of at least 0 only (and said so at the first batch, in a traceback)."""
    if not is_whole(seed) or seed < 0:
        raise DataError(f"{owner}: seed must be a whole number of at least 0, got {seed!r}; "
                        f"pass e.g. seed=0")
    return int(seed)


def check_batch_size(owner: str, batch_size: Any) -> int:
    """``batch_size`` as an int, or a one-line ``DataError`` (``True`` would pass as 1)."""
    if not is_whole(batch_size) or batch_size < 1:
        raise DataError(f"{owner}: batch_size must be a whole number of at least 1, got "
                        f"{batch_size!r}; pass e.g. batch_size=64")
    return int(batch_size)


def check_resize(owner: str, resize: Any) -> tuple[int, int]:
    """``224`` or ``(224, 224)`` -> ``(224, 224)``, refusing anything else in one line."""
    try:
        height, width = as_size(resize)
    except ValueError:
        height = width = 0
    if height < 1 or width < 1:
        raise DataError(f"{owner}: resize must be a positive int or a (height, width) pair of "
                        f"them, got {resize!r}; pass e.g. resize=224 or resize=(224, 224)")
    return height, width


def check_flag(owner: str, name: str, value: Any) -> bool:
    """``value`` as a bool, or a one-line ``DataError``: a string such as ``"False"`` is true
    to Python, and would turn the flag on."""
    if not is_flag(value):
        raise DataError(f"{owner}: {name} must be True or False, got {value!r}")
    return bool(value)


def epoch_order(num_examples: int, seed: int, epoch: int) -> np.ndarray:
    """The training order of one epoch: a permutation of all examples from ``(seed, epoch)``."""
    return np.random.default_rng([seed, epoch]).permutation(num_examples)


class BatchLoader:
    """An iterable over one split with a length, like a framework's DataLoader.

    Each pass over a module's training loaders starts the next epoch's order (and augmentation),
    whether the same loader is iterated again or ``train_dataloader()`` makes a new one each
    epoch, as PyTorch's ``DataLoader(shuffle=True)`` reshuffles. :meth:`set_epoch` (called by
    the Trainer, as on a ``DistributedSampler``) names the epoch of the next pass instead, so
    that a resumed run draws what the straight one did.
    """

    def __init__(self, data: InMemoryData, train: bool,
                 convert: Callable[[np.ndarray, np.ndarray], Any]) -> None:
        self.data, self.train, self.convert = data, train, convert
        self.next_epoch: int | None = None  # set_epoch's; None: the module's next pass

    def set_epoch(self, epoch: int) -> None:
        """Make the next pass over a training loader epoch ``epoch``'s."""
        self.next_epoch = epoch

    def __len__(self) -> int:
        return self.data.num_batches(self.train)

    def __iter__(self) -> Iterator[Any]:
        epoch = 0
        if self.train:  # the module counts its passes: a new loader must not start again at 0
            epoch = (self.next_epoch if self.next_epoch is not None
                     else getattr(self.data, "train_passes", 0))
            self.next_epoch, self.data.train_passes = None, epoch + 1
        for images, labels in self.data.raw_batches(self.train, epoch=epoch):
            yield self.convert(images, labels)


class SplitExamples(Sequence[Any]):
    """One split of an in-memory module as the book's PyTorch and MXNet editions hold it (a
    torchvision or Gluon dataset): ``len()`` examples, each ``(image, label)``, the image as
    the split's loader gives it (the backend's tensor, resized, in its layout, without the batch
    axis) and the label an ``int``."""

    def __init__(self, data: InMemoryData, train: bool) -> None:
        self.data, self.train = data, train

    def __len__(self) -> int:
        return self.data.num_examples(self.train)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self[position] for position in range(len(self))[index]]
        position = range(len(self))[index]  # negative from the end; IndexError past it
        images, labels = (self.data.train_images, self.data.train_labels) if self.train else (
            self.data.val_images, self.data.val_labels)
        X, _ = self.data.convert_batch(images[position:position + 1],
                                       labels[position:position + 1])
        return X[0], int(labels[position])


class InMemoryData:
    """The position-aware interface of a module whose splits are numpy arrays in memory
    (``train_images``/``train_labels``, ``val_images``/``val_labels``; ``batch_size``, ``seed``,
    and ``augment``: whether training images are flipped, cropped and recoloured, see
    :mod:`~d2l_alexnet.core.augment`), and ``get_dataloader`` as a :class:`BatchLoader` through
    the backend's ``convert_batch``."""

    augment = False
    # What the module's __init__ sets.
    train_images: np.ndarray
    train_labels: np.ndarray
    val_images: np.ndarray
    val_labels: np.ndarray
    batch_size: int
    seed: int
    resize: tuple[int, int]  # (height, width) the backends resize each batch to

    def num_examples(self, train: bool) -> int:
        return len(self.train_labels if train else self.val_labels)

    def set_epoch(self, epoch: int) -> None:
        """Make the next pass over any of this module's training loaders epoch ``epoch``'s
        (the Trainer says so before each epoch; see :class:`BatchLoader`)."""
        self.train_passes = epoch

    def training_digest(self) -> str:
        """The SHA-256 of the training split's images and labels as stored, in order: what a
        resumed run checks it continues on (the count alone would pass another folder of as
        many images). Computed once per pair of arrays (Fashion-MNIST's take some 30 ms)."""
        cached = self.__dict__.get("_training_digest")
        if cached is None or cached[0] is not self.train_images or cached[1] is not \
                self.train_labels:
            digest = hashlib.sha256()
            for array in (self.train_images, self.train_labels):
                array = np.ascontiguousarray(array)
                digest.update(f"{array.dtype.str}{array.shape}".encode())
                digest.update(array.data)
            cached = (self.train_images, self.train_labels, digest.hexdigest())
            self.__dict__["_training_digest"] = cached
        return cached[2]

    def num_batches(self, train: bool) -> int:
        return -(-self.num_examples(train) // self.batch_size)

    def batch_indices(self, train: bool, epoch: int = 0, start_batch: int = 0,
                      ) -> Iterator[slice | np.ndarray]:
        """Which examples each batch of one pass holds, the one source of the order that
        :meth:`raw_batches` (on the host) and a Trainer keeping the data on the device both
        follow: training batches are int64 index arrays, each a run of :func:`epoch_order` of
        ``(seed, epoch)`` in ascending order; validation batches are ``slice``s, in order;
        ``start_batch`` skips that many (a resumed epoch); the last batch may be short."""
        total = self.num_examples(train)
        order = epoch_order(total, self.seed, epoch) if train else None
        for start in range(start_batch * self.batch_size, total, self.batch_size):
            if order is None:
                yield slice(start, min(start + self.batch_size, total))
            else:
                yield np.sort(order[start:start + self.batch_size])  # sorted: faster gather

    def raw_batches(self, train: bool, epoch: int = 0, start_batch: int = 0,
                    ) -> Iterator[Batch]:
        """Yield ``(images, labels int64 (B,))`` numpy batches, images as stored (``(B, H, W)``
        or ``(B, H, W, C)``, uint8 or float32 in [0, 1]), the examples of
        :meth:`batch_indices` (with ``augment``, each training image is changed as
        ``(seed, epoch, its index)`` draws); the last batch may be short."""
        images, labels = (self.train_images, self.train_labels) if train else (
            self.val_images, self.val_labels)
        for chosen in self.batch_indices(train, epoch, start_batch):
            if train and self.augment:
                indices = cast(np.ndarray, chosen)  # training batches are index arrays
                yield (augment_batch(images[indices], indices, len(labels), self.seed, epoch),
                       labels[indices])
            else:
                yield images[chosen], labels[chosen]

    def convert_batch(self, images: np.ndarray, labels: np.ndarray) -> Any:
        """Without a framework: float32 numpy images in [0, 1] (backends give tensors)."""
        scale = 255.0 if images.dtype == np.uint8 else 1.0
        return images.astype(np.float32) / scale, labels

    def get_dataloader(self, train: bool) -> BatchLoader:
        return BatchLoader(self, train, self.convert_batch)


class FashionMNISTBase(InMemoryData, DataModule):
    """Fashion-MNIST as uint8 numpy batches, with the book's arguments and a few of our own.

    ``data_dir``: use exactly this directory (see :func:`load_fashion_mnist` for the search order
    otherwise); ``limit_train``/``limit_val``: keep only the first N examples of each split;
    ``seed``: the shuffling seed; ``augment=True``: random flips and crops of the training
    images, new in every epoch (:mod:`~d2l_alexnet.core.augment`).
    """

    in_channels = 1  # greyscale
    num_classes = len(TEXT_LABELS)
    classes = TEXT_LABELS  # the label names, as ImageFolder's (and torchvision's)
    # How the book's edition for this framework holds data.train and data.val: "arrays",
    # Keras' (images, labels) pair of uint8 arrays (TensorFlow, JAX), or "examples", a
    # dataset of (image, label) examples (PyTorch, MXNet: SplitExamples).
    BOOK_SPLITS = "arrays"

    def __init__(self, batch_size: int = 64, resize: Size = (28, 28), *,
                 data_dir: PathLike | None = None, seed: int = 0,
                 limit_train: int | None = None, limit_val: int | None = None,
                 download: bool = True, augment: bool = False, log: Log | None = print,
                 ) -> None:
        self.save_hyperparameters(ignore=["log"])
        owner = type(self).__name__
        # Checked as ArrayData checks them, before the files are read: True passed as a batch
        # of 1, 8.0 failed in fit and 0 was taken until then.
        self.batch_size = check_batch_size(owner, batch_size)
        self.seed = check_seed(owner, seed)
        self.resize = check_resize(owner, resize)
        for name, limit in (("limit_train", limit_train), ("limit_val", limit_val)):
            if limit is not None and (not is_whole(limit) or limit < 1):
                raise DataError(f"{owner}: {name} must be None (all) or a whole number of at "
                                f"least 1, got {limit!r}; pass e.g. {name}=1000")
        self.augment = check_flag(owner, "augment", augment)
        check_flag(owner, "download", download)
        arrays = load_fashion_mnist(data_dir, download=download,
                                    log=log_or_none(owner, log))
        self.source, self.is_subset = arrays.source, arrays.is_subset
        self.download_seconds = arrays.download_seconds  # 0 unless this call fetched the files
        self.train_images = arrays.train_images[:limit_train]
        self.train_labels = arrays.train_labels[:limit_train]
        self.val_images = arrays.val_images[:limit_val]
        self.val_labels = arrays.val_labels[:limit_val]

    @property
    def train(self) -> Any:
        """The training split as the book's ``data.train`` (see :attr:`BOOK_SPLITS`)."""
        return self.book_split(train=True)

    @property
    def val(self) -> Any:
        """The validation split as the book's ``data.val`` (see :attr:`BOOK_SPLITS`)."""
        return self.book_split(train=False)

    def book_split(self, train: bool) -> Any:
        if self.BOOK_SPLITS == "examples":
            return SplitExamples(self, train)
        return (self.train_images, self.train_labels) if train else (self.val_images,
                                                                      self.val_labels)

    def text_labels(self, indices: Iterable[int]) -> list[str]:
        """Class names of label indices (the book's ``text_labels``)."""
        # host_array: a framework tensor of labels (MXNet's NDArray yields NDArrays, not ints)
        indices = host_array(indices).reshape(-1)
        outside = [int(index) for index in indices if not 0 <= int(index) < len(TEXT_LABELS)]
        if outside:  # -1 would name the last class, and 11 raise a bare IndexError
            raise IndexError(f"label {outside[0]} names no class: Fashion-MNIST's are 0 to "
                             f"{len(TEXT_LABELS) - 1}")
        return [TEXT_LABELS[int(index)] for index in indices]

    def visualize(self, batch: tuple[Any, Any], nrows: int = 1, ncols: int = 8,
                  labels: Iterable[str] = ()) -> None:
        """Show a batch of images with their labels as a grid (inline in a notebook). Like the
        book's, it returns nothing: a figure returned as a cell's last value is shown twice
        (``show_images`` returns it, to be saved)."""
        images, classes = batch
        images = host_array(images).astype(np.float32)
        if images.ndim == 4:  # (B, 1, H, W) or (B, H, W, 1): drop the channel axis
            images = images.squeeze(1) if images.shape[1] == 1 else images.squeeze(-1)
        titles = list(labels) or self.text_labels(classes)
        show_images(images[:nrows * ncols], nrows, ncols, titles=titles)


def show_images(images: Iterable[Any], num_rows: int, num_cols: int,
                titles: Sequence[str] | None = None, scale: float = 1.5) -> Figure:
    """A grid of greyscale images (the book's ``show_images``); displayed inline in notebooks."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from .progress import show_figure

    figure = Figure(figsize=(num_cols * scale, num_rows * scale + 0.3))
    FigureCanvasAgg(figure)
    for index, image in enumerate(images):
        axes = figure.add_subplot(num_rows, num_cols, index + 1)
        axes.imshow(np.asarray(image), cmap="gray")
        axes.set_axis_off()
        if titles is not None and index < len(titles):
            axes.set_title(titles[index], fontsize=8)
    figure.tight_layout()
    show_figure(figure)
    return figure
