"""Callbacks (``core/callbacks.py``) on the tiny numpy backend: the metrics log, the best
weights, early stopping and the TensorBoard log, and how each survives a resumed run."""

import json
import re
import shutil
import sys
from types import SimpleNamespace

import numpy as np
import pytest

from d2l_alexnet.core.callbacks import (METRICS_KEYS, TENSORBOARD_KEYS, EarlyStopping, KeepBest,
                                        MetricsLog, PlotCurves, RecordWriteError,
                                        TensorBoardError, TensorBoardLog)
from d2l_alexnet.core.checkpoint import Checkpointer, latest_checkpoint, read_checkpoint
from d2l_alexnet.core.progress import ProgressBoard
from d2l_alexnet.core.trainer import TrainingInterrupted
from d2l_alexnet.core.weights import load_safetensors
from numpy_backend import FashionMNIST, NumpyTrainer, SoftmaxRegression, set_seed
from tensorboard_events import scalars


@pytest.fixture(scope="module")
def data():
    return FashionMNIST(batch_size=10, resize=67, limit_train=30, limit_val=20, log=None)


def stub_trainer(accuracies):
    """What the accuracy callbacks read of a trainer: a history, and where a stop goes."""
    trainer = SimpleNamespace(history=[{"epoch": epoch, "val_acc": acc}
                                       for epoch, acc in enumerate(accuracies, 1)],
                              is_first_replica=True, stop_reason=None)
    trainer.request_stop = lambda reason: setattr(trainer, "stop_reason", reason)
    return trainer


def test_early_stopping_counts_evaluations_without_a_higher_accuracy():
    trainer, stopping = stub_trainer([]), EarlyStopping(patience=2)
    stopping.on_fit_start(trainer, None)
    for epoch, acc in enumerate([0.5, 0.6, 0.6, 0.55], 1):  # a tie is no improvement
        assert trainer.stop_reason is None
        stopping.on_evaluation(trainer, {"epoch": epoch, "val_acc": acc})
    assert trainer.stop_reason == ("early stopping: val_acc has not improved on 0.6000 "
                                   "(epoch 2) for 2 epochs")
    assert stopping.state() == {"best_val_acc": 0.6, "best_epoch": 2,
                                "evaluations_without_improvement": 2}


def test_a_resumed_state_or_history_continues_the_count():
    saved = {"best_val_acc": 0.7, "best_epoch": 1, "evaluations_without_improvement": 1}
    from_state, from_history = EarlyStopping(2), EarlyStopping(2)
    from_state.on_fit_start(stub_trainer([0.7, 0.6]), saved)
    from_history.on_fit_start(stub_trainer([0.7, 0.6]), None)  # a checkpoint without it
    assert from_state.state() == from_history.state() == saved
    stopped = stub_trainer([0.7, 0.6, 0.6])
    EarlyStopping(2).on_fit_start(stopped, None)  # it had stopped: it stays stopped
    assert stopped.stop_reason.startswith("early stopping: val_acc has not improved on 0.7000")


@pytest.mark.parametrize("patience", [0, -1, 1.5, True, np.int64(0), np.float64(2.0)])
def test_a_patience_below_one_is_refused(patience):
    with pytest.raises(ValueError, match="patience must be a whole number of at least 1"):
        EarlyStopping(patience)


def test_a_numpy_integer_patience_is_a_whole_number():
    """np.int64(2) (a count read from an array, say) was refused as no whole number."""
    stopping = EarlyStopping(patience=np.int64(2))
    assert stopping.patience == 2 and type(stopping.patience) is int


def fit(data, folder, epochs=3, stop_at=None, resume=None, patience=1):
    """A run with every callback writing into ``folder``: ``(trainer, history)``; ``stop_at``
    interrupts it after that step and saves a checkpoint there, as the CLI does on a signal."""
    set_seed(0)
    folder.mkdir(exist_ok=True)
    trainer = NumpyTrainer(max_epochs=epochs, progress=False, log=None,
                           board=ProgressBoard(live=False),
                           callbacks=[MetricsLog(folder / "metrics.jsonl"),
                                      KeepBest(folder / "best.safetensors"),
                                      EarlyStopping(patience)])
    checkpointer = Checkpointer(folder / "checkpoints", log=None).attach(trainer)
    if stop_at is not None:
        trainer.step_callbacks.append(
            lambda trainer: setattr(trainer, "stop_requested", "test")
            if trainer.step == stop_at else None)
        with pytest.raises(TrainingInterrupted):
            trainer.fit(SoftmaxRegression(lr=0.5), data)
        return trainer, read_checkpoint(checkpointer.save(trainer))
    return trainer, trainer.fit(SoftmaxRegression(lr=0.5), data, resume=resume)


def lines_without_seconds(path):
    return [{key: value for key, value in json.loads(line).items() if key != "seconds"}
            for line in path.read_text().splitlines()]


def test_each_evaluation_appends_one_line_with_the_learning_rate(data, tmp_path):
    trainer, history = fit(data, tmp_path, epochs=2, patience=5)
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [tuple(line) for line in lines] == [METRICS_KEYS] * 2
    assert [(line["epoch"], line["step"], line["images_seen"], line["lr"]) for line in lines] \
        == [(1, 3, 30, 0.5), (2, 6, 60, 0.5)]
    assert [line["val_acc"] for line in lines] == [record["val_acc"] for record in history]


def without_timing(history):
    return [{key: value for key, value in record.items()
             if key not in ("seconds", "val_seconds", "images_per_sec")} for record in history]


@pytest.mark.parametrize("stop_at", [2, 4, 7])  # mid-epoch 1, mid-epoch 2, mid-epoch 3
def test_a_resumed_run_writes_what_an_uninterrupted_one_does(data, tmp_path, stop_at):
    straight_trainer, straight = fit(data, tmp_path / "straight", epochs=4, patience=1)
    assert [record["val_acc"] for record in straight] == [0.1, 0.3, 0.2]  # stopped after 3
    assert straight_trainer.stop_reason == ("early stopping: val_acc has not improved on "
                                            "0.3000 (epoch 2) for 1 epochs")
    _, saved = fit(data, tmp_path / "resumed", epochs=4, stop_at=stop_at, patience=1)
    # A line the checkpoint does not cover (a run killed after it was written): dropped.
    with open(tmp_path / "resumed" / "metrics.jsonl", "a") as stream:
        stream.write(json.dumps({"epoch": saved.metadata["epoch"] + 1}) + "\n")
    trainer, resumed = fit(data, tmp_path / "resumed", epochs=4, resume=saved, patience=1)
    assert without_timing(resumed) == without_timing(straight)
    assert trainer.stop_reason == straight_trainer.stop_reason
    for name in ("straight", "resumed"):
        assert len((tmp_path / name / "metrics.jsonl").read_text().splitlines()) == len(straight)
    assert lines_without_seconds(tmp_path / "resumed" / "metrics.jsonl") == \
        lines_without_seconds(tmp_path / "straight" / "metrics.jsonl")
    assert (tmp_path / "resumed" / "best.safetensors").read_bytes() == \
        (tmp_path / "straight" / "best.safetensors").read_bytes()
    best = max(straight, key=lambda record: record["val_acc"])
    _, metadata = load_safetensors(str(tmp_path / "straight" / "best.safetensors"))
    assert (metadata["epoch"], float(metadata["val_acc"])) == (str(best["epoch"]),
                                                               best["val_acc"])


def test_an_early_stop_resumed_from_a_lagging_state_counts_from_the_history(data, tmp_path):
    """A checkpoint whose early-stopping state is an epoch behind its history (a Checkpointer
    listed before the callback, in a version that saved it first) resumed a stopped run, which
    trained an epoch more than the run it continued."""
    straight_trainer, straight = fit(data, tmp_path / "straight", epochs=4, patience=1)
    assert len(straight) == 3 and straight_trainer.stop_reason is not None
    saved = latest_checkpoint(tmp_path / "straight" / "checkpoints", log=None)
    saved.metadata["callbacks"]["early_stopping"] = {
        "best_val_acc": 0.3, "best_epoch": 2, "evaluations_without_improvement": 0}
    trainer, resumed = fit(data, tmp_path / "straight", epochs=4, resume=saved, patience=1)
    assert without_timing(resumed) == without_timing(straight)
    assert trainer.stop_reason == straight_trainer.stop_reason


class CountEvaluations:
    """A lesson's own callback with a state: the evaluations it has seen."""
    key = "count"

    def __init__(self):
        self.count = 0

    def on_evaluation(self, trainer, record):
        self.count += 1

    def state(self):
        return self.count


def test_a_checkpointer_listed_first_saves_the_state_the_others_reach_at_the_epoch(
        data, tmp_path):
    """callbacks=[Checkpointer(d), ...], Keras' order, saved the state of the callbacks after it
    as they were an epoch before: Lightning runs its checkpoint callbacks last, and so does
    the trainer now."""
    counter = CountEvaluations()
    trainer = NumpyTrainer(max_epochs=2, progress=False, log=None,
                           board=ProgressBoard(live=False),
                           callbacks=[Checkpointer(tmp_path, keep=5, log=None), counter])
    trainer.fit(SoftmaxRegression(lr=0.5), data)
    saved = [read_checkpoint(path) for path in sorted(tmp_path.glob("*.ckpt"))]
    assert [(one.metadata["epoch"], one.metadata["callbacks"]["count"]) for one in saved] == [
        (1, 1), (2, 2)]


def test_a_record_that_cannot_be_written_stops_the_run_in_one_line(data, tmp_path):
    missing = tmp_path / "gone" / "metrics.jsonl"
    trainer = NumpyTrainer(max_epochs=1, progress=False, log=None,
                           board=ProgressBoard(live=False), callbacks=[MetricsLog(missing)])
    # Its folder is removed mid-run (MetricsLog made it when fit started).
    trainer.step_callbacks.append(lambda trainer: shutil.rmtree(missing.parent,
                                                                ignore_errors=True))
    with pytest.raises(RecordWriteError) as error:
        trainer.fit(SoftmaxRegression(lr=0.5), data)
    assert str(error.value) == (f"cannot write {missing} (No such file or directory): make "
                                "its folder again; a run with --checkpoint-dir continues with "
                                "--resume")
    assert error.value.exit_status == 1


@pytest.mark.parametrize("make_record", [MetricsLog, PlotCurves, KeepBest])
def test_a_record_under_a_file_is_refused_in_one_line_at_the_start(data, tmp_path, make_record):
    (tmp_path / "afile").write_text("")
    path = tmp_path / "afile" / "record"
    trainer = NumpyTrainer(max_epochs=1, progress=False, log=None,
                           board=ProgressBoard(live=False), callbacks=[make_record(path)])
    with pytest.raises(RecordWriteError, match="a file stands where one of its folders should "
                                               "be: choose another path"):
        trainer.fit(SoftmaxRegression(lr=0.5), data)
    assert trainer.step == 0


def test_a_record_that_cannot_be_written_stops_the_run_after_the_epochs_checkpoint(
        data, tmp_path):
    """A full disk for metrics.jsonl lost the epoch: the error came before the Checkpointer
    (attached after the records) had saved it. It now stops the run once every callback has
    acted, and the checkpoint holds the epoch."""
    missing = tmp_path / "gone" / "metrics.jsonl"
    trainer = NumpyTrainer(max_epochs=2, progress=False, log=None,
                           board=ProgressBoard(live=False), callbacks=[MetricsLog(missing)])
    checkpointer = Checkpointer(tmp_path / "checkpoints", log=None).attach(trainer)
    trainer.step_callbacks.append(lambda trainer: shutil.rmtree(missing.parent,
                                                                ignore_errors=True))
    with pytest.raises(RecordWriteError, match="No such file or directory"):
        trainer.fit(SoftmaxRegression(lr=0.5), data)
    saved = read_checkpoint(checkpointer.last_path)
    assert (saved.metadata["epoch"], saved.metadata["batch"]) == (1, 0)


def test_the_records_make_their_folders_when_fit_starts(data, tmp_path):
    """MetricsLog and PlotCurves into folders that do not exist yet make them, as KeepBest
    and TensorBoardLog do (and Keras' CSVLogger): MetricsLog failed with advice to make a
    folder 'writable again' that had never been there."""
    metrics, curves = tmp_path / "new" / "metrics.jsonl", tmp_path / "other" / "curves.png"
    NumpyTrainer(max_epochs=1, progress=False, log=None, board=ProgressBoard(live=False),
                 callbacks=[MetricsLog(metrics), PlotCurves(curves)]).fit(
        SoftmaxRegression(lr=0.5), data)
    assert len(metrics.read_text().splitlines()) == 1
    assert curves.read_bytes().startswith(b"\x89PNG")


def test_every_file_and_folder_given_with_a_tilde_is_in_the_home_folder(data, tmp_path,
                                                                        monkeypatch):
    """The README says the Python API expands ``~`` as the CLI's flags do; the callbacks, the
    Checkpointer, the weights files and ImageFolder wrote into (or looked in) a folder named
    ``~`` in the current one, which ``rm -rf ~`` then takes for home."""
    from PIL import Image

    from d2l_alexnet.core.images import ImageFolder, read_image
    from d2l_alexnet.core.weights import read_tensors, save_canonical

    home, here = tmp_path / "home", tmp_path / "here"
    here.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(here)
    NumpyTrainer(max_epochs=1, progress=False, log=None, board=ProgressBoard(live=False),
                 callbacks=[MetricsLog("~/run/metrics.jsonl"), PlotCurves("~/run/curves.png"),
                            KeepBest("~/run/best.safetensors")]).fit(
        SoftmaxRegression(lr=0.5), data)
    Checkpointer("~/ck", log=None)
    tensors = {"w": np.ones((2, 2), np.float32)}
    save_canonical("~/w.safetensors", tensors, 67, 10, "test")
    assert read_tensors("~/w.safetensors")[0]["w"].tolist() == tensors["w"].tolist()
    for name in ("a", "b"):
        (home / "images" / name).mkdir(parents=True)
        for index in range(2):
            Image.new("L", (4, 4), 0).save(home / "images" / name / f"{index}.png")
    assert ImageFolder("~/images", resize=4, log=None).classes == ["a", "b"]
    assert read_image("~/images/a/0.png", resize=4).shape == (4, 4, 3)
    assert sorted(path.name for path in home.iterdir() if not path.name.startswith(".")) == [
        "ck", "images", "run", "w.safetensors"]  # (.cache: matplotlib's)
    assert sorted(path.name for path in (home / "run").iterdir()) == [
        "best.safetensors", "curves.png", "metrics.jsonl"]
    assert list(here.iterdir()) == []  # no folder named ~


def test_a_fit_its_checkpointer_refuses_leaves_the_records_of_the_fit_before(data, tmp_path):
    """A notebook cell run again: the Checkpointer refuses the second fit (its folder holds the
    first's checkpoints), but MetricsLog, started before it, had already emptied the first
    fit's metrics.jsonl and PlotCurves redrawn its curves."""
    from d2l_alexnet.core.checkpoint import CheckpointError

    metrics, curves = tmp_path / "metrics.jsonl", tmp_path / "curves.png"
    trainer = NumpyTrainer(max_epochs=1, progress=False, log=None,
                           board=ProgressBoard(live=False),
                           callbacks=[MetricsLog(metrics), PlotCurves(curves)])
    Checkpointer(tmp_path / "ckpt", log=None).attach(trainer)
    model = SoftmaxRegression(lr=0.5)
    trainer.fit(model, data)
    before = metrics.read_bytes(), curves.read_bytes()
    with pytest.raises(CheckpointError, match="already holds checkpoints"):
        trainer.fit(model, data)
    assert (metrics.read_bytes(), curves.read_bytes()) == before
    assert len(before[0].splitlines()) == 1


def test_keep_best_makes_its_folder_first_and_says_when_the_best_so_far_was_not_kept(
        data, tmp_path):
    path = tmp_path / "new" / "folder" / "best.safetensors"
    trainer = NumpyTrainer(max_epochs=1, progress=False, log=None,
                           board=ProgressBoard(live=False), callbacks=[KeepBest(path)])
    trainer.fit(SoftmaxRegression(lr=0.5), data)
    assert path.is_file()
    # A run checkpointed without KeepBest, resumed with it: its best epoch's weights are gone.
    set_seed(0)
    first = NumpyTrainer(max_epochs=1, progress=False, log=None, board=ProgressBoard(live=False))
    checkpointer = Checkpointer(tmp_path / "checkpoints", log=None).attach(first)
    first.fit(SoftmaxRegression(lr=0.5), data)
    lines, later = [], tmp_path / "later" / "best.safetensors"
    resumed = NumpyTrainer(max_epochs=2, progress=False, log=lines.append,
                           board=ProgressBoard(live=False), callbacks=[KeepBest(later)])
    resumed.fit(SoftmaxRegression(lr=0.5), data, resume=read_checkpoint(checkpointer.last_path))
    assert [line for line in lines if line.startswith("note: ")] == [
        f"note: {later} does not hold the best epoch so far (epoch 1, val_acc "
        f"{first.history[0]['val_acc']:.4f}): its weights were not kept, or were kept in "
        "another folder; the file is written when a later epoch does better"]


@pytest.mark.parametrize("other_lr, other_epochs", [(0.1, 2), (0.5, 1)])
def test_a_resume_says_when_the_file_holds_another_runs_best_and_removes_it(
        data, tmp_path, other_lr, other_epochs):
    """A resume with KeepBest into a folder holding another run's best.safetensors said
    nothing and left that run's weights there, as if they were its own best."""
    path = tmp_path / "a" / "best.safetensors"
    set_seed(0)
    NumpyTrainer(max_epochs=other_epochs, progress=False, log=None,
                 board=ProgressBoard(live=False), callbacks=[KeepBest(path)]).fit(
        SoftmaxRegression(lr=other_lr), data)
    other = load_safetensors(str(path))[1]
    set_seed(0)
    second = NumpyTrainer(max_epochs=1, progress=False, log=None, board=ProgressBoard(live=False))
    checkpointer = Checkpointer(tmp_path / "checkpoints", log=None).attach(second)
    second.fit(SoftmaxRegression(lr=0.05), data)
    best = second.history[0]
    if other_epochs == 1:  # the same epoch and accuracy (20 images): the loss tells them apart
        assert (other["epoch"], float(other["val_acc"])) == ("1", best["val_acc"]) == ("1", 0.1)
        assert float(other["val_loss"]) != best["val_loss"]
    lines = []
    # The resume of a finished run: no later epoch writes the file, so the removal shows.
    resumed = NumpyTrainer(max_epochs=1, progress=False, log=lines.append,
                           board=ProgressBoard(live=False), callbacks=[KeepBest(path)])
    resumed.fit(SoftmaxRegression(lr=0.05), data,
                resume=read_checkpoint(checkpointer.last_path))
    assert [line for line in lines if line.startswith("note: ")] == [
        f"note: {path} does not hold the best epoch so far (epoch 1, val_acc "
        f"{best['val_acc']:.4f}): it held other weights (epoch {other['epoch']}, val_acc "
        f"{float(other['val_acc']):.4f}), now removed; the file is written when a later epoch "
        "does better"]
    assert len(resumed.history) == 1 and not path.exists()


def test_a_resume_keeps_its_own_best_file_written_with_a_numpy_scalars_repr(data, tmp_path):
    """A best.safetensors of a version that wrote ``np.float64(0.1)`` for val_acc (and no
    val_loss) is the run's own best all the same: a resume with the new comparison had read it
    as no file of KeepBest's and removed it."""
    from d2l_alexnet.core.callbacks import saved_float
    from d2l_alexnet.core.weights import save_safetensors

    assert saved_float("np.float64(0.1)") == saved_float("0.1") == 0.1
    assert saved_float(" np.float32(1e-3) ") == 1e-3
    with pytest.raises(ValueError):
        saved_float("np.int64(1)")
    path = tmp_path / "best.safetensors"
    set_seed(0)
    first = NumpyTrainer(max_epochs=1, progress=False, log=None, board=ProgressBoard(live=False),
                         callbacks=[KeepBest(path)])
    checkpointer = Checkpointer(tmp_path / "checkpoints", log=None).attach(first)
    first.fit(SoftmaxRegression(lr=0.05), data)
    tensors, metadata = load_safetensors(str(path))
    old = {key: value for key, value in metadata.items() if key != "val_loss"}
    old["val_acc"] = f"np.float64({metadata['val_acc']})"
    save_safetensors(path, tensors, old)
    lines = []
    NumpyTrainer(max_epochs=2, progress=False, log=lines.append, board=ProgressBoard(live=False),
                 callbacks=[KeepBest(path)]).fit(SoftmaxRegression(lr=0.05), data,
                                                 resume=read_checkpoint(checkpointer.last_path))
    # Without val_loss two runs' files of one epoch and accuracy look alike: said, once.
    assert [line for line in lines if line.startswith("note: ")] == [
        f"note: {path} records no val_loss (an earlier version wrote it): it is taken as this "
        "run's best by its epoch and val_acc alone"]
    assert path.exists()


def tensorboard_fit(data, folder, epochs, resume=None, logs=None, lr=0.5):
    """A run writing TensorBoard logs into ``logs`` (``folder / "logs"`` by default), a
    checkpoint at every epoch's end kept."""
    set_seed(0)
    trainer = NumpyTrainer(max_epochs=epochs, progress=False, log=None,
                           board=ProgressBoard(live=False),
                           callbacks=[TensorBoardLog(logs or folder / "logs")])
    checkpointer = Checkpointer(folder / "checkpoints", keep=epochs, log=None).attach(trainer)
    return trainer.fit(SoftmaxRegression(lr=lr), data, resume=resume), checkpointer


def expected_scalars(history):
    """What each evaluation's record puts in TensorBoard: its floats at its step (float32)."""
    return {key: [(record["step"], pytest.approx(record[key], rel=1e-6)) for record in history]
            for key in TENSORBOARD_KEYS}


def test_tensorboard_log_writes_every_evaluation_at_its_step(data, tmp_path):
    history, _ = tensorboard_fit(data, tmp_path, epochs=2)
    assert scalars(tmp_path / "logs") == expected_scalars(history)
    assert [record["step"] for record in history] == [3, 6]
    (name,) = (path.name for path in (tmp_path / "logs").iterdir())
    assert name.startswith("events.out.tfevents.") and name.endswith(".step-0")


def test_a_fit_closes_its_tensorboard_file_however_it_ends(data, tmp_path):
    """In a notebook the event file stayed open until a later fit (a ResourceWarning under
    -W error); Keras' TensorBoard closes its writers when training ends."""
    log = TensorBoardLog(tmp_path / "logs")
    trainer = NumpyTrainer(max_epochs=1, progress=False, log=None,
                           board=ProgressBoard(live=False), callbacks=[log])
    trainer.fit(SoftmaxRegression(lr=0.5), data)
    assert log.writer is None
    trainer.step_callbacks.append(lambda trainer: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):
        trainer.fit(SoftmaxRegression(lr=0.5), data)
    assert log.writer is None


def test_a_tensorboard_log_and_a_trainer_holding_it_copy_and_pickle(data, tmp_path):
    """copy.deepcopy(model) of a model trained with the log (it holds its trainer) failed:
    the log kept tensorboardX's modules, which do not pickle."""
    import copy
    import pickle

    log = TensorBoardLog(tmp_path / "logs")
    trainer = NumpyTrainer(max_epochs=1, progress=False, log=None,
                           board=ProgressBoard(live=False), callbacks=[log])
    trainer.fit(SoftmaxRegression(lr=0.5), data)
    for copied in (copy.deepcopy(trainer), pickle.loads(pickle.dumps(trainer))):
        (twin,) = copied.callbacks
        assert twin.log_dir == log.log_dir and twin.run == log.run and twin.writer is None
        copied.fit(SoftmaxRegression(lr=0.5), data)  # it writes a file of its own
    assert len(list((tmp_path / "logs").iterdir())) == 3


def test_a_resumed_tensorboard_log_holds_every_step_once(data, tmp_path):
    straight, checkpointer = tensorboard_fit(data, tmp_path, epochs=3)
    first_epoch = read_checkpoint(sorted((tmp_path / "checkpoints").glob("*.ckpt"),
                                         key=lambda path: path.stat().st_mtime)[0])
    assert first_epoch.metadata["step"] == 3
    # The log holds steps 3, 6 and 9: a run resumed from step 3 (a kill after the evaluations
    # of epochs 2 and 3 were logged, before their checkpoints) writes 6 and 9 again.
    resumed, _ = tensorboard_fit(data, tmp_path, epochs=3, resume=first_epoch)
    assert scalars(tmp_path / "logs") == expected_scalars(resumed)
    assert sorted(path.name[-7:] for path in (tmp_path / "logs").iterdir()) == [".step-0",
                                                                                 ".step-3"]
    # Resumed from the same checkpoint again (the first resume killed before it saved one):
    # the file that resume began, which no checkpoint named, is still the run's to prune.
    again, _ = tensorboard_fit(data, tmp_path, epochs=3, resume=first_epoch)
    assert scalars(tmp_path / "logs") == expected_scalars(again)
    assert sorted(path.name[-7:] for path in (tmp_path / "logs").iterdir()) == [".step-0",
                                                                                 ".step-3"]


def test_a_resume_from_a_checkpoint_that_names_no_run_takes_the_older_files_as_its_own(
        data, tmp_path):
    """Upgraded mid-run: the checkpoint of a version before runs were named, and its event
    files named ``...step-N``. Its resume prunes them and renames them into the run's new name,
    so that every step is there once, now and at the next resume."""
    tensorboard_fit(data, tmp_path, epochs=3)
    logs = tmp_path / "logs"
    for path in logs.iterdir():  # as the older version named its file
        path.rename(logs / re.sub(r"\.run-[0-9a-f]+\.", ".", path.name))
    # And another run's file of that version in the same folder: not this run's to touch.
    tensorboard_fit(data, tmp_path / "other", epochs=2, lr=0.1)
    (other_file,) = (tmp_path / "other" / "logs").iterdir()
    other = logs / "events.out.tfevents.1000000000.elsewhere.step-0"
    other.write_bytes(other_file.read_bytes())
    checkpoints = sorted((tmp_path / "checkpoints").glob("*.ckpt"),
                         key=lambda path: path.stat().st_mtime)
    first_epoch = read_checkpoint(checkpoints[0])
    del first_epoch.metadata["callbacks"][TensorBoardLog.key]  # it kept no run's name
    for path in checkpoints[1:]:
        path.unlink()
    resumed, _ = tensorboard_fit(data, tmp_path, epochs=3, resume=first_epoch)
    assert other.read_bytes() == other_file.read_bytes()  # left as it was
    other.unlink()  # (scalars() reads the whole folder)
    assert scalars(logs) == expected_scalars(resumed)
    names = sorted(path.name for path in logs.iterdir())
    assert len(names) == 2 and all(".run-" in name for name in names), names
    assert len({re.search(r"\.run-(\w+)\.", name).group(1) for name in names}) == 1
    # The next resume, from the resumed run's own checkpoint, finds both files as its own.
    second_epoch = read_checkpoint(sorted((tmp_path / "checkpoints").glob("*.ckpt"),
                                          key=lambda path: path.stat().st_mtime)[1])
    again, _ = tensorboard_fit(data, tmp_path, epochs=3, resume=second_epoch)
    assert scalars(logs) == expected_scalars(again)


def test_a_resumed_log_changes_and_reads_only_its_own_runs_files(data, tmp_path):
    """Two runs in one folder: the second's resume cut the first's file down to its own
    checkpoint's step (deleting the first's later steps) and counted the first's steps as its
    own, leaving its own epoch unwritten."""
    logs = tmp_path / "logs"
    tensorboard_fit(data, tmp_path / "first", epochs=3, logs=logs)
    (first_file,) = logs.iterdir()
    first_bytes = first_file.read_bytes()
    _, checkpointer = tensorboard_fit(data, tmp_path / "second", epochs=1, logs=logs, lr=0.1)
    saved = read_checkpoint(checkpointer.last_path)
    resumed, _ = tensorboard_fit(data, tmp_path / "second", epochs=2, logs=logs, lr=0.1,
                                 resume=saved)
    assert first_file.read_bytes() == first_bytes  # steps 3, 6 and 9, as the first run wrote
    first_file.unlink()
    assert scalars(logs) == expected_scalars(resumed)  # the second run's steps 3 and 6


def test_a_log_added_at_the_resume_holds_the_epochs_before_it_too(data, tmp_path):
    set_seed(0)
    first = NumpyTrainer(max_epochs=1, progress=False, log=None, board=ProgressBoard(live=False))
    checkpointer = Checkpointer(tmp_path / "checkpoints", log=None).attach(first)
    first.fit(SoftmaxRegression(lr=0.5), data)
    # Its checkpoint names no run of the log: the folder's files are another run's.
    other = tmp_path / "other"
    tensorboard_fit(data, other, epochs=2, lr=0.1)
    (other_file,) = (other / "logs").iterdir()
    other_bytes = other_file.read_bytes()
    (tmp_path / "logs").mkdir()
    shutil.copy(other_file, tmp_path / "logs")
    history, _ = tensorboard_fit(data, tmp_path, epochs=2,
                                 resume=read_checkpoint(checkpointer.last_path))
    assert [record["step"] for record in history] == [3, 6]
    assert (tmp_path / "logs" / other_file.name).read_bytes() == other_bytes
    (tmp_path / "logs" / other_file.name).unlink()
    assert scalars(tmp_path / "logs") == expected_scalars(history)


def test_a_log_left_out_for_one_resume_and_given_again_is_still_the_runs_own(data, tmp_path):
    """--tensorboard left out of one resume and given at the next: the middle checkpoint lost
    the log's run name, so the last resume began a new run, which wrote the first epoch's step
    a second time beside the file that held it (and the CLI refused the run's own files as
    another run's)."""
    tensorboard_fit(data, tmp_path, epochs=1)
    set_seed(0)
    middle = NumpyTrainer(max_epochs=2, progress=False, log=None,
                          board=ProgressBoard(live=False))
    Checkpointer(tmp_path / "checkpoints", log=None).attach(middle)
    middle.fit(SoftmaxRegression(lr=0.5), data,
               resume=latest_checkpoint(tmp_path / "checkpoints", log=None))
    saved = latest_checkpoint(tmp_path / "checkpoints", log=None)
    assert saved.metadata["callbacks"][TensorBoardLog.key]["run"]  # carried over the resume
    history, _ = tensorboard_fit(data, tmp_path, epochs=3, resume=saved)
    assert scalars(tmp_path / "logs") == expected_scalars(history)
    assert [record["step"] for record in history] == [3, 6, 9]


def test_a_torn_last_record_is_dropped_when_a_run_resumes(data, tmp_path):
    history, checkpointer = tensorboard_fit(data, tmp_path, epochs=1)
    (path,) = (tmp_path / "logs").iterdir()
    with open(path, "ab") as stream:  # a kill in the middle of writing a record
        stream.write(b"\x10\x00\x00")
    saved = read_checkpoint(checkpointer.last_path)
    trainer = SimpleNamespace(history=history, is_first_replica=True, resumed_from=saved)
    log = TensorBoardLog(tmp_path / "logs")
    log.on_fit_start(trainer, saved.metadata["callbacks"]["tensorboard"])
    log.close()
    assert scalars(tmp_path / "logs") == expected_scalars(history)


def test_a_new_run_leaves_the_folders_event_files_alone(data, tmp_path):
    """A new fit (not a resume) into a folder that holds another run's events writes a file of
    its own beside them, as Keras' TensorBoard does: it used to delete them, in silence."""
    earlier, _ = tensorboard_fit(data, tmp_path / "earlier", epochs=1)
    (earlier_file,) = (tmp_path / "earlier" / "logs").iterdir()
    logs = tmp_path / "logs"
    logs.mkdir()
    kept = logs / earlier_file.name
    kept.write_bytes(earlier_file.read_bytes())
    tensorboard_fit(data, tmp_path, epochs=1)
    assert kept.read_bytes() == earlier_file.read_bytes() and len(list(logs.iterdir())) == 2


def test_without_tensorboardx_the_log_is_refused_in_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboardX", None)  # as if not installed
    with pytest.raises(TensorBoardError) as error:
        TensorBoardLog("logs")
    assert str(error.value) == ("writing TensorBoard logs needs tensorboardX, which is not "
                                "installed: pip install tensorboardX")
    assert error.value.exit_status == 2


def keep_best_fit(keep, path_log, accuracies):
    """A fit of ``keep`` (a KeepBest) whose epochs score ``accuracies``; the epochs it wrote."""
    written = []
    trainer = stub_trainer([])
    trainer.log, trainer.check_saves_weights = path_log.append, lambda: None
    trainer.save_weights = lambda path, metadata: (written.append(metadata["epoch"]),
                                                   open(path, "wb").close())
    keep.on_fit_start(trainer, None)
    for epoch, acc in enumerate(accuracies, 1):
        keep.on_evaluation(trainer, {"epoch": epoch, "val_acc": acc})
    return written


def test_keep_best_keeps_its_best_across_fits_as_keras_does(tmp_path):
    """A notebook cell run again fits anew: its worse epochs no longer replace the best
    weights of the cell's earlier run (Keras' ModelCheckpoint keeps its best across fits)."""
    keep, lines = KeepBest(tmp_path / "best.safetensors"), []
    assert keep_best_fit(keep, lines, [0.5, 0.7, 0.6]) == [1, 2]
    assert keep_best_fit(keep, lines, [0.4, 0.65]) == []  # worse than 0.7: the file stays
    assert lines == [f"note: {keep.path} holds the weights of an earlier fit (val_acc 0.7000): "
                     "an epoch of this one replaces them only if it does better (a new KeepBest "
                     "starts afresh)"]
    assert keep_best_fit(keep, [], [0.6, 0.72, 0.71, 0.75]) == [2, 4]  # 0.72 beats 0.7
    assert keep_best_fit(keep, [], [0.74]) == []
    (tmp_path / "best.safetensors").unlink()  # gone: nothing to keep
    assert keep_best_fit(keep, [], [0.1]) == [1]
    assert keep_best_fit(KeepBest(tmp_path / "best.safetensors"), [], [0.05]) == [1]


def test_a_record_too_large_for_the_process_names_the_file_size_limit():
    import errno

    from d2l_alexnet.core.callbacks import RecordWriteError, writing

    with pytest.raises(RecordWriteError) as raised, writing("runs/metrics.jsonl"):
        raise OSError(errno.EFBIG, "File too large")
    assert str(raised.value).startswith(
        "cannot write runs/metrics.jsonl (File too large): the file is larger than this "
        "process may write (ulimit -f): raise the limit (ulimit -f unlimited); ")


def test_a_checkpointer_in_callbacks_saves_every_n_steps_as_one_attached_does(data, tmp_path):
    """Listed in callbacks= (where the README says it acts last), it saved at epoch ends only:
    its every-N-steps hook came with attach() alone."""
    def checkpoint_names(folder, attach):
        checkpointer = Checkpointer(folder, every=1, keep=100, log=None)
        trainer = NumpyTrainer(max_epochs=2, progress=False, log=None,
                               board=ProgressBoard(live=False),
                               callbacks=[] if attach else [checkpointer])
        if attach:
            checkpointer.attach(trainer)
        set_seed(0)
        trainer.fit(SoftmaxRegression(lr=0.5), data)
        return sorted(path.name for path in folder.iterdir())

    listed = checkpoint_names(tmp_path / "listed", attach=False)
    assert listed == checkpoint_names(tmp_path / "attached", attach=True)
    assert listed == [f"checkpoint-{step}.ckpt" for step in range(1, 7)]  # 3 steps an epoch


@pytest.mark.parametrize("make, example", [(KeepBest, "best.safetensors"),
                                           (MetricsLog, "metrics.jsonl"),
                                           (PlotCurves, "curves.png")])
def test_a_callbacks_path_that_names_no_file_is_refused_when_it_is_made(tmp_path, make,
                                                                         example):
    """KeepBest("runs") (a folder), KeepBest("new/") or KeepBest("") failed after the first
    epoch, saying a file stood where a folder should be, or to make its folder again."""
    owner = make.__name__
    (tmp_path / "runs").mkdir()
    for path, words in ((tmp_path / "runs", f"{tmp_path / 'runs'} is a folder: name a file in "
                                            f"it, e.g. '{tmp_path / 'runs' / example}'"),
                        (f"{tmp_path}/new/", f"{tmp_path}/new/ is a folder"),
                        ("", f"the path is empty: name the file, e.g. '{example}'")):
        with pytest.raises(ValueError) as caught:
            make(path)
        assert str(caught.value).startswith(f"{owner}: {words}"), caught.value
    with pytest.raises(TypeError, match=f"{owner}: the path must be a file name"):
        make(None)
    assert make(tmp_path / "runs" / example).path == tmp_path / "runs" / example
