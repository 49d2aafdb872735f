"""``python -m d2l_alexnet.evaluate --backend jax --weights runs/pytorch/weights.safetensors``.

The validation loss and accuracy of a weights file, in any backend, whichever backend saved it
(the file is in the canonical layout of ``core/weights.py``). It runs the Trainer's own
validation loop (``TrainerBase.evaluate``), so the numbers are the ones ``fit`` would report.
Bad input exits with status 2 and one line that says what to change; running out of memory
exits 1 with the batch size to try (``cli.py``). ``--image-folder DIR`` measures it on every
image of a folder of class subfolders instead of Fashion-MNIST's validation set; the folder's
classes must be ones the file was trained on (its saved class names), each found by its name,
so that a test set may hold some of them only.
"""

import shlex
import sys

import numpy as np

from .backends import canonical_name, load_backend
from .cli import (UsageError, add_backend_argument, add_batch_size_argument, add_data_arguments,
                  add_device_argument, check_counts, check_data_dir, check_resize, command_parser,
                  main_of, normalized_names, path_argument, reordered_class_names, same_class_names,
                  shown_names)
from .core.architecture import CHAPTER_RESIZE, as_size, format_size
from .core.data import TEXT_LABELS, DataError, load_fashion_mnist
from .core.images import COLOR_MODES, folder_classes, folder_color_mode, folder_images
from .core.weights import WeightsError, from_canonical, read_weights
from .predict import (check_image_channels, class_names, described_file, fitting_side, input_size,
                      python_lines)
from .train import NUM_CLASSES, in_flags

def build_parser():
    parser = command_parser(
        "evaluate", "Validation loss and accuracy of an AlexNet weights file on Fashion-MNIST, "
                    "or on a folder of your own images (--image-folder). The loss is the "
                    "plain cross-entropy: a run trained with --label-smoothing reported its "
                    "smoothed loss, higher for the same weights.")
    add_backend_argument(parser)
    parser.add_argument("--weights", type=path_argument, default=None, metavar="PATH",
                        help="a weights.safetensors written by training in any backend (or a "
                             "checkpoint, whose weights are taken)")
    add_batch_size_argument(parser)
    parser.add_argument("--resize", type=int, default=None,
                        help="image side (default: the one the weights were saved for)")
    add_device_argument(parser)
    add_data_arguments(parser, limit_train=False)
    parser.add_argument("--image-folder", type=path_argument, default=None, metavar="DIR",
                        help="measure on every image of DIR (one subfolder per class, named "
                             "as classes the weights were trained on, all or some of them) "
                             "instead of Fashion-MNIST")
    parser.add_argument("--skip-unreadable", action="store_true",
                        help="with --image-folder: skip image files that cannot be read")
    return parser


def validate(args):
    """Check the numbers and read the weights file before any framework is imported."""
    if args.weights is None:
        raise UsageError("--weights PATH is required: the weights.safetensors a training run "
                         "wrote in its --out directory")
    check_counts(("--batch-size", args.batch_size), ("--limit-val", args.limit_val))
    check_data_dir(args.data_dir)
    if args.image_folder is not None:
        for flag, value in (("--data-dir", args.data_dir), ("--limit-val", args.limit_val)):
            if value is not None:
                raise UsageError(f"{flag} is for Fashion-MNIST, and --image-folder measures "
                                 f"on {args.image_folder}: leave out {flag}")
    elif args.skip_unreadable:
        raise UsageError("--skip-unreadable goes with --image-folder DIR; without it evaluate "
                         "measures on Fashion-MNIST")
    args.backend = canonical_name(args.backend)
    args.notes = []
    # A folder is a test set: it may hold some of the file's classes only (mapped by name).
    args.classes = (list(TEXT_LABELS) if args.image_folder is None
                    else folder_classes(args.image_folder, "--image-folder", test_set=True))
    try:
        saved = described_file(args.weights)
        # First: neither Fashion-MNIST nor a folder gives other channels than 1 or 3, so the
        # class refusal's --image-folder would not help (a file of 1 or 3 is adapted).
        check_image_channels(args.weights, saved["in_channels"])
        check_fits_evaluate(args, saved)
        args.resize = input_size(args, saved)
        check_resize(args.resize)
        # Fashion-MNIST is greyscale (an RGB file's conv1 is adapted); a folder is read in the
        # channels the file was trained on.
        args.in_channels = 1 if args.image_folder is None else saved["in_channels"] or 1
        args.tensors = read_weights(args.weights, args.resize, len(args.model_classes),
                                    args.in_channels)
        if args.head_order is not None:
            for name in ("dense3.weight", "dense3.bias"):  # (out, in) and (out,): rows
                args.tensors[name] = args.tensors[name][args.head_order]
    except WeightsError as error:
        raise UsageError(f"--weights: {error}") from None


def check_fits_evaluate(args, saved):
    """Refuse a file ``evaluate`` cannot measure on ``args.classes`` (Fashion-MNIST's, or the
    folder's) with advice ``evaluate`` or ``train`` can follow (the library's own messages
    name ``num_classes=``, ``resize=`` and ``--new-head``, which are ``AlexNet``'s and
    ``train``'s); ``saved``: the file's :func:`saved_metadata`. Class names are compared
    Unicode-normalised (a macOS folder gives them decomposed)."""
    classes, names = saved["num_classes"], saved["classes"]
    args.model_classes = args.classes  # the model's output classes, in label order
    args.head_order = None
    if names is None:
        names = assumed_class_names(args, saved)
    elif args.image_folder is None and reordered_class_names(names, TEXT_LABELS):
        # Fashion-MNIST's names in another order (sorted, as train --image-folder writes for
        # an exported Fashion-MNIST folder): the head's rows are put in its label order.
        order = normalized_names(names)
        args.head_order = [order.index(name) for name in normalized_names(TEXT_LABELS)]
        args.notes.append(f"{args.weights} names Fashion-MNIST's classes in another order "
                          f"({shown_names(names)}): each output is matched to its label by name")
        return
    if args.image_folder is not None and names is not None:
        known = set(normalized_names(names))
        unknown = [name for name, normal in zip(args.classes, normalized_names(args.classes))
                   if normal not in known]
        if not unknown:
            args.model_classes = names  # each folder found by its name: a test set may hold some
            return
        trained_on = ("was trained on the classes" if saved["classes"] is not None else
                      "names no classes and has Fashion-MNIST's shape, so is read (as predict "
                      "reads it) as Fashion-MNIST's")
        raise UsageError(f"--weights: {args.weights} {trained_on} "
                         f"{shown_names(names)}, and --image-folder {args.image_folder} has "
                         f"{shown_names(args.classes)}, of which {shown_names(unknown)} "
                         f"{'is' if len(unknown) == 1 else 'are'} not among them: "
                         f"{fine_tuning_fix(args, saved)}")
    if args.image_folder is None:
        data, other = f"Fashion-MNIST has {NUM_CLASSES}", "not Fashion-MNIST's"
        fix = ("give it a weights file trained on Fashion-MNIST (train's --out), or measure "
               "this one on images of its own classes: --image-folder DIR")
    else:
        data = (f"--image-folder {args.image_folder} has {len(args.classes)} "
                f"({shown_names(args.classes)})")
        other = f"and --image-folder {args.image_folder} has {shown_names(args.classes)}"
        fix = fine_tuning_fix(args, saved)
    if classes is not None and classes != len(args.classes):
        raise UsageError(f"--weights: {args.weights} holds weights for {classes} classes, and "
                         f"{data}: {fix}")
    if names is not None and not same_class_names(names, args.classes):
        raise UsageError(f"--weights: {args.weights} was trained on the classes "
                         f"{shown_names(names)}, {other}: {fix}")


def assumed_class_names(args, saved):
    """The names of the outputs of a file that records none, as ``predict`` reads them:
    Fashion-MNIST's for a file of its shape (``None`` otherwise: its outputs are taken in the
    data's label order); either way one line in ``args.notes`` says what was assumed."""
    names, _ = class_names(args.weights, saved)
    if names == list(TEXT_LABELS):
        args.notes.append(f"{args.weights} names no classes; it has Fashion-MNIST's shape (10 "
                          "classes, greyscale): reading its outputs as Fashion-MNIST's classes, "
                          "as predict names them")
        return names
    data = ("Fashion-MNIST's label order" if args.image_folder is None else
            f"the sorted order of --image-folder's classes ({shown_names(args.classes)}), as "
            "train --image-folder numbers them")
    args.notes.append(f"{args.weights} names no classes: reading its outputs in {data} "
                      "(predict prints their indices)")
    return None


def fine_tuning_fix(args, saved):
    """What to do with a file for other classes than --image-folder's: measure it on its own,
    or the command that fine-tunes it onto the folder's, as it would run (the file's input
    size, train's default being the chapter's; the paths quoted for a shell)."""
    measure = "measure it on a folder of the classes it was trained on, or fine-tune it onto "
    sides = saved.get("resizes")
    resize = saved["resize"] or (fitting_side(sides) if sides else CHAPTER_RESIZE)
    height, width = as_size(resize)
    if height != width:  # --resize gives square inputs only
        # Fine-tuned on the folder's images: their channels, not the file's.
        channels = COLOR_MODES[folder_color_mode(args.image_folder)][1]
        return (f"{measure}these in Python: "
                f"{python_lines(saved, len(args.classes), True, channels)}")
    size = f" --resize {height}" if height != CHAPTER_RESIZE else ""
    return (f"{measure}these: train --image-folder {shlex.quote(str(args.image_folder))} "
            f"--init-from {shlex.quote(str(args.weights))} --new-head{size}")


def run(args):
    validate(args)
    for note in args.notes:
        print(f"note: {note}", file=sys.stderr)
    backend = load_backend(args.backend, "evaluate")
    if args.image_folder is None:
        data, where = fashion_validation_data(backend, args)
        source = f"validation images of Fashion-MNIST ({where})"
    else:
        data = folder_data(backend, args)
        source = f"images of {args.image_folder}"
    num_classes = len(args.model_classes)
    model = backend.AlexNet(num_classes=num_classes, resize=args.resize,
                            in_channels=args.in_channels)
    backend.assign_parameter_arrays(model, from_canonical(
        args.tensors, backend.LAYOUT, args.resize, num_classes, args.in_channels))
    trainer = backend.Trainer(max_epochs=1, device=args.device, progress=False, log=None)
    result = trainer.evaluate(model, data)
    print(f"AlexNet ({args.backend}, {trainer.device_name()}) with {args.weights}, on "
          f"{data.num_examples(False):,} {source} at {format_size(args.resize)}")
    print(f"val_loss {result['val_loss']:.4f}  val_acc {result['val_acc']:.4f}")
    return 0


def fashion_validation_data(backend, args):
    """Fashion-MNIST's validation images (the t10k files: a --data-dir need hold no others)
    as the validation split of the backend's ``ArrayData``, the same batches its
    ``FashionMNIST`` gives; and where they were found."""
    arrays = load_fashion_mnist(args.data_dir, splits=("val",))
    split = (arrays.val_images[:args.limit_val], arrays.val_labels[:args.limit_val])
    return backend.ArrayData(split, split, batch_size=args.batch_size, resize=args.resize,
                             classes=TEXT_LABELS), arrays.source


def folder_data(backend, args):
    """Every image of --image-folder, read as ImageFolder reads them in the file's channels and
    size, as the validation split of the backend's ``ArrayData`` (evaluate measures that
    split; the training split is the same arrays, never used)."""
    color_mode = "grayscale" if args.in_channels == 1 else "rgb"
    try:
        images, labels, classes, _ = folder_images(
            args.image_folder, color_mode, args.resize, skip_unreadable=args.skip_unreadable,
            log=print)
    except DataError as error:
        raise in_flags(error) from None
    # The folder's labels as the model's: its classes are found in the file's by name.
    model_classes = normalized_names(args.model_classes)
    labels = np.array([model_classes.index(name) for name in normalized_names(classes)])[labels]
    return backend.ArrayData((images, labels), (images, labels), batch_size=args.batch_size,
                             resize=args.resize, layout="NHWC", classes=args.model_classes)


def main(argv=None):
    return main_of(build_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
