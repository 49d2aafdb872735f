"""Command-line refusals that need no framework, and the test runner's MXNet requirement."""

import importlib.util
import os
import subprocess
import sys
import threading
import time
import types

import numpy as np
import pytest

from d2l_alexnet import backends, evaluate, train
from d2l_alexnet.core import weights
from d2l_alexnet.backends import BackendError, canonical_name, load_backend
from d2l_alexnet.core.lock import LOCK_NAME, FolderLocks

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_names_and_aliases():
    assert canonical_name("torch") == "pytorch" and canonical_name("TF") == "tensorflow"
    with pytest.raises(BackendError, match="choose one of pytorch, tensorflow, jax, mxnet"):
        canonical_name("caffe")


@pytest.mark.parametrize("name, hints", [
    ("pytorch", ["pip install -e '.[torch]'", "pip install 'd2l-alexnet[torch]'"]),
    ("tensorflow", ["pip install -e '.[tensorflow]'", "pip install 'd2l-alexnet[tensorflow]'"]),
    ("jax", ["pip install -e '.[jax]'", "pip install 'd2l-alexnet[jax]'"]),
    ("mxnet", ["make mxnet-env"])])
def test_missing_framework_exits_2_with_the_fix(monkeypatch, capsys, tmp_path, name, hints):
    real = importlib.util.find_spec
    missing = backends.BACKENDS[name].framework
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda module, *a: None if module == missing else real(module, *a))
    out = tmp_path / "run"
    assert train.main(["--backend", name, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert all(hint in err for hint in hints), err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_mxnet_on_new_python_says_which_python(monkeypatch):
    monkeypatch.setattr(backends.sys, "version_info", (3, 12, 0))
    with pytest.raises(BackendError, match="Python 3.11 or older"):
        load_backend("mxnet")


def stub_backend():
    """Just enough of a backend for the CLI to reach its --out check, which comes after the
    framework, the data and the model are set up; training itself must never start."""
    class Trainer:
        is_first_replica = True

        def __init__(self, **kwargs):
            pass

        def select_device(self, request):
            return "cpu"

        def fit(self, *args, **kwargs):
            raise AssertionError("training started although --out is unwritable")

    class FashionMNIST:
        source = "a stub"

        def __init__(self, **kwargs):
            pass

        def num_examples(self, train):
            return 8

    class AlexNet:
        def __init__(self, **kwargs):
            pass

        def layer_summary(self, shape):
            pass

    return types.SimpleNamespace(PRECISIONS=("fp32",), Trainer=Trainer,
                                 FashionMNIST=FashionMNIST, AlexNet=AlexNet,
                                 set_seed=lambda seed: None, initialize_distributed=lambda: None,
                                 example_input_shape=lambda resize: (1, resize))


def test_unwritable_out_exits_2(monkeypatch, capsys, tmp_path):
    # The stub stands in for every backend, so no framework's absence can answer first.
    monkeypatch.setattr(train, "load_backend", lambda name: stub_backend())
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    out = blocker / "run"
    code = train.main(["--backend", "pytorch", "--out", str(out)])
    assert code == 2
    assert capsys.readouterr().err == (f"error: cannot write to --out {out} (Not a directory): "
                                       "choose a writable directory\n")
    assert train.main(["--backend", "pytorch", "--out", str(blocker)]) == 2
    assert capsys.readouterr().err == (f"error: cannot write to --out {blocker} ({blocker} is a "
                                       "file, not a folder): choose a writable directory\n")
    assert os.listdir(tmp_path) == ["file"] and blocker.read_text() == "not a directory"


def test_a_folder_in_use_by_a_running_run_is_refused_and_no_folder_is_left(monkeypatch, capsys,
                                                                           tmp_path):
    monkeypatch.setattr(train, "load_backend", lambda name: stub_backend())
    busy = tmp_path / "busy"
    busy.mkdir()
    with FolderLocks() as running:  # another open of the lock file: as another process's
        running.take(str(busy), "--out", "PID 1, started then: the first run")
        # Its --out taken: refused before training (the stub's fit would fail the test).
        assert train.main(["--out", str(busy)]) == 2
        assert capsys.readouterr().err == (
            f"error: --out {busy} is in use by another run (PID 1, started then: the first "
            f"run): wait for it to end, or choose another --out\n")
        # Its --checkpoint-dir taken, with an --out of its own: that --out is not left behind.
        out = tmp_path / "new" / "run"
        assert train.main(["--out", str(out), "--checkpoint-dir", str(busy), "--resume"]) == 2
        assert "error: --checkpoint-dir " in capsys.readouterr().err
        assert sorted(os.listdir(tmp_path)) == ["busy"] and os.listdir(busy) == [LOCK_NAME]
        # It has written checkpoints: not "add --resume", which would join a run still going.
        (busy / "checkpoint-1.ckpt").write_bytes(b"saved by the first run")
        assert train.main(["--out", str(tmp_path / "other"), "--checkpoint-dir", str(busy)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: --checkpoint-dir {busy} is in use by another run (PID 1"), err
    assert not (tmp_path / "other").exists()


def test_a_tensorboard_dir_that_cannot_be_used_exits_2_and_leaves_no_folder(monkeypatch, capsys,
                                                                             tmp_path):
    monkeypatch.setattr(train, "load_backend", lambda name: stub_backend())
    out, blocker, logs = tmp_path / "run", tmp_path / "file", tmp_path / "logs"
    blocker.write_text("not a directory")
    assert train.main(["--out", str(out), "--tensorboard", str(blocker)]) == 2
    assert capsys.readouterr().err == (f"error: cannot write to --tensorboard {blocker} "
                                       f"({blocker} is a file, not a folder): choose a writable "
                                       "directory\n")
    logs.mkdir()
    (logs / "events.out.tfevents.1.host.step-0").write_bytes(b"another run's")
    assert train.main(["--out", str(out), "--tensorboard", str(logs)]) == 2
    assert capsys.readouterr().err == (
        f"error: --tensorboard {logs} already holds a run's event files "
        "(events.out.tfevents.1.host.step-0): add --resume to continue the run of its "
        "--checkpoint-dir, or choose an empty directory\n")
    with FolderLocks() as running:  # a run still writing there
        running.take(str(tmp_path), "--tensorboard", "PID 1, started then: the first run")
        assert train.main(["--out", str(out), "--tensorboard", str(tmp_path)]) == 2
        assert capsys.readouterr().err.startswith(f"error: --tensorboard {tmp_path} is in use "
                                                  "by another run (PID 1")
    monkeypatch.setitem(sys.modules, "tensorboardX", None)  # as if not installed
    assert train.main(["--out", str(out), "--tensorboard", str(tmp_path / "new")]) == 2
    assert capsys.readouterr().err == ("error: writing TensorBoard logs needs tensorboardX, which "
                                       "is not installed: pip install tensorboardX\n")
    assert sorted(os.listdir(tmp_path)) == ["file", "logs"]
    assert os.listdir(logs) == ["events.out.tfevents.1.host.step-0"]


def lesson_weights(path, resize=67, num_classes=4, in_channels=3):
    """A weights file as a lesson's run saves it: ``num_classes`` RGB classes."""
    shapes, _ = weights.canonical_shapes(weights.decode_resize(resize), num_classes,
                                         in_channels)
    weights.save_safetensors(path, {name: np.zeros(shape, np.float32)
                                    for name, shape in shapes.items()},
                             {"format": weights.FORMAT, "architecture": weights.ARCHITECTURE,
                              "resize": str(resize), "num_classes": num_classes,
                              "in_channels": in_channels})
    return path


def test_evaluate_suggests_what_evaluate_can_do_with_another_datas_weights(capsys, tmp_path):
    path = lesson_weights(tmp_path / "cats.safetensors")
    assert evaluate.main(["--weights", str(path)]) == 2
    err = capsys.readouterr().err
    assert err == (f"error: --weights: {path} holds weights for 4 classes, and evaluate measures "
                   "Fashion-MNIST's 10: give it a weights file trained on Fashion-MNIST (train's "
                   "--out), or measure this one on its own data in Python: model = "
                   "d2l.AlexNet(num_classes=4, resize=67, in_channels=3); "
                   "model.load_weights(PATH); d2l.Trainer(max_epochs=1).evaluate(model, data)\n")
    assert "--new-head" not in err and "skip_head" not in err
    # A Fashion-MNIST file at another --resize: the fix is evaluate's flag, not resize=.
    path = lesson_weights(tmp_path / "fashion.safetensors", num_classes=10, in_channels=1)
    assert evaluate.main(["--weights", str(path), "--resize", "71"]) == 2
    assert capsys.readouterr().err == (f"error: --weights: {path} holds weights for 67×67 inputs "
                                       "(the model: 71×71): leave out --resize, which defaults "
                                       "to the size the file was saved for\n")
    # train keeps its own advice, which it can follow (--new-head).
    assert train.main(["--init-from", str(tmp_path / "cats.safetensors"), "--resize", "67",
                       "--out", str(tmp_path / "run")]) == 2
    assert "(the CLI's --new-head)" in capsys.readouterr().err


def test_train_init_from_another_size_suggests_its_resize_flag(capsys, tmp_path):
    path = lesson_weights(tmp_path / "fashion.safetensors", num_classes=10, in_channels=1)
    assert train.main(["--init-from", str(path), "--resize", "71",
                       "--out", str(tmp_path / "run")]) == 2
    assert capsys.readouterr().err == (f"error: --init-from: {path} holds weights for 67×67 "
                                       "inputs (the model: 71×71): train with --resize 67, the "
                                       "size it was saved for\n")
    wide = lesson_weights(tmp_path / "wide.safetensors", resize="67x80", num_classes=10,
                          in_channels=1)
    assert train.main(["--init-from", str(wide), "--resize", "67",
                       "--out", str(tmp_path / "run")]) == 2
    assert capsys.readouterr().err.endswith(
        "(the model: 67×67): --resize gives square inputs only: train from it in Python: "
        "model = d2l.AlexNet(resize=(67, 80)); model.load_weights(PATH)\n")
    assert not (tmp_path / "run").exists()


# ---- tools/run_tests.py without a Python for MXNet -------------------------------------------

def load_run_tests():
    spec = importlib.util.spec_from_file_location("run_tests",
                                                  os.path.join(ROOT, "tools", "run_tests.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("required", [False, True])
def test_run_tests_without_mxnet_fails_only_when_mxnet_is_required(monkeypatch, capsys,
                                                                   required):
    run_tests = load_run_tests()
    commands = []

    def fake_run(command, **kwargs):  # every suite "passes" at once
        commands.append(command)
        return subprocess.CompletedProcess(command, 0, stdout="1 passed in 0.01s\n")

    monkeypatch.setattr(run_tests.subprocess, "run", fake_run)
    monkeypatch.setattr(run_tests.sys, "argv", ["run_tests.py", "--python", "python",
                                                "--mxnet-python", ""])
    if required:
        monkeypatch.setenv("D2L_ALEXNET_REQUIRE_MXNET", "1")
    else:
        monkeypatch.delenv("D2L_ALEXNET_REQUIRE_MXNET", raising=False)
    code = run_tests.main()
    captured = capsys.readouterr()
    if required:
        assert code == 1 and commands == [], "no suite may run when MXNet's are required"
        assert captured.err.startswith("error: D2L_ALEXNET_REQUIRE_MXNET=1, but no Python <= "
                                       "3.11 was found, so the MXNet suites"), captured.err
        assert len(captured.err.strip().splitlines()) == 1
    else:
        assert code == 0 and commands, captured.out
        assert not any("mxnet" in " ".join(command) for command in commands)
        assert "note: no Python <= 3.11 found, so the MXNet suites are not run" in captured.out


def test_run_tests_runs_two_suites_at_a_time_and_the_page_after_the_notebooks(monkeypatch,
                                                                               capsys):
    run_tests = load_run_tests()
    events, lock = [], threading.Lock()
    running = {"now": 0, "most": 0}

    def fake_run(command, **kwargs):
        name = " ".join(command)
        with lock:
            running["now"] += 1
            running["most"] = max(running["most"], running["now"])
            events.append(("start", name))
        time.sleep(0.05 if "run_notebooks" in name else 0.01)
        with lock:
            running["now"] -= 1
            events.append(("end", name))
        return subprocess.CompletedProcess(command, 0, stdout="1 passed in 0.01s\n")

    monkeypatch.setattr(run_tests.subprocess, "run", fake_run)
    monkeypatch.setattr(run_tests.sys, "argv", ["run_tests.py", "--python", "py",
                                                "--mxnet-python", "mxpy"])
    assert run_tests.main() == 0
    assert running["most"] == 2
    names = [name for kind, name in events if kind == "start"]
    assert "parity_fixture.py" in names[0]  # the reference, before any suite
    assert events[1] == ("end", names[0])
    book = events.index(("start", next(name for name in names if "tests/book" in name)))
    notebook_ends = [index for index, (kind, name) in enumerate(events)
                     if kind == "end" and "run_notebooks" in name]
    assert len(notebook_ends) == 3 and max(notebook_ends) < book
    assert any(name.startswith("mxpy ") and "--backend mxnet" in name for name in names)
    assert all("--mode smoke" in name for name in names if "run_notebooks" in name)
    assert capsys.readouterr().out.strip().endswith("10 passed, 0 failed, 0 skipped")
