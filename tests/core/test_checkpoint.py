"""Checkpoints without a framework: the file format and its damage, the fit loop's exact resume,
NaN guards, and the CLI's checkpoint flags, signals, refusals and out-of-memory message, driven
by a tiny numpy backend (softmax regression with a dropout-like random mask).

The same faults with every real backend: ``tests/contract/test_contract.py`` (its last tests).
"""

import errno
import io
import json
import math
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import types

import numpy as np
import pytest
import safetensors
import safetensors.numpy

from d2l_alexnet import train
from d2l_alexnet.cli import out_of_memory_message
from d2l_alexnet.core import checkpoint as ckpt
from d2l_alexnet.core import files, weights
from d2l_alexnet.core.checkpoint import (Checkpointer, CheckpointError, CheckpointWriteError,
                                         encode, latest_checkpoint, list_checkpoints,
                                         read_checkpoint, write_checkpoint)
from d2l_alexnet.core.progress import ProgressBoard
from d2l_alexnet.core.recipe import TrainingRecipe
from d2l_alexnet.core.trainer import TrainingError, TrainingInterrupted

# The shared numpy backend (tests/core/numpy_backend.py; pytest puts this folder on the path).
import numpy_backend as fake_backend  # noqa: E402
from numpy_backend import FashionMNIST, NumpyTrainer, SoftmaxRegression, set_seed  # noqa: E402
from repository import child_env  # noqa: E402

RESIZE = 67


@pytest.fixture
def cli(monkeypatch, tmp_path):
    """``run(*argv)`` -> ``(exit status, stdout, stderr)`` of the CLI on the numpy backend."""
    monkeypatch.setattr(train, "load_backend", lambda name: fake_backend)
    monkeypatch.setattr(NumpyTrainer, "signal_at_step", None)

    def run(*argv):
        return train.main(["--resize", str(RESIZE), "--batch-size", "10", "--limit-train", "30",
                           "--limit-val", "20", "--epochs", "2", "--lr", "0.5", *argv])
    return run


@pytest.fixture(scope="module")
def data():
    return FashionMNIST(batch_size=10, resize=RESIZE, limit_train=30, limit_val=20, log=None)


def make_trainer(epochs=2, checkpointer=None, stop_at=None):
    """A trainer; ``stop_at`` requests a stop after that step (as a signal handler would)."""
    set_seed(0)
    trainer = NumpyTrainer(max_epochs=epochs, progress=False, log=None,
                           board=ProgressBoard(live=False))
    if checkpointer is not None:
        checkpointer.attach(trainer)
    if stop_at is not None:
        trainer.step_callbacks.append(
            lambda trainer: setattr(trainer, "stop_requested", "test")
            if trainer.step == stop_at else None)
    return trainer


def fit(data, epochs=2, checkpointer=None, resume=None):
    """Train a fresh model: ``(trainer, model, history)``."""
    trainer = make_trainer(epochs, checkpointer)
    model = SoftmaxRegression(lr=0.5)
    return trainer, model, trainer.fit(model, data, resume=resume)


def without_timing(history):
    return [{key: value for key, value in record.items()
             if key not in ("seconds", "val_seconds", "images_per_sec")} for record in history]


# ---- the file format ---------------------------------------------------------------------------

ARRAYS = {"params.w": np.arange(12, dtype=np.float32).reshape(3, 4),
          "step": np.array(7, dtype=np.int32), "rng.key": np.array([1, 2**32 - 1], np.uint32),
          "bytes": np.array([0, 255], np.uint8), "big": np.array([-(2**40)], np.int64),
          "empty": np.zeros((0, 3), np.float64)}
METADATA = {"step": 7, "epoch": 1, "batch": 2, "history": [{"train_loss": 0.1 + 0.2}]}


def test_round_trip_keeps_every_array_and_the_metadata(tmp_path):
    path = tmp_path / "checkpoint-7.ckpt"
    write_checkpoint(path, METADATA, ARRAYS)
    loaded = read_checkpoint(path)
    assert loaded.metadata == METADATA  # floats round-trip exactly through the JSON header
    assert list(loaded.arrays) == list(ARRAYS)
    for name, array in ARRAYS.items():
        assert loaded.arrays[name].dtype == array.dtype and np.array_equal(loaded.arrays[name],
                                                                           array), name
    assert loaded.arrays["params.w"].flags.writeable  # a framework may wrap it without a copy
    assert os.listdir(tmp_path) == ["checkpoint-7.ckpt"]  # no temporary left


def test_refuses_what_it_cannot_store():
    with pytest.raises(TypeError, match="only numbers"):
        encode({}, {"names": np.array(["a"])})


def damage(path, how):
    payload = bytearray(path.read_bytes())
    if how == "flip a weight bit":
        payload[-3] ^= 0x01
    elif how == "flip a metadata byte":
        at = payload.index(b"train_loss")
        payload[at] ^= 0x20  # "Train_loss": still JSON, another history
    elif how == "truncate":
        payload = payload[:len(payload) - 10]
    elif how == "truncate to a few bytes":
        payload = payload[:20]
    elif how == "overwrite the start":
        payload[:4] = b"\x89PNG"
    elif how == "strip our metadata":
        loaded = read_checkpoint(path)
        payload = safetensors.numpy.save(dict(loaded.arrays))
    path.write_bytes(bytes(payload))


@pytest.mark.parametrize("how, message", [
    ("flip a weight bit", "is corrupt (SHA-256 checksum mismatch)"),
    ("flip a metadata byte", "is corrupt (SHA-256 checksum mismatch)"),
    ("truncate", "is truncated or corrupt ("),
    ("truncate to a few bytes", "is truncated or corrupt (20 bytes; safetensors: "),
    ("overwrite the start", "is truncated or corrupt ("),
    ("strip our metadata", "is not a d2l_alexnet checkpoint (a safetensors file without its "
                           "metadata)"),
])
def test_damage_is_detected_and_named(tmp_path, how, message):
    path = tmp_path / "checkpoint-7.ckpt"
    write_checkpoint(path, METADATA, ARRAYS)
    damage(path, how)
    with pytest.raises(CheckpointError) as raised:
        read_checkpoint(path)
    assert str(raised.value).startswith("checkpoint-7.ckpt " + message), raised.value
    assert "\n" not in str(raised.value)


def test_another_format_version_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(ckpt, "VERSION", 99)
    write_checkpoint(tmp_path / "checkpoint-1.ckpt", METADATA, ARRAYS)
    monkeypatch.undo()
    with pytest.raises(CheckpointError, match="format version 99; this d2l_alexnet reads "
                                              "versions 1 to 3"):
        read_checkpoint(tmp_path / "checkpoint-1.ckpt")


def test_the_file_is_a_safetensors_file_any_tool_can_open(tmp_path):
    path = tmp_path / "checkpoint-7.ckpt"
    write_checkpoint(path, METADATA, ARRAYS)
    with safetensors.safe_open(str(path), framework="numpy") as handle:
        assert sorted(handle.keys()) == sorted(ARRAYS)
        np.testing.assert_array_equal(handle.get_tensor("rng.key"), ARRAYS["rng.key"])
        [entry] = handle.metadata().values()  # one entry of canonical JSON
    header = json.loads(entry)
    assert header["format"] == "d2l_alexnet-checkpoint" and header["version"] == "3"
    assert json.loads(header["metadata"]) == METADATA and len(header["sha256"]) == 64


def test_a_version_1_checkpoint_written_before_safetensors_still_reads(tmp_path):
    """``fixtures/checkpoint-7-version-1.ckpt`` was written by the first format's encoder from
    this module's METADATA and ARRAYS; damaged, it is refused like any other."""
    fixture = os.path.join(os.path.dirname(__file__), "fixtures", "checkpoint-7-version-1.ckpt")
    loaded = read_checkpoint(fixture)
    assert loaded.metadata == METADATA and list(loaded.arrays) == list(ARRAYS)
    for name, array in ARRAYS.items():
        assert loaded.arrays[name].dtype == array.dtype and np.array_equal(loaded.arrays[name],
                                                                           array), name
    assert loaded.arrays["params.w"].flags.writeable
    payload = bytearray(open(fixture, "rb").read())
    payload[-3] ^= 0x01
    (tmp_path / "checkpoint-7.ckpt").write_bytes(bytes(payload))
    with pytest.raises(CheckpointError, match="checkpoint-7.ckpt is truncated or corrupt "
                                              r"\(SHA-256 checksum mismatch\)"):
        read_checkpoint(tmp_path / "checkpoint-7.ckpt")


def test_a_version_2_checkpoint_with_its_metadata_as_separate_keys_still_reads():
    """``fixtures/checkpoint-7-version-2.ckpt`` was written by version 2's encoder (the
    safetensors library, one metadata key per entry) from this module's METADATA and ARRAYS."""
    loaded = read_checkpoint(os.path.join(os.path.dirname(__file__), "fixtures",
                                          "checkpoint-7-version-2.ckpt"))
    assert loaded.metadata == METADATA and list(loaded.arrays) == list(ARRAYS)
    for name, array in ARRAYS.items():
        assert loaded.arrays[name].dtype == array.dtype and np.array_equal(loaded.arrays[name],
                                                                           array), name


WRITE_TWICE = """\
import json, sys
import numpy as np
from d2l_alexnet.core.checkpoint import write_checkpoint
arrays = dict(np.load(sys.argv[1]))
for index in range(2):
    write_checkpoint(f"{sys.argv[2]}-{index}.ckpt", json.loads(sys.argv[3]), arrays)
"""


def test_the_same_checkpoint_is_the_same_bytes_in_every_process(tmp_path):
    """The safetensors library writes several metadata keys in a random order (a hash map,
    seeded per process and per map); one canonical-JSON entry fixes the bytes."""
    np.savez(tmp_path / "arrays.npz", **ARRAYS)
    for seed in ("1", "2"):
        result = subprocess.run([sys.executable, "-c", WRITE_TWICE, str(tmp_path / "arrays.npz"),
                                 str(tmp_path / f"seed{seed}"), json.dumps(METADATA)],
                                capture_output=True, text=True,
                                env=child_env(PYTHONHASHSEED=seed))
        assert result.returncode == 0, result.stderr
    write_checkpoint(tmp_path / "here.ckpt", METADATA, ARRAYS)
    written = {path.name: path.read_bytes() for path in tmp_path.glob("*.ckpt")}
    assert len(written) == 5 and len(set(written.values())) == 1, "the same checkpoint, " \
        "other bytes"


def test_a_weights_file_given_as_a_checkpoint_is_named_as_one(tmp_path):
    path = tmp_path / "checkpoint-9.ckpt"
    weights.save_safetensors(path, {"conv1.bias": np.zeros(3)}, {"format": weights.FORMAT})
    with pytest.raises(CheckpointError) as raised:
        read_checkpoint(path)
    assert str(raised.value) == ("checkpoint-9.ckpt is a weights file, not a checkpoint: start "
                                 "a run from it with --init-from (load_weights in Python)")


@pytest.fixture
def read_only_folder(tmp_path):
    """``make(fill)``: a folder that ``fill(folder)`` populates, then made read-only for real. As
    root, whom permissions do not stop, a tmpfs remounted read-only; otherwise chmod 555."""
    mounted, folder = [], tmp_path / "read-only"

    def make(fill):
        folder.mkdir()
        if os.geteuid() == 0:
            mount = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs",
                                    str(folder)], capture_output=True, text=True)
            if mount.returncode != 0:
                pytest.skip(f"cannot mount a tmpfs here: {mount.stderr.strip()}")
            mounted.append(folder)
        fill(folder)
        if mounted:
            subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)
        else:
            folder.chmod(0o555)
        with pytest.raises(OSError):  # it really is read-only
            (folder / "probe").write_bytes(b"")
        return folder

    yield make
    if mounted:
        subprocess.run(["umount", "-l", str(folder)], check=False)
    elif folder.exists():
        folder.chmod(0o755)


def test_latest_falls_back_in_a_read_only_folder_without_renaming(read_only_folder):
    def fill(folder):
        for step in (3, 5):
            write_checkpoint(folder / f"checkpoint-{step}.ckpt", dict(METADATA, step=step),
                             ARRAYS)
        damage(folder / "checkpoint-5.ckpt", "truncate")

    folder = read_only_folder(fill)
    lines = []
    found = latest_checkpoint(folder, log=lines.append)
    assert found.name == "checkpoint-3.ckpt"
    assert len(lines) == 1 and lines[0].startswith("warning: checkpoint-5.ckpt is truncated")
    assert re.search(r"; left it as it is \(renaming it to \.corrupt failed: (Read-only file "
                     r"system|Permission denied)\) and falling back to the previous good "
                     r"checkpoint, checkpoint-3\.ckpt$", lines[0]), lines[0]
    assert sorted(os.listdir(folder)) == ["checkpoint-3.ckpt", "checkpoint-5.ckpt"]


def test_cli_resume_from_a_read_only_folder_exits_2_in_one_line_each(cli, tmp_path, capsys,
                                                                     read_only_folder):
    def fill(folder):
        fake_checkpoint(folder)
        shutil.copy(folder / "checkpoint-3.ckpt", folder / "checkpoint-5.ckpt")
        damage(folder / "checkpoint-5.ckpt", "flip a weight bit")

    folder = read_only_folder(fill)
    assert cli("--out", str(tmp_path / "run"), "--checkpoint-dir", str(folder), "--resume") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2, err
    assert err[0].startswith("warning: checkpoint-5.ckpt is corrupt (SHA-256 checksum mismatch); "
                             "left it as it is (renaming it to .corrupt failed: ")
    # It cannot resume there: new checkpoints could not be written.
    assert err[1].startswith(f"error: cannot write checkpoints to --checkpoint-dir {folder} (")
    assert err[1].endswith("): choose a writable directory")
    assert not (tmp_path / "run").exists()


def test_a_new_checkpoint_dir_on_a_small_read_only_disk_is_named_read_only(cli, tmp_path,
                                                                            capsys, tmpfs):
    read_only = tmpfs("read-only", "ro,size=1m")  # too small for the checkpoints as well
    folder = read_only / "ckpt"  # not there yet
    assert cli("--out", str(tmp_path / "run"), "--checkpoint-dir", str(folder)) == 2
    assert capsys.readouterr().err == (f"error: cannot write checkpoints to --checkpoint-dir "
                                       f"{folder} (Read-only file system): choose a writable "
                                       "directory\n")
    assert not (tmp_path / "run").exists()


def test_a_resume_into_a_folder_a_running_run_holds_is_refused_as_in_use_first(cli, tmp_path,
                                                                               capsys):
    from d2l_alexnet.core.lock import FolderLocks

    argv = ["--out", str(tmp_path / "run"), "--checkpoint-dir", str(tmp_path / "ckpt")]
    assert cli(*argv, "--epochs", "1") == 0
    capsys.readouterr()
    with FolderLocks() as running:  # another open of the lock file: as another process's
        running.take(str(tmp_path / "ckpt"), "--checkpoint-dir", "PID 1: the first run")
        # Its settings differ too (batch size): "in use" is what to hear first.
        assert cli(*argv, "--resume", "--batch-size", "15") == 2
    assert capsys.readouterr().err == (
        f"error: --checkpoint-dir {tmp_path / 'ckpt'} is in use by another run (PID 1: the "
        "first run): wait for it to end, or choose another --checkpoint-dir\n")


def test_latest_falls_back_past_damaged_files_in_one_line_each(tmp_path):
    for step in (3, 5, 8):
        write_checkpoint(tmp_path / f"checkpoint-{step}.ckpt", dict(METADATA, step=step), ARRAYS)
    damage(tmp_path / "checkpoint-8.ckpt", "truncate")
    lines = []
    found = latest_checkpoint(tmp_path, log=lines.append)
    assert found.step == 5 and found.name == "checkpoint-5.ckpt"
    assert len(lines) == 1 and "checkpoint-8.ckpt is truncated" in lines[0]
    assert "falling back to the previous good checkpoint, checkpoint-5.ckpt" in lines[0]
    # Out of the way of the next saves, kept for a post-mortem.
    assert sorted(os.listdir(tmp_path)) == ["checkpoint-3.ckpt", "checkpoint-5.ckpt",
                                            "checkpoint-8.ckpt.corrupt"]


def test_latest_with_only_damaged_files_names_them(tmp_path):
    write_checkpoint(tmp_path / "checkpoint-2.ckpt", METADATA, ARRAYS)
    damage(tmp_path / "checkpoint-2.ckpt", "flip a weight bit")
    with pytest.raises(CheckpointError, match="no usable checkpoint in .*checkpoint-2.ckpt is "
                                              "corrupt"):
        latest_checkpoint(tmp_path)
    assert latest_checkpoint(tmp_path / "empty") is None


def test_newest_two_are_kept_and_named_by_step(data, tmp_path):
    checkpointer = Checkpointer(tmp_path, every=2, log=None)
    fit(data, epochs=2, checkpointer=checkpointer)
    # 3 steps per epoch: step 2 (every 2), step 3 (epoch end), step 4 (every 2), step 6 (end;
    # step 6's own every-2 checkpoint is skipped: the epoch-end one follows at once).
    assert sorted(os.listdir(tmp_path)) == ["checkpoint-4.ckpt", "checkpoint-6.ckpt"]
    assert [step for step, _ in list_checkpoints(tmp_path)] == [6, 4]


@pytest.mark.parametrize("arguments, expected", [
    ({"keep": 1.5}, "keep must be a whole number of at least 1, got 1.5"),
    ({"keep": True}, "keep must be a whole number of at least 1, got True"),
    ({"every": 1.5}, "every must be None (epoch ends only) or a whole number of steps of at "
                     "least 1, got 1.5"),
    ({"every": "100"}, "every must be None (epoch ends only) or a whole number"),
])
def test_a_checkpointer_refuses_counts_that_are_not_whole_numbers(tmp_path, arguments, expected):
    """keep=1.5 failed with a slice TypeError after the first save, every=1.5 saved at steps
    3, 6... without a word, and every="100" failed at a comparison."""
    with pytest.raises(ValueError) as error:
        Checkpointer(tmp_path, log=None, **arguments)
    assert str(error.value).startswith(expected)


def test_a_full_disk_mid_run_stops_with_the_last_good_checkpoint_intact(data, tmp_path,
                                                                       monkeypatch):
    checkpointer = Checkpointer(tmp_path, every=1, log=None)
    real_fsync = os.fsync
    saves = []

    def fsync(fd):  # the third checkpoint finds the disk full
        if os.readlink(f"/proc/self/fd/{fd}").endswith(".tmp"):
            if len(saves) == 2:
                raise OSError(errno.ENOSPC, "No space left on device")
            saves.append(fd)
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(CheckpointWriteError) as raised:
        fit(data, checkpointer=checkpointer)
    assert str(raised.value) == (
        f"cannot write checkpoint {tmp_path / 'checkpoint-3.ckpt'} (the disk is full); the last "
        f"good checkpoint is {tmp_path / 'checkpoint-2.ckpt'}: free some space, then resume with "
        "--resume")
    assert sorted(os.listdir(tmp_path)) == ["checkpoint-1.ckpt", "checkpoint-2.ckpt"]
    read_checkpoint(tmp_path / "checkpoint-2.ckpt")


def test_a_checkpoint_write_that_fails_not_for_space_names_its_own_fix(data, tmp_path,
                                                                        monkeypatch):
    # The folder removed with its checkpoints: make it again, and no "last good" one is named.
    checkpointer = Checkpointer(tmp_path / "ckpt", every=1, log=None)
    trainer = make_trainer(epochs=1, checkpointer=checkpointer)
    trainer.step_callbacks.append(
        lambda trainer: trainer.step == 1 and shutil.rmtree(tmp_path / "ckpt"))
    with pytest.raises(CheckpointWriteError) as raised:
        trainer.fit(SoftmaxRegression(lr=0.5), data)
    assert str(raised.value) == (
        f"cannot write checkpoint {tmp_path / 'ckpt' / 'checkpoint-2.ckpt'} (No such file or "
        f"directory); no checkpoint is left (the last, {tmp_path / 'ckpt' / 'checkpoint-1.ckpt'}"
        ", is gone): make its folder again and start again")
    # A file larger than the process may write: the limit, not the space.
    checkpointer = Checkpointer(tmp_path / "big", log=None)
    monkeypatch.setattr(ckpt, "write_checkpoint", lambda *args: (_ for _ in ()).throw(
        OSError(errno.EFBIG, "File too large")))
    with pytest.raises(CheckpointWriteError) as raised:
        fit(data, checkpointer=checkpointer)
    assert str(raised.value).endswith(
        "(File too large); no checkpoint was saved yet: the file is larger than this process "
        "may write (ulimit -f): raise the limit (ulimit -f unlimited) and start again")


# ---- exact resume in the fit loop -------------------------------------------------------------

@pytest.mark.parametrize("stop_at", [1, 3, 4])  # mid-epoch, an epoch end, the next epoch's start
def test_resume_ends_exactly_like_an_uninterrupted_run(data, tmp_path, stop_at):
    _, straight_model, straight = fit(data, epochs=2)
    checkpointer = Checkpointer(tmp_path, log=None)
    interrupted = make_trainer(checkpointer=checkpointer, stop_at=stop_at)
    with pytest.raises(TrainingInterrupted):
        interrupted.fit(SoftmaxRegression(lr=0.5), data)
    saved = read_checkpoint(checkpointer.save(interrupted))  # what the CLI does on a signal
    assert saved.step == stop_at
    trainer, model, history = fit(data, resume=saved)
    assert np.array_equal(model.W, straight_model.W)
    assert without_timing(history) == without_timing(straight)  # train_loss too, bit for bit


def test_resume_takes_a_checkpoint_file_or_folder_path_and_refuses_anything_else(data,
                                                                                  tmp_path):
    """resume="ck/checkpoint-3.ckpt" gave "'str' object has no attribute 'name'": a path now
    resumes as Lightning's ckpt_path does, a file or a Checkpointer's folder (its newest)."""
    _, straight_model, straight = fit(data, epochs=2)
    checkpointer = Checkpointer(tmp_path / "ck", log=None)
    interrupted = make_trainer(checkpointer=checkpointer, stop_at=4)
    with pytest.raises(TrainingInterrupted):
        interrupted.fit(SoftmaxRegression(lr=0.5), data)
    saved = checkpointer.save(interrupted)
    for resume in (saved, str(tmp_path / "ck"), tmp_path / "ck"):
        _, model, history = fit(data, resume=resume)
        assert np.array_equal(model.W, straight_model.W), resume
        assert without_timing(history) == without_timing(straight)
    for wrong in (3, ["ck"]):
        with pytest.raises(TypeError, match="resume must be a Checkpoint .* or the path of a "
                                            "checkpoint file or of a Checkpointer's folder"):
            fit(data, resume=wrong)
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="that folder holds no checkpoint; fit without "
                                              "resume= to start the run"):
        fit(data, resume=tmp_path / "empty")
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        fit(data, resume=tmp_path / "absent.ckpt")


class BookStyleData:
    """The same examples through the book's loaders only (no position-aware interface), in the
    same order on every pass: the case in which a loader-only resume is exact."""

    def __init__(self, data):
        self.batch_size = data.batch_size
        self.train = list(data.raw_batches(True, epoch=0))
        self.val = list(data.raw_batches(False))

    def train_dataloader(self):
        return iter(self.train)

    def val_dataloader(self):
        return iter(self.val)


@pytest.mark.parametrize("stop_at", [1, 3, 4])
def test_a_loader_only_module_resumes_exactly_when_its_loader_repeats(data, tmp_path, stop_at):
    loaders = BookStyleData(data)
    straight_trainer, straight_model, straight = fit(loaders, epochs=2)
    assert straight_trainer.epoch_examples(train=True) == 30  # counted on the first pass
    assert len(straight_trainer.board.series["train_loss"][0]) == 1 + 2  # unknown, then known
    checkpointer = Checkpointer(tmp_path, log=None)
    interrupted = make_trainer(checkpointer=checkpointer, stop_at=stop_at)
    with pytest.raises(TrainingInterrupted):
        interrupted.fit(SoftmaxRegression(lr=0.5), loaders)
    saved = read_checkpoint(checkpointer.save(interrupted))
    trainer, model, history = fit(loaders, resume=saved)
    assert np.array_equal(model.W, straight_model.W)
    assert without_timing(history) == without_timing(straight)
    assert trainer.board.series == straight_trainer.board.series


def test_a_resume_in_another_precision_says_so_in_one_line(data, tmp_path):
    """Going on in bf16 from an fp32 run is allowed (the weights are float32 in both), and the
    log says the precision changed, where it had named only the new one."""
    checkpointer = Checkpointer(tmp_path, every=1, log=None)
    make_trainer(epochs=1, checkpointer=checkpointer).fit(SoftmaxRegression(lr=0.5), data)
    said = []
    trainer = NumpyTrainer(max_epochs=2, precision="bf16", progress=False, log=said.append,
                           board=ProgressBoard(live=False))
    trainer.fit(SoftmaxRegression(lr=0.5), data, resume=latest_checkpoint(tmp_path))
    assert [line for line in said if line.startswith("note:")] == [
        "note: checkpoint-3.ckpt was trained in fp32 so far; the run goes on in bf16"]
    said.clear()
    trainer = NumpyTrainer(max_epochs=3, progress=False, log=said.append,
                           board=ProgressBoard(live=False))
    trainer.fit(SoftmaxRegression(lr=0.5), data, resume=latest_checkpoint(tmp_path))
    assert not [line for line in said if "precision" in line or line.startswith("note:")]


def test_resume_restores_the_plot_and_host_rngs(data, tmp_path):
    straight_trainer, _, _ = fit(data)
    np.random.seed(5)
    expected_draw = np.random.random()
    np.random.seed(5)
    checkpointer = Checkpointer(tmp_path, every=1, log=None)
    with pytest.raises(TrainingInterrupted):
        make_trainer(checkpointer=checkpointer, stop_at=4).fit(SoftmaxRegression(lr=0.5), data)
    np.random.seed(99)  # a resumed process starts with other host RNG states
    trainer, _, _ = fit(data, resume=latest_checkpoint(tmp_path))
    assert trainer.board.series == straight_trainer.board.series
    assert np.random.random() == expected_draw  # nothing drew from it: restored as saved


def test_resume_refuses_another_configuration(data, tmp_path):
    fit(data, epochs=1, checkpointer=Checkpointer(tmp_path, log=None))
    other = FashionMNIST(batch_size=5, resize=RESIZE, limit_train=30, limit_val=20, log=None)
    # In Python's words here; the command line's for a run of train (for_command_line).
    with pytest.raises(CheckpointError, match="was saved with batch size 10, this run has 5: "
                                              "resume with batch_size=10, or choose another "
                                              "directory for the Checkpointer") as refused:
        fit(other, resume=latest_checkpoint(tmp_path))
    assert refused.value.for_command_line().endswith(
        "resume with --batch-size 10, or choose another --checkpoint-dir")


def test_resume_refuses_other_training_images_of_the_same_count(data, tmp_path):
    fit(data, epochs=1, checkpointer=Checkpointer(tmp_path, log=None))
    saved = latest_checkpoint(tmp_path)
    assert saved.metadata["train_data"] == data.training_digest()
    assert saved.metadata["classes"] == list(data.classes)
    other = FashionMNIST(batch_size=10, resize=RESIZE, limit_train=30, limit_val=20, log=None)
    other.train_images = other.train_images[::-1].copy()  # as many images, another order
    with pytest.raises(CheckpointError, match="was saved on other training images or labels "
                                              "than this run's"):
        fit(other, resume=saved)
    relabelled = FashionMNIST(batch_size=10, resize=RESIZE, limit_train=30, limit_val=20,
                              log=None)
    relabelled.train_labels = (relabelled.train_labels + 1) % 10
    assert relabelled.training_digest() not in (data.training_digest(), other.training_digest())
    # A checkpoint from before the digest was recorded resumes as before.
    del saved.metadata["train_data"]
    history = fit(FashionMNIST(batch_size=10, resize=RESIZE, limit_train=30, limit_val=20,
                               log=None), epochs=2, resume=saved)[2]
    assert [record["epoch"] for record in history] == [1, 2]


def test_a_new_run_refuses_a_directory_of_another_runs_checkpoints(data, tmp_path):
    fit(data, epochs=1, checkpointer=Checkpointer(tmp_path, log=None))
    with pytest.raises(CheckpointError, match=r"already holds checkpoints of another run "
                                              r"\(checkpoint-3.ckpt\): continue that run"):
        fit(data, epochs=1, checkpointer=Checkpointer(tmp_path, log=None))
    assert os.listdir(tmp_path) == ["checkpoint-3.ckpt"]  # nothing of the refused run
    fit(data, epochs=2, checkpointer=Checkpointer(tmp_path, log=None),
        resume=latest_checkpoint(tmp_path))  # continuing it is the way
    assert sorted(os.listdir(tmp_path)) == ["checkpoint-3.ckpt", "checkpoint-6.ckpt"]


def test_a_run_stopped_before_its_first_step_resumes_from_its_step_0_checkpoint(data, tmp_path):
    """Ctrl-C before the first step saves checkpoint-0; resuming it is no new run in another
    run's directory, and ends as an uninterrupted run does."""
    _, straight_model, straight = fit(data, epochs=1)
    checkpointer = Checkpointer(tmp_path, log=None)
    stopped = make_trainer(epochs=1, checkpointer=checkpointer)
    stopped.step_callbacks.clear()
    stopped.stop_requested = "SIGINT"  # before the first step's boundary
    with pytest.raises(TrainingInterrupted):
        stopped.fit(SoftmaxRegression(lr=0.5), data)
    assert stopped.step == 0
    saved = read_checkpoint(checkpointer.save(stopped))
    _, model, history = fit(data, epochs=1, checkpointer=Checkpointer(tmp_path, log=None),
                            resume=saved)
    assert np.array_equal(model.W, straight_model.W)
    assert without_timing(history) == without_timing(straight)


def test_a_resumed_history_and_plot_keep_the_order_of_an_uninterrupted_run(data, tmp_path):
    straight_trainer, _, straight = fit(data, epochs=2)
    fit(data, epochs=1, checkpointer=Checkpointer(tmp_path, log=None))
    resumed_trainer, _, resumed = fit(data, epochs=2, resume=latest_checkpoint(tmp_path))
    assert [list(record) for record in resumed] == [list(record) for record in straight]
    assert list(resumed_trainer.board.series) == list(straight_trainer.board.series) == [
        "train_loss", "val_loss", "val_acc"]  # (so the plot's colours and styles match)


# ---- NaN and infinity never reach a checkpoint -----------------------------------------------

def test_a_nan_loss_stops_training_and_is_not_saved(data, tmp_path):
    checkpointer = Checkpointer(tmp_path, every=1, log=None)
    set_seed(0)
    trainer = NumpyTrainer(max_epochs=1, progress=False, log=None)
    checkpointer.attach(trainer)
    trainer.step_callbacks.insert(0, lambda trainer: trainer.model.W.fill(np.nan)
                                  if trainer.step == 2 else None)
    with pytest.raises(TrainingError, match="lower the learning rate"):
        trainer.fit(SoftmaxRegression(lr=0.1), data)
    assert os.listdir(tmp_path) == ["checkpoint-1.ckpt"]  # the last good one
    assert np.isfinite(read_checkpoint(tmp_path / "checkpoint-1.ckpt").arrays["params.W"]).all()


def test_nan_weights_with_a_finite_loss_are_not_saved(data, tmp_path):
    checkpointer = Checkpointer(tmp_path, log=None)
    set_seed(0)
    trainer = NumpyTrainer(max_epochs=1, progress=False, log=None)
    model = SoftmaxRegression(lr=0.1)
    trainer.fit(model, data)
    model.W[0, 0] = np.inf  # a pixel that is always 0: the loss stays finite
    with pytest.raises(TrainingError, match=r"params.W is no longer finite after step 3: lower "
                                            r"the learning rate \(now lr=0.1\)"):
        checkpointer.save(trainer)
    assert os.listdir(tmp_path) == []


# ---- the command line ------------------------------------------------------------------------

def test_cli_interrupted_and_resumed_with_the_printed_command(cli, tmp_path, capsys,
                                                              monkeypatch):
    handler = signal.getsignal(signal.SIGINT)
    assert cli("--out", str(tmp_path / "a"), "--checkpoint-dir", str(tmp_path / "a-ckpt")) == 0
    straight = read_checkpoint(list_checkpoints(tmp_path / "a-ckpt")[0][1])
    capsys.readouterr()

    argv = ["--out", str(tmp_path / "b"), "--checkpoint-dir", str(tmp_path / "b-ckpt")]
    monkeypatch.setattr(NumpyTrainer, "signal_at_step", (2, signal.SIGINT))
    assert cli(*argv) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(f"interrupted by SIGINT: saved {tmp_path / 'b-ckpt'}/"
                              "checkpoint-2.ckpt (epoch 1, batch 2, step 2); resume with: ")
    command = shlex.split(err[-1].split("resume with: ")[1])
    assert command[:3] == [sys.executable, "-m", "d2l_alexnet.train"]
    assert command[-1] == "--resume"
    assert signal.getsignal(signal.SIGINT) is handler  # the CLI put the handler back

    monkeypatch.setattr(NumpyTrainer, "signal_at_step", None)
    assert train.main(command[3:]) == 0
    out = capsys.readouterr().out
    assert "resuming from" in out and "epoch 1, batch 2 (step 2)" in out
    resumed = read_checkpoint(list_checkpoints(tmp_path / "b-ckpt")[0][1])
    assert all(np.array_equal(resumed.arrays[name], straight.arrays[name])
               for name in straight.arrays)
    metrics = [json.loads((tmp_path / run / "metrics.json").read_text()) for run in "ab"]
    assert without_timing(metrics[0]) == without_timing(metrics[1])


def test_a_second_signal_stops_at_once_and_saves_nothing_of_that_moment(cli, tmp_path, capsys,
                                                                       monkeypatch):
    assert cli("--out", str(tmp_path / "a"), "--checkpoint-dir", str(tmp_path / "a-ckpt")) == 0
    straight = read_checkpoint(list_checkpoints(tmp_path / "a-ckpt")[0][1])
    capsys.readouterr()
    argv = ["--out", str(tmp_path / "b"), "--checkpoint-dir", str(tmp_path / "b-ckpt"),
            "--checkpoint-every", "1"]
    monkeypatch.setattr(NumpyTrainer, "signal_at_step", (3, signal.SIGINT, 2))  # Ctrl-C twice
    assert cli(*argv) == 130
    err = capsys.readouterr().err.strip().splitlines()
    ckpt_dir = tmp_path / "b-ckpt"
    assert err[-1].startswith(f"interrupted by SIGINT: the last checkpoint is {ckpt_dir}/"
                              "checkpoint-2.ckpt; resume with: ")  # not the half-done step 3
    assert sorted(os.listdir(ckpt_dir)) == ["checkpoint-1.ckpt", "checkpoint-2.ckpt"]
    monkeypatch.setattr(NumpyTrainer, "signal_at_step", None)
    assert train.main(shlex.split(err[-1].split("resume with: ")[1])[3:]) == 0
    resumed = read_checkpoint(list_checkpoints(ckpt_dir)[0][1])
    assert all(np.array_equal(resumed.arrays[name], straight.arrays[name])
               for name in straight.arrays)
    assert without_timing(resumed.metadata["history"]) == without_timing(
        straight.metadata["history"])


@pytest.mark.parametrize("signum, status", [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_cli_sigterm_and_sighup_save_and_exit_143_and_129(cli, tmp_path, capsys, monkeypatch,
                                                         signum, status):
    """SIGHUP is the terminal closing (a lost SSH connection): it ended the run where it was,
    losing the epoch; now it stops as SIGTERM does, at a step boundary with a checkpoint."""
    monkeypatch.setattr(NumpyTrainer, "signal_at_step", (4, signum))
    code = cli("--out", str(tmp_path / "run"), "--checkpoint-dir", str(tmp_path / "ckpt"))
    assert code == status
    assert f"interrupted by {signum.name}: saved" in capsys.readouterr().err
    assert read_checkpoint(tmp_path / "ckpt" / "checkpoint-4.ckpt").metadata["batch"] == 1


def test_under_nohup_a_sighup_is_still_ignored(cli, tmp_path, capsys, monkeypatch):
    """``nohup`` starts the command with SIGHUP ignored, to outlive its terminal: the CLI leaves
    it so (the run ends as if no signal came), and puts back what it found as it ends."""
    previous = {signum: signal.getsignal(signum) for signum in (signal.SIGHUP, signal.SIGTERM)}
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        monkeypatch.setattr(NumpyTrainer, "signal_at_step", (4, signal.SIGHUP))
        assert cli("--out", str(tmp_path / "run"), "--checkpoint-dir",
                   str(tmp_path / "ckpt")) == 0
        assert "SIGHUP" not in capsys.readouterr().err
        assert signal.getsignal(signal.SIGHUP) == signal.SIG_IGN
        # SIGINT and SIGTERM ignored at the start (a script's ``&`` job) are taken all the same.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        monkeypatch.setattr(NumpyTrainer, "signal_at_step", (4, signal.SIGTERM))
        assert cli("--out", str(tmp_path / "run2"), "--checkpoint-dir",
                   str(tmp_path / "ckpt2")) == 143
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_IGN
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def test_a_first_signal_says_a_checkpoint_is_saved_only_where_one_is(capsys):
    """Processes that stop together (torchrun's) take a first signal at a step boundary even
    without --checkpoint-dir: the line then says nothing is saved, not that a checkpoint is."""
    for saves, purpose in ((True, "to save a checkpoint"),
                           (False, "with the other processes (no --checkpoint-dir: nothing is "
                                   "saved)")):
        stops = train.StopSignals()
        stops.trainer, stops.saves = types.SimpleNamespace(stop_requested=None), saves
        stops.handle(signal.SIGTERM, None)
        assert stops.trainer.stop_requested == "SIGTERM"
        assert capsys.readouterr().err == (f"\nSIGTERM: stopping after this step {purpose} "
                                           "(SIGTERM again stops at once)\n")


def test_only_the_first_process_of_a_run_says_what_the_run_is(cli, tmp_path, capsys,
                                                                 monkeypatch):
    """On several processes (torchrun, several hosts) the introduction (data, recipe, layer
    summary) came once per process into the shared log; now from the first alone."""
    assert cli("--out", str(tmp_path / "first")) == 0
    first = capsys.readouterr().out
    assert "AlexNet (pytorch) on 30 training" in first and "recipe (" in first
    monkeypatch.setattr(NumpyTrainer, "is_first_replica", property(lambda trainer: False))
    assert cli("--out", str(tmp_path / "second")) == 0
    second = capsys.readouterr().out
    assert "AlexNet (pytorch)" not in second and "recipe (" not in second


def test_a_sigterm_handler_a_framework_put_below_pythons_does_not_take_the_signal(
        cli, tmp_path, capsys, monkeypatch):
    """JAX's distributed runtime and TensorFlow's multi-worker strategy install their own
    SIGTERM handler in C when they join a cluster, under Python's, which never saw the signal
    again: the run trained on to its end. Stood in for here by the C library's signal(), as
    such a framework calls it, at the backend's initialize_distributed."""
    import ctypes

    libc = ctypes.CDLL(None)
    libc.signal.restype = ctypes.c_void_p
    libc.signal.argtypes = (ctypes.c_int, ctypes.c_void_p)
    monkeypatch.setattr(fake_backend, "initialize_distributed",
                        lambda: libc.signal(signal.SIGTERM, 1))  # SIG_IGN, below Python
    monkeypatch.setattr(NumpyTrainer, "signal_at_step", (4, signal.SIGTERM))
    assert cli("--out", str(tmp_path / "run"), "--checkpoint-dir", str(tmp_path / "ckpt")) == 143
    assert "interrupted by SIGTERM: saved" in capsys.readouterr().err
    assert read_checkpoint(tmp_path / "ckpt" / "checkpoint-4.ckpt").metadata["batch"] == 1


def test_a_signal_as_the_last_epoch_ends_lets_the_run_finish_and_says_so(cli, tmp_path, capsys,
                                                                    monkeypatch):
    """Ctrl-C as the last epoch ends (its best weights or checkpoint being written) leaves no
    step to stop at: the run writes its outputs and exits 0, and now says so after its
    "stopping after this step" line, which alone left the person to wonder."""
    validate = NumpyTrainer.validate

    def validate_then_signal(trainer):
        result = validate(trainer)
        if trainer.epoch == trainer.max_epochs - 1:
            os.kill(os.getpid(), signal.SIGINT)
        return result

    monkeypatch.setattr(NumpyTrainer, "validate", validate_then_signal)
    assert cli("--out", str(tmp_path / "run"), "--checkpoint-dir", str(tmp_path / "ckpt")) == 0
    err = capsys.readouterr().err
    assert "SIGINT: stopping after this step to save a checkpoint" in err
    assert ("SIGINT came after the last training step: the run finished, and writes its "
            "outputs") in err
    assert (tmp_path / "run" / "weights.safetensors").exists()


@pytest.mark.parametrize("signum, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143),
                                            (signal.SIGHUP, 129)])
def test_cli_without_checkpoints_still_exits_cleanly_on_a_signal(cli, tmp_path, capsys,
                                                                 monkeypatch, signum, status):
    monkeypatch.setattr(NumpyTrainer, "signal_at_step", (2, signum))
    assert cli("--out", str(tmp_path / "run")) == status
    err = capsys.readouterr().err.strip().splitlines()  # the progress bar, then the message
    assert err[-1] == (f"interrupted by {signal.Signals(signum).name}: no checkpoint to resume "
                       "from: run with --checkpoint-dir DIR (and --checkpoint-every N for "
                       "checkpoints within an epoch) to be able to resume")
    assert not (tmp_path / "run" / "metrics.json").exists()


def test_a_new_run_stopped_in_an_earlier_runs_out_says_which_files_are_still_that_runs(
        cli, tmp_path, capsys, monkeypatch):
    """A new run replaces curves.png at each evaluation and metrics.json and the weights as it
    ends: stopped before, it names those still the earlier run's (a resumed run, whose they
    may be, says nothing of them), and a run that ends writes them all."""
    out = tmp_path / "run"
    assert cli("--out", str(out), "--checkpoint-dir", str(tmp_path / "ckpt")) == 0
    capsys.readouterr()
    note = "note: {} in " + str(out) + " {} still an earlier run's; its metrics.jsonl is this "
    for step, earlier, verb in ((2, "metrics.json, curves.png, weights.safetensors", "are"),
                                (5, "metrics.json, weights.safetensors", "are")):
        monkeypatch.setattr(NumpyTrainer, "signal_at_step", (step, signal.SIGINT))
        assert cli("--out", str(out)) == 130
        err = capsys.readouterr().err.strip().splitlines()
        assert err[-2].startswith("interrupted by SIGINT: no checkpoint to resume from")
        assert err[-1] == note.format(earlier, verb) + "run's, up to where it stopped"
        assert len((out / "metrics.jsonl").read_text().splitlines()) == (step > 3)
    monkeypatch.setattr(NumpyTrainer, "signal_at_step", (7, signal.SIGINT))
    resumed = ["--out", str(out), "--checkpoint-dir", str(tmp_path / "ckpt"), "--epochs", "3",
               "--resume"]
    assert cli(*resumed) == 130
    assert "earlier run's" not in capsys.readouterr().err
    monkeypatch.setattr(NumpyTrainer, "signal_at_step", None)
    assert cli("--out", str(out)) == 0
    assert "earlier run's" not in capsys.readouterr().err


@pytest.mark.parametrize("every, kept", [(2, "checkpoint-3.ckpt"), (1, None)])
def test_a_validation_loss_that_diverged_stops_before_anything_keeps_those_weights(
        cli, tmp_path, capsys, monkeypatch, every, kept):
    """Weights that blew up with finite training losses show in the validation loss: the run
    stops there (exit 1), before best.safetensors, a checkpoint or a metrics line keeps them;
    the checkpoints saved within that epoch are set aside as .diverged, and the message names
    the last one from before it, which --resume then takes, or says none is left."""
    validate = NumpyTrainer.validate

    def diverged_in_epoch_2(trainer):
        result = validate(trainer)
        return {**result, "val_loss": math.nan} if trainer.epoch == 1 else result

    monkeypatch.setattr(NumpyTrainer, "validate", diverged_in_epoch_2)
    ckpt_dir, out = tmp_path / "ckpt", tmp_path / "run"
    assert cli("--out", str(out), "--checkpoint-dir", str(ckpt_dir), "--checkpoint-every",
               str(every), "--keep-best") == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: the validation loss became nan after epoch 2 (its training "
                          "losses were finite): lower the learning rate (now --lr 0.5); ")
    aside = sorted(name for name in os.listdir(ckpt_dir) if name.endswith(".diverged"))
    assert aside == ["checkpoint-4.ckpt.diverged", "checkpoint-5.ckpt.diverged"][:3 - every]
    listed = ", ".join(name.removesuffix(".diverged") for name in aside)
    if kept is None:
        assert err.endswith(f"no checkpoint from before it is left ({listed}, saved within "
                            "that epoch, set aside as .diverged): train again with a lower --lr")
    else:
        assert err.endswith(f"the last good checkpoint is {ckpt_dir / kept} ({listed}, saved "
                            "within that epoch, set aside as .diverged): resume from it with a "
                            "lower --lr and --resume")
        assert list_checkpoints(ckpt_dir)[0][1] == str(ckpt_dir / kept)
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 1
    assert weights.load_safetensors(out / "best.safetensors")[1]["epoch"] == "1"
    assert not (out / "weights.safetensors").exists()


def test_cli_stops_on_nan_naming_the_last_good_checkpoint(cli, tmp_path, capsys):
    code = cli("--lr", "1e300", "--out", str(tmp_path / "run"), "--checkpoint-dir",
               str(tmp_path / "ckpt"), "--checkpoint-every", "1")
    assert code == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]  # after the progress bar
    assert err.startswith("error: ") and "lower the learning rate (now --lr 1e+300)" in err
    saved = list_checkpoints(tmp_path / "ckpt")
    assert saved and f"the last good checkpoint is {saved[0][1]}: resume from it" in err
    for _, path in saved:
        assert np.isfinite(read_checkpoint(path).arrays["params.W"]).all()


def fake_checkpoint(directory, **changes):
    metadata = {"backend": "pytorch", "architecture": "alexnet-d2l", "resize": RESIZE,
                "num_classes": 10, "batch_size": 10, "seed": 0, "train_examples": 30,
                "epoch": 0, "batch": 0, "step": 3, "history": []}
    metadata.update(changes)
    os.makedirs(directory, exist_ok=True)
    write_checkpoint(os.path.join(directory, "checkpoint-3.ckpt"), metadata,
                     {"params.W": np.zeros((784, 10))})


@pytest.mark.parametrize("changes, message", [
    ({"backend": "jax"}, "was saved with backend 'jax', this run has 'pytorch': resume with "
                         "--backend jax, or choose another --checkpoint-dir"),
    ({"resize": 224}, "was saved with resize 224, this run has 67: resume with --resize 224"),
    ({"num_classes": 100}, "was saved with num classes 100, this run has 10"),
    ({"batch_size": 128}, "was saved with batch size 128, this run has 10: resume with "
                          "--batch-size 128"),
    ({"seed": 4}, "was saved with seed 4, this run has 0: resume with --seed 4"),
    ({"train_examples": 60000}, "was saved with train examples 60000, this run has 30: resume "
                                "with the same data (it had 60,000 training images: the same "
                                "--limit-train, or the same --image-folder and "
                                "--validation-split)"),
    ({"train_data": "0" * 64}, "was saved on other training images or labels than this run's"),
])
def test_cli_refuses_a_checkpoint_of_another_run_with_exit_2(cli, tmp_path, capsys, changes,
                                                              message):
    fake_checkpoint(tmp_path / "ckpt", **changes)
    code = cli("--out", str(tmp_path / "run"), "--checkpoint-dir", str(tmp_path / "ckpt"),
               "--resume")
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("error: checkpoint-3.ckpt in ")
    assert message in err[0]


def test_cli_refuses_to_end_a_run_at_an_epoch_its_checkpoint_is_past(cli, tmp_path, capsys):
    """A checkpoint 1 batch into epoch 2, resumed with --epochs 1: its weights are not the end
    of epoch 1, which metrics.json would have described (the run wrote them, exit 0)."""
    fake_checkpoint(tmp_path / "ckpt", epoch=1, batch=1, step=4,
                    history=[{"epoch": 1, "step": 3, "train_loss": 2.0, "val_loss": 2.0,
                              "val_acc": 0.1}])
    code = cli("--out", str(tmp_path / "run"), "--checkpoint-dir", str(tmp_path / "ckpt"),
               "--resume", "--epochs", "1")
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err == [
        "error: checkpoint-3.ckpt is 1 batch(es) into epoch 2, past --epochs 1: its weights are "
        "not those of the end of epoch 1; resume with --epochs 2 or more to finish that epoch"]
    assert not (tmp_path / "run").exists()


def test_cli_refuses_to_end_a_run_at_an_epoch_its_checkpoint_has_ended_past(cli, tmp_path,
                                                                             capsys):
    """A checkpoint at the end of epoch 2, resumed with --epochs 1: the run ended at once and
    wrote the outputs of its 2 epochs, exit 0, without a word of the --epochs asked for."""
    history = [{"epoch": epoch, "step": 3 * epoch, "train_loss": 2.0, "val_loss": 2.0,
                "val_acc": 0.1} for epoch in (1, 2)]
    fake_checkpoint(tmp_path / "ckpt", epoch=2, batch=0, step=6, history=history)
    code = cli("--out", str(tmp_path / "run"), "--checkpoint-dir", str(tmp_path / "ckpt"),
               "--resume", "--epochs", "1")
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err == [
        "error: checkpoint-3.ckpt is at the end of epoch 2, past --epochs 1: the run has trained "
        "beyond epoch 1, and its outputs would describe epoch 2; resume with --epochs 2 or more"]
    assert not (tmp_path / "run").exists()


def test_cli_refuses_a_corrupt_only_checkpoint_with_exit_2(cli, tmp_path, capsys):
    fake_checkpoint(tmp_path / "ckpt")
    damage(tmp_path / "ckpt" / "checkpoint-3.ckpt", "flip a weight bit")
    code = cli("--out", str(tmp_path / "run"), "--checkpoint-dir", str(tmp_path / "ckpt"),
               "--resume")
    err = capsys.readouterr().err.strip()
    assert code == 2 and "checkpoint-3.ckpt is corrupt (SHA-256 checksum mismatch)" in err


@pytest.mark.parametrize("argv, message", [
    (["--resume"], "--resume needs --checkpoint-dir DIR"),
    (["--checkpoint-every", "5"], "--checkpoint-every needs --checkpoint-dir DIR"),
    (["--checkpoint-dir", "{tmp}/c", "--checkpoint-every", "0"],
     "--checkpoint-every must be at least 1, got 0"),
    (["--checkpoint-dir", "{tmp}/c", "--resume", "--init-from", "{tmp}/weights"],
     "--init-from and --resume do not mix"),
    (["--checkpoint-dir", "{tmp}/file"], "--checkpoint-dir {tmp}/file is a file"),
])
def test_cli_refuses_bad_checkpoint_flags_with_exit_2(cli, tmp_path, capsys, argv, message):
    (tmp_path / "file").write_text("x")
    shapes, _ = weights.canonical_shapes(RESIZE, 10)
    weights.save_safetensors(tmp_path / "weights", {name: np.zeros(shape, np.float32)
                                                    for name, shape in shapes.items()})
    argv = [arg.replace("{tmp}", str(tmp_path)) for arg in argv]
    assert cli("--out", str(tmp_path / "run"), *argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message.replace("{tmp}", str(tmp_path)) in err[0]
    assert not (tmp_path / "run").exists()


def test_cli_will_not_mix_a_new_run_into_old_checkpoints(cli, tmp_path, capsys):
    fake_checkpoint(tmp_path / "ckpt")
    assert cli("--out", str(tmp_path / "run"), "--checkpoint-dir", str(tmp_path / "ckpt")) == 2
    assert ("already holds checkpoints (newest checkpoint-3.ckpt): add --resume"
            in capsys.readouterr().err)


def test_cli_resume_without_checkpoints_starts_over_and_says_so(cli, tmp_path, capsys):
    assert cli("--out", str(tmp_path / "run"), "--checkpoint-dir", str(tmp_path / "ckpt"),
               "--resume", "--epochs", "1") == 0
    assert f"no checkpoint in {tmp_path / 'ckpt'} yet: starting from the beginning" in (
        capsys.readouterr().out)


def test_cli_unwritable_checkpoint_dir_exits_2(cli, tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    assert cli("--out", str(tmp_path / "run"), "--checkpoint-dir",
               str(tmp_path / "file" / "ckpt")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(
        f"error: cannot write checkpoints to --checkpoint-dir {tmp_path / 'file' / 'ckpt'} (")


def test_cli_full_checkpoint_dir_exits_2_and_leaves_nothing(cli, tmp_path, capsys, monkeypatch):
    real_fsync = os.fsync

    def fsync(fd):  # the disk holding the checkpoint directory is full
        if "/ckpt/" in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    assert cli("--out", str(tmp_path / "run"), "--checkpoint-dir", str(tmp_path / "ckpt")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: cannot write checkpoints to --checkpoint-dir {tmp_path / 'ckpt'} "
                   "(No space left on device): free some space or choose another directory"]
    assert not (tmp_path / "ckpt").exists() and not (tmp_path / "run").exists()  # nothing


def test_cli_full_out_dir_exits_2_and_leaves_nothing(cli, tmp_path, capsys, monkeypatch):
    real_fsync = os.fsync

    def fsync(fd):  # the disk holding --out is full
        if "/run/" in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    assert cli("--out", str(tmp_path / "run")) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"error: cannot write to --out {tmp_path / 'run'} (No space left on device): choose a "
        "writable directory"]
    assert not (tmp_path / "run").exists()  # not even the folder it made


def small_disk(monkeypatch, where, free):
    """Make the disk of the folders whose path contains ``where`` look ``free`` bytes big."""
    real = files.shutil.disk_usage
    usage = types.SimpleNamespace(total=10**9, used=10**9 - free, free=free)
    monkeypatch.setattr(files.shutil, "disk_usage",
                        lambda path: usage if where in str(path) else real(path))


def test_cli_too_little_free_space_for_checkpoints_exits_2(cli, tmp_path, capsys, monkeypatch):
    (tmp_path / "ckpt").mkdir()
    small_disk(monkeypatch, "ckpt", 5 * 10**6)
    assert cli("--out", str(tmp_path / "run"), "--checkpoint-dir", str(tmp_path / "ckpt")) == 2
    err = capsys.readouterr().err.strip()
    assert "(5 MB free, checkpoints and outputs need about " in err and "free some space" in err
    assert not (tmp_path / "run").exists(), "a refused run leaves no --out behind"


def test_a_checkpoint_with_momentum_is_counted_twice_as_large():
    plain = 4 * 46_764_746 + (1 << 20)  # the chapter's 224×224, 10 classes
    assert ckpt.estimated_bytes(224, 10) == plain
    assert ckpt.estimated_bytes(224, 10, TrainingRecipe(weight_decay=5e-4)) == plain
    assert ckpt.estimated_bytes(224, 10, TrainingRecipe(momentum=0.9)) == 2 * plain - (1 << 20)
    assert ckpt.estimated_bytes(224, 10, in_channels=3) > plain


def test_cli_counts_the_momentum_buffers_in_the_free_space_check(cli, tmp_path, capsys,
                                                                 monkeypatch):
    """A disk with room for three plain checkpoints, not for three with momentum buffers: a
    real 400 MB tmpfs as root, else a folder made to look that small."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() == 0 and subprocess.run(["mount", "-t", "tmpfs", "-o", "size=400m",
                                             "tmpfs", str(disk)]).returncode == 0:
        unmount = [lambda: subprocess.run(["umount", "-l", str(disk)], check=False)]
    else:
        small_disk(monkeypatch, "disk", 400 * 2**20)
        unmount = []
    try:
        needed = 3 * ckpt.estimated_bytes(RESIZE, 10, TrainingRecipe(momentum=0.9))
        assert cli("--out", str(tmp_path / "run"), "--checkpoint-dir", str(disk / "ckpt"),
                   "--momentum", "0.9") == 2
        assert capsys.readouterr().err.strip().splitlines() == [
            f"error: cannot write checkpoints to --checkpoint-dir {disk / 'ckpt'} (419 MB free, "
            f"checkpoints need about {needed / 1e6:,.0f} MB): free some space or choose another "
            "directory"]
        assert not (tmp_path / "run").exists() and os.listdir(disk) == []
        # Without momentum the same disk is enough.
        assert cli("--out", str(tmp_path / "run"), "--checkpoint-dir", str(disk / "ckpt")) == 0
    finally:
        for step in unmount:
            step()


def test_cli_removes_what_a_killed_run_left_half_written(cli, tmp_path, capsys):
    out, ckpt_dir = tmp_path / "run", tmp_path / "ckpt"
    out.mkdir()
    ckpt_dir.mkdir()
    stale = [out / ".weights.safetensors.k9x_2abc.tmp",
             ckpt_dir / ".checkpoint-6.ckpt.a1b2c3d4.tmp"]
    others = [out / "notes.tmp", out / ".weights.safetensors.tmp"]  # not our naming: kept
    for path in stale + others:
        path.write_bytes(b"half")
    assert cli("--out", str(out), "--checkpoint-dir", str(ckpt_dir)) == 0
    err = capsys.readouterr().err
    for path in stale:
        assert (f"removed {path.name} in {path.parent}: unfinished write(s) of a run that was "
                "killed while writing") in err
        assert not path.exists()
    assert all(path.exists() for path in others)


def test_cli_too_little_free_space_for_the_outputs_exits_2(cli, tmp_path, capsys, monkeypatch):
    (tmp_path / "disk").mkdir()
    small_disk(monkeypatch, "disk", 10**5)  # the weights alone are larger
    assert cli("--out", str(tmp_path / "disk" / "run")) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"error: --out {tmp_path / 'disk' / 'run'} has 0 MB free, the run writes about 91 MB "
        "there (weights, metrics, plot): free some space or choose another --out"]
    assert os.listdir(tmp_path / "disk") == []


def fail_writing(monkeypatch, name):
    """Make the atomic write of the file called ``name`` find the disk full."""
    real = files.atomic_write_bytes

    def write(path, payload, before_rename=None):
        if os.path.basename(path) == name:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(path, payload, before_rename)

    monkeypatch.setattr(files, "atomic_write_bytes", write)
    monkeypatch.setattr(train, "atomic_write_json",
                        lambda path, value: files.atomic_write_json(path, value))


def test_a_full_disk_at_the_end_keeps_the_weights_in_the_last_checkpoint(cli, tmp_path, capsys,
                                                                        monkeypatch):
    monkeypatch.setattr(SoftmaxRegression, "save_weights", lambda self, path, classes=None: (
        files.atomic_write_bytes(path, self.W.tobytes())))
    with monkeypatch.context() as patch:
        fail_writing(patch, "weights.safetensors")
        argv = ["--out", str(tmp_path / "run"), "--checkpoint-dir", str(tmp_path / "ckpt")]
        assert cli(*argv) == 1
    err = [line for line in capsys.readouterr().err.strip().splitlines()
           if not line.startswith("epoch ")]  # the progress bar's lines
    assert len(err) == 1, err
    assert err[0].startswith(f"error: cannot write {tmp_path / 'run' / 'weights.safetensors'} "
                             "(the disk is full): wrote none of weights.safetensors, "
                             "metrics.json, curves.png; the trained weights are in the last "
                             f"checkpoint, {tmp_path / 'ckpt' / 'checkpoint-6.ckpt'}: free some "
                             "space, then ")
    assert err[0].endswith("--resume writes the outputs")
    # No partial file: only the records written whole as the run went.
    assert sorted(os.listdir(tmp_path / "run")) == ["curves.png", "metrics.jsonl"]
    assert cli(*argv, "--resume") == 0  # the disk has room again: nothing to train, outputs
    assert sorted(os.listdir(tmp_path / "run")) == ["curves.png", "metrics.json",
                                                    "metrics.jsonl", "weights.safetensors"]


def test_a_full_disk_at_the_end_without_checkpoints_saves_the_weights_elsewhere(
        cli, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(SoftmaxRegression, "save_weights", lambda self, path, classes=None: (
        files.atomic_write_bytes(path, self.W.tobytes())))
    monkeypatch.setattr(train.tempfile, "gettempdir", lambda: str(tmp_path / "elsewhere"))
    (tmp_path / "elsewhere").mkdir()
    with monkeypatch.context() as patch:
        fail_writing(patch, "weights.safetensors")
        assert cli("--out", str(tmp_path / "run")) == 1
    (saved,) = os.listdir(tmp_path / "elsewhere")
    assert capsys.readouterr().err.strip().endswith(
        f"the trained weights were saved to {tmp_path / 'elsewhere' / saved} instead")
    with monkeypatch.context() as patch:
        fail_writing(patch, "metrics.json")
        assert cli("--out", str(tmp_path / "again")) == 1
    assert capsys.readouterr().err.strip().endswith(
        "wrote weights.safetensors, not metrics.json, curves.png; the trained weights are safe "
        "in weights.safetensors")
    assert sorted(os.listdir(tmp_path / "again")) == ["curves.png", "metrics.jsonl",
                                                      "weights.safetensors"]


def fail_appending(monkeypatch, name):
    """Make an append to the file called ``name`` (metrics.jsonl) find the disk full."""
    from d2l_alexnet.core import callbacks

    def append(path, mode="r", *rest, **options):
        if os.path.basename(path) == name and "a" in mode:
            raise OSError(errno.ENOSPC, "No space left on device")
        return open(path, mode, *rest, **options)
    monkeypatch.setattr(callbacks, "open", append, raising=False)


def test_a_full_disk_at_an_epochs_records_keeps_its_checkpoint(cli, tmp_path, capsys,
                                                               monkeypatch):
    # The checkpoints' disk has room, --out's is full: the epoch's checkpoint is saved anyway.
    with monkeypatch.context() as patch:
        fail_appending(patch, "metrics.jsonl")
        argv = ["--out", str(tmp_path / "run"), "--checkpoint-dir", str(tmp_path / "ckpt")]
        assert cli(*argv) == 1
    err = [line for line in capsys.readouterr().err.strip().splitlines()
           if not line.startswith("epoch ")]
    assert len(err) == 1, err
    assert err[0].startswith(f"error: cannot write {tmp_path / 'run' / 'metrics.jsonl'} (the "
                             "disk is full): free some space; the trained weights are in the "
                             f"last checkpoint, {tmp_path / 'ckpt' / 'checkpoint-3.ckpt'}: "
                             "free some space, then resume with: "), err[0]
    assert err[0].endswith("--resume")
    assert cli(*argv, "--resume") == 0  # room again: the run goes on from that epoch


def test_a_full_disk_at_an_epochs_records_without_checkpoints_saves_the_weights_elsewhere(
        cli, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(train.tempfile, "gettempdir", lambda: str(tmp_path / "elsewhere"))
    (tmp_path / "elsewhere").mkdir()
    with monkeypatch.context() as patch:
        fail_appending(patch, "metrics.jsonl")
        assert cli("--out", str(tmp_path / "run")) == 1
    (saved,) = os.listdir(tmp_path / "elsewhere")
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith(f"error: cannot write {tmp_path / 'run' / 'metrics.jsonl'} (the "
                          "disk is full): free some space; "), err
    assert err.endswith(f"the trained weights were saved to {tmp_path / 'elsewhere' / saved} "
                        "instead")


def test_the_tensorboard_event_file_is_closed_when_the_run_ends_or_fails(cli, tmp_path,
                                                                         monkeypatch):
    pytest.importorskip("tensorboardX")
    logs = []

    class Log(train.TensorBoardLog):
        def __init__(self, log_dir):
            super().__init__(log_dir)
            logs.append(self)
    monkeypatch.setattr(train, "TensorBoardLog", Log)
    argv = ["--out", str(tmp_path / "run"), "--checkpoint-dir", str(tmp_path / "ckpt"),
            "--tensorboard", str(tmp_path / "tb")]
    with monkeypatch.context() as patch:  # the epoch's metrics line fails: the run stops
        fail_appending(patch, "metrics.jsonl")
        assert cli(*argv, "--epochs", "1") == 1
    assert cli(*argv, "--resume") == 0  # the resumed fit appends its own file
    assert len(logs) == 2 and all(log.writer is None for log in logs)
    from tensorboard_events import scalars

    assert [step for step, _ in scalars(tmp_path / "tb")["val_acc"]] == [3, 6]


def test_a_resume_into_another_runs_tensorboard_dir_is_refused_and_changes_nothing(
        cli, tmp_path, capsys):
    """A resumed run with --tensorboard DIR of another run's events went on (exit 0), deleted
    that run's later steps and left its own first epoch unwritten."""
    pytest.importorskip("tensorboardX")
    from tensorboard_events import scalars

    logs, first = tmp_path / "tbA", tmp_path / "ckA"
    assert cli("--out", str(tmp_path / "outA"), "--epochs", "3", "--tensorboard", str(logs),
               "--checkpoint-dir", str(first)) == 0
    before = {path.name: path.read_bytes() for path in logs.iterdir()}
    second = ("--out", str(tmp_path / "outB"), "--checkpoint-dir", str(tmp_path / "ckB"),
              "--seed", "5")
    assert cli(*second, "--epochs", "1") == 0
    capsys.readouterr()
    assert cli(*second, "--resume", "--tensorboard", str(logs)) == 2
    (name,) = before
    err = capsys.readouterr().err
    assert err.startswith(f"error: --tensorboard {logs} holds event files ({name}) of another "
                          "run than the one checkpoint-"), err
    assert err.endswith(" continues: choose an empty directory\n"), err
    assert {path.name: path.read_bytes() for path in logs.iterdir()} == before
    # The run that wrote them resumes there, from an earlier checkpoint (its last removed):
    # its own file's later step is dropped and written again.
    for later in sorted(first.glob("*.ckpt"))[1:]:
        later.unlink()
    assert cli("--out", str(tmp_path / "outA"), "--epochs", "3", "--tensorboard", str(logs),
               "--checkpoint-dir", str(first), "--resume") == 0
    assert [step for step, _ in scalars(logs)["val_acc"]] == [3, 6, 9]


MATPLOTLIB_MODULES = ("matplotlib", "matplotlib.figure", "matplotlib.backends.backend_agg")


def test_a_matplotlib_that_cannot_draw_is_refused_before_training(cli, tmp_path, capsys,
                                                                  monkeypatch):
    for name in MATPLOTLIB_MODULES:  # None in sys.modules: an import fails, as if not installed
        monkeypatch.setitem(sys.modules, name, None)
    fit = []
    monkeypatch.setattr(NumpyTrainer, "fit", lambda *args, **kwargs: fit.append(1))
    assert cli("--out", str(tmp_path / "run"), "--checkpoint-dir", str(tmp_path / "ckpt")) == 2
    assert capsys.readouterr().err == ("error: matplotlib, which draws the plots, is not "
                                       "installed: pip install matplotlib\n")
    assert not fit and os.listdir(tmp_path) == []


def test_an_mplbackend_naming_no_backend_is_refused_before_training(tmp_path):
    # matplotlib reads MPLBACKEND when first imported: a process of its own.
    script = ("import sys; sys.path.insert(0, sys.argv[1]); import numpy_backend\n"
              "from d2l_alexnet import train\n"
              "train.load_backend = lambda name: numpy_backend\n"
              "sys.exit(train.main(sys.argv[2:]))\n")
    result = subprocess.run(
        [sys.executable, "-c", script, os.path.dirname(__file__), "--resize", str(RESIZE),
         "--batch-size", "10", "--limit-train", "30", "--limit-val", "20", "--epochs", "1",
         "--out", str(tmp_path / "run"), "--checkpoint-dir", str(tmp_path / "ckpt")],
        capture_output=True, text=True, timeout=120, env=child_env(MPLBACKEND="bogus"))
    assert (result.returncode, result.stderr) == (2, (
        "error: MPLBACKEND=bogus names no matplotlib backend, so no plot can be drawn: unset "
        "MPLBACKEND (or set it to agg)\n"))
    assert os.listdir(tmp_path) == []


def test_a_figure_that_fails_mid_run_stops_it_in_one_line_keeping_its_checkpoint(
        cli, tmp_path, capsys, monkeypatch):
    from d2l_alexnet.core.progress import FigureError

    def fail(board, path):
        raise FigureError("matplotlib, which draws the plots, is not installed: pip install "
                          "matplotlib")
    monkeypatch.setattr(ProgressBoard, "save", fail)
    argv = ["--out", str(tmp_path / "run"), "--checkpoint-dir", str(tmp_path / "ckpt")]
    assert cli(*argv) == 1
    err = [line for line in capsys.readouterr().err.strip().splitlines()
           if not line.startswith("epoch ")]
    assert len(err) == 1, err
    assert err[0].startswith(f"error: cannot draw {tmp_path / 'run' / 'curves.png'} (matplotlib, "
                             "which draws the plots, is not installed: pip install matplotlib); "
                             "the trained weights are in the last checkpoint, "
                             f"{tmp_path / 'ckpt' / 'checkpoint-3.ckpt'}: "), err[0]


@pytest.mark.parametrize("error", [
    RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 79.15 GiB total)"),
    RuntimeError("[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: can't allocate "
                 "memory: you tried to allocate 123456 bytes."),
    type("OutOfMemoryError", (RuntimeError,), {})("CUDA error"),
    type("ResourceExhaustedError", (Exception,), {})(
        "{{function_node __wrapped__Conv2D}} OOM when allocating tensor with shape[128,96,54,54]"),
    type("XlaRuntimeError", (RuntimeError,), {})(
        "RESOURCE_EXHAUSTED: Out of memory while trying to allocate 1234567 bytes."),
    type("MXNetError", (Exception,), {})(
        "[12:00:00] src/storage/./pooled_storage_manager.h:161: cudaMalloc retry failed: out of "
        "memory"),
    RuntimeError("cuDNN error: CUDNN_STATUS_ALLOC_FAILED"),
    MemoryError(),
])
def test_out_of_memory_errors_suggest_a_smaller_batch(error):
    assert out_of_memory_message(error, 128) == (
        "out of memory at batch size 128: use a smaller --batch-size (try 64)")
    assert "smaller --resize" in out_of_memory_message(error, 1)


def test_other_errors_are_not_called_out_of_memory():
    assert out_of_memory_message(RuntimeError("shape mismatch"), 128) is None
    assert out_of_memory_message(ValueError("memory layout NHWC"), 128) is None


def test_cli_maps_out_of_memory_to_one_line(cli, tmp_path, capsys, monkeypatch):
    def fail(self, batch):  # "GPU" in it: not to be taken for a missing GPU
        raise RuntimeError("CUDA out of memory. Tried to allocate 20.00 MiB (GPU 0; 79 GiB "
                           "total capacity)")

    monkeypatch.setattr(NumpyTrainer, "train_step", fail)
    assert cli("--out", str(tmp_path / "run")) == 1
    assert capsys.readouterr().err.strip().splitlines() == [
        "error: out of memory at batch size 10: use a smaller --batch-size (try 5)"]


def test_cli_device_gpu_without_one_exits_2(cli, tmp_path, capsys):
    # The trainer has no GPU: TrainerBase.select_device raises the DeviceError every backend's
    # device choice ends in (tests/backends/test_*.py check each one's message).
    assert cli("--out", str(tmp_path / "run"), "--device", "gpu") == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "error: no GPU is visible to numpy: use --device cpu or auto"]
    assert not (tmp_path / "run").exists()


def test_a_new_run_without_keep_best_removes_an_earlier_runs_best_weights(cli, tmp_path,
                                                                          capsys):
    out = tmp_path / "run"
    assert cli("--out", str(out), "--keep-best") == 0
    assert (out / "best.safetensors").is_file()
    capsys.readouterr()
    assert cli("--out", str(out)) == 0  # the same folder, another run
    assert not (out / "best.safetensors").exists()
    assert f"removed {out / 'best.safetensors'}, an earlier run's best weights" in \
        capsys.readouterr().err


def test_a_resumed_run_without_keep_best_leaves_the_best_weights(cli, tmp_path, capsys):
    """A resume continues the run that may have kept them (README: "a resumed run leaves
    it"): only a new run removes an earlier run's best.safetensors."""
    out, ckpt = tmp_path / "run", ("--checkpoint-dir", str(tmp_path / "ckpt"))
    assert cli("--out", str(out), *ckpt, "--epochs", "1", "--keep-best") == 0
    kept = (out / "best.safetensors").read_bytes()
    capsys.readouterr()
    assert cli("--out", str(out), *ckpt, "--resume") == 0
    assert (out / "best.safetensors").read_bytes() == kept
    assert "removed" not in capsys.readouterr().err


def test_keep_best_added_at_a_resume_into_another_runs_out_says_so_and_removes_its_file(
        cli, tmp_path, capsys):
    """--keep-best added at a resume into another run's --out kept that run's best.safetensors
    in silence, as if it held the resumed run's best epoch."""
    out_a, best = tmp_path / "outA", tmp_path / "outA" / "best.safetensors"
    assert cli("--out", str(out_a), "--epochs", "1", "--keep-best") == 0
    assert best.is_file()
    second = ("--checkpoint-dir", str(tmp_path / "ckB"), "--lr", "0.05", "--seed", "3")
    assert cli("--out", str(tmp_path / "outB"), *second, "--epochs", "1") == 0
    capsys.readouterr()
    # The resume of a finished run: no later epoch writes the file, so the removal shows.
    assert cli("--out", str(out_a), *second, "--epochs", "1", "--resume", "--keep-best") == 0
    said = capsys.readouterr()
    (note,) = [line for line in (said.out + said.err).splitlines()
               if line.startswith(f"note: {best} does not hold the best epoch so far")]
    assert ": it held other weights (epoch 1, val_acc " in note and "now removed" in note
    assert "nothing left to train" in said.out and not best.exists()


def test_a_network_of_other_rows_is_refused_naming_the_row():
    """A student's exercise 8: the same table with sigmoid for ReLU (every shape the same)
    resumed from the ReLU run's folder, and trained on as neither network."""
    from d2l_alexnet.core.architecture import ALEXNET, Layer, row_label, with_dropout
    from d2l_alexnet.core.checkpoint import Checkpoint, check_compatible

    def network(layers):
        return " ".join(map(row_label, layers))

    saved = Checkpoint("run/checkpoint-3.ckpt", {"network": network(ALEXNET)}, {})
    check_compatible(saved, {"network": network(ALEXNET)})
    check_compatible(Checkpoint("old.ckpt", {}, {}), {"network": network(ALEXNET)})  # older
    check_compatible(saved, {"network": None})  # a lesson's model: built from no rows
    sigmoid = tuple(Layer("sigmoid") if layer.kind == "relu" else layer for layer in ALEXNET)
    with pytest.raises(CheckpointError, match=r"checkpoint-3.ckpt in run was saved from a "
                       r"network of other rows than this model's \(row 2: relu there, sigmoid "
                       r"here\): resume with the layers= and dropout= it was made with"):
        check_compatible(saved, {"network": network(sigmoid)})
    with pytest.raises(CheckpointError, match=r"row 17: dropout0.5 there, dropout0.2 here"):
        check_compatible(saved, {"network": network(with_dropout(0.2))})
    assert network(ALEXNET).split()[:3] == ["conv96/11s4p0", "relu", "maxpool3s2p0"]


def test_a_signal_while_a_checkpoint_is_read_stops_the_run_and_keeps_the_checkpoint(
        cli, tmp_path, capsys, monkeypatch):
    """Before fit runs, a Ctrl-C raised an Exception, which the reader's "except Exception"
    took for a damaged file: a good newest checkpoint was renamed .corrupt and the run went
    back to an older one, training on as if no Ctrl-C had come."""
    argv = ("--out", str(tmp_path / "run"), "--checkpoint-dir", str(tmp_path / "ckpt"))
    assert cli(*argv, "--epochs", "1") == 0
    capsys.readouterr()
    saved = sorted(os.listdir(tmp_path / "ckpt"))
    safe_open = safetensors.safe_open

    def open_after_a_ctrl_c(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)
        return safe_open(*args, **kwargs)

    monkeypatch.setattr(safetensors, "safe_open", open_after_a_ctrl_c)
    assert cli(*argv, "--resume") == 130
    assert "interrupted by SIGINT" in capsys.readouterr().err.strip().splitlines()[-1]
    assert sorted(os.listdir(tmp_path / "ckpt")) == saved


class FailsAtTheLastEpochsLine(io.StringIO):
    """A stdout on a disk that fills as the run prints its last epoch's line."""

    def write(self, text):
        if text.startswith("epoch 2/2:"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return super().write(text)


def test_a_stdout_that_fails_at_an_epochs_line_loses_no_epoch(cli, tmp_path, monkeypatch,
                                                               capsys):
    """The trainer printed an epoch's line before its callbacks saved the epoch: a stdout that
    failed there (a log on a full disk, a `| tee` that died) lost the epoch just trained."""
    folders = ("--out", str(tmp_path / "run"), "--checkpoint-dir", str(tmp_path / "ckpt"))
    monkeypatch.setattr(sys, "stdout", FailsAtTheLastEpochsLine())
    assert cli(*folders) == 1
    err = capsys.readouterr().err
    (newest, *_), = [list_checkpoints(tmp_path / "ckpt")]
    assert read_checkpoint(newest[1]).metadata["epoch"] == 2
    assert len((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()) == 2
    assert f"note: stdout could not be written; the last checkpoint is {newest[1]}" in err
    assert err.endswith("error: cannot write to stdout (the disk is full)\n")
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    assert cli(*folders, "--resume") == 0  # it writes the run's outputs
    assert (tmp_path / "run" / "weights.safetensors").exists()


class StopsInTheSecondValidation(NumpyTrainer):
    """A stop that comes while epoch 2 is validated (a SIGTERM in a long validation)."""

    def train_step(self, batch):
        time.sleep(0.01)  # a training time to be counted
        return super().train_step(batch)

    def eval_step(self, batch):
        if self.epoch == 1 and self.stop_requested is None and not self.stop_spent:
            self.stop_requested = "test"
        return super().eval_step(batch)


def test_an_epoch_resumed_after_its_training_pass_keeps_its_time_and_rate(data, tmp_path):
    """Stopped in its validation, an epoch resumes with no training step left: it recorded
    images_per_sec 0.0 and the validation's seconds alone."""
    set_seed(0)
    trainer = StopsInTheSecondValidation(max_epochs=2, progress=False, log=None,
                                         board=ProgressBoard(live=False))
    checkpointer = Checkpointer(tmp_path, log=None).attach(trainer)
    with pytest.raises(TrainingInterrupted):
        trainer.fit(SoftmaxRegression(lr=0.5), data)
    saved = read_checkpoint(checkpointer.save(trainer))
    progress = saved.metadata["epoch_progress"]
    assert progress["batch"] == 3 and progress["train_seconds"] >= 0.03
    resumed = make_trainer(epochs=2)
    record = resumed.fit(SoftmaxRegression(lr=0.5), data, resume=saved)[-1]
    assert record["seconds"] >= progress["train_seconds"]
    assert record["images_per_sec"] == pytest.approx(30 / progress["train_seconds"], rel=0.05)


def test_a_checkpoint_says_where_it_stands(data, tmp_path):
    """A finished run resumed said "nothing left to train", then "resuming from ...: epoch 13,
    batch 0", an epoch that never comes."""
    checkpointer = Checkpointer(tmp_path, every=1, keep=10, log=None)
    fit(data, epochs=1, checkpointer=checkpointer)
    saved = sorted((read_checkpoint(path) for path in tmp_path.glob("*.ckpt")),
                   key=lambda checkpoint: checkpoint.step)
    assert [checkpoint.describe() for checkpoint in saved] == [
        "epoch 1, batch 1 (step 1)", "epoch 1, batch 2 (step 2)", "the end of epoch 1 (step 3)"]
