"""The contract every backend keeps, run once per backend (``pytest tests/contract --backend B``).

Same public names, the book's printed summary, the chapter's parameter count, Xavier init really
applied, learning on real images, and the CLI end to end with its refusals.
"""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from d2l_alexnet.core import contract
from d2l_alexnet.core.architecture import layer_table, parameter_count, weight_layers
from d2l_alexnet.core.data import load_fashion_mnist
from repository import FAULT_LAUNCHER, child_env


# What every AlexNet offers a lesson that reuses it, with the same arguments everywhere.
MODEL_METHODS = ("predict", "features", "save_weights", "load_weights", "layer_summary",
                 "input_batch_shape", "check_input_shape")

# The book's printouts (sec_alexnet), literally: these are what readers compare against.
EXPECTED_SUMMARY = {
    "pytorch": [
        "Conv2d output shape:\t torch.Size([1, 96, 54, 54])",
        "ReLU output shape:\t torch.Size([1, 96, 54, 54])",
        "MaxPool2d output shape:\t torch.Size([1, 96, 26, 26])",
        "Conv2d output shape:\t torch.Size([1, 256, 26, 26])",
        "ReLU output shape:\t torch.Size([1, 256, 26, 26])",
        "MaxPool2d output shape:\t torch.Size([1, 256, 12, 12])",
        "Conv2d output shape:\t torch.Size([1, 384, 12, 12])",
        "ReLU output shape:\t torch.Size([1, 384, 12, 12])",
        "Conv2d output shape:\t torch.Size([1, 384, 12, 12])",
        "ReLU output shape:\t torch.Size([1, 384, 12, 12])",
        "Conv2d output shape:\t torch.Size([1, 256, 12, 12])",
        "ReLU output shape:\t torch.Size([1, 256, 12, 12])",
        "MaxPool2d output shape:\t torch.Size([1, 256, 5, 5])",
        "Flatten output shape:\t torch.Size([1, 6400])",
        "Linear output shape:\t torch.Size([1, 4096])",
        "ReLU output shape:\t torch.Size([1, 4096])",
        "Dropout output shape:\t torch.Size([1, 4096])",
        "Linear output shape:\t torch.Size([1, 4096])",
        "ReLU output shape:\t torch.Size([1, 4096])",
        "Dropout output shape:\t torch.Size([1, 4096])",
        "Linear output shape:\t torch.Size([1, 10])",
    ],
    "tensorflow": [
        "Conv2D output shape:\t (1, 54, 54, 96)",
        "MaxPooling2D output shape:\t (1, 26, 26, 96)",
        "Conv2D output shape:\t (1, 26, 26, 256)",
        "MaxPooling2D output shape:\t (1, 12, 12, 256)",
        "Conv2D output shape:\t (1, 12, 12, 384)",
        "Conv2D output shape:\t (1, 12, 12, 384)",
        "Conv2D output shape:\t (1, 12, 12, 256)",
        "MaxPooling2D output shape:\t (1, 5, 5, 256)",
        "Flatten output shape:\t (1, 6400)",
        "Dense output shape:\t (1, 4096)",
        "Dropout output shape:\t (1, 4096)",
        "Dense output shape:\t (1, 4096)",
        "Dropout output shape:\t (1, 4096)",
        "Dense output shape:\t (1, 10)",
    ],
    "jax": [
        "Conv output shape:\t (1, 54, 54, 96)",
        "relu output shape:\t (1, 54, 54, 96)",
        "max_pool output shape:\t (1, 26, 26, 96)",
        "Conv output shape:\t (1, 26, 26, 256)",
        "relu output shape:\t (1, 26, 26, 256)",
        "max_pool output shape:\t (1, 12, 12, 256)",
        "Conv output shape:\t (1, 12, 12, 384)",
        "relu output shape:\t (1, 12, 12, 384)",
        "Conv output shape:\t (1, 12, 12, 384)",
        "relu output shape:\t (1, 12, 12, 384)",
        "Conv output shape:\t (1, 12, 12, 256)",
        "relu output shape:\t (1, 12, 12, 256)",
        "max_pool output shape:\t (1, 5, 5, 256)",
        "flatten output shape:\t (1, 6400)",
        "Dense output shape:\t (1, 4096)",
        "relu output shape:\t (1, 4096)",
        "Dropout output shape:\t (1, 4096)",
        "Dense output shape:\t (1, 4096)",
        "relu output shape:\t (1, 4096)",
        "Dropout output shape:\t (1, 4096)",
        "Dense output shape:\t (1, 10)",
    ],
    "mxnet": [
        "Conv2D output shape:\t (1, 96, 54, 54)",
        "MaxPool2D output shape:\t (1, 96, 26, 26)",
        "Conv2D output shape:\t (1, 256, 26, 26)",
        "MaxPool2D output shape:\t (1, 256, 12, 12)",
        "Conv2D output shape:\t (1, 384, 12, 12)",
        "Conv2D output shape:\t (1, 384, 12, 12)",
        "Conv2D output shape:\t (1, 256, 12, 12)",
        "MaxPool2D output shape:\t (1, 256, 5, 5)",
        "Dense output shape:\t (1, 4096)",
        "Dropout output shape:\t (1, 4096)",
        "Dense output shape:\t (1, 4096)",
        "Dropout output shape:\t (1, 4096)",
        "Dense output shape:\t (1, 10)",
    ],
}

# The chapter's network has this many parameters for 10 classes (d2l, sec_alexnet).
CHAPTER_PARAMETERS = 46_764_746
SMALL = 67  # the smallest input AlexNet accepts: keeps the tests fast


def make_model(d2l, **kwargs):
    kwargs.setdefault("lr", 0.01)
    return d2l.AlexNet(**kwargs)


def test_the_backend_meets_the_written_contract(d2l):
    import inspect

    assert contract.problems(d2l) == []
    assert list(d2l.__all__) == list(contract.PUBLIC_NAMES)
    model = make_model(d2l, resize=SMALL)
    assert not [name for name in MODEL_METHODS if not callable(getattr(model, name, None))]
    assert list(inspect.signature(d2l.AlexNet).parameters)[:5] == [
        "lr", "num_classes", "resize", "in_channels", "dropout"]
    for method, arguments in (("predict", ["X", "batch_size"]), ("features", ["X", "batch_size"]),
                              ("load_weights", ["skip_head", "log"])):
        parameters = list(inspect.signature(getattr(model, method)).parameters)
        assert all(name in parameters for name in arguments), (method, parameters)


BACKEND_FILES = ["__init__.py", "bench.py", "data.py", "model.py", "runtime.py", "tensors.py",
                 "trainer.py", "weights.py"]


def test_the_books_helpers_for_later_lessons(d2l, backend_name):
    """``try_gpu`` and ``try_all_gpus`` fall back to the CPU on a machine without a GPU (these
    tests' machines), as the book's training cells expect; ``add_to_class`` adds a method to a
    lesson's class written cell by cell, and leaves the function under its name."""
    if d2l.num_gpus() == 0:
        if backend_name == "tensorflow":  # a tf.device context, as the book's cells use it
            with d2l.try_gpu():
                assert "CPU" in d2l.tf.constant(1.0).device
            with d2l.try_gpu(3):
                assert "CPU" in d2l.tf.constant(1.0).device
            assert len(d2l.try_all_gpus()) == 1
        else:
            assert d2l.try_gpu() == d2l.try_gpu(3) == d2l.cpu()
            assert d2l.try_all_gpus() == [d2l.cpu()]
    else:
        assert len(d2l.try_all_gpus()) == d2l.num_gpus()

    class Lesson(d2l.Classifier):
        pass

    @d2l.add_to_class(Lesson)
    def block(self, width):
        return ("block", width)

    assert Lesson.block is block and block(None, 3) == ("block", 3)


def test_the_backend_is_a_package_of_the_contracts_files_and_a_lesson_skips_its_bench(d2l):
    import importlib

    directory = os.path.dirname(d2l.__file__)
    assert sorted(name for name in os.listdir(directory) if name.endswith(".py")) == BACKEND_FILES
    hooks = importlib.import_module(f"{d2l.__name__}.bench")
    assert all(callable(getattr(hooks, name, None)) for name in contract.BENCH_HOOKS)
    assert not [name for name in contract.BENCH_HOOKS if hasattr(d2l, name)]
    env = child_env()
    imported = subprocess.run(
        [sys.executable, "-c", f"import sys, {d2l.__name__}; print(sorted(name for name in "
                               f"sys.modules if name.startswith('{d2l.__name__}.')))"],
        capture_output=True, text=True, env=env, timeout=300, check=True).stdout
    assert f"{d2l.__name__}.bench" not in imported and f"{d2l.__name__}.trainer" in imported


def test_layer_summary_prints_the_books_lines(d2l, backend_name, capsys):
    model = make_model(d2l)
    model.layer_summary(d2l.example_input_shape(224))
    printed = capsys.readouterr().out.splitlines()
    assert printed == EXPECTED_SUMMARY[backend_name]


def test_layer_summary_speaks_the_indonesian_editions_words(d2l, backend_name, capsys):
    """The Indonesian notebooks' summary cell printed "output shape" under prose that says
    "bentuk output"; the layers and shapes are the book's, only the words change."""
    from d2l_alexnet.core.language import set_language

    model = make_model(d2l)
    set_language("id")
    try:
        model.layer_summary(d2l.example_input_shape(224))
    finally:
        set_language("en")
    printed = capsys.readouterr().out.splitlines()
    assert printed == [line.replace(" output shape:", " bentuk output:")
                       for line in EXPECTED_SUMMARY[backend_name]]


def test_build_network_takes_the_contracts_arguments_in_every_backend(d2l):
    """JAX's took (num_classes, training, layers): a call written for another backend,
    build_network(10, 67), switched its dropout on for good, and in_channels= raised."""
    import inspect

    assert list(inspect.signature(d2l.build_network).parameters)[:4] == [
        "num_classes", "resize", "layers", "in_channels"]
    assert d2l.build_network(4, SMALL, in_channels=3) is not None
    with pytest.raises(ValueError):
        d2l.build_network(10, 40)  # too small for the chapter's network, as the table says


# What makes CPU replicas in each backend (README, "Several devices").
CPU_REPLICAS = {
    "pytorch": 'device="cpu" under torchrun --nproc-per-node 2 makes 2 CPU replicas',
    "mxnet": 'device="cpu" makes 2 CPU replicas',
    "jax": 'device="cpu" with XLA_FLAGS=--xla_force_host_platform_device_count=2 set before '
           "JAX starts makes 2 CPU replicas",
    "tensorflow": 'device="cpu", after tf.config.set_logical_device_configuration has split the '
                  "CPU in 2 before TensorFlow's first op, makes 2 CPU replicas",
}


def test_num_gpus_without_a_gpu_names_what_makes_cpu_replicas_here(d2l, backend_name):
    """The line advised device="cpu" in every backend: in PyTorch that raises, as its
    replicas are torchrun's processes."""
    lines = []
    trainer = d2l.Trainer(max_epochs=1, num_gpus=2, log=lines.append)
    if trainer.gpu_available():
        pytest.skip("a GPU is visible: the book's num_gpus=2 takes it")
    assert lines[0].endswith(f"({CPU_REPLICAS[backend_name]})"), lines


def test_parameter_count_is_the_chapters(d2l):
    arrays = d2l.parameter_arrays(make_model(d2l, num_classes=10))
    assert sum(array.size for _, array in arrays) == CHAPTER_PARAMETERS == parameter_count()


def test_parameters_follow_the_architecture_table(d2l):
    """Each weight layer of the table is one kernel and one bias, of the table's sizes."""
    arrays = d2l.parameter_arrays(make_model(d2l, num_classes=7, resize=SMALL))
    rows = [row for row in layer_table(SMALL, num_classes=7) if row.layer.kind in ("conv", "dense")]
    assert len(arrays) == 2 * len(rows) == 2 * len(weight_layers())
    for row, (_, kernel), (_, bias) in zip(rows, arrays[0::2], arrays[1::2]):
        assert kernel.size + bias.size == row.parameters
        assert bias.shape == (row.output_shape[0],)


def xavier_bound(kernel, row, in_shape):
    if row.layer.kind == "conv":
        receptive = row.layer.kernel ** 2
        fan_in, fan_out = in_shape[0] * receptive, row.layer.units * receptive
    else:
        fan_in, fan_out = in_shape[0], row.output_shape[0]
    assert kernel.size == row.parameters - row.output_shape[0]
    return math.sqrt(6.0 / (fan_in + fan_out))


def test_xavier_uniform_init_is_really_applied(d2l):
    """Every kernel is Xavier-uniform (bound sqrt(6/(fan_in+fan_out)), std bound/sqrt(3)) and every
    bias is zero: framework defaults (Kaiming-style bounds, random biases) fail this."""
    arrays = d2l.parameter_arrays(make_model(d2l, resize=SMALL))
    rows = layer_table(SMALL)
    in_shapes = {}
    previous = (1,)
    for row in rows:
        in_shapes[id(row)] = previous
        previous = row.output_shape
    weight_rows = [row for row in rows if row.layer.kind in ("conv", "dense")]
    for row, (name, kernel), (_, bias) in zip(weight_rows, arrays[0::2], arrays[1::2]):
        bound = xavier_bound(kernel, row, in_shapes[id(row)])
        assert np.abs(kernel).max() <= bound * 1.0001, name
        assert kernel.std() == pytest.approx(bound / math.sqrt(3), rel=0.05), name
        assert abs(kernel.mean()) < 0.05 * bound, name
        assert not np.any(bias), f"{name}: biases must start at zero"


def test_same_seed_same_initial_weights(d2l):
    d2l.set_seed(3)
    first = d2l.parameter_arrays(make_model(d2l, resize=SMALL), seed=3)
    d2l.set_seed(3)
    second = d2l.parameter_arrays(make_model(d2l, resize=SMALL), seed=3)
    d2l.set_seed(4)
    other = d2l.parameter_arrays(make_model(d2l, resize=SMALL), seed=4)
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(first, second))
    assert not np.array_equal(first[0][1], other[0][1])


def test_resize_images_is_bilinear_to_unit_range(d2l):
    images = np.zeros((2, 28, 28), dtype=np.uint8)
    images[:, :14] = 255
    resized = d2l.to_numpy(d2l.resize_images(images, (SMALL, SMALL)))
    assert resized.dtype == np.float32
    assert sorted(resized.shape) == sorted((2, 1, SMALL, SMALL))
    resized = resized.reshape(2, SMALL, SMALL)
    assert resized.min() == 0.0 and resized.max() == 1.0
    # Half-pixel-centre bilinear: a row is 1 at the top, 0 at the bottom, in between near the edge.
    column = resized[0, :, 5]
    assert column[0] == 1.0 and column[-1] == 0.0
    assert np.all(np.diff(column) <= 1e-6)
    assert 0.0 < column[SMALL // 2] < 1.0


def test_dataloader_yields_resized_framework_batches(d2l, monkeypatch):
    data = d2l.FashionMNIST(batch_size=8, resize=(SMALL, SMALL), limit_train=20, limit_val=8)
    loader = data.train_dataloader()
    assert len(loader) == 3
    batch = next(iter(loader))
    X, y = d2l.to_numpy(batch[0]), d2l.to_numpy(batch[1])
    assert sorted(X.shape) == sorted((8, 1, SMALL, SMALL))
    assert 0.0 <= X.min() and X.max() <= 1.0
    assert y.shape == (8,) and set(np.unique(y)) <= set(range(10))
    assert data.text_labels([0, 9]) == ["t-shirt", "ankle boot"]
    # The book's calls on a batch as the loader yields it, in the framework's tensors.
    assert data.text_labels(batch[1]) == data.text_labels(y.tolist())
    shown = []
    monkeypatch.setattr("d2l_alexnet.core.progress.show_figure", shown.append)
    assert data.visualize(batch, nrows=2, ncols=4) is None  # the book's: shown, not returned
    assert [len(figure.axes) for figure in shown] == [8]
    with pytest.raises(IndexError, match="label -1 names no class: Fashion-MNIST's are 0 to 9"):
        data.text_labels([3, -1])


def test_the_books_splits_are_there_as_each_edition_holds_them(d2l, backend_name):
    data = d2l.FashionMNIST(batch_size=8, resize=(SMALL, SMALL), limit_train=20, limit_val=8,
                            log=None)
    if backend_name in ("pytorch", "mxnet"):  # the framework's dataset of (image, label)
        assert (len(data.train), len(data.val)) == (20, 8)
        image, label = data.train[3]
        assert tuple(image.shape) == (1, SMALL, SMALL) and label == data.train_labels[3]
        first = next(iter(data.val_dataloader()))[0]  # the validation loader keeps the order
        np.testing.assert_array_equal(d2l.to_numpy(data.val[0][0]), d2l.to_numpy(first)[0])
        assert data.train[-1][1] == data.train_labels[-1] and len(data.train[2:5]) == 3
        with pytest.raises(IndexError):
            data.train[20]
    else:  # Keras' (images, labels) arrays, as the TensorFlow and JAX editions load them
        images, labels = data.train
        assert images.shape == (20, 28, 28) and images.dtype == np.uint8
        np.testing.assert_array_equal(labels, data.train_labels)
        assert (len(data.train[0]), len(data.val[0])) == (20, 8)


def test_training_on_real_images_lowers_the_loss(d2l):
    """Ten full-batch steps on 16 real images: the evaluation-mode loss on those images (no
    dropout, so no noise) falls at every epoch and by a clear margin."""
    d2l.set_seed(0)
    data = d2l.FashionMNIST(batch_size=16, resize=(SMALL, SMALL), limit_train=16, limit_val=16)
    data.val_images, data.val_labels = data.train_images, data.train_labels  # memorize them
    model = make_model(d2l, lr=0.1, resize=SMALL)
    history = d2l.Trainer(max_epochs=10, progress=False, log=None).fit(model, data)
    assert [record["epoch"] for record in history] == list(range(1, 11))
    losses = [record["val_loss"] for record in history]
    assert 2.0 < losses[0] < 2.4  # near chance, ln 10 = 2.303, after one step
    assert all(later < earlier for earlier, later in zip(losses, losses[1:])), losses
    assert losses[-1] < losses[0] - 0.1, losses
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    for record in history:
        assert 0.0 <= record["val_acc"] <= 1.0 and record["images_per_sec"] > 0


# Held-out learning, measured at lr 0.1, batch 32 (validation accuracy after epochs 1..8, seeds
# 0/1/2): PyTorch 0.29..0.61/0.54/0.61, TensorFlow 0.19..0.59/0.47/0.63, JAX 0.21..0.60/0.44/0.52,
# MXNet 0.21..0.56/0.54/0.59; AlexNet sits near chance for the first 2-3 epochs, then learns.
HELD_OUT_EPOCHS, HELD_OUT_MIN_ACCURACY = 8, 0.3  # 3× chance; the worst seed reached 0.44


def test_training_generalizes_to_held_out_images(d2l):
    """1,024 training images, 300 validation images from Fashion-MNIST's separate test split:
    after 8 epochs the model classifies images it never saw far above chance (0.1)."""
    d2l.set_seed(0)
    data = d2l.FashionMNIST(batch_size=32, resize=(SMALL, SMALL), limit_train=1024,
                            limit_val=300, log=None)
    seen = {image.tobytes() for image in data.train_images}
    assert not any(image.tobytes() in seen for image in data.val_images), "not held out"
    model = make_model(d2l, lr=0.1, resize=SMALL)
    history = d2l.Trainer(max_epochs=HELD_OUT_EPOCHS, progress=False, log=None).fit(model, data)
    last = history[-1]
    assert last["val_acc"] >= HELD_OUT_MIN_ACCURACY, [record["val_acc"] for record in history]
    assert last["val_loss"] < 1.9, [record["val_loss"] for record in history]  # ln 10 = 2.303


# ---- the command line ------------------------------------------------------------------------

def run_cli(*args, cwd=None):
    env = child_env()
    return subprocess.run([sys.executable, "-m", "d2l_alexnet.train", *args], cwd=cwd,
                          capture_output=True, text=True, env=env, timeout=600)


def test_cli_trains_end_to_end(d2l, backend_name, tmp_path):
    out = tmp_path / "run"
    result = run_cli("--backend", backend_name, "--epochs", "2", "--batch-size", "8",
                     "--limit-train", "16", "--limit-val", "8", "--resize", str(SMALL),
                     "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "output shape:\t" in result.stdout
    assert "epoch 2/2: train_loss" in result.stdout
    assert f"wrote {out / 'metrics.json'}" in result.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert [record["epoch"] for record in metrics] == [1, 2]
    for record in metrics:
        assert set(record) == {"epoch", "step", "images_seen", "train_loss", "val_loss",
                               "val_acc", "lr", "seconds", "val_seconds", "images_per_sec"}
        assert all(math.isfinite(value) for value in record.values())
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


BAD_INPUTS = [
    (["--backend", "caffe"], "unknown backend 'caffe'"),
    (["--epochs", "0"], "--epochs must be at least 1"),
    (["--batch-size", "0"], "--batch-size must be at least 1"),
    (["--resize", "32"], "--resize 32 is too small for AlexNet: use at least 67"),
    (["--limit-train", "-3"], "--limit-train must be at least 1"),
    (["--lr", "0"], "--lr must be positive"),
    (["--data-dir", "/nonexistent/fashion"], "--data-dir /nonexistent/fashion is not a readable"),
]


@pytest.mark.parametrize("arguments, message", BAD_INPUTS, ids=[a[0] for a, _ in BAD_INPUTS])
def test_cli_refuses_bad_input_with_exit_2(d2l, backend_name, tmp_path, arguments, message):
    out = tmp_path / "run"
    result = run_cli("--backend", backend_name, "--out", str(out), *arguments)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not out.exists(), "nothing may be written for bad input"


def test_cli_refuses_a_corrupt_data_directory(d2l, backend_name, tmp_path):
    data_dir = tmp_path / "fashion"
    data_dir.mkdir()
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte"):
        (data_dir / name).write_bytes(b"\x00\x00\x08\x03garbage")
    result = run_cli("--backend", backend_name, "--data-dir", str(data_dir), "--out",
                     str(tmp_path / "run"))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "train-images-idx3-ubyte" in result.stderr


def test_unsupported_precision_exits_2(d2l, backend_name, tmp_path):
    """Every precision the CLI offers, in every backend: one the backend lists trains (one tiny
    step, logged in that precision), one it lacks exits 2 in one line and writes nothing."""
    from d2l_alexnet.core.trainer import PRECISIONS

    assert "fp32" in d2l.PRECISIONS and set(d2l.PRECISIONS) <= set(PRECISIONS)
    for precision in PRECISIONS:
        out = tmp_path / precision
        result = run_cli("--backend", backend_name, "--precision", precision, "--limit-train",
                         "8", "--limit-val", "8", "--resize", str(SMALL), "--batch-size", "8",
                         "--epochs", "1", "--out", str(out))
        if precision in d2l.PRECISIONS:
            assert result.returncode == 0, (precision, result.stderr)
            assert f"({precision}): 8 images per epoch" in result.stdout, result.stdout
            assert (out / "metrics.json").exists()
        else:
            assert result.returncode == 2, (precision, result.stderr)
            assert result.stderr == (f"error: --precision {precision} is not supported by the "
                                     f"{backend_name} backend: use "
                                     f"{' or '.join(d2l.PRECISIONS)}\n"), result.stderr
            assert not out.exists()


def test_bench_measures_every_key(d2l, backend_name):
    from d2l_alexnet.bench import measure

    result = measure(backend_name, batch_size=4, steps=1, warmup=1, resize=SMALL, log=lambda m: 0)
    for key in ("gemm_peak_gflops", "step_images_per_sec", "end_to_end_images_per_sec",
                "inference_images_per_sec", "peak_of_gemm_ratio", "peak_memory_bytes"):
        assert result[key] > 0, key
    assert result["training_gflop_per_image"] == pytest.approx(
        3 * sum(row.forward_flops for row in layer_table(SMALL)) / 1e9)
    assert result["peak_of_gemm_ratio"] == pytest.approx(
        result["step_images_per_sec"] * result["training_gflop_per_image"]
        / result["gemm_peak_gflops"])


# ---- checkpoints: exact resume, faults survived ----------------------------------------------
# Two steps per epoch: steps 1 and 3 are mid-epoch, 2 and 4 end an epoch; a checkpoint at every
# step (the epoch's last one is the epoch-end checkpoint).
CHECKPOINT_RUN = ("--epochs", "2", "--batch-size", "8", "--limit-train", "16", "--limit-val",
                  "8", "--resize", str(SMALL), "--checkpoint-every", "1")
TIMING_KEYS = ("seconds", "val_seconds", "images_per_sec")  # differ between any two runs


def run_train(argv, **faults):
    """``python -m d2l_alexnet.train``; with ``faults`` (the variables of fault_launcher.py),
    the same run through the launcher that injects them."""
    env = child_env(**faults)
    command = [FAULT_LAUNCHER] if faults else ["-m", "d2l_alexnet.train"]
    return subprocess.run([sys.executable, *command, *argv], capture_output=True, text=True,
                          env=env, timeout=600)


def without_timing(history):
    return [{key: value for key, value in record.items() if key not in TIMING_KEYS}
            for record in history]


def test_interrupted_killed_and_resumed_run_ends_exactly_like_an_uninterrupted_one(
        d2l, backend_name, tmp_path):
    """Ctrl-C mid-epoch, SIGKILL mid-checkpoint-write, a truncated checkpoint, SIGKILL mid-epoch:
    resumed each time, the run ends with the same weights, optimizer and RNG states, metrics
    history and plot as one that ran straight through (bit for bit: each backend is
    deterministic on the CPU). With --augment: the images' random flips and crops resume too."""
    import shlex

    from d2l_alexnet.core.checkpoint import read_checkpoint
    from d2l_alexnet.core.lock import LOCK_NAME

    common = ["--backend", backend_name, *CHECKPOINT_RUN, "--augment"]
    straight = tmp_path / "straight"
    result = run_train(common + ["--out", str(straight), "--checkpoint-dir",
                                 str(straight / "ckpt")])
    assert result.returncode == 0, result.stderr
    assert sorted(os.listdir(straight / "ckpt")) == ["checkpoint-3.ckpt", "checkpoint-4.ckpt"]
    assert "flipped and cropped at random (--augment)" in result.stdout
    assert read_checkpoint(straight / "ckpt" / "checkpoint-4.ckpt").metadata["augment"] is True

    resumed = tmp_path / "resumed"
    ckpt = resumed / "ckpt"
    argv = common + ["--out", str(resumed), "--checkpoint-dir", str(ckpt)]
    # 1. Ctrl-C after step 1: a checkpoint of that moment, exit 130, the command that resumes.
    result = run_train(argv, D2L_ALEXNET_TEST_SIGNAL_AFTER_STEP="1:SIGINT")
    assert result.returncode == 130, result.stderr
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith(f"interrupted by SIGINT: saved {ckpt / 'checkpoint-1.ckpt'} "
                                "(epoch 1, batch 1, step 1); resume with: ")
    command = shlex.split(last_line.split("resume with: ", 1)[1])
    assert command == [sys.executable, "-m", "d2l_alexnet.train", *argv, "--resume"]

    # 2. That command, killed between writing step 3's checkpoint and renaming it into place.
    result = run_train(command[3:], D2L_ALEXNET_TEST_KILL_DURING_CHECKPOINT_WRITE="3")
    assert result.returncode == -9, result.stderr
    assert f"resuming from {ckpt / 'checkpoint-1.ckpt'}: epoch 1, batch 1 (step 1)" in result.stdout
    # The killed run's lock file stays, unlocked: the resumes below take it over.
    names = sorted(name for name in os.listdir(ckpt) if name != LOCK_NAME)
    assert LOCK_NAME in os.listdir(ckpt) and LOCK_NAME in os.listdir(resumed)
    assert names[0].startswith(".checkpoint-3.ckpt.") and names[0].endswith(".tmp"), names
    assert names[1:] == ["checkpoint-1.ckpt", "checkpoint-2.ckpt"]
    read_checkpoint(ckpt / "checkpoint-2.ckpt")  # intact

    # 3. A damaged newest checkpoint (a disk error, say) is named and skipped; killed after step 3.
    with open(ckpt / "checkpoint-2.ckpt", "r+b") as stream:
        stream.truncate(os.path.getsize(ckpt / "checkpoint-2.ckpt") // 2)
    result = run_train(command[3:], D2L_ALEXNET_TEST_KILL_AFTER_STEP="3")
    assert result.returncode == -9, result.stderr
    assert f"removed {names[0]}" in result.stderr
    assert ("checkpoint-2.ckpt is truncated" in result.stderr
            and "falling back to the previous good checkpoint, checkpoint-1.ckpt" in result.stderr)
    assert f"resuming from {ckpt / 'checkpoint-1.ckpt'}" in result.stdout
    assert sorted(os.listdir(ckpt)) == [LOCK_NAME, "checkpoint-2.ckpt",
                                        "checkpoint-2.ckpt.corrupt", "checkpoint-3.ckpt"]

    # 4. Resumed mid-epoch to the end.
    result = run_train(command[3:])
    assert result.returncode == 0, result.stderr
    assert f"resuming from {ckpt / 'checkpoint-3.ckpt'}: epoch 2, batch 1 (step 3)" in result.stdout
    assert LOCK_NAME not in os.listdir(ckpt) + os.listdir(resumed)  # released at the end

    expected = read_checkpoint(straight / "ckpt" / "checkpoint-4.ckpt")
    got = read_checkpoint(ckpt / "checkpoint-4.ckpt")
    assert set(got.arrays) == set(expected.arrays)
    assert any(name.startswith("params.") for name in got.arrays)
    differing = [name for name in expected.arrays
                 if not np.array_equal(got.arrays[name], expected.arrays[name])]
    assert not differing, f"not bit-exact: {differing}"
    assert without_timing(got.metadata["history"]) == without_timing(
        expected.metadata["history"])
    assert got.metadata["board"] == expected.metadata["board"]
    metrics = [json.loads((run / "metrics.json").read_text()) for run in (straight, resumed)]
    assert len(metrics[0]) == 2 and without_timing(metrics[0]) == without_timing(metrics[1])


def test_a_compiled_run_killed_and_resumed_ends_exactly_like_an_uninterrupted_one(
        d2l, backend_name, tmp_path):
    """PyTorch's --compile (torch.compile, whose dropout draws its masks from seeds taken from
    PyTorch's generator at every step): SIGKILL after step 1 (mid-epoch), resumed in a new
    process that compiles again, the run ends with the checkpoint of an uninterrupted compiled
    run, bit for bit; the checkpoint names the model's own parameters (no ``_orig_mod.``).
    Every other backend refuses --compile (train and bench) in one line, exit 2, writing
    nothing."""
    from d2l_alexnet.core.checkpoint import read_checkpoint

    if backend_name != "pytorch":
        out = tmp_path / "run"
        result = run_train(["--backend", backend_name, *CHECKPOINT_RUN, "--compile", "--out",
                            str(out)])
        refusal = (f"error: --compile runs PyTorch's steps through torch.compile: the "
                   f"{backend_name} backend has no such option; drop --compile, or use "
                   f"--backend pytorch\n")
        assert (result.returncode, result.stderr) == (2, refusal)
        assert not out.exists()
        bench_result = subprocess.run(
            [sys.executable, "-m", "d2l_alexnet.bench", "--backend", backend_name,
             "--compile", "--no-end-to-end"], capture_output=True, text=True, timeout=600,
            env=child_env())
        assert (bench_result.returncode, bench_result.stderr) == (2, refusal)
        return
    common = ["--backend", backend_name, *CHECKPOINT_RUN, "--compile"]
    runs = {}
    for name, faults in (("straight", {}), ("resumed", {
            "D2L_ALEXNET_TEST_KILL_AFTER_STEP": "1"})):
        runs[name] = tmp_path / name
        argv = common + ["--out", str(runs[name]), "--checkpoint-dir", str(runs[name] / "ckpt")]
        result = run_train(argv, **faults)
        assert result.returncode == (-9 if faults else 0), result.stderr
    result = run_train(argv + ["--resume"])
    assert result.returncode == 0, result.stderr
    assert "resuming from" in result.stdout and "epoch 1, batch 1 (step 1)" in result.stdout

    expected, got = (read_checkpoint(runs[name] / "ckpt" / "checkpoint-4.ckpt")
                     for name in ("straight", "resumed"))
    assert set(got.arrays) == set(expected.arrays)
    params = sorted(name for name in got.arrays if name.startswith("params."))
    assert params and params[0] == "params.net.0.bias", params
    differing = [name for name in expected.arrays
                 if not np.array_equal(got.arrays[name], expected.arrays[name])]
    assert not differing, f"not bit-exact: {differing}"
    assert without_timing(got.metadata["history"]) == without_timing(
        expected.metadata["history"])


def test_cli_stops_at_a_nan_loss_without_saving_nan_weights(d2l, backend_name, tmp_path):
    """lr 1e12: step 1 starts from Xavier weights, so its loss and the weights after it are
    finite and checkpoint-1 is always written; those weights are ~1e12 times too large, so
    step 2 makes the loss (PyTorch, JAX) or the weights (TensorFlow, MXNet; measured) NaN or
    infinite, and the run stops there, naming checkpoint-1 and saving nothing of step 2."""
    import re

    from d2l_alexnet.core.checkpoint import list_checkpoints, read_checkpoint

    ckpt, out = tmp_path / "ckpt", tmp_path / "run"
    result = run_train(["--backend", backend_name, *CHECKPOINT_RUN, "--lr", "1e12",
                        "--out", str(out), "--checkpoint-dir", str(ckpt)])
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    saved = [path for _, path in list_checkpoints(ckpt)]
    assert saved == [str(ckpt / "checkpoint-1.ckpt")], saved
    message = result.stderr.strip().splitlines()[-1]
    advice = r"lower the learning rate \(now --lr 1000000000000\.0\)"
    last_good = (f"; the last good checkpoint is {re.escape(saved[0])}: resume from it with a "
                 "lower --lr and --resume")
    # Non-finite, or finite but far past any loss that learns (core.trainer's divergence bound:
    # MXNet reached 5.9e32 in epoch 1 on the AVX2-only EPYC before it overflowed).
    became = r"error: the training loss became (nan|inf|-inf|\d\.\d+e\+\d+) in epoch 1: "
    assert (re.fullmatch(became + advice + last_good, message)
            or re.fullmatch(r"error: params\.\S+ is no longer finite after step 2: " + advice
                            + "; it was not saved" + last_good, message)), message
    for name, array in read_checkpoint(saved[0]).arrays.items():
        assert array.dtype.kind != "f" or np.isfinite(array).all(), name
    assert not (out / "weights.safetensors").exists() and not (out / "metrics.json").exists()


# ---- portable weights: one safetensors file for every backend --------------------------------

def weights_cli(module, *args):
    env = child_env()
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True,
                          env=env, timeout=600)


@pytest.fixture(scope="module")
def canonical_weights(tmp_path_factory):
    """A canonical weights file for SMALL inputs written without a framework (any backend must
    load what another wrote), random but scaled like Xavier."""
    from d2l_alexnet.core import weights

    rng = np.random.default_rng(0)
    shapes, _ = weights.canonical_shapes(SMALL, 10)
    tensors = {name: (rng.standard_normal(shape) / math.sqrt(np.prod(shape[1:]) if
                      len(shape) > 1 else 10)).astype(np.float32) for name, shape in shapes.items()}
    path = tmp_path_factory.mktemp("canonical") / "weights.safetensors"
    weights.save_weights(path, weights.from_canonical(tensors, "NCHW", SMALL, 10), "NCHW", SMALL,
                         10, backend="test")
    return path


def test_saved_and_loaded_weights_give_identical_logits(d2l, backend_name, tmp_path):
    from parity_fixture import logits

    from d2l_alexnet.core.weights import saved_architecture

    assert d2l.LAYOUT == ("NCHW" if backend_name in ("pytorch", "mxnet") else "NHWC")
    path = tmp_path / "weights.safetensors"
    d2l.set_seed(1)
    model = make_model(d2l, resize=SMALL)
    model.save_weights(path)
    assert saved_architecture(path) == (SMALL, 10)
    d2l.set_seed(2)
    other = make_model(d2l, resize=SMALL)
    images = np.random.default_rng(0).integers(0, 256, (4, 28, 28), dtype=np.uint8)
    before = logits(d2l, other, images)
    assert other.load_weights(path) is other
    loaded = logits(d2l, other, images)
    np.testing.assert_array_equal(loaded, logits(d2l, model, images))
    assert not np.array_equal(loaded, before), "the second model started with the same weights"


def test_loading_weights_for_another_network_names_the_mismatch(d2l, backend_name,
                                                                canonical_weights):
    from d2l_alexnet.core.weights import WeightsError

    model = make_model(d2l, num_classes=7, resize=SMALL)
    with pytest.raises(WeightsError, match=r"10 classes \(the model: 7\)"):
        model.load_weights(canonical_weights)
    model = make_model(d2l, resize=SMALL + 4)
    with pytest.raises(WeightsError, match=r"67×67 inputs \(the model: 71×71\)"):
        model.load_weights(canonical_weights)
    arrays = d2l.parameter_arrays(make_model(d2l, resize=SMALL))
    with pytest.raises(WeightsError, match="expected 16 arrays"):
        d2l.assign_parameter_arrays(model, arrays[:-2])


def test_cli_writes_weights_that_evaluate_and_init_from_read(d2l, backend_name, tmp_path):
    """Train → weights.safetensors → evaluate prints the run's last validation numbers →
    --init-from starts a new run from exactly those weights."""
    common = ["--backend", backend_name, "--batch-size", "8", "--limit-train", "16",
              "--limit-val", "8", "--resize", str(SMALL)]
    first = tmp_path / "first"
    result = weights_cli("d2l_alexnet.train", *common, "--epochs", "1", "--out", str(first))
    assert result.returncode == 0, result.stderr
    assert f"and {first / 'weights.safetensors'}" in result.stdout
    trained = json.loads((first / "metrics.json").read_text())[-1]

    result = weights_cli("d2l_alexnet.evaluate", "--backend", backend_name, "--weights",
                         str(first / "weights.safetensors"), "--limit-val", "8",
                         "--batch-size", "8")
    assert result.returncode == 0, result.stderr
    assert (f"val_loss {trained['val_loss']:.4f}  val_acc {trained['val_acc']:.4f}"
            in result.stdout.splitlines()[-1]), result.stdout
    # A copy of the test (t10k) files alone is enough to measure on, with the same numbers.
    found = load_fashion_mnist(log=None)
    if not found.is_subset:
        test_files = tmp_path / "t10k-only"
        test_files.mkdir()
        for path in Path(found.source).glob("t10k-*"):
            (test_files / path.name).symlink_to(path)
        alone = weights_cli("d2l_alexnet.evaluate", "--backend", backend_name, "--weights",
                            str(first / "weights.safetensors"), "--limit-val", "8",
                            "--batch-size", "8", "--data-dir", str(test_files))
        assert alone.returncode == 0, alone.stderr
        assert alone.stdout.splitlines()[-1] == result.stdout.splitlines()[-1]

    # lr 1e-30 leaves every nonzero weight as it was: the second run's weights are the first's.
    second = tmp_path / "second"
    result = weights_cli("d2l_alexnet.train", *common, "--epochs", "1", "--lr", "1e-30",
                         "--init-from", str(first / "weights.safetensors"), "--out", str(second))
    assert result.returncode == 0, result.stderr
    assert f"starting from the weights in {first / 'weights.safetensors'}" in result.stdout
    from d2l_alexnet.core.weights import load_safetensors

    before, _ = load_safetensors(first / "weights.safetensors")
    after, metadata = load_safetensors(second / "weights.safetensors")
    assert metadata["saved_by"] == backend_name
    for name, array in before.items():
        np.testing.assert_allclose(after[name], array, rtol=1e-6, atol=1e-20, err_msg=name)
    resumed = json.loads((second / "metrics.json").read_text())[-1]
    assert resumed["val_loss"] == pytest.approx(trained["val_loss"], rel=1e-5)


def weights_file_cases(tmp_path, canonical_weights):
    """``(description, path, extra arguments, message)`` for files the CLIs must refuse."""
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}")
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(canonical_weights.read_bytes()[:1000])
    return [
        ("missing", tmp_path / "missing.safetensors", [], "cannot read weights file"),
        ("corrupt", garbage, [], "is not a valid safetensors weights file"),
        ("truncated", truncated, [], "it may be truncated or corrupt"),
        ("another size", canonical_weights, ["--resize", "71"],
         "67×67 inputs (the model: 71×71)"),
    ]


def assert_refused(result, message, out=None):
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert message in result.stderr, result.stderr
    assert out is None or not out.exists(), "nothing may be written for bad input"


def test_cli_init_from_refuses_bad_weights_with_exit_2(d2l, backend_name, tmp_path,
                                                       canonical_weights):
    for _, path, extra, message in weights_file_cases(tmp_path, canonical_weights):
        out = tmp_path / "run"
        result = weights_cli("d2l_alexnet.train", "--backend", backend_name, "--resize",
                             str(SMALL), *extra, "--init-from", str(path), "--out", str(out))
        assert_refused(result, message, out)
        assert result.stderr.startswith("error: --init-from: "), result.stderr


def test_evaluate_cli_refuses_bad_input_with_exit_2(d2l, backend_name, tmp_path,
                                                    canonical_weights):
    cases = [(["--weights", str(path), *extra], message)
             for _, path, extra, message in weights_file_cases(tmp_path, canonical_weights)]
    cases += [([], "--weights PATH is required"),
              (["--weights", str(canonical_weights), "--limit-val", "0"],
               "--limit-val must be at least 1"),
              (["--weights", str(canonical_weights), "--batch-size", "0"],
               "--batch-size must be at least 1"),
              # The file's own size is the fix, whatever --resize was (too small here).
              (["--weights", str(canonical_weights), "--resize", "32"],
               "(the model: 32×32): leave out --resize, which defaults to the size the file was "
               "saved for"),
              (["--weights", str(canonical_weights), "--data-dir", "/nonexistent/fashion"],
               "--data-dir /nonexistent/fashion is not a readable directory")]
    for arguments, message in cases:
        result = weights_cli("d2l_alexnet.evaluate", "--backend", backend_name, *arguments)
        assert_refused(result, message)
    result = weights_cli("d2l_alexnet.evaluate", "--backend", "caffe", "--weights",
                         str(canonical_weights))
    assert_refused(result, "unknown backend 'caffe'")
