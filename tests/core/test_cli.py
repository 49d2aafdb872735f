"""Command-line refusals that need no framework, and the test runner's MXNet requirement."""

import importlib
import importlib.util
import os
import subprocess
import sys
import threading
import time
import types

import numpy as np
import pytest

from PIL import Image

from d2l_alexnet import backends, bench, cli, evaluate, predict, train
from d2l_alexnet.core import weights
from d2l_alexnet.core.data import TEXT_LABELS
from d2l_alexnet.backends import BackendError, canonical_name, load_backend
from d2l_alexnet.core.lock import LOCK_NAME, FolderLocks
from repository import REPO, child_env


def test_names_and_aliases():
    assert canonical_name("torch") == "pytorch" and canonical_name("TF") == "tensorflow"
    with pytest.raises(BackendError, match="choose one of pytorch, tensorflow, jax, mxnet"):
        canonical_name("caffe")


@pytest.mark.parametrize("name, hints", [
    ("pytorch", ["pip install -e '.[torch]'", "pip install 'd2l-alexnet[torch]'"]),
    ("tensorflow", ["pip install -e '.[tensorflow]'", "pip install 'd2l-alexnet[tensorflow]'"]),
    ("jax", ["pip install -e '.[jax]'", "pip install 'd2l-alexnet[jax]'"]),
    ("mxnet", ["make mxnet-env",
               "Python 3.11 virtual environment: pip install 'd2l-alexnet[mxnet]'"])])
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


def test_a_folder_named_as_the_framework_is_not_taken_for_it(monkeypatch, tmp_path):
    """``python -m`` puts the current folder first on the path, where a folder ``mxnet`` is a
    namespace package to ``find_spec``: that is the missing framework's one line, not an
    ``AttributeError`` from inside the backend. (Where the framework is installed, Python
    takes the real package over the folder: so the test takes one this environment lacks,
    MXNet in .venv, PyTorch in .venv-mxnet.)"""
    missing = [backend for backend in ("mxnet", "pytorch")
               if importlib.util.find_spec(backends.BACKENDS[backend].framework) is None]
    if not missing:
        pytest.skip("both MXNet and PyTorch are installed here: no folder can shadow them")
    framework = backends.BACKENDS[missing[0]].framework
    (tmp_path / framework).mkdir()
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, framework, raising=False)
    with pytest.raises(backends.BackendError) as caught:
        backends.load_backend(missing[0], "bench")
    assert str(caught.value).startswith(backends.install_hint(missing[0], "bench"))
    assert (f"the folder {tmp_path / framework} has the name {framework}"
            in str(caught.value))


def test_the_mxnet_hint_names_the_command_that_asked(monkeypatch, capsys, tmp_path):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda module, *a: None if module == "mxnet" else real(module, *a))
    weights_file = tmp_path / "w.safetensors"
    shapes, _ = weights.canonical_shapes(67, 10)
    weights.save_canonical(weights_file, {name: np.zeros(shape, np.float32)
                                          for name, shape in shapes.items()}, 67, 10, "test")
    assert evaluate.main(["--backend", "mxnet", "--weights", str(weights_file)]) == 2
    assert ".venv-mxnet/bin/python -m d2l_alexnet.evaluate --backend mxnet" in \
        capsys.readouterr().err
    # bench --time-to-accuracy named train's command.
    monkeypatch.chdir(tmp_path)
    assert bench.main(["--time-to-accuracy", "0.5", "--backend", "mxnet"]) == 2
    assert ".venv-mxnet/bin/python -m d2l_alexnet.bench --backend mxnet" in \
        capsys.readouterr().err


def test_a_commands_output_is_flushed_at_every_line_into_a_file_or_pipe():
    # So `train ... > log` or `| tee` shows each epoch as it ends, not all at the exit.
    result = subprocess.run(
        [sys.executable, "-c", "import sys; from d2l_alexnet.cli import command_parser; "
         "command_parser('train', None); print(sys.stdout.line_buffering)"],
        capture_output=True, text=True, env={**os.environ, "PYTHONUNBUFFERED": ""})
    assert result.stdout.strip() == "True", result.stderr


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

        def decide_data_on_device(self, data):
            return False

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
                                 example_input_shape=lambda resize, in_channels=1: (
                                     1, in_channels, resize))


def test_unwritable_out_exits_2(monkeypatch, capsys, tmp_path):
    # The stub stands in for every backend, so no framework's absence can answer first.
    monkeypatch.setattr(train, "load_backend", lambda name: stub_backend())
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    out = blocker / "run"
    code = train.main(["--backend", "pytorch", "--out", str(out)])
    assert code == 2
    assert capsys.readouterr() == ("", f"error: cannot write to --out {out} ({blocker} is a "
                                       "file, not a folder): choose a writable directory\n")
    assert train.main(["--backend", "pytorch", "--out", str(blocker)]) == 2
    assert capsys.readouterr().err == (f"error: cannot write to --out {blocker} ({blocker} is a "
                                       "file, not a folder): choose a writable directory\n")
    assert os.listdir(tmp_path) == ["file"] and blocker.read_text() == "not a directory"


@pytest.mark.parametrize("name", ["metrics.jsonl", "weights.safetensors", "curves.png",
                                  "metrics.json", "best.safetensors"])
def test_an_out_holding_a_folder_named_as_an_output_is_refused_before_training(
        monkeypatch, capsys, tmp_path, name):
    monkeypatch.setattr(train, "load_backend", lambda name: stub_backend())
    (tmp_path / "run" / name).mkdir(parents=True)
    assert train.main(["--backend", "pytorch", "--out", str(tmp_path / "run")]) == 2
    assert capsys.readouterr() == ("", f"error: --out {tmp_path / 'run'} holds a folder named "
                                       f"{name}, where the run writes that file: move or remove "
                                       "the folder, or choose another --out\n")


def test_an_out_that_is_a_dangling_link_is_named_as_one(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(train, "load_backend", lambda name: stub_backend())
    os.symlink(tmp_path / "gone", tmp_path / "run")
    assert train.main(["--backend", "pytorch", "--out", str(tmp_path / "run")]) == 2
    assert capsys.readouterr().err == (f"error: --out {tmp_path / 'run'} is a symbolic link to "
                                       f"{tmp_path / 'gone'}, which does not exist: create that "
                                       "folder, or choose another --out\n")
    assert os.listdir(tmp_path) == ["run"]


def test_a_nearly_full_read_only_out_is_named_read_only_not_full(monkeypatch, capsys, tmpfs):
    monkeypatch.setattr(train, "load_backend", lambda name: stub_backend())
    read_only = tmpfs("read-only", "ro,size=1m")  # too small for the weights as well
    for out in (read_only, read_only / "run"):
        assert train.main(["--backend", "pytorch", "--out", str(out)]) == 2
        assert capsys.readouterr().err == (f"error: cannot write to --out {out} (Read-only "
                                           "file system): choose a writable directory\n")


def test_a_default_out_under_a_read_only_folder_is_refused_before_the_introduction(
        monkeypatch, capsys, tmpfs):
    monkeypatch.setattr(train, "load_backend", lambda name: stub_backend())
    monkeypatch.chdir(tmpfs("read-only", "ro,size=1m"))
    assert train.main(["--backend", "pytorch"]) == 2
    assert capsys.readouterr() == ("", "error: cannot write to --out runs/pytorch (Read-only "
                                       "file system): choose a writable directory\n")


def test_a_folder_in_use_by_a_running_run_is_refused_and_no_folder_is_left(monkeypatch, capsys,
                                                                           tmp_path):
    monkeypatch.setattr(train, "load_backend", lambda name: stub_backend())
    busy = tmp_path / "busy"
    busy.mkdir()
    with FolderLocks() as running:  # another open of the lock file: as another process's
        running.take(str(busy), "--out", "PID 1, started then: the first run")
        # Its --out taken: refused before training (the stub's fit would fail the test).
        assert train.main(["--out", str(busy)]) == 2
        # Before the introduction and the layer table (and the framework's start-up).
        assert capsys.readouterr() == ("", (
            f"error: --out {busy} is in use by another run (PID 1, started then: the first "
            f"run): wait for it to end, or choose another --out\n"))
        # Its --checkpoint-dir taken, with an --out of its own: that --out is not left behind.
        out = tmp_path / "new" / "run"
        assert train.main(["--out", str(out), "--checkpoint-dir", str(busy), "--resume"]) == 2
        assert "error: --checkpoint-dir " in capsys.readouterr().err
        assert sorted(os.listdir(tmp_path)) == ["busy"] and os.listdir(busy) == [LOCK_NAME]
        # It has written checkpoints: not "add --resume", which would join a run still going.
        (busy / "checkpoint-1.ckpt").write_bytes(b"saved by the first run")
        assert train.main(["--out", str(tmp_path / "other"), "--checkpoint-dir", str(busy)]) == 2
        err = capsys.readouterr().err
        refusal = f"error: --checkpoint-dir {busy} is in use by another run (PID 1"
        assert err.startswith(refusal), err
    assert not (tmp_path / "other").exists()


def test_a_tensorboard_dir_that_cannot_be_used_exits_2_and_leaves_no_folder(monkeypatch, capsys,
                                                                             tmp_path):
    monkeypatch.setattr(train, "load_backend", lambda name: stub_backend())
    out, blocker, logs = tmp_path / "run", tmp_path / "file", tmp_path / "logs"
    blocker.write_text("not a directory")
    assert train.main(["--out", str(out), "--tensorboard", str(blocker)]) == 2
    assert capsys.readouterr() == ("", f"error: cannot write to --tensorboard {blocker} "
                                       f"({blocker} is a file, not a folder): choose a writable "
                                       "directory\n")
    assert train.main(["--out", str(out), "--tensorboard", str(blocker / "under")]) == 2
    assert capsys.readouterr() == ("", f"error: cannot write to --tensorboard {blocker / 'under'} "
                                       f"({blocker} is a file, not a folder): choose a writable "
                                       "directory\n")
    logs.mkdir()
    (logs / "events.out.tfevents.1.host.step-0").write_bytes(b"another run's")
    assert train.main(["--out", str(out), "--tensorboard", str(logs)]) == 2
    assert capsys.readouterr().err == (
        f"error: --tensorboard {logs} already holds a run's event files "
        "(events.out.tfevents.1.host.step-0): choose an empty directory, or remove them\n")
    assert train.main(["--out", str(out), "--tensorboard", str(logs), "--checkpoint-dir",
                       str(tmp_path / "none")]) == 2
    assert capsys.readouterr().err == (
        f"error: --tensorboard {logs} already holds a run's event files "
        "(events.out.tfevents.1.host.step-0): add --resume to continue the run of its "
        "--checkpoint-dir, or choose an empty directory\n")
    # --resume that finds nothing to resume starts a new run: the events are still another's.
    assert train.main(["--out", str(out), "--tensorboard", str(logs), "--checkpoint-dir",
                       str(tmp_path / "logs" / "none"), "--resume"]) == 2
    assert "--resume found no checkpoint in --checkpoint-dir" in capsys.readouterr().err
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


def test_an_event_file_without_scalars_does_not_block_a_new_run(tmp_path):
    """A run stopped before its first evaluation leaves an event file holding only its header:
    no run's record, so the same command runs again (it was refused, with advice to --resume
    that could not work without a checkpoint directory)."""
    from types import SimpleNamespace

    from d2l_alexnet.core.callbacks import TensorBoardLog

    pytest.importorskip("tensorboardX")
    logs = tmp_path / "logs"
    log = TensorBoardLog(logs)
    os.makedirs(logs)
    log.event_file_writer.EventsWriter(str(logs / "events"), filename_suffix=".step-0").close()
    (stopped,) = os.listdir(logs)
    assert not log.holds_scalars(logs / stopped)
    args = SimpleNamespace(tensorboard=str(logs), resume_from=None, resume=False,
                           checkpoint_dir=None)
    assert isinstance(train.check_tensorboard(args), TensorBoardLog)


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
    assert err == (f"error: --weights: {path} holds weights for 4 classes, and Fashion-MNIST "
                   "has 10: give it a weights file trained on Fashion-MNIST (train's --out), or "
                   "measure this one on images of its own classes: --image-folder DIR\n")
    assert "--new-head" not in err and "skip_head" not in err
    # A Fashion-MNIST file at another --resize: the fix is evaluate's flag, not resize=.
    path = lesson_weights(tmp_path / "fashion.safetensors", num_classes=10, in_channels=1)
    assert evaluate.main(["--weights", str(path), "--resize", "71"]) == 2
    assert capsys.readouterr().err == (f"error: --weights: {path} holds weights for 67×67 inputs "
                                       "(the model: 71×71): leave out --resize, which defaults "
                                       "to the size the file was saved for\n")
    # Below the smallest side too: leaving --resize out is the one fix (it had been told to
    # use at least 67 first, and then to leave it out).
    assert evaluate.main(["--weights", str(path), "--resize", "50"]) == 2
    assert capsys.readouterr().err.endswith("(the model: 50×50): leave out --resize, which "
                                            "defaults to the size the file was saved for\n")
    # train keeps its own advice, which it can follow (--new-head), not the Python's.
    cats = tmp_path / "cats.safetensors"
    assert train.main(["--init-from", str(cats), "--resize", "67",
                       "--out", str(tmp_path / "run")]) == 2
    assert capsys.readouterr().err == (
        f"error: --init-from: {cats} holds weights for 4 classes, and Fashion-MNIST has 10: add "
        "--new-head to fine-tune it onto the run's classes (all but its last layer are "
        "loaded)\n")
    # At another size too, the first refusal names both fixes.
    assert train.main(["--init-from", str(cats), "--resize", "71",
                       "--out", str(tmp_path / "run")]) == 2
    assert capsys.readouterr().err.endswith(
        "train with --resize 67, the size it was saved for, and add --new-head: it holds "
        "weights for 4 classes, the run has 10\n")
    assert not (tmp_path / "run").exists()


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
        "model = d2l.AlexNet(num_classes=10, resize=(67, 80), in_channels=1); "
        "model.load_weights(PATH)\n")
    assert not (tmp_path / "run").exists()


def test_a_files_own_classes_and_channels_are_in_the_python_that_loads_it(capsys, tmp_path):
    """The lines for a non-square file left out its classes and channels (and skip_head with
    --new-head): following them failed for any file but a 10-class greyscale one."""
    wide = lesson_weights(tmp_path / "wide.safetensors", resize="67x90", num_classes=2)
    folder = picture_folder(tmp_path / "pictures", classes=("bird", "fish", "frog"))
    assert train.main(["--init-from", str(wide), "--image-folder", str(folder), "--new-head",
                       "--resize", "67", "--out", str(tmp_path / "run")]) == 2
    assert capsys.readouterr().err.endswith(
        "model = d2l.AlexNet(num_classes=3, resize=(67, 90), in_channels=3); "
        "model.load_weights(PATH, skip_head=True)\n")
    assert evaluate.main(["--weights", str(wide), "--image-folder", str(folder)]) == 2
    assert capsys.readouterr().err.endswith(
        "or fine-tune it onto these in Python: model = d2l.AlexNet(num_classes=3, "
        "resize=(67, 90), in_channels=3); model.load_weights(PATH, skip_head=True)\n")
    # A greyscale file fine-tuned onto RGB pictures: the model takes the pictures' channels
    # (load_weights adapts the first layer), where the file's made one that fit refused.
    grey = lesson_weights(tmp_path / "grey.safetensors", resize="67x90", num_classes=10,
                          in_channels=1)
    assert train.main(["--init-from", str(grey), "--image-folder", str(folder), "--new-head",
                       "--resize", "67", "--out", str(tmp_path / "run")]) == 2
    assert capsys.readouterr().err.endswith(
        "model = d2l.AlexNet(num_classes=3, resize=(67, 90), in_channels=3); "
        "model.load_weights(PATH, skip_head=True)\n")
    assert evaluate.main(["--weights", str(grey), "--image-folder", str(folder)]) == 2
    assert capsys.readouterr().err.endswith(
        "resize=(67, 90), in_channels=3); model.load_weights(PATH, skip_head=True)\n")


def test_a_file_without_its_size_is_given_the_resize_its_dense1_fits(capsys, tmp_path):
    """A file of tensors only (saved by another tool): train said no size and no flag, and
    evaluate's fine-tuning command left out the --resize it had worked out (67 to 98 here)."""
    shapes, _ = weights.canonical_shapes((67, 67), 10, 1)
    bare = tmp_path / "bare.safetensors"
    weights.save_safetensors(bare, {name: np.zeros(shape, np.float32)
                                    for name, shape in shapes.items()}, {})
    assert train.main(["--init-from", str(bare), "--limit-train", "64",
                       "--out", str(tmp_path / "run")]) == 2
    assert capsys.readouterr().err == (
        f"error: --init-from: {bare} records no input size, and its dense1 fits inputs of 67 "
        "to 98 pixels a side (the model: 224×224): train with --resize 67, or another side in "
        "that range\n")
    folder = picture_folder(tmp_path / "pictures", classes=("bird", "fish"))
    assert evaluate.main(["--weights", str(bare), "--image-folder", str(folder)]) == 2
    assert capsys.readouterr().err.endswith(
        f"--init-from {bare} --new-head --resize 67\n")


# ---- your own images: the refusals, before any framework ------------------------------------

def picture_folder(root, classes=("cat", "dog"), per_class=2):
    for name in classes:
        (root / name).mkdir(parents=True)
        for index in range(per_class):
            Image.new("RGB", (8, 8), (40 * index, 90, 200)).save(root / name / f"{index}.png")
    return root


def refused(main, argv, capsys):
    """The one line ``main(argv)`` exits 2 with."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
    return err


@pytest.mark.parametrize("case, words", [
    ("one class", "one class folder (cat)"),
    ("no images", "no images"),
    ("--new-head alone", "--new-head needs --init-from"),
    ("--val-folder alone", "--val-folder goes with --image-folder"),
    ("--data-dir too", "--data-dir is for Fashion-MNIST"),
    ("--limit-train too", "--limit-train is for Fashion-MNIST"),
    ("both validations", "pass one of them"),
    ("split of 1", "--validation-split must lie between 0 and 1"),
    ("other val classes", "give both the same class subfolders"),
    ("another class count", "add --new-head"),
])
def test_train_refuses_a_bad_image_folder_run_in_one_line(capsys, tmp_path, case, words):
    folder = picture_folder(tmp_path / "pictures")
    flags = {
        "one class": ["--image-folder", str(picture_folder(tmp_path / "one", ("cat",)))],
        "no images": ["--image-folder", str(picture_folder(tmp_path / "none", per_class=0))],
        "--new-head alone": ["--image-folder", str(folder), "--new-head"],
        "--val-folder alone": ["--val-folder", str(folder)],
        "--data-dir too": ["--image-folder", str(folder), "--data-dir", str(tmp_path)],
        "--limit-train too": ["--image-folder", str(folder), "--limit-train", "4"],
        "both validations": ["--image-folder", str(folder), "--val-folder", str(folder),
                             "--validation-split", "0.5"],
        "split of 1": ["--image-folder", str(folder), "--validation-split", "1"],
        "other val classes": ["--image-folder", str(folder), "--val-folder",
                              str(picture_folder(tmp_path / "val", ("cat", "cow")))],
        "another class count": ["--image-folder", str(folder), "--init-from",
                                str(lesson_weights(tmp_path / "four.safetensors"))],
    }[case]
    err = refused(train.main, [*flags, "--resize", "67", "--out", str(tmp_path / "run")], capsys)
    assert words in err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("flag, data_flag", [("--out", "--image-folder"),
                                             ("--checkpoint-dir", "--val-folder"),
                                             ("--tensorboard", "--image-folder")])
def test_train_refuses_an_output_inside_its_image_folders(capsys, tmp_path, flag, data_flag):
    folders = {"--image-folder": picture_folder(tmp_path / "pictures"),
               "--val-folder": picture_folder(tmp_path / "val")}
    (tmp_path / "link").symlink_to(folders[data_flag])  # the same place by another name
    inside = tmp_path / "link" / "run"
    data = ["--image-folder", str(folders["--image-folder"]), "--val-folder",
            str(folders["--val-folder"]), "--resize", "67"]
    err = refused(train.main, [*data, flag, str(inside)], capsys)
    assert f"{flag} {inside} is inside {data_flag} {folders[data_flag]}" in err
    assert f"choose {flag} outside it" in err
    # What would be read as a class is the flag's own (TensorBoard writes no curves.png).
    assert {"--out": "curves.png", "--checkpoint-dir": "its checkpoints",
            "--tensorboard": "its event files"}[flag] in err
    assert not inside.exists() and sorted(path.name for path in folders[data_flag].iterdir()) \
        == ["cat", "dog"]
    # The folder itself holds no class of a run's files (files directly in it are no class's).
    args = train.build_parser().parse_args([*data, "--out", str(folders["--image-folder"])])
    train.validate(args)
    assert args.class_names == ["cat", "dog"]


def test_train_refuses_an_output_inside_an_image_folder_given_through_a_link(capsys,
                                                                             tmp_path):
    """The other side of the links: --image-folder a link, --out the real path inside it."""
    folder = picture_folder(tmp_path / "pictures")
    (tmp_path / "link").symlink_to(folder)
    inside = folder / "run"
    err = refused(train.main, ["--image-folder", str(tmp_path / "link"), "--resize", "67",
                               "--out", str(inside)], capsys)
    assert f"--out {inside} is inside --image-folder {tmp_path / 'link'}" in err
    assert not inside.exists()


def test_train_takes_a_val_folder_copied_from_macos_as_the_same_classes(capsys, tmp_path):
    folder = picture_folder(tmp_path / "pictures", ("eclair", "\u00e9cru", "fig"))
    copied = picture_folder(tmp_path / "copied", ("eclair", "e\u0301cru", "fig"))  # NFD
    args = train.build_parser().parse_args(["--image-folder", str(folder), "--val-folder",
                                            str(copied), "--resize", "67"])
    train.validate(args)
    assert args.class_names == ["eclair", "fig", "\u00e9cru"]  # --image-folder's numbering
    other = picture_folder(tmp_path / "other", ("eclair", "ecru", "fig"))
    err = refused(train.main, ["--image-folder", str(folder), "--val-folder", str(other),
                               "--resize", "67", "--out", str(tmp_path / "run")], capsys)
    assert "give both the same class subfolders" in err


def test_train_finds_the_folders_classes_and_channels_before_any_framework(tmp_path):
    args = train.build_parser().parse_args(["--image-folder", str(picture_folder(tmp_path)),
                                            "--resize", "67"])
    train.validate(args)
    assert (args.class_names, args.num_classes, args.in_channels) == (["cat", "dog"], 2, 3)
    assert args.validation_split == 0.2  # ImageFolder's own default
    grey = tmp_path / "grey"
    for name in ("a", "b"):
        (grey / name).mkdir(parents=True)
        Image.new("L", (8, 8), 10).save(grey / name / "1.png")
    args = train.build_parser().parse_args(["--image-folder", str(grey), "--resize", "67"])
    train.validate(args)
    assert (args.color_mode, args.in_channels) == ("grayscale", 1)
    fashion = train.build_parser().parse_args(["--resize", "67"])
    train.validate(fashion)
    assert fashion.num_classes == 10 and fashion.class_names[0] == "t-shirt"


def named_weights(path, classes, in_channels=3):
    lesson_weights(path, num_classes=len(classes), in_channels=in_channels)
    tensors, _ = weights.load_safetensors(path)
    weights.save_canonical(path, tensors, 67, len(classes), "test", in_channels,
                           classes=classes)
    return path


def test_train_init_from_a_file_of_other_class_names_needs_new_head(capsys, tmp_path):
    folder = picture_folder(tmp_path / "pictures", ("a", "b", "c"))
    run = ["--resize", "67", "--out", str(tmp_path / "run")]
    pets = named_weights(tmp_path / "pets.safetensors", ["bird", "cat", "dog"])
    err = refused(train.main, ["--image-folder", str(folder), "--init-from", str(pets), *run],
                  capsys)
    assert "trained on the classes bird, cat, dog, and --image-folder" in err
    assert f"{folder} has a, b, c: add --new-head" in err
    # Fashion-MNIST's names in sorted order, as a run on an exported folder writes them.
    sorted_fashion = named_weights(tmp_path / "sorted.safetensors", sorted(TEXT_LABELS), 1)
    err = refused(train.main, ["--init-from", str(sorted_fashion), *run], capsys)
    assert "names Fashion-MNIST's classes in another order (ankle boot, bag," in err
    assert "add --new-head" in err
    assert not (tmp_path / "run").exists()
    # The same names, decomposed as a macOS folder gives them: the same classes.
    accents = picture_folder(tmp_path / "accents", ("cafe\u0301", "the\u0301"))
    args = train.build_parser().parse_args(["--image-folder", str(accents), "--init-from", str(
        named_weights(tmp_path / "nfc.safetensors", ["caf\u00e9", "th\u00e9"])), *run])
    train.validate(args)
    assert args.init_tensors["dense3.weight"].shape == (2, 4096)


def test_evaluate_refuses_a_folder_of_other_classes_than_the_files(capsys, tmp_path):
    folder = picture_folder(tmp_path / "pictures")
    cats = named_weights(tmp_path / "cats.safetensors", ["cat", "cow"])
    err = refused(evaluate.main, ["--image-folder", str(folder), "--weights", str(cats)], capsys)
    assert ("was trained on the classes cat, cow, and --image-folder "
            f"{folder} has cat, dog") in err
    # The fine-tuning command it names runs as written: the file's 67×67, not train's default.
    assert err.rstrip().endswith(f"train --image-folder {folder} --init-from {cats} --new-head "
                                 "--resize 67"), err
    three = named_weights(tmp_path / "three.safetensors", ["a", "b", "c"])
    err = refused(evaluate.main, ["--image-folder", str(folder), "--weights", str(three)], capsys)
    # The count is not the problem: the folder's classes the file does not know are.
    assert (f"trained on the classes a, b, c, and --image-folder {folder} has cat, dog, of "
            "which cat, dog are not among them") in err
    horses = picture_folder(tmp_path / "horses", ("cat", "horse"))
    pets = named_weights(tmp_path / "pets.safetensors", ["bird", "cat", "dog"])
    err = refused(evaluate.main, ["--image-folder", str(horses), "--weights", str(pets)], capsys)
    assert (f"trained on the classes bird, cat, dog, and --image-folder {horses} has cat, horse, "
            "of which horse is not among them") in err
    # A macOS folder's decomposed names are the file's composed ones.
    accents = picture_folder(tmp_path / "accents", ("cafe\u0301", "the\u0301"))
    args = evaluate.build_parser().parse_args(["--image-folder", str(accents), "--weights", str(
        named_weights(tmp_path / "nfc.safetensors", ["caf\u00e9", "th\u00e9", "tea"]))])
    evaluate.validate(args)
    assert args.model_classes == ["caf\u00e9", "th\u00e9", "tea"]
    err = refused(evaluate.main, ["--weights", str(named_weights(
        tmp_path / "ten.safetensors", list("abcdefghij"), in_channels=1))], capsys)
    assert "a, b, c, d, e, f and 4 more, not Fashion-MNIST's" in err and "--image-folder" in err
    refused(evaluate.main, ["--weights", str(cats), "--skip-unreadable"], capsys)


def test_predict_names_the_classes_the_file_records_or_says_why_not(tmp_path):
    saved = {"num_classes": 2, "in_channels": 3, "classes": ["cat", "dog"]}
    assert predict.class_names("w", saved) == (["cat", "dog"], None)
    names, note = predict.class_names("w", {**saved, "classes": None})
    assert names == ["0", "1"] and "printing class indices 0..1" in note and "\n" not in note
    names, note = predict.class_names("w", {"num_classes": 10, "in_channels": 1,
                                            "classes": None})
    assert names[0] == "t-shirt" and "Fashion-MNIST's names" in note
    names, _ = predict.class_names("w", {"num_classes": 10, "in_channels": 3, "classes": None})
    assert names[0] == "0"  # ten RGB classes: not a Fashion-MNIST run


def test_predict_refuses_bad_input_in_one_line(capsys, tmp_path):
    cats = str(named_weights(tmp_path / "cats.safetensors", ["cat", "dog"]))
    picture = picture_folder(tmp_path / "pictures") / "cat" / "0.png"
    (tmp_path / "notes.png").write_text("not an image")
    assert "notes.png is not an image" in refused(
        predict.main, ["--weights", cats, str(picture), str(tmp_path / "notes.png")], capsys)
    assert "--top-k 3 is more than the 2 classes" in refused(
        predict.main, ["--weights", cats, "--top-k", "3", str(picture)], capsys)
    assert "--weights PATH is required" in refused(predict.main, [str(picture)], capsys)
    assert "no such file" in refused(
        predict.main, ["--weights", str(tmp_path / "none.safetensors"), str(picture)], capsys)


# ---- tools/run_tests.py: without a Python for MXNet, with too little room, two at a time ------

def load_run_tests(monkeypatch, free=100 * 2**30):
    """The runner, seeing ``free`` bytes in the temporary directory whatever this disk has."""
    spec = importlib.util.spec_from_file_location("run_tests",
                                                  os.path.join(REPO, "tools", "run_tests.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    asked = []
    monkeypatch.setattr(module, "free_bytes", lambda path: asked.append(path) or free)
    module.asked_for_room_in = asked
    return module


@pytest.mark.parametrize("required", [False, True])
def test_run_tests_without_mxnet_fails_only_when_mxnet_is_required(monkeypatch, capsys,
                                                                   required):
    run_tests = load_run_tests(monkeypatch)
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


def test_run_tests_stops_before_any_suite_without_room_in_the_temporary_directory(
        monkeypatch, capsys, tmp_path):
    run_tests = load_run_tests(monkeypatch, free=3 * 2**30)
    commands = []
    monkeypatch.setattr(run_tests.subprocess, "run", lambda command, **_: commands.append(command))
    monkeypatch.setattr(run_tests.tempfile, "tempdir", str(tmp_path))  # as TMPDIR sets it
    monkeypatch.setattr(run_tests.sys, "argv", ["run_tests.py", "--python", "python",
                                                "--mxnet-python", "mxpy"])
    assert run_tests.main() == 1 and commands == []
    assert run_tests.asked_for_room_in == [str(tmp_path)]
    error = capsys.readouterr().err
    assert error.startswith(f"error: the suites need 5 GiB free in the temporary directory "
                            f"{tmp_path} for their weight files and checkpoints, and it has "
                            "3.0 GiB: free some room there, or point TMPDIR at"), error
    assert len(error.strip().splitlines()) == 1


def test_run_tests_runs_two_suites_at_a_time_and_the_page_after_the_notebooks(monkeypatch,
                                                                               capsys):
    run_tests = load_run_tests(monkeypatch)
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


def test_predict_writes_a_tab_or_line_break_in_a_field_as_an_escape():
    # One image per line stays one line of three fields, whatever its file is called.
    assert predict.tab_field("my\tcat\nphoto\r.png") == "my\\tcat\\nphoto\\r.png"
    assert predict.tab_field("ankle boot") == "ankle boot"
    assert predict.tab_field("e\\tf") == "e\\\\tf"  # a backslash of its own: not a tab


def test_predict_names_a_file_whose_name_is_not_utf8_by_its_own_bytes(tmp_path):
    """A name with a byte that is not UTF-8 (a Latin-1 "café"): its line gave the escape
    ``caf\\xe9.png``, its backslash escaped again as a field's, so the line named a file
    ``caf\\xe9.png`` that may be another; now the name's own bytes, as ``ls`` gives them."""
    weights_file = named_weights(tmp_path / "w.safetensors", ["cat", "dog"], 1)
    latin1 = os.fsdecode(b"caf\xe9.png")
    Image.new("L", (8, 8)).save(os.path.join(os.fsencode(tmp_path), b"caf\xe9.png"))
    Image.new("L", (8, 8)).save(tmp_path / "caf\\xe9.png")  # the escape, as a real name
    result = subprocess.run(without_a_framework("predict", "--weights", str(weights_file),
                                                latin1, "caf\\xe9.png"),
                            capture_output=True, env=child_env(), cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [b"caf\xe9.png\tcat\t0.5000",
                                          b"caf\\\\xe9.png\tcat\t0.5000"]


def tensors_only(path, num_classes, in_channels, resize=67):
    """A weights file of another tool: AlexNet's tensors, no metadata."""
    shapes, _ = weights.canonical_shapes(resize, num_classes, in_channels)
    weights.save_safetensors(path, {name: np.zeros(shape, np.float32)
                                    for name, shape in shapes.items()})
    return path


def test_a_file_without_metadata_is_read_at_the_size_and_channels_its_tensors_have(capsys,
                                                                                  tmp_path):
    picture = picture_folder(tmp_path / "pictures") / "cat" / "0.png"
    rgb = str(tensors_only(tmp_path / "rgb.safetensors", 3, 3))
    args = predict.build_parser().parse_args(["--weights", rgb, str(picture)])
    predict.validate(args)
    assert (args.resize, args.in_channels, args.pixels[0].shape) == (67, 3, (67, 67, 3))
    assert any("dense1 fits inputs of 67 to 98 pixels a side; reading images at 67×67 "
               "(--resize to choose another)" in note for note in args.notes)
    args = evaluate.build_parser().parse_args(["--weights", rgb, "--image-folder", str(
        picture_folder(tmp_path / "three", ("a", "b", "c")))])
    evaluate.validate(args)
    assert (args.resize, args.in_channels) == (67, 3)
    err = refused(predict.main, ["--weights", rgb, "--resize", "120", str(picture)], capsys)
    assert "--resize 120 does not fit" in err and "inputs of 67 to 98 pixels" in err
    chapter = str(tensors_only(tmp_path / "chapter.safetensors", 10, 1, resize=224))
    args = predict.build_parser().parse_args(["--weights", chapter, str(picture)])
    predict.validate(args)
    assert (args.resize, args.in_channels) == (224, 1)
    # A file that records its size: --resize may only repeat it.
    cats = str(named_weights(tmp_path / "cats.safetensors", ["cat", "dog"]))
    assert "leave out --resize" in refused(
        predict.main, ["--weights", cats, "--resize", "80", str(picture)], capsys)


def test_a_file_for_images_of_four_channels_is_refused_before_any_framework(capsys, tmp_path):
    folder = picture_folder(tmp_path / "pictures")
    four = str(named_weights(tmp_path / "four.safetensors", ["cat", "dog"], in_channels=4))
    # evaluate on Fashion-MNIST too: its class refusal had sent the user to --image-folder,
    # which then refused the channels.
    for main, argv in ((predict.main, [str(folder / "cat" / "0.png")]),
                       (evaluate.main, ["--image-folder", str(folder)]), (evaluate.main, [])):
        err = refused(main, ["--weights", four, *argv], capsys)
        assert ("is for 4-channel inputs, and the command line reads images as greyscale "
                "(1 channel) or RGB (3)") in err
        assert "in_channels=" not in err


def test_evaluate_reads_a_file_without_class_names_as_predict_does(capsys, tmp_path):
    """A 10-class greyscale file names Fashion-MNIST's classes to predict: evaluate reads its
    outputs so too, rather than as a folder's sorted classes; either way a line says so."""
    unnamed = str(lesson_weights(tmp_path / "unnamed.safetensors", num_classes=3,
                                 in_channels=1))
    fashion = str(tensors_only(tmp_path / "fashion.safetensors", 10, 1))
    letters = picture_folder(tmp_path / "letters", list("abcdefghij"), per_class=1)
    err = refused(evaluate.main, ["--weights", fashion, "--image-folder", str(letters)], capsys)
    assert "names no classes and has Fashion-MNIST's shape, so is read (as predict reads it) " \
           "as Fashion-MNIST's t-shirt, trouser," in err
    clothes = picture_folder(tmp_path / "clothes", ("bag", "coat"))
    args = evaluate.build_parser().parse_args(["--weights", fashion, "--image-folder",
                                               str(clothes)])
    evaluate.validate(args)
    assert args.model_classes == list(TEXT_LABELS)
    assert any("reading its outputs as Fashion-MNIST's classes" in note for note in args.notes)
    three = picture_folder(tmp_path / "three", ("x", "y", "z"))
    args = evaluate.build_parser().parse_args(["--weights", unnamed, "--image-folder",
                                               str(three)])
    evaluate.validate(args)
    assert args.model_classes == ["x", "y", "z"]
    assert any("sorted order of --image-folder's classes (x, y, z)" in note
               for note in args.notes)


def test_evaluate_matches_fashion_mnists_names_in_another_order_by_name(tmp_path):
    """What train --image-folder writes for an exported Fashion-MNIST folder: the ten names
    sorted. Each output is put at its label's place, found by name."""
    in_order = sorted(TEXT_LABELS)
    path = named_weights(tmp_path / "sorted.safetensors", in_order, in_channels=1)
    tensors, _ = weights.load_safetensors(path)
    tensors["dense3.bias"] = np.arange(10, dtype=np.float32)  # each row's place in the file
    weights.save_canonical(path, tensors, 67, 10, "test", 1, classes=in_order)
    args = evaluate.build_parser().parse_args(["--weights", str(path)])
    evaluate.validate(args)
    assert args.tensors["dense3.bias"].tolist() == [in_order.index(name) for name in TEXT_LABELS]
    assert any("matched to its label by name" in note for note in args.notes)


class FullStream:
    """A stdout on a full disk."""

    def write(self, text):
        raise OSError(28, "No space left on device")

    def flush(self):
        pass


def test_every_command_ends_a_stdout_it_cannot_write_in_one_line(monkeypatch, capsys):
    def run(args):
        print("val_loss 0.5")
        return 0

    def fails(args):  # another OSError is a bug: its traceback shows
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(sys, "stdout", FullStream())
    assert cli.exit_status_of(run, types.SimpleNamespace()) == 1
    assert capsys.readouterr().err == "error: cannot write to stdout (the disk is full)\n"
    assert isinstance(sys.stdout, FullStream)  # as it was
    with pytest.raises(OSError):
        cli.exit_status_of(fails, types.SimpleNamespace())


def test_a_command_started_in_a_removed_folder_is_refused_in_one_line(monkeypatch, tmp_path,
                                                                     capsys):
    """``train`` in a folder removed under the shell raised FileNotFoundError from its default
    --out's check (PyTorch's oneMKL aborted where it got further)."""
    ran = []
    gone = tmp_path / "gone"
    gone.mkdir()
    monkeypatch.chdir(gone)
    gone.rmdir()
    assert cli.exit_status_of(ran.append, types.SimpleNamespace()) == 2
    assert capsys.readouterr().err == (
        "error: the current folder no longer exists (it was removed while the shell was in "
        "it): cd into one that does, and run the command again\n")
    assert ran == []


@pytest.mark.parametrize("command", [
    ["d2l_alexnet"], ["d2l_alexnet", "--version"],
    *[[f"d2l_alexnet.{name}", flag] for name in ("train", "evaluate", "predict", "bench", "cost",
                                                 "filters") for flag in ("--help", "--version")]])
def test_help_and_version_end_as_any_command_on_a_stdout_they_cannot_write(command):
    """The command list, --help and --version onto a full disk: one line, exit 1 (argparse
    dropped the error: exit 0 with the text lost; the command list raised a traceback); into
    a pipe whose reader has gone: quiet, 141."""
    with open("/dev/full", "w") as full:
        result = subprocess.run([sys.executable, "-m", *command], stdout=full, text=True,
                                stderr=subprocess.PIPE, timeout=60)
    assert (result.returncode, result.stderr) == (
        1, "error: cannot write to stdout (the disk is full)\n")
    reader, writer = os.pipe()
    os.close(reader)
    with os.fdopen(writer, "w") as closed:
        result = subprocess.run([sys.executable, "-m", *command], stdout=closed, text=True,
                                stderr=subprocess.PIPE, timeout=60)
    assert (result.returncode, result.stderr) == (141, "")


def test_predict_says_in_one_line_that_it_took_a_checkpoints_weights(tmp_path):
    from test_weights import as_checkpoint, random_canonical

    path = as_checkpoint(tmp_path / "checkpoint-12.ckpt", random_canonical(), "pytorch")
    picture = picture_folder(tmp_path / "pictures") / "cat" / "0.png"
    args = predict.build_parser().parse_args(["--weights", str(path), str(picture)])
    predict.validate(args)
    assert [note for note in args.notes if note.startswith(
        f"{path} is a checkpoint: took the model weights it holds")]


# Each command's flags that name a file or folder, as a user types them after --flag=.
PATH_FLAGS = {
    "train": ["--out", "--tensorboard", "--init-from", "--image-folder", "--val-folder",
              "--checkpoint-dir", "--data-dir"],
    "evaluate": ["--weights", "--image-folder", "--data-dir"],
    "predict": ["--weights"],
    "bench": ["--json", "--plot", "--out", "--checkpoint-dir", "--data-dir"],
    "filters": ["--weights", "--out", "--save-kernel", "--minus"],
}


class Parsed(Exception):
    """Raised by a command's parse_args with what it parsed, to stop the command there."""


@pytest.mark.parametrize("command", sorted(PATH_FLAGS))
def test_a_tilde_after_flag_equals_is_the_home_folder_in_every_command(command, monkeypatch,
                                                                        tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    real_parse = cli.CommandParser.parse_args

    def parse_and_stop(self, argv=None, namespace=None):
        raise Parsed(real_parse(self, argv, namespace))

    monkeypatch.setattr(cli.CommandParser, "parse_args", parse_and_stop)
    flags = PATH_FLAGS[command]
    argv = [f"{flag}=~/{flag[2:]}" for flag in flags] + (["~/a.png"] if command == "predict"
                                                          else [])
    module = importlib.import_module(f"d2l_alexnet.{command}")
    with pytest.raises(Parsed) as parsed:
        module.main(argv)
    args = vars(parsed.value.args[0])
    for flag in flags:  # bash leaves these as typed: no ./~ folder, no file not found
        assert args[flag[2:].replace("-", "_")] == str(tmp_path / "home" / flag[2:]), flag
    if command == "predict":
        assert args["images"] == [str(tmp_path / "home" / "a.png")]


def test_a_tilde_with_no_home_to_expand_is_refused_not_made_a_folder(monkeypatch, capsys):
    monkeypatch.delenv("HOME", raising=False)
    monkeypatch.setattr(os.path, "expanduser", lambda path: path)  # no passwd entry either
    with pytest.raises(SystemExit) as refused:
        train.build_parser().parse_args(["--out=~/runs"])
    assert refused.value.code == 2
    assert "cannot expand ~ in ~/runs: HOME is not set" in capsys.readouterr().err
    assert cli.path_argument("~nobody-here/x") == "~nobody-here/x"  # a name, as bash leaves it


def test_predict_finds_a_weights_file_given_with_a_tilde(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert predict.main(["--weights=~/absent.safetensors", str(tmp_path / "a.png")]) == 2
    error = capsys.readouterr().err
    assert str(tmp_path / "absent.safetensors") in error and "~" not in error, error


# A command run in a child with no framework (tests/core runs without one): train on the numpy
# backend, predict with a model that finds every class alike.
WITHOUT_A_FRAMEWORK = """import importlib, sys, types
import numpy as np
sys.path.insert(0, sys.argv[1])
import numpy_backend
from d2l_alexnet import predict, train


class Alike:
    def __init__(self, num_classes, **settings):
        self.num_classes = num_classes

    def probabilities(self, images, batch_size):
        return np.full((len(images), self.num_classes), 1 / self.num_classes)


train.load_backend = lambda name: numpy_backend
predict.load_backend = lambda name, command: types.SimpleNamespace(
    AlexNet=Alike, LAYOUT="NCHW", assign_parameter_arrays=lambda model, arrays: None)
sys.exit(importlib.import_module("d2l_alexnet." + sys.argv[2]).main(sys.argv[3:]))
"""


def without_a_framework(command, *args):
    """The child's command line: ``python -m d2l_alexnet.<command> args``, framework-free."""
    return [sys.executable, "-c", WITHOUT_A_FRAMEWORK, os.path.dirname(__file__), command, *args]


def test_every_command_prints_in_the_c_locale_without_utf8_mode(tmp_path):
    """An ASCII terminal (LC_ALL=C, PYTHONUTF8=0: stdout's errors are surrogateescape there,
    not strict) gets escapes for × and a class's name, on stdout and stderr alike; predict's
    lines give a file's name as its bytes, as the file system holds it."""
    ascii_only = child_env(LC_ALL="C", PYTHONUTF8="0")
    ascii_only.pop("PYTHONIOENCODING", None)
    weights_file = named_weights(tmp_path / "w.safetensors", ["ä cat", "dog"], 1)
    Image.new("L", (8, 8)).save(tmp_path / "ünï code.png")

    def run(*command, name_bytes=b""):
        result = subprocess.run(without_a_framework(*command), capture_output=True,
                                env=ascii_only, cwd=tmp_path, timeout=120)
        assert result.returncode == 0 and b"Traceback" not in result.stderr, result.stderr
        assert result.stdout.startswith(name_bytes)
        return result.stdout[len(name_bytes):].decode("ascii")  # the rest is ASCII

    assert "1\\xd7224\\xd7224" in run("cost")
    assert "224\\xd7224" in run("bench", "--help")
    assert run("predict", "--weights", str(weights_file), "ünï code.png",
               name_bytes="ünï code.png".encode()).startswith("\t\\xe4 cat\t0.5000")
    assert "resized to 67\\xd767" in run("train", "--resize", "67", "--epochs", "1",
                                          "--limit-train", "8", "--limit-val", "8",
                                          "--batch-size", "8", "--out", str(tmp_path / "run"))


def test_a_closed_stdout_ends_every_command_in_one_line(tmp_path):
    """``>&-``: Python's stdout is None, where print printed nothing and flush raised an
    AttributeError; now a closed stdout ends a command as a full disk under it does."""
    weights_file = named_weights(tmp_path / "w.safetensors", ["cat", "dog"], 1)
    Image.new("L", (8, 8)).save(tmp_path / "a.png")
    for command in (["cost"], ["predict", "--weights", str(weights_file), "a.png"],
                    ["filters", "--weights", str(weights_file), "--out", "f.png"],
                    ["train", "--resize", "67", "--limit-train", "8", "--limit-val", "8",
                     "--out", "run"]):
        result = subprocess.run(without_a_framework(*command), cwd=tmp_path, text=True,
                                stderr=subprocess.PIPE, env=child_env(), timeout=60,
                                preexec_fn=lambda: os.close(1))
        assert result.returncode == 1, result.stderr
        assert result.stderr.startswith("error: cannot write ") and result.stderr.endswith(
            " to stdout (it is closed)\n") and result.stderr.count("\n") == 1, result.stderr
    assert not (tmp_path / "run").exists()  # train stopped at its first line, before its folder
    result = subprocess.run([sys.executable, "-m", "d2l_alexnet", "--version"], text=True,
                            stderr=subprocess.PIPE, env=child_env(), timeout=60,
                            preexec_fn=lambda: os.close(1))
    assert (result.returncode, result.stderr) == (1, "error: cannot write to stdout (it is "
                                                     "closed)\n")


def test_a_stderr_that_cannot_be_written_leaves_the_exit_status_to_the_command(tmp_path):
    """``2>/dev/full`` or ``2>&-``: the refusal's line is lost, its status is not (a traceback
    of the failed line made it 1); a command that succeeds still ends 0."""
    def run(command, **streams):
        return subprocess.run([sys.executable, "-m", *command], cwd=tmp_path, env=child_env(),
                              stdout=subprocess.DEVNULL, timeout=60, **streams).returncode

    with open("/dev/full", "w") as full:
        assert run(["d2l_alexnet.train", "--epochs", "0"], stderr=full) == 2
        assert run(["d2l_alexnet.cost"], stderr=full) == 0
    assert run(["d2l_alexnet.train", "--epochs", "0"], preexec_fn=lambda: os.close(2)) == 2
    assert run(["d2l_alexnet.cost"], preexec_fn=lambda: os.close(2)) == 0


def test_an_unknown_command_keeps_exit_2_when_stderr_is_full():
    """The command list's refusal printed before the streams were guarded: a full stderr
    turned its exit 2 into 1."""
    import subprocess
    import sys

    with open("/dev/full", "w") as full:
        result = subprocess.run([sys.executable, "-m", "d2l_alexnet", "nocommand"],
                                stdout=subprocess.DEVNULL, stderr=full, timeout=60)
    assert result.returncode == 2


def test_a_terminal_that_closes_under_train_leaves_a_checkpoint_to_resume(tmp_path):
    """A real hangup: train runs in a pseudo-terminal of its own (as in an SSH session), which
    is closed after its first epoch. The kernel's SIGHUP ended the run on the spot, checkpoint
    of the epoch lost; now the run stops at the next step boundary, saves, and exits 129, its
    last lines lost with the terminal but none of its files."""
    import fcntl
    import pty
    import select
    import termios

    from d2l_alexnet.core.checkpoint import latest_checkpoint

    main_end, terminal = pty.openpty()

    def take_the_terminal():  # after start_new_session's setsid: a session led by train
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    command = without_a_framework("train", "--resize", "67", "--epochs", "100000",
                                  "--limit-train", "64", "--limit-val", "8", "--batch-size", "8",
                                  "--out", "run", "--checkpoint-dir", "ckpt")
    child = subprocess.Popen(command, cwd=tmp_path, env=child_env(), stdin=terminal,
                             stdout=terminal, stderr=terminal, start_new_session=True,
                             preexec_fn=take_the_terminal)
    os.close(terminal)
    shown, deadline = b"", time.monotonic() + 120
    try:
        while b"epoch 2" not in shown.lower() and time.monotonic() < deadline:
            if select.select([main_end], [], [], 1)[0]:
                shown += os.read(main_end, 65536)
        assert b"epoch 2" in shown.lower(), shown[-2000:]
    finally:
        os.close(main_end)  # the hangup
    assert child.wait(timeout=60) == 129
    stopped_in = latest_checkpoint(tmp_path / "ckpt", log=None).metadata["epoch"]
    epochs = str(stopped_in + 2)  # the epoch it stopped in, and one more
    resumed = subprocess.run(without_a_framework(
        "train", "--resize", "67", "--epochs", epochs, "--limit-train", "64", "--limit-val",
        "8", "--batch-size", "8", "--out", "run", "--checkpoint-dir", "ckpt", "--resume"),
        cwd=tmp_path, env=child_env(), capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert f"epoch {epochs}/{epochs}:" in resumed.stdout, resumed.stdout
