"""Callbacks: what a run does after each evaluation besides training, as Keras users know it
(``CSVLogger``, ``ModelCheckpoint(save_best_only=True, monitor="val_accuracy")``,
``EarlyStopping(patience=)``, ``TensorBoard(log_dir=)``).

``Trainer(callbacks=[...])`` calls each one's :meth:`Callback.on_fit_start` when ``fit`` begins
(with the state a resumed checkpoint saved for it) and :meth:`Callback.on_evaluation` after
every epoch's validation. A callback with a ``key`` has its :meth:`Callback.state` saved in
every checkpoint (metadata ``callbacks``), so a resumed run goes on as an uninterrupted one.
Only the first replica writes files.
"""

from __future__ import annotations

import json
import os
import re
import socket
import struct
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from .errors import D2LAlexNetError, RunFailed
from .files import atomic_write_bytes, write_fix, write_reason
from .language import number, say
from .progress import FigureError
from .types import PathLike, Record, is_whole, user_path
from .weights import WeightsError, weights_metadata

if TYPE_CHECKING:  # the trainer imports this module
    from .trainer import TrainerBase

# The keys of one metrics.jsonl line, in order (each a key of the trainer's epoch record).
METRICS_KEYS = ("epoch", "step", "images_seen", "train_loss", "val_loss", "val_acc", "lr",
                "seconds")


class RecordWriteError(RunFailed):
    """A record of the run (metrics.jsonl, curves.png, best.safetensors) could not be written
    (a full disk, say): training stops; the message says how to go on (exit 1). ``what`` is
    its first part, the file, why and the fix, for a caller that says where the weights are."""

    def __init__(self, message: str, what: str | None = None) -> None:
        super().__init__(message)
        self.what = message if what is None else what


@contextmanager
def writing(path: PathLike) -> Iterator[None]:
    """Turn a failed write of ``path`` into a one-line :class:`RecordWriteError`."""
    try:
        yield
    except RecordWriteError:
        raise
    except OSError as error:
        what = f"cannot write {path} ({write_reason(error)}): {write_fix(error)}"
        raise RecordWriteError(f"{what}; a run with --checkpoint-dir continues with --resume",
                               what) from None


def file_to_write(owner: str, path: PathLike, example: str) -> PathLike:
    """``path`` (``~`` expanded) for a callback that writes one file there, refused at once
    where it names no file: empty, None, or a folder (one that exists, or a name ending in a
    separator), which failed only at the first write, after an epoch of training, with advice
    that fitted another fault."""
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise TypeError(f"{owner}: the path must be a file name such as {example!r}, got "
                        f"{path!r}")
    text = os.fsdecode(os.fspath(path))
    if not text:
        raise ValueError(f"{owner}: the path is empty: name the file, e.g. {example!r}")
    path = user_path(path)
    if text.endswith(("/", os.sep)) or os.path.isdir(path):
        raise ValueError(f"{owner}: {text} is a folder: name a file in it, e.g. "
                         f"{os.path.join(text, example)!r}")
    return path


def make_parent_folder(path: PathLike) -> None:
    """Make the folder ``path`` goes into, when a fit starts (as Keras' ModelCheckpoint and
    CSVLogger do), rather than fail at the first write after an epoch of training."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)


class Callback:
    """The hooks a trainer calls; each does nothing unless overridden."""

    # The name of its state in a checkpoint's metadata (None: it keeps none).
    key: str | None = None

    def check_fit_start(self, trainer: TrainerBase, state: Any) -> None:
        """Before any callback starts: raise if this one cannot serve the fit, so that a refused
        fit leaves every callback's files as they were (a notebook cell run again, say)."""

    def on_fit_start(self, trainer: TrainerBase, state: Any) -> None:
        """``fit`` begins: ``trainer.history`` holds the epochs already done (a resumed run's),
        ``state`` what :meth:`state` returned when the checkpoint was saved (``None`` if none)."""

    def on_evaluation(self, trainer: TrainerBase, record: Record) -> None:
        """An epoch ended and was validated: ``record`` is its entry of the history."""

    def on_fit_end(self, trainer: TrainerBase) -> None:
        """``fit`` ended, finished, stopped or failed: release what the fit held open."""

    def state(self) -> Any:
        """What a checkpoint must carry for a resumed run to continue exactly (JSON-ready)."""
        return None


def metrics_line(record: Record) -> str:
    """One line of ``metrics.jsonl`` for an epoch record."""
    return json.dumps({key: record.get(key) for key in METRICS_KEYS}) + "\n"


class MetricsLog(Callback):
    """Appends one JSON line per evaluation to ``path`` (``metrics.jsonl``), flushed and
    fsynced, so a reader sees each epoch as it ends (``CSVLogger``). At the start of ``fit`` the
    file is made to hold exactly the epochs already done (none, or a resumed run's), rewritten
    atomically when it holds others, so a resumed run never repeats a line."""

    def __init__(self, path: PathLike) -> None:
        self.path = file_to_write("MetricsLog", path, "metrics.jsonl")

    def on_fit_start(self, trainer: TrainerBase, state: Any) -> None:
        if not trainer.is_first_replica:
            return
        done = "".join(metrics_line(record) for record in trainer.history).encode("utf-8")
        with writing(self.path):  # (a file where its folder should be: one line too)
            try:
                with open(self.path, "rb") as stream:
                    if stream.read() == done:
                        return
            except FileNotFoundError:
                pass
        with writing(self.path):
            make_parent_folder(self.path)
            atomic_write_bytes(self.path, done)

    def on_evaluation(self, trainer: TrainerBase, record: Record) -> None:
        if not trainer.is_first_replica:
            return
        with writing(self.path), open(self.path, "a", encoding="utf-8") as stream:
            stream.write(metrics_line(record))
            stream.flush()
            os.fsync(stream.fileno())


class PlotCurves(Callback):
    """Redraws the trainer's board to ``path`` (``curves.png``) after every evaluation,
    atomically, so the plot of a long run can be looked at while it goes on."""

    def __init__(self, path: PathLike) -> None:
        self.path = file_to_write("PlotCurves", path, "curves.png")

    def on_fit_start(self, trainer: TrainerBase, state: Any) -> None:
        if trainer.is_first_replica:
            with writing(self.path):
                make_parent_folder(self.path)

    def on_evaluation(self, trainer: TrainerBase, record: Record) -> None:
        if trainer.is_first_replica:
            try:
                with writing(self.path):
                    trainer.board.save(self.path)
            except FigureError as error:  # (matplotlib gone or broken since the run began)
                what = f"cannot draw {self.path} ({error})"
                raise RecordWriteError(f"{what}; a run with --checkpoint-dir continues with "
                                       "--resume", what) from None


class BestAccuracy(Callback):
    """The best validation accuracy so far, its epoch, and the evaluations since it improved;
    what :class:`KeepBest` and :class:`EarlyStopping` act on. An accuracy improves on the best
    only when higher (a tie keeps the earlier epoch, as Keras does)."""

    def __init__(self) -> None:
        self.best_val_acc: float | None = None
        self.best_epoch: int | None = None
        self.evaluations_without_improvement = 0

    def on_fit_start(self, trainer: TrainerBase, state: Any) -> None:
        # Counted again from the resumed run's history rather than taken from ``state``: the
        # history is the run's own record of every epoch, while a state may lag behind it
        # (saved by a Checkpointer that acted before this callback had seen the epoch, or
        # carried over a resume this callback sat out).
        BestAccuracy.__init__(self)
        for record in trainer.history:
            self.track(record)

    def track(self, record: Record) -> bool:
        """Count one evaluation; whether it improved on the best."""
        if self.best_val_acc is None or record["val_acc"] > self.best_val_acc:
            self.best_val_acc, self.best_epoch = record["val_acc"], record["epoch"]
            self.evaluations_without_improvement = 0
            return True
        self.evaluations_without_improvement += 1
        return False

    def state(self) -> Record:
        return {"best_val_acc": self.best_val_acc, "best_epoch": self.best_epoch,
                "evaluations_without_improvement": self.evaluations_without_improvement}


def saved_float(text: str) -> float:
    """A number ``KeepBest`` wrote into a file's metadata: ``repr`` of a float, or, in a file
    of a version that wrote a numpy scalar's ``repr`` where the record held one,
    ``np.float64(0.9)`` (a ``ValueError`` for anything else)."""
    match = re.fullmatch(r"np\.float(?:32|64)\((.*)\)", text.strip())
    return float(match.group(1) if match else text)


class KeepBest(BestAccuracy):
    """Writes the weights of the best validation accuracy so far to ``path``
    (``best.safetensors``) whenever it improves, atomically, with ``epoch``, ``val_acc`` and
    ``val_loss`` in the file's metadata (``ModelCheckpoint(save_best_only=True,
    monitor="val_accuracy")``). It loads as any weights file: ``model.load_weights(path)``. As
    Keras' callback does, it keeps its best across fits: a later ``fit`` (a notebook cell run
    again) replaces the file only with a higher accuracy than the one it holds. A resumed fit
    whose ``path`` does not hold its best epoch so far says so in one line; a file there of
    other weights (another run's) is removed first."""

    key = "keep_best"

    def __init__(self, path: PathLike) -> None:
        super().__init__()
        self.path = file_to_write("KeepBest", path, "best.safetensors")
        #: The accuracy of the weights an earlier fit of this callback left in ``path``: a new
        #: fit's epochs must beat it to replace them (``None``: no earlier fit's are there).
        self.kept_before: float | None = None

    def check_fit_start(self, trainer: TrainerBase, state: Any) -> None:
        try:
            trainer.check_saves_weights()
        except WeightsError as error:
            raise WeightsError(f"KeepBest cannot keep the best epoch: {error}") from None

    def on_fit_start(self, trainer: TrainerBase, state: Any) -> None:
        kept = self.kept_val_acc() if os.path.exists(self.path) else None
        super().on_fit_start(trainer, state)
        self.kept_before = kept if state is None and not trainer.history else None
        if not trainer.is_first_replica:
            return
        with writing(self.path):
            make_parent_folder(self.path)
        log = getattr(trainer, "log", None)
        held = self.held_instead(trainer) if self.best_epoch is not None else None
        if held is not None and log is not None:
            log(f"note: {self.path} does not hold the best epoch so far (epoch "
                f"{self.best_epoch}, val_acc {self.best_val_acc:.4f}): {held}; the file is "
                "written when a later epoch does better")
        if self.kept_before is not None and log is not None:
            log(f"note: {self.path} holds the weights of an earlier fit (val_acc "
                f"{self.kept_before:.4f}): an epoch of this one replaces them only if it does "
                f"better (a new KeepBest starts afresh)")

    def held_instead(self, trainer: TrainerBase) -> str | None:
        """At a resumed run's start: ``None`` when ``path`` holds its best epoch so far (the
        file's ``epoch``, ``val_acc`` and, where it has one, ``val_loss`` those of the run's),
        else why not. A file of other weights (another run's, in an ``--out`` the resume
        shares; a later epoch's, which this run writes again when it gets there with the same
        accuracy) is removed, so that no other weights pass for this run's best."""
        if not os.path.exists(self.path):
            return "its weights were not kept, or were kept in another folder"
        best = next((record for record in trainer.history
                     if record["epoch"] == self.best_epoch), {})
        try:
            metadata = weights_metadata(self.path)
            epoch, val_acc = str(metadata["epoch"]), saved_float(metadata["val_acc"])
            # Two runs' epochs of one accuracy (a small validation set) differ in their loss.
            same_loss = ("val_loss" not in metadata or best.get("val_loss") is None
                         or saved_float(metadata["val_loss"]) == best["val_loss"])
        except (WeightsError, KeyError, ValueError):  # not a file KeepBest wrote
            epoch, val_acc, same_loss = None, None, False
        if epoch == str(self.best_epoch) and val_acc == self.best_val_acc and same_loss:
            log = getattr(trainer, "log", None)
            if "val_loss" not in metadata and log is not None:  # nothing more to tell them by
                log(f"note: {self.path} records no val_loss (an earlier version wrote it): it "
                    f"is taken as this run's best by its epoch and val_acc alone")
            return None
        with writing(self.path):
            os.remove(self.path)
        held = ("" if val_acc is None else f" (epoch {epoch}, val_acc {val_acc:.4f})")
        return f"it held other weights{held}, now removed"

    def kept_val_acc(self) -> float | None:
        """The accuracy of the weights this callback last wrote to ``path`` in any fit."""
        earlier = [value for value in (self.kept_before, self.best_val_acc) if value is not None]
        return max(earlier) if earlier else None

    def on_evaluation(self, trainer: TrainerBase, record: Record) -> None:
        improved = self.track(record)
        if self.kept_before is not None and improved and record["val_acc"] > self.kept_before:
            self.kept_before = None  # this fit's best is the file's from here on
        elif self.kept_before is not None:
            return
        if improved and trainer.is_first_replica:
            # repr of a Python float: every digit, and no numpy wrapper (np.float64(...))
            said = {"epoch": record["epoch"], "val_acc": repr(float(record["val_acc"]))}
            if record.get("val_loss") is not None:
                said["val_loss"] = repr(float(record["val_loss"]))
            with writing(self.path):
                trainer.save_weights(self.path, said)


class EarlyStopping(BestAccuracy):
    """Stops ``fit`` after ``patience`` evaluations in a row without a higher validation
    accuracy, saying so in one line (``EarlyStopping(patience=)``)."""

    key = "early_stopping"

    def __init__(self, patience: int) -> None:
        if not is_whole(patience) or patience < 1:  # numpy's integers too, never a bool
            raise ValueError(f"patience must be a whole number of at least 1, got {patience!r}")
        super().__init__()
        self.patience = int(patience)

    def on_fit_start(self, trainer: TrainerBase, state: Any) -> None:
        super().on_fit_start(trainer, state)
        self.stop_if_due(trainer)  # a resumed run that had stopped: it stays stopped

    def on_evaluation(self, trainer: TrainerBase, record: Record) -> None:
        self.track(record)
        self.stop_if_due(trainer)

    def stop_if_due(self, trainer: TrainerBase) -> None:
        best = self.best_val_acc
        if (best is not None and self.best_epoch is not None
                and self.evaluations_without_improvement >= self.patience):
            trainer.request_stop(say("early_stopping", best=number(best, 4),
                                     epoch=self.best_epoch,
                                     count=self.evaluations_without_improvement))


# The scalars TensorBoardLog writes: each a key of the trainer's epoch record, and its tag.
TENSORBOARD_KEYS = ("train_loss", "val_loss", "val_acc", "lr", "images_per_sec", "seconds")
EVENT_FILE_MARK = ".tfevents."  # in every event file's name, as TensorBoard looks for them


class TensorBoardError(D2LAlexNetError, ImportError):
    """tensorboardX, which writes TensorBoard's files, is not installed (exit 2)."""


def import_tensorboardx() -> tuple[Any, Any, Any, Any]:
    """tensorboardX's event writer, its protobufs and its scalar summary, imported only when a
    :class:`TensorBoardLog` is made. Its package imports PyTorch when it can (to take tensors):
    a run of another backend must not load a second framework, so PyTorch stays hidden from
    it unless already loaded (the scalars written here are plain floats)."""
    hide_torch = "torch" not in sys.modules
    if hide_torch:
        sys.modules["torch"] = None  # type: ignore[assignment]  # None: `import torch` fails
    try:
        from tensorboardX import event_file_writer, summary
        from tensorboardX.proto import event_pb2
        from tensorboardX.record_writer import masked_crc32c
    except ModuleNotFoundError as error:
        if (error.name or "").split(".")[0] not in ("tensorboardX", "google"):  # google: protobuf
            raise
        raise TensorBoardError("writing TensorBoard logs needs tensorboardX, which is not "
                               "installed: pip install tensorboardX") from None
    finally:
        if hide_torch and sys.modules.get("torch", False) is None:
            del sys.modules["torch"]
    return event_file_writer, event_pb2, summary, masked_crc32c


def event_files(log_dir: PathLike) -> list[str]:
    """The TensorBoard event files directly in ``log_dir``, by name (none if it cannot be
    listed); a hidden name is an unfinished atomic write, not one of them."""
    try:
        names = sorted(os.listdir(log_dir))
    except OSError:  # missing, a file, unreadable: a writer there says so when it opens it
        return []
    return [os.path.join(log_dir, name) for name in names
            if EVENT_FILE_MARK in name and not name.startswith(".")]


def run_mark(run: str | None) -> str:
    """What the name of every event file of the run named ``run`` holds."""
    return f".run-{run}."


def saved_run(state: Any) -> str | None:
    """The run named in a :class:`TensorBoardLog`'s checkpoint state (``None``: no state, or
    one without a run's name). A name is letters and digits: it goes into file names."""
    run = state.get("run") if isinstance(state, dict) else None
    return run if isinstance(run, str) and run.isascii() and run.isalnum() else None


class TensorBoardLog(Callback):
    """Writes the scalars of every evaluation (:data:`TENSORBOARD_KEYS`, the names of
    ``metrics.jsonl``; the trainer's step as TensorBoard's global step) as TensorBoard event
    files in ``log_dir``, flushed at once, through tensorboardX (``keras.callbacks.TensorBoard``):
    ``tensorboard --logdir log_dir`` shows them while the run goes on. The same in every backend:
    the scalars are the plain floats of the epoch record.

    Each ``fit`` starts a new event file (``...run-R.step-N``: it holds the steps after N of
    run R, a name drawn when a new run starts and kept in its checkpoints); a new run leaves the
    folder's other files alone, as Keras' TensorBoard does. At a resumed run's start its own
    event files (those of its run's name, whichever of its fits wrote them) are made to hold
    exactly the evaluations already done: the events of later steps (a killed fit's, after its
    checkpoint) are dropped, so every step is there once; a file left holding no scalars is
    removed; and the resumed run's epochs that none of them holds (a log added at the resume)
    are written from its history. Other runs' files in the folder are neither changed nor read.
    A checkpoint that names no run of this log (saved by a version before runs were named, or
    without the log) takes the files such a version wrote, ``...step-N`` with no run's name,
    as its own: they are pruned as above and renamed into the new run's name; it writes the
    epochs none of them holds to a new file of that run."""

    key = "tensorboard"

    def __init__(self, log_dir: PathLike) -> None:
        self.log_dir = os.fspath(user_path(log_dir))
        (self.event_file_writer, self.event_pb2, self.summary,
         self.masked_crc32c) = import_tensorboardx()
        self.writer: Any = None  # tensorboardX's EventsWriter while a fit runs
        #: The name in the event files of the run the last ``fit`` continued or began.
        self.run: str | None = None

    def __getstate__(self) -> dict[str, Any]:
        """A copy or a pickle (a trainer or a trained model that holds this log) without the
        tensorboardX modules, which do not pickle, or a fit's open file, which stays the
        original's: both are had again on unpickling and at the copy's next fit."""
        state = dict(self.__dict__, writer=None)
        for name in ("event_file_writer", "event_pb2", "summary", "masked_crc32c"):
            del state[name]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        (self.event_file_writer, self.event_pb2, self.summary,
         self.masked_crc32c) = import_tensorboardx()

    def on_fit_start(self, trainer: TrainerBase, state: Any) -> None:
        resumed_run = saved_run(state) if trainer.resumed_from is not None else None
        # os.urandom, not the seeded generators: a run's data order must not depend on its log.
        self.run = resumed_run or os.urandom(6).hex()
        if not trainer.is_first_replica:
            return
        self.close()
        done = trainer.history[-1]["step"] if trainer.history else 0
        with writing(self.log_dir):
            os.makedirs(self.log_dir, exist_ok=True)
            logged = set()
            # Only a resumed run's own files are pruned and read; the folder's others (earlier
            # runs', as Keras' TensorBoard leaves them) are not this run's to change or count.
            resumed = trainer.resumed_from is not None
            for path in self.run_files(resumed_run, trainer.history) if resumed else ():
                logged |= self.keep_steps_up_to(path, done)
                if resumed_run is None and os.path.exists(path):
                    self.adopt(path)
            self.writer = self.event_file_writer.EventsWriter(
                os.path.join(self.log_dir, "events"), filename_suffix=self.new_suffix(done))
            # Epochs of the resumed run that no file holds (--tensorboard added at --resume):
            # written now, from the history, so the log has every epoch, as metrics.jsonl has.
            for record in trainer.history:
                if record["step"] not in logged:
                    self.write_scalars(record, time.time())
            if done:  # a TensorBoard already showing the dropped steps forgets them too
                self.writer.write_event(self.event_pb2.Event(
                    wall_time=time.time(), step=done + 1,
                    session_log=self.event_pb2.SessionLog(status=self.event_pb2.SessionLog.START)))
            self.writer.flush()

    def run_files(self, run: str | None, history: list[Record]) -> list[str]:
        """The event files in ``log_dir`` that the run named ``run`` wrote; for ``None`` (a
        checkpoint of an older version, which named no run), those named as that version named
        them, ``...step-N`` with no run's name, that hold the epochs of ``history`` (the
        checkpoint's): another run's file of that version holds other numbers."""
        if run is None:
            return [path for path in event_files(self.log_dir)
                    if re.search(r"\.step-\d+$", path) and ".run-" not in os.path.basename(path)
                    and self.holds_history(path, history)]
        return [path for path in event_files(self.log_dir)
                if run_mark(run) in os.path.basename(path)]

    def holds_history(self, path: PathLike, history: list[Record]) -> bool:
        """Whether the event file at ``path`` has scalars up to the last step of ``history``,
        and each is its record's value there (as float32) and at one of its steps."""
        records = {record["step"]: record for record in history}
        last, found = max(records, default=0), False
        try:
            with open(path, "rb") as stream:
                payload = stream.read()
        except OSError:
            return False
        for _, event in self.records(payload):
            if not event.HasField("summary") or event.step > last:
                continue
            record = records.get(event.step, {})
            for value in event.summary.value:
                expected = record.get(value.tag)
                if expected is None or value.simple_value != struct.unpack(
                        "<f", struct.pack("<f", expected))[0]:
                    return False
                found = True
        return found

    def adopt(self, path: str) -> None:
        """Rename an older version's event file of the run being resumed to carry the run's new
        name (``...step-N`` -> ``...run-R.step-N``), so that the next resume finds it as its own."""
        folder, name = os.path.split(path)
        stem, _, step = name.rpartition(".step-")
        os.replace(path, os.path.join(folder, f"{stem}{run_mark(self.run)}step-{step}"))

    def new_suffix(self, done: int) -> str:
        """The new event file's suffix: ``.run-R.step-N``, with a count before the step where
        tensorboardX's name (its second and host) would be that of a file already there, which
        it would overwrite (a second fit within the same second)."""
        stem = os.path.join(self.log_dir, f"events.out.tfevents.{str(time.time())[:10]}."
                                          f"{socket.gethostname()}")
        suffix, count = f"{run_mark(self.run)}step-{done}", 1
        while os.path.exists(stem + suffix):
            suffix, count = f"{run_mark(self.run)}{count}.step-{done}", count + 1
        return suffix

    def state(self) -> Record:
        return {"run": self.run}

    def on_evaluation(self, trainer: TrainerBase, record: Record) -> None:
        if not trainer.is_first_replica:
            return
        with writing(self.log_dir):
            self.write_scalars(record, time.time())
            self.writer.flush()  # and fsynced

    def write_scalars(self, record: Record, wall_time: float) -> None:
        """The scalars of one epoch's record, at its step."""
        for key in TENSORBOARD_KEYS:
            if record.get(key) is not None:  # a custom model's lr may be unknown
                self.writer.write_event(self.event_pb2.Event(
                    wall_time=wall_time, step=record["step"],
                    summary=self.summary.scalar(key, float(record[key]))))

    def on_fit_end(self, trainer: TrainerBase) -> None:
        self.close()  # a later fit (a resumed one) opens a file of its own

    def close(self) -> None:
        """Close the event file of the last ``fit`` (a next ``fit`` starts another)."""
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    def records(self, payload: bytes) -> Iterator[tuple[bytes, Any]]:
        """``(raw record, Event)`` for each whole record of an event file's bytes, in order.
        TFRecord framing: an 8-byte little-endian length, its masked CRC, the data, the data's
        masked CRC. A torn or damaged record (a write a kill interrupted) ends the file."""
        start = 0
        while start + 12 <= len(payload):
            header = payload[start:start + 8]
            (length,), (header_crc,) = (struct.unpack("<Q", header),
                                        struct.unpack_from("<I", payload, start + 8))
            end = start + 12 + length + 4
            if header_crc != self.masked_crc32c(header) or end > len(payload):
                return
            data = payload[start + 12:end - 4]
            if struct.unpack_from("<I", payload, end - 4)[0] != self.masked_crc32c(data):
                return
            yield payload[start:end], self.event_pb2.Event.FromString(data)
            start = end

    def holds_scalars(self, path: PathLike) -> bool:
        """Whether the event file at ``path`` may hold a run's scalars: all but a whole event
        file without any, which a run stopped before its first evaluation leaves (nothing of
        it to keep or to mix up). A file that cannot be read or parsed counts as a run's."""
        try:
            with open(path, "rb") as stream:
                payload = stream.read()
        except OSError:
            return True
        records = list(self.records(payload))
        return (sum(len(raw) for raw, _ in records) != len(payload)
                or any(event.HasField("summary") for _, event in records))

    def keep_steps_up_to(self, path: PathLike, last_step: int) -> set[int]:
        """Make the event file at ``path`` hold only its whole records up to ``last_step``
        (rewritten atomically, or removed when no scalar is left); returns the steps of the
        scalars it keeps."""
        with open(path, "rb") as stream:
            payload = stream.read()
        kept = [(raw, event) for raw, event in self.records(payload) if event.step <= last_step]
        if not any(event.HasField("summary") for _, event in kept):
            os.remove(path)
        elif sum(len(raw) for raw, _ in kept) != len(payload):
            atomic_write_bytes(path, b"".join(raw for raw, _ in kept))
        return {event.step for _, event in kept if event.HasField("summary")}
