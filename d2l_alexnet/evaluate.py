"""``python -m d2l_alexnet.evaluate --backend jax --weights runs/pytorch/weights.safetensors``.

The validation loss and accuracy of a weights file, in any backend, whichever backend saved it
(the file is in the canonical layout of ``core/weights.py``). It runs the Trainer's own
validation loop (``TrainerBase.evaluate``), so the numbers are the ones ``fit`` would report.
Bad input exits with status 2 and one line that says what to change; running out of memory
exits 1 with the batch size to try (``cli.py``).
"""

import sys

from .backends import canonical_name, load_backend
from .cli import (UsageError, add_backend_argument, add_batch_size_argument, add_data_arguments,
                  add_device_argument, check_counts, check_data_dir, check_resize, command_parser,
                  exit_status_of)
from .core.architecture import CHAPTER_RESIZE, as_size, format_size
from .core.weights import WeightsError, from_canonical, read_weights, saved_metadata
from .train import NUM_CLASSES


def build_parser():
    parser = command_parser(
        "evaluate", "Validation loss and accuracy of an AlexNet weights file on Fashion-MNIST.")
    add_backend_argument(parser)
    parser.add_argument("--weights", default=None, metavar="PATH",
                        help="a weights.safetensors written by training in any backend (or a "
                             "checkpoint, whose weights are taken)")
    add_batch_size_argument(parser)
    parser.add_argument("--resize", type=int, default=None,
                        help="image side (default: the one the weights were saved for)")
    add_device_argument(parser)
    add_data_arguments(parser, limit_train=False)
    return parser


def validate(args):
    """Check the numbers and read the weights file before any framework is imported."""
    if args.weights is None:
        raise UsageError("--weights PATH is required: the weights.safetensors a training run "
                         "wrote in its --out directory")
    check_counts(("--batch-size", args.batch_size), ("--limit-val", args.limit_val))
    check_data_dir(args.data_dir)
    args.backend = canonical_name(args.backend)
    if args.resize is not None:
        check_resize(args.resize)
    try:
        saved = saved_metadata(args.weights)
        check_fits_evaluate(args, saved)
        if args.resize is None:
            args.resize = saved["resize"] or CHAPTER_RESIZE
            check_resize(args.resize)
        args.tensors = read_weights(args.weights, args.resize, NUM_CLASSES)
    except WeightsError as error:
        raise UsageError(f"--weights: {error}") from None


def check_fits_evaluate(args, saved):
    """Refuse a file ``evaluate`` cannot measure with advice ``evaluate`` can follow (the
    library's own messages name ``num_classes=``, ``resize=`` and ``--new-head``, which are
    ``AlexNet``'s and ``train``'s); ``saved``: the file's :func:`saved_metadata`."""
    classes, channels = saved["num_classes"], saved["in_channels"] or 1
    if classes is not None and classes != NUM_CLASSES:
        raise UsageError(
            f"--weights: {args.weights} holds weights for {classes} classes, and evaluate "
            f"measures Fashion-MNIST's {NUM_CLASSES}: give it a weights file trained on "
            "Fashion-MNIST (train's --out), or measure this one on its own data in Python: "
            f"model = d2l.AlexNet(num_classes={classes}, resize={saved['resize']!r}, "
            f"in_channels={channels}); model.load_weights(PATH); "
            "d2l.Trainer(max_epochs=1).evaluate(model, data)")
    if (args.resize is not None and saved["resize"] is not None
            and as_size(args.resize) != as_size(saved["resize"])):
        raise UsageError(f"--weights: {args.weights} holds weights for "
                         f"{format_size(saved['resize'])} inputs (the model: "
                         f"{format_size(args.resize)}): leave out --resize, which defaults to "
                         "the size the file was saved for")


def run(args):
    validate(args)
    backend = load_backend(args.backend)
    data = backend.FashionMNIST(batch_size=args.batch_size, resize=as_size(args.resize),
                                data_dir=args.data_dir, limit_val=args.limit_val)
    model = backend.AlexNet(num_classes=NUM_CLASSES, resize=args.resize)
    backend.assign_parameter_arrays(model, from_canonical(args.tensors, backend.LAYOUT,
                                                          args.resize, NUM_CLASSES))
    trainer = backend.Trainer(max_epochs=1, device=args.device, progress=False, log=None)
    result = trainer.evaluate(model, data)
    print(f"AlexNet ({args.backend}, {trainer.device_name()}) with {args.weights}, on "
          f"{data.num_examples(False):,} validation images of Fashion-MNIST ({data.source}) at "
          f"{format_size(args.resize)}")
    print(f"val_loss {result['val_loss']:.4f}  val_acc {result['val_acc']:.4f}")
    return 0


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return exit_status_of(run, args)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
