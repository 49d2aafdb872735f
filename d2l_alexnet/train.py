"""``python -m d2l_alexnet.train --backend pytorch``: the chapter's training run from a terminal.

Defaults are the chapter's (10 epochs, batch 128, lr 0.01, 224×224, 10 classes). Bad input exits
with status 2 and one line that says what to change; nothing is written before the input is good.
"""

import argparse
import os
import sys

from .backends import BACKENDS, ALIASES, BackendError, canonical_name, load_backend
from .core.architecture import CHAPTER_RESIZE, minimum_resize
from .core.data import DataError
from .core.files import atomic_write_json, check_writable_directory
from .core.trainer import DEVICES, PRECISIONS, TrainingError

NUM_CLASSES = 10


class UsageError(Exception):
    """Bad command-line input: the message names the fix; the CLI exits 2."""


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m d2l_alexnet.train",
        description="Train the chapter's AlexNet on Fashion-MNIST (d2l, sec_alexnet).")
    parser.add_argument("--backend", default="pytorch",
                        help=f"one of {', '.join(BACKENDS)} (aliases: {', '.join(ALIASES)})")
    parser.add_argument("--epochs", type=int, default=10, help="passes over the training set")
    parser.add_argument("--batch-size", type=int, default=128, help="images per step")
    parser.add_argument("--lr", type=float, default=0.01, help="SGD learning rate")
    parser.add_argument("--resize", type=int, default=CHAPTER_RESIZE,
                        help="side the 28×28 images are resized to (bilinear)")
    parser.add_argument("--device", choices=DEVICES, default="auto",
                        help="auto: a GPU when there is one")
    parser.add_argument("--precision", choices=PRECISIONS, default="fp32",
                        help="bf16: mixed precision where the backend supports it")
    parser.add_argument("--seed", type=int, default=0, help="seed for weights, dropout, order")
    parser.add_argument("--data-dir", default=None,
                        help="directory with the four Fashion-MNIST IDX files (.gz or raw)")
    parser.add_argument("--limit-train", type=int, default=None, metavar="N",
                        help="use only the first N training images")
    parser.add_argument("--limit-val", type=int, default=None, metavar="N",
                        help="use only the first N validation images")
    parser.add_argument("--out", default=None, metavar="DIR",
                        help="where metrics.json and curves.png go (default runs/<backend>)")
    return parser


def validate(args):
    """Check every number before anything heavy is imported or written."""
    for flag, value in (("--epochs", args.epochs), ("--batch-size", args.batch_size),
                        ("--limit-train", args.limit_train), ("--limit-val", args.limit_val)):
        if value is not None and value < 1:
            raise UsageError(f"{flag} must be at least 1, got {value}")
    if not args.lr > 0:
        raise UsageError(f"--lr must be positive, got {args.lr} (the chapter uses 0.01)")
    if args.resize < minimum_resize():
        raise UsageError(f"--resize {args.resize} is too small for AlexNet: use at least "
                         f"{minimum_resize()} (the chapter uses {CHAPTER_RESIZE})")
    if args.data_dir is not None and not os.path.isdir(args.data_dir):
        raise UsageError(f"--data-dir {args.data_dir} is not a readable directory: point it at "
                         "the folder holding the four Fashion-MNIST files")
    try:
        args.backend = canonical_name(args.backend)
    except BackendError as error:
        raise UsageError(str(error)) from None
    if args.out is None:
        args.out = os.path.join("runs", args.backend)


def run(args):
    validate(args)
    try:
        backend = load_backend(args.backend)
    except BackendError as error:
        raise UsageError(str(error)) from None
    if args.precision not in backend.PRECISIONS:
        raise UsageError(f"--precision {args.precision} is not supported by the {args.backend} "
                         f"backend: use {' or '.join(backend.PRECISIONS)}")
    try:
        check_writable_directory(args.out)
    except OSError as error:
        raise UsageError(f"cannot write to --out {args.out} ({error.strerror or error}): "
                         "choose a writable directory") from None

    backend.set_seed(args.seed)
    try:
        data = backend.FashionMNIST(batch_size=args.batch_size, resize=(args.resize, args.resize),
                                    data_dir=args.data_dir, seed=args.seed,
                                    limit_train=args.limit_train, limit_val=args.limit_val)
    except DataError as error:
        raise UsageError(str(error)) from None
    model = backend.AlexNet(lr=args.lr, num_classes=NUM_CLASSES, resize=args.resize)
    print(f"AlexNet ({args.backend}) on {data.num_examples(True):,} training and "
          f"{data.num_examples(False):,} validation images of Fashion-MNIST ({data.source}), "
          f"resized to {args.resize}×{args.resize}")
    model.layer_summary(backend.example_input_shape(args.resize))

    trainer = backend.Trainer(max_epochs=args.epochs, device=args.device,
                              precision=args.precision)
    try:
        history = trainer.fit(model, data)
    except RuntimeError as error:
        if isinstance(error, TrainingError) or "GPU" not in str(error):
            raise
        raise UsageError(str(error)) from None

    metrics_path = os.path.join(args.out, "metrics.json")
    curves_path = os.path.join(args.out, "curves.png")
    atomic_write_json(metrics_path, history)
    trainer.board.save(curves_path)
    print(f"wrote {metrics_path} and {curves_path}")
    return 0


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return run(args)
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except TrainingError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
