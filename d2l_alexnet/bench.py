"""``python -m d2l_alexnet.bench``: how fast each backend trains AlexNet here (d2l, sec_alexnet,
exercise 6: throughput, accuracy and memory against the batch size).

One run measures, for one backend, batch size, precision and device:
- this machine's matrix-multiply peak in that precision (the backend's own matmul);
- training-step throughput at 224×224 on synthetic data, after warm-up;
- end-to-end training throughput on real Fashion-MNIST (loading, resize, metrics included);
- inference throughput and peak memory;
- the achieved training FLOP/s as a fraction of the matmul peak, with the FLOPs per image taken
  from the architecture table.
``--batch-sizes`` sweeps, each size in its own process (so peak memory is that size's own), and
draws throughput and memory against batch size.

``--time-to-accuracy 0.88`` measures training speed the way the field does (DAWNBench, MLPerf
Training): it trains the chapter's network on the full Fashion-MNIST with the given recipe
(``--recipe``, or its flags), evaluates on the full validation set every ``--eval-every`` epochs,
stops at the first evaluation at or above the target, and reports the wall-clock seconds from
the start of the command (framework import, data loading, compilation and the evaluations
included; only a dataset download is left out), the images seen and the epochs, with the curve
(``time-to-accuracy.json`` and ``time-to-accuracy.png`` in ``--out``). With ``--checkpoint-dir``
a long run can be stopped and continued with ``--resume``: the checkpoints carry the curve and
the clock, so the resumed run reports the seconds of all its parts (each part's start-up
included, the work lost after the last checkpoint not) and the same images and accuracies as
one uninterrupted run.
"""

import argparse
import importlib.metadata
import json
import math
import os
import platform
import random
import resource
import shlex
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np

from . import __version__
from .backends import canonical_name, load_backend, load_bench_hooks
from .cli import (DATA_ON_DEVICE, UsageError, add_backend_argument, add_batch_size_argument,
                  add_compile_argument, add_data_arguments, add_data_on_device_argument,
                  add_device_argument, add_precision_argument, check_compile, check_counts,
                  check_data_dir, check_output_path, check_seed, command_parser, compile_options,
                  exit_status_of, failure_reason, path_argument)
from .core.architecture import CHAPTER_RESIZE, minimum_resize, training_flops
from .core.callbacks import Callback
from .core.checkpoint import Checkpointer, CheckpointError, check_compatible, list_checkpoints
from .core.data import HOW_TO_GET
from .core.files import (atomic_write_bytes, atomic_write_json, missing_directories,
                         remove_directories)
from .core.hardware import cpu_description
from .core.lock import FolderLocks
from .core.images import ArrayData
from .core.progress import FigureError, check_can_draw, figure_classes, figure_png
from .core.trainer import TrainingInterrupted
from .train import (OUTPUT_MARGIN_BYTES, RECIPE_FLAGS, Interrupted, OutputWriteError,
                    StopSignals, StoppedAtOnce, add_checkpoint_arguments, add_recipe_arguments,
                    claim_directories, describe_position, exit_status, resolve_recipe,
                    resume_command, validate_checkpoint_flags)

NUM_CLASSES = 10
DEFAULT_STEPS, DEFAULT_WARMUP = 10, 3  # a throughput measurement's, when not given
# The metadata key under which a time-to-accuracy run's checkpoints keep its curve and clock.
PROGRESS_KEY = "time_to_accuracy"
# What a resumed time-to-accuracy run must share with its checkpoint, beyond train's checks.
RESUME_MUST_MATCH = ("target", "eval_every", "precision", "val_examples")


def time_calls(function, repeats, warmup):
    """Seconds per call of ``function`` (which must block until its work is done)."""
    for _ in range(warmup):
        function()
    started = time.perf_counter()
    for _ in range(repeats):
        function()
    return (time.perf_counter() - started) / repeats


def fastest_call(function, repeats, warmup):
    """Seconds of the fastest of ``repeats`` calls: a peak is the best the machine did, and
    other processes' noise only ever slows a call down."""
    for _ in range(warmup):
        function()
    fastest = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        fastest = min(fastest, time.perf_counter() - started)
    return fastest


def host_peak_memory_bytes():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def measure(backend_name, batch_size=128, steps=10, precision="fp32", device="auto",
            resize=CHAPTER_RESIZE, warmup=3, end_to_end=True, seed=0, log=print,
            data_on_device=None, compile=False, data_dir=None):
    """Run every measurement for one configuration; returns a JSON-ready dict.
    ``data_on_device``: the end-to-end run's (``Trainer(data_on_device=...)``); ``data_dir``:
    where it finds Fashion-MNIST (as ``FashionMNIST``'s; ``None``: the usual search). The first
    training and inference steps are timed on their own (``first_step_seconds``,
    ``first_inference_seconds``): with ``compile`` they hold the compilation."""
    d2l = load_backend(backend_name)
    hooks = load_bench_hooks(d2l)
    d2l.set_seed(seed)
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(batch_size, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, NUM_CLASSES, size=batch_size).astype(np.int64)
    synthetic = ArrayData((images, labels), (images, labels), batch_size, resize=resize)
    model = d2l.AlexNet(lr=0.01, num_classes=NUM_CLASSES, resize=resize)
    trainer = d2l.Trainer(max_epochs=1, device=device, precision=precision, progress=False,
                          log=None, **compile_options(compile)).setup(model, synthetic)
    batch = trainer.prepare_batch(images, labels)
    if end_to_end:  # a --data-on-device on that cannot be is refused before measuring
        fit_trainer = d2l.Trainer(max_epochs=2, device=device, precision=precision,
                                  progress=False, log=None, data_on_device=data_on_device,
                                  **compile_options(compile))
        fit_trainer.device = fit_trainer.select_device(device)
        fit_trainer.decide_data_on_device(synthetic)
        # Loaded before any timing, so that missing data fails in seconds rather than after the
        # measurements (a compilation, on a GPU) it would throw away.
        data = d2l.FashionMNIST(batch_size=batch_size, resize=(resize, resize), seed=seed,
                                data_dir=data_dir, limit_train=steps * batch_size,
                                limit_val=batch_size, log=None)
        if data.is_subset:
            log(f"{backend_name}: the full Fashion-MNIST was not found: the end-to-end run "
                "reads the subset the package ships")

    log(f"{backend_name}: measuring the {precision} matmul peak on {trainer.device_name()}")
    matmul, matmul_flops = hooks.matmul_benchmark(precision, trainer.device)
    gemm_peak_gflops = matmul_flops / fastest_call(matmul, repeats=10, warmup=3) / 1e9

    log(f"{backend_name}: {steps} training steps of {batch_size} after {warmup} warm-up steps")
    def train_step():
        trainer.to_float(trainer.train_step(batch))

    def inference_step():
        trainer.to_float(trainer.eval_step(batch)[0])

    first_step_seconds = time_calls(train_step, 1, 0)
    step_seconds = time_calls(train_step, steps, warmup)
    step_images_per_sec = batch_size / step_seconds
    first_inference_seconds = time_calls(inference_step, 1, 0)
    inference_seconds = time_calls(inference_step, steps, warmup)
    result = {
        "backend": backend_name, "device": trainer.device_name(), "precision": precision,
        "compile": compile, "batch_size": batch_size, "resize": resize, "steps": steps,
        "warmup": warmup,
        "first_step_seconds": first_step_seconds,
        "first_inference_seconds": first_inference_seconds,
        "gemm_peak_gflops": gemm_peak_gflops,
        "step_images_per_sec": step_images_per_sec,
        "inference_images_per_sec": batch_size / inference_seconds,
        "training_gflop_per_image": training_flops(resize, NUM_CLASSES) / 1e9,
    }
    achieved = step_images_per_sec * training_flops(resize, NUM_CLASSES) / 1e9
    result["achieved_gflops"] = achieved
    result["peak_of_gemm_ratio"] = achieved / gemm_peak_gflops

    if end_to_end:
        # Two epochs over steps×batch real images; the second is timed, so one-off compilation
        # in the first does not count against the input pipeline (the first epoch's rate,
        # compilation included, is kept beside it).
        log(f"{backend_name}: end to end on real Fashion-MNIST")
        history = fit_trainer.fit(model, data)
        result["end_to_end_images_per_sec"] = history[-1]["images_per_sec"]
        result["end_to_end_first_epoch_images_per_sec"] = history[0]["images_per_sec"]
        result["data_on_device"] = fit_trainer.data_is_on_device
        result["data_source"], result["data_is_subset"] = data.source, data.is_subset
        result["end_to_end_of_step_ratio"] = (result["end_to_end_images_per_sec"]
                                              / step_images_per_sec)
    result["versions"], result["machine"] = versions(backend_name), machine()
    device_peak = hooks.peak_memory_bytes(trainer.device)
    result["peak_memory_bytes"] = device_peak if device_peak is not None else \
        host_peak_memory_bytes()
    result["peak_memory_kind"] = "device" if device_peak is not None else "host max RSS"
    return result


# The distributions whose versions decide the numbers, per backend.
FRAMEWORK_PACKAGES = {"pytorch": ("torch",), "tensorflow": ("tensorflow", "keras"),
                      "jax": ("jax", "jaxlib", "flax", "optax"), "mxnet": ("mxnet",)}


def versions(backend):
    """Python's, numpy's, this package's and the backend's frameworks' versions."""
    found = {"python": platform.python_version(), "d2l_alexnet": __version__}
    for package in ("numpy", *FRAMEWORK_PACKAGES[backend]):
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            found[package] = None
    return found


def machine():
    """What ran it: the CPU (a vCPU of one host type can be another the next day, and AMX or
    its absence changes the bf16 figures several times over). OMP_NUM_THREADS is there because
    on a shared CPU it decides the seconds per epoch more than the network does."""
    processor, features = cpu_description()
    return {"platform": platform.platform(), "processor": processor, "cpu_features": features,
            "cpu_count": os.cpu_count(), "omp_num_threads": os.environ.get("OMP_NUM_THREADS")}


class TargetReached(TrainingInterrupted):
    """Stops ``fit`` at the evaluation that reached the target (between two steps)."""


def evaluation_steps(steps_per_epoch, epochs, every):
    """The global steps after which the run is evaluated: every ``every`` epochs (rounded to
    a step), the end of each epoch included. An interval of a step or less is every step, said
    without counting its intervals (``--eval-every 1e-9`` counted a billion of them)."""
    if every * steps_per_epoch <= 1:
        return set(range(1, epochs * steps_per_epoch + 1))
    points, count = set(), 1
    while count * every <= epochs + 1e-9:
        points.add(max(1, round(count * every * steps_per_epoch)))
        count += 1
    points.update(epoch * steps_per_epoch for epoch in range(1, epochs + 1))
    return points


GET_THE_FULL_SET = HOW_TO_GET[0].lower() + HOW_TO_GET[1:]  # (the middle of a sentence)


def time_to_accuracy(backend_name, target, recipe, epochs, batch_size=128, precision="fp32",
                     device="auto", resize=CHAPTER_RESIZE, eval_every=0.5, seed=0,
                     limit_train=None, limit_val=None, data_dir=None, log=print,
                     checkpoint_dir=None, checkpoint_every=None, resume_from=None, started=None,
                     before_writing=None, data_on_device=None, compile=False,
                     stop_signals=None):
    """Train until the validation accuracy reaches ``target`` or ``epochs`` are done; returns
    a JSON-ready dict with the curve (one point per evaluation) and, when it got there, the
    seconds, images and epochs it took. The clock starts at ``started`` (a
    ``time.perf_counter()`` reading; default: here, before the framework loads).

    ``checkpoint_dir``: save checkpoints there (every epoch end and every ``checkpoint_every``
    steps), each holding the curve and the seconds so far; ``resume_from``: a checkpoint of such
    a run (see :func:`check_resumable`) to continue, its seconds added to this run's.
    ``data_on_device``: as ``Trainer(data_on_device=...)``.
    ``before_writing()``: called once every check has passed, before the first file is written
    and the training starts (the CLI creates, proves and locks its folders there).
    ``stop_signals``: the CLI's :class:`~d2l_alexnet.train.StopSignals`; with ``checkpoint_dir``
    a first signal then stops at the next step boundary, saves a checkpoint there and raises
    :class:`~d2l_alexnet.train.Interrupted` naming it.

    The step that reaches the target is checkpointed too, so a ``resume_from`` of a run that
    has ended (:func:`run_has_ended`) trains no further: it returns that run's result."""
    started = time.perf_counter() if started is None else started
    startup = StartupClock(started)
    saved = None if resume_from is None else resume_from.metadata[PROGRESS_KEY]
    if saved is not None:
        started -= saved["seconds"]
    d2l = load_backend(backend_name, "bench")
    startup.lap("import")
    problem = precision_problem(d2l, backend_name, precision)
    if problem is not None:
        raise UsageError(problem)
    d2l.set_seed(seed)
    random.seed(seed)
    np.random.seed(seed)
    data = d2l.FashionMNIST(batch_size=batch_size, resize=(resize, resize), seed=seed,
                            data_dir=data_dir, limit_train=limit_train, limit_val=limit_val,
                            log=None)
    if data.is_subset:
        if limit_train is None and limit_val is None:
            raise UsageError(f"the full Fashion-MNIST was not found, and a time to accuracy on "
                             f"the {data.num_examples(True):,}-image subset the package ships "
                             f"is no measure of the chapter's: {GET_THE_FULL_SET}; or pass "
                             "--limit-train N for a quick check on the subset")
        log("note: the full Fashion-MNIST was not found: training on the subset the package "
            "ships, a quick check, not a result")
    # A download is the network's time, not the recipe's: the clock skips it.
    started += data.download_seconds
    startup.last += data.download_seconds
    startup.lap("data")
    model = d2l.AlexNet(num_classes=NUM_CLASSES, resize=resize, **recipe.as_dict())
    trainer = d2l.Trainer(max_epochs=epochs, device=device, precision=precision,
                          progress=False, log=None, data_on_device=data_on_device,
                          **compile_options(compile))
    startup.lap("model")
    trainer.device = trainer.select_device(device)  # (counted in the setup)
    if stop_signals is not None:
        stop_signals.reclaim()  # a framework joining its cluster may have taken SIGTERM
    on_device = trainer.decide_data_on_device(data)  # one that cannot be: refused before writing
    steps_per_epoch = data.num_batches(train=True)
    due = evaluation_steps(steps_per_epoch, epochs, eval_every)
    train_examples = data.num_examples(train=True)
    curve, evaluating = [], [0.0]  # seconds spent in evaluations, in a list for the closures
    parts = 1  # how many processes the run took: one more with each --resume
    ended = None if resume_from is None else run_has_ended(resume_from, target, epochs)
    if saved is not None:
        curve, evaluating[0] = list(saved["curve"]), saved["eval_seconds"]
        parts = saved["parts"] + (ended is None)  # an ended run's result is rebuilt, no part

    def record(trainer, val_loss, val_acc, seconds_in_eval):
        if "to the first evaluation" not in startup.laps:  # (this process's first)
            startup.lap("to the first evaluation")
            log(f"  start-up: {startup.describe()}")
        evaluating[0] += seconds_in_eval
        in_epoch = trainer.epoch_progress.seen if trainer.epoch_progress is not None else 0
        images = len(trainer.history) * train_examples + in_epoch
        point = {"step": trainer.step, "images": images,
                 "epochs": images / train_examples,
                 "seconds": time.perf_counter() - started, "eval_seconds": evaluating[0],
                 "val_loss": val_loss, "val_acc": val_acc,
                 "learning_rate": trainer.learning_rate()}
        curve.append(point)
        log(f"  {point['epochs']:5.2f} epochs  {point['images']:>9,} images  "
            f"{point['seconds']:8.1f} s  val_acc {val_acc:.4f}  val_loss {val_loss:.4f}")
        if val_acc >= target:
            raise TargetReached(f"reached {target}")

    def mid_epoch(trainer):
        if trainer.step in due and not trainer.at_epoch_end():
            began = time.perf_counter()
            result = trainer.validate()
            record(trainer, result["val_loss"], result["val_acc"], time.perf_counter() - began)

    class EvaluationLeftUndone(Callback):
        """A run stopped in a mid-epoch evaluation resumes at that evaluation's step, after
        which mid_epoch never runs: the evaluation is done as the resumed fit starts, or its
        point would be missing from the curve (one at an epoch's end, fit does again)."""

        def on_fit_start(self, trainer, state):
            if all(point["step"] != trainer.step for point in curve):
                mid_epoch(trainer)

    def epoch_end(trainer, epoch_record):  # fit has just evaluated: no second evaluation
        record(trainer, epoch_record["val_loss"], epoch_record["val_acc"],
               epoch_record["val_seconds"])

    def progress():  # saved with each checkpoint, after that step's evaluation (if any)
        return {PROGRESS_KEY: {
            "target": target, "eval_every": eval_every, "precision": precision,
            "val_examples": data.num_examples(train=False), "curve": curve,
            "seconds": time.perf_counter() - started, "eval_seconds": evaluating[0],
            "parts": parts}}

    # Evaluation first, then the checkpoint: a checkpoint at an evaluation's step holds it.
    trainer.step_callbacks.append(startup.after_first_step)
    trainer.step_callbacks.append(mid_epoch)
    trainer.callbacks.append(startup)
    trainer.callbacks.append(EvaluationLeftUndone())
    trainer.callbacks.append(epoch_end)
    if resume_from is not None:
        check_resumable(resume_from, progress()[PROGRESS_KEY], {"train_examples": train_examples})
    if before_writing is not None:
        before_writing()
    checkpointer = None
    if checkpoint_dir is not None:
        checkpointer = Checkpointer(checkpoint_dir, every=checkpoint_every, log=log,
                                    extra_metadata=progress)
        checkpointer.attach(trainer)
        if resume_from is not None:
            checkpointer.last_path = resume_from.path
            log(f"resuming from {resume_from.path}: {resume_from.describe()}, "
                f"{saved['seconds']:,.0f} s so far")
    log(f"{backend_name} {precision}: until val_acc >= {target} or {epochs} epoch(s) of "
        f"{train_examples:,} images, evaluating on {data.num_examples(train=False):,} every "
        f"{eval_every:g} epoch(s); {recipe.describe()}")
    reached = False
    if stop_signals is not None and checkpointer is not None:
        stop_signals.trainer = trainer  # a first signal: stop at a step boundary and save
    try:
        if ended is None:
            trainer.fit(model, data, resume=resume_from)
        else:
            log(f"{resume_from.name} has ended ({ended}): nothing left to train")
            reached = curve[-1]["val_acc"] >= target
    except TargetReached:
        reached = True
        if checkpointer is not None:  # (registered after the evaluations, it missed this step)
            checkpointer.save(trainer)
    except TrainingInterrupted as interrupt:  # a first signal, at a step boundary
        if checkpointer is None or trainer.step == 0:  # (before a step: nothing to keep)
            raise
        path = checkpointer.save(trainer)
        raise Interrupted(interrupt.reason, f"saved {path} ({describe_position(trainer)})"
                          ) from None
    finally:
        if stop_signals is not None:
            stop_signals.trainer = None
    result = {"backend": backend_name, "device": trainer.device_name(), "precision": precision,
              "target": target, "reached": reached, "recipe": recipe.as_dict(),
              "recipe_description": recipe.describe(), "max_epochs": epochs,
              "batch_size": batch_size, "resize": resize, "seed": seed,
              "train_examples": train_examples, "data_on_device": on_device,
              "data_source": data.source, "data_is_subset": data.is_subset,
              "val_examples": data.num_examples(train=False), "eval_every": eval_every,
              "curve": curve, "best_val_acc": max(point["val_acc"] for point in curve),
              "seconds_total": (time.perf_counter() - started if ended is None
                                else saved["seconds"]), "parts": parts,
              "startup_seconds": startup.laps,
              "versions": versions(backend_name), "machine": machine()}
    if reached:
        last = curve[-1]
        result.update(seconds_to_target=last["seconds"], images_to_target=last["images"],
                      epochs_to_target=last["epochs"])
    return result


def run_has_ended(checkpoint, target, epochs):
    """Why the time-to-accuracy run saved in ``checkpoint`` has nothing left to train (its last
    evaluation reached ``target``, or it has done its ``epochs``), or ``None`` if it has not."""
    curve = checkpoint.metadata[PROGRESS_KEY]["curve"]
    if curve and curve[-1]["val_acc"] >= target:
        return (f"it reached val_acc {curve[-1]['val_acc']:.4f} >= {target} after "
                f"{curve[-1]['epochs']:.2f} epochs")
    done = checkpoint.metadata["epoch"]
    if checkpoint.metadata["batch"] == 0 and done >= epochs:
        return f"it has finished {done} epoch(s), --epochs is {epochs}"
    return None


def holds_result_of(json_path, checkpoint):
    """Whether ``json_path`` is the result written by the run ``checkpoint`` ended: the same
    curve, each point's clock to the last digit."""
    try:
        with open(json_path) as handle:
            written = json.load(handle)
    except (OSError, ValueError):
        return False
    return (isinstance(written, dict)
            and written.get("curve") == checkpoint.metadata[PROGRESS_KEY]["curve"])


def check_resumable(checkpoint, this_run, expected=None):
    """Refuse to continue a time-to-accuracy run from ``checkpoint`` when it is not one, or
    when its target, evaluation points, precision or validation set differ from ``this_run``'s
    (a dict with the :data:`RESUME_MUST_MATCH` keys): the curve would mix two measurements.
    ``expected``: more values for :func:`~d2l_alexnet.core.checkpoint.check_compatible`."""
    if expected:
        check_compatible(checkpoint, expected)
    saved = checkpoint.metadata.get(PROGRESS_KEY)
    where = os.path.dirname(checkpoint.path) or "."
    if saved is None:
        raise CheckpointError(f"{checkpoint.name} in {where} was saved by train, not by bench "
                              "--time-to-accuracy: it holds no curve to continue; choose "
                              "another --checkpoint-dir")
    for key in RESUME_MUST_MATCH:
        if key in this_run and saved[key] != this_run[key]:
            raise CheckpointError(
                f"{checkpoint.name} in {where} measured {key.replace('_', ' ')} {saved[key]!r}, "
                f"this run has {this_run[key]!r}: resume with the flags it was started with, "
                "or choose another --checkpoint-dir")


def precision_problem(backend, name, precision):
    """The one line refusing a precision the backend does not train in (``None``: it does)."""
    if precision in backend.PRECISIONS:
        return None
    return (f"--precision {precision} is not supported by the {name} backend: "
            f"use {' or '.join(backend.PRECISIONS)}")


class StartupClock(Callback):
    """Where a run's first seconds go, for the wait before its first evaluation: seconds of this
    process per phase, in order (``laps``), each phase ending when :meth:`lap` names it. Also a
    callback: ``on_fit_start`` ends the trainer's setup (device, model on it, a checkpoint
    read), and its step callback ends the first step, waiting for the device to finish it."""

    def __init__(self, started: float) -> None:
        self.last = started
        self.laps: dict[str, float] = {}

    def lap(self, phase: str) -> None:
        now = time.perf_counter()
        self.laps[phase] = now - self.last
        self.last = now

    def on_fit_start(self, trainer, state) -> None:
        self.lap("setup")

    def after_first_step(self, trainer) -> None:
        if "first step" not in self.laps:
            pending = trainer.epoch_progress.pending  # empty: its loss was read already
            if pending:  # a device works asynchronously: wait for the step's end
                trainer.to_float(pending[-1][0])
            self.lap("first step")

    def describe(self) -> str:
        return ", ".join(f"{phase} {seconds:.1f} s" for phase, seconds in self.laps.items())


def describe_time_to_accuracy(result):
    """The one line that says how it went."""
    if result["reached"]:
        return (f"reached val_acc {result['curve'][-1]['val_acc']:.4f} >= {result['target']} "
                f"after {result['seconds_to_target']:,.0f} s "
                f"({result['seconds_to_target'] / 60:.1f} min), "
                f"{result['images_to_target']:,} images, {result['epochs_to_target']:.2f} epochs")
    best = max(result["curve"], key=lambda point: point["val_acc"])
    return (f"did not reach {result['target']} in {result['max_epochs']} epoch(s): best "
            f"val_acc {best['val_acc']:.4f} after {best['epochs']:.2f} epochs "
            f"({best['seconds']:,.0f} s)")


def plot_time_to_accuracy(result, path):
    """Validation accuracy against minutes and against epochs, with the target."""
    Figure, FigureCanvasAgg = figure_classes()

    figure = Figure(figsize=(8, 3.2))
    FigureCanvasAgg(figure)
    curve = result["curve"]
    for index, (key, label, scale) in enumerate((("seconds", "minutes", 60.0),
                                                 ("epochs", "epochs", 1.0))):
        axes = figure.add_subplot(1, 2, index + 1)
        axes.plot([point[key] / scale for point in curve],
                  [point["val_acc"] for point in curve], "o-")
        axes.axhline(result["target"], linestyle="--", color="grey")
        axes.set(xlabel=label, ylabel="validation accuracy")
    figure.suptitle(f"AlexNet {result['backend']} {result['precision']}: "
                    f"{result['recipe_description']}", fontsize=9)
    figure.tight_layout()
    atomic_write_bytes(path, figure_png(figure))


ROWS = [("gemm_peak_gflops", "matmul peak", "GFLOP/s", "{:,.0f}"),
        ("first_step_seconds", "first step", "s", "{:,.2f}"),
        ("first_inference_seconds", "first inference", "s", "{:,.2f}"),
        ("step_images_per_sec", "training step", "img/s", "{:,.1f}"),
        ("end_to_end_first_epoch_images_per_sec", "first epoch", "img/s", "{:,.1f}"),
        ("end_to_end_images_per_sec", "end to end", "img/s", "{:,.1f}"),
        ("inference_images_per_sec", "inference", "img/s", "{:,.1f}"),
        ("achieved_gflops", "achieved", "GFLOP/s", "{:,.0f}"),
        ("peak_of_gemm_ratio", "of matmul peak", "", "{:.2f}"),
        ("end_to_end_of_step_ratio", "end to end / step", "", "{:.2f}"),
        ("peak_memory_bytes", "peak memory", "MiB", None)]


def format_result(result):
    compiled = result.get("compile")
    lines = [f"AlexNet {result['backend']} on {result['device']}, {result['precision']}, "
             f"batch {result['batch_size']}, {result['resize']}×{result['resize']}"
             + ("" if not compiled else ", torch.compile"
                + ("" if compiled is True else f" ({compiled})"))]
    for key, label, unit, pattern in ROWS:
        if key not in result:
            continue
        value = result[key]
        text = f"{value / 2**20:,.0f}" if pattern is None else pattern.format(value)
        if key == "peak_memory_bytes":
            unit = f"MiB, {result['peak_memory_kind']}"
        lines.append(f"  {label:<20} {text:>12} {unit}")
    if "data_on_device" in result:
        placed = "yes" if result["data_on_device"] else "no"
        lines.append(f"  {'data on the device':<20} {placed:>12} (end to end)")
    if result.get("machine", {}).get("processor"):
        features = result["machine"].get("cpu_features")
        lines.append(f"  {'processor':<20} {result['machine']['processor']}"
                     + (f" ({', '.join(features) or 'no AVX-512, no AMX'})"
                        if features is not None else ""))
    return "\n".join(lines)


class SweepStopped(Exception):
    """A sweep that ended before its last batch size: one size failed (out of memory at the
    largest, say) or a signal stopped it. ``results``: the sizes that finished, which the
    command still writes; ``status``: the exit status to end with."""

    def __init__(self, results, batch_size, reason, status):
        super().__init__(f"batch size {batch_size}: {reason}")
        self.results, self.batch_size, self.reason, self.status = (results, batch_size, reason,
                                                                   status)


# How long a sweep's child may take to end after a signal the terminal sent it too, before the
# sweep passes the signal on itself (a SIGTERM sent to the sweep alone reaches it only so).
CHILD_EXIT_SECONDS = 5


class HeldStdout:
    """stdout for the lines a measurement prints on its way to its files. A write that fails
    (a reader that quit, a full disk) is held, and the lines after it dropped, so that the
    results still reach their files; :meth:`raise_held` then ends the command as any stdout
    that cannot be written does."""

    def __init__(self) -> None:
        self.error: OSError | None = None

    def print(self, text: str) -> None:
        if self.error is None:
            try:
                print(text, flush=True)
            except OSError as error:
                self.error = error

    def raise_held(self) -> None:
        if self.error is not None:
            raise self.error


def sweep(args, shown):
    """Each batch size in a fresh process, its table printed (through ``shown``, a
    :class:`HeldStdout`) as it finishes; returns the list of results, or raises
    :class:`SweepStopped` holding those that finished."""
    results = []
    for batch_size in args.batch_sizes:
        with tempfile.TemporaryDirectory() as scratch:
            path = os.path.join(scratch, "result.json")
            command = [sys.executable, "-m", "d2l_alexnet.bench", "--backend", args.backend,
                       "--batch-size", str(batch_size), "--steps", str(args.steps),
                       "--warmup", str(args.warmup), "--precision", args.precision,
                       "--device", args.device, "--resize", str(args.resize),
                       "--json", path, "--no-end-to-end"]
            if args.compile:
                command += ["--compile"] + ([] if args.compile is True else [args.compile])
            status, reason = run_sweep_child(command, batch_size, results)
            if status != 0:
                raise SweepStopped(results, batch_size, reason, status)
            with open(path) as handle:
                results.append(json.load(handle))
        shown.print(format_result(results[-1]))  # the parent's table: the child's went nowhere
    return results


def run_sweep_child(command, batch_size, results):
    """Run one size's measurement; returns its exit status and, when it failed, why in words
    (its ``error:`` line, which is held back for the sweep's own). Its progress lines pass to
    stderr as they come; its stdout (a table the sweep prints itself, and a ``wrote`` line for a
    scratch file) is dropped. A signal here stops it too and raises :class:`SweepStopped`."""
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             text=True, errors="backslashreplace")
    reason = None
    try:
        for line in child.stderr:
            if line.startswith("error: "):
                reason = line[len("error: "):].strip()
            elif not line.startswith("interrupted"):  # the sweep says that itself
                sys.stderr.write(line)
        status = child.wait()
    except (TrainingInterrupted, StoppedAtOnce, KeyboardInterrupt) as stop:
        name = getattr(stop, "reason", "SIGINT")
        stop_child(child, getattr(signal, name))
        raise SweepStopped(results, batch_size, f"interrupted by {name}",
                           exit_status(name)) from None
    return status, reason or f"its process exited with status {status}"


def stop_child(child, signum):
    """End a sweep's child after ``signum`` stopped the sweep: a Ctrl-C at the terminal reached
    it as well, so give it time to end by itself before sending the signal on."""
    try:
        child.wait(timeout=CHILD_EXIT_SECONDS)
    except subprocess.TimeoutExpired:
        child.send_signal(signum)
        try:
            child.wait(timeout=CHILD_EXIT_SECONDS)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def plot_sweep(results, path):
    Figure, FigureCanvasAgg = figure_classes()

    figure = Figure(figsize=(8, 3.2))
    FigureCanvasAgg(figure)
    results = sorted(results, key=lambda result: result["batch_size"])  # a curve, left to right
    sizes = [result["batch_size"] for result in results]
    left, right = figure.add_subplot(1, 2, 1), figure.add_subplot(1, 2, 2)
    left.plot(sizes, [r["step_images_per_sec"] for r in results], "o-", label="training step")
    left.plot(sizes, [r["inference_images_per_sec"] for r in results], "s--", label="inference")
    left.legend()
    right.plot(sizes, [r["peak_memory_bytes"] / 2**20 for r in results], "o-")
    left.set(ylabel="images/s")
    right.set(ylabel="peak memory (MiB)")
    for axes in (left, right):
        axes.set(xscale="log", xlabel="batch size")
        axes.set_xticks(sizes, [str(size) for size in sizes])
        axes.minorticks_off()  # the log axis' own labels (2×10¹...) would print over ours
    first = results[0]
    compiled = {True: ", compiled", False: ""}.get(first.get("compile", False),
                                                  f", compiled ({first.get('compile')})")
    figure.suptitle(f"AlexNet {first['backend']}, {first['precision']}{compiled}, "
                    f"{first['device']}")
    figure.tight_layout()
    atomic_write_bytes(path, figure_png(figure))


def main(argv=None):
    parser = command_parser("bench", __doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    add_backend_argument(parser)
    add_batch_size_argument(parser)
    # (None: not given, so that --time-to-accuracy can refuse them rather than ignore them)
    parser.add_argument("--steps", type=int, default=None,
                        help=f"timed steps after warm-up (default {DEFAULT_STEPS})")
    parser.add_argument("--warmup", type=int, default=None,
                        help=f"untimed steps first (default {DEFAULT_WARMUP})")
    add_precision_argument(parser)
    add_compile_argument(parser)
    add_device_argument(parser)
    add_data_on_device_argument(parser)
    parser.add_argument("--resize", type=int, default=CHAPTER_RESIZE,
                        help=f"side of the images measured on (default {CHAPTER_RESIZE})")
    parser.add_argument("--batch-sizes", type=int, nargs="+", metavar="B",
                        help="sweep these batch sizes (each in its own process)")
    parser.add_argument("--json", type=path_argument, metavar="FILE",
                        help="also write the results as JSON")
    parser.add_argument("--plot", type=path_argument, metavar="FILE",
                        help="with --batch-sizes: the PNG (default: "
                        "bench-<backend>-<precision>.png)")
    parser.add_argument("--no-end-to-end", dest="end_to_end", action="store_false",
                        default=None, help="skip the real-data measurement")
    accuracy = parser.add_argument_group("time to accuracy")
    accuracy.add_argument("--time-to-accuracy", type=float, default=None, metavar="ACC",
                          help="train until the validation accuracy reaches ACC (0.88: the "
                               "chapter's) and report the time, images and epochs it took")
    accuracy.add_argument("--epochs", type=int, default=None,
                          help="at most this many (default: the --recipe's, 10 for the "
                               "chapter's); a schedule is planned over them")
    accuracy.add_argument("--eval-every", type=float, default=None, metavar="E",
                          help="evaluate every E epochs (default 0.5)")
    accuracy.add_argument("--seed", type=int, default=None, help="default 0")
    add_data_arguments(accuracy)
    accuracy.add_argument("--out", type=path_argument, default=None, metavar="DIR",
                          help="where time-to-accuracy.json and .png go (default "
                               "bench-time-to-accuracy/<backend>-<precision>-<recipe>)")
    add_checkpoint_arguments(accuracy)
    add_recipe_arguments(parser)
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    warn = lambda message: print(message, file=sys.stderr)  # noqa: E731
    try:
        with StopSignals() as args.stop_signals, FolderLocks(log=warn) as args.locks:
            return exit_status_of(run, args)
    except Interrupted as stop:  # a checkpointed time to accuracy, saved at a step boundary
        warn(f"interrupted by {stop.signal_name}: {stop.message}; resume with: "
             f"{bench_resume_command(args)}")
        return exit_status(stop.signal_name)
    except (TrainingInterrupted, StoppedAtOnce) as stop:
        warn(f"interrupted by {stop.reason}{what_is_kept(args)}")
        return exit_status(stop.reason)
    except KeyboardInterrupt:  # (a Ctrl-C before the handlers were in place)
        warn(f"interrupted{what_is_kept(args)}")
        return 130
    finally:
        # The locks released: a time to accuracy stopped before it wrote anything (a Ctrl-C in
        # its first epoch) leaves no folder it made; one that wrote keeps it (only empty ones go).
        remove_directories(getattr(args, "made_folders", []))


def what_is_kept(args):
    """The end of the line of a run stopped at once: for a time to accuracy, the checkpoint
    that resumes it (or how to have one); a throughput measurement keeps nothing."""
    if getattr(args, "time_to_accuracy", None) is None:
        return ": nothing was measured to the end, nothing written"
    if args.checkpoint_dir is None:
        return (": no checkpoint to resume from: run with --checkpoint-dir DIR (and "
                "--checkpoint-every N for checkpoints within an epoch) to be able to resume")
    found = list_checkpoints(args.checkpoint_dir) if os.path.isdir(args.checkpoint_dir) else []
    if not found:
        return f": no checkpoint was saved in {args.checkpoint_dir} yet"
    return f": the last checkpoint is {found[0][1]}; resume with: {bench_resume_command(args)}"


def bench_resume_command(args):
    """The exact command line that continues this time-to-accuracy run."""
    return resume_command(args, "d2l_alexnet.bench")


def run(args):
    """The measurement the flags ask for: one batch size, a sweep, or the time to accuracy."""
    sizes = [args.batch_size, *(args.batch_sizes or [])] + ([] if args.steps is None
                                                             else [args.steps])
    if min(sizes) < 1:
        raise UsageError("--batch-size, --steps and --batch-sizes must be at least 1")
    if args.warmup is not None and args.warmup < 0:
        raise UsageError(f"--warmup must be at least 0 (steps left untimed), got {args.warmup}")
    if args.resize < minimum_resize():
        raise UsageError(f"--resize must be at least {minimum_resize()} for AlexNet")
    args.backend = canonical_name(args.backend)
    check_compile(args.compile, args.backend)
    if args.time_to_accuracy is not None:  # its clock starts before the import
        return run_time_to_accuracy(args)
    args.steps = DEFAULT_STEPS if args.steps is None else args.steps
    args.warmup = DEFAULT_WARMUP if args.warmup is None else args.warmup
    args.end_to_end = args.end_to_end is not False
    if args.recipe is not None or args.epochs is not None:
        raise UsageError("--recipe and --epochs go with --time-to-accuracy ACC")
    # The time to accuracy's flags: a throughput measurement would ignore them without a word.
    ignored = [f"--{name.replace('_', '-')}" for name in (*RECIPE_FLAGS, "eval_every", "seed",
                                                          "limit_train", "limit_val")
               if getattr(args, name) is not None]
    if ignored:
        raise UsageError(f"{', '.join(ignored)} {'goes' if len(ignored) == 1 else 'go'} with "
                         "--time-to-accuracy ACC: a throughput measurement times the chapter's "
                         "step on the images it draws itself")
    if args.data_dir is not None and (args.batch_sizes or not args.end_to_end):
        raise UsageError("--data-dir is where the end-to-end run finds Fashion-MNIST, and "
                         + ("a sweep" if args.batch_sizes else "--no-end-to-end")
                         + " times the step alone, on images it draws itself: leave out "
                           "--data-dir")
    check_data_dir(args.data_dir)
    for flag, used in (("--checkpoint-dir", args.checkpoint_dir is not None),
                       ("--checkpoint-every", args.checkpoint_every is not None),
                       ("--resume", args.resume)):
        if used:
            raise UsageError(f"{flag} goes with --time-to-accuracy ACC (a throughput "
                             "measurement is too short to resume)")
    if args.out is not None:
        raise UsageError("--out goes with --time-to-accuracy ACC: a throughput measurement "
                         "writes --json FILE (and a sweep's --plot FILE)")
    if args.plot is not None and not args.batch_sizes:
        raise UsageError("--plot goes with --batch-sizes B [B ...]: one batch size draws no "
                         "curve (--json FILE keeps its numbers)")
    if args.batch_sizes and any(flag.split("=", 1)[0] == "--batch-size" for flag in args.argv):
        raise UsageError("--batch-size goes with one measurement: a sweep measures the sizes "
                         "--batch-sizes names; give that size among them")
    check_data_placement(args)
    for flag, path in (("--json", args.json), ("--plot", args.plot)):
        if path is not None and not path.strip():
            raise UsageError(f"{flag} needs a file name, got an empty one")
    compiled = "" if not args.compile else "-compiled"  # beside an eager sweep's, not over it
    plot_path = (args.plot or f"bench-{args.backend}-{args.precision}{compiled}.png"
                 if args.batch_sizes else None)
    check_output_names(args.json, plot_path)
    if plot_path is not None:
        check_plots()
    backend = load_backend(args.backend, "bench")
    check = precision_problem(backend, args.backend, args.precision)
    if check is not None:
        raise UsageError(check)
    # Proven writable, the folders made for it go at once and are made again as the results are
    # written: one kept empty through a long measurement may become another bench's, which a
    # stop or refusal of this one (no folder of ours left) would then have removed.
    remove_directories(check_output_files(("--json", args.json), ("--plot", plot_path)))
    stopped, shown = None, HeldStdout()
    if args.batch_sizes:
        try:
            output = sweep(args, shown)
        except SweepStopped as stop:
            stopped, output = stop, stop.results
    else:
        output = measure(args.backend, args.batch_size, args.steps, args.precision,
                         args.device, args.resize, args.warmup, args.end_to_end,
                         log=lambda message: print(message, file=sys.stderr),
                         data_on_device=DATA_ON_DEVICE[args.data_on_device],
                         compile=args.compile, data_dir=args.data_dir)
        shown.print(format_result(output))
    if stopped is not None and not output:
        return end_of_sweep(stopped, [])
    outputs = [] if args.json is None else [(args.json,
                                             lambda: atomic_write_json(args.json, output))]
    if plot_path is not None:
        outputs.append((plot_path, lambda: plot_sweep(output, plot_path)))
    write_results(output, outputs, shown)
    shown.raise_held()
    if stopped is not None:
        return end_of_sweep(stopped, [path for path, _ in outputs])
    return 0


def end_of_sweep(stop, written):
    """Say in one line which size stopped the sweep and why, and where the sizes that finished
    went; returns the exit status (the failed size's, or the signal's)."""
    finished = [result["batch_size"] for result in stop.results]
    if finished:  # (a sweep always writes its plot)
        kept = (f"the sizes that finished ({', '.join(map(str, finished))}) are in "
                f"{' and '.join(written)}")
    else:
        kept = "no size finished, nothing was written"
    if stop.reason.startswith("interrupted"):
        print(f"{stop.reason} at batch size {stop.batch_size}; {kept}", file=sys.stderr)
    else:
        print(f"error: batch size {stop.batch_size} failed ({stop.reason}); {kept}",
              file=sys.stderr)
    return stop.status


def check_data_placement(args):
    """``--data-on-device`` places the end-to-end run's data, the only measurement that reads
    any: refuse it (exit 2) where none runs, rather than ignore it."""
    if args.data_on_device == "auto":
        return
    if args.batch_sizes:
        raise UsageError(f"--data-on-device {args.data_on_device} goes with the end-to-end run, "
                         "and --batch-sizes runs none (each size times the step on synthetic "
                         "images): drop --data-on-device")
    if not args.end_to_end:
        raise UsageError(f"--data-on-device {args.data_on_device} places the end-to-end run's "
                         "data, which --no-end-to-end skips: drop one of them")


def check_output_names(json_path, plot_path):
    """Refuse (exit 2), before anything is measured, an output name that would fail or lose
    data after it: a plot not named .png (it is a PNG), or one file for both."""
    if (plot_path is not None and not plot_path.lower().endswith(".png")
            and not os.path.isdir(plot_path)):  # (a folder: check_output_path says so)
        raise UsageError(f"--plot {plot_path} must end in .png: the plot is written as a PNG "
                         "image")
    if json_path is not None and plot_path is not None and same_file(json_path, plot_path):
        raise UsageError(f"--json {json_path} and the plot {plot_path} are one file: the plot "
                         "would replace the results; name two files")


def same_file(path, other):
    """Whether two paths name one file (through links too), or would once written."""
    try:
        return os.path.samefile(path, other)
    except OSError:
        return os.path.realpath(path) == os.path.realpath(other)


def check_plots():
    """Exit 2 in one line, before measuring, where matplotlib cannot draw the plot."""
    try:
        check_can_draw()
    except FigureError as error:
        raise UsageError(str(error)) from None


def write_results(results, outputs, shown):
    """Write each ``(path, write)`` of ``outputs``, the JSON first, saying so through ``shown``
    (a :class:`HeldStdout`). A failure (the disk filled while measuring, say) must not lose the
    measurement: it raises :class:`OutputWriteError` (exit 1) saying where the results are: a
    JSON written already, or else a temporary file (or, failing that, stdout)."""
    written = []
    for path, write in outputs:
        try:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            write()
        except (OSError, FigureError) as error:
            if any(done.endswith(".json") for done in written):
                safe = f"the results are safe in {written[0]}"
            else:
                safe = save_elsewhere(results)
            reason = failure_reason(error) if isinstance(error, OSError) else str(error)
            raise OutputWriteError(f"cannot write {path} ({reason}); {safe}") from None
        written.append(path)
        shown.print(f"wrote {path}")


def save_elsewhere(results):
    """The end of a failed write's message: the results saved to a temporary file."""
    fallback = os.path.join(tempfile.gettempdir(), f"d2l_alexnet-bench-{os.getpid()}.json")
    try:
        atomic_write_json(fallback, results)
    except OSError:
        print(json.dumps(results, indent=2))
        return "the results could not be saved anywhere: they are printed above"
    return f"the results were saved to {fallback} instead"


def check_output_files(*flags_and_paths):
    """Before measuring (a sweep or a time to accuracy takes long): create the folder of each
    ``(flag, file)`` given (``None``: not) and prove it writable; exit 2 otherwise, leaving no
    folder made here. Returns the folders it made (for the caller to remove should the
    measurement be refused or stopped)."""
    created = []
    try:
        for flag, path in flags_and_paths:
            if path is not None:
                created += check_output_path(flag, path, is_file=True)
    except UsageError:
        remove_directories(created)
        raise
    return created


def run_time_to_accuracy(args):
    """``--time-to-accuracy``: check the flags, measure, print the line, write JSON and PNG. A
    recipe that diverges ends in a ``TrainingError`` (exit 1): no measurement."""
    started = time.perf_counter()  # the user's wait starts here, reading a checkpoint included
    args.eval_every = 0.5 if args.eval_every is None else args.eval_every
    args.seed = 0 if args.seed is None else args.seed
    check_seed(args.seed)
    if not 0 < args.time_to_accuracy <= 1:
        raise UsageError(f"--time-to-accuracy is a validation accuracy between 0 and 1, got "
                         f"{args.time_to_accuracy} (the chapter's is 0.88)")
    if not 0 < args.eval_every < math.inf:
        raise UsageError(f"--eval-every must be a positive number of epochs, got "
                         f"{args.eval_every}")
    check_counts(("--limit-train", args.limit_train), ("--limit-val", args.limit_val))
    for flag, used in (("--json", args.json), ("--plot", args.plot)):
        if used is not None:
            raise UsageError(f"{flag} does not go with --time-to-accuracy, which writes "
                             "time-to-accuracy.json and .png into --out DIR")
    throughput = [flag for flag, given in (("--batch-sizes", args.batch_sizes is not None),
                                           ("--steps", args.steps is not None),
                                           ("--warmup", args.warmup is not None),
                                           ("--no-end-to-end", args.end_to_end is False))
                  if given]
    if throughput:
        raise UsageError(f"{', '.join(throughput)} {'goes' if len(throughput) == 1 else 'go'} "
                         "with a throughput measurement: --time-to-accuracy ACC trains until "
                         "the target or --epochs and times all of it; drop "
                         f"{'it' if len(throughput) == 1 else 'them'}")
    resolve_recipe(args)
    if args.out is not None and not args.out.strip():  # (not the default folder, silently)
        raise UsageError("--out needs a folder name, got an empty one")
    out = args.out = args.out or os.path.join(
        "bench-time-to-accuracy", f"{args.backend}-{args.precision}-{args.recipe_name}")
    if os.path.exists(out) and not os.path.isdir(out):
        raise UsageError(f"--out {out} is a file: name a directory")
    check_plots()  # time-to-accuracy.png, drawn after all the training
    validate_checkpoint_flags(args)  # train's rules; reads the checkpoint to resume from
    if args.resume_from is not None:
        check_resumable(args.resume_from, {"target": args.time_to_accuracy,
                                           "eval_every": args.eval_every,
                                           "precision": args.precision})
    json_path, plot_path = (os.path.join(out, f"time-to-accuracy.{kind}") for kind in ("json",
                                                                                       "png"))
    ended = (None if args.resume_from is None else
             run_has_ended(args.resume_from, args.time_to_accuracy, args.epochs))
    if ended is not None and holds_result_of(json_path, args.resume_from):
        print(f"{args.resume_from.name} in {args.checkpoint_dir}: the run has ended ({ended}): "
              f"nothing left to train; its result stays in {json_path}")
        return 0
    args.made_folders = [folder for path in (out, args.checkpoint_dir) if path is not None
                         for folder in missing_directories(path)]
    shown = HeldStdout()
    result = time_to_accuracy(args.backend, args.time_to_accuracy, args.recipe,
                              args.epochs, args.batch_size, args.precision, args.device,
                              args.resize, args.eval_every, args.seed, args.limit_train,
                              args.limit_val, args.data_dir,
                              log=shown.print,  # (a held stdout error: the run goes on)
                              checkpoint_dir=args.checkpoint_dir,
                              checkpoint_every=args.checkpoint_every,
                              resume_from=args.resume_from, started=started,
                              data_on_device=DATA_ON_DEVICE[args.data_on_device],
                              compile=args.compile, stop_signals=args.stop_signals,
                              # train's checks, folders and locks, before the first step
                              before_writing=lambda: claim_directories(
                                  args, "d2l_alexnet.bench", OUTPUT_MARGIN_BYTES,
                                  "time-to-accuracy.json and .png"))
    result["recipe_name"] = args.recipe_name
    result["command"] = shlex.join(["python", "-m", "d2l_alexnet.bench", *args.argv])
    shown.print(describe_time_to_accuracy(result))
    write_results(result, [(json_path, lambda: atomic_write_json(json_path, result)),
                           (plot_path, lambda: plot_time_to_accuracy(result, plot_path))], shown)
    shown.raise_held()
    return 0


if __name__ == "__main__":
    sys.exit(main())
