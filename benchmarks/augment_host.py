#!/usr/bin/env python3
"""What ``--augment`` costs on the host: the time ``augment_batch`` takes for a batch of 128,
per image shape, on one thread (the data is augmented on the host, before the device sees it).

    OMP_NUM_THREADS=1 python benchmarks/augment_host.py

Each figure is the best of ``--repeats`` runs (the machine's noise only ever adds time).
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from d2l_alexnet.core.augment import augment_batch  # noqa: E402

SHAPES = {"RGB 224×224": (224, 224, 3), "grey 224×224": (224, 224), "grey 28×28": (28, 28)}


def best_seconds(images, repeats):
    indices = np.arange(len(images))
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        augment_batch(images, indices, len(images), seed=0, epoch=0)
        best = min(best, time.perf_counter() - started)
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"{'images':<14} {'ms per batch':>12} {'images/s':>10}")
    for name, shape in SHAPES.items():
        images = rng.integers(0, 256, (args.batch_size, *shape), dtype=np.uint8)
        seconds = best_seconds(images, args.repeats)
        print(f"{name:<14} {seconds * 1000:>12.1f} {args.batch_size / seconds:>10,.0f}")


if __name__ == "__main__":
    main()
