#!/usr/bin/env python3
"""Build the embedded Fashion-MNIST subset from the full official files.

The subset is what ``d2l_alexnet.core.data.load_fashion_mnist`` falls back to
when the full set (d2l "Image Classification Dataset", sec_fashion_mnist) is
neither on disk nor downloadable.  It is class-balanced and deterministic:
for every class, the first ``--train-per-class`` images of the training file
and the first ``--val-per-class`` of the t10k file, kept in file order.

The output is byte-identical on every run (for a given zlib): IDX files
gzipped with a fixed header (mtime 0, no file name), plus ``manifest.json``
with the SHA-256 of each decompressed file, which the loader checks.

Usage::

    python tools/make_subset.py [--source /usr/share/datasets/fashion-mnist]
                                [--out d2l_alexnet/data/fashion_mnist_subset]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import struct
import sys
import zlib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from d2l_alexnet.core import data  # noqa: E402

DEFAULT_SOURCE = Path(data.DEFAULT_SYSTEM_DIRS[0])
DEFAULT_OUT = ROOT / "d2l_alexnet" / "data" / "fashion_mnist_subset"


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode a uint8 array as an IDX file (magic 0x0000 08 ndim, big-endian dims)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        struct.pack(">I", n) for n in array.shape)
    return header + array.tobytes()


def gzip_bytes(payload: bytes) -> bytes:
    """Gzip with a fixed header, so the output depends on the payload only.

    Written by hand rather than with ``gzip.compress`` because the latter's
    header (OS byte) differs between Python versions.
    """
    # magic, deflate, no flags, mtime 0, XFL 2 (max compression), OS 255 (unknown)
    header = b"\x1f\x8b\x08\x00" + b"\x00\x00\x00\x00" + b"\x02\xff"
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS, 9)
    body = compressor.compress(payload) + compressor.flush()
    trailer = struct.pack("<II", zlib.crc32(payload) & 0xFFFFFFFF,
                          len(payload) & 0xFFFFFFFF)
    return header + body + trailer


def first_per_class(labels: np.ndarray, per_class: int, n_classes: int = 10) -> np.ndarray:
    """Indices of the first ``per_class`` examples of each class, in file order."""
    picks = []
    for c in range(n_classes):
        where = np.flatnonzero(labels == c)[:per_class]
        if len(where) < per_class:
            raise SystemExit(f"class {c} has only {len(where)} examples, "
                             f"{per_class} requested")
        picks.append(where)
    return np.sort(np.concatenate(picks))


LICENSE_TEXT = """\
The files in this directory are a subset of Fashion-MNIST
(https://github.com/zalandoresearch/fashion-mnist), by Zalando Research:
Han Xiao, Kashif Rasul, Roland Vollgraf, "Fashion-MNIST: a Novel Image
Dataset for Benchmarking Machine Learning Algorithms", arXiv:1708.07747, 2017.

They were selected (first {train_per_class} training and first {val_per_class}
test images of each class, in file order) and re-encoded, otherwise unchanged,
by tools/make_subset.py in the d2l_alexnet repository.

Fashion-MNIST is distributed under the MIT License:

The MIT License (MIT) Copyright (c) 2017 Zalando SE, https://tech.zalando.com

Permission is hereby granted, free of charge, to any person obtaining a copy of
this software and associated documentation files (the "Software"), to deal in
the Software without restriction, including without limitation the rights to
use, copy, modify, merge, publish, distribute, sublicense, and/or sell copies
of the Software, and to permit persons to whom the Software is furnished to do
so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
"""

README_TEXT = """\
# Embedded Fashion-MNIST subset

A small, real, class-balanced subset of Fashion-MNIST that
`d2l_alexnet.core.data.load_fashion_mnist` falls back to (with a log line
saying so) when the full set is neither found nor downloadable. Tests use
it too, through `load_embedded_subset()`.

- {n_train} training images: the first {train_per_class} of each class in
  `train-images-idx3-ubyte`, kept in file order.
- {n_val} validation images: the first {val_per_class} of each class in
  `t10k-images-idx3-ubyte`, kept in file order.
- Same IDX format as the official files, gzipped with a fixed header
  (mtime 0), so regenerating gives byte-identical files.
- `manifest.json` holds the SHA-256 of each decompressed file (checked on
  load) and the counts.

Regenerate from the full files (checked against their official SHA-256):

    python tools/make_subset.py --source /usr/share/datasets/fashion-mnist

Licence: MIT, Copyright (c) 2017 Zalando SE; see `LICENSE.txt`.
"""


def build(source: Path, out: Path, train_per_class: int, val_per_class: int) -> dict:
    """Write the subset into ``out``; return the manifest."""
    full = data.load_fashion_mnist(source, download=False, log=print)  # hash-checked
    splits = {
        "train": (full.train_images, full.train_labels, train_per_class),
        "val": (full.val_images, full.val_labels, val_per_class),
    }
    out.mkdir(parents=True, exist_ok=True)
    manifest = {
        "description": "Class-balanced subset of Fashion-MNIST: the first "
                       f"{train_per_class} training and {val_per_class} test images "
                       "of each class, in file order. SHA-256 of decompressed files.",
        "source": "https://github.com/zalandoresearch/fashion-mnist (MIT, "
                  "Copyright (c) 2017 Zalando SE)",
        "generator": "tools/make_subset.py",
        "counts": {},
        "files": {},
    }
    for split, (images, labels, per_class) in splits.items():
        keep = first_per_class(labels, per_class)
        manifest["counts"][split] = {"total": int(len(keep)), "per_class": per_class}
        for kind, array in (("images", images[keep]), ("labels", labels[keep])):
            name = data.FILE_NAMES[f"{split}_{kind}"]
            payload = idx_bytes(array)
            (out / (name + ".gz")).write_bytes(gzip_bytes(payload))
            manifest["files"][name] = {
                "sha256": hashlib.sha256(payload).hexdigest(),
                "shape": list(array.shape),
            }
    (out / data.SUBSET_MANIFEST).write_text(
        json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    fmt = dict(train_per_class=train_per_class, val_per_class=val_per_class,
               n_train=10 * train_per_class, n_val=10 * val_per_class)
    (out / "LICENSE.txt").write_text(LICENSE_TEXT.format(**fmt), encoding="utf-8")
    (out / "README.md").write_text(README_TEXT.format(**fmt), encoding="utf-8")
    return manifest


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE,
                        help="directory with the four full Fashion-MNIST files")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--train-per-class", type=int, default=300)
    parser.add_argument("--val-per-class", type=int, default=100)
    args = parser.parse_args(argv)
    try:
        build(args.source, args.out, args.train_per_class, args.val_per_class)
    except data.DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    total = sum(p.stat().st_size for p in args.out.iterdir() if p.is_file())
    print(f"wrote {args.out} ({total} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
