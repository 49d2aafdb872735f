"""Checkpoints: everything a run needs to continue exactly, in one verified file per save.

A training run of the chapter takes hours on a CPU, so it gets interrupted and machines die.
:class:`Checkpointer` saves, at every epoch end and every ``every`` steps, what
``TrainerBase.checkpoint_state`` gathers: the model, the optimizer state, every RNG state, the
data position (epoch, batch; the order itself is a pure function of ``(seed, epoch)``), the
step, the metrics history and the running sums of the epoch in progress.

The file (``checkpoint-<step>.ckpt``) is a safetensors file, so any safetensors tool opens it
and nothing in it can run code: the arrays are its tensors; its ``__metadata__`` holds one
entry, ``d2l_alexnet``, of canonical JSON (``files.safetensors_bytes``: the same checkpoint is
always the same bytes) with ``format``, ``version``, ``names`` (the arrays in the order they were
given), ``metadata`` (position, history, hyperparameters, as JSON) and ``sha256``, a SHA-256 of
the metadata and of every array's name, dtype, shape and bytes. The safetensors library checks
the layout (a short file fails there); the hash checks the contents. Files of version 2 (the
same entries as separate keys, which the library wrote in a random order) and of the first
format (version 1, before safetensors) still read.

A file is written to a temporary name, fsynced and renamed (``files.atomic_write_bytes``), so a
crash mid-write leaves the previous checkpoint intact; the checksum catches what a disk or a copy
damages later, and :func:`latest_checkpoint` then falls back to the previous good file. The
newest ``keep`` (2) checkpoints are kept.

A checkpoint also serves as a weights file: ``core.weights.read_weights`` (so ``load_weights``,
``--init-from`` and ``evaluate --weights``) takes the model weights it holds.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import safetensors

from .architecture import IN_CHANNELS, parameter_count
from .errors import D2LAlexNetError, RunFailed
from .files import (atomic_write_bytes, canonical_json, check_writable_directory, free_bytes,
                    nearest_existing, remove_unfinished_writes, safetensors_bytes,
                    safetensors_metadata, write_fix, write_reason)
from .types import Log, PathLike, Size, is_whole, log_or_none, user_path

if TYPE_CHECKING:  # both import this module
    from .recipe import TrainingRecipe
    from .trainer import TrainerBase

FORMAT = "d2l_alexnet-checkpoint"
WEIGHTS_FORMAT = "d2l_alexnet"  # core.weights.FORMAT (weights imports this module)
# 3: the metadata in one canonical-JSON entry; 2: the same as separate keys; 1: the format
# before safetensors (see _read_version_1). All three read.
VERSION = 3
READABLE_VERSIONS = ("2", "3")  # those read by the safetensors path
VERSION_1_MAGIC = b"d2l_alexnet ckpt"
ARCHITECTURE = "alexnet-d2l"
NAME = re.compile(r"^checkpoint-(\d+)\.ckpt$")
FINAL_NAME = "checkpoint-[0-9]*.ckpt"  # NAME as a shell pattern (files.remove_unfinished_writes)


# What a resumed run must share with the checkpoint, and the flag that sets each. Anything else
# (--lr, --epochs, --precision, --limit-val) may change on resume: lowering --lr after a NaN is
# the point of keeping the last good checkpoint.
MUST_MATCH = (("backend", "--backend"), ("architecture", None), ("network", None),
              ("resize", "--resize"),
              ("num_classes", None), ("in_channels", None), ("batch_size", "--batch-size"),
              ("seed", "--seed"), ("train_examples", "--limit-train"), ("augment", "--augment"),
              ("train_data", None))
# Written before the key existed: checkpoints of greyscale AlexNets, without augmentation.
MISSING_MEANS = {"in_channels": 1, "augment": False}
# Checked only where the checkpoint and the run both record them: older checkpoints, and runs on
# a loader, hold no training data's digest (InMemoryData.training_digest); a model of another
# lesson, built without a table of rows, has no network to name.
CHECKED_WHEN_RECORDED = ("train_data", "network")


class CheckpointError(D2LAlexNetError):
    """A checkpoint is unreadable, corrupt or does not fit this run; the message names the file
    and says what to do, in Python's words (``batch_size=128``) or the command line's
    (``--batch-size 128``)."""

    @staticmethod
    def in_python(name: str, value: object) -> str:
        words = SETTING_WORDS.get(name)
        return words[0].format(value) if words else f"{name}={value}"

    def for_command_line(self) -> str:
        def spelled(name: str, value: object) -> str:
            words = SETTING_WORDS.get(name)
            return words[1].format(value) if words else f"--{name.replace('_', '-')} {value}"
        return self.spelled(spelled)


# The settings a refusal says in words of their own: (in Python, on the command line); the
# others are name=value and --name value.
SETTING_WORDS = {
    "backend": ("in the {} edition of d2l_alexnet", "with --backend {}"),
    "checkpoint_dir": ("another directory for the Checkpointer", "another --checkpoint-dir"),
    "same_data": ("limit_train=, or the same folder and validation_split=",
                  "--limit-train, or the same --image-folder and --validation-split"),
    "augment": ("augment=True", "--augment"),
    "without_augment": ("with augment=False", "without --augment"),
}


class CheckpointWriteError(CheckpointError, RunFailed):
    """A checkpoint could not be written (a full disk, say): training stops, the previous
    checkpoints are intact. The run failed rather than its input: exit 1."""


def checkpoint_name(step: int) -> str:
    return f"checkpoint-{int(step)}.ckpt"


def _digest(metadata_json, names, arrays):
    """SHA-256 of the metadata and of each array's name, dtype, shape and bytes, in order."""
    digest = hashlib.sha256(metadata_json.encode("utf-8"))
    for name in names:
        array = arrays[name]
        digest.update(json.dumps([name, array.dtype.str, list(array.shape)]).encode("utf-8"))
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def encode(metadata: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> bytes:
    """``(metadata dict, {name: numpy array})`` -> the bytes of a checkpoint file: a safetensors
    file whose ``__metadata__`` holds the format, the version, the array names in order, the
    metadata as JSON and the SHA-256 of it all."""
    little = {}
    for name, array in arrays.items():
        array = np.asarray(array)
        if array.dtype.kind not in "biuf" or array.dtype.itemsize == 0:
            raise TypeError(f"checkpoint array {name} has dtype {array.dtype}: only numbers")
        # copy=False keeps 0-d arrays 0-d (np.ascontiguousarray makes them 1-d).
        little[name] = array.astype(array.dtype.newbyteorder("<"), order="C", copy=False)
    names = list(little)
    metadata_json = canonical_json(metadata)
    return safetensors_bytes(little, {
        "format": FORMAT, "version": str(VERSION), "names": json.dumps(names),
        "metadata": metadata_json, "sha256": _digest(metadata_json, names, little)})


def write_checkpoint(path: PathLike, metadata: Mapping[str, Any],
                     arrays: Mapping[str, np.ndarray],
                     before_rename: Callable[[str], object] | None = None) -> None:
    """Write a checkpoint atomically (temporary file, fsync, rename)."""
    atomic_write_bytes(path, encode(metadata, arrays), before_rename=before_rename)


@dataclass
class Checkpoint:
    """A verified checkpoint: ``metadata`` (position, history, hyperparameters) and ``arrays``."""

    path: PathLike
    metadata: dict
    arrays: dict = field(repr=False)

    @property
    def name(self) -> str:
        return os.path.basename(self.path)

    @property
    def step(self) -> int:
        return self.metadata["step"]

    def describe(self) -> str:
        """Where this checkpoint stands: ``epoch 2, batch 1 (step 5)``, where training goes on
        within an epoch, or ``the end of epoch 1 (step 4)``, which a run ending there (nothing
        left to train) may be resumed from too."""
        epoch, batch = self.metadata["epoch"], self.metadata["batch"]
        if batch == 0 and epoch > 0:
            return f"the end of epoch {epoch} (step {self.step})"
        return f"epoch {epoch + 1}, batch {batch} (step {self.step})"


def read_checkpoint(path: PathLike) -> Checkpoint:
    """Read and verify one checkpoint; :class:`CheckpointError` names the file and the damage."""
    name = os.path.basename(path)
    try:
        with open(path, "rb") as stream:
            start = stream.read(len(VERSION_1_MAGIC))
            size = os.fstat(stream.fileno()).st_size
    except OSError as error:
        raise CheckpointError(f"cannot read checkpoint {path}: {error.strerror or error}") from None
    if start == VERSION_1_MAGIC:
        return _read_version_1(path, name)
    try:
        with safetensors.safe_open(os.fspath(path), framework="numpy") as handle:
            header = safetensors_metadata(handle.metadata())
            arrays = {key: handle.get_tensor(key) for key in handle.keys()}
    except OSError as error:
        raise CheckpointError(f"cannot read checkpoint {path}: {error.strerror or error}") from None
    except Exception as error:  # SafetensorError: the header or the data does not add up
        raise CheckpointError(f"{name} is truncated or corrupt ({size:,} bytes; safetensors: "
                              f"{error})") from None
    if header.get("format") == WEIGHTS_FORMAT:
        raise CheckpointError(f"{name} is a weights file, not a checkpoint: start a run from it "
                              "with --init-from (load_weights in Python)")
    if header.get("format") != FORMAT:
        raise CheckpointError(f"{name} is not a d2l_alexnet checkpoint (a safetensors file "
                              "without its metadata)")
    if header.get("version") not in READABLE_VERSIONS:
        raise CheckpointError(f"{name} has format version {header.get('version')}; this "
                              f"d2l_alexnet reads versions 1 to {VERSION}: resume it with the "
                              "version that wrote it")
    try:
        names = json.loads(header["names"])
        metadata = json.loads(header["metadata"])
        if sorted(names) != sorted(arrays) or not isinstance(metadata, dict):
            raise ValueError("its list of arrays does not match the file")
        if _digest(header["metadata"], names, arrays) != header["sha256"]:
            raise ValueError("SHA-256 checksum mismatch")
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"{name} is corrupt ({error})") from None
    return Checkpoint(path, metadata, {key: arrays[key] for key in names})


def _read_version_1(path, name):
    """A checkpoint of the first format (before safetensors): 16 bytes of magic, the header
    length, a SHA-256 of the rest, a JSON header, the arrays' raw bytes. Read only: such runs
    resume, and their next checkpoints are written in the current format."""
    try:
        with open(path, "rb") as stream:
            raw = stream.read()
    except OSError as error:
        raise CheckpointError(f"cannot read checkpoint {path}: {error.strerror or error}") from None
    prefix = len(VERSION_1_MAGIC) + 8 + 32
    if len(raw) < prefix:
        raise CheckpointError(f"{name} is truncated or corrupt ({len(raw)} bytes, not even a "
                              "header)")
    (length,) = struct.unpack("<Q", raw[len(VERSION_1_MAGIC):len(VERSION_1_MAGIC) + 8])
    if hashlib.sha256(raw[prefix:]).digest() != raw[len(VERSION_1_MAGIC) + 8:prefix]:
        raise CheckpointError(f"{name} is truncated or corrupt (SHA-256 checksum mismatch)")
    try:
        header = json.loads(raw[prefix:prefix + length].decode("utf-8"))
        payload = memoryview(bytearray(raw[prefix + length:]))  # writable arrays
        arrays = {key: np.frombuffer(payload[entry["offset"]:entry["offset"] + entry["nbytes"]],
                                     dtype=np.dtype(entry["dtype"])).reshape(entry["shape"])
                  for key, entry in header["arrays"].items()}
        metadata = header["metadata"]
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"{name} is corrupt ({error})") from None
    return Checkpoint(path, metadata, arrays)


def is_checkpoint(path: PathLike) -> bool:
    """Whether ``path`` is a file that says it is a checkpoint (either format; damaged or not),
    rather than a weights file. Reads the first bytes and the header only. A file too damaged
    for safetensors to open (truncated) is one still where its header's first bytes name our
    format, or its name is a checkpoint's (``checkpoint-<step>.ckpt``); ``False`` for anything
    else unreadable (the caller's own reading names the problem)."""
    try:
        with open(path, "rb") as stream:
            start = stream.read(HEADER_PEEK_BYTES)
    except OSError:
        return False
    if start.startswith(VERSION_1_MAGIC):
        return True
    try:
        with safetensors.safe_open(os.fspath(path), framework="numpy") as handle:
            return safetensors_metadata(handle.metadata()).get("format") == FORMAT
    except Exception:  # damaged, or not safetensors: what is left of it may still tell
        return FORMAT.encode() in start or NAME.match(os.path.basename(path)) is not None


HEADER_PEEK_BYTES = 1 << 16  # a damaged file's first bytes searched for FORMAT


def list_checkpoints(directory: PathLike) -> list[tuple[int, str]]:
    """``[(step, path)]`` of the checkpoint files in ``directory``, newest first."""
    try:
        names = os.listdir(directory)
    except (FileNotFoundError, NotADirectoryError):
        return []
    found = [(int(match.group(1)), os.path.join(directory, name))
             for name in names for match in [NAME.match(name)] if match]
    return sorted(found, reverse=True)


def set_aside_after(directory: PathLike, step: int, suffix: str = ".diverged") -> list[str]:
    """Rename the checkpoints in ``directory`` saved after ``step`` to ``<name><suffix>``
    (kept for a post-mortem, out of ``--resume``'s way); their names, oldest first. One that
    cannot be renamed (a read-only folder) is left, and not named."""
    moved = []
    for saved_at, path in reversed(list_checkpoints(directory)):
        if saved_at > step:
            try:
                os.replace(path, path + suffix)
            except OSError:
                continue
            moved.append(os.path.basename(path))
    return moved


def checkpoint_to_resume(resume: Checkpoint | PathLike | None,
                         log: Log | None = print) -> Checkpoint | None:
    """``fit``'s ``resume=`` as a :class:`Checkpoint`: one given as such, or read from a path,
    a checkpoint file or a :class:`Checkpointer`'s folder (its newest checkpoint that verifies,
    as :func:`latest_checkpoint` finds it: Lightning's ``ckpt_path``). A folder without one is
    refused, as is any other value (a step number, say)."""
    if resume is None or isinstance(resume, Checkpoint):
        return resume
    if not isinstance(resume, (str, os.PathLike)):
        raise TypeError(f"resume must be a Checkpoint (latest_checkpoint(folder)) or the path "
                        f"of a checkpoint file or of a Checkpointer's folder, got {resume!r}")
    path = user_path(resume)
    if not os.path.isdir(path):
        return read_checkpoint(path)
    found = latest_checkpoint(path, log=log)
    if found is None:
        raise CheckpointError(f"resume={os.fspath(path)!r}: that folder holds no checkpoint; "
                              f"fit without resume= to start the run")
    return found


def latest_checkpoint(directory: PathLike, log: Log | None = print) -> Checkpoint | None:
    """The newest checkpoint in ``directory`` that verifies, or ``None`` when there is none.

    A damaged newer file is renamed to ``<name>.corrupt`` (kept for a post-mortem, out of the
    way of the next saves) and named in one line; where it cannot be renamed (a read-only
    folder) it is left as it is, and the line says so. If every file is damaged,
    :class:`CheckpointError` lists them.
    """
    log = log_or_none("latest_checkpoint", log)
    damaged = []
    for _, path in list_checkpoints(directory):
        try:
            checkpoint = read_checkpoint(path)
        except CheckpointError as error:
            damaged.append((path, str(error)))
            continue
        for bad_path, reason in damaged:
            try:
                os.replace(bad_path, bad_path + ".corrupt")
                kept = f"kept it as {os.path.basename(bad_path)}.corrupt"
            except OSError as error:
                kept = (f"left it as it is (renaming it to .corrupt failed: "
                        f"{error.strerror or error})")
            if log is not None:
                log(f"warning: {reason}; {kept} and falling back to the previous good "
                    f"checkpoint, {checkpoint.name}")
        return checkpoint
    if damaged:
        raise CheckpointError(f"no usable checkpoint in {directory}: "
                              + "; ".join(reason for _, reason in damaged)
                              + ": start a new run with an empty --checkpoint-dir")
    return None


def mismatches(metadata: Mapping[str, Any], expected: Mapping[str, Any],
               ) -> list[tuple[str, Any, Any, str | None]]:
    """``[(key, saved, wanted, flag)]`` for each value a resumed run must share with the file."""
    found = []
    for key, flag in MUST_MATCH:
        if key in CHECKED_WHEN_RECORDED and None in (metadata.get(key), expected.get(key)):
            continue
        saved = metadata.get(key, MISSING_MEANS.get(key))
        if key in expected and saved != expected[key]:
            found.append((key, saved, expected[key], flag))
    return found


def check_compatible(checkpoint: Checkpoint, expected: Mapping[str, Any]) -> None:
    """Raise :class:`CheckpointError` naming the first value that differs from ``expected``,
    and the setting that resumes it, in Python's words or (``for_command_line``) the flags'."""
    where = f"{checkpoint.name} in {os.path.dirname(checkpoint.path) or '.'}"
    for key, saved, wanted, flag in mismatches(checkpoint.metadata, expected):
        settings: dict[str, Any] = {"checkpoint_dir": None}
        if key == "backend":
            fix, settings["backend"] = "resume {backend}", saved
        elif key == "train_examples":
            fix = (f"resume with the same data (it had {saved:,} training images: the same "
                   "{same_data})")
            settings["same_data"] = None
        elif key == "train_data":  # as many images as before, but not the same ones
            raise CheckpointError(
                f"{where} was saved on other training images or labels than this run's (as "
                "many, but not the same): resume on the data it was trained on, or choose "
                "{checkpoint_dir}", **settings)
        elif key == "network":  # the same shapes, maybe, but not the same function
            differ = next((f"row {number}: {old} there, {new} here" for number, (old, new)
                           in enumerate(zip(saved.split(), (wanted or "").split()), 1)
                           if old != new), "another number of rows")
            raise CheckpointError(
                f"{where} was saved from a network of other rows than this model's ({differ}): "
                "resume with the layers= and dropout= it was made with, or choose "
                "{checkpoint_dir}", **settings)
        elif key == "augment" and saved:
            fix, settings["augment"] = "resume with {augment}", True
        elif key == "augment":
            fix, settings["without_augment"] = "resume {without_augment}", False
        elif flag is not None:
            setting = flag.lstrip("-").replace("-", "_")
            fix, settings[setting] = f"resume with {{{setting}}}", saved
        else:
            fix = "resume with the settings it was made with"
        raise CheckpointError(
            f"{where} was saved with {key.replace('_', ' ')} {saved!r}, this run has "
            f"{wanted!r}: {fix}, or choose {{checkpoint_dir}}", **settings)


def estimated_bytes(resize: Size, num_classes: int, recipe: TrainingRecipe | None = None,
                    in_channels: int = IN_CHANNELS) -> int:
    """About how large one checkpoint of AlexNet is: the fp32 weights, and as much again for
    the momentum buffers when ``recipe`` (a ``TrainingRecipe``) has momentum (plain SGD keeps
    no per-parameter state in any backend), plus a MB for the RNGs and the metadata."""
    copies = 2 if recipe is not None and recipe.momentum else 1
    return 4 * parameter_count(resize, num_classes, in_channels) * copies + (1 << 20)


def check_directory(directory: PathLike, needed_bytes: int, keep: int = 2,
                    also_needed: int = 0) -> list[str]:
    """Prove ``directory`` roomy enough for ``keep`` + 1 checkpoints (the newest is written
    before the oldest goes) plus ``also_needed`` bytes of other files on the same disk, then
    create it if needed and prove it writable; returns the folders it created. ``OSError``
    otherwise, leaving nothing it created behind. An existing folder is proven writable first,
    so that a read-only one is named as such rather than as short of space."""
    exists = os.path.isdir(directory)
    if exists:
        check_writable_directory(directory)
    else:  # the folder it would be made in must be writable: else a small disk says "full"
        refuse_unwritable(nearest_existing(directory))
    existing = sum(os.path.getsize(path) for _, path in list_checkpoints(directory))
    free = free_bytes(directory)
    wanted = (keep + 1) * needed_bytes - existing + also_needed
    if free < wanted:
        what = "checkpoints need" if not also_needed else "checkpoints and outputs need"
        raise OSError(errno.ENOSPC, f"{free / 1e6:,.0f} MB free, {what} about "
                                    f"{wanted / 1e6:,.0f} MB")
    return [] if exists else check_writable_directory(directory)


def refuse_unwritable(folder: PathLike) -> None:
    """``OSError`` (EROFS, EACCES) where nothing can be made in the existing ``folder``."""
    if os.statvfs(folder).f_flag & os.ST_RDONLY:
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OSError(errno.EACCES, os.strerror(errno.EACCES))


class Checkpointer:
    """Saves ``trainer.checkpoint_state()`` at every epoch end and every ``every`` steps.

    ``attach(trainer)`` hooks it into the fit loop. A step checkpoint is skipped at an epoch's
    last batch: the epoch-end checkpoint follows right after validation. ``extra_metadata``,
    when given, is called at each save and its dict joins the checkpoint's metadata (``bench
    --time-to-accuracy`` keeps its curve and clock there).
    """

    # It saves every callback's state of the epoch: the trainer gives it the epoch after them.
    runs_last = True

    def __init__(self, directory: PathLike, every: int | None = None, keep: int = 2,
                 log: Log | None = print,
                 extra_metadata: Callable[[], Mapping[str, Any]] | None = None) -> None:
        # Whole numbers only: every=1.5 saved at steps 3, 6..., and keep=1.5 failed at a save.
        if every is not None and (not is_whole(every) or every < 1):
            raise ValueError(f"every must be None (epoch ends only) or a whole number of steps "
                             f"of at least 1, got {every!r}; pass e.g. every=100")
        if not is_whole(keep) or keep < 1:
            raise ValueError(f"keep must be a whole number of at least 1, got {keep!r}; pass "
                             f"e.g. keep=2")
        directory = user_path(directory)
        self.directory, self.every, self.keep = directory, every, keep
        self.log = log_or_none("Checkpointer", log)
        # A caller's own state, saved with the trainer's: a function returning a JSON-ready dict.
        self.extra_metadata = extra_metadata
        # The newest checkpoint known good (written or resumed from).
        self.last_path: str | None = None
        os.makedirs(directory, exist_ok=True)
        self.remove_unfinished_writes()

    def attach(self, trainer: TrainerBase) -> Checkpointer:
        trainer.step_callbacks.append(self.on_step)
        trainer.callbacks.append(self)  # check_fit_start, then on_evaluation after each epoch
        return self

    def check_fit_start(self, trainer: TrainerBase, state: Any) -> None:
        """A new run (not resumed) refuses a directory of another run's checkpoints: pruning
        keeps the highest steps, so its own would go first, without a word. A run resumed from
        a checkpoint of step 0 (a signal before the first step) is no new run."""
        existing = list_checkpoints(self.directory)
        if getattr(trainer, "resumed_from", None) is None and existing:
            raise CheckpointError(
                f"{self.directory} already holds checkpoints of another run "
                f"({os.path.basename(existing[0][1])}): continue that run with "
                f"trainer.fit(model, data, resume=latest_checkpoint(directory)) (--resume), or "
                f"give this one an empty directory")

    def remove_unfinished_writes(self) -> None:
        """Temporary files left by a crash mid-write are garbage: the rename never happened."""
        remove_unfinished_writes(self.directory, [FINAL_NAME], log=self.log)

    def on_step(self, trainer: TrainerBase) -> None:
        if (self.every is not None and trainer.step % self.every == 0
                and not trainer.at_epoch_end()):
            self.save(trainer)

    def on_evaluation(self, trainer: TrainerBase, record: Mapping[str, Any]) -> None:
        self.save(trainer)

    def save(self, trainer: TrainerBase) -> str:
        """Write a checkpoint of where ``trainer`` stands now; returns its path.

        ``checkpoint_state`` raises ``TrainingError`` before anything is written when a loss or
        a weight is not finite, so a NaN never reaches a checkpoint.
        """
        metadata, arrays = trainer.checkpoint_state()
        if self.extra_metadata is not None:
            metadata.update(self.extra_metadata())
        path = os.path.join(self.directory, checkpoint_name(metadata["step"]))
        try:
            write_checkpoint(path, metadata, arrays)
            _fsync_directory(self.directory)
        except OSError as error:
            fix = write_fix(error)  # not always space: a removed folder, a file size limit
            if self.last_path is not None and os.path.isfile(self.last_path):
                then = (f"the last good checkpoint is {self.last_path}: {fix}, then resume "
                        "with --resume")
            elif self.last_path is not None:  # removed with its folder, say
                then = (f"no checkpoint is left (the last, {self.last_path}, is gone): {fix} "
                        "and start again")
            else:
                then = f"no checkpoint was saved yet: {fix} and start again"
            raise CheckpointWriteError(f"cannot write checkpoint {path} "
                                       f"({write_reason(error)}); {then}") from None
        self.last_path = path
        self.prune()
        return path

    def prune(self) -> None:
        """Keep the newest ``keep`` checkpoints."""
        for _, path in list_checkpoints(self.directory)[self.keep:]:
            os.remove(path)


def _fsync_directory(directory):
    """Make the rename itself durable (a power cut must not undo it)."""
    try:
        handle = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass  # some file systems cannot fsync a directory; the data file itself is synced
    finally:
        os.close(handle)
