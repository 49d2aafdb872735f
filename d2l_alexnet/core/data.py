"""Fashion-MNIST loading, framework-free (numpy; downloads by pooch).

This is the data half of d2l's "Image Classification Dataset" section
(``sec_fashion_mnist``), which the AlexNet chapter reuses: the book calls
``d2l.FashionMNIST(batch_size=128, resize=(224, 224))``.  The four backends
wrap the arrays returned here in their own input pipelines; this module only
finds, verifies and decodes the files.

Where the data comes from, in order (see :func:`load_fashion_mnist`):

1. an explicit directory (``data_dir`` / ``--data-dir`` / ``D2L_ALEXNET_DATA``),
   used or refused, never skipped;
2. the user cache (``$XDG_CACHE_HOME/d2l_alexnet/fashion-mnist``);
3. system copies (``/usr/share/datasets/fashion-mnist``, Debian's
   ``dataset-fashion-mnist`` package);
4. a download into the user cache from the official mirrors;
5. the small class-balanced subset shipped inside this package, announced
   with one log line, never silently.

Integrity is checked on the SHA-256 of the *decompressed* IDX payload, so any
gzip recompression of the official archives (Debian ships recompressed ones)
is accepted, while truncated or altered data is not.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import os
import socket
import sys
import time
import zlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Collection, Iterable, Sequence

import numpy as np

from .errors import D2LAlexNetError
from .language import number, say
from .types import PathLike, log_or_none

__all__ = [
    "DataError",
    "TEXT_LABELS",
    "read_idx",
    "FashionMNISTArrays",
    "load_fashion_mnist",
    "load_embedded_subset",
    "describe_sources",
    "clear_cache",
]


class DataError(D2LAlexNetError):
    """The data could not be found, read or verified.

    The message names the file or place and says how to fix it; the CLI maps
    this exception to exit status 2.
    """


# The book's ``FashionMNIST.text_labels`` (sec_fashion_mnist), label 0..9.
TEXT_LABELS = (
    "t-shirt", "trouser", "pullover", "dress", "coat",
    "sandal", "shirt", "sneaker", "bag", "ankle boot",
)

# Official file names (without ``.gz``) for each array, in the book's roles:
# the t10k files are what the book calls the validation set.
FILE_NAMES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "val_images": "t10k-images-idx3-ubyte",
    "val_labels": "t10k-labels-idx1-ubyte",
}
SPLITS = ("train", "val")  # the prefixes of FILE_NAMES' keys

# SHA-256 and length of each *decompressed* IDX file of the full set (header
# included).  Read at call time, so tests can swap in a small fake "full" set.
FULL_SET_HASHES = {
    "train-images-idx3-ubyte": (
        "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888", 47040016),
    "train-labels-idx1-ubyte": (
        "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9", 60008),
    "t10k-images-idx3-ubyte": (
        "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b", 7840016),
    "t10k-labels-idx1-ubyte": (
        "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34", 10008),
}

DEFAULT_MIRRORS = (
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/",
)
DEFAULT_SYSTEM_DIRS = ("/usr/share/datasets/fashion-mnist",)

# The embedded subset; module-level so tests can point it elsewhere.
SUBSET_DIR = Path(__file__).resolve().parent.parent / "data" / "fashion_mnist_subset"
SUBSET_MANIFEST = "manifest.json"

ENV_DATA_DIR = "D2L_ALEXNET_DATA"
ENV_MIRRORS = "D2L_ALEXNET_MIRRORS"

# Said wherever the user is told how to get the full set.
# (In English, as every error says it; the notice of the subset says it in the run's language.)
HOW_TO_GET = say("how_to_get", "en", variable=ENV_DATA_DIR)

_IDX_DTYPE_CODES = {0x08: "uint8", 0x09: "int8", 0x0B: "int16",
                    0x0C: "int32", 0x0D: "float32", 0x0E: "float64"}
_GZIP_MAGIC = b"\x1f\x8b"


# ---------------------------------------------------------------------------
# IDX files
# ---------------------------------------------------------------------------

def _gunzip(data: bytes, path, limit: int | None = None) -> bytes:
    """Decompress all gzip members of ``data``, refusing truncation.

    With ``limit``, refuse to produce more than ``limit`` bytes: a bad mirror
    could otherwise send a small file that inflates to gigabytes.
    """
    # zlib directly (not the gzip module): one pass, and zlib itself checks
    # each member's CRC-32 and length, so corruption cannot slip through.
    out, total = [], 0
    view = memoryview(data)
    while True:
        d = zlib.decompressobj(wbits=31)
        try:
            if limit is None:
                chunk = d.decompress(view)
            else:
                chunk = d.decompress(view, limit + 1 - total)
        except zlib.error as e:
            raise DataError(f"{path}: not a valid gzip file ({e}); "
                            "replace or delete it") from None
        total += len(chunk)
        out.append(chunk)
        if limit is not None and total > limit:
            raise DataError(f"{path}: decompresses to more than the expected "
                            f"{limit} bytes; replace or delete it")
        if not d.eof:
            raise DataError(f"{path}: gzip data is truncated; "
                            "replace or delete it")
        rest = d.unused_data
        # Trailing zero padding is tolerated, as by the gzip module.
        if not rest.strip(b"\0"):
            return b"".join(out)
        if rest[:2] != _GZIP_MAGIC:
            raise DataError(f"{path}: {len(rest)} bytes of trailing garbage after "
                            "the gzip data; replace or delete it")
        view = memoryview(rest)


def _read_payload(path: Path, label=None, limit: int | None = None) -> bytes:
    """The decompressed bytes of an IDX file, gzipped or raw.

    ``label`` names the file in messages (default: its path); ``limit`` caps
    the decompressed size.
    """
    label = path if label is None else label
    try:
        data = path.read_bytes()
    except OSError as e:
        raise DataError(f"{label}: cannot read ({e.strerror or e})") from None
    # Sniff the content rather than trust the suffix: IDX starts with two zero
    # bytes, gzip with 1f 8b, so the two can never be confused.
    if data[:2] == _GZIP_MAGIC:
        return _gunzip(data, label, limit)
    return data


def _parse_idx(payload: bytes, path) -> np.ndarray:
    """Decode an IDX payload into a read-only uint8 array (no copy)."""
    if len(payload) < 4:
        raise DataError(f"{path}: file too short for an IDX header "
                        f"({len(payload)} bytes); replace or delete it")
    if payload[0] != 0 or payload[1] != 0:
        raise DataError(f"{path}: bad magic number {payload[:4].hex()} "
                        "(not an IDX file); replace or delete it")
    code, ndim = payload[2], payload[3]
    if code != 0x08:
        name = _IDX_DTYPE_CODES.get(code, f"unknown code 0x{code:02x}")
        raise DataError(f"{path}: IDX dtype {name} not supported (only uint8, "
                        "as in Fashion-MNIST)")
    if ndim == 0:
        raise DataError(f"{path}: IDX header declares 0 dimensions")
    header = 4 + 4 * ndim
    if len(payload) < header:
        raise DataError(f"{path}: truncated IDX header; replace or delete it")
    dims = tuple(int.from_bytes(payload[4 + 4 * i: 8 + 4 * i], "big")
                 for i in range(ndim))
    count = 1
    for n in dims:
        count *= n
    expected = header + count
    if len(payload) < expected:
        raise DataError(f"{path}: truncated: header {dims} needs {expected} bytes, "
                        f"file has {len(payload)}; replace or delete it")
    if len(payload) > expected:
        raise DataError(f"{path}: {len(payload) - expected} unexpected bytes after "
                        f"the {dims} data; replace or delete it")
    return np.frombuffer(payload, dtype=np.uint8, count=count,
                         offset=header).reshape(dims)


def read_idx(path: PathLike) -> np.ndarray:
    """Read an IDX file (gzipped or raw) into a uint8 array shaped as its header.

    The format is the one the book's ``FashionMNIST`` reads through the
    framework loaders (sec_fashion_mnist).  The magic number, dtype code
    (uint8 only), dimensions and exact payload length are checked; any problem
    raises :class:`DataError` naming the file.
    """
    path = Path(path)
    return _parse_idx(_read_payload(path), path).copy()


# ---------------------------------------------------------------------------
# Verified loading of one directory
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class FashionMNISTArrays:
    """Fashion-MNIST as numpy arrays, before any framework sees it.

    Images are ``(N, 28, 28)`` uint8, labels ``(N,)`` int64 in ``0..9``
    (names in :data:`TEXT_LABELS`).  ``val_*`` is the official t10k split,
    the book's validation set.  ``source`` says where the data came from;
    ``is_subset`` is true for the small embedded subset; ``download_seconds`` is the time
    this call spent downloading (0 when nothing was fetched).
    """

    train_images: np.ndarray
    train_labels: np.ndarray
    val_images: np.ndarray
    val_labels: np.ndarray
    source: str
    is_subset: bool
    download_seconds: float = 0.0


# Verified arrays keyed by (resolved path, mtime, size, expected hash): a
# second load in the same process skips the read, gunzip and hash.
_CACHE: dict = {}


def clear_cache() -> None:
    """Forget the in-process cache of verified files."""
    _CACHE.clear()


def _cache_key(path: Path, sha256: str) -> tuple:
    try:
        st = path.stat()
        return (str(path.resolve()), st.st_mtime_ns, st.st_size, sha256)
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror or e})") from None


def _load_verified(path: Path, sha256: str, size: int | None = None,
                   label=None) -> np.ndarray:
    """Read ``path`` once, check its decompressed SHA-256, return a read-only array."""
    key = _cache_key(path, sha256)
    if key in _CACHE:
        return _CACHE[key]
    payload = _read_payload(path, label, limit=size)
    path = path if label is None else label
    if size is not None and len(payload) != size:
        raise DataError(f"{path}: decompressed size {len(payload)} bytes, expected "
                        f"{size}; the file is incomplete or not the official one; "
                        "replace or delete it")
    digest = hashlib.sha256(payload).hexdigest()
    if digest != sha256:
        raise DataError(f"{path}: SHA-256 of the decompressed data is {digest[:16]}..., "
                        f"expected {sha256[:16]}...; the file is corrupt or not the "
                        "official one; replace or delete it")
    array = _parse_idx(payload, path)
    _CACHE[key] = array
    return array


def _find_file(directory: Path, name: str) -> Path | None:
    # The gzipped name first: it is what the mirrors, Debian and Keras ship.
    for candidate in (directory / (name + ".gz"), directory / name):
        if candidate.is_file():
            return candidate
    return None


def _assemble(arrays: dict, where: str, source: str, is_subset: bool) -> FashionMNISTArrays:
    """Cross-check the four arrays and return copies the caller may modify."""
    for split in ("train", "val"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.ndim != 3 or images.shape[1:] != (28, 28):
            raise DataError(f"{where}: {split} images have shape {images.shape}, "
                            "expected (N, 28, 28)")
        if labels.ndim != 1 or len(labels) != len(images):
            raise DataError(f"{where}: {len(images)} {split} images but labels of "
                            f"shape {labels.shape}")
        if len(labels) and int(labels.max()) >= len(TEXT_LABELS):
            raise DataError(f"{where}: {split} label {int(labels.max())} out of range 0..9")
    # Copies: the cached arrays stay read-only and shared, the returned ones
    # are writable so frameworks (torch.from_numpy) take them without warnings.
    return FashionMNISTArrays(
        train_images=arrays["train_images"].copy(),
        train_labels=arrays["train_labels"].astype(np.int64),
        val_images=arrays["val_images"].copy(),
        val_labels=arrays["val_labels"].astype(np.int64),
        source=source,
        is_subset=is_subset,
    )


def _split_files(splits: Collection[str]) -> dict[str, str]:
    """The entries of :data:`FILE_NAMES` that hold ``splits`` (``("val",)``: the two t10k
    files), in its order."""
    return {key: name for key, name in FILE_NAMES.items() if key.split("_")[0] in splits}


def _load_full_dir(directory: Path, where: str,
                   splits: Collection[str] = SPLITS) -> FashionMNISTArrays | None:
    """Load the full set's ``splits`` from ``directory`` (a split left out is empty).

    Returns None when none of the four files is there; raises DataError when
    a file of ``splits`` is missing or any is corrupt.
    """
    table = FULL_SET_HASHES
    found = {key: _find_file(directory, name) for key, name in FILE_NAMES.items()}
    if not any(found.values()):
        return None
    wanted = {key: found[key] for key in _split_files(splits)}
    missing = [str(directory / FILE_NAMES[k]) + "[.gz]"
               for k, p in wanted.items() if p is None]
    if missing:
        raise DataError(f"{where} {directory} is incomplete: missing "
                        f"{', '.join(missing)}")
    arrays = {key: np.zeros((0, 28, 28) if key.endswith("images") else (0,), np.uint8)
              for key in FILE_NAMES}
    for key, path in wanted.items():
        sha, size = table[FILE_NAMES[key]]
        try:
            # (no path is None: a missing file was refused above)
            arrays[key] = _load_verified(path, sha, size)  # type: ignore[arg-type]
        except DataError as e:
            raise DataError(f"{where}: {e}") from None
    return _assemble(arrays, f"{where} {directory}", str(directory), is_subset=False)


# ---------------------------------------------------------------------------
# Embedded subset
# ---------------------------------------------------------------------------

def load_embedded_subset() -> FashionMNISTArrays:
    """The small class-balanced Fashion-MNIST subset shipped with the package.

    Built by ``tools/make_subset.py`` from the official files (first images of
    each class, in file order); checked against its own ``manifest.json``.
    Handy for fast tests; :func:`load_fashion_mnist` falls back to it.
    """
    directory = Path(SUBSET_DIR)
    manifest_path = directory / SUBSET_MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        files = manifest["files"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise DataError(f"embedded subset {manifest_path}: missing or unreadable "
                        f"manifest ({e}); reinstall d2l_alexnet or regenerate it "
                        "with tools/make_subset.py") from None
    arrays = {}
    for key, name in FILE_NAMES.items():
        path = _find_file(directory, name)
        if path is None:
            raise DataError(f"embedded subset {directory}: missing {name}.gz; "
                            "reinstall d2l_alexnet or regenerate it with "
                            "tools/make_subset.py")
        try:
            sha = files[name]["sha256"]
        except (KeyError, TypeError):
            raise DataError(f"embedded subset {manifest_path}: no sha256 for "
                            f"{name}; regenerate it with tools/make_subset.py") from None
        arrays[key] = _load_verified(path, sha)
    return _assemble(arrays, f"embedded subset {directory}", "embedded subset",
                     is_subset=True)


# ---------------------------------------------------------------------------
# Download
# ---------------------------------------------------------------------------

class _Permanent(Exception):
    """A download failure another attempt on the same mirror would repeat (a 404, a name that
    does not resolve): raised past pooch's retries."""


class _VerifyingDownloader:
    """pooch's :class:`~pooch.HTTPDownloader` (requests, with ``timeout``), then the check of
    the decompressed content on pooch's temporary file: pooch moves only a verified file into
    place and removes the temporary one on any failure, Ctrl-C included."""

    def __init__(self, name: str, timeout: float, progressbar: bool):
        import pooch

        self.name, self.array, self.temporary_key = name, None, None
        self.http = pooch.HTTPDownloader(timeout=timeout, progressbar=progressbar)

    def __call__(self, url, output_file, fetcher):
        import requests

        try:
            self.http(url, output_file, fetcher)
        except requests.HTTPError as e:
            status = e.response.status_code if e.response is not None else 0
            if status < 500 and status != 429:  # 404 and the like
                raise _Permanent(f"HTTP {status} {e.response.reason}") from None
            raise
        except requests.ConnectionError as e:
            if _host_unknown(e):  # offline, say: retrying will not help
                raise _Permanent(f"cannot resolve the host of {url}") from None
            raise
        sha, size = FULL_SET_HASHES[self.name]
        # A DataError is not one of the errors pooch retries: wrong content stays wrong.
        self.array = _load_verified(Path(output_file), sha, size, label="downloaded data")
        self.temporary_key = _cache_key(Path(output_file), sha)


def _host_unknown(error: BaseException) -> bool:
    """Whether a requests error comes from a failed name lookup (urllib3 keeps the
    ``socket.gaierror`` as the cause of its ``reason``)."""
    reason = getattr(error.args[0], "reason", None) if error.args else None
    seen = 0
    while reason is not None and seen < 8:
        if isinstance(reason, socket.gaierror):
            return True
        reason, seen = reason.__cause__ or reason.__context__, seen + 1
    return False


def _download_one(name: str, cache: Path, mirrors: list, dead: set, *,
                  timeout: float, retries: int, log) -> Path | None:
    """Download ``name`` into ``cache`` from the first mirror that works, else None."""
    # pooch (and requests under it) only when a file must be downloaded: importing them would
    # slow every run, notebook and lesson down, and most find their data on disk.
    import pooch
    import requests

    for base in mirrors:
        if base in dead:
            continue
        url = base.rstrip("/") + "/" + name + ".gz"
        downloader = _VerifyingDownloader(name, timeout, progressbar=_stderr_is_a_terminal())
        fetcher = pooch.create(path=cache, base_url=base.rstrip("/") + "/",
                               registry={name + ".gz": None},
                               retry_if_failed=max(1, retries) - 1)
        log(say("downloading", url=url))
        # pooch logs each download at INFO on its own handler: said once here, in our log.
        pooch_log = pooch.get_logger()
        level = pooch_log.level
        pooch_log.setLevel(logging.WARNING)
        try:
            final = Path(fetcher.fetch(name + ".gz", downloader=downloader))
        except DataError as e:
            log(f"Warning: rejected {url}: {e}")
        except _Permanent as e:
            log(f"Warning: {url}: {e}")
        except (requests.RequestException, ValueError, OSError) as e:
            log(f"Warning: {url}: {_why(e)} (after {max(1, retries)} attempt(s))")
        else:
            # The verified array, under the final name: the load that follows neither reads
            # the file again nor keeps a second copy. A stale other spelling is dropped.
            _CACHE[_cache_key(final, FULL_SET_HASHES[name][0])] = downloader.array
            if (cache / name).exists():
                (cache / name).unlink()
            return final
        finally:
            pooch_log.setLevel(level)
            _CACHE.pop(downloader.temporary_key, None)  # that file was moved or removed
        # One failed mirror is skipped for the remaining files: offline, this keeps the
        # fallback to the subset quick.
        dead.add(base)
    return None


def _why(error: BaseException) -> str:
    """A requests error in a few words: its message, or the reason urllib3 gave up."""
    first = error.args[0] if error.args else error
    return str(getattr(first, "reason", first))


def _stderr_is_a_terminal() -> bool:
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty and isatty())


def _resolve_mirrors(mirrors) -> list:
    if mirrors is None:
        env = os.environ.get(ENV_MIRRORS, "").split()
        mirrors = env or DEFAULT_MIRRORS
    elif isinstance(mirrors, str):
        mirrors = mirrors.split()
    return list(mirrors)


# ---------------------------------------------------------------------------
# The loader
# ---------------------------------------------------------------------------

# Why a place under ``~`` is not there: pathlib's RuntimeError, which says only that it failed.
NO_HOME = "no home folder (HOME is not set and this user has no passwd entry)"


def _explicit_dir(data_dir) -> tuple[Path | None, str]:
    if data_dir is not None and str(data_dir) != "":
        directory, origin = data_dir, "data directory (data_dir / --data-dir)"
    elif os.environ.get(ENV_DATA_DIR, ""):
        directory, origin = os.environ[ENV_DATA_DIR], f"data directory ({ENV_DATA_DIR})"
    else:
        return None, ""
    try:
        return Path(directory).expanduser(), origin
    except RuntimeError:
        raise DataError(f"{origin} {directory}: cannot expand ~, {NO_HOME}: give the full "
                        "path") from None


def _cache_dir(cache_dir) -> Path | None:
    """The user cache; ``None`` where it would be under a home folder that cannot be found
    (a container's UID without a passwd entry, ``HOME`` unset): skipped, not fatal."""
    try:
        if cache_dir is not None:
            return Path(cache_dir).expanduser()
        xdg = os.environ.get("XDG_CACHE_HOME", "")
        # The XDG spec says to ignore relative values.
        base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    except RuntimeError:
        return None
    return base / "d2l_alexnet" / "fashion-mnist"


def describe_sources(data_dir: PathLike | None = None, *, download: bool = True,
                     mirrors: Sequence[str] | str | None = None,
                     cache_dir: PathLike | None = None,
                     system_dirs: Iterable[PathLike] | None = None) -> list[str]:
    """The places :func:`load_fashion_mnist` would look, in order, as text."""
    explicit, origin = _explicit_dir(data_dir)
    if explicit is not None:
        return [f"{origin}: {explicit}"]
    places = [f"user cache: {_cache_dir(cache_dir) or 'none, ' + NO_HOME}"]
    dirs = DEFAULT_SYSTEM_DIRS if system_dirs is None else system_dirs
    places += [f"system copy: {d}" for d in dirs]
    if download:
        places.append("download from: " + (", ".join(_resolve_mirrors(mirrors))
                                           or "(no mirrors)"))
    else:
        places.append("download: disabled")
    places.append(f"embedded subset: {SUBSET_DIR}")
    return places


def _load_explicit_dir(directory: Path, origin: str, splits: tuple[str, ...],
                       ) -> FashionMNISTArrays:
    """The arrays in the directory the user named, or a :class:`DataError` whose fix works
    there: a file deleted from it is not fetched again, as from the cache, and the library's
    own search (the system's copy, the cache, a download) runs only without it."""
    without = (f"unset {ENV_DATA_DIR}" if ENV_DATA_DIR in origin
               else "leave out --data-dir (data_dir= in Python)")
    search = (f"or {without} and the library finds them itself (Debian's "
              "dataset-fashion-mnist, its cache, a download)")
    if not directory.is_dir():
        raise DataError(f"{origin} {directory} does not exist or is not a directory: name the "
                        f"directory that holds the four official files, .gz or not, {search}")
    try:
        result = _load_full_dir(directory, origin, splits)
        if result is None:
            # The layout torchvision (and so the book's PyTorch code) leaves behind.
            nested = directory / "FashionMNIST" / "raw"
            if nested.is_dir():
                result = _load_full_dir(nested, origin, splits)
    except DataError as error:
        message = str(error).replace("; replace or delete it", "")
        raise DataError(f"{message}: put a good copy there, {search}") from None
    if result is None:
        names = ", ".join(name + "[.gz]" for name in _split_files(splits).values())
        raise DataError(f"{origin} {directory}: none of the Fashion-MNIST files found "
                        f"(expected {names}): put them there, .gz or not, {search}"
                        f"{_own_images_hint(directory)}")
    return result


def _own_images_hint(directory: Path) -> str:
    """Where ``directory`` looks like a folder of one's own images (class subfolders holding
    image files), the words that say where such a folder goes; else nothing."""
    from .images import IMAGE_EXTENSIONS  # (images imports this module)

    try:
        subfolders = [entry for entry in os.scandir(directory)
                      if entry.is_dir() and not entry.name.startswith(".")]
        holds_images = any(os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS
                           for folder in subfolders[:100] for name in os.listdir(folder))
    except OSError:
        return ""
    if not holds_images:
        return ""
    return (f". {directory} holds class folders of images: for your own images, pass it as "
            f"--image-folder (ImageFolder in Python)")


def load_fashion_mnist(data_dir: PathLike | None = None, *, download: bool = True,
                       mirrors: Sequence[str] | str | None = None,
                       cache_dir: PathLike | None = None, system_dirs: Iterable | None = None,
                       timeout: float = 30, retries: int = 3,
                       log: Callable[[str], object] | None = print,
                       splits: Collection[str] = SPLITS) -> FashionMNISTArrays:
    """Load Fashion-MNIST (d2l "Image Classification Dataset", sec_fashion_mnist).

    Sources, first that works wins:

    1. ``data_dir``, else ``$D2L_ALEXNET_DATA``: used or refused -- a missing
       or corrupt file there raises :class:`DataError` naming it.
    2. the user cache ``cache_dir``, else ``$XDG_CACHE_HOME/d2l_alexnet/fashion-mnist``
       (default ``~/.cache/d2l_alexnet/fashion-mnist``);
    3. ``system_dirs``, else ``/usr/share/datasets/fashion-mnist``;
    4. if ``download``: each missing file fetched into the user cache from
       ``mirrors`` (else ``$D2L_ALEXNET_MIRRORS``, whitespace-separated, else
       the official mirrors) by pooch, ``retries`` attempts per mirror with
       ``timeout`` seconds per request (pooch waits 1 s, 2 s, ... between them;
       a 404 or an unknown host is not retried);
    5. the embedded subset, announced by one ``log`` line.

    A directory in 2-3 without the files is skipped quietly; one with
    incomplete or corrupt files is skipped with a ``log`` warning naming the
    file.  Each directory needs the four official file names, ``.gz`` or not;
    with ``splits=("val",)`` only the two ``t10k`` ones, and the training arrays
    come back empty (what ``evaluate`` needs of a copy of the test files alone).
    ``log=None`` silences the messages.  If nothing works (even the embedded
    subset is damaged), :class:`DataError` lists every place looked.
    """
    log = log_or_none("load_fashion_mnist", log)
    if log is None:  # `log or ...` would drop an empty list-like logger
        log = lambda message: None  # noqa: E731
    splits = tuple(splits)
    if not splits or not set(splits) <= set(SPLITS):
        raise ValueError(f"splits must name some of {SPLITS}, got {splits!r}")
    explicit, origin = _explicit_dir(data_dir)
    if explicit is not None:
        # Used or refused: a user who names a directory must not silently get
        # other data.
        return _load_explicit_dir(explicit, origin, splits)

    looked = []  # "place: outcome", for the final error message

    def try_dir(directory: Path, where: str) -> FashionMNISTArrays | None:
        try:
            result = _load_full_dir(directory, where, splits)
        except DataError as e:
            log(f"Warning: skipping {e}")  # names the file; then the next source
            looked.append(str(e))
            return None
        if result is None:
            looked.append(f"{where} {directory}: no files")
        return result

    cache = _cache_dir(cache_dir)
    if cache is None:
        looked.append(f"user cache: none, {NO_HOME}")
    else:
        result = try_dir(cache, "user cache")
        if result is not None:
            return result

    for directory in DEFAULT_SYSTEM_DIRS if system_dirs is None else system_dirs:
        try:
            expanded = Path(directory).expanduser()
        except RuntimeError:
            looked.append(f"system copy {directory}: cannot expand ~, {NO_HOME}")
            continue
        result = try_dir(expanded, "system copy")
        if result is not None:
            return result

    if download:
        urls = _resolve_mirrors(mirrors)
        download_started = time.perf_counter()
        failed: str | None
        if cache is None:  # nowhere to keep the files: the subset rather than a failure
            failed = (f"no user cache to download into, {NO_HOME}: set HOME or "
                      "XDG_CACHE_HOME, or pass cache_dir")
            log(f"Warning: not downloading Fashion-MNIST: {failed}")
        else:
            failed = _download_missing(cache, urls, splits, timeout=timeout, retries=retries,
                                       log=log)
        if failed is None and cache is not None:
            result = try_dir(cache, "user cache")
            if result is not None:
                log(say("downloaded", cache=cache))
                return replace(result, download_seconds=time.perf_counter() - download_started)
        else:
            looked.append(f"download from {', '.join(urls) or '(no mirrors)'}: {failed}")
    else:
        looked.append("download: disabled")

    try:
        subset = load_embedded_subset()
    except DataError as e:
        looked.append(str(e))
        places = " ".join(f"({i}) {place}" for i, place in enumerate(looked, 1))
        raise DataError(f"Fashion-MNIST not found. Looked in: {places}. "
                        f"{HOW_TO_GET}.") from None
    n_train, n_val = len(subset.train_labels), len(subset.val_labels)
    log(say("subset_notice", total=number(n_train + n_val), train=number(n_train),
            val=number(n_val), how=say("how_to_get", variable=ENV_DATA_DIR)))
    return subset


def _download_missing(cache: Path, urls: list, splits: Collection[str], *, timeout, retries,
                      log) -> str | None:
    """Fetch each file of ``splits`` the cache lacks (or holds corrupt): ``evaluate`` needs the
    two t10k files alone, a tenth of the bytes, and a mirror or a network that fails on the
    training images must not cost it the full test set. None on success, else why not."""
    if not urls:
        return "no mirrors configured"
    try:  # pooch and requests are dependencies, but an environment may lack them all the same
        for module in ("pooch", "requests"):
            importlib.import_module(module)
    except ImportError as error:
        missing = error.name or "pooch"
        log(f"Warning: cannot download Fashion-MNIST: {missing} is not installed (pip install "
            f"{missing}); not downloading")
        return f"{missing} is not installed (pip install {missing})"
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        log(f"Warning: cannot create the cache directory {cache} ({e}); not downloading")
        return f"cannot create {cache}: {e}"
    dead: set = set()
    for name in _split_files(splits).values():
        existing = _find_file(cache, name)
        if existing is not None:
            try:
                _load_verified(existing, *FULL_SET_HASHES[name])
                continue  # already good, e.g. left by an earlier partial download
            except DataError:
                # Corrupt: pooch would take it for the file and keep it.
                try:
                    existing.unlink()
                    (cache / (name + ".gz")).unlink(missing_ok=True)
                except OSError as e:  # a read-only cache: no download can replace it either
                    log(f"Warning: cannot remove the corrupt {existing} ({e.strerror or e}); "
                        "not downloading")
                    return f"cannot remove the corrupt {existing}: {e.strerror or e}"
        if _download_one(name, cache, urls, dead, timeout=timeout, retries=retries,
                         log=log) is None:
            log(f"Warning: could not download {name}.gz from any mirror")
            return f"could not download {name}.gz"
    return None
