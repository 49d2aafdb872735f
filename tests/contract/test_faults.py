"""Faults at the edges of a real run, in every backend: a disk that fills while training, Ctrl-C
pressed twice (in a step, and in validation), bad input, which must leave no folder behind, and
the files a run leaves (a checkpoint with momentum buffers against the free-space estimate, a
checkpoint's weights taken as a weights file, a weights file holding a NaN);
a second run started in a running run's folders.

The disk test mounts a small tmpfs (root only; elsewhere it is skipped, and
``tests/core/test_checkpoint.py`` injects the same full disk without a framework).
"""

import json
import os
import shlex
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from d2l_alexnet import bench
from d2l_alexnet.core import weights
from d2l_alexnet.core.checkpoint import estimated_bytes, list_checkpoints, read_checkpoint
from d2l_alexnet.core.lock import LOCK_NAME, FolderLocks
from d2l_alexnet.core.recipe import TrainingRecipe
from repository import FAULT_LAUNCHER, child_env

SMALL = 67
RUN = ("--batch-size", "8", "--limit-train", "32", "--resize", str(SMALL))


def environment(**extra):
    return child_env(PYTHONUNBUFFERED="1", **extra)


def start(arguments, launcher=("-m", "d2l_alexnet.train"), **extra):
    """The CLI in a process of its own, stdout and stderr merged, line by line."""
    return subprocess.Popen([sys.executable, *launcher, *arguments],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=environment(**extra))


def wait_for(process, marker, timeout=300):
    """Read the process's lines until one contains ``marker``; returns the lines read."""
    lines, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if marker in line:
            return lines
    process.kill()
    raise AssertionError(f"never saw {marker!r}: {lines[-20:]}")


def finish(process, lines=()):
    rest, _ = process.communicate(timeout=600)
    return process.returncode, [*lines, *rest.splitlines()]


def final_arrays(directory):
    return read_checkpoint(list_checkpoints(directory)[0][1]).arrays


@pytest.fixture
def small_disk(tmpfs):
    """A 100 MB tmpfs: room for the outputs of a 67×67 AlexNet (about 91 MB), and no more."""
    return tmpfs("small-disk", "size=100m")


def test_a_disk_that_fills_during_the_run_keeps_the_trained_weights(d2l, backend_name, tmp_path,
                                                                     small_disk):
    out, ckpt = small_disk / "run", tmp_path / "ckpt"
    arguments = ["--backend", backend_name, *RUN, "--epochs", "6", "--limit-val", "8",
                 "--out", str(out), "--checkpoint-dir", str(ckpt)]
    process = start(arguments)
    lines = wait_for(process, "training on")  # the start-up checks have passed
    filler = small_disk / "filler"
    free = os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize
    with open(filler, "wb") as stream:  # another program fills the disk meanwhile
        stream.write(b"\0" * (free - (1 << 20)))
    status, lines = finish(process, lines)
    assert status == 1, lines[-5:]
    message = lines[-1]
    assert message.startswith(f"error: cannot write {out / 'weights.safetensors'} (the disk is "
                              "full): wrote none of weights.safetensors, metrics.json, "
                              "curves.png; the trained weights are in the last checkpoint, "
                              f"{ckpt / 'checkpoint-24.ckpt'}: free some space, then "), message
    assert "Traceback" not in "\n".join(lines)
    assert sorted(os.listdir(small_disk)) == ["filler", "run"]
    assert sorted(os.listdir(out)) == ["curves.png", "metrics.jsonl"]  # written as it went
    os.remove(filler)
    command = shlex.split(message.split("free some space, then ", 1)[1].rsplit(" writes", 1)[0])
    result = subprocess.run(command, capture_output=True, text=True, env=environment(),
                            timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "nothing left to train" in result.stdout
    assert sorted(os.listdir(out)) == ["curves.png", "metrics.json", "metrics.jsonl",
                                       "weights.safetensors"]


CTRL_C_RUN = ("--epochs", "2", "--checkpoint-every", "2")


@pytest.fixture(scope="module")
def straight(backend_name, tmp_path_factory):
    """The final checkpoint's arrays of an uninterrupted run (validation changes none of them,
    so one run serves both cases below)."""
    directory = tmp_path_factory.mktemp("straight")
    result = subprocess.run([sys.executable, "-m", "d2l_alexnet.train", "--backend",
                             backend_name, *RUN, *CTRL_C_RUN, "--limit-val", "8", "--out",
                             str(directory / "run"), "--checkpoint-dir", str(directory / "ckpt")],
                            capture_output=True, text=True, env=environment(), timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    return final_arrays(directory / "ckpt")


def wait_for_checkpoints(process, directory, count, timeout=300):
    """Until ``directory`` holds ``count`` checkpoints (a few steps are done) or the process
    ends."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        if len(list_checkpoints(directory)) >= count:
            return
        time.sleep(0.01)
    raise AssertionError(f"no {count} checkpoints in {directory}")


@pytest.mark.parametrize("moment", ["training", "validation"])
def test_ctrl_c_twice_stops_at_once_and_the_resume_is_still_exact(d2l, backend_name, tmp_path,
                                                                  straight, moment):
    ckpt = tmp_path / "ckpt"
    arguments = ["--backend", backend_name, *RUN, *CTRL_C_RUN, "--out", str(tmp_path / "run"),
                 "--checkpoint-dir", str(ckpt),
                 # Validation of 800 images lasts long enough to be interrupted in.
                 "--limit-val", "800" if moment == "validation" else "8"]
    process = start(arguments)
    if moment == "training":
        wait_for_checkpoints(process, ckpt, 1)  # steps are under way
        lines = []
    else:  # the epoch's last bar line (tqdm's, at 100%) comes right before validation
        lines = wait_for(process, "epoch 1/2: 100%|")
    process.send_signal(signal.SIGINT)  # twice at once, as an impatient person does
    process.send_signal(signal.SIGINT)
    status, lines = finish(process, lines)
    assert status == 130, lines[-5:]
    assert lines[-1].startswith("interrupted by SIGINT: "), lines[-3:]
    assert "Traceback" not in "\n".join(lines)
    assert not [name for name in os.listdir(ckpt) if name.endswith(".tmp")]
    result = subprocess.run([sys.executable, "-m", "d2l_alexnet.train", *arguments, "--resume"],
                            capture_output=True, text=True, env=environment(), timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    got = final_arrays(ckpt)
    assert set(got) == set(straight)
    differing = [name for name in straight if not np.array_equal(got[name], straight[name])]
    assert not differing, f"not bit-exact after the double Ctrl-C: {differing}"


def test_refused_runs_create_no_folder(d2l, backend_name, tmp_path):
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte"):
        (corrupt / name).write_bytes(b"\x00\x00\x08\x03garbage")
    cases = [(["--data-dir", str(corrupt)], "train-images-idx3-ubyte"),
             (["--epochs", "0"], "--epochs must be at least 1")]
    if not d2l.num_gpus():
        cases.append((["--device", "gpu"], "--device cpu"))
    if backend_name == "pytorch":  # several devices need torchrun
        cases.append((["--devices", "2"], "torchrun --nproc-per-node 2"))
    for arguments, phrase in cases:
        out, ckpt = tmp_path / "deep" / "run", tmp_path / "deep" / "ckpt"
        result = subprocess.run([sys.executable, "-m", "d2l_alexnet.train", "--backend",
                                 backend_name, *RUN, *arguments, "--out", str(out),
                                 "--checkpoint-dir", str(ckpt)],
                                capture_output=True, text=True, env=environment(), timeout=600)
        assert result.returncode == 2, (arguments, result.stderr[-2000:])
        assert phrase in result.stderr and "Traceback" not in result.stderr, result.stderr
        assert not (tmp_path / "deep").exists(), f"{arguments} left {tmp_path / 'deep'} behind"


@pytest.fixture(scope="module")
def momentum_run(backend_name, tmp_path_factory):
    """One training step with momentum, checkpointed: the folder holding ``run`` (its outputs)
    and ``ckpt`` (its one checkpoint, of the epoch's end)."""
    directory = tmp_path_factory.mktemp("momentum")
    result = subprocess.run([sys.executable, "-m", "d2l_alexnet.train", "--backend",
                             backend_name, "--batch-size", "8", "--limit-train", "8",
                             "--limit-val", "8", "--resize", str(SMALL), "--epochs", "1",
                             "--momentum", "0.9", "--out", str(directory / "run"),
                             "--checkpoint-dir", str(directory / "ckpt")],
                            capture_output=True, text=True, env=environment(), timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    return directory


def test_a_checkpoint_with_momentum_fits_the_free_space_estimate(momentum_run):
    [(_, path)] = list_checkpoints(momentum_run / "ckpt")
    assert any(name.startswith("optimizer.") for name in read_checkpoint(path).arrays)
    size = os.path.getsize(path)
    assert estimated_bytes(SMALL, 10) < size, "the momentum buffers are not in the checkpoint"
    assert size <= estimated_bytes(SMALL, 10, TrainingRecipe(momentum=0.9)), size


def test_a_checkpoint_gives_the_weights_of_its_run(d2l, backend_name, momentum_run):
    """``load_weights`` of the run's last checkpoint gives its final weights, bit for bit (the
    checkpoint holds them in this backend's own names, order and layout)."""
    assert weights.BACKEND_LAYOUTS[backend_name] == d2l.LAYOUT
    [(_, path)] = list_checkpoints(momentum_run / "ckpt")
    lines = []
    from_checkpoint = d2l.AlexNet(resize=SMALL).load_weights(str(path), log=lines.append)
    assert lines == [f"{path} is a checkpoint: took the model weights it holds (step 1 of a "
                     f"{backend_name} run); to continue that run itself, pass its folder as "
                     "--checkpoint-dir with --resume"]
    final = d2l.AlexNet(resize=SMALL).load_weights(str(momentum_run / "run" /
                                                       "weights.safetensors"))
    for (name, got), (_, expected) in zip(d2l.parameter_arrays(from_checkpoint),
                                          d2l.parameter_arrays(final)):
        np.testing.assert_array_equal(got, expected, err_msg=name)


def test_weights_holding_a_nan_are_refused_and_leave_the_model_as_it_was(d2l, tmp_path,
                                                                         momentum_run):
    tensors, _ = weights.load_safetensors(momentum_run / "run" / "weights.safetensors")
    tensors["conv2.bias"][3] = np.nan
    path = tmp_path / "diverged.safetensors"
    weights.save_weights(path, weights.from_canonical(tensors, "NCHW", SMALL, 10), "NCHW",
                         SMALL, 10, backend="test")
    model = d2l.AlexNet(resize=SMALL)
    before = d2l.parameter_arrays(model)
    with pytest.raises(weights.WeightsError, match="conv2.bias holds 1 NaN or infinite value"):
        model.load_weights(str(path))
    for (name, got), (_, expected) in zip(d2l.parameter_arrays(model), before):
        np.testing.assert_array_equal(got, expected, err_msg=name)


def test_a_second_run_in_a_running_runs_folders_is_refused_and_the_first_resumes(
        d2l, backend_name, tmp_path):
    out, ckpt, go = tmp_path / "run", tmp_path / "ckpt", tmp_path / "go"

    def run_a(epochs):
        return ["--backend", backend_name, *RUN, "--epochs", str(epochs), "--limit-val", "8",
                "--checkpoint-every", "1", "--out", str(out), "--checkpoint-dir", str(ckpt)]

    first = run_a(epochs=1)
    # Run A waits after its first step (and checkpoint) until the file `go` appears.
    running = start(first, launcher=(FAULT_LAUNCHER,),
                    D2L_ALEXNET_TEST_WAIT_AFTER_STEP=f"1:{go}")
    try:
        wait_for_checkpoints(running, ckpt, 1)
        in_use = f"is in use by another run (PID {running.pid}, started "
        # The same command again: refused by its first checks, before a framework loads.
        again = subprocess.run([sys.executable, "-m", "d2l_alexnet.train", *first],
                               capture_output=True, text=True, env=environment(), timeout=600)
        assert again.returncode == 2, again.stderr
        assert again.stderr.startswith(f"error: --checkpoint-dir {ckpt} {in_use}"), again.stderr
        assert len(again.stderr.splitlines()) == 1 and " --checkpoint-dir " in again.stderr
        # One on A's --out with a --checkpoint-dir of its own, which it must not leave behind:
        # refused by its first checks too, before its introduction and writing anything.
        other = tmp_path / "other-ckpt"
        second = start(["--backend", backend_name, *RUN, "--limit-val", "8", "--out", str(out),
                        "--checkpoint-dir", str(other)])
        status, lines = finish(second)
        assert status == 2, lines[-5:]
        assert lines[-1].startswith(f"error: --out {out} {in_use}"), lines[-3:]
        assert lines[-1].endswith(": wait for it to end, or choose another --out"), lines[-1]
        assert "Traceback" not in "\n".join(lines) and not other.exists()
    finally:
        go.touch()
    status, lines = finish(running)
    assert status == 0, lines[-5:]
    assert sorted(os.listdir(out)) == ["curves.png", "metrics.json", "metrics.jsonl",
                                       "weights.safetensors"]
    assert LOCK_NAME not in os.listdir(ckpt)
    resumed = subprocess.run([sys.executable, "-m", "d2l_alexnet.train", *run_a(epochs=2),
                              "--resume"],
                             capture_output=True, text=True, env=environment(), timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert len(read_checkpoint(list_checkpoints(ckpt)[0][1]).metadata["history"]) == 2


TIME_TO_ACCURACY = ("--time-to-accuracy", "1.0", "--epochs", "1", "--batch-size", "8",
                    "--limit-train", "16", "--limit-val", "8", "--resize", str(SMALL))


def test_bench_time_to_accuracy_checks_and_locks_its_folders_before_training(
        d2l, backend_name, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    assert bench.main(["--backend", backend_name, *TIME_TO_ACCURACY,
                       "--out", str(blocker / "run")]) == 2
    captured = capsys.readouterr()
    assert captured.err == (f"error: cannot write to --out {blocker / 'run'} (Not a directory): "
                            "choose a writable directory\n")
    assert "val_acc" not in captured.out  # refused before the first evaluation
    busy, out = tmp_path / "busy", tmp_path / "deep" / "out"
    busy.mkdir()
    with FolderLocks() as running:  # another open of the lock file: as another process's
        running.take(str(busy), "--checkpoint-dir", "PID 1, started then: a bench")
        assert bench.main(["--backend", backend_name, *TIME_TO_ACCURACY, "--out", str(out),
                           "--checkpoint-dir", str(busy)]) == 2
        assert capsys.readouterr().err == (
            f"error: --checkpoint-dir {busy} is in use by another run (PID 1, started then: a "
            f"bench): wait for it to end, or choose another --checkpoint-dir\n")
        assert os.listdir(busy) == [LOCK_NAME] and not (tmp_path / "deep").exists()


def test_evaluate_measures_a_weights_file_saved_for_a_non_square_input(d2l, backend_name,
                                                                       tmp_path):
    from d2l_alexnet.core import weights

    shapes, _ = weights.canonical_shapes((SMALL, 80), 10)
    path = tmp_path / "wide.safetensors"
    weights.save_safetensors(path, {name: np.full(shape, 0.01, np.float32)
                                    for name, shape in shapes.items()},
                             {"format": weights.FORMAT, "architecture": weights.ARCHITECTURE,
                              "resize": f"{SMALL}x80", "num_classes": 10, "in_channels": 1})
    result = subprocess.run([sys.executable, "-m", "d2l_alexnet.evaluate", "--backend",
                             backend_name, "--weights", str(path), "--limit-val", "8"],
                            capture_output=True, text=True, env=environment(), timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"at {SMALL}×80" in result.stdout and "val_acc" in result.stdout, result.stdout


def test_bench_time_to_accuracy_saves_at_a_signal_and_its_resume_ends_once(d2l, backend_name,
                                                                           tmp_path):
    """As train does: SIGTERM stops at a step boundary with a checkpoint and the command that
    resumes (exit 143); that command finishes the run, and once more says it has ended,
    leaving the result as it was."""
    out = tmp_path / "out"
    running = start(["--backend", backend_name, "--time-to-accuracy", "1.0", "--epochs", "2",
                     "--batch-size", "8", "--limit-train", "32", "--limit-val", "8", "--resize",
                     str(SMALL), "--eval-every", "0.25", "--checkpoint-dir",
                     str(tmp_path / "ckpt"), "--checkpoint-every", "1", "--out", str(out)],
                    launcher=("-m", "d2l_alexnet.bench"))
    lines = []
    for line in running.stdout:
        lines.append(line.rstrip("\n"))
        if line.startswith("  ") and "val_acc" in line:  # the first evaluation's
            running.send_signal(signal.SIGTERM)
            break
    lines += running.stdout.read().splitlines()
    assert running.wait(timeout=600) == 143, lines[-5:]
    assert lines[-1].startswith(f"interrupted by SIGTERM: saved {tmp_path / 'ckpt'}"
                                f"{os.sep}checkpoint-"), lines[-5:]
    command = shlex.split(lines[-1].split("; resume with: ")[1])
    assert command[-1] == "--resume" and not (out / "time-to-accuracy.json").exists()
    resumed = subprocess.run(command, capture_output=True, text=True, env=environment(),
                             timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    result = (out / "time-to-accuracy.json").read_bytes()
    assert json.loads(result)["parts"] == 2
    again = subprocess.run(command, capture_output=True, text=True, env=environment(),
                           timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "the run has ended (it has finished 2 epoch(s), --epochs is 2): nothing left to " \
           "train" in again.stdout
    assert (out / "time-to-accuracy.json").read_bytes() == result
