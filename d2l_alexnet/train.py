"""``python -m d2l_alexnet.train --backend pytorch``: the chapter's training run from a terminal.

Defaults are the chapter's (10 epochs, batch 128, lr 0.01, 224×224, 10 classes). Bad input exits
with status 2 and one line that says what to change; nothing is written before the input is good.
``--image-folder DIR`` trains on a folder of class subfolders of images instead (``ImageFolder``),
and the weights file records the class names, so ``predict`` can name what it sees.
"""

import argparse
import contextlib
import errno
import os
import re
import random
import shlex
import signal
import sys
import tempfile
import threading

import numpy as np

from .backends import canonical_name, load_backend
from .cli import (DATA_ON_DEVICE, STDOUT_MARK, UsageError, add_backend_argument,
                  add_batch_size_argument, add_compile_argument, add_data_arguments,
                  add_data_on_device_argument, add_device_argument, add_precision_argument,
                  check_compile, check_counts, check_data_dir, check_output_path, check_resize,
                  check_seed, command_parser, compile_options, exit_status_of, failure_reason,
                  forget_a_closed_terminal, normalized_names, path_argument,
                  reordered_class_names, same_class_names, shown_names)
from .core.architecture import CHAPTER_RESIZE, as_size, format_size, parameter_count
from .core.errors import RunFailed
from .core.files import (atomic_write_json, free_bytes, missing_directories, nearest_existing,
                         remove_directories, remove_unfinished_writes)
from .core.lock import FolderInUse, FolderLocks, check_not_in_use, describe_process
from .core.callbacks import (EVENT_FILE_MARK, EarlyStopping, KeepBest, MetricsLog, PlotCurves,
                             RecordWriteError, TensorBoardLog, event_files, saved_run)
from .core.checkpoint import (ARCHITECTURE, Checkpointer, check_compatible, check_directory,
                              estimated_bytes, latest_checkpoint, list_checkpoints,
                              set_aside_after)
from .core.data import TEXT_LABELS, DataError
from .core.progress import FigureError, check_can_draw
from .predict import described_file, fitting_side, python_lines
from .core.images import (COLOR_MODES, VALIDATION_SPLIT, folder_classes,
                          folder_color_mode)
from .core.recipe import NAMED_RECIPES, SCHEDULES
from .core.trainer import (TrainingError, TrainingInterrupted, ValidationDiverged,
                           check_resumed_recipe)
from .core.weights import WeightsError, from_canonical, read_weights

NUM_CLASSES = 10  # Fashion-MNIST's
# ImageFolder's Python arguments, as train's flags say them (in the messages it raises).
IMAGE_FOLDER_FLAGS = {"skip_unreadable=True": "--skip-unreadable",
                      "val_root=FOLDER": "--val-folder DIR"}


def build_parser():
    parser = command_parser(
        "train", "Train the chapter's AlexNet on Fashion-MNIST (d2l, sec_alexnet), or on a "
                 "folder of your own images (--image-folder).")
    add_backend_argument(parser)
    parser.add_argument("--epochs", type=int, default=None,
                        help="passes over the training set (default 10, or the --recipe's)")
    add_batch_size_argument(parser)
    add_recipe_arguments(parser)
    parser.add_argument("--resize", type=int, default=CHAPTER_RESIZE,
                        help="side the images are resized to (bilinear)")
    add_device_argument(parser)
    parser.add_argument("--devices", type=int, default=1, metavar="N",
                        help="train data-parallel on N devices (the batch size stays the "
                             "global batch; PyTorch: launch with torchrun, see Scaling out)")
    add_precision_argument(parser)
    add_compile_argument(parser)
    add_data_on_device_argument(parser)
    parser.add_argument("--seed", type=int, default=0, help="seed for weights, dropout, order")
    parser.add_argument("--augment", action="store_true",
                        help="random flips and crops of the training images (and colour "
                             "changes for RGB), new in every epoch, drawn from --seed")
    add_data_arguments(parser)
    add_image_folder_arguments(parser)
    parser.add_argument("--out", type=path_argument, default=None, metavar="DIR",
                        help="where metrics.json, metrics.jsonl, curves.png and "
                             "weights.safetensors go (default runs/<backend>)")
    parser.add_argument("--keep-best", action="store_true",
                        help="also write best.safetensors in --out: the weights of the best "
                             "val_acc so far, rewritten whenever it improves")
    parser.add_argument("--early-stopping", type=int, default=None, metavar="N",
                        help="stop after N epochs without a higher val_acc")
    parser.add_argument("--tensorboard", type=path_argument, default=None, metavar="DIR",
                        help="also write metrics.jsonl's scalars as TensorBoard event files "
                             "in DIR (needs tensorboardX)")
    parser.add_argument("--init-from", type=path_argument, default=None, metavar="PATH",
                        help="start from this weights file (a weights.safetensors saved by any "
                             "backend, or a checkpoint's weights) instead of fresh Xavier "
                             "weights")
    parser.add_argument("--new-head", action="store_true",
                        help="with --init-from: load all but the last layer, which starts "
                             "fresh (fine-tuning from a file for other classes)")
    add_checkpoint_arguments(parser)
    return parser


def add_image_folder_arguments(parser):
    """``--image-folder`` and what goes with it: a lesson's own images instead of Fashion-MNIST."""
    group = parser.add_argument_group("your own images (instead of Fashion-MNIST)")
    group.add_argument("--image-folder", type=path_argument, default=None, metavar="DIR",
                       help="train on DIR's images (PNG, JPEG...), one subfolder per class: the "
                            "classes are the subfolders' names, greyscale or RGB as the images "
                            "are; the weights file records the class names")
    group.add_argument("--val-folder", type=path_argument, default=None, metavar="DIR",
                       help="validation images, in the same class subfolders (default: a "
                            "seeded share of --image-folder)")
    group.add_argument("--validation-split", type=float, default=None, metavar="SHARE",
                       help=f"share of each class kept for validation without --val-folder "
                            f"(default {VALIDATION_SPLIT}), chosen by --seed")
    group.add_argument("--skip-unreadable", action="store_true",
                       help="skip image files that cannot be read (named in one line) rather "
                            "than refuse the folder")


def add_checkpoint_arguments(parser):
    """``--checkpoint-dir``, ``--checkpoint-every`` and ``--resume`` (train's and bench's)."""
    parser.add_argument("--checkpoint-dir", type=path_argument, default=None, metavar="DIR",
                        help="save a checkpoint here at every epoch end (the last two are kept)")
    parser.add_argument("--checkpoint-every", type=int, default=None, metavar="N",
                        help="also save one every N training steps")
    parser.add_argument("--resume", action="store_true",
                        help="continue exactly from the newest good checkpoint in --checkpoint-dir")


def add_recipe_arguments(parser):
    """The training recipe's flags (``core/recipe.py``); each left unset takes the value of
    ``--recipe`` (the chapter's by default)."""
    group = parser.add_argument_group("training recipe (defaults: the chapter's plain SGD)")
    group.add_argument("--recipe", choices=sorted(NAMED_RECIPES), default=None,
                       help="a named bundle of the settings below and --epochs: chapter (SGD "
                            "lr 0.01, 10 epochs) or fast (BENCHMARKS.md, 'Time to accuracy'); "
                            "flags given as well override it")
    group.add_argument("--lr", type=float, default=None, help="SGD learning rate (of the first "
                       "step, when a schedule changes it; the chapter's 0.01)")
    group.add_argument("--momentum", type=float, default=None, help="SGD momentum (0: none)")
    group.add_argument("--nesterov", action=argparse.BooleanOptionalAction, default=None,
                       help="Nesterov's momentum instead of the heavy ball")
    group.add_argument("--weight-decay", type=float, default=None, metavar="WD",
                       help="L2 weight decay, added to the gradient (0: none)")
    group.add_argument("--schedule", choices=SCHEDULES, default=None,
                       help="learning rate over the run: constant (the chapter's), onecycle "
                            "(up from --lr to --max-lr, then down to 0) or cosine (down to 0)")
    group.add_argument("--warmup-epochs", type=float, default=None, metavar="E",
                       help="epochs of linear rise from --lr to --max-lr (onecycle: 30%% of "
                            "the run by default)")
    group.add_argument("--max-lr", type=float, default=None,
                       help="the peak learning rate a schedule rises to")
    group.add_argument("--label-smoothing", type=float, default=None, metavar="EPS",
                       help="share of each target spread over all classes (0: none)")


RECIPE_FLAGS = ("lr", "momentum", "nesterov", "weight_decay", "schedule", "warmup_epochs",
                "max_lr", "label_smoothing")  # each the TrainingRecipe field of its name


def resolve_recipe(args):
    """Replace ``args.recipe`` (a bundle's name or ``None``) by a :class:`TrainingRecipe`: the
    bundle with the flags given on top (its name, ``custom``, or ``fast-custom`` for a bundle
    with flags on top, in ``args.recipe_name``), and
    fill ``args.epochs`` from the bundle when not given; bad values exit 2."""
    base, epochs = NAMED_RECIPES[args.recipe or "chapter"]
    changed = any(getattr(args, flag) is not None for flag in RECIPE_FLAGS)
    if args.recipe is None:
        args.recipe_name = "custom" if changed else "chapter"
    else:
        args.recipe_name = f"{args.recipe}-custom" if changed else args.recipe
    args.recipe = base.updated(**{flag: getattr(args, flag) for flag in RECIPE_FLAGS
                                  if getattr(args, flag) is not None})
    if args.epochs is None:
        args.epochs = epochs
    check_counts(("--epochs", args.epochs))
    problems = args.recipe.problems(args.epochs, flags=True)
    if problems:
        # The values the bundle gave rather than the person (--recipe fast's --max-lr...).
        inherited = [f"--{flag.replace('_', '-')}" for flag in RECIPE_FLAGS
                     if getattr(args, flag) is None and getattr(base, flag) != getattr(
                         NAMED_RECIPES["chapter"][0], flag)]
        named = [flag for flag in inherited if re.search(rf"{flag}\b", problems[0])]
        note = (f" ({', '.join(named)} {'comes' if len(named) == 1 else 'come'} from --recipe "
                f"{args.recipe_name.removesuffix('-custom')})" if named and changed else "")
        raise UsageError(problems[0] + note)
    args.lr = args.recipe.lr


def validate(args):
    """Check every number before anything heavy is imported or written."""
    resolve_recipe(args)
    check_counts(("--batch-size", args.batch_size), ("--devices", args.devices),
                 ("--limit-train", args.limit_train), ("--limit-val", args.limit_val))
    check_resize(args.resize)
    check_seed(args.seed)
    if args.early_stopping is not None and args.early_stopping < 1:
        raise UsageError(f"--early-stopping must be at least 1 (epochs without a higher "
                         f"val_acc before stopping), got {args.early_stopping}")
    check_data_dir(args.data_dir)
    args.backend = canonical_name(args.backend)  # a BackendError (exit 2) lists the names
    check_compile(args.compile, args.backend)
    if args.out is None:
        args.out = os.path.join("runs", args.backend)
    check_out_contents(args.out)
    args.init_tensors = None
    if args.new_head and args.init_from is None:
        raise UsageError("--new-head needs --init-from PATH, the weights file whose layers "
                         "(all but the last) the run starts from")
    validate_image_folder(args)
    if args.init_from is not None:
        try:  # read and checked once, here, before any framework is imported
            described = described_file(args.init_from)  # the header; tensors if it lacks one
            check_init_from_size(args, described)
            check_init_from_classes(args, described)
            args.init_tensors = read_weights(args.init_from, args.resize, args.num_classes,
                                             args.in_channels, skip_head=args.new_head)
        except WeightsError as error:
            raise UsageError(f"--init-from: {error}") from None
    validate_checkpoint_flags(args)  # (a --checkpoint-dir in use is said first)
    check_output_folders_early(args)
    args.tensorboard_log = check_tensorboard(args)
    try:  # curves.png is drawn at the first epoch's end: a matplotlib that cannot is told now
        check_can_draw()
    except FigureError as error:
        raise UsageError(str(error)) from None


def check_out_contents(out):
    """Refuse, before anything is done, an --out that is a link to nowhere, or one holding a
    folder where the run writes a file (found otherwise after training, or as a traceback)."""
    if os.path.islink(out) and not os.path.exists(out):
        raise UsageError(f"--out {out} is a symbolic link to {os.readlink(out)}, which does not "
                         "exist: create that folder, or choose another --out")
    for name in OUTPUT_FILES:
        if os.path.isdir(os.path.join(out, name)):
            raise UsageError(f"--out {out} holds a folder named {name}, where the run writes "
                             "that file: move or remove the folder, or choose another --out")


def check_output_folders_early(args):
    """Refuse now, before the introduction is printed and the framework and data are loaded, an
    --out or --tensorboard that is a file or lies under one, or that a running run holds:
    ``claim_directories``, which makes and locks them, comes only after that."""
    for flag, path in (("--out", args.out), ("--tensorboard", args.tensorboard)):
        if path is None:
            continue
        existing = nearest_existing(path)
        if not os.path.isdir(existing):
            raise UsageError(f"cannot write to {flag} {path} ({existing} is a file, not a "
                             "folder): choose a writable directory")
        check_not_in_use(path, flag)


def check_tensorboard(args):
    """The :class:`TensorBoardLog` of ``--tensorboard DIR`` (``None`` without it), made before
    any framework is imported: without tensorboardX it refuses in one line (exit 2), as does a
    DIR holding another run's event files (TensorBoard would show both runs as one): any, for a
    new run; for a resumed one, those not of the run its checkpoint names."""
    if args.tensorboard is None:
        return None
    log = TensorBoardLog(args.tensorboard)
    # Files without a scalar (a run stopped before its first evaluation) are no run's record.
    found = [path for path in event_files(args.tensorboard) if log.holds_scalars(path)]
    if args.resume_from is not None:
        state = (args.resume_from.metadata.get("callbacks") or {}).get(TensorBoardLog.key)
        own = log.run_files(saved_run(state), args.resume_from.metadata.get("history", []))
        others = [path for path in found if path not in own]
        if others:
            raise UsageError(f"--tensorboard {args.tensorboard} holds event files "
                             f"({os.path.basename(others[0])}) of another run than the one "
                             f"{args.resume_from.name} continues: choose an empty "
                             "directory")
    elif found:  # a new run: they are another run's
        if args.resume:
            raise UsageError(f"--tensorboard {args.tensorboard} already holds a run's event "
                             f"files ({os.path.basename(found[0])}), and --resume found no "
                             f"checkpoint in --checkpoint-dir {args.checkpoint_dir} to continue "
                             "that run: give its own --checkpoint-dir, or choose an empty "
                             "--tensorboard directory")
        if args.checkpoint_dir is None:  # nothing to resume: --resume would only be refused
            raise UsageError(f"--tensorboard {args.tensorboard} already holds a run's event "
                             f"files ({os.path.basename(found[0])}): choose an empty "
                             "directory, or remove them")
        raise UsageError(f"--tensorboard {args.tensorboard} already holds a run's event files "
                         f"({os.path.basename(found[0])}): add --resume to continue the run "
                         "of its --checkpoint-dir, or choose an empty directory")
    return log


def validate_image_folder(args):
    """Set ``args.num_classes``, ``in_channels`` and ``class_names``: Fashion-MNIST's, or with
    --image-folder the folder's, from its listing and the files' headers (no image decoded
    yet); refuse the flags of the other kind of data."""
    if args.image_folder is None:
        args.num_classes, args.in_channels, args.class_names = NUM_CLASSES, 1, list(TEXT_LABELS)
        for flag, given in (("--val-folder", args.val_folder is not None),
                            ("--validation-split", args.validation_split is not None),
                            ("--skip-unreadable", args.skip_unreadable)):
            if given:
                raise UsageError(f"{flag} goes with --image-folder DIR (train on your own "
                                 "images); without it the run trains on Fashion-MNIST")
        return
    for flag, value in (("--data-dir", args.data_dir), ("--limit-train", args.limit_train),
                        ("--limit-val", args.limit_val)):
        if value is not None:
            raise UsageError(f"{flag} is for Fashion-MNIST, and --image-folder trains on "
                             f"{args.image_folder}: leave out {flag}")
    if args.val_folder is not None and args.validation_split is not None:
        raise UsageError("--validation-split splits --image-folder, and --val-folder gives the "
                         "validation images instead: pass one of them")
    if args.validation_split is None:
        args.validation_split = VALIDATION_SPLIT
    if not 0 < args.validation_split < 1:
        raise UsageError(f"--validation-split must lie between 0 and 1, got "
                         f"{args.validation_split}: e.g. 0.2 keeps a fifth of each class for "
                         "validation")
    refuse_outputs_in_data(args)
    args.class_names = folder_classes(args.image_folder, "--image-folder")
    if args.val_folder is not None:
        val_classes = folder_classes(args.val_folder, "--val-folder")
        # As people read them (a folder copied from macOS names them NFD), in any order: each
        # validation image takes --image-folder's label for its class (ImageFolder matches them).
        if sorted(normalized_names(val_classes)) != sorted(normalized_names(args.class_names)):
            raise UsageError(f"--val-folder {args.val_folder} has the classes "
                             f"{', '.join(val_classes)}, --image-folder {args.image_folder} "
                             f"has {', '.join(args.class_names)}: give both the same class "
                             "subfolders")
    args.num_classes = len(args.class_names)
    args.color_mode = folder_color_mode(*filter(None, (args.image_folder, args.val_folder)))
    args.in_channels = COLOR_MODES[args.color_mode][1]


def refuse_outputs_in_data(args):
    """Refuse --out, --checkpoint-dir or --tensorboard inside --image-folder or --val-folder:
    a run's folder there is a class to the next run (its curves.png an image). The folder
    itself is harmless: files directly in it belong to no class."""
    data = [(flag, folder) for flag, folder in (("--image-folder", args.image_folder),
                                                ("--val-folder", args.val_folder))
            if folder is not None]
    # What the next run would then take for a class, or for images in one.
    written = {"--out": "a run's curves.png as its image", "--checkpoint-dir": "its checkpoints",
               "--tensorboard": "its event files"}
    for flag, path in (("--out", args.out), ("--checkpoint-dir", args.checkpoint_dir),
                       ("--tensorboard", args.tensorboard)):
        if path is None:
            continue
        real_path = os.path.realpath(path)  # links resolved: another name for the same place
        for data_flag, folder in data:
            real_folder = os.path.realpath(folder)
            if (real_path != real_folder
                    and os.path.commonpath([real_path, real_folder]) == real_folder):
                raise UsageError(f"{flag} {path} is inside {data_flag} {folder}, whose every "
                                 f"subfolder is read as a class ({written[flag]}): choose "
                                 f"{flag} outside it")


def in_flags(error):
    """An ImageFolder :class:`DataError` with its Python arguments said as train's flags."""
    message = error.for_command_line()
    for argument, flag in IMAGE_FOLDER_FLAGS.items():
        message = message.replace(argument, flag)
    return DataError(message)


def check_init_from_size(args, described):
    """Refuse a weights file saved for another input size with train's fix, ``--resize``
    (the library's own message names ``AlexNet``'s ``resize=``); for a file that records no
    size, the sides its ``dense1`` fits. ``described``: the file's :func:`described_file`."""
    path, resize = args.init_from, args.resize
    saved, sides = described["resize"], described["resizes"]
    if saved is None:
        if sides is not None and not sides[0] <= as_size(resize)[0] <= sides[1]:
            raise WeightsError(f"{path} records no input size, and its dense1 fits inputs of "
                               f"{sides[0]} to {sides[1]} pixels a side (the model: "
                               f"{format_size(resize)}): train with --resize "
                               f"{fitting_side(sides)}, or another side in that range")
        return
    if as_size(saved) == as_size(resize):
        return
    classes = args.num_classes if args.new_head else described["num_classes"]
    count = described["num_classes"]
    also = ("" if args.new_head or count in (None, args.num_classes) else
            f", and add --new-head: it holds weights for {count} classes, the run has "
            f"{args.num_classes}")
    fix = (f"train with --resize {saved}, the size it was saved for{also}"
           if isinstance(saved, int)
           else "--resize gives square inputs only: train from it in Python: "
                f"{python_lines(described, classes, args.new_head, args.in_channels)}")
    raise WeightsError(f"{path} holds weights for {format_size(saved)} inputs (the model: "
                       f"{format_size(resize)}): {fix}")


def check_init_from_classes(args, described):
    """Refuse a weights file for other classes than the run's without --new-head, with train's
    fix (the library's own message names ``skip_head=``): another number of them than
    --image-folder's, or other names than the run's (the folder's, or Fashion-MNIST's),
    compared Unicode-normalised. Names that match in another order are refused too: the last
    layer's rows are in the file's order, so they would be read as the wrong classes."""
    count, names = described["num_classes"], described["classes"]
    if args.new_head:
        return
    data = ("Fashion-MNIST" if args.image_folder is None
            else f"--image-folder {args.image_folder}")
    fix = ("add --new-head to fine-tune it onto the run's classes (all but its last layer are "
           "loaded)")
    if count not in (None, args.num_classes):
        raise WeightsError(f"{args.init_from} holds weights for {count} classes, and {data} "
                           f"has {args.num_classes}: {fix}")
    if names is None or same_class_names(names, args.class_names):
        return
    if reordered_class_names(names, args.class_names):
        raise WeightsError(f"{args.init_from} names {data}'s classes in another order "
                           f"({shown_names(names)}; the run's: {shown_names(args.class_names)}), "
                           f"so its last layer would answer for the wrong ones: {fix}")
    raise WeightsError(f"{args.init_from} was trained on the classes {shown_names(names)}, and "
                       f"{data} has {shown_names(args.class_names)}: {fix}")


def validate_checkpoint_flags(args):
    """Check --checkpoint-dir/--checkpoint-every/--resume, and read and verify the checkpoint to
    resume from, before any framework is imported; writes nothing but the renaming of a
    damaged checkpoint to ``<name>.corrupt``."""
    args.resume_from = None
    if args.checkpoint_every is not None and args.checkpoint_every < 1:
        raise UsageError(f"--checkpoint-every must be at least 1, got {args.checkpoint_every}")
    if args.checkpoint_dir is None:
        for flag, used in (("--resume", args.resume),
                           ("--checkpoint-every", args.checkpoint_every is not None)):
            if used:
                raise UsageError(f"{flag} needs --checkpoint-dir DIR, the directory that holds "
                                 "the checkpoints")
        return
    if os.path.exists(args.checkpoint_dir) and not os.path.isdir(args.checkpoint_dir):
        raise UsageError(f"--checkpoint-dir {args.checkpoint_dir} is a file: choose a directory")
    # Still being written? Then neither "add --resume" nor what a resume from it would need:
    # that run is going on.
    check_not_in_use(args.checkpoint_dir, "--checkpoint-dir")
    if not args.resume:
        found = list_checkpoints(args.checkpoint_dir)
        if found:
            raise UsageError(f"--checkpoint-dir {args.checkpoint_dir} already holds checkpoints "
                             f"(newest {os.path.basename(found[0][1])}): add --resume to "
                             "continue that run, or choose an empty directory")
        return
    if getattr(args, "init_from", None) is not None:
        raise UsageError("--init-from and --resume do not mix: a resumed run continues from "
                         "its checkpoint's weights")
    args.resume_from = latest_checkpoint(args.checkpoint_dir, log=warn)
    if args.resume_from is not None:
        # bench --time-to-accuracy resumes through here too: always Fashion-MNIST, as stored.
        check_compatible(args.resume_from, {
            "backend": args.backend, "architecture": ARCHITECTURE, "resize": args.resize,
            "num_classes": getattr(args, "num_classes", NUM_CLASSES),
            "in_channels": getattr(args, "in_channels", 1), "batch_size": args.batch_size,
            "seed": args.seed, "augment": getattr(args, "augment", False)})
        check_resumed_recipe(args.resume_from, args.recipe, args.epochs)
        finished, batch = (args.resume_from.metadata["epoch"],
                           args.resume_from.metadata["batch"])
        if batch and finished >= args.epochs:  # its weights are past the run's last epoch
            raise UsageError(f"{args.resume_from.name} is {batch} batch(es) into epoch "
                             f"{finished + 1}, past --epochs {args.epochs}: its weights are not "
                             f"those of the end of epoch {finished}; resume with --epochs "
                             f"{finished + 1} or more to finish that epoch")
        if not batch and finished > args.epochs:  # it would end at once, with more epochs
            raise UsageError(f"{args.resume_from.name} is at the end of epoch {finished}, past "
                             f"--epochs {args.epochs}: the run has trained beyond epoch "
                             f"{args.epochs}, and its outputs would describe epoch {finished}; "
                             f"resume with --epochs {finished} or more")
    if args.resume_from is None:
        print(f"no checkpoint in {args.checkpoint_dir} yet: starting from the beginning")


def warn(message):
    print(message, file=sys.stderr, flush=True)


def run(args):
    """The run, in the order that writes nothing before every check has passed: the flags, the
    framework, the device and replicas, the data, the model; then the output directories (by
    the first replica only), training, and the outputs."""
    validate(args)
    backend = load_backend(args.backend)  # a BackendError (exit 2) says how to install it
    trainer = make_trainer(backend, args)
    args.stop_signals.reclaim()  # (joining a cluster may have taken SIGTERM)
    if trainer.is_first_replica:  # (the one that writes) one line, before the introduction
        refuse_read_only("--out", args.out)
    with printing_if(trainer.is_first_replica):  # one introduction per run, not per process
        data, model = build_data_and_model(backend, args)
    trainer.decide_data_on_device(data)  # --data-on-device on that cannot be: exit 2 here
    checkpointer = prepare_outputs(args, trainer)
    history = train_model(args, trainer, model, data, checkpointer)
    if trainer.is_first_replica:
        write_outputs(args, model, trainer.board, history, checkpointer)
    return 0


@contextlib.contextmanager
def printing_if(printing):
    """Within it, stdout is this process's only if ``printing``: on several processes (torchrun,
    several hosts), the first one alone says what the run is."""
    if printing:
        yield
        return
    with open(os.devnull, "w") as nowhere, contextlib.redirect_stdout(nowhere):
        yield


def make_trainer(backend, args):
    """The Trainer, with its device and replicas chosen (the other hosts joined, a TensorFlow
    strategy made, the replica rank known) before any variable, directory or checkpointer
    exists; a precision, device or replica count that cannot be had exits 2 here."""
    backend.initialize_distributed()  # join the other hosts, if any, first
    if args.precision not in backend.PRECISIONS:
        raise UsageError(f"--precision {args.precision} is not supported by the {args.backend} "
                         f"backend: use {' or '.join(backend.PRECISIONS)}")
    trainer = backend.Trainer(max_epochs=args.epochs, num_gpus=args.devices,
                              device=args.device, precision=args.precision,
                              callbacks=run_callbacks(args),
                              data_on_device=DATA_ON_DEVICE[args.data_on_device],
                              **compile_options(args.compile))
    trainer.device = trainer.select_device(args.device)
    return trainer


def run_callbacks(args):
    """What the run writes as it goes (metrics.jsonl, curves.png, with --tensorboard its event
    files, with --keep-best best.safetensors) and --early-stopping, in the order they act after
    each evaluation (a record that cannot be written stops the run once the Checkpointer,
    added after them, has saved the epoch)."""
    callbacks = [MetricsLog(os.path.join(args.out, "metrics.jsonl")),
                 PlotCurves(os.path.join(args.out, "curves.png"))]
    if args.tensorboard_log is not None:
        callbacks.append(args.tensorboard_log)
    if args.keep_best:
        callbacks.append(KeepBest(os.path.join(args.out, "best.safetensors")))
    if args.early_stopping is not None:
        callbacks.append(EarlyStopping(args.early_stopping))
    return callbacks


def build_data_and_model(backend, args):
    """Seed every RNG, then load the data and build the model (from ``--init-from``'s weights
    when given), each announced in a line."""
    backend.set_seed(args.seed)
    # Python's and numpy's global RNGs too: checkpoints carry them, so they must be reproducible.
    random.seed(args.seed)
    np.random.seed(args.seed)
    if args.image_folder is None:
        data = backend.FashionMNIST(batch_size=args.batch_size,
                                    resize=(args.resize, args.resize), data_dir=args.data_dir,
                                    seed=args.seed, limit_train=args.limit_train,
                                    limit_val=args.limit_val, augment=args.augment)
        source = f"Fashion-MNIST ({data.source})"
    else:
        try:
            data = backend.ImageFolder(args.image_folder, batch_size=args.batch_size,
                                       resize=args.resize, val_root=args.val_folder,
                                       validation_split=args.validation_split, seed=args.seed,
                                       color_mode=args.color_mode,
                                       skip_unreadable=args.skip_unreadable,
                                       augment=args.augment)
        except DataError as error:
            raise in_flags(error) from None
        source = f"{args.image_folder} ({', '.join(args.class_names)})"
    if args.resume_from is not None:  # the data order depends on the training set too
        check_compatible(args.resume_from, {"train_examples": data.num_examples(True),
                                            "train_data": data.training_digest()})
    model = backend.AlexNet(num_classes=args.num_classes, resize=args.resize,
                            in_channels=args.in_channels, **args.recipe.as_dict())
    print(f"AlexNet ({args.backend}) on {data.num_examples(True):,} training and "
          f"{data.num_examples(False):,} validation images of {source}, resized to "
          f"{args.resize}×{args.resize}"
          + (", training images " + ("flipped and cropped" if args.in_channels == 1 else
                                      "flipped, cropped and varied in brightness, contrast "
                                      "and saturation") + " at random (--augment)"
             if args.augment else ""))
    print(f"recipe ({args.recipe_name}): {args.recipe.describe()}, {args.epochs} epoch(s)")
    model.layer_summary(backend.example_input_shape(args.resize,
                                                    in_channels=args.in_channels))
    if args.init_tensors is not None:
        arrays = from_canonical(args.init_tensors, backend.LAYOUT, args.resize, args.num_classes,
                                args.in_channels, skip_head=args.new_head)
        backend.assign_parameter_arrays(model, arrays, skip_head=args.new_head)
        print(f"starting from the weights in {args.init_from}"
              + (" (all but the last layer, which starts fresh)" if args.new_head else ""))
    return data, model


def prepare_outputs(args, trainer):
    """The output directories and, with ``--checkpoint-dir``, the attached
    :class:`Checkpointer` (returned; ``None`` otherwise). Only the first replica writes, for
    all: nobody else touches the disk."""
    if not trainer.is_first_replica:
        return None
    claim_directories(args, "d2l_alexnet.train")
    # The folders are this run's now (locked): a killed run's half-written outputs there are
    # garbage (the Checkpointer does the same in --checkpoint-dir).
    remove_unfinished_writes(args.out, OUTPUT_FILES, log=warn)
    remove_earlier_best(args)
    # A new run replaces these as it goes and ends: one stopped before must say whose they are.
    args.earlier_outputs = {} if args.resume_from is not None else file_stamps(
        args.out, ("metrics.json", "curves.png", "weights.safetensors"))
    if args.tensorboard is not None:
        remove_unfinished_writes(args.tensorboard, (f"*{EVENT_FILE_MARK}*",), log=warn)
    checkpointer = None
    if args.checkpoint_dir is not None:
        checkpointer = Checkpointer(args.checkpoint_dir, every=args.checkpoint_every, log=warn)
        checkpointer.attach(trainer)
        if args.resume_from is not None:
            checkpointer.last_path = args.resume_from.path
    return checkpointer


def remove_earlier_best(args):
    """A new run into an --out that holds an earlier run's best.safetensors overwrites every
    other output there; without --keep-best it would leave that file beside its own weights, as
    if it were this run's best. A resumed run leaves it: it may be its own, from before."""
    best = os.path.join(args.out, "best.safetensors")
    if args.keep_best or args.resume_from is not None or not os.path.isfile(best):
        return
    os.remove(best)
    warn(f"removed {best}, an earlier run's best weights: this run writes its outputs to "
         "--out and keeps no best weights of its own (that takes --keep-best)")


def train_model(args, trainer, model, data, checkpointer):
    """``trainer.fit``, returning the history. A first signal saves a checkpoint and becomes
    :class:`Interrupted` (with the command that resumes); a diverged loss names the last good
    checkpoint; either way the trainer is closed (PyTorch leaves its process group)."""
    if args.resume_from is not None and args.resume_from.metadata["epoch"] >= args.epochs:
        print(f"{args.resume_from.name} has finished {args.resume_from.metadata['epoch']} "
              f"epoch(s), --epochs is {args.epochs}: nothing left to train")
    # Processes that agree on the step boundary to stop at (PyTorch's, under torchrun) take a
    # first signal there, checkpoints or not: one that stopped at once would leave the others
    # stuck in the next step's all-reduce.
    together = getattr(trainer, "stops_together", False) and trainer.num_replicas > 1
    args.stop_signals.trainer = trainer if checkpointer is not None or together else None
    args.stop_signals.saves = checkpointer is not None
    failed = True
    try:
        history = trainer.fit(model, data, resume=args.resume_from)
        failed = False
        if trainer.stop_requested is not None:  # it came after the last step: nothing to stop
            warn(f"{trainer.stop_requested} came after the last training step: the run "
                 "finished, and writes its outputs")
    except TrainingInterrupted as interrupt:  # a first signal, at a step boundary
        if together and not trainer.is_first_replica:
            failed = False  # all stopped at this boundary: they leave together (close waits)
            saved = ("the first process says what was saved" if args.checkpoint_dir is not None
                     else "no checkpoint was saved (no --checkpoint-dir)")
            raise Interrupted(interrupt.reason, f"process {trainer.replica_rank} of "
                              f"{trainer.num_replicas} stopped with the others at step "
                              f"{trainer.step}; {saved}") from None
        if checkpointer is None:
            failed = False
            raise
        path = checkpointer.save(trainer)  # should it fail, the others are not waited for
        failed = False
        raise Interrupted(interrupt.reason, f"saved {path} ({describe_position(trainer)}); "
                          f"resume with: {resume_command(args)}") from None
    except ValidationDiverged as error:
        if checkpointer is None or error.last_good_step is None:
            raise
        raise TrainingError(f"{error.for_command_line()}; "
                            f"{checkpoints_before_divergence(checkpointer, error)}") from None
    except RecordWriteError as error:  # (only the first replica writes records)
        where = where_the_weights_are(model, [], checkpointer, args,
                                      then=f"resume with: {resume_command(args)}")
        raise RecordWriteError(f"{error.what}; {where}", error.what) from None
    except OSError as error:
        # stdout gone mid-run (a reader that quit, a full disk): the epoch its line told of was
        # saved first; where, on stderr, which may still be read.
        if getattr(error, STDOUT_MARK, False) and checkpointer is not None and (
                checkpointer.last_path is not None):
            with contextlib.suppress(OSError, ValueError):
                warn(f"note: stdout could not be written; the last checkpoint is "
                     f"{checkpointer.last_path}: resume with: {resume_command(args)}")
        raise
    except TrainingError as error:
        if checkpointer is not None and checkpointer.last_path is not None:
            raise TrainingError(f"{error.for_command_line()}; the last good checkpoint is "
                                f"{checkpointer.last_path}: resume from it with a lower --lr "
                                "and --resume") from None
        raise
    finally:
        args.stop_signals.trainer = None
        if hasattr(trainer, "close"):
            trainer.close(failed=failed)
    return history


def checkpoints_before_divergence(checkpointer, error):
    """After a validation loss that diverged: the checkpoints saved within that epoch (they
    may hold the diverged weights) set aside as ``.diverged``, and what is left to resume."""
    moved = set_aside_after(checkpointer.directory, error.last_good_step)
    aside = (f" ({', '.join(moved)}, saved within that epoch, set aside as .diverged)"
             if moved else "")
    left = list_checkpoints(checkpointer.directory)
    if not left:
        return f"no checkpoint from before it is left{aside}: train again with a lower --lr"
    return (f"the last good checkpoint is {left[0][1]}{aside}: resume from it with a lower "
            "--lr and --resume")


OUTPUT_MARGIN_BYTES = 4 << 20  # the metrics, curves.png and the safetensors header, with room
OUTPUT_FILES = ("weights.safetensors", "best.safetensors", "metrics.json", "metrics.jsonl",
                "curves.png")  # what --out receives


def output_bytes(resize, keep_best=False, num_classes=NUM_CLASSES):
    """About how much a run writes into --out: the fp32 weights (twice with --keep-best's
    best.safetensors), the metrics and the plot."""
    return (1 + keep_best) * 4 * parameter_count(resize, num_classes) + OUTPUT_MARGIN_BYTES


def claim_directories(args, program, needed=None, outputs="weights, metrics, plot"):
    """:func:`prepare_directories`, then lock --out, --tensorboard and --checkpoint-dir for the
    rest of the run (``args.locks``, released when the command ends, however it ends): a second
    run there is refused with exit 2 naming this one (``python -m <program>`` and its flags), and
    a refused run leaves no folder it made."""
    folders = [(args.out, "--out"), (getattr(args, "tensorboard", None), "--tensorboard"),
               (args.checkpoint_dir, "--checkpoint-dir")]
    created = [folder for path, _ in folders if path is not None
               for folder in missing_directories(path)]
    prepare_directories(args, needed, outputs)
    holder = describe_process(shlex.join(["python", "-m", program, *args.argv]))
    try:
        for path, flag in folders:
            if path is not None:
                args.locks.take(path, flag, holder)
    except FolderInUse:
        args.locks.release()
        remove_directories(created)
        raise


def prepare_directories(args, needed=None, outputs="weights, metrics, plot"):
    """Prove --out (and --checkpoint-dir) roomy enough for what the run writes there (both
    together when they share a disk; ``needed`` bytes of ``outputs`` in --out, by default
    train's), then create them (and --tensorboard's) and prove them writable; exit 2 otherwise,
    leaving no folder it made."""
    num_classes = getattr(args, "num_classes", NUM_CLASSES)  # bench's: Fashion-MNIST's
    needed = (output_bytes(args.resize, getattr(args, "keep_best", False), num_classes)
              if needed is None else needed)
    shared = args.checkpoint_dir is not None and same_disk(args.out, args.checkpoint_dir)
    free = free_bytes(args.out)
    if free < needed:
        refuse_read_only("--out", args.out)  # a read-only disk is told as such, not as full
        raise UsageError(f"--out {args.out} has {free / 1e6:,.0f} MB free, the run writes about "
                         f"{needed / 1e6:,.0f} MB there ({outputs}): free some "
                         "space or choose another --out")
    created = check_output_path("--out", args.out)
    if getattr(args, "tensorboard", None) is not None:
        try:
            created += check_output_path("--tensorboard", args.tensorboard)
        except UsageError:
            remove_directories(created)  # --out's: a refused run leaves nothing
            raise
    if args.checkpoint_dir is None:
        return
    try:
        check_directory(args.checkpoint_dir, estimated_bytes(args.resize, num_classes,
                                                             args.recipe),
                        also_needed=needed if shared else 0)
    except OSError as error:
        remove_directories(created)  # --out too: a refused run leaves nothing
        reason = error.strerror or str(error)
        fix = ("free some space or choose another directory" if error.errno == errno.ENOSPC
               else "choose a writable directory")
        raise UsageError(f"cannot write checkpoints to --checkpoint-dir "
                         f"{args.checkpoint_dir} ({reason}): {fix}") from None


def refuse_read_only(flag, path):
    """Exit 2 naming a ``path`` on a read-only disk, or one this user may not write, as that."""
    existing = nearest_existing(path)
    if os.statvfs(existing).f_flag & os.ST_RDONLY:
        reason = "Read-only file system"
    elif not os.access(existing, os.W_OK):
        reason = "Permission denied"
    else:
        return
    raise UsageError(f"cannot write to {flag} {path} ({reason}): choose a writable directory")


def same_disk(first, second):
    """Whether two paths (or, for one not made yet, its nearest existing folder) share a disk."""
    return os.stat(nearest_existing(first)).st_dev == os.stat(nearest_existing(second)).st_dev


class OutputWriteError(RunFailed):
    """A run (training, or bench's measurement) finished but its outputs could not all be
    written (a full disk, say); the message says what was written and where the trained weights
    or the results are. The CLI exits 1."""


def write_outputs(args, model, board, history, checkpointer):
    """weights.safetensors first (the hours of training), then metrics.json and curves.png,
    each atomically. A failure raises :class:`OutputWriteError` saying what was and was not
    written and where the weights are: the newest checkpoint, or else a temporary file."""
    weights_path = os.path.join(args.out, "weights.safetensors")
    outputs = [(weights_path, lambda: model.save_weights(weights_path, classes=args.class_names)),
               (os.path.join(args.out, "metrics.json"),
                lambda: atomic_write_json(os.path.join(args.out, "metrics.json"), history)),
               (os.path.join(args.out, "curves.png"),
                lambda: board.save(os.path.join(args.out, "curves.png")))]
    written = []
    for path, write in outputs:
        try:
            write()
        except (OSError, FigureError) as error:
            reason = failure_reason(error) if isinstance(error, OSError) else str(error)
            missing = ", ".join(os.path.basename(other) for other, _ in outputs
                                if other not in written)
            done = (f"wrote {', '.join(os.path.basename(other) for other in written)}, not "
                    f"{missing}" if written else f"wrote none of {missing}")
            raise OutputWriteError(f"cannot write {path} ({reason}): {done}; "
                                   f"{where_the_weights_are(model, written, checkpointer, args)}"
                                   ) from None
        written.append(path)
    print(f"wrote {', '.join(written[1:])} and {written[0]}")


def where_the_weights_are(model, written, checkpointer, args, then=None):
    """The end of the message of a failed write (final, or a record's mid-run): where the
    trained weights survive; ``then``: what to do once there is room (by default the command
    that writes the outputs)."""
    if written:
        return "the trained weights are safe in weights.safetensors"
    if checkpointer is not None and checkpointer.last_path is not None:
        then = then or f"{resume_command(args)} writes the outputs"
        return (f"the trained weights are in the last checkpoint, {checkpointer.last_path}: "
                f"free some space, then {then}")
    fallback = os.path.join(tempfile.gettempdir(), f"d2l_alexnet-weights-{os.getpid()}"
                                                   ".safetensors")
    try:
        model.save_weights(fallback)
    except OSError:
        return ("the trained weights could not be saved anywhere: free some space and train "
                "again with --checkpoint-dir, which keeps them safe")
    return f"the trained weights were saved to {fallback} instead"


class Interrupted(Exception):
    """A signal stopped the run; ``message`` says what was saved and how to resume."""

    def __init__(self, signal_name, message):
        super().__init__(message)
        self.signal_name, self.message = signal_name, message


class StopSignals:
    """SIGINT (Ctrl-C), SIGTERM and SIGHUP (the terminal closed: a lost SSH connection) while
    the CLI runs.

    While a checkpointed ``fit`` runs (``trainer`` set), the first signal asks it to stop at the
    next step boundary, where the state is consistent and a checkpoint is saved. Otherwise, or
    on a second signal, the run stops at once (every file is written atomically, so nothing is
    left half-written). A SIGHUP that was ignored when the command started (``nohup``) stays
    ignored: the run was asked to outlive its terminal.
    """

    SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP")
                    if hasattr(signal, name))  # (Windows has no SIGHUP)
    # Taken even where ignored at the start: a script's background job (``&``) starts with
    # SIGINT ignored, and a ``kill -INT`` sent to it still means "stop and save".
    ALWAYS_TAKEN = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.trainer, self.previous = None, {}
        self.saves = True  # a stop at a step boundary saves a checkpoint there

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for signum in self.SIGNALS:
                ignored = signal.getsignal(signum) == signal.SIG_IGN
                if ignored and signum not in self.ALWAYS_TAKEN:
                    continue  # nohup's SIGHUP
                self.previous[signum] = signal.signal(signum, self.handle)
        return self

    def __exit__(self, *exc_info):
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)

    def reclaim(self):
        """Install the handlers again, after a framework has joined its cluster: JAX's
        distributed runtime and TensorFlow's multi-worker strategy put their own SIGTERM
        handler in place below Python's, which then never sees the signal (the run trained on
        to its end, or a scheduler's SIGKILL)."""
        for signum in self.previous:
            signal.signal(signum, self.handle)

    def handle(self, signum, frame):
        name = signal.Signals(signum).name
        if name == "SIGHUP":
            forget_a_closed_terminal()
        if self.trainer is not None and self.trainer.stop_requested is None:
            self.trainer.stop_requested = name
            purpose = ("to save a checkpoint" if self.saves else
                       "with the other processes (no --checkpoint-dir: nothing is saved)")
            warn(f"\n{name}: stopping after this step {purpose} ({name} again stops at once)")
            return
        # The second signal (mid-step, no consistent state to save), or one before fit runs:
        # a BaseException, which no loader's "except Exception" takes for a damaged file.
        raise StoppedAtOnce(name)


class StoppedAtOnce(BaseException):
    """A second signal: stop wherever the run is, saving nothing of that moment (it may be the
    middle of a step). A BaseException, like KeyboardInterrupt, so that no handler for errors
    (nor the first signal's checkpoint save) takes it for something it can finish."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


def exit_status(signal_name):
    """130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP: the shell's 128 + signal number."""
    return 128 + int(getattr(signal, signal_name))


def describe_position(trainer):
    state = trainer.epoch_progress
    epoch = len(trainer.history) if state is None else trainer.epoch
    batch = 0 if state is None else state.batch
    return f"epoch {epoch + 1}, batch {batch}, step {trainer.step}"


def resume_command(args, module="d2l_alexnet.train"):
    """The exact command line that continues this run (of ``python -m module``: ``bench
    --time-to-accuracy``'s too). A run of several torchrun processes resumes under torchrun,
    with as many processes: one process would resume it on one device, on another trajectory
    (each device's slice of the batch draws its own dropout masks)."""
    argv = list(args.argv)
    if "--resume" not in argv:
        argv.append("--resume")
    command = [sys.executable, "-m", module, *argv]
    processes = int(os.environ.get("WORLD_SIZE", "1"))  # torchrun's
    if processes <= 1 or getattr(args, "backend", None) != "pytorch":
        return shlex.join(command)
    if "TORCHELASTIC_RUN_ID" not in os.environ:  # another launcher set up the processes
        return (f"{shlex.join(command)}, launched as this run was ({processes} processes, "
                "each with its RANK and WORLD_SIZE)")
    per_node = int(os.environ.get("LOCAL_WORLD_SIZE", processes))
    nodes = max(1, processes // max(1, per_node))
    torchrun = [sys.executable, "-m", "torch.distributed.run"]
    if nodes == 1:
        return shlex.join([*torchrun, "--standalone", f"--nproc-per-node={per_node}",
                           *command[1:]])
    # The rendezvous (--rdzv-endpoint, --rdzv-id) is torchrun's own, not known in this process.
    launcher = shlex.join([*torchrun, f"--nnodes={nodes}", f"--nproc-per-node={per_node}"])
    return (f"{launcher} <this run's --rdzv-* flags> {shlex.join(command[1:])}, on each of "
            f"the {nodes} machines")


def file_stamps(folder, names):
    """``{name: (size, modification time)}`` of those of ``names`` that are files in ``folder``."""
    stamps = {}
    for name in names:
        try:
            found = os.stat(os.path.join(folder, name))
        except OSError:
            continue
        stamps[name] = (found.st_size, found.st_mtime_ns)
    return stamps


def earlier_outputs_note(args):
    """The line that says which outputs in --out are still an earlier run's, beside a stopped
    new run's own (``None`` where none are): a run replaces curves.png at each evaluation and
    the others as it ends."""
    earlier = getattr(args, "earlier_outputs", {})
    unchanged = [name for name, stamp in file_stamps(args.out, earlier).items()
                 if stamp == earlier[name]]
    if not unchanged:
        return None
    return (f"note: {', '.join(unchanged)} in {args.out} {'is' if len(unchanged) == 1 else 'are'}"
            f" still an earlier run's; its metrics.jsonl is this run's, up to where it stopped")


def stopped_at_once_message(args):
    """What to say when a signal stopped the run without a checkpoint of the moment."""
    if args.checkpoint_dir is None:
        return ("no checkpoint to resume from: run with --checkpoint-dir DIR (and "
                "--checkpoint-every N for checkpoints within an epoch) to be able to resume")
    found = list_checkpoints(args.checkpoint_dir)
    if not found:
        return f"no checkpoint was saved in {args.checkpoint_dir} yet"
    return (f"the last checkpoint is {found[0][1]}; resume with: {resume_command(args)}")


# What each framework's out-of-memory error says, lowercased: PyTorch ("CUDA out of memory",
# "DefaultCPUAllocator: can't allocate memory"), TensorFlow ("ResourceExhaustedError: OOM when
# allocating tensor"), JAX/XLA ("RESOURCE_EXHAUSTED: Out of memory while trying to allocate"),
# MXNet ("cudaMalloc retry failed: out of memory", and on the host "Failed to allocate CPU
# Memory"), cuDNN/cuBLAS ("..._STATUS_ALLOC_FAILED"). Each backend's tests provoke a real one.
def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    try:
        with StopSignals() as args.stop_signals, FolderLocks(log=warn) as args.locks:
            status = exit_status_of(run, args)
    except Interrupted as stop:
        print(f"interrupted by {stop.signal_name}: {stop.message}", file=sys.stderr)
        status = exit_status(stop.signal_name)
    except (TrainingInterrupted, StoppedAtOnce) as stop:
        print(f"interrupted by {stop.reason}: {stopped_at_once_message(args)}", file=sys.stderr)
        status = exit_status(stop.reason)
    except KeyboardInterrupt:
        print(f"interrupted: {stopped_at_once_message(args)}", file=sys.stderr)
        status = 130
    note = earlier_outputs_note(args)
    if status != 0 and note is not None:
        print(note, file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
