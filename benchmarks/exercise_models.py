"""Train the chapter's exercise networks on Fashion-MNIST at 28×28 (d2l, sec_alexnet, exercises
5 and 7) and write what each measured.

Models (``d2l_alexnet/core/exercises.py``): ``lenet`` (LeNet-5 as in sec_lenet, the baseline),
``lenet-relu-dropout`` (exercise 7) and ``slim-28`` (exercise 5). Each trains with plain SGD at
its recipe's learning rate (``--lr`` overrides it for all), batch 128, on all 60,000 training
images, validated on all 10,000 after every epoch. Per model it writes ``DIR/<model>/metrics.json``
(the per-epoch history, parameters and FLOPs from the architecture table, the command, versions
and machine) and prints one table at the end.

    python benchmarks/exercise_models.py --out results/slim-28
"""

import argparse
import os
import sys

from d2l_alexnet.backends import BACKENDS, BackendError, canonical_name, load_backend
from d2l_alexnet.core.architecture import forward_flops, layer_table, parameter_count
from d2l_alexnet.core.data import DataError
from d2l_alexnet.core.exercises import EXERCISE_RESIZE, RECIPES
from d2l_alexnet.core.files import atomic_write_json
from d2l_alexnet.bench import machine, versions
from d2l_alexnet.core.trainer import PRECISIONS

NUM_CLASSES = 10


class UsageError(Exception):
    """Bad command-line input: the message says what to change; the script exits 2."""


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad flag is one ``error:`` line (no usage block) and exit status 2."""

    def error(self, message):
        raise UsageError(message)


def build_parser():
    parser = OneLineParser(prog="python benchmarks/exercise_models.py", description=__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", default="pytorch", help=", ".join(BACKENDS))
    parser.add_argument("--models", nargs="+", choices=list(RECIPES), default=list(RECIPES),
                        metavar="MODEL", help=f"any of {', '.join(RECIPES)} (default: all)")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=None,
                        help="one SGD learning rate for every model (default: each recipe's)")
    parser.add_argument("--precision", choices=PRECISIONS, default="fp32")
    parser.add_argument("--seed", type=int, default=0, help="weights, dropout and data order")
    parser.add_argument("--limit-train", type=int, default=None, metavar="N",
                        help="only the first N training images (a quick check)")
    parser.add_argument("--limit-val", type=int, default=None, metavar="N",
                        help="only the first N validation images")
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="DIR/<model>/metrics.json is written per model")
    return parser


def validate(args):
    """Every check that needs no framework, before one is imported."""
    for flag, value in (("--epochs", args.epochs), ("--batch-size", args.batch_size),
                        ("--limit-train", args.limit_train), ("--limit-val", args.limit_val)):
        if value is not None and value < 1:
            raise UsageError(f"{flag} must be at least 1, got {value}")
    if args.lr is not None and not args.lr > 0:
        raise UsageError(f"--lr must be positive, got {args.lr}")
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise UsageError(f"--out {args.out} is a file: name a directory")
    try:
        args.backend = canonical_name(args.backend)
    except BackendError as error:
        raise UsageError(str(error)) from None


def train_one(d2l, name, args):
    """Train one recipe; returns the JSON-ready record of the run."""
    recipe = RECIPES[name]
    lr = recipe.lr if args.lr is None else args.lr
    d2l.set_seed(args.seed)
    model = d2l.AlexNet(lr=lr, num_classes=NUM_CLASSES, resize=EXERCISE_RESIZE,
                        layers=recipe.layers)
    parameters = parameter_count(EXERCISE_RESIZE, NUM_CLASSES, layers=recipe.layers)
    built = sum(array.size for _, array in d2l.parameter_arrays(model))
    if built != parameters:  # the FLOPs below are the table's: they must describe this network
        raise RuntimeError(f"{name}: the {args.backend} network has {built:,} parameters, the "
                           f"table {parameters:,}")
    data = d2l.FashionMNIST(batch_size=args.batch_size, resize=(EXERCISE_RESIZE,) * 2,
                            seed=args.seed, limit_train=args.limit_train,
                            limit_val=args.limit_val, log=None)
    trainer = d2l.Trainer(max_epochs=args.epochs, precision=args.precision, progress=False,
                          log=lambda line: print(f"{name}: {line}", flush=True))
    print(f"{name}: exercise {recipe.exercise}, lr {lr}, {parameters:,} parameters", flush=True)
    history = trainer.fit(model, data)
    return {
        "model": name, "exercise": recipe.exercise, "backend": args.backend,
        "device": trainer.device_name(), "precision": args.precision, "lr": lr,
        "batch_size": args.batch_size, "epochs": args.epochs, "seed": args.seed,
        "resize": EXERCISE_RESIZE, "train_images": data.num_examples(True),
        "val_images": data.num_examples(False),
        "layers": [{"kind": row.layer.kind, "units": row.layer.units,
                    "kernel": row.layer.kernel, "stride": row.layer.stride,
                    "padding": row.layer.padding, "rate": row.layer.rate,
                    "output_shape": list(row.output_shape), "parameters": row.parameters}
                   for row in layer_table(EXERCISE_RESIZE, NUM_CLASSES, layers=recipe.layers)],
        "parameters": parameters,
        "forward_flops_per_image": forward_flops(EXERCISE_RESIZE, NUM_CLASSES,
                                                 layers=recipe.layers),
        "history": history,
        "command": " ".join(["python", "benchmarks/exercise_models.py", *args.argv]),
        "versions": versions(args.backend), "machine": machine(),
    }


def format_table(records):
    header = ("| model | lr | parameters | forward MFLOPs/image | final val acc | best val acc "
              "| seconds/epoch | train img/s |")
    lines = [header, "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for record in records:
        history = record["history"]
        seconds = sum(epoch["seconds"] for epoch in history) / len(history)
        images_per_sec = sum(epoch["images_per_sec"] for epoch in history) / len(history)
        lines.append(
            f"| {record['model']} | {record['lr']} | {record['parameters']:,} | "
            f"{record['forward_flops_per_image'] / 1e6:,.2f} | {history[-1]['val_acc']:.4f} | "
            f"{max(epoch['val_acc'] for epoch in history):.4f} | {seconds:,.1f} | "
            f"{images_per_sec:,.0f} |")
    return "\n".join(lines)


def run(args):
    validate(args)
    try:
        d2l = load_backend(args.backend)
    except BackendError as error:
        raise UsageError(str(error)) from None
    if args.precision not in d2l.PRECISIONS:
        raise UsageError(f"--precision {args.precision} is not supported by the {args.backend} "
                         f"backend: use {' or '.join(d2l.PRECISIONS)}")
    records = []
    for name in dict.fromkeys(args.models):  # in the order given, each once
        record = train_one(d2l, name, args)
        os.makedirs(os.path.join(args.out, name), exist_ok=True)
        path = os.path.join(args.out, name, "metrics.json")
        atomic_write_json(path, record)
        print(f"{name}: wrote {path}", flush=True)
        records.append(record)
    print(format_table(records))
    return 0


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(argv)
        args.argv = argv
        return run(args)
    except (UsageError, DataError) as error:  # bad input, or no Fashion-MNIST to be found
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
