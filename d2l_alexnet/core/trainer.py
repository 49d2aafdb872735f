"""The fit loop, written once for all backends (d2l, sec_oo-design's ``Trainer``).

A backend's ``Trainer`` supplies only the framework steps: its devices
(:meth:`TrainerBase.gpu_available`, :meth:`TrainerBase.open_device`), :meth:`prepare_model`,
:meth:`prepare_batch`, :meth:`train_step` and :meth:`eval_step`. Everything a person sees
(progress bar, one line per epoch, the ProgressBoard, the metrics history) and the bookkeeping
behind it lives here.

Two kinds of data module feed it (the README's "The data contract" says the same for users):

- **any book-style module**: ``train_dataloader()``/``val_dataloader()`` yield ``(X, y)``
  batches (the lesson's own ``get_dataloader``, a ``torch.utils.data.DataLoader``, a
  ``tf.data.Dataset``, a list of numpy pairs). ``X`` is the model's input in the backend's
  layout, or ``(B, H, W)`` greyscale; uint8 is scaled by 1/255 once, floats are taken as they
  are. A mid-epoch checkpoint resumes by skipping the batches already trained on, which is
  exact only when the loader yields the same batches again.
- **position-aware modules** (ours: ``FashionMNIST``, ``ArrayData``, ``ImageFolder``) also offer
  ``batch_size``, ``resize``, ``num_examples(train)``, ``num_batches(train)`` and
  ``raw_batches(train, epoch, start_batch)``, which yields numpy ``(images, labels)`` with images
  ``(B, H, W)`` or ``(B, H, W, C)``, uint8 or float32 in [0, 1], in an order that is a pure
  function of ``(seed, epoch)``. The Trainer then resizes on the device and resumes exactly.
  A module that also offers ``batch_indices(train, epoch, start_batch)`` (which examples each
  batch holds, the order ``raw_batches`` follows) and holds its splits in memory
  (``train_images``...) can be kept on the device whole: see ``data_on_device``.

For checkpoints a backend also supplies :meth:`TrainerBase.state_arrays` and
:meth:`TrainerBase.load_state_arrays`; :meth:`TrainerBase.checkpoint_state` adds the position,
the history and the host RNGs, and ``fit(model, data, resume=checkpoint)`` continues exactly.
"""

from __future__ import annotations

import contextlib
import inspect
import math
import numbers
import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, cast

import numpy as np

from .architecture import (IN_CHANNELS, as_size, check_num_classes, format_size, row_label,
                           with_dropout)
from .arrays import dtype_name, host_array
from .callbacks import RecordWriteError
from .checkpoint import (ARCHITECTURE, Checkpoint, CheckpointError, check_compatible,
                         checkpoint_to_resume)
from .data import DataError
from .errors import D2LAlexNetError, DeviceError, RunFailed
from .hyperparameters import HyperParameters
from .language import number, say
from .module import InputShapeError, input_shape_problem
from .progress import ProgressBar, ProgressBoard
from .recipe import CHAPTER, LearningRatePlan, RecipeError, TrainingRecipe, resume_problem
from .types import Log, PathLike, Record, is_flag, is_number, is_whole, log_or_none
from .weights import BACKEND_LAYOUTS, WeightsError, save_canonical, state_to_canonical

DEVICES = ("auto", "cpu", "gpu")
PRECISIONS = ("fp32", "bf16")
# Why compile= is not needed elsewhere, in the refusal of it.
COMPILED_ALREADY = {"jax": " (its steps are compiled by jax.jit already)",
                    "tensorflow": " (its steps run as tf.function graphs already)",
                    "mxnet": " (our AlexNet's network is hybridized into one graph already; "
                             "hybridize() yours likewise)"}
# torch.compile's modes, which the PyTorch Trainer's compile= and --compile MODE take.
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
# A training loss this many times a uniform guess's (log of the number of classes) has diverged,
# finite or not: a healthy run starts near 1 time it and falls.
DIVERGED_LOSS_FACTOR = 1e4
# data_on_device=None keeps a module's splits on the GPU up to this size (Fashion-MNIST's are
# 55 MB): a large folder held as float32 could take the memory the training needs.
AUTOMATIC_DATA_ON_DEVICE_BYTES = 2**30
# Float pixels above this are 0..255 values left unscaled: images scaled to [0, 1], or
# normalized by a mean and deviation, stay within a few units of 0.
UNSCALED_PIXELS = 10.0


class TrainingError(RunFailed, RuntimeError):
    """Training cannot go on (a NaN loss, say); the message says what to change (exit 1)."""


class ValidationDiverged(TrainingError):
    """The validation loss after an epoch is not finite (or absurdly large) while every
    training loss was: weights that blew up without a NaN of their own. Checkpoints saved
    within that epoch may hold them; the last epoch's end (``last_good_step``) does not."""

    def __init__(self, *args: object, last_good_step: int | None, **settings: object) -> None:
        super().__init__(*args, **settings)
        self.last_good_step = last_good_step


class ReplicaError(D2LAlexNetError, ValueError):
    """The replicas asked for cannot be had (more devices than there are, say); the message
    says what to do instead (the CLI exits 2)."""


class DataOnDeviceError(D2LAlexNetError, ValueError):
    """``data_on_device=True`` asked for what cannot be had here (the CLI exits 2): the
    message says why and what to do instead."""

    def for_command_line(self) -> str:
        # The settings here are switches that are on: the CLI spells them as its flags.
        return self.spelled(lambda name, value: "--data-on-device on" if name == "data_on_device"
                            else f"--{name.replace('_', '-')}")


class TrainingInterrupted(Exception):
    """``trainer.stop_requested`` was set (by a signal handler, say), so ``fit`` stopped between
    two steps: the trainer's state is consistent and :meth:`TrainerBase.checkpoint_state` can
    save it. ``reason`` is what was set (``"SIGINT"``...)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"training stopped ({reason})")
        self.reason = reason


@dataclass
class EpochProgress:
    """The running sums of the epoch in progress: a mid-epoch checkpoint carries them, so the
    resumed epoch's ``train_loss`` and plot points equal an uninterrupted run's."""

    batch: int = 0  # the next training batch of the epoch
    seen: int = 0
    loss_sum: float = 0.0
    segment_sum: float = 0.0  # since the last train_loss point on the board
    segment_seen: int = 0
    next_point: float = 0.0  # images seen at which the next train_loss point is drawn
    # Seconds of training the epoch took before this process's pass (None: a checkpoint of a
    # version that kept none), so that a resumed epoch's seconds and images_per_sec are the
    # whole epoch's: a run stopped in its validation resumes with no training step left.
    train_seconds: float | None = 0.0
    seen_at_start: int = 0  # images seen when this process took over (for images_per_sec)
    pass_started: float | None = None  # when this process's training pass began (perf_counter)
    pending: list = field(default_factory=list, repr=False)  # losses not yet on the host

    def as_dict(self) -> dict[str, Any]:
        state = asdict(self)
        if self.train_seconds is not None and self.pass_started is not None:
            state["train_seconds"] += time.perf_counter() - self.pass_started
        del state["pending"], state["seen_at_start"], state["pass_started"]
        return state


# How many training steps the host may queue ahead of the device (JAX dispatches them
# asynchronously, as CUDA does PyTorch's kernels): enough to keep an accelerator busy, few
# enough that a stop (Ctrl-C, a scheduler's SIGTERM) waits for at most these steps to finish
# before its checkpoint, where an unbounded queue made it wait for every step dispatched.
STEPS_IN_FLIGHT = 3


class TrainerBase(HyperParameters):
    """``Trainer(max_epochs, num_gpus=0, gradient_clip_val=0)`` as in the book, plus:

    ``device``: ``"auto"`` (a GPU when there is one), ``"cpu"`` or ``"gpu"``; when left ``None``
    it is ``"auto"`` if ``num_gpus > 0`` and ``"cpu"`` otherwise, so the book's
    ``Trainer(max_epochs=10, num_gpus=1)`` runs on a machine without a GPU as well.
    ``precision``: ``"fp32"`` or ``"bf16"`` (mixed precision where the backend offers it).
    ``progress``: show the terminal bar; ``log``: where the per-epoch lines go (``None``: nowhere).
    ``board``: a :class:`ProgressBoard` (one is made when left ``None``).
    ``callbacks``: objects of :mod:`~d2l_alexnet.core.callbacks` (``MetricsLog``, ``KeepBest``,
    ``EarlyStopping``, or your own :class:`~d2l_alexnet.core.callbacks.Callback`), told of the
    start of ``fit`` and of every evaluation, in order.

    ``num_gpus=N`` with ``N > 1`` trains data-parallel on N replicas, each backend on its own
    framework's engine (on ``device="cpu"`` the replicas are CPU devices); left to choose the
    device where no GPU is visible, it trains on the CPU as one device, as the book's does.
    The batch size stays the global batch (each replica takes its slice,
    :func:`replica_slices`), the learning rate is unchanged, ``train_step`` and ``eval_step``
    return values already reduced over the replicas, and only the first replica
    (:attr:`is_first_replica`) should write files.

    ``data_on_device``: whether the data's images and labels go to the device whole, once, so
    that each step gathers and resizes its batch there and the host copies no pixels per step
    (PyTorch and JAX; the order, and so exact resume, is the same as on the host). ``None``
    (automatic): on when training on a GPU with one replica, with a data module that offers
    ``batch_indices`` and holds its splits in memory (ours do), up to 1 GiB of them, and without
    ``augment``, which changes each image on the host; ``True``: on, or a one-line
    :class:`DataOnDeviceError` saying why it cannot be; ``False``: off.
    """

    # Whether this backend's Trainer can keep the data on the device (data_on_device).
    supports_data_on_device = False

    # The CLI's name of the backend (``"pytorch"``...), set by each Trainer.
    backend: str | None = None
    framework: str | None = None  # the framework's own name, for messages (``"PyTorch"``...)
    # What makes ``{count}`` CPU replicas in this backend, for the line that says there is no
    # GPU (each backend's way: README, "Several devices").
    CPU_REPLICAS = 'device="cpu"'

    draws_its_own_board = True  # so our models' plot() leaves the drawing to this trainer
    model_methods = ("configure_optimizers", "training_step", "loss", "accuracy")  # it calls
    val_batch_idx = 0  # the book's counters, for a model written for the book's Trainer

    @property
    def train_batch_idx(self) -> int:
        return self.step

    @property
    def num_train_batches(self) -> int:
        return self.split_batches(train=True)

    @property
    def num_val_batches(self) -> int:
        return self.split_batches(train=False)

    def split_batches(self, train: bool) -> int:
        """Batches in one pass over a split (1 while a loader's length is still unknown)."""
        if self.position_aware:
            return self.data.num_batches(train)
        examples, batch_size = self.epoch_examples(train), getattr(self.data, "batch_size", None)
        return max(1, -(-examples // batch_size)) if examples and batch_size else 1

    def __init__(self, max_epochs: int, num_gpus: int = 0, gradient_clip_val: float = 0, *,
                 device: str | None = None, precision: str = "fp32", progress: bool = True,
                 log: Log | None = print, board: ProgressBoard | None = None,
                 callbacks: Iterable[Any] = (), data_on_device: bool | None = None,
                 compile: bool | str = False) -> None:
        log = log_or_none("Trainer", log)  # (before save_hyperparameters keeps it as self.log)
        if compile:  # (PyTorch's Trainer takes it before this point)
            raise ValueError(f"compile= runs PyTorch's steps through torch.compile: the "
                             f"{self.framework} Trainer has no such option"
                             f"{COMPILED_ALREADY.get(self.backend or '', '')}; drop compile=")
        self.save_hyperparameters(ignore=["board", "callbacks", "compile"])
        check_arguments(max_epochs, gradient_clip_val, progress, data_on_device)
        requested = replica_count(num_gpus)
        if device is None:
            device = "auto" if num_gpus > 0 else "cpu"
            self.num_replicas = 1  # (what gpu_available may ask, until replicas says)
            if requested > 1 and not self.gpu_available():
                # The book's Trainer takes as many GPUs as there are, up to num_gpus: with none,
                # the CPU, as one device. (device="cpu" asks for CPU replicas instead.)
                if log is not None:
                    log(say("gpus_missing", num_gpus=num_gpus, framework=self.framework,
                            requested=requested,
                            how=self.CPU_REPLICAS.format(count=requested)))
                requested = 1
        check_device(device)
        self.num_replicas, self.replica_rank = self.replicas(requested)
        self.speak_only_as_first_replica()
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        self.device_request = device
        self.board = board if board is not None else ProgressBoard(xlabel="epoch")
        self.history: list[Record] = []
        # Callback objects, and plain functions called as callback(trainer, record), after
        # every epoch in this order (a Checkpointer attaches last, so it saves their state).
        self.callbacks = checked_callbacks(callbacks)
        # Set by request_stop (early stopping): fit ends after the epoch.
        self.stop_reason: str | None = None
        # Called as callback(trainer) after every training step.
        self.step_callbacks: list[Callable[[TrainerBase], object]] = []
        self.stop_requested = None  # set it (a signal handler does) to stop at the next step
        # Whether a fit or evaluate has stopped at stop_requested: the next one starts without it
        # (a notebook's trainer after a stop), while the stopped run's caller still sees it.
        self.stop_spent = False
        self.resumed_from: Checkpoint | None = None  # the checkpoint fit continues, if any
        self.step = 0  # training steps done, over all epochs
        self.epoch_progress: EpochProgress | None = None  # while an epoch is under way
        self.device: Any = None  # chosen by select_device, once (setup, or the CLI before it)
        # The model's learning-rate schedule over this run (setup).
        self.lr_plan: LearningRatePlan | None = None
        self.data_is_on_device = False  # what data_on_device came to (setup)
        # With the data on the device: split -> (images, labels) there, and split -> (epoch,
        # that pass's order there); held from setup to the end of fit or evaluate.
        self.device_splits: dict[bool, Any] = {}
        self.device_orders: dict[bool, tuple[int, Any]] = {}

    # ---- devices and replicas: the choice written once, the devices each backend's ----------
    def select_device(self, request: str) -> Any:
        """The framework device for ``"auto"``/``"cpu"``/``"gpu"``, chosen alike in every
        backend: ``"cpu"`` is the CPU, ``"auto"`` a GPU when the backend has one, else the CPU,
        and ``"gpu"`` a GPU or a :class:`DeviceError` saying what to do. The backend then opens
        it (:meth:`open_device`), with its replicas when there are several."""
        check_device(request)
        if request == "cpu":
            kind = "cpu"
        elif self.gpu_available():
            kind = "gpu"
        elif request == "gpu":
            raise DeviceError(self.no_gpu_message())
        else:
            kind = "cpu"
        device = self.open_device(kind)
        self.speak_only_as_first_replica()  # a cluster's rank may be known only now
        return device

    def replicas(self, requested: int) -> tuple[int, int]:
        """``(number of replicas, this process's rank)`` for ``num_gpus=requested``: one
        process drives them all, unless the backend runs one process per replica (PyTorch)."""
        return requested, 0

    def gpu_available(self) -> bool:
        """Whether ``device="auto"`` would train on a GPU here."""
        raise NotImplementedError

    def no_gpu_message(self) -> str:
        """Why ``device="gpu"`` cannot be had, and what to use instead."""
        return f"no GPU is visible to {self.framework}: use --device cpu or auto"

    def open_device(self, kind: str) -> Any:
        """The framework's device for ``kind`` (``"cpu"`` or ``"gpu"``), with whatever several
        replicas need (a strategy, a mesh, a process group); a ``ReplicaError`` when they
        cannot be had."""
        raise NotImplementedError

    def speak_only_as_first_replica(self) -> None:
        """The first replica speaks for all: the others show no bar and log nothing."""
        if not self.is_first_replica:
            self.progress, self.log = False, None

    def device_name(self) -> str:
        """A short human name of the device in use: ``"cpu"``, ``"cuda:0"``, or
        ``"2 × cpu"`` for replicas."""
        name = self.describe_device()
        return name if self.num_replicas == 1 else f"{self.num_replicas} × {name.split(':')[0]}"

    def describe_device(self) -> str:
        """The device's own short name (``"cpu"``, ``"gpu:0"``)."""
        return str(self.device)

    def device_is_gpu(self) -> bool:
        """Whether the chosen device is a GPU (``data_on_device=None`` turns on there)."""
        return False

    @property
    def is_first_replica(self) -> bool:
        """Whether this process writes metrics, plots and checkpoints (always, on one device)."""
        return self.replica_rank == 0

    def prepare_model(self, model: Any) -> None:
        raise NotImplementedError

    def prepare_batch(self, images: np.ndarray, labels: np.ndarray) -> Any:
        """numpy batch -> what ``train_step``/``eval_step`` take: images ``(B, H, W)`` or
        ``(B, H, W, C)``, uint8 (scaled by 1/255) or float32 (as they are), on the device,
        resized to :attr:`input_size`, in the backend's layout; labels integers."""
        raise NotImplementedError

    def host_array(self, value: Any) -> np.ndarray:
        """A framework tensor (or anything array-like) as a numpy array, for loader batches."""
        return host_array(value)

    def train_step(self, batch: Any) -> Any:
        """One optimizer step; returns the mean loss of the batch (may stay on the device)."""
        raise NotImplementedError

    def eval_step(self, batch: Any) -> tuple[Any, Any]:
        """Returns ``(sum of losses, number correct)`` for the batch (may stay on the device)."""
        raise NotImplementedError

    def to_float(self, value: Any) -> float:
        """A scalar the steps returned (on the device, maybe) as a Python float."""
        return float(self.host_array(value).item())

    def learning_rate(self) -> float:
        """The learning rate the next training step applies, as the framework's optimizer and
        schedule hold it (the tests compare it with :attr:`lr_plan`)."""
        raise NotImplementedError

    def state_arrays(self) -> dict[str, np.ndarray]:
        """Everything a step changes, as ``{name: numpy array}``: parameters, optimizer state,
        the framework's RNG states (dropout generators or keys). Names and shapes must be the
        same for every trainer of the same configuration."""
        raise NotImplementedError(f"{type(self).__name__} cannot save checkpoints")

    def load_state_arrays(self, arrays: Mapping[str, np.ndarray]) -> None:
        """Put ``arrays`` (from :meth:`state_arrays`, names and shapes already checked) back
        into the prepared model, optimizer and RNGs."""
        raise NotImplementedError(f"{type(self).__name__} cannot load checkpoints")

    # ---- the loop -----------------------------------------------------------------------------
    def fit(self, model: Any, data: Any,
            resume: Checkpoint | PathLike | None = None) -> list[Record]:
        """Train ``model`` on ``data`` for ``max_epochs``; returns the metrics history.

        ``resume``: a :class:`~d2l_alexnet.core.checkpoint.Checkpoint` of the same
        configuration to continue from exactly where it was saved (a ``CheckpointError`` says
        what differs otherwise), or the path of a checkpoint file or of a ``Checkpointer``'s
        folder (its newest checkpoint); its history counts towards ``max_epochs``.

        A second ``fit`` trains on from the model's weights with a fresh history and plot; its
        epochs draw the data's orders from the first again (each a pure function of the data's
        ``seed`` and the epoch, so that a resumed run goes on bit for bit).
        """
        for name, given in (("model", model), ("data", data)):
            if isinstance(given, type):  # fit(AlexNet, data): an error from deep inside, else
                raise TypeError(f"fit: {name} is the class {given.__name__}, not one made of "
                                f"it: pass {given.__name__}(...)")
        self.clear_a_spent_stop()
        resume = checkpoint_to_resume(resume, self.log)
        try:
            return self.fit_to_the_end(model, data, resume)
        finally:
            self.release_data_on_device()

    def clear_a_spent_stop(self) -> None:
        """Forget a stop an earlier fit or evaluate has already stopped at."""
        if self.stop_spent:
            self.stop_requested, self.stop_spent = None, False

    def fit_to_the_end(self, model: Any, data: Any, resume: Checkpoint | None) -> list[Record]:
        """:meth:`fit`'s epochs, and what ends them however they end."""
        try:
            self.start_fit(model, data, resume)
        except BaseException:
            # Refused before the first step (a checkpoint folder of another run, say): what
            # setup changed in the model for training is undone, where it can be.
            with contextlib.suppress(Exception):
                self.fit_abandoned(model)
            self.end_callbacks(failed=True)  # (those that started may hold a file open)
            raise
        try:
            for self.epoch in range(len(self.history), self.max_epochs):
                if self.stop_reason is not None:
                    break  # a resumed run that had already stopped early
                record = self.fit_epoch()
                self.history.append(record)
                self.epoch_progress = None
                self.log_epoch_and_call_back(record)
            if self.stop_reason is not None:
                self.log_line(self.stop_reason)
        except TrainingInterrupted:  # stopped between two steps: the state is consistent
            self.stop_spent = True
            self.fit_finished()
            self.end_callbacks(failed=True)
            raise
        except BaseException:
            # Ctrl-C in a notebook, or an error: the model still holds what training reached,
            # as Keras' and Lightning's do (JAX's trainer keeps it until fit_finished), unless
            # that state cannot be had; the interruption is what the caller hears of.
            with contextlib.suppress(Exception):
                self.fit_finished()
            self.end_callbacks(failed=True)
            raise
        self.fit_finished()
        self.end_callbacks(failed=False)
        return self.history

    def evaluation_callbacks(self, record: Record) -> None:
        """Give each callback the epoch's ``record``. A record that cannot be written (a full
        disk) stops the run only once every callback has acted: a Checkpointer after it still
        saves the epoch, and the state it saves is every callback's, so no epoch is lost. The
        callbacks that save the others' state (``runs_last``: a Checkpointer) act after all the
        others, wherever the list puts them, as Lightning runs its checkpoint callbacks last:
        before them, an early stop's count or the best epoch would be saved one epoch late."""
        held: RecordWriteError | None = None
        for callback in sorted(self.callbacks, key=lambda one: getattr(one, "runs_last", False)):
            try:
                if hasattr(callback, "on_evaluation"):
                    callback.on_evaluation(self, record)
                else:
                    callback(self, record)
            except RecordWriteError as error:
                held = held or error
        if held is not None:
            raise held

    def log_line(self, line: str) -> None:
        if self.log is not None:
            self.log(line)

    def log_epoch_and_call_back(self, record: Record) -> None:
        """Log the epoch's line, then give the callbacks its ``record``. A line that cannot be
        written (stdout a reader quit, or on a full disk) ends the run only after them: the
        epoch it tells of is checkpointed and recorded first, as when a record fails."""
        try:
            self.log_line(format_epoch(record, self.max_epochs))
        except OSError:
            self.evaluation_callbacks(record)
            raise
        self.evaluation_callbacks(record)

    def end_callbacks(self, failed: bool) -> None:
        """Tell the callbacks that ``fit`` ended (``on_fit_end``: a TensorBoard log closes its
        file, as Keras' does at the end of training); after a failure their own errors give way
        to the one that ended it."""
        for callback in self.callbacks:
            if hasattr(callback, "on_fit_end"):
                if not failed:
                    callback.on_fit_end(self)
                    continue
                with contextlib.suppress(Exception):
                    callback.on_fit_end(self)

    def start_fit(self, model: Any, data: Any, resume: Checkpoint | None) -> None:
        """``fit`` up to its first step: set up, restore ``resume``, start the callbacks."""
        self.setup(model, data)
        self.history, self.step, self.epoch_progress = [], 0, None
        self.board.clear()  # each fit draws its own curves, in its own cell
        callback_states: dict[str | None, Any]  # a callback's key -> its saved state
        self.stop_reason, callback_states = None, {}
        self.resumed_from = resume  # (a checkpoint of step 0 is a resume too)
        if resume is not None:
            self.restore(resume)
            callback_states = resume.metadata.get("callbacks") or {}
        # Every callback's refusal first: a refused fit changes none of their files.
        for callback in self.callbacks:
            if hasattr(callback, "check_fit_start"):
                callback.check_fit_start(self, callback_states.get(getattr(callback, "key", None)))
        # A callback's step hook (the Checkpointer's saves every N steps), whether it came in
        # callbacks= or through attach(), which registers it itself.
        for callback in self.callbacks:
            on_step = getattr(callback, "on_step", None)
            if on_step is not None and on_step not in self.step_callbacks:
                self.step_callbacks.append(on_step)
        if self.log is not None:
            per_epoch = (say("images_per_epoch",
                             images=number(self.epoch_examples(train=True)),
                             batch=data.batch_size)
                         if self.position_aware else
                         say("loader_batches",
                             loader=f"{type(data).__name__}.train_dataloader()"))
            self.log(say("training_on", device=self.device_name(), precision=self.precision,
                         placement=say("data_on_device") if self.data_is_on_device else "",
                         per_epoch=per_epoch, epochs=self.max_epochs))
            if resume is not None:
                self.log(f"resuming from {resume.path}: {resume.describe()}")
                saved = resume.metadata.get("precision")
                if saved not in (None, self.precision):  # allowed: the weights are fp32 in both
                    self.log(f"note: {resume.name} was trained in {saved} so far; the run goes "
                             f"on in {self.precision}")
        for callback in self.callbacks:
            if hasattr(callback, "on_fit_start"):
                callback.on_fit_start(self, callback_states.get(getattr(callback, "key", None)))

    def setup(self, model: Any, data: Any) -> TrainerBase:
        """What ``fit`` and ``evaluate`` do before the first step: check that ``data`` fits
        ``model``, choose the device and prepare the model (for a benchmark or a test that
        drives ``train_step`` itself). Returns the trainer."""
        check_model(model, self.model_methods)
        self.attach_data(model, data)
        self.lr_plan = self.plan_learning_rate(model)
        if self.device is None:
            self.device = self.select_device(self.device_request)
        self.data_is_on_device = self.decide_data_on_device(data)
        book_board: Any = getattr(model, "board", None)
        if getattr(book_board, "display", False):  # the book's own board: ours draws instead
            book_board.display = False
        self.prepare_model(model)
        self.device_orders = {}
        if self.data_is_on_device:
            self.put_data_on_device({True: (data.train_images, data.train_labels),
                                     False: (data.val_images, data.val_labels)})
        return self

    def plan_learning_rate(self, model: Any) -> LearningRatePlan | None:
        """The :class:`~d2l_alexnet.core.recipe.LearningRatePlan` of ``model``'s recipe over this
        run, which its ``configure_optimizers`` turns into the framework's schedule; ``None``
        for a constant rate (the chapter's) or a model without a recipe (another lesson's)."""
        recipe = getattr(model, "recipe", None)
        if not isinstance(recipe, TrainingRecipe):
            return None
        recipe.check(self.max_epochs)
        if recipe.schedule == "constant" and recipe.peak_lr == recipe.lr:
            return None
        return recipe.plan(self.steps_per_epoch(), self.max_epochs)

    def steps_per_epoch(self) -> int:
        """Training steps in one epoch, which a schedule is planned over."""
        if self.position_aware:
            return self.data.num_batches(train=True)
        try:
            return len(self.data.train_dataloader())
        except TypeError:
            raise RecipeError(f"{type(self.data).__name__}.train_dataloader() has no len(), "
                              "and a learning-rate schedule is planned over the steps of an "
                              "epoch: give the loader a length, or use a constant rate") from None

    def fit_finished(self) -> None:
        """After ``fit``: a backend whose trainer holds the parameters outside the model (JAX)
        hands them back to it here."""

    def fit_abandoned(self, model: Any) -> None:
        """After ``fit`` was refused before its first step: a backend that set up ``model`` for
        training in a way that outlives the fit (TensorFlow's bf16 layers) undoes it here."""

    # ---- data ---------------------------------------------------------------------------------
    def data_on_device_problem(self, data: Any) -> str | None:
        """Why ``data`` cannot be kept on the device by this trainer (a message template whose
        ``{data_on_device}`` and ``{augment}`` name the settings), or ``None`` when it can."""
        if not self.supports_data_on_device:
            return (f"{{data_on_device}} is not offered by the {self.framework} Trainer, which "
                    f"copies each batch from the host: leave it unset (automatic) or off")
        if not (is_position_aware(data) and callable(getattr(data, "batch_indices", None))
                and all(isinstance(getattr(data, f"{split}_{kind}", None), np.ndarray)
                        for split in ("train", "val") for kind in ("images", "labels"))):
            return (f"{{data_on_device}} needs a data module that holds its splits in memory "
                    f"and offers batch_indices (FashionMNIST, ArrayData, ImageFolder), and "
                    f"{type(data).__name__} yields its own batches: leave it unset or off")
        if getattr(data, "augment", False):
            return ("{data_on_device} does not go with {augment}, which changes each training "
                    "image on the host: drop one of them")
        return None

    def decide_data_on_device(self, data: Any) -> bool:
        """What ``data_on_device`` comes to for ``data`` on the chosen device (the rule: the
        class's docstring); ``True`` that cannot be had raises :class:`DataOnDeviceError`.
        The CLI calls it before writing anything, ``setup`` again."""
        problem = self.data_on_device_problem(data)
        if self.data_on_device is None:
            return (problem is None and self.num_replicas == 1 and self.device_is_gpu()
                    and split_bytes(data) <= AUTOMATIC_DATA_ON_DEVICE_BYTES)
        if self.data_on_device and problem is not None:
            raise DataOnDeviceError(problem, data_on_device=True, augment=True)
        return bool(self.data_on_device)

    def put_data_on_device(self, splits: Mapping[bool, tuple[np.ndarray, np.ndarray]]) -> None:
        """Copy each split's ``(images, labels)`` (keyed by ``train``) to the device, whole, as
        stored (uint8 images stay uint8: a quarter of the bytes of floats)."""
        raise NotImplementedError

    def release_data_on_device(self) -> None:
        """Let go of the splits :meth:`setup` put on the device: the model keeps its trainer
        (``model.trainer``, as the book's does), which would hold them, on a GPU, for as long
        as the model. The next ``fit`` or ``evaluate`` puts them there again
        (:attr:`data_is_on_device` still says where the last one's batches came from)."""
        self.device_splits, self.device_orders = {}, {}

    def device_order(self, indices: np.ndarray) -> Any:
        """One pass's example indices (its batches' ``batch_indices``, one after another) on
        the device."""
        raise NotImplementedError

    def gather_batch(self, train: bool, order: Any, start: int, count: int) -> Any:
        """The steps' input for the ``count`` examples at ``order[start:]`` of a split, gathered
        and resized on the device: what :meth:`prepare_batch` gives for the same examples."""
        raise NotImplementedError

    def device_batches(self, train: bool, epoch: int, start_batch: int,
                       ) -> Iterator[tuple[Any, int]]:
        """:meth:`batches` with the data on the device: the pass's order goes there once (per
        epoch for training, once for validation) and each step slices its batch out of it
        there: no pixel leaves the host (a JAX step sends its start and count, two
        integers; a PyTorch step nothing)."""
        order_epoch = epoch if train else 0  # validation's order is every epoch's
        total, size = self.data.num_examples(train), self.data.batch_size
        if self.device_orders.get(train, (None,))[0] != order_epoch:
            positions = np.arange(total)  # a validation batch's slice -> its indices
            indices = np.concatenate([positions[chosen] for chosen in
                                      self.data.batch_indices(train, order_epoch)])
            self.device_orders[train] = (order_epoch, self.device_order(indices))
        order = self.device_orders[train][1]
        for start in range(start_batch * size, total, size):
            count = min(size, total - start)
            yield self.gather_batch(train, order, start, count), count

    def attach_data(self, model: Any, data: Any) -> None:
        """Check that ``data`` fits ``model`` and note how to read it (see the module's
        docstring): a position-aware module, or any book-style one."""
        check_sizes(model, data)
        # A model of another lesson may not say its num_classes: its labels go unchecked.
        self.num_classes = getattr(model, "num_classes", None)
        if self.num_classes is not None:
            check_num_classes(self.num_classes, type(model).__name__)
            check_named_classes(model, data, self.num_classes)
        self.model, self.data = model, data
        self.position_aware = is_position_aware(data)
        # A book-style module's loaders, checked before any step (validation comes only after
        # an epoch) and kept: what prepare_model may read of them (a batch's shape) is taken
        # from these, since another call could draw a shuffle's seed again.
        self.setup_loaders: dict[bool, Iterable[Any]] = (
            {} if self.position_aware else {train: self.book_loader(train)
                                            for train in (True, False)})
        # Labels held in memory are checked once, here; a loader's batch by batch, on the host.
        self.labels_checked = self.num_classes is None or check_stored_labels(data,
                                                                             self.num_classes)
        size = next((value for value in (getattr(model, "input_size", None),
                                         getattr(model, "resize", None),
                                         getattr(data, "resize", None)) if value is not None),
                    None)
        self.input_size = None if size is None else as_size(size)  # None: batches as they come
        # Examples per split of a book-style module, once counted.
        self.loader_sizes: dict[bool, int] = {}
        # The size of the first batch of a loader's pass, per split: its full batches' size,
        # for a loader with no batch_size (full_batch_size).
        self.first_batch_sizes: dict[bool, int] = {}

    def epoch_examples(self, train: bool) -> int | None:
        """Examples in one pass over a split; ``None`` while a loader's length is unknown."""
        if self.position_aware:
            return self.data.num_examples(train)
        return self.loader_sizes.get(train)

    def batches(self, train: bool, epoch: int = 0, start_batch: int = 0,
                ) -> Iterator[tuple[Any, int]]:
        """``(prepared batch, number of examples)`` for one pass over a split."""
        if self.device_splits:  # (from setup until fit or evaluate ends: then the host's)
            yield from self.device_batches(train, epoch, start_batch)
            return
        split = "train" if train else "val"
        prepare = self.batch_preparer(train)
        if self.position_aware:
            seen = 0
            for images, labels in self.data.raw_batches(train, epoch=epoch,
                                                        start_batch=start_batch):
                if not self.labels_checked:  # so num_classes is known
                    check_label_range(labels, self.num_classes,  # type: ignore[arg-type]
                                      f"a {split} batch of {type(self.data).__name__}")
                seen += len(labels)
                yield prepare(images, labels), len(labels)
            if not seen and not start_batch:
                raise DataError(f"{type(self.data).__name__}.raw_batches(train={train}) yielded "
                                f"no images in epoch {epoch + 1}: every pass over a split must "
                                f"yield its batches again")
            return
        if train and callable(getattr(self.data, "set_epoch", None)):
            # A lesson's loader made from an in-memory module's (its get_dataloader wrapping
            # super()'s): the module's next pass is this epoch's, in a resumed run too.
            self.data.set_epoch(epoch)
        loader, where = self.book_loader(train), f"{type(self.data).__name__}.{split}_dataloader()"
        owner: Any
        for owner in (loader, getattr(loader, "sampler", None)):
            if train and callable(getattr(owner, "set_epoch", None)):
                owner.set_epoch(epoch)  # a DistributedSampler's shuffle follows the epoch
                break
        seen, first = 0, True
        for index, batch in enumerate(self.pass_iterator(loader, resumed=start_batch > 0)):
            X, y = batch_pair(batch, where)
            labels = loader_labels(self.host_array(y), where)
            if not self.labels_checked:  # host integers already: the check costs no sync
                check_label_range(labels, self.num_classes,  # type: ignore[arg-type]
                                  f"a batch of {where}")  # (labels_checked: num_classes known)
            seen += len(labels)
            if index == 0:  # noted before any step of the pass, resumed mid-pass or not
                self.first_batch_sizes[train] = len(labels)
            if index < start_batch:  # resuming mid-epoch: these were trained on already
                continue
            images = self.loader_images(X)
            if len(images) != len(labels):
                raise DataError(f"{where} yields a batch of {len(images)} images and "
                                f"{len(labels)} labels: give one label per image")
            if first:  # one batch per pass tells unscaled pixels, at no cost to the rest
                check_loader_pixels(images, where, dtype_name(X))
                first = False
            yield prepare(images, labels), len(labels)
        if not seen:
            raise DataError(f"{where} yielded no batch in epoch {epoch + 1}: give it data, and "
                            f"return a new iterator or DataLoader from each call (a generator "
                            f"is used up after one pass, and the Trainer iterates the loader "
                            f"once per epoch)")
        self.loader_sizes[train] = seen

    def pass_iterator(self, loader: Iterable[Any], resumed: bool) -> Iterator[Any]:
        """An iterator over one pass of a book-style loader; ``resumed``: the pass was begun by
        the run a checkpoint saved, so the RNG states restored from it already hold whatever
        beginning the pass draws (PyTorch's DataLoader draws a seed from the global RNG), and
        a backend whose loaders draw keeps them from drawing again."""
        return iter(loader)

    def book_loader(self, train: bool) -> Iterable[Any]:
        """A book-style module's loader of one split, refused in one line when it is not one
        (``None`` from a lesson that has no validation data, say)."""
        loader = self.data.train_dataloader() if train else self.data.val_dataloader()
        if not isinstance(loader, Iterable) and not hasattr(loader, "__getitem__"):
            method = f"{type(self.data).__name__}.{'train' if train else 'val'}_dataloader()"
            advice = "return" if train else ("the Trainer validates after every epoch, so "
                                             "hold out some examples and return")
            raise DataError(f"{method} returned {type(loader).__name__}, not batches: {advice} "
                            f"something that yields (X, y) batches (a DataLoader, a "
                            f"tf.data.Dataset, a list of pairs)")
        return loader

    def full_batch_size(self, train: bool) -> int | None:
        """The size of a split's full batches: the data's batch size (the split's size when
        smaller); for a book-style module with no ``batch_size``, the size of its loader's
        first batch in the current pass (``None`` before that batch)."""
        size = getattr(self.data, "batch_size", None)
        if size is None:
            return self.first_batch_sizes.get(train)
        if self.position_aware:
            size = min(size, self.data.num_examples(train))
        return size

    def batch_preparer(self, train: bool) -> Callable[..., Any]:
        """What turns a numpy batch of one split into the steps' input: :meth:`prepare_batch`,
        unless a backend fixes more per split (JAX pads the short last batch to the split's
        full size, so that its steps compile once)."""
        return self.prepare_batch

    def loader_images(self, X: Any) -> np.ndarray:
        """A loader's input batch (the backend's layout, or ``(B, H, W)``) as channels-last
        numpy images, refused in one line when it does not fit the model."""
        images = self.host_array(X)
        layout = getattr(self.model, "LAYOUT", None) or "NHWC"
        greyscale = images.ndim == 3
        if greyscale:  # (B, H, W): one channel, in the model's layout
            images = images[:, np.newaxis] if layout == "NCHW" else images[..., np.newaxis]
        channels = getattr(self.model, "in_channels", None)
        if channels is not None and self.input_size is not None:
            problem = input_shape_problem(images.shape, layout, channels, self.input_size,
                                          type(self.model).__name__)
            if problem is not None:
                raise InputShapeError(problem)
        if images.ndim == 4 and layout == "NCHW":
            images = images.transpose(0, 2, 3, 1)
        if images.dtype != np.uint8:
            images = images.astype(np.float32, copy=False)
        return images

    def first_training_images(self) -> np.ndarray | None:
        """The first training batch's images as ``fit`` will read them, channels last and not
        yet resized, or ``None`` when there is no batch: what a backend sizes a model's deferred
        weights from before the first step. A position-aware module's stored images (or its
        first epoch's first batch) are read without drawing from any RNG; a book-style loader's
        first batch comes from the loaders ``attach_data`` kept, since another call could draw a
        shuffle's seed again."""
        if self.position_aware:
            images = getattr(self.data, "train_images", None)
            if images is None:
                images = next(iter(self.data.raw_batches(True, epoch=0)), (None,))[0]
            return None if images is None or not len(images) else np.asarray(images)
        return self.first_loader_images(self.setup_loaders[True])

    def first_loader_images(self, loader: Iterable[Any]) -> np.ndarray | None:
        """A book-style loader's first batch of images, its labels checked as ``fit`` checks
        them (a backend that can tell the shape unread overrides this)."""
        batch = next(iter(loader), None)
        if batch is None:
            return None
        where = f"{type(self.data).__name__}.train_dataloader()"
        X, y = batch_pair(batch, where)
        loader_labels(self.host_array(y), where)
        images = self.loader_images(X)
        return images if len(images) else None

    def fit_epoch(self) -> Record:
        epoch = self.epoch
        started = time.perf_counter()
        total = self.epoch_examples(train=True)  # None: a loader of unknown length, first pass
        # Losses stay on the device until a bar update or a board point needs them: a host sync
        # every step would stall an accelerator's queue.
        points_per_epoch = 2  # the book's plot_train_per_epoch
        if self.epoch_progress is None:
            self.epoch_progress = EpochProgress(
                next_point=math.inf if total is None else total / points_per_epoch)
        state = self.epoch_progress  # a resumed epoch starts from the checkpoint's sums
        state.seen_at_start, state.pass_started = state.seen, started
        earlier_seconds = state.train_seconds
        bar = (ProgressBar(total, f"epoch {epoch + 1}/{self.max_epochs}", initial=state.seen)
               if self.progress else None)
        try:
            for batch, count in self.batches(True, epoch=epoch, start_batch=state.batch):
                self.check_stop()
                loss = self.train_step(batch)
                state.pending.append((loss, count))
                if len(state.pending) > STEPS_IN_FLIGHT:
                    self.flush_losses(keep=STEPS_IN_FLIGHT)
                state.batch += 1
                self.step += 1
                state.seen += count
                state.segment_seen += count
                # (next_point is infinite while total is None: here total is known)
                if state.seen >= state.next_point or state.seen == total:
                    self.flush_losses()
                    self.board.draw(epoch + state.seen / total,  # type: ignore[operator]
                                    state.segment_sum / state.segment_seen, "train_loss")
                    state.segment_sum, state.segment_seen = 0.0, 0
                    state.next_point += total / points_per_epoch  # type: ignore[operator]
                if bar is not None and bar.due():
                    self.flush_losses()
                    bar.update(state.seen, loss=state.loss_sum / state.seen)
                for callback in self.step_callbacks:
                    callback(self)
        except BaseException:  # Ctrl-C in a notebook: an open bar would stay, and every
            if bar is not None:  # later one in the kernel would print a line per update
                bar.close()
            raise
        self.flush_losses()
        self.training_pass_ended()
        if total is None and state.segment_seen:  # the loader's length was unknown: one point
            self.board.draw(epoch + 1, state.segment_sum / state.segment_seen, "train_loss")
            state.segment_sum, state.segment_seen = 0.0, 0
        seen, loss_sum = state.seen, state.loss_sum
        train_seconds = time.perf_counter() - started
        state.pass_started = None  # its time is counted: a stop in the validation keeps it
        if earlier_seconds is not None:
            state.train_seconds = earlier_seconds + train_seconds
        if bar is not None:
            bar.update(seen, loss=loss_sum / max(seen, 1), force=True)
            bar.close()

        validation_started = time.perf_counter()
        validation = self.validate()
        self.check_validation_loss(validation["val_loss"])
        ended = time.perf_counter()
        seconds = ended - started + (earlier_seconds or 0.0)
        if earlier_seconds is not None:  # the whole epoch's rate
            rate_images, rate_seconds = seen, state.train_seconds
        else:  # (earlier time unknown: this process's part)
            rate_images, rate_seconds = seen - state.seen_at_start, train_seconds
        # None: a checkpoint's history from before images_seen was recorded.
        earlier_images = self.history[-1].get("images_seen") if self.history else 0
        record: Record = {
            "epoch": epoch + 1,
            "step": self.step,
            "images_seen": None if earlier_images is None else earlier_images + seen,
            "lr": self.planned_learning_rate(),
            "train_loss": loss_sum / max(seen, 1),
            "val_loss": validation["val_loss"],
            "val_acc": validation["val_acc"],
            "seconds": seconds,
            "val_seconds": ended - validation_started,
            "images_per_sec": rate_images / rate_seconds if rate_seconds else 0.0,
        }
        self.board.draw(epoch + 1, record["val_loss"], "val_loss")
        self.board.draw(epoch + 1, record["val_acc"], "val_acc")
        return record

    def training_pass_ended(self) -> None:
        """Once per epoch, after its last training step (its losses added up) and before its
        validation, an epoch resumed with no step left included: a backend steps a schedule of
        the epoch here (PyTorch's ``"interval": "epoch"`` schedulers)."""

    def diverged_loss_limit(self) -> float:
        """A loss above this has diverged: 10⁴ times chance's, ln(num_classes)."""
        return DIVERGED_LOSS_FACTOR * math.log(max(self.num_classes or 2, 2))

    def check_validation_loss(self, value: float) -> None:
        """Stop with :class:`ValidationDiverged` when an epoch's validation loss has diverged,
        before any callback keeps the weights (best weights, a checkpoint, the records)."""
        if math.isfinite(value) and value <= self.diverged_loss_limit():
            return
        advice, settings = self.lower_rate_advice()
        last_good_step = self.history[-1].get("step") if self.history else 0
        raise ValidationDiverged(f"the validation loss became {value:.4g} after epoch "
                                 f"{self.epoch + 1} (its training losses were finite): {advice}",
                                 last_good_step=last_good_step, **settings)

    def flush_losses(self, keep: int = 0) -> None:
        """Bring the epoch's pending losses to the host and add them up, all but the last
        ``keep`` (whose steps may still run); a non-finite one stops training with
        :class:`TrainingError`."""
        state = cast(EpochProgress, self.epoch_progress)  # called only while an epoch runs
        limit = self.diverged_loss_limit()
        flushed, state.pending = (state.pending[:len(state.pending) - keep],
                                  state.pending[len(state.pending) - keep:])
        for loss, count in flushed:
            value = self.to_float(loss)
            if not math.isfinite(value) or value > limit:
                advice, settings = self.lower_rate_advice()
                raise TrainingError(
                    f"the training loss became {value:.4g} in epoch {self.epoch + 1}: "
                    f"{advice}", **settings)
            state.loss_sum += value * count
            state.segment_sum += value * count

    def lower_rate_advice(self) -> tuple[str, dict[str, Any]]:
        """What to lower after a diverged step (the schedule's peak when it has one), as
        ``(advice, settings)`` for :class:`TrainingError`: the setting is named as the caller
        gives it, ``lr=`` in Python and ``--lr`` on the command line."""
        recipe = getattr(self.model, "recipe", None)
        if isinstance(recipe, TrainingRecipe) and recipe.max_lr is not None:
            return "lower the peak learning rate (now {max_lr})", {"max_lr": recipe.max_lr}
        return "lower the learning rate (now {lr})", {"lr": getattr(self.model, "lr", "?")}

    def planned_learning_rate(self) -> float | None:
        """The learning rate the next step applies, by the recipe's schedule (:attr:`lr_plan`),
        else as the optimizer holds it (a model's own schedule, as Keras and Lightning log
        it), written as the model's ``lr`` where the optimizer applies that: float32 holds
        0.01 as 0.0099999998. ``None`` for a rate unknown (a JAX model's own optimizer, whose
        rate optax keeps to itself, and no ``lr``)."""
        if self.lr_plan is not None:
            return self.lr_plan(self.step)
        stated = getattr(self.model, "lr", None)
        try:
            applied = self.learning_rate()
        except NotImplementedError:
            return stated
        if isinstance(stated, numbers.Real) and np.float32(applied) == np.float32(stated):
            return float(stated)
        return applied

    def request_stop(self, reason: str) -> None:
        """End ``fit`` once the epoch in progress is done and its callbacks have run (a
        checkpoint is saved), logging ``reason`` in one line: early stopping."""
        self.stop_reason = reason

    def check_saves_weights(self) -> None:
        """Raise ``WeightsError`` if no weights file can hold the model (one that is not the
        chapter's AlexNet): ``KeepBest`` asks before the first epoch rather than fail after it."""
        check_chapter_table = getattr(self.model, "check_chapter_table", None)
        if check_chapter_table is None:
            raise WeightsError(f"{type(self.model).__name__} is not the chapter's AlexNet: "
                               "weights files hold that network only; keep this model's "
                               "parameters with a checkpoint of our Trainer instead")
        check_chapter_table()

    def save_weights(self, path: PathLike, extra_metadata: Mapping[str, str] | None = None,
                     ) -> None:
        """Write the model's weights as they stand now, mid-``fit`` too (taken from
        :meth:`state_arrays`, as a checkpoint holds them), as a weights file with
        ``extra_metadata`` (``KeepBest``'s epoch and accuracy) and the data's class names
        (its ``classes``, where it has them) in its metadata."""
        identity = self.run_identity()
        resize = identity["resize"]
        resize = tuple(resize) if isinstance(resize, list) else resize
        in_channels = identity["in_channels"] or IN_CHANNELS
        # (every backend's Trainer names its backend)
        tensors = state_to_canonical(self.state_arrays(),
                                     BACKEND_LAYOUTS[self.backend],  # type: ignore[index]
                                     resize, identity["num_classes"], in_channels)
        save_canonical(path, tensors, resize, identity["num_classes"], self.backend,
                       in_channels, extra_metadata, classes=getattr(self.data, "classes", None))

    def check_stop(self) -> None:
        """Between two steps: raise :class:`TrainingInterrupted` if a stop was requested."""
        if self.stop_requested is not None:
            raise TrainingInterrupted(self.stop_requested)

    def at_epoch_end(self) -> bool:
        """Whether the last training step was the last batch of its epoch."""
        state = self.epoch_progress
        if state is None:
            return False
        if self.position_aware:
            return state.batch >= self.data.num_batches(train=True)
        total = self.epoch_examples(train=True)
        return total is not None and state.seen >= total

    # ---- checkpoints --------------------------------------------------------------------------
    def run_identity(self) -> dict[str, Any]:
        """What a resumed run must share with its checkpoint: the backend, the network, and
        everything that fixes the data order."""
        height, width = self.input_size or (None, None)
        # Rows name a network built from a table, for a size; a model of another lesson is
        # built from neither (Module.table would say the chapter's rows for it).
        table = (getattr(self.model, "table", None)
                 if getattr(self.model, "input_size", None) is not None else None)
        network = (None if table is None else
                   " ".join(map(row_label, with_dropout(getattr(self.model, "dropout", None),
                                                        table))))
        return {"backend": self.backend, "architecture": ARCHITECTURE, "network": network,
                "resize": height if height == width else [height, width],
                "num_classes": getattr(self.model, "num_classes", None),
                "in_channels": getattr(self.model, "in_channels", None),
                "batch_size": getattr(self.data, "batch_size", None),
                "seed": getattr(self.data, "seed", None),
                "train_examples": self.epoch_examples(train=True),
                "augment": bool(getattr(self.data, "augment", False)),
                "train_data": (self.data.training_digest()
                               if callable(getattr(self.data, "training_digest", None))
                               else None)}

    def checkpoint_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """``(metadata, arrays)``: where training stands, for a checkpoint.

        Pending losses are brought to the host first and every float array is checked, so a
        NaN or infinite loss or weight raises :class:`TrainingError` instead of being saved.
        """
        state = self.epoch_progress
        if state is not None:
            self.flush_losses()
        arrays = dict(self.state_arrays())
        for name, array in arrays.items():
            if array.dtype.kind == "f" and not np.isfinite(array).all():
                advice, settings = self.lower_rate_advice()
                raise TrainingError(f"{name} is no longer finite after step {self.step}: "
                                    f"{advice}; it was not saved", **settings)
        arrays.update(host_rng_arrays())
        metadata = dict(self.run_identity())
        recipe = getattr(self.model, "recipe", None)
        metadata.update({
            "lr": getattr(self.model, "lr", None), "precision": self.precision,
            "recipe": recipe.as_dict() if isinstance(recipe, TrainingRecipe) else None,
            "lr_plan": None if self.lr_plan is None else asdict(self.lr_plan),
            "max_epochs": self.max_epochs,
            "epoch": len(self.history) if state is None else self.epoch,
            "batch": 0 if state is None else state.batch,
            "step": self.step,
            "epoch_progress": None if state is None else state.as_dict(),
            "history": self.history,
            "callbacks": self.callback_states(),
            "board": {label: [xs, ys] for label, (xs, ys) in self.board.series.items()},
            "classes": self.class_names(),
        })
        return metadata, arrays

    def callback_states(self) -> dict[str, Any]:
        """Each callback's :meth:`~d2l_alexnet.core.callbacks.Callback.state` by its ``key``, for
        a checkpoint. The saved states of the callbacks a resumed fit goes without are kept as
        they were: a run resumed once without its TensorBoard log (``--tensorboard`` left out)
        and then with it again finds its log's files as its own."""
        states = dict((self.resumed_from.metadata.get("callbacks") or {})
                      if self.resumed_from is not None else {})
        states.update({callback.key: callback.state() for callback in self.callbacks
                       if getattr(callback, "key", None) is not None})
        return states

    def class_names(self) -> list[str] | None:
        """The data's class names in label order (``classes``: Fashion-MNIST's, an image
        folder's), kept in checkpoints as weights files keep them; ``None`` when it has none
        for each of the model's classes."""
        classes = getattr(self.data, "classes", None)
        if classes is None or len(classes) != self.num_classes or len(set(classes)) != len(
                classes):
            return None
        return [str(name) for name in classes]

    def restore(self, checkpoint: Checkpoint) -> None:
        """Load ``checkpoint`` into the prepared model: arrays, host RNGs, position, history."""
        # Unknown here (a loader's length before its first pass) is not a mismatch.
        check_compatible(checkpoint, {key: value for key, value in self.run_identity().items()
                                      if value is not None})
        saved = {name: array for name, array in checkpoint.arrays.items()
                 if not name.startswith(HOST_RNG)}
        current = self.state_arrays()
        # Optimizer slots appear at the first step, a GPU's RNG only on a GPU: those may be
        # absent on either side; everything else must be there with the same shape.
        optional = ("optimizer.", "rng.")
        missing = sorted(name for name in set(current) - set(saved)
                         if not name.startswith(optional))
        unexpected = sorted(name for name in set(saved) - set(current)
                            if not name.startswith(optional))
        if missing or unexpected:
            raise CheckpointError(f"{checkpoint.name} does not fit this model: missing "
                                  f"{missing[:3] or 'nothing'}, unexpected "
                                  f"{unexpected[:3] or 'nothing'}")
        for name, array in current.items():
            if name not in saved:
                continue
            if saved[name].shape != array.shape or saved[name].dtype.kind != array.dtype.kind:
                raise CheckpointError(f"{checkpoint.name}: {name} is {saved[name].dtype} "
                                      f"{saved[name].shape}, this model's is {array.dtype} "
                                      f"{array.shape}")
        metadata = checkpoint.metadata
        self.check_recipe(checkpoint)
        if metadata["epoch"] != len(metadata["history"]):
            raise CheckpointError(f"{checkpoint.name} is inconsistent: epoch "
                                  f"{metadata['epoch']} with {len(metadata['history'])} "
                                  "epochs of history")
        self.step = metadata["step"]  # first: a backend's schedule resumes at it
        self.load_state_arrays(saved)
        set_host_rng(checkpoint.arrays)
        if not self.position_aware and metadata.get("train_examples") is not None:
            self.loader_sizes[True] = metadata["train_examples"]  # counted by the saved run
        # A checkpoint's JSON has its keys sorted: each record and the board's series are put
        # back in the order a run makes them, so metrics.json and the plot's styles stay as
        # an uninterrupted run's.
        self.history = [in_order(record, RECORD_KEYS) for record in metadata["history"]]
        progress = metadata.get("epoch_progress")
        self.epoch_progress = EpochProgress(**progress) if progress else None
        self.board.series = {label: (list(xs), list(ys)) for label, (xs, ys) in
                             in_order(metadata.get("board", {}), BOARD_SERIES).items()}

    def check_recipe(self, checkpoint: Checkpoint) -> None:
        """Refuse to resume ``checkpoint`` with another recipe or another schedule: the steps
        still to come would differ."""
        recipe = getattr(self.model, "recipe", None)
        if isinstance(recipe, TrainingRecipe):
            check_resumed_recipe(checkpoint, recipe, self.max_epochs, self.lr_plan)

    def validate(self) -> dict[str, float]:
        """The one validation loop: ``{"val_loss", "val_acc"}`` of the prepared model over the
        data's validation split, in evaluation mode (no dropout, no update)."""
        val_loss_sum = val_correct = 0.0
        val_seen = 0
        results = []  # read back after the loop: one host sync per batch would stall a GPU
        for batch, count in self.batches(False):
            self.check_stop()
            results.append(self.eval_step(batch))
            val_seen += count
            self.val_batch_idx += 1
        for loss_total, correct in results:
            val_loss_sum += self.to_float(loss_total)
            val_correct += self.to_float(correct)
        return {"val_loss": val_loss_sum / max(val_seen, 1),
                "val_acc": val_correct / max(val_seen, 1)}

    def evaluate(self, model: Any, data: Any) -> dict[str, float]:
        """Validation loss and accuracy of ``model`` as it is, without training:
        ``{"val_loss", "val_acc"}`` over ``data``'s validation split (what ``fit`` reports after
        each epoch, by the same loop)."""
        self.clear_a_spent_stop()
        self.setup(model, data)
        try:
            return self.validate()
        except TrainingInterrupted:
            self.stop_spent = True
            raise
        finally:
            self.release_data_on_device()


HOST_RNG = "host."


def host_rng_arrays() -> dict[str, np.ndarray]:
    """numpy's and Python's global RNG states as arrays (a framework may draw from them)."""
    _, keys, position, has_gauss, cached = np.random.get_state()
    version, words, gauss_next = random.getstate()
    return {"host.numpy_random.keys": np.asarray(keys, dtype=np.uint32),
            "host.numpy_random.position": np.array([position, has_gauss], dtype=np.int64),
            "host.numpy_random.cached_gaussian": np.array([cached], dtype=np.float64),
            "host.python_random.version": np.array([version], dtype=np.int64),
            "host.python_random.words": np.asarray(words, dtype=np.uint64),
            "host.python_random.gauss_next": np.array(
                [gauss_next is not None, gauss_next or 0.0], dtype=np.float64)}


def set_host_rng(arrays: Mapping[str, np.ndarray]) -> None:
    """Undo :func:`host_rng_arrays`; a checkpoint without them leaves the RNGs as they are."""
    if "host.numpy_random.keys" in arrays:
        position, has_gauss = (int(value) for value in arrays["host.numpy_random.position"])
        np.random.set_state(("MT19937", np.array(arrays["host.numpy_random.keys"]), position,
                             has_gauss, float(arrays["host.numpy_random.cached_gaussian"][0])))
    if "host.python_random.words" in arrays:
        has_next, gauss_next = arrays["host.python_random.gauss_next"]
        random.setstate((int(arrays["host.python_random.version"][0]),
                         tuple(int(word) for word in arrays["host.python_random.words"]),
                         float(gauss_next) if has_next else None))


def saved_recipe(metadata: Mapping[str, Any]) -> TrainingRecipe:
    """The :class:`~d2l_alexnet.core.recipe.TrainingRecipe` a checkpoint was trained with
    (checkpoints from before recipes existed: the chapter's plain SGD at their ``lr``)."""
    saved = metadata.get("recipe")
    if saved is not None:
        return TrainingRecipe.from_values(saved)
    return CHAPTER.updated(lr=metadata.get("lr") or CHAPTER.lr)


def check_resumed_recipe(checkpoint: Checkpoint, recipe: TrainingRecipe, max_epochs: int,
                         lr_plan: LearningRatePlan | None = None) -> None:
    """Raise ``CheckpointError`` unless a run of ``recipe`` over ``max_epochs`` continues
    ``checkpoint`` exactly: the same recipe (a constant rate may change) and, for a schedule,
    the same plan (``lr_plan``, when known: the steps per epoch count too)."""
    metadata = checkpoint.metadata
    saved = saved_recipe(metadata)
    problem = resume_problem(saved, recipe)
    if problem is not None:
        raise CheckpointError(f"{checkpoint.name}: {problem}")
    if saved.schedule == "constant" and saved.peak_lr == saved.lr:
        return  # no schedule: the run may be extended with more --epochs
    saved_plan = metadata.get("lr_plan")
    saved_plan = None if saved_plan is None else LearningRatePlan(**saved_plan)
    if metadata.get("max_epochs") == max_epochs and lr_plan is not None \
            and saved_plan != lr_plan:
        raise CheckpointError(
            f"{checkpoint.name}: its {saved.schedule} schedule was planned over "
            f"{saved_plan and saved_plan.total_steps} steps, this run's over "
            f"{lr_plan.total_steps}: the batches per epoch differ (--batch-size, --limit-train)")
    if metadata.get("max_epochs") != max_epochs:
        raise CheckpointError(
            f"{checkpoint.name}: its {saved.schedule} schedule was planned over "
            f"{metadata.get('max_epochs')} epochs ({saved_plan and saved_plan.total_steps} "
            f"steps), this run's over {max_epochs}: resume with --epochs "
            f"{metadata.get('max_epochs')}")


def validation_sums(model: Any, Y_hat: Any, Y: Any, total: Callable[[Any], Any] | None = None,
                    ) -> tuple[Any, Any]:
    """``(sum of losses, number correct)`` of one batch's outputs, what every ``eval_step``
    returns: ``model``'s own unaveraged ``loss`` and ``accuracy``, each summed by ``total``
    (the tensors' ``.sum()`` unless given, e.g. ``tf.reduce_sum``)."""
    if total is None:
        def total(values):
            return values.sum()
    return (total(model.loss(Y_hat, Y, averaged=False)),
            total(model.accuracy(Y_hat, Y, averaged=False)))


def split_bytes(data: Any) -> int:
    """The bytes of a data module's images and labels held in memory (both splits)."""
    return sum(getattr(getattr(data, f"{split}_{kind}", None), "nbytes", 0)
               for split in ("train", "val") for kind in ("images", "labels"))


def replica_slices(batch_size: int, num_replicas: int) -> list[slice]:
    """Each replica's contiguous ``slice`` of a global batch of ``batch_size`` examples, in
    rank order, as even as can be (the first ones take one more): the replicas together see
    exactly the core's batch, so the global data order stays the ``(seed, epoch)`` order."""
    if num_replicas < 1:
        raise ValueError(f"num_replicas must be at least 1, got {num_replicas}")
    base, extra = divmod(batch_size, num_replicas)
    slices, start = [], 0
    for rank in range(num_replicas):
        stop = start + base + (rank < extra)
        slices.append(slice(start, stop))
        start = stop
    return slices


def check_device(request: str) -> None:
    """``request`` must be one of :data:`DEVICES`."""
    if request not in DEVICES:
        raise ValueError(f"device must be one of {', '.join(DEVICES)}, got {request!r}")


def replica_count(num_gpus: int) -> int:
    """How many data-parallel replicas ``Trainer(num_gpus=...)`` asks for (the book's 0 and 1
    both mean one)."""
    if not is_whole(num_gpus) or num_gpus < 0:
        raise ValueError(f"num_gpus must be a whole number of at least 0, got {num_gpus!r}; "
                         f"pass e.g. num_gpus=1")
    return max(1, int(num_gpus))


def check_arguments(max_epochs: Any, gradient_clip_val: Any, progress: Any,
                    data_on_device: Any) -> None:
    """Refuse, in one line naming it, a ``Trainer`` argument of the wrong kind, before any
    work: ``max_epochs=2.0`` failed in fit, ``gradient_clip_val="1"`` at the first step, and
    a string read as a flag is true (``data_on_device="off"`` turned it on)."""
    if not is_whole(max_epochs) or max_epochs < 1:
        raise ValueError(f"max_epochs must be a whole number of at least 1, got "
                         f"{max_epochs!r}; pass e.g. max_epochs=10")
    if not is_number(gradient_clip_val) or not gradient_clip_val >= 0:  # (NaN too)
        raise ValueError(f"gradient_clip_val must be a number of at least 0 (0: no clipping), "
                         f"got {gradient_clip_val!r}; pass e.g. gradient_clip_val=1.0")
    if not is_flag(progress):
        raise ValueError(f"progress must be True or False, got {progress!r}")
    if data_on_device is not None and not is_flag(data_on_device):
        raise ValueError(f"data_on_device must be None (automatic), True or False, got "
                         f"{data_on_device!r}; leave it out for automatic")


# The hooks the trainer calls on a callback object (core/callbacks.py's Callback); an entry
# without any is called as a function, callback(trainer, record), after every epoch.
CALLBACK_HOOKS = ("check_fit_start", "on_fit_start", "on_evaluation", "on_fit_end")


def checked_callbacks(callbacks: Any) -> list[Any]:
    """``Trainer(callbacks=...)`` as a list, each entry one the trainer can call: an object
    with the hooks of a :class:`~d2l_alexnet.core.callbacks.Callback` or a function taking
    ``(trainer, record)``. Anything else failed only after the first epoch's work (a string:
    "'str' object is not callable"), or as it was listed ("object is not iterable")."""
    if isinstance(callbacks, type) or is_callback(callbacks):
        name = callbacks.__name__ if isinstance(callbacks, type) else type(callbacks).__name__
        raise ValueError(f"callbacks takes a list, got a single {name}; pass a list: "
                         f"callbacks=[...]")
    if isinstance(callbacks, (str, bytes)) or not isinstance(callbacks, Iterable):
        raise ValueError(f"callbacks must be a list of callbacks, got {callbacks!r}; pass a "
                         f"list: callbacks=[...]")
    checked = list(callbacks)
    for callback in checked:
        if isinstance(callback, type):  # (a class is callable: it failed as a missing argument)
            raise ValueError(f"callbacks holds the class {callback.__name__}, not a callback: "
                             f"create it: {callback.__name__}(...)")
        if callable(callback) and not is_callback(callback):
            name = getattr(callback, "__qualname__", None) or repr(callback)
            raise ValueError(f"callbacks holds the function {name}, which the trainer cannot "
                             f"call as callback(trainer, record) after each epoch: give it "
                             f"those two arguments")
        if not is_callback(callback):
            raise ValueError(f"callbacks holds {callback!r}, which is not a callback: give "
                             f"objects with an on_evaluation(trainer, record) method (a "
                             f"Callback) or functions taking (trainer, record)")
    return checked


def is_callback(entry: Any) -> bool:
    """Whether the trainer can call ``entry`` as a callback (see :func:`checked_callbacks`)."""
    if any(hasattr(entry, hook) for hook in CALLBACK_HOOKS):
        return True
    return callable(entry) and takes_trainer_and_record(entry)


def takes_trainer_and_record(function: Callable[..., Any]) -> bool:
    """Whether ``function`` can be called as ``function(trainer, record)`` (a function whose
    signature cannot be read is given the benefit of the doubt)."""
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return True
    try:
        signature.bind(None, None)
    except TypeError:
        return False
    return True


def is_position_aware(data: Any) -> bool:
    """Whether ``data`` offers the position-aware interface (``raw_batches`` and its companions)
    rather than only the book's ``train_dataloader()``/``val_dataloader()``: not where a lesson's
    subclass writes one of the book's loader methods itself (a FashionMNIST whose
    ``get_dataloader`` augments), whose batches must be the ones trained on."""
    return (all(callable(getattr(data, name, None))
                for name in ("raw_batches", "num_examples", "num_batches"))
            and not lesson_loaders(data))


def lesson_loaders(data: Any) -> list[str]:
    """Which of the book's loader methods ``data``'s class takes from a class outside this
    package (a lesson's own), rather than from ours."""
    written = []
    for name in ("get_dataloader", "train_dataloader", "val_dataloader"):
        owner = next((cls for cls in type(data).__mro__ if name in vars(cls)), None)
        if owner is not None and not owner.__module__.startswith("d2l_alexnet."):
            written.append(name)
    return written


def check_model(model: Any, methods: Iterable[str]) -> None:
    """Refuse, in one line, a model without the ``methods`` a trainer's steps call: the book's
    Classifier methods, ``loss`` and ``accuracy`` taking ``averaged=`` (sec_classification)."""
    missing = [name for name in methods if not callable(getattr(model, name, None))]
    if not missing:
        missing = [f"{name}(..., averaged=False)" for name in ("loss", "accuracy")
                   if name in methods
                   and "averaged" not in inspect.signature(getattr(model, name)).parameters]
    if missing:
        raise TypeError(f"{type(model).__name__} lacks {', '.join(missing)}: the Trainer fits "
                        "models written as the book's d2l.Classifier (sec_classification)")


def check_sizes(model: Any, data: Any) -> None:
    """Refuse what cannot work before anything is built: a data module that offers no batches,
    or data of another size or channel count than the model's."""
    if not is_position_aware(data) and not (callable(getattr(data, "train_dataloader", None))
                                            and callable(getattr(data, "val_dataloader", None))):
        raise TypeError(f"{type(data).__name__} is not a data module: give it "
                        "train_dataloader() and val_dataloader() that yield (X, y) batches "
                        "(the book's DataModule), see the README's 'The data contract'")
    data_size = getattr(data, "resize", None)
    if data_size is None:
        return  # a book-style loader: each batch is checked against the model as it comes
    data_size = as_size(data_size)
    model_size = getattr(model, "input_size", None)
    if model_size is None and getattr(model, "resize", None) is not None:
        model_size = as_size(model.resize)
    # (A size too small for AlexNet is refused when the AlexNet is built, by its table.)
    if model_size is not None and data_size != tuple(model_size):
        fix = ("pass the same resize to both (AlexNet(resize=...) and the data module's "
               "resize=)" if getattr(model, "resize", None) is not None else
               f"resize the data to {format_size(model_size)} (the data module's resize=), or "
               f"build d2l.AlexNet(resize=...) for another size")
        raise ValueError(f"the model was built for {format_size(model_size)} images but the "
                         f"data is resized to {format_size(data_size)}: {fix}")
    model_channels = getattr(model, "in_channels", None)
    data_channels = getattr(data, "in_channels", None)
    if None not in (model_channels, data_channels) and model_channels != data_channels:
        raise ValueError(f"the model takes {model_channels}-channel images but the data has "
                         f"{data_channels}: build it with AlexNet(in_channels={data_channels}, "
                         "...)")


def check_label_range(labels: np.ndarray, num_classes: int, where: str) -> None:
    """Refuse, in one line, ``labels`` (of ``where``) that a model of ``num_classes`` outputs
    cannot score, naming the fix."""
    if not len(labels):
        return
    low, high = int(labels.min()), int(labels.max())
    if 0 <= low and high < num_classes:
        return
    message = (f"{where} has label {low if low < 0 else high}, but the model has "
               f"num_classes={num_classes}: labels must be class indices 0..{num_classes - 1}")
    if low >= 1 and high == num_classes:
        raise DataError(f"{message}; they look one-indexed (1..{num_classes}): subtract 1")
    if low < 0:
        raise DataError(f"{message}: renumber the classes from 0")
    raise DataError(f"{message}: renumber them, or build the model with num_classes={high + 1}")


def check_named_classes(model: Any, data: Any, num_classes: int) -> None:
    """Refuse a model with another number of outputs than the classes ``data`` names (an
    ``ImageFolder``'s folders, ``ArrayData(classes=...)``), before any step: it would train
    a head for classes that do not exist, and no weights file could name them."""
    names = getattr(data, "classes", None)
    if not isinstance(names, (list, tuple)) or len(names) == num_classes:
        return
    shown = ", ".join(map(str, names[:6])) + (", ..." if len(names) > 6 else "")
    raise DataError(f"{type(model).__name__} has {num_classes} outputs (num_classes="
                    f"{num_classes}) but {type(data).__name__} names {len(names)} classes "
                    f"({shown}): build the model with num_classes={len(names)} "
                    f"(num_classes=data.num_classes)")


def check_stored_labels(data: Any, num_classes: int) -> bool:
    """Check the labels of a module that holds them in memory (``train_labels`` and
    ``val_labels``, as ours do) once, against ``num_classes``; ``False`` when it holds none,
    and its batches must be checked as they come."""
    stored = [(split, getattr(data, f"{split}_labels", None)) for split in ("train", "val")]
    if any(labels is None for _, labels in stored):
        return False
    for split, labels in stored:
        check_label_range(np.asarray(labels), num_classes, f"{type(data).__name__}'s {split} split")
    return True


# The keys of an epoch's record, in the order fit_epoch makes them, and the board's series in
# the order an epoch draws them.
RECORD_KEYS = ("epoch", "step", "images_seen", "lr", "train_loss", "val_loss", "val_acc",
               "seconds", "val_seconds", "images_per_sec")
BOARD_SERIES = ("train_loss", "val_loss", "val_acc")


def in_order(mapping: Mapping[str, Any], first: tuple[str, ...]) -> dict[str, Any]:
    """``mapping`` with the keys of ``first`` first, in that order, then the rest as given."""
    rank = {key: index for index, key in enumerate(first)}
    return dict(sorted(mapping.items(), key=lambda item: rank.get(item[0], len(first))))


def batch_pair(batch: Any, where: str) -> tuple[Any, Any]:
    """A loader's batch as ``(X, y)``: its first and last items (the book's convention, which
    lets a batch carry more between them). A dict or a lone array is refused in one line: its
    items would be read as images and labels by mistake."""
    if isinstance(batch, Mapping):
        raise DataError(f"{where} yields dicts (keys {', '.join(map(repr, batch))}), not "
                        f"(X, y) pairs: map each batch to its images and labels first, e.g. "
                        f"(batch['image'], batch['label'])")
    if hasattr(batch, "shape") or not isinstance(batch, Sequence) or len(batch) < 2:
        raise DataError(f"{where} yields {type(batch).__name__} batches, not (X, y) pairs: "
                        f"yield each batch's images and their labels together")
    return batch[0], batch[-1]


def loader_labels(y: Any, where: str) -> np.ndarray:
    """A loader's labels as int64 ``(B,)``: one class index per example. One-hot rows would
    pass for as many 0/1 labels, so they are refused; so are labels with fractions, which a
    cast would cut without a word, and a lone label, the mark of a loader that was not
    batched."""
    if y.ndim == 0:
        raise DataError(f"{where} yields one example at a time (its label {y.item()!r} is a "
                        f"single number): batch them, e.g. DataLoader(dataset, batch_size=128) "
                        f"or dataset.batch(128) for a tf.data.Dataset")
    if y.ndim > 1 and y.size != len(y):
        raise DataError(f"{where} yields labels of shape {y.shape}: give one class index per "
                        f"example (one-hot labels: y.argmax(axis=1))")
    if not (np.issubdtype(y.dtype, np.integer) or y.dtype == np.bool_):
        if not np.issubdtype(y.dtype, np.floating):
            raise DataError(f"{where} yields {y.dtype} labels: give one class index per "
                            f"example (0, 1, ...)")
        flat = y.reshape(-1)
        fractions = flat[flat != np.round(flat)]
        if len(fractions):
            raise DataError(f"{where} yields {y.dtype} labels that are not whole numbers "
                            f"(such as {float(fractions[0]):g}): give one class index per "
                            f"example (0, 1, ...)")
    return y.astype(np.int64).reshape(-1)


def check_loader_pixels(images: np.ndarray, where: str, given_dtype: str | None = None) -> None:
    """Refuse, in one line, float (or wide integer) images that are 0..255 or 16-bit values
    unscaled, naming the divisor of their kind, or that hold NaN or infinity: the loss would
    diverge and the advice (a lower rate) be wrong.
    ``given_dtype``: the loader's own type, for the message, when ``images`` is a cast."""
    if images.dtype != np.uint8 and images.size:
        if not np.isfinite(images).all():
            raise DataError(f"{where} yields images with NaN or infinite values; replace them "
                            f"(each pixel a number near [0, 1])")
        high = float(np.abs(images).max())
        if high > UNSCALED_PIXELS:
            dtype = given_dtype or images.dtype.name
            # 16-bit pixels divided by 255 would still be refused here: name their divisor.
            if dtype == "uint16":
                scaling = "divide them by 65535, the largest 16-bit value"
            elif high <= 255:
                scaling = "divide them by 255"
            elif high <= 65535:
                scaling = ("divide them by 65535 if they are 16-bit values, else by their "
                           "largest possible one")
            else:
                scaling = "divide them by their largest possible value"
            raise DataError(f"{where} yields {dtype} images with values up to {high:g}; "
                            f"non-uint8 pixels are taken as they are and must lie near [0, 1]: "
                            f"{scaling} (or yield uint8 images, which are scaled once)")


def format_epoch(record: Mapping[str, Any], max_epochs: int) -> str:
    """The one line per epoch that the CLI and the notebooks print (in the language set by
    :func:`~d2l_alexnet.core.language.set_language`)."""
    figures = {key: number(record[name], decimals, grouped=False) for key, name, decimals in (
        ("train_loss", "train_loss", 4), ("val_loss", "val_loss", 4), ("val_acc", "val_acc", 4),
        ("seconds", "seconds", 1), ("rate", "images_per_sec", 1))}
    return say("epoch", epoch=record["epoch"], epochs=max_epochs, **figures)
