"""What a CLI run records as it goes, in each backend: ``metrics.jsonl`` readable while the run
is still going, ``--keep-best``'s ``best.safetensors``, ``--early-stopping`` and
``--tensorboard``'s event files, which a resumed run continues exactly. The runs are held and
killed by ``fault_launcher.py``."""

import json
import subprocess
import sys
import time

import pytest

from d2l_alexnet.core.callbacks import METRICS_KEYS
from d2l_alexnet.core.weights import load_safetensors
from tensorboard_events import scalars
from repository import FAULT_LAUNCHER, child_env

RUN = ("--epochs", "2", "--batch-size", "8", "--limit-train", "16", "--limit-val", "8",
       "--resize", "67")  # two steps per epoch


def launch(backend_name, folder, *flags, **faults):
    """The CLI through the fault launcher, writing into ``folder``; returns the process."""
    env = child_env(**faults)
    return subprocess.Popen([sys.executable, FAULT_LAUNCHER, "--backend", backend_name, *RUN,
                             "--out", str(folder / "out"), "--checkpoint-dir",
                             str(folder / "ckpt"), *flags],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)


def finish(process):
    output, _ = process.communicate(timeout=300)
    return process.returncode, output


def records(folder):
    """metrics.jsonl's lines, each without its seconds (which differ between any two runs)."""
    lines = (folder / "out" / "metrics.jsonl").read_text().splitlines()
    return [{key: value for key, value in json.loads(line).items() if key != "seconds"}
            for line in lines]


def test_metrics_jsonl_has_the_first_epoch_while_the_run_goes_on(backend_name, tmp_path):
    go = tmp_path / "go"
    # Held after step 3, the first of epoch 2, until `go` exists.
    running = launch(backend_name, tmp_path, D2L_ALEXNET_TEST_WAIT_AFTER_STEP=f"3:{go}")
    # Epoch 1's checkpoint is saved after every other callback of its end.
    epoch_end, deadline = tmp_path / "ckpt" / "checkpoint-2.ckpt", time.monotonic() + 240
    try:
        while not epoch_end.exists():
            assert running.poll() is None and time.monotonic() < deadline, finish(running)
            time.sleep(0.1)
        (line,) = (tmp_path / "out" / "metrics.jsonl").read_text().splitlines()
        assert running.poll() is None  # still going: the line came before the end
    finally:
        go.touch()
    first = json.loads(line)
    assert tuple(first) == METRICS_KEYS
    assert (first["epoch"], first["step"], first["images_seen"], first["lr"]) == (1, 2, 16, 0.01)
    status, output = finish(running)
    assert status == 0, output[-3000:]
    assert [record["epoch"] for record in records(tmp_path)] == [1, 2]
    assert (tmp_path / "out" / "curves.png").read_bytes()[:4] == b"\x89PNG"


def test_keep_best_early_stopping_and_tensorboard_resume_exactly(backend_name, tmp_path):
    flags = ("--keep-best", "--early-stopping", "1", "--lr", "0.05", "--checkpoint-every", "1")
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    status, output = finish(launch(backend_name, straight, *flags))
    assert status == 0, output[-3000:]
    # Killed after step 3, mid-epoch 2: its checkpoint holds epoch 1 and the best so far.
    logs = ("--tensorboard", str(resumed / "logs"))
    status, _ = finish(launch(backend_name, resumed, *flags, *logs,
                              D2L_ALEXNET_TEST_KILL_AFTER_STEP="3"))
    assert status == -9
    status, again = finish(launch(backend_name, resumed, *flags, *logs, "--resume"))
    assert status == 0, again[-3000:]
    # Both runs' event files together: metrics.jsonl's scalars, each step once.
    logged = scalars(resumed / "logs")
    for key in ("train_loss", "val_loss", "val_acc", "lr"):
        assert logged[key] == [(record["step"], pytest.approx(record[key], rel=1e-6))
                               for record in records(resumed)], key
    assert [step for step, _ in logged["seconds"]] == [2, 4] == \
        [step for step, _ in logged["images_per_sec"]]
    assert len(list((resumed / "logs").iterdir())) == 2  # one event file per process
    assert records(resumed) == records(straight) and len(records(straight)) == 2
    assert (resumed / "out" / "best.safetensors").read_bytes() == \
        (straight / "out" / "best.safetensors").read_bytes()
    best = max(records(straight), key=lambda record: record["val_acc"])  # the first of ties
    _, metadata = load_safetensors(str(straight / "out" / "best.safetensors"))
    assert (metadata["epoch"], float(metadata["val_acc"])) == (str(best["epoch"]),
                                                               best["val_acc"])
    stopped = [line for line in output.splitlines() if line.startswith("early stopping: ")]
    assert stopped == [line for line in again.splitlines() if line.startswith("early stopping")]
    first, second = (record["val_acc"] for record in records(straight))
    assert len(stopped) == (second <= first)  # no higher val_acc in epoch 2: said so, once


def test_an_early_stopping_below_one_exits_2_in_one_line(backend_name, tmp_path):
    status, output = finish(launch(backend_name, tmp_path, "--early-stopping", "0"))
    assert status == 2
    assert output.strip() == ("error: --early-stopping must be at least 1 (epochs without a "
                              "higher val_acc before stopping), got 0")
    assert not tmp_path.joinpath("out").exists()
