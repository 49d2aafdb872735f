"""``python -m d2l_alexnet.predict --weights runs/pytorch/weights.safetensors photo.jpg``.

Classifies image files with a weights file, in any backend, whichever backend saved it: one
line per image, ``path<TAB>class<TAB>probability`` (``--top-k K``: the K likeliest, one line
each). Each file is read as ``ImageFolder`` reads its images (``core.images.read_image``), in
the channels and at the size the weights file records; the class names are the ones ``train``
saved in it. Bad input exits with status 2 and one line that says what to change.
"""

import os
import sys

import numpy as np

from .backends import canonical_name, load_backend
from .cli import (UsageError, add_backend_argument, add_batch_size_argument, check_counts,
                  check_resize, command_parser, main_of, path_argument)
from .core.architecture import CHAPTER_RESIZE, as_size, format_size, minimum_resize
from .core.data import TEXT_LABELS
from .core.images import read_image
from .core.weights import (WeightsError, canonical_shapes, from_canonical, read_tensors,
                           read_weights, saved_metadata)


def build_parser():
    parser = command_parser(
        "predict", "Classify image files with an AlexNet weights file: each file's likeliest "
                   "class and its probability.")
    add_backend_argument(parser)
    parser.add_argument("--weights", type=path_argument, default=None, metavar="PATH",
                        help="a weights.safetensors written by train in any backend")
    parser.add_argument("--top-k", type=int, default=1, metavar="K",
                        help="print the K likeliest classes of each image (default 1)")
    parser.add_argument("--resize", type=int, default=None,
                        help="image side (default: the one the weights were saved for)")
    add_batch_size_argument(parser, default=32)
    parser.add_argument("images", nargs="+", type=path_argument, metavar="IMAGE",
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


def described_file(path):
    """A weights file's :func:`saved_metadata`, with what its metadata lacks (a file of
    another tool holds tensors only) read from its tensors' shapes: ``num_classes`` from
    ``dense3.bias``, ``in_channels`` from ``conv1.weight``'s input channels; and
    ``resizes``: ``(first, last)``, the square input sides whose map before ``dense1`` has as
    many values as ``dense1`` takes, where the file records no input size (else ``None``)."""
    saved = saved_metadata(path)
    saved["resizes"] = None
    if None not in (saved["num_classes"], saved["in_channels"], saved["resize"]):
        return saved
    tensors = read_tensors(path, log=None)[0]
    if saved["num_classes"] is None:  # its last layer tells
        saved["num_classes"] = len(tensors.get("dense3.bias", ()))
        if saved["num_classes"] < 2:
            raise WeightsError(f"{path} has no classifier of two classes or more in dense3: "
                               "not AlexNet weights of this library")
    kernel = tensors.get("conv1.weight")
    if saved["in_channels"] is None and kernel is not None and kernel.ndim == 4:
        saved["in_channels"] = int(kernel.shape[1])
    dense = tensors.get("dense1.weight")
    if saved["resize"] is None and dense is not None and dense.ndim == 2:
        saved["resizes"] = square_sides_for(int(dense.shape[1]))
        if saved["resizes"] is None:
            raise WeightsError(f"{path} records no input size, and its dense1 takes "
                               f"{dense.shape[1]:,} values, which no square input gives "
                               "(--resize takes one side): not a file the command line reads")
    return saved


def square_sides_for(flattened):
    """``(first, last)``: the square input sides whose map before ``dense1`` has ``flattened``
    values, or ``None`` if none has (each side in the range gives the same shapes)."""
    found, side = [], minimum_resize()
    while True:
        _, before_dense = canonical_shapes(side, 2)
        values = int(np.prod(before_dense))
        if values == flattened:
            found.append(side)
        elif values > flattened:
            return (found[0], found[-1]) if found else None
        side += 1


def check_image_channels(path, in_channels):
    """Refuse a file for inputs of other channels than an image file gives (``AlexNet(
    in_channels=4)`` in Python, say) before any framework is imported."""
    if in_channels not in (None, 1, 3):
        raise UsageError(f"--weights: {path} is for {in_channels}-channel inputs, and the "
                         "command line reads images as greyscale (1 channel) or RGB (3): "
                         "use this file from Python, or a file trained on images")


def fitting_side(sides):
    """The side to read images at for a file whose ``dense1`` fits the square ``sides``
    ``(first, last)``: the chapter's where it fits, else the smallest."""
    return CHAPTER_RESIZE if sides[0] <= CHAPTER_RESIZE <= sides[1] else sides[0]


def python_lines(saved, num_classes, skip_head, in_channels=None):
    """The Python that loads a weights file of non-square inputs (``--resize`` gives square
    ones only), ``saved`` its metadata: a model of the file's size, for ``num_classes`` and
    the images' ``in_channels`` (the file's where not given; ``load_weights`` adapts the
    first layer of a file for other channels)."""
    skip = ", skip_head=True" if skip_head else ""
    channels = in_channels or saved["in_channels"] or 1
    return (f"model = d2l.AlexNet(num_classes={num_classes}, resize={tuple(saved['resize'])!r}, "
            f"in_channels={channels}); model.load_weights(PATH{skip})")


def input_size(args, saved):
    """The side to read images at: ``--resize``, the file's, or for a file that records none,
    the chapter's when its ``dense1`` fits that, else the smallest side that fits, said in
    ``args.notes``; refuses a ``--resize`` that ``dense1`` does not fit, naming those that do."""
    sides = saved["resizes"]
    if args.resize is not None:
        # The file's own size first: the fix is then to leave --resize out, whatever it was
        # (a --resize below the smallest had been told to grow, and then to go).
        if saved["resize"] is not None and as_size(args.resize) != as_size(saved["resize"]):
            raise UsageError(f"--weights: {args.weights} holds weights for "
                             f"{format_size(saved['resize'])} inputs (the model: "
                             f"{format_size(args.resize)}): leave out --resize, which defaults "
                             "to the size the file was saved for")
        check_resize(args.resize)
        if sides is not None and not sides[0] <= args.resize <= sides[1]:
            raise UsageError(f"--resize {args.resize} does not fit {args.weights}, which records "
                             f"no input size: its dense1 fits inputs of {sides[0]} to "
                             f"{sides[1]} pixels a side; pass one of them")
        return args.resize
    if saved["resize"] is not None:
        return saved["resize"]
    if sides is None:
        return CHAPTER_RESIZE  # no dense1: reading it says what is missing
    side = fitting_side(sides)
    args.notes.append(f"{args.weights} records no input size: its dense1 fits inputs of "
                      f"{sides[0]} to {sides[1]} pixels a side; reading images at "
                      f"{side}×{side} (--resize to choose another)")
    return side


def validate(args):
    """Check the flags, read the weights and every image, before any framework is imported."""
    if args.weights is None:
        raise UsageError("--weights PATH is required: the weights.safetensors a training run "
                         "wrote in its --out directory")
    check_counts(("--batch-size", args.batch_size), ("--top-k", args.top_k))
    args.backend = canonical_name(args.backend)
    args.notes = []
    try:
        saved = described_file(args.weights)
        check_image_channels(args.weights, saved["in_channels"])
        args.resize = input_size(args, saved)
        check_resize(args.resize)
        args.in_channels = saved["in_channels"] or 1
        # What reading says (a checkpoint's weights taken) goes to stderr, as notes do: stdout
        # holds the classes.
        args.tensors = read_weights(args.weights, args.resize, saved["num_classes"],
                                    args.in_channels, log=args.notes.append)
    except WeightsError as error:
        raise UsageError(f"--weights: {error}") from None
    args.classes, note = class_names(args.weights, saved)
    args.notes += [note] if note is not None else []
    if args.top_k > len(args.classes):
        raise UsageError(f"--top-k {args.top_k} is more than the {len(args.classes)} classes "
                         f"of {args.weights}: use at most {len(args.classes)}")
    color_mode = "grayscale" if args.in_channels == 1 else "rgb"
    args.pixels = [read_image(path, color_mode, args.resize) for path in args.images]


# A tab or a line break inside a field would split it: they are written as escapes, and so is
# a backslash, so that a reader can undo them (a name "a\tb" is not one with a tab).
FIELD_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def tab_field(text):
    """``text`` as one field of a tab-separated line."""
    return text.translate(FIELD_ESCAPES)


def run(args):
    validate(args)
    for note in args.notes:
        print(f"note: {note}", file=sys.stderr)
    backend = load_backend(args.backend, "predict")
    num_classes = len(args.classes)
    model = backend.AlexNet(num_classes=num_classes, resize=args.resize,
                            in_channels=args.in_channels)
    backend.assign_parameter_arrays(model, from_canonical(
        args.tensors, backend.LAYOUT, args.resize, num_classes, args.in_channels))
    probabilities = model.probabilities(np.stack(args.pixels), batch_size=args.batch_size)
    for path, row in zip(args.images, probabilities):
        for index in np.argsort(-row, kind="stable")[:args.top_k]:
            # The path as given, its bytes that are not UTF-8 written back as they are
            # (print_anywhere's stream): a line names the file it was read from, byte for byte.
            print(f"{tab_field(os.fspath(path))}\t{tab_field(args.classes[index])}\t"
                  f"{row[index]:.4f}")
    return 0


def main(argv=None):
    return main_of(build_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
