"""Tests for d2l_alexnet.core.data, the Fashion-MNIST loader.

Covers d2l "Image Classification Dataset" (sec_fashion_mnist): IDX parsing,
the source order (explicit > cache > system > download > embedded subset),
downloads from a local HTTP server (good, garbage, dropped connections), the
embedded subset, and -- where the Debian package is installed -- the full set.

Every test is isolated from the real user: XDG_CACHE_HOME, the data/mirror
environment variables, the default mirrors and system directories are all
redirected, so nothing here touches ~/.cache or the internet.
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import http.server
import importlib.util
import json
import os
import shutil
import struct
import sys
import threading
from pathlib import Path

import numpy as np
import pooch
import pytest

from d2l_alexnet.core import data
from d2l_alexnet.core.data import DataError

ROOT = Path(__file__).resolve().parents[2]
SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
NAMES = list(data.FILE_NAMES.values())


# ---------------------------------------------------------------------------
# helpers and fixtures
# ---------------------------------------------------------------------------

def idx_bytes(array: np.ndarray) -> bytes:
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 8, array.ndim]) + b"".join(struct.pack(">I", n) for n in array.shape)
    return header + array.tobytes()


def gz(payload: bytes) -> bytes:
    return gzip.compress(payload, mtime=0)


class FakeFull:
    """A tiny stand-in for the full set; its hashes replace the real table."""

    def __init__(self):
        rng = np.random.default_rng(0)
        self.arrays = {
            "train_images": rng.integers(0, 256, (20, 28, 28), dtype=np.uint8),
            "train_labels": (np.arange(20) % 10).astype(np.uint8),
            "val_images": rng.integers(0, 256, (10, 28, 28), dtype=np.uint8),
            "val_labels": (np.arange(10)[::-1] % 10).astype(np.uint8),
        }
        self.payloads = {data.FILE_NAMES[k]: idx_bytes(a) for k, a in self.arrays.items()}
        self.table = {name: (hashlib.sha256(p).hexdigest(), len(p))
                      for name, p in self.payloads.items()}

    def write(self, directory: Path, gzipped: bool = True, only=None) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        for name, payload in self.payloads.items():
            if only is not None and name not in only:
                continue
            if gzipped:
                (directory / (name + ".gz")).write_bytes(gz(payload))
            else:
                (directory / name).write_bytes(payload)
        return directory

    def check(self, result: data.FashionMNISTArrays):
        for key, expected in self.arrays.items():
            got = getattr(result, key)
            np.testing.assert_array_equal(got, expected)
        assert result.train_labels.dtype == np.int64
        assert result.val_labels.dtype == np.int64
        assert result.train_images.dtype == np.uint8
        assert not result.is_subset


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    # Why: never read the real user's cache/env, never reach the internet,
    # never see the real system copy unless a test asks for it.
    for var in (data.ENV_DATA_DIR, data.ENV_MIRRORS):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(data, "DEFAULT_MIRRORS", ())
    monkeypatch.setattr(data, "DEFAULT_SYSTEM_DIRS", (str(tmp_path / "no-system"),))
    data.clear_cache()
    yield
    data.clear_cache()


@pytest.fixture
def fake(monkeypatch):
    f = FakeFull()
    monkeypatch.setattr(data, "FULL_SET_HASHES", f.table)
    return f


class Log(list):
    def __call__(self, message):
        self.append(str(message))

    def text(self):
        return "\n".join(self)


def listing(directory: Path):
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


class Server:
    """Local HTTP mirror.  URL prefix selects the behaviour:

    good/    the fake set, gzipped
    garbage/ 200 with bytes that are not the file
    drop/    Content-Length larger than the body, half the body, then close
    stall/   headers and a few bytes, then silence (client times out)
    missing/ 404
    broken/  500
    """

    def __init__(self, fake_full: FakeFull):
        self.fake = fake_full
        self.requests = []
        self.release = threading.Event()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_GET(self):
                server.requests.append(self.path)
                mode, _, filename = self.path.strip("/").partition("/")
                name = filename[:-3] if filename.endswith(".gz") else filename
                if mode == "missing" or name not in server.fake.payloads:
                    self.send_error(404)
                    return
                if mode == "broken":
                    self.send_error(500)
                    return
                body = gz(server.fake.payloads[name])
                if mode == "garbage":
                    body = b"<html>this is not Fashion-MNIST</html>\n" * 50
                self.send_response(200)
                length = len(body) + (1000 if mode in ("drop", "stall") else 0)
                self.send_header("Content-Length", str(length))
                self.end_headers()
                if mode == "drop":
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                if mode == "stall":
                    self.wfile.write(body[:10])
                    self.wfile.flush()
                    server.release.wait(10)
                    return
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        # A short poll interval keeps shutdown() (teardown) quick.
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    def url(self, mode: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{mode}/"

    def hits(self, mode: str):
        return [r for r in self.requests if r.startswith(f"/{mode}/")]

    def close(self):
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@pytest.fixture
def server(fake):
    s = Server(fake)
    yield s
    s.close()


def load(**kwargs):
    """load_fashion_mnist with fast network settings and a captured log."""
    log = kwargs.pop("log", None)
    log = Log() if log is None else log
    kwargs.setdefault("timeout", 5)
    kwargs.setdefault("retries", 2)
    return data.load_fashion_mnist(log=log, **kwargs), log


def require_full_data():
    if not SYSTEM_DIR.is_dir():
        if os.environ.get("D2L_ALEXNET_REQUIRE_FULL_DATA") == "1":
            pytest.fail(f"{SYSTEM_DIR} missing and D2L_ALEXNET_REQUIRE_FULL_DATA=1 "
                        "(apt-get install dataset-fashion-mnist)")
        pytest.skip(f"{SYSTEM_DIR} not installed (apt-get install dataset-fashion-mnist)")


# ---------------------------------------------------------------------------
# IDX parsing
# ---------------------------------------------------------------------------

def test_text_labels_book_order():
    assert data.TEXT_LABELS == (
        "t-shirt", "trouser", "pullover", "dress", "coat",
        "sandal", "shirt", "sneaker", "bag", "ankle boot")


@pytest.mark.parametrize("gzipped", [True, False])
@pytest.mark.parametrize("shape", [(7,), (3, 28, 28), (2, 3, 4, 5)])
def test_read_idx_round_trip(tmp_path, gzipped, shape):
    array = np.random.default_rng(1).integers(0, 256, shape, dtype=np.uint8)
    payload = idx_bytes(array)
    path = tmp_path / ("x.idx.gz" if gzipped else "x.idx")
    path.write_bytes(gz(payload) if gzipped else payload)
    got = data.read_idx(path)
    assert got.dtype == np.uint8 and got.shape == shape
    np.testing.assert_array_equal(got, array)
    got[...] = 0  # returned arrays are the caller's to modify


def test_read_idx_sniffs_content_not_suffix(tmp_path):
    array = np.arange(12, dtype=np.uint8).reshape(3, 4)
    (tmp_path / "raw.gz").write_bytes(idx_bytes(array))       # raw, misnamed
    (tmp_path / "packed").write_bytes(gz(idx_bytes(array)))   # gzip, no suffix
    np.testing.assert_array_equal(data.read_idx(tmp_path / "raw.gz"), array)
    np.testing.assert_array_equal(data.read_idx(tmp_path / "packed"), array)


GOOD = idx_bytes(np.arange(24, dtype=np.uint8).reshape(2, 3, 4))


@pytest.mark.parametrize("content, message", [
    (b"\x01\x02" + GOOD[2:], "magic"),
    (GOOD[:2] + b"\x0d" + GOOD[3:], "float32"),         # unsupported dtype code
    (GOOD[:-1], "truncated"),
    (GOOD + b"\x00", "unexpected bytes"),
    (GOOD[:9], "truncated IDX header"),
    (GOOD[:3], "too short"),
    (gz(GOOD)[:-12], "truncated"),                      # gzip cut short
    (gz(GOOD)[:20] + b"\xff" * 10 + gz(GOOD)[30:], "gzip"),  # damaged deflate stream
    (gz(GOOD) + b"junk", "trailing garbage"),
    (gz(GOOD[:-1]), "truncated"),                       # gzip fine, IDX short
])
def test_read_idx_rejects_bad_files(tmp_path, content, message):
    path = tmp_path / "bad-file-idx3-ubyte.gz"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message) as info:
        data.read_idx(path)
    assert str(path) in str(info.value)


def test_read_idx_missing_file(tmp_path):
    with pytest.raises(DataError, match="cannot read") as info:
        data.read_idx(tmp_path / "nope")
    assert "nope" in str(info.value)


# ---------------------------------------------------------------------------
# explicit directory: used or refused
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("gzipped", [True, False])
def test_explicit_dir_used(tmp_path, fake, gzipped):
    directory = fake.write(tmp_path / "explicit", gzipped=gzipped)
    result, log = load(data_dir=directory)
    fake.check(result)
    assert result.source == str(directory)
    assert list(log) == []


def test_explicit_dir_accepts_torchvision_layout(tmp_path, fake):
    # What the book's PyTorch code leaves behind: ROOT/FashionMNIST/raw/...
    fake.write(tmp_path / "book-data" / "FashionMNIST" / "raw", gzipped=False)
    result, _ = load(data_dir=tmp_path / "book-data")
    fake.check(result)


def test_explicit_dir_beats_everything(tmp_path, fake, server):
    fake.write(tmp_path / "cache")
    fake.write(tmp_path / "system")
    explicit = fake.write(tmp_path / "explicit")
    result, _ = load(data_dir=explicit, cache_dir=tmp_path / "cache",
                     system_dirs=[tmp_path / "system"], mirrors=[server.url("good")])
    assert result.source == str(explicit)
    assert server.requests == []


@pytest.mark.parametrize("damage, message", [
    ("missing", "incomplete"),
    ("corrupt", "SHA-256"),           # one label changed, still a valid IDX file
    ("short", "decompressed size"),   # a valid gzip of a short payload
    ("truncated", "truncated"),       # the gzip file itself cut short
    ("bloated", "more than"),         # inflates far beyond the expected size
])
def test_explicit_dir_bad_file_refused_not_skipped(tmp_path, fake, server, damage, message):
    # Good data everywhere else: the explicit directory must still be refused.
    fake.write(tmp_path / "cache")
    fake.write(tmp_path / "system")
    explicit = fake.write(tmp_path / "explicit")
    victim = explicit / "t10k-labels-idx1-ubyte.gz"
    if damage == "missing":
        victim.unlink()
    elif damage == "corrupt":
        payload = bytearray(fake.payloads["t10k-labels-idx1-ubyte"])
        payload[-1] ^= 1
        victim.write_bytes(gz(bytes(payload)))
    elif damage == "bloated":
        victim.write_bytes(gz(bytes(10_000_000)))
    elif damage == "short":
        victim.write_bytes(gz(fake.payloads["t10k-labels-idx1-ubyte"][:-1]))
    else:
        victim.write_bytes(victim.read_bytes()[:-12])
    with pytest.raises(DataError, match=message) as info:
        load(data_dir=explicit, cache_dir=tmp_path / "cache",
             system_dirs=[tmp_path / "system"], mirrors=[server.url("good")])
    assert str(victim.with_suffix("")) in str(info.value)  # names the file
    assert server.requests == []
    # A file deleted from a directory the user named is not fetched again (the cache's is):
    # the fix is a good copy there, or leaving the directory out.
    assert "delete" not in str(info.value)
    assert str(info.value).endswith(": put a good copy there, or leave out --data-dir "
                                    "(data_dir= in Python) and the library finds them itself "
                                    "(Debian's dataset-fashion-mnist, its cache, a download)")


def test_explicit_dir_empty_or_absent_refused(tmp_path, fake):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="none of the Fashion-MNIST files") as info:
        load(data_dir=tmp_path / "empty")
    assert "train-images-idx3-ubyte" in str(info.value)
    # Not "allow the download" or "apt-get install": neither helps while the directory is
    # named, which is all the library reads then.
    assert "allow the download" not in str(info.value)
    assert "put them there, .gz or not, or leave out --data-dir" in str(info.value)
    with pytest.raises(DataError, match="does not exist") as info:
        load(data_dir=tmp_path / "absent")
    assert str(tmp_path / "absent") in str(info.value)


def test_a_folder_of_ones_own_images_as_data_dir_is_sent_to_image_folder(tmp_path, fake):
    """A folder of class subfolders given as --data-dir (Fashion-MNIST's folder) was told only
    that Fashion-MNIST's files were not there; --image-folder is what reads it."""
    from PIL import Image

    for name in ("cats", "dogs"):
        (tmp_path / "pets" / name).mkdir(parents=True)
        Image.new("L", (4, 4)).save(tmp_path / "pets" / name / "1.JPG", "JPEG")
    with pytest.raises(DataError) as info:
        load(data_dir=tmp_path / "pets")
    assert str(info.value).endswith(f". {tmp_path / 'pets'} holds class folders of images: for "
                                    "your own images, pass it as --image-folder (ImageFolder "
                                    "in Python)")
    (tmp_path / "other" / "notes").mkdir(parents=True)  # subfolders, but no images in them
    (tmp_path / "other" / "notes" / "a.txt").write_text("text")
    with pytest.raises(DataError) as info:
        load(data_dir=tmp_path / "other")
    assert "--image-folder" not in str(info.value)


def test_an_empty_env_var_data_dir_says_to_unset_it(tmp_path, fake, monkeypatch):
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("D2L_ALEXNET_DATA", str(tmp_path / "empty"))
    with pytest.raises(DataError, match=r"put them there, .gz or not, or unset "
                                        r"D2L_ALEXNET_DATA and the library finds them itself"):
        load()


def test_env_var_data_dir_honoured(tmp_path, fake, monkeypatch):
    directory = fake.write(tmp_path / "from-env")
    monkeypatch.setenv("D2L_ALEXNET_DATA", str(directory))
    result, _ = load(system_dirs=[])
    assert result.source == str(directory)
    # ...and refused like an argument when it points at nothing.
    monkeypatch.setenv("D2L_ALEXNET_DATA", str(tmp_path / "absent"))
    with pytest.raises(DataError, match="D2L_ALEXNET_DATA"):
        load(system_dirs=[])


def test_argument_beats_env_var(tmp_path, fake, monkeypatch):
    monkeypatch.setenv("D2L_ALEXNET_DATA", str(tmp_path / "absent"))
    directory = fake.write(tmp_path / "arg")
    result, _ = load(data_dir=directory)
    assert result.source == str(directory)


# ---------------------------------------------------------------------------
# source order
# ---------------------------------------------------------------------------

def test_source_order(tmp_path, fake, server):
    cache, system = tmp_path / "cache", tmp_path / "system"
    fake.write(cache)
    fake.write(system, gzipped=False)
    kwargs = dict(cache_dir=cache, system_dirs=[tmp_path / "empty-system", system],
                  mirrors=[server.url("good")])

    result, log = load(**kwargs)
    assert result.source == str(cache) and list(log) == []

    shutil.rmtree(cache)
    result, log = load(**kwargs)
    assert result.source == str(system) and list(log) == []
    assert server.requests == []

    shutil.rmtree(system)
    result, log = load(**kwargs)
    assert result.source == str(cache)  # downloaded into the cache
    assert len(server.hits("good")) == 4
    fake.check(result)

    shutil.rmtree(cache)
    result, log = load(download=False, **kwargs)
    assert result.is_subset and result.source == "embedded subset"
    assert len(server.requests) == 4  # no new requests


def test_default_cache_dir_is_under_xdg_cache_home(tmp_path, fake):
    fake.write(tmp_path / "xdg" / "d2l_alexnet" / "fashion-mnist")
    result, _ = load(system_dirs=[], download=False)
    assert result.source == str(tmp_path / "xdg" / "d2l_alexnet" / "fashion-mnist")


def test_corrupt_cache_skipped_with_warning(tmp_path, fake):
    cache = fake.write(tmp_path / "cache")
    victim = cache / "train-images-idx3-ubyte.gz"
    victim.write_bytes(gz(b"\x00\x00\x08\x01\x00\x00\x00\x01\x07"))
    system = fake.write(tmp_path / "system")
    result, log = load(cache_dir=cache, system_dirs=[system], download=False)
    assert result.source == str(system)
    assert len(log) == 1 and "Warning" in log[0] and str(victim) in log[0]


def test_incomplete_system_dir_skipped_with_warning(tmp_path, fake):
    partial = fake.write(tmp_path / "partial", only=NAMES[:2])
    good = fake.write(tmp_path / "good")
    result, log = load(cache_dir=tmp_path / "cache", system_dirs=[partial, good],
                       download=False)
    assert result.source == str(good)
    assert len(log) == 1 and "incomplete" in log[0] and NAMES[2] in log[0]


def test_validation_split_alone_reads_the_t10k_files_only(tmp_path, fake):
    """``splits=("val",)`` (what evaluate asks): a folder of the two t10k files is enough, its
    training arrays come back empty, and a folder without them names the two it lacks."""
    only_val = fake.write(tmp_path / "t10k", only=NAMES[2:])
    result, _ = load(data_dir=only_val, splits=("val",))
    np.testing.assert_array_equal(result.val_images, fake.arrays["val_images"])
    np.testing.assert_array_equal(result.val_labels, fake.arrays["val_labels"])
    assert result.train_images.shape == (0, 28, 28) and result.train_labels.shape == (0,)
    assert result.val_labels.dtype == np.int64 and not result.is_subset
    with pytest.raises(data.DataError, match=f"incomplete: missing .*{NAMES[0]}"):
        load(data_dir=only_val)  # both splits, as training asks
    only_train = fake.write(tmp_path / "train", only=NAMES[:2])
    with pytest.raises(data.DataError, match=f"missing .*{NAMES[2]}.*{NAMES[3]}") as error:
        load(data_dir=only_train, splits=("val",))
    assert NAMES[0] not in str(error.value)
    # The search skips a place without them, as it skips an incomplete one.
    result, _ = load(cache_dir=tmp_path / "cache", system_dirs=[only_train, only_val],
                     download=False, splits=("val",))
    assert result.source == str(only_val)
    with pytest.raises(ValueError, match="splits must name some of"):
        load(data_dir=only_val, splits=("test",))


# ---------------------------------------------------------------------------
# downloads from a local HTTP server
# ---------------------------------------------------------------------------

def test_download_good(tmp_path, fake, server):
    cache = tmp_path / "cache"
    result, log = load(cache_dir=cache, system_dirs=[], mirrors=[server.url("good")])
    fake.check(result)
    assert result.source == str(cache)
    assert listing(cache) == sorted(n + ".gz" for n in NAMES)  # no temporaries
    assert sorted(server.hits("good")) == sorted(f"/good/{n}.gz" for n in NAMES)
    assert "downloaded" in log[-1] and result.download_seconds > 0
    # Next time the cache answers; no network.
    data.clear_cache()
    result, _ = load(cache_dir=cache, system_dirs=[], mirrors=[server.url("good")])
    assert result.source == str(cache) and len(server.requests) == 4
    assert result.download_seconds == 0


def test_a_download_is_told_in_the_language_set(tmp_path, fake, server):
    """An Indonesian notebook run where the data is not yet on disk printed its two download
    lines in English between Indonesian ones."""
    from d2l_alexnet.core.language import set_language

    set_language("id")
    try:
        _, log = load(cache_dir=tmp_path / "cache", system_dirs=[], mirrors=[server.url("good")])
    finally:
        set_language("en")
    assert log[0] == f"Mengunduh {server.url('good').rstrip('/')}/{NAMES[0]}.gz"
    assert log[-1] == f"Fashion-MNIST telah diunduh dan diverifikasi ke {tmp_path / 'cache'}"


def test_mirrors_env_var_honoured(tmp_path, fake, server, monkeypatch):
    monkeypatch.setenv("D2L_ALEXNET_MIRRORS", f"  {server.url('missing')}\n{server.url('good')} ")
    result, _ = load(cache_dir=tmp_path / "cache", system_dirs=[])
    fake.check(result)
    assert len(server.hits("missing")) == 1   # 404: no retry, mirror then skipped
    assert len(server.hits("good")) == 4


def test_download_garbage_rejected_next_mirror_used(tmp_path, fake, server):
    cache = tmp_path / "cache"
    result, log = load(cache_dir=cache, system_dirs=[],
                       mirrors=[server.url("garbage"), server.url("good")])
    fake.check(result)
    assert listing(cache) == sorted(n + ".gz" for n in NAMES)
    assert len(server.hits("garbage")) == 1   # bad content: not retried, not reused
    assert "rejected" in log.text()


def test_download_garbage_only_falls_back_to_subset(tmp_path, fake, server):
    cache = tmp_path / "cache"
    result, log = load(cache_dir=cache, system_dirs=[], mirrors=[server.url("garbage")])
    assert result.is_subset
    assert listing(cache) == []  # no file, not even a temporary
    assert "rejected" in log.text()
    assert "embedded" in log[-1]


def test_download_dropped_connection(tmp_path, fake, server):
    cache = tmp_path / "cache"
    result, log = load(cache_dir=cache, system_dirs=[], retries=3,
                       mirrors=[server.url("drop"), server.url("good")])
    fake.check(result)
    assert listing(cache) == sorted(n + ".gz" for n in NAMES)
    # Retried on the same mirror, then the next mirror; the dead mirror is not
    # tried again for the other three files.
    assert server.hits("drop") == [f"/drop/{NAMES[0]}.gz"] * 3
    assert len(server.hits("good")) == 4
    assert "Connection broken: IncompleteRead" in log.text()
    assert "(after 3 attempt(s))" in log.text()


def test_download_dropped_only_leaves_nothing(tmp_path, fake, server):
    cache = tmp_path / "cache"
    result, _ = load(cache_dir=cache, system_dirs=[], mirrors=[server.url("drop")])
    assert result.is_subset
    assert listing(cache) == []


def test_download_timeout_then_next_mirror(tmp_path, fake, server):
    cache = tmp_path / "cache"
    result, log = load(cache_dir=cache, system_dirs=[], timeout=0.3, retries=2,
                       mirrors=[server.url("stall"), server.url("good")])
    fake.check(result)
    assert len(server.hits("stall")) == 2
    assert listing(cache) == sorted(n + ".gz" for n in NAMES)


def test_download_server_error_retried(tmp_path, fake, server):
    result, _ = load(cache_dir=tmp_path / "cache", system_dirs=[], retries=3,
                     mirrors=[server.url("broken"), server.url("good")])
    fake.check(result)
    assert len(server.hits("broken")) == 3


def test_download_fills_gaps_and_replaces_corrupt(tmp_path, fake, server):
    cache = fake.write(tmp_path / "cache", only=NAMES[:2])
    (cache / NAMES[0]).write_bytes(b"\x00\x00\x08\x01garbage")  # corrupt raw twin...
    (cache / (NAMES[0] + ".gz")).unlink()                      # ...and the only copy
    result, log = load(cache_dir=cache, system_dirs=[], mirrors=[server.url("good")])
    fake.check(result)
    # Only the missing and corrupt files were fetched; the bad raw copy is gone.
    assert sorted(server.hits("good")) == sorted(f"/good/{n}.gz" for n in (NAMES[0], *NAMES[2:]))
    assert listing(cache) == sorted(n + ".gz" for n in NAMES)


def test_the_validation_split_alone_downloads_the_two_t10k_files_only(tmp_path, fake, server):
    """evaluate's load fetched all four files (the training images are nine tenths of the
    bytes), and a failure on a training file gave it the embedded subset, not the test set."""
    cache = tmp_path / "cache"
    result, _ = load(cache_dir=cache, system_dirs=[], mirrors=[server.url("good")],
                     splits=("val",))
    np.testing.assert_array_equal(result.val_images, fake.arrays["val_images"])
    assert sorted(server.hits("good")) == sorted(f"/good/{name}.gz" for name in NAMES[2:])
    assert listing(cache) == sorted(name + ".gz" for name in NAMES[2:])


def test_a_corrupt_file_in_a_read_only_cache_falls_back_with_a_warning(tmp_path, fake, server,
                                                                       monkeypatch):
    """A cache on a read-only mount (or another user's) holding a corrupt file: removing it
    raised PermissionError through the loader, where a missing file gave the subset."""
    cache = fake.write(tmp_path / "cache")
    (cache / (NAMES[0] + ".gz")).write_bytes(gz(b"\x00\x00\x08\x01garbage"))
    unlink = Path.unlink

    def read_only(path, *args, **kwargs):
        if Path(path).parent == cache:
            raise PermissionError(errno.EPERM, "Operation not permitted", str(path))
        return unlink(path, *args, **kwargs)

    monkeypatch.setattr(Path, "unlink", read_only)
    result, log = load(cache_dir=cache, system_dirs=[], mirrors=[server.url("good")])
    assert result.is_subset
    assert f"cannot remove the corrupt {cache / (NAMES[0] + '.gz')} (Operation not " \
           "permitted); not downloading" in log.text()
    assert server.requests == []


def test_interrupted_download_leaves_no_temporary(tmp_path, fake, monkeypatch):
    def interrupted(self, url, output_file, fetcher):
        with open(output_file, "wb") as out:  # pooch's temporary file, in the cache
            out.write(b"\x1f\x8b partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(pooch.HTTPDownloader, "__call__", interrupted)
    cache = tmp_path / "cache"
    with pytest.raises(KeyboardInterrupt):
        load(cache_dir=cache, system_dirs=[], mirrors=["http://127.0.0.1:9/"])
    assert listing(cache) == []


def test_unreachable_mirror_falls_back(tmp_path, fake):
    # Port 9 on localhost: connection refused at once.
    result, log = load(cache_dir=tmp_path / "cache", system_dirs=[],
                       mirrors=["http://127.0.0.1:9/"])
    assert result.is_subset
    assert "could not download" in log.text()


# ---------------------------------------------------------------------------
# embedded subset
# ---------------------------------------------------------------------------

def test_embedded_subset_contents():
    subset = data.load_embedded_subset()
    assert subset.is_subset and subset.source == "embedded subset"
    assert subset.train_images.shape == (3000, 28, 28)
    assert subset.val_images.shape == (1000, 28, 28)
    assert subset.train_images.dtype == np.uint8
    assert subset.train_labels.dtype == np.int64
    assert np.bincount(subset.train_labels, minlength=10).tolist() == [300] * 10
    assert np.bincount(subset.val_labels, minlength=10).tolist() == [100] * 10
    # Real images, not blanks: Fashion-MNIST's mean pixel is about 73.
    assert 50 < subset.train_images.mean() < 100


def test_embedded_subset_files():
    directory = data.SUBSET_DIR
    total = sum(p.stat().st_size for p in directory.iterdir() if p.is_file())
    assert total <= 2 * 1024 * 1024
    manifest = json.loads((directory / "manifest.json").read_text())
    assert set(manifest["files"]) == set(NAMES)
    assert manifest["counts"]["train"]["total"] == 3000
    license_text = (directory / "LICENSE.txt").read_text()
    assert "Zalando SE" in license_text and "MIT" in license_text


def test_fallback_to_subset_logs_one_line(tmp_path):
    result, log = load(cache_dir=tmp_path / "cache", system_dirs=[], download=False)
    assert result.is_subset
    assert len(log) == 1
    line = log[0]
    assert "\n" not in line
    assert "subset" in line and "4,000-image subset (3,000 train, 1,000 validation" in line
    assert "apt-get install dataset-fashion-mnist" in line and "--data-dir" in line


def test_damaged_subset_detected(tmp_path, monkeypatch):
    copy = tmp_path / "subset"
    shutil.copytree(data.SUBSET_DIR, copy)
    monkeypatch.setattr(data, "SUBSET_DIR", copy)
    labels = copy / "t10k-labels-idx1-ubyte.gz"
    payload = bytearray(gzip.decompress(labels.read_bytes()))
    payload[100] = (payload[100] + 1) % 10  # still a valid IDX file, wrong data
    labels.write_bytes(gz(bytes(payload)))
    with pytest.raises(DataError, match="SHA-256") as info:
        data.load_embedded_subset()
    assert str(labels) in str(info.value)


def test_nothing_anywhere_lists_every_place(tmp_path, fake, monkeypatch):
    monkeypatch.setattr(data, "SUBSET_DIR", tmp_path / "no-subset")
    cache = tmp_path / "cache"
    system = fake.write(tmp_path / "system", only=NAMES[:1])  # incomplete
    with pytest.raises(DataError) as info:
        load(cache_dir=cache, system_dirs=[system, tmp_path / "sys2"],
             mirrors=["http://127.0.0.1:9/"])
    message = str(info.value)
    for place in (cache, system, tmp_path / "sys2", "http://127.0.0.1:9/",
                  tmp_path / "no-subset"):
        assert str(place) in message
    assert "apt-get install dataset-fashion-mnist" in message

    with pytest.raises(DataError, match="download: disabled"):
        load(cache_dir=cache, system_dirs=[], download=False)


def test_describe_sources(tmp_path, monkeypatch):
    places = data.describe_sources(cache_dir=tmp_path / "c", system_dirs=["/s"],
                                   mirrors=["http://m/"])
    assert [p.split(":")[0] for p in places] == [
        "user cache", "system copy", "download from", "embedded subset"]
    assert "http://m/" in places[2]
    monkeypatch.setenv("D2L_ALEXNET_DATA", str(tmp_path))
    assert data.describe_sources() == [f"data directory (D2L_ALEXNET_DATA): {tmp_path}"]


def test_in_process_cache_reads_each_file_once(tmp_path, fake, monkeypatch):
    directory = fake.write(tmp_path / "d")
    reads = []
    original = data._read_payload

    def counting(path, *args, **kwargs):
        reads.append(Path(path).name)
        return original(path, *args, **kwargs)

    monkeypatch.setattr(data, "_read_payload", counting)
    first, _ = load(data_dir=directory)
    first.train_images[...] = 0  # callers get their own copies...
    second, _ = load(data_dir=directory)
    assert len(reads) == 4
    fake.check(second)           # ...so the cache is not affected
    # A changed file (same path, same payload, new size) is read again.
    changed = directory / (NAMES[0] + ".gz")
    changed.write_bytes(gz(fake.payloads[NAMES[0]]) + b"\0")  # zero padding is allowed
    load(data_dir=directory)
    assert len(reads) == 5


def test_no_home_folder_skips_the_user_cache_for_the_system_copy(tmp_path, fake, monkeypatch):
    # A UID without a passwd entry and HOME unset: Path.home() raises RuntimeError.
    monkeypatch.delenv("HOME", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setattr(os.path, "expanduser", lambda path: path)
    with pytest.raises(RuntimeError):
        Path.home()
    system = fake.write(tmp_path / "system")
    result, log = load(system_dirs=[system], download=False)
    assert result.source == str(system) and list(log) == []
    result, log = load(system_dirs=["~/nowhere"], mirrors=["http://127.0.0.1:9/"])
    assert result.is_subset
    assert "not downloading Fashion-MNIST: no user cache to download into" in log.text()
    assert data.describe_sources(system_dirs=[])[0].startswith("user cache: none, no home")
    with pytest.raises(DataError, match="--data-dir\\) ~/fm: cannot expand ~, no home folder"):
        load(data_dir="~/fm")


def test_without_pooch_the_download_is_skipped_for_the_subset(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pooch", None)  # import pooch: ModuleNotFoundError
    result, log = load(system_dirs=[], cache_dir=tmp_path / "cache",
                       mirrors=["http://127.0.0.1:9/"])
    assert result.is_subset
    assert ("Warning: cannot download Fashion-MNIST: pooch is not installed (pip install "
            "pooch); not downloading") in log
    monkeypatch.setattr(data, "SUBSET_DIR", tmp_path / "no-subset")
    with pytest.raises(DataError, match="pooch is not installed"):  # said among the places
        load(system_dirs=[], cache_dir=tmp_path / "cache", mirrors=["http://127.0.0.1:9/"])


# ---------------------------------------------------------------------------
# the real thing (Debian's dataset-fashion-mnist), where installed
# ---------------------------------------------------------------------------

def test_full_set_from_system_copy(tmp_path):
    require_full_data()
    result, log = load(cache_dir=tmp_path / "cache", system_dirs=[SYSTEM_DIR],
                       download=False)
    assert list(log) == []
    assert result.source == str(SYSTEM_DIR) and not result.is_subset
    assert result.train_images.shape == (60000, 28, 28)
    assert result.val_images.shape == (10000, 28, 28)
    assert result.train_labels.shape == (60000,) and result.val_labels.shape == (10000,)
    assert np.bincount(result.train_labels).tolist() == [6000] * 10
    assert np.bincount(result.val_labels).tolist() == [1000] * 10
    # The embedded subset is exactly the first 300/100 images of each class.
    subset = data.load_embedded_subset()
    for split, per_class in (("train", 300), ("val", 100)):
        labels = getattr(result, f"{split}_labels")
        keep = np.sort(np.concatenate(
            [np.flatnonzero(labels == c)[:per_class] for c in range(10)]))
        np.testing.assert_array_equal(getattr(subset, f"{split}_images"),
                                      getattr(result, f"{split}_images")[keep])
        np.testing.assert_array_equal(getattr(subset, f"{split}_labels"), labels[keep])


def test_make_subset_regenerates_shipped_subset(tmp_path):
    require_full_data()
    spec = importlib.util.spec_from_file_location("make_subset", ROOT / "tools" / "make_subset.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "subset"
    module.build(SYSTEM_DIR, out, 300, 100)
    shipped = data.SUBSET_DIR
    assert listing(out) == listing(shipped)
    for name in ("manifest.json", "LICENSE.txt", "README.md"):
        assert (out / name).read_text() == (shipped / name).read_text()
    for name in NAMES:
        # Compare payloads, not gzip bytes: another zlib build may compress
        # differently (with the same zlib the files are byte-identical).
        assert (gzip.decompress((out / (name + ".gz")).read_bytes())
                == gzip.decompress((shipped / (name + ".gz")).read_bytes()))
