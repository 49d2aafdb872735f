#!/usr/bin/env python3
"""--augment on a small image folder: the same runs with and without it, side by side.

Writes a folder of PNG files from Fashion-MNIST (``--per-class`` training images of each class
from its training split, ``--val-per-class`` from its test split, as ``train/<class>/`` and
``val/<class>/``), then trains on it through the command line
(``python -m d2l_alexnet.train --image-folder ... --val-folder ...``) once with ``--augment`` and
once without, for each seed, and prints the final and best validation accuracy of each run.
``--json`` keeps every run's per-epoch records.

    python benchmarks/augment_folder.py --json results/augment-folder/runs.json
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from d2l_alexnet.core.data import TEXT_LABELS, load_fashion_mnist  # noqa: E402


def write_folder(root, images, labels, per_class):
    """The first ``per_class`` images of each class as ``root/<class>/<n>.png``."""
    for label, name in enumerate(TEXT_LABELS):
        folder = root / name.replace("/", "-")
        folder.mkdir(parents=True)
        for number, index in enumerate(np.flatnonzero(labels == label)[:per_class]):
            Image.fromarray(images[index]).save(folder / f"{number:04d}.png")


def train(folder, out, seed, augment, args):
    command = [sys.executable, "-m", "d2l_alexnet.train", "--backend", args.backend,
               "--image-folder", str(folder / "train"), "--val-folder", str(folder / "val"),
               "--resize", str(args.resize), "--epochs", str(args.epochs), "--batch-size",
               str(args.batch_size), "--lr", str(args.lr), "--seed", str(seed), "--out", str(out)]
    command += ["--augment"] if augment else []
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
    return json.loads((out / "metrics.json").read_text())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", default="pytorch")
    parser.add_argument("--per-class", type=int, default=100)
    parser.add_argument("--val-per-class", type=int, default=100)
    parser.add_argument("--resize", type=int, default=67)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--json", type=Path, default=None, help="keep every run's records here")
    args = parser.parse_args(argv)

    arrays = load_fashion_mnist(None, log=print)
    runs = []
    with tempfile.TemporaryDirectory(prefix="augment_folder_") as work:
        folder = Path(work)
        write_folder(folder / "train", arrays.train_images, arrays.train_labels, args.per_class)
        write_folder(folder / "val", arrays.val_images, arrays.val_labels, args.val_per_class)
        for seed in args.seeds:
            for augment in (False, True):
                out = folder / f"run-{seed}-{'augment' if augment else 'plain'}"
                history = train(folder, out, seed, augment, args)
                runs.append({"seed": seed, "augment": augment, "history": history})
                accuracies = [record["val_acc"] for record in history]
                print(f"seed {seed}, {'--augment' if augment else 'plain    '}: final val_acc "
                      f"{accuracies[-1]:.4f}, best {max(accuracies):.4f} (epoch "
                      f"{int(np.argmax(accuracies)) + 1}), final train_loss "
                      f"{history[-1]['train_loss']:.4f}", flush=True)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        settings = {key: value for key, value in vars(args).items() if key != "json"}
        args.json.write_text(json.dumps({"settings": settings, "source": arrays.source,
                                         "runs": runs}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
