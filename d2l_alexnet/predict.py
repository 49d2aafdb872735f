"""``python -m d2l_alexnet.predict --weights runs/pytorch/weights.safetensors photo.jpg``.

Classifies image files with a weights file, in any backend, whichever backend saved it: one
line per image, ``path<TAB>class<TAB>probability`` (``--top-k K``: the K likeliest, one line
each). Each file is read as ``ImageFolder`` reads its images (``core.images.read_image``), in
the channels and at the size the weights file records; the class names are the ones ``train``
saved in it. Bad input exits with status 2 and one line that says what to change.
"""

import sys

import numpy as np

from .backends import canonical_name, load_backend
from .cli import (UsageError, add_backend_argument, add_batch_size_argument, check_counts,
                  check_resize, command_parser, main_of)
from .core.architecture import CHAPTER_RESIZE
from .core.data import TEXT_LABELS
from .core.images import read_image, shown_path
from .core.weights import WeightsError, from_canonical, read_tensors, read_weights, saved_metadata


def build_parser():
    parser = command_parser(
        "predict", "Classify image files with an AlexNet weights file: each file's likeliest "
                   "class and its probability.")
    add_backend_argument(parser)
    parser.add_argument("--weights", default=None, metavar="PATH",
                        help="a weights.safetensors written by train in any backend")
    parser.add_argument("--top-k", type=int, default=1, metavar="K",
                        help="print the K likeliest classes of each image (default 1)")
    add_batch_size_argument(parser, default=32)
    parser.add_argument("images", nargs="+", metavar="IMAGE",
                        help="image files (PNG, JPEG...), read as ImageFolder reads them")
    return parser


def class_names(path, saved):
    """``(names, note)``: the class names of a weights file's outputs, and ``None`` or the one
    line that says where they come from when the file does not name them. ``saved``: the
    file's :func:`saved_metadata`, with ``num_classes`` known."""
    if saved["classes"] is not None:
        return saved["classes"], None
    num_classes = saved["num_classes"]
    # What a Fashion-MNIST run wrote before train recorded the names: 10 greyscale classes.
    if num_classes == len(TEXT_LABELS) and (saved["in_channels"] or 1) == 1:
        return list(TEXT_LABELS), (f"{path} names no classes; it has Fashion-MNIST's shape "
                                   "(10 classes, greyscale): printing Fashion-MNIST's names")
    return [str(index) for index in range(num_classes)], (
        f"{path} names no classes (written before train and its checkpoints recorded them, "
        f"or saved in Python without classes=): printing class indices 0..{num_classes - 1}")


def validate(args):
    """Check the flags, read the weights and every image, before any framework is imported."""
    if args.weights is None:
        raise UsageError("--weights PATH is required: the weights.safetensors a training run "
                         "wrote in its --out directory")
    check_counts(("--batch-size", args.batch_size), ("--top-k", args.top_k))
    args.backend = canonical_name(args.backend)
    try:
        saved = saved_metadata(args.weights)
        if saved["num_classes"] is None:  # a file of another tool: its last layer tells
            saved["num_classes"] = len(read_tensors(args.weights, log=None)[0]
                                       .get("dense3.bias", ()))
            if saved["num_classes"] < 2:
                raise WeightsError(f"{args.weights} has no classifier of two classes or more "
                                   "in dense3: not AlexNet weights of this library")
        args.resize = saved["resize"] or CHAPTER_RESIZE
        args.in_channels = saved["in_channels"] or 1
        args.tensors = read_weights(args.weights, args.resize, saved["num_classes"],
                                    args.in_channels, log=None)
    except WeightsError as error:
        raise UsageError(f"--weights: {error}") from None
    check_resize(args.resize)
    args.classes, args.note = class_names(args.weights, saved)
    if args.top_k > len(args.classes):
        raise UsageError(f"--top-k {args.top_k} is more than the {len(args.classes)} classes "
                         f"of {args.weights}: use at most {len(args.classes)}")
    color_mode = "grayscale" if args.in_channels == 1 else "rgb"
    args.pixels = [read_image(path, color_mode, args.resize) for path in args.images]


# A tab or a line break inside a field would split it: they are written as escapes.
FIELD_ESCAPES = str.maketrans({"\t": "\\t", "\n": "\\n", "\r": "\\r"})


def tab_field(text):
    """``text`` as one field of a tab-separated line."""
    return text.translate(FIELD_ESCAPES)


def run(args):
    validate(args)
    if args.note is not None:
        print(f"note: {args.note}", file=sys.stderr)
    backend = load_backend(args.backend, "predict")
    num_classes = len(args.classes)
    model = backend.AlexNet(num_classes=num_classes, resize=args.resize,
                            in_channels=args.in_channels)
    backend.assign_parameter_arrays(model, from_canonical(
        args.tensors, backend.LAYOUT, args.resize, num_classes, args.in_channels))
    probabilities = model.probabilities(np.stack(args.pixels), batch_size=args.batch_size)
    for path, row in zip(args.images, probabilities):
        for index in np.argsort(-row, kind="stable")[:args.top_k]:
            print(f"{tab_field(shown_path(path))}\t{tab_field(args.classes[index])}\t"
                  f"{row[index]:.4f}")
    return 0


def main(argv=None):
    return main_of(build_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
