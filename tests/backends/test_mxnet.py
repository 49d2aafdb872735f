"""What only the MXNet backend can get wrong: dropout modes under autograd, MXNet's bilinear resize
(whose ``align_corners`` defaults to True), hybridization, the scale of ``Trainer.step``, and
its host allocator's message read as out of memory.

Run from the MXNet environment: ``pytest tests/backends/test_mxnet.py``.
"""

import json
import logging
import os
import subprocess
import sys

import numpy as np
import pytest

mx = pytest.importorskip("mxnet")
from mxnet import autograd  # noqa: E402

from d2l_alexnet import mxnet as d2l  # noqa: E402
from d2l_alexnet.cli import out_of_memory_message  # noqa: E402
from d2l_alexnet.core.errors import DeviceError  # noqa: E402

SMALL = 67  # the smallest input AlexNet accepts


@pytest.fixture(scope="module")
def model():
    d2l.set_seed(0)
    return d2l.AlexNet(lr=0.1, resize=SMALL)


def images(batch_size, seed=0):
    rng = np.random.default_rng(seed)
    return mx.nd.array(rng.random((batch_size, 1, SMALL, SMALL), dtype=np.float32))


def test_dropout_is_active_in_training_and_off_in_evaluation(model):
    X = images(4)
    with autograd.record(train_mode=True):
        first, second = model(X).asnumpy(), model(X).asnumpy()
    evaluated, again = model(X).asnumpy(), model(X).asnumpy()
    assert not np.allclose(first, second), "training-mode outputs must vary (dropout on)"
    np.testing.assert_array_equal(evaluated, again)  # predict mode: no dropout
    assert not np.allclose(first, evaluated)


def test_dropout_layers_drop_half_and_rescale(model):
    dropouts = [layer for layer in model.net if type(layer).__name__ == "Dropout"]
    assert len(dropouts) == 2
    ones = mx.nd.ones((1, 100_000))
    with autograd.train_mode():
        kept = dropouts[0](ones).asnumpy()
    assert set(np.unique(kept)) == {0.0, 2.0}  # inverted dropout at rate 0.5
    assert (kept == 0).mean() == pytest.approx(0.5, abs=0.01)
    np.testing.assert_array_equal(dropouts[0](ones).asnumpy(), ones.asnumpy())


def test_resize_matches_hand_computed_bilinear_values():
    """2×2 -> 4×4 with half-pixel centres: output pixel (i, j) samples the input at
    ((i + 0.5) / 2 - 0.5, (j + 0.5) / 2 - 0.5), clamped to the image."""
    image = np.array([[[0, 100], [200, 255]]], dtype=np.uint8)
    out = d2l.to_numpy(d2l.resize_images(image, (4, 4)))
    assert out.shape == (1, 1, 4, 4) and out.dtype == np.float32
    out = out[0, 0] * 255
    assert out[0, 0] == pytest.approx(0.0, abs=1e-4)  # (-0.25, -0.25) clamps to pixel (0, 0)
    assert out[0, 1] == pytest.approx(0.25 * 100, abs=1e-3)  # (0, 0.25)
    # (0.25, 0.25): 0.75·0.75·0 + 0.75·0.25·100 + 0.25·0.75·200 + 0.25·0.25·255
    assert out[1, 1] == pytest.approx(18.75 + 37.5 + 15.9375, abs=1e-3)
    # (0.25, 0.75): 0.75·0.25·0 + 0.75·0.75·100 + 0.25·0.25·200 + 0.25·0.75·255
    assert out[1, 2] == pytest.approx(56.25 + 12.5 + 47.8125, abs=1e-3)
    assert out[3, 3] == pytest.approx(255.0, abs=1e-3)  # (1.25, 1.25) clamps to pixel (1, 1)
    # MXNet's default, align_corners=True, would put 100·1/3 at (0, 1) instead.


def test_resize_does_not_antialias_when_shrinking():
    """4 -> 2 samples at 0.5 and 2.5, so each output averages just two neighbours; an
    antialiasing filter would also weigh in the farther pixels (28.6 instead of 20)."""
    row = mx.nd.array(np.array([[[0, 40, 80, 255]]]), dtype="uint8")  # an NDArray input
    out = d2l.to_numpy(d2l.resize_images(row, (1, 2))).ravel() * 255
    np.testing.assert_allclose(out, [20.0, 167.5], atol=1e-3)


def test_hybridized_network_matches_the_imperative_one():
    d2l.set_seed(1)
    model = d2l.AlexNet(resize=SMALL)
    batches = [images(3, seed=1), images(5, seed=2)]  # a second shape re-traces the graph
    hybridized = [model(X).asnumpy() for X in batches]
    assert model.net._active, "AlexNet must be hybridized"
    model.net.hybridize(active=False)
    imperative = [model(X).asnumpy() for X in batches]
    for fast, slow in zip(hybridized, imperative):
        np.testing.assert_allclose(fast, slow, rtol=1e-5, atol=1e-6)


def make_trainer(model, **kwargs):
    data = d2l.FashionMNIST(batch_size=8, resize=(SMALL, SMALL), limit_train=8, limit_val=8,
                            log=None)
    trainer = d2l.Trainer(max_epochs=1, progress=False, log=None, **kwargs).setup(model, data)
    images, labels = next(data.raw_batches(train=True))
    return trainer, trainer.prepare_batch(images, labels)


def test_a_step_is_sgd_on_the_mean_loss():
    """The last bias moves by -lr × mean(softmax - one-hot): Trainer.step(1) on a mean loss, not
    a gradient scaled by the batch size (or by its inverse) twice."""
    d2l.set_seed(2)
    model = d2l.AlexNet(lr=0.1, resize=SMALL)
    trainer, (X, y) = make_trainer(model)
    bias = list(model.collect_params().values())[-1]
    before = bias.data().asnumpy()
    d2l.set_seed(7)  # the same dropout masks as the step below
    with autograd.record(train_mode=True):
        logits = model(X).asnumpy()
    probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    expected_grad = (probabilities - np.eye(10)[y.asnumpy()]).mean(axis=0)
    d2l.set_seed(7)
    trainer.train_step((X, y))
    np.testing.assert_allclose(bias.data().asnumpy(), before - 0.1 * expected_grad, atol=1e-6)


def test_gradient_clipping_bounds_the_global_norm():
    d2l.set_seed(3)
    model = d2l.AlexNet(lr=0.1, resize=SMALL)
    trainer, batch = make_trainer(model, gradient_clip_val=1e-3)
    trainer.train_step(batch)
    norm = np.sqrt(sum((p.grad().asnumpy() ** 2).sum() for p in trainer.parameters))
    assert norm == pytest.approx(1e-3, rel=1e-3)


def test_configure_optimizers_is_gluon_sgd_at_lr(model):
    optimizer = model.configure_optimizers()
    assert isinstance(optimizer, mx.gluon.Trainer)
    assert optimizer.learning_rate == 0.1
    assert type(optimizer.optimizer).__name__ == "SGD"


# Run in a process of its own: MXNet's AMP, once on, is on for every later test of the process.
BF16_SCRIPT = """
import json
import logging
import numpy as np
from d2l_alexnet import mxnet as d2l
import mxnet as mx
from mxnet import autograd

d2l.set_seed(0)
model = d2l.AlexNet(lr=0.05, resize=67)
rng = np.random.default_rng(0)
images = rng.integers(0, 256, size=(16, 28, 28), dtype=np.uint8)
labels = rng.integers(0, 10, size=16).astype(np.int64)
data = d2l.ArrayData((images, labels), (images, labels), 16, resize=67)
fp32 = d2l.Trainer(max_epochs=1, progress=False, log=None).setup(model, data)
batch = fp32.prepare_batch(images, labels)
report = {"fp32_output": str(model(batch[0]).dtype),  # a graph traced in fp32 first
          "fp32_loss": float(model.loss(model(batch[0]), batch[1]).asscalar())}
trainer = d2l.Trainer(max_epochs=1, precision="bf16", progress=False, log=None)
trainer.setup(model, data)
report["bf16_output"] = str(model(batch[0]).dtype)
report["root_logging"] = [len(logging.root.handlers), logging.root.level]
with autograd.predict_mode():
    report["bf16_loss"] = float(model.loss(model(batch[0]), batch[1]).asscalar())
report["losses"] = [float(trainer.train_step(batch).asscalar()) for _ in range(12)]
report["parameters"] = sorted({str(p.data().dtype) for p in model.collect_params().values()})
report["features"] = str(model.features(images[:2]).dtype)
report["to_numpy"] = str(d2l.to_numpy(model(batch[0])).dtype)
try:
    d2l.Trainer(max_epochs=1, progress=False, log=None).setup(model, data)
except ValueError as error:
    report["fp32_after"] = str(error)
print(json.dumps(report))
"""


def test_bf16_is_offered_only_on_a_cpu_with_avx512():
    """oneDNN's bf16 convolutions need AVX-512: elsewhere the backend lists fp32 alone, and a
    Trainer asked for bf16 refuses in one line instead of failing inside oneDNN."""
    from d2l_alexnet import mxnet as d2l
    from d2l_alexnet.core.hardware import cpu_description

    has_avx512 = "avx512f" in (cpu_description()[1] or ())
    assert d2l.PRECISIONS == (("fp32", "bf16") if has_avx512 else ("fp32",))
    if has_avx512:
        return  # bf16 trains: the test below
    data = d2l.ArrayData((np.zeros((4, 67, 67), np.uint8), np.arange(4) % 2),
                         (np.zeros((2, 67, 67), np.uint8), np.arange(2)), batch_size=2)
    trainer = d2l.Trainer(max_epochs=1, precision="bf16", progress=False, log=None)
    with pytest.raises(ValueError, match="^precision 'bf16' needs a CPU with AVX-512 in MXNet "
                                         "1.9 .*use precision='fp32'$"):
        trainer.fit(d2l.AlexNet(num_classes=2, resize=67), data)


def test_bf16_is_mxnet_amp_with_float32_parameters_and_no_way_back():
    """--precision bf16: MXNet's AMP computes in bfloat16 (a network traced in fp32 before is
    traced again), keeps float32 parameters, trains, hands float32 to numpy, and refuses a
    later fp32 Trainer in the same process rather than train it in bf16 unnoticed."""
    from d2l_alexnet import mxnet as d2l

    if "bf16" not in d2l.PRECISIONS:
        pytest.skip("this CPU has no AVX-512, which MXNet's bf16 needs: "
                    "test_bf16_is_offered_only_on_a_cpu_with_avx512 covers it")
    result = subprocess.run([sys.executable, "-c", BF16_SCRIPT], capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert "float32" in report["fp32_output"] and "bfloat16" in report["bf16_output"]
    # The same function, rounded to bf16: the two losses agree to bf16's precision.
    assert report["bf16_loss"] == pytest.approx(report["fp32_loss"], rel=0.02)
    losses = report["losses"]
    assert all(np.isfinite(losses)) and np.mean(losses[-3:]) < np.mean(losses[:3]), losses
    assert report["parameters"] == ["<class 'numpy.float32'>"]
    assert report["features"] == report["to_numpy"] == "float32"
    assert "cannot be turned off" in report["fp32_after"]
    # AMP's start logs through the root logger, which set itself up: a lesson's own
    # logging.basicConfig afterwards did nothing.
    assert report["root_logging"] == [0, logging.WARNING]


def address_space_bytes():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmSize:"))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs Linux's RLIMIT_AS")
def test_a_real_allocation_failure_is_called_out_of_memory():
    """MXNet counts elements in 32 bits, so no array it can make (< 2**31 elements, 16 GiB at
    most) is beyond every machine's memory; so the process's address space is capped, for this
    one allocation, at 2 GiB above what it uses. The 8 GiB asked for then fails at once in
    MXNet's own allocator, nothing is touched, and the cap is lifted again."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (address_space_bytes() + 2**31, hard))
    try:
        with pytest.raises(mx.base.MXNetError) as failure:
            mx.nd.zeros((2**30,), ctx=mx.cpu(), dtype="float64").wait_to_read()
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
    assert "Failed to allocate CPU Memory" in str(failure.value)
    assert out_of_memory_message(failure.value, 128) == (
        "out of memory at batch size 128: use a smaller --batch-size (try 64)"), failure.value
    assert mx.nd.ones(4).sum().asscalar() == 4  # and the process carries on


@pytest.mark.skipif(d2l.num_gpus() > 0, reason="a GPU is present")
def test_gpu_without_one_says_how_to_fix_it():
    with pytest.raises(DeviceError, match="GPU.*--device cpu"):
        d2l.Trainer(max_epochs=1, device="gpu").select_device("gpu")


def run_import(environment):
    """``OMP_NUM_THREADS`` as a fresh process sees it after importing the backend."""
    env = {key: value for key, value in os.environ.items() if key != "OMP_NUM_THREADS"}
    env.update(environment)
    code = "import os, d2l_alexnet.mxnet; print(os.environ['OMP_NUM_THREADS'])"
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          check=True).stdout.strip()


def test_operators_get_every_usable_core_unless_the_user_chose():
    # MXNet alone would keep cores back for its engine, and run its operators slower.
    assert run_import({}) == str(len(os.sched_getaffinity(0)))
    assert run_import({"OMP_NUM_THREADS": "1"}) == "1"


def test_a_checkpoint_on_two_contexts_keeps_the_momentum_and_resumes_exactly(tmp_path):
    """On several contexts Gluon's kvstore applies the updates and keeps the momentum; a
    checkpoint that missed it resumed with none (the weights then differed by 0.04)."""
    from d2l_alexnet.core.checkpoint import Checkpointer, latest_checkpoint
    from d2l_alexnet.core.progress import ProgressBoard

    data = d2l.FashionMNIST(batch_size=8, resize=SMALL, limit_train=32, limit_val=8, log=None)

    def run(epochs, resume=None, directory=None):
        d2l.set_seed(0)
        model = d2l.AlexNet(lr=0.05, momentum=0.9, resize=SMALL)
        trainer = d2l.Trainer(max_epochs=epochs, num_gpus=2, device="cpu", progress=False,
                              log=None, board=ProgressBoard(live=False))
        if directory is not None:
            Checkpointer(directory, log=None).attach(trainer)
        return model, trainer.fit(model, data, resume=resume)

    straight_model, straight = run(2)
    run(1, directory=tmp_path)
    saved = latest_checkpoint(tmp_path)
    assert sum(name.startswith("optimizer.state.") for name in saved.arrays) == 16
    model, resumed = run(2, resume=saved)
    assert resumed[-1]["train_loss"] == straight[-1]["train_loss"]
    for (_, ours), (_, theirs) in zip(d2l.parameter_arrays(model),
                                      d2l.parameter_arrays(straight_model)):
        assert np.array_equal(ours, theirs)


def residual_lesson_model(relu, concatenate=None, num_classes=4):
    """A tiny model in the style of the book's ResNet lesson: Gluon layers, and a residual
    block whose forward applies ``relu`` (the book writes ``npx.relu``), and with
    ``concatenate`` joins its input to it along the channels as GoogLeNet's Inception does
    (``np.concatenate``)."""
    from mxnet import init
    from mxnet.gluon import nn

    class Residual(nn.Block):
        def __init__(self, channels):
            super().__init__()
            self.conv = nn.Conv2D(channels, kernel_size=3, padding=1)
            self.bn = nn.BatchNorm()

        def forward(self, X):
            Y = relu(self.bn(self.conv(X)) + X)
            return Y if concatenate is None else concatenate((Y, X), axis=1)

    class TinyResNet(d2l.Classifier):
        def __init__(self, lr=0.1, num_classes=4):
            super().__init__()
            self.save_hyperparameters()
            self.net = nn.Sequential()
            self.net.add(nn.Conv2D(4, kernel_size=3, padding=1), Residual(4),
                         nn.GlobalAvgPool2D(), nn.Dense(num_classes))
            self.net.initialize(init.Xavier())

    return TinyResNet(num_classes=num_classes)


def tiny_lesson_data(resize=28):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (24, 28, 28), dtype=np.uint8)
    labels = np.arange(24) % 4
    return d2l.ArrayData(train=(images[:16], labels[:16]), val=(images[16:], labels[16:]),
                         batch_size=8, resize=resize)


def test_a_lesson_models_forward_is_what_predict_runs():
    """A from-scratch model (its own forward and parameters, no self.net) predicts through
    its forward, as fit trains it (predict ran self.net: an AttributeError); features, which
    needs self.net, is refused in one line."""
    import mxnet as mx

    class Scratch(d2l.Classifier):
        def __init__(self, lr=0.1):
            super().__init__()
            self.save_hyperparameters()
            self.W = self.params.get("W", shape=(28 * 28, 10), init=mx.init.Normal(0.01))
            self.b = self.params.get("b", shape=(10,), init=mx.init.Zero())
            self.initialize()

        def forward(self, X):
            return (mx.nd.dot(X.reshape((-1, 28 * 28)), self.W.data(X.context))
                    + self.b.data(X.context))

    model = Scratch()
    data = d2l.FashionMNIST(batch_size=16, resize=(28, 28), limit_train=32, limit_val=16,
                            log=None)
    d2l.Trainer(max_epochs=1, progress=False, log=None).fit(model, data)
    X = mx.nd.random.uniform(shape=(4, 1, 28, 28))
    np.testing.assert_array_equal(model.predict(X), model(X).argmax(axis=1).asnumpy())
    with pytest.raises(TypeError, match="Scratch.features needs self.net to be an "
                                        "nn.Sequential .* and it has none: use predict"):
        model.features(X)
    with pytest.raises(TypeError, match="Scratch.layer_summary walks the layers of self.net, an "
                                        "nn.Sequential, and it has none"):
        model.layer_summary((1, 1, 28, 28))


def test_a_numpy_mode_operator_on_our_arrays_names_the_classic_one_to_write():
    """The book's ResNet calls npx.relu in its forward; on classic arrays (the model built
    without npx.set_np()) MXNet's own TypeError asked for npx.set_np() and named no operator."""
    from mxnet import npx

    from d2l_alexnet.mxnet.runtime import NumpyOperatorError

    data = tiny_lesson_data()
    model = residual_lesson_model(npx.relu)
    with pytest.raises(NumpyOperatorError, match="operator `relu` .*call npx.set_np[(][)] before "
                       r"building the model.*or write the classic operators, e\.g\. nd\.relu\(X\) "
                       r"for npx\.relu\(X\)") as error:
        d2l.Trainer(max_epochs=1, progress=False, log=None).fit(model, data)
    assert "\n" not in str(error.value) and isinstance(error.value, TypeError)
    with pytest.raises(NumpyOperatorError):
        model.predict(d2l.resize_images(data.val_images[:2], (28, 28)))
    # The classic operator it names trains.
    model = residual_lesson_model(mx.nd.relu)
    history = d2l.Trainer(max_epochs=1, progress=False, log=None).fit(model, data)
    assert np.isfinite(history[-1]["val_loss"])


@pytest.fixture
def numpy_mode():
    """MXNet's NumPy mode on for one test (``npx.set_np()``, the book's first line), then off."""
    from mxnet import npx

    npx.set_np()
    try:
        yield
    finally:
        npx.reset_np()


def test_a_lesson_model_in_numpy_mode_trains_evaluates_and_predicts(numpy_mode):
    """The book's MXNet code starts with npx.set_np() and its ResNet and GoogLeNet call
    npx.relu and np.concatenate in forward; the backend refused NumPy mode, so they could not
    run at all."""
    from mxnet import np as mxnp, npx

    data = tiny_lesson_data()
    images, labels = next(iter(data.train_dataloader()))  # the book's own loop's batches
    assert isinstance(images, mxnp.ndarray) and isinstance(labels, mxnp.ndarray)
    d2l.set_seed(0)
    model = residual_lesson_model(npx.relu, mxnp.concatenate)
    history = d2l.Trainer(max_epochs=1, progress=False, log=None).fit(model, data)
    assert np.isfinite(history[-1]["val_loss"]) and 0 <= history[-1]["val_acc"] <= 1
    X = d2l.resize_images(data.val_images[:3], (28, 28))
    assert isinstance(X, mxnp.ndarray) and isinstance(model(X), mxnp.ndarray)
    expected = model(X).asnumpy().argmax(axis=1)
    np.testing.assert_array_equal(model.predict(X), expected)
    np.testing.assert_allclose(model.probabilities(X).sum(axis=1), 1, rtol=1e-5)


def alexnet_history(data, initial_weights, **trainer_settings):
    """An AlexNet from ``initial_weights``, trained one epoch from seed 0, and its history."""
    model = d2l.AlexNet(lr=0.05, num_classes=4, resize=SMALL, momentum=0.9, label_smoothing=0.1)
    model.load_weights(initial_weights, log=None)
    d2l.set_seed(0)  # the same dropout masks
    trainer = d2l.Trainer(max_epochs=1, progress=False, log=None, **trainer_settings)
    return model, trainer.fit(model, data)


def test_alexnet_in_numpy_mode_trains_as_in_classic_mode_with_the_same_weights_files(tmp_path):
    """From the same weights, NumPy mode trains to classic mode's losses (momentum, label
    smoothing, gradient clipping, dropout), and a weights file from either mode gives the other
    the same outputs. (The same seed draws other initial weights: MXNet's NumPy-mode
    initializers draw from its RNG in another way.)"""
    from mxnet import np as mxnp, npx

    data = tiny_lesson_data(resize=SMALL)
    images = data.val_images
    d2l.set_seed(0)
    d2l.AlexNet(num_classes=4, resize=SMALL).save_weights(tmp_path / "initial.safetensors")
    classic_model, classic = alexnet_history(data, tmp_path / "initial.safetensors",
                                             gradient_clip_val=1.0)
    classic_model.save_weights(tmp_path / "classic.safetensors")
    npx.set_np()
    try:
        model, history = alexnet_history(data, tmp_path / "initial.safetensors",
                                         gradient_clip_val=1.0)
        assert isinstance(model.net[0].weight.data(), mxnp.ndarray)
        loaded = d2l.AlexNet(num_classes=4, resize=SMALL)
        loaded.load_weights(tmp_path / "classic.safetensors", log=None)
        from_classic = loaded.probabilities(images[:4])
        model.save_weights(tmp_path / "numpy.safetensors")
        trained = model.probabilities(images[:4])
    finally:
        npx.reset_np()
    for ours, theirs in zip(history, classic):
        for key in ("train_loss", "val_loss", "val_acc"):
            assert ours[key] == pytest.approx(theirs[key], rel=1e-6), key
    np.testing.assert_allclose(from_classic, classic_model.probabilities(images[:4]), atol=1e-6)
    again = d2l.AlexNet(num_classes=4, resize=SMALL).load_weights(tmp_path / "numpy.safetensors",
                                                                   log=None)
    assert not isinstance(again.net[0].weight.data(), mxnp.ndarray)
    np.testing.assert_allclose(again.probabilities(images[:4]), trained, atol=1e-6)


def test_a_checkpoint_in_numpy_mode_resumes_exactly_on_one_context_and_two(tmp_path, numpy_mode):
    from d2l_alexnet.core.checkpoint import Checkpointer, latest_checkpoint
    from d2l_alexnet.core.progress import ProgressBoard

    data = d2l.FashionMNIST(batch_size=8, resize=SMALL, limit_train=16, limit_val=8, log=None)

    def run(epochs, resume=None, directory=None, **settings):
        d2l.set_seed(0)
        model = d2l.AlexNet(lr=0.05, momentum=0.9, resize=SMALL)
        trainer = d2l.Trainer(max_epochs=epochs, progress=False, log=None,
                              board=ProgressBoard(live=False), **settings)
        if directory is not None:
            Checkpointer(directory, log=None).attach(trainer)
        return model, trainer.fit(model, data, resume=resume)

    for settings in ({}, {"num_gpus": 2, "device": "cpu"}):
        directory = tmp_path / str(len(settings))
        straight_model, straight = run(2, **settings)
        run(1, directory=directory, **settings)
        model, resumed = run(2, resume=latest_checkpoint(directory), **settings)
        assert resumed[-1]["train_loss"] == straight[-1]["train_loss"], settings
        for (_, ours), (_, theirs) in zip(d2l.parameter_arrays(model),
                                          d2l.parameter_arrays(straight_model)):
            assert np.array_equal(ours, theirs), settings


def test_a_model_used_in_the_other_mode_than_it_was_built_in_is_refused_in_one_line():
    """Gluon makes a model's parameters mx.np arrays in NumPy mode and mx.nd ones outside it,
    and a forward pass cannot mix them: MXNet's own errors named neither mode."""
    from mxnet import npx

    from d2l_alexnet.mxnet.runtime import NumpyModeError

    data = tiny_lesson_data(resize=SMALL)
    classic_model = d2l.AlexNet(num_classes=4, resize=SMALL)
    trainer = d2l.Trainer(max_epochs=1, progress=False, log=None)
    npx.set_np()
    try:
        with pytest.raises(NumpyModeError, match="built before it was turned on.*build the "
                           r"model after npx.set_np\(\), or call npx.reset_np\(\)") as error:
            trainer.fit(classic_model, data)
        assert "\n" not in str(error.value)
        with pytest.raises(NumpyModeError):
            classic_model.predict(np.zeros((1, SMALL, SMALL), np.uint8))
        numpy_model = d2l.AlexNet(num_classes=4, resize=SMALL)
        with pytest.raises(ValueError, match="^precision 'bf16' .*NumPy mode .*precision='fp32'"):
            d2l.Trainer(max_epochs=1, precision="bf16", progress=False, log=None).fit(
                numpy_model, data)
    finally:
        npx.reset_np()
    with pytest.raises(NumpyModeError, match=r"built in MXNet's NumPy mode .*now off.*npx\.set_np"):
        numpy_model.predict(np.zeros((1, SMALL, SMALL), np.uint8))
    assert classic_model.predict(np.zeros((1, SMALL, SMALL), np.uint8)).shape == (1,)


def test_the_books_alexnet_trains_evaluates_and_predicts_in_both_modes(tmp_path):
    """The book's MXNet code starts with npx.set_np(); BookAlexNet made its parameters with a
    forward pass on classic zeros, so there MXNet refused it ("received a legacy ndarray ...
    call npx.set_np()"). From one weights file it now gives both modes the same outputs, summary
    and training (the same seed: the same dropout masks)."""
    from mxnet import np as mxnp, npx

    from d2l_alexnet.core import weights

    d2l.set_seed(0)
    d2l.AlexNet().save_weights(tmp_path / "chapter.safetensors")  # the book sizes it for 224
    arrays = weights.load_weights(tmp_path / "chapter.safetensors", d2l.LAYOUT, 224, 10)
    data = d2l.FashionMNIST(batch_size=4, resize=224, limit_train=4, limit_val=4, log=None)
    images = np.random.default_rng(0).integers(0, 256, (2, 28, 28), dtype=np.uint8)

    def run():
        model = d2l.BookAlexNet(lr=0.01)
        d2l.assign_parameter_arrays(model, arrays)
        X = d2l.resize_images(images, (224, 224))
        summary = [(name, shape) for name, shape in model.layer_outputs((1, 1, 224, 224))]
        outputs = model.probabilities(X), model.predict(X), summary
        d2l.set_seed(0)
        history = d2l.Trainer(max_epochs=1, progress=False, log=None).fit(model, data)
        return model, outputs, history

    _, classic_outputs, classic_history = run()
    npx.set_np()
    try:
        model, outputs, history = run()
        assert isinstance(model.net[0].weight.data(), mxnp.ndarray)
    finally:
        npx.reset_np()
    np.testing.assert_array_equal(outputs[0], classic_outputs[0])
    np.testing.assert_array_equal(outputs[1], classic_outputs[1])
    assert outputs[2] == classic_outputs[2] and outputs[2][-1] == ("Dense", (1, 10))
    for key in ("train_loss", "val_loss", "val_acc"):
        assert history[-1][key] == pytest.approx(classic_history[-1][key], rel=1e-6), key


def book_batch_norm_lenet():
    """The book's LeNet with its from-scratch BatchNorm (d2l, sec_batch_norm, MXNet edition, in
    NumPy mode): the moving mean and variance are attributes its forward replaces, and it reads
    its scale and shift with ``param.data()``, naming no context."""
    from mxnet import init, np as mxnp
    from mxnet.gluon import nn

    def batch_norm(X, gamma, beta, moving_mean, moving_var, eps, momentum):
        if not autograd.is_training():
            X_hat = (X - moving_mean) / mxnp.sqrt(moving_var + eps)
        else:
            axes = 0 if len(X.shape) == 2 else (0, 2, 3)
            mean = X.mean(axis=axes, keepdims=len(X.shape) == 4)
            var = ((X - mean) ** 2).mean(axis=axes, keepdims=len(X.shape) == 4)
            X_hat = (X - mean) / mxnp.sqrt(var + eps)
            moving_mean = (1.0 - momentum) * moving_mean + momentum * mean
            moving_var = (1.0 - momentum) * moving_var + momentum * var
        return gamma * X_hat + beta, moving_mean, moving_var

    class BatchNorm(nn.Block):
        def __init__(self, num_features, num_dims):
            super().__init__()
            shape = (1, num_features) if num_dims == 2 else (1, num_features, 1, 1)
            self.gamma = self.params.get("gamma", shape=shape, init=init.One())
            self.beta = self.params.get("beta", shape=shape, init=init.Zero())
            self.moving_mean = mxnp.zeros(shape)
            self.moving_var = mxnp.ones(shape)

        def forward(self, X):
            if self.moving_mean.ctx != X.ctx:
                self.moving_mean = self.moving_mean.copyto(X.ctx)
                self.moving_var = self.moving_var.copyto(X.ctx)
            Y, self.moving_mean, self.moving_var = batch_norm(
                X, self.gamma.data(), self.beta.data(), self.moving_mean, self.moving_var,
                eps=1e-12, momentum=0.1)
            return Y

    class BNLeNetScratch(d2l.Classifier):
        def __init__(self, lr=0.1, num_classes=10):
            super().__init__()
            self.save_hyperparameters()
            self.net = nn.Sequential()
            self.net.add(nn.Conv2D(6, kernel_size=5), BatchNorm(6, num_dims=4),
                         nn.Activation("sigmoid"), nn.AvgPool2D(pool_size=2, strides=2),
                         nn.Dense(84), BatchNorm(84, num_dims=2), nn.Activation("sigmoid"),
                         nn.Dense(num_classes))
            self.net.initialize(init.Xavier())

    return BNLeNetScratch()


def run_with_checkpoints(make_model, directory=None, epochs=2, resume=None, limit_train=48,
                         **settings):
    from d2l_alexnet.core.checkpoint import Checkpointer
    from d2l_alexnet.core.progress import ProgressBoard

    data = d2l.FashionMNIST(batch_size=16, resize=28, limit_train=limit_train, limit_val=16,
                            log=None)
    d2l.set_seed(0)
    model = make_model()
    trainer = d2l.Trainer(max_epochs=epochs, progress=False, log=None,
                          board=ProgressBoard(live=False), **settings)
    if directory is not None:
        Checkpointer(directory, log=None).attach(trainer)
    return model, trainer.fit(model, data, resume=resume)


def moving_statistics(model):
    return [d2l.to_numpy(getattr(block, name)) for block in model.net
            for name in ("moving_mean", "moving_var") if hasattr(block, name)]


TWO_CONTEXTS = {"num_gpus": 2, "device": "cpu"}


def test_the_books_batch_norm_trains_on_two_contexts_and_resumes_exactly(tmp_path, numpy_mode):
    """The book's from-scratch BatchNorm on two contexts stopped at the first step with MXNet's
    'Gradient of Parameter ... on context cpu(1) has not been updated' (its gamma.data() was
    the first context's on both), and its moving statistics, attributes, were in no checkpoint
    (nor, on one context, where a resumed run's evaluation then used the initial ones); a model
    whose layers size themselves at their first batch could not be resumed at all. Each replica
    now normalizes its share, and the moving statistics are the replicas' average, weighted by
    their shares: the moving mean is one device's (the whole batch's mean)."""
    from d2l_alexnet.core.checkpoint import latest_checkpoint

    # One step from the same weights: the first layer's moving mean is one device's.
    one, _ = run_with_checkpoints(book_batch_norm_lenet, epochs=1, limit_train=16)
    two, _ = run_with_checkpoints(book_batch_norm_lenet, epochs=1, limit_train=16,
                                  **TWO_CONTEXTS)
    np.testing.assert_allclose(moving_statistics(two)[0], moving_statistics(one)[0],
                               rtol=1e-5, atol=1e-7)
    for settings in ({}, TWO_CONTEXTS):
        directory = tmp_path / str(len(settings))
        straight_model, straight = run_with_checkpoints(book_batch_norm_lenet, **settings)
        run_with_checkpoints(book_batch_norm_lenet, directory, epochs=1, **settings)
        saved = latest_checkpoint(directory)
        assert {"state.00.moving_mean", "state.03.moving_var"} <= set(saved.arrays), settings
        model, resumed = run_with_checkpoints(book_batch_norm_lenet, resume=saved, **settings)
        assert metrics(resumed) == metrics(straight), settings
        for ours, theirs in zip(model_state(model), model_state(straight_model), strict=True):
            assert np.array_equal(ours, theirs), settings


def metrics(history):
    return [(record["train_loss"], record["val_loss"], record["val_acc"]) for record in history]


def model_state(model):
    """The parameters (each context's copy) and the moving statistics that are attributes."""
    return [d2l.to_numpy(copy) for param in model.collect_params().values()
            for copy in param.list_data()] + moving_statistics(model)


def test_gluons_batch_norm_keeps_one_running_mean_on_two_contexts_and_resumes_exactly(
        tmp_path):
    """Gluon's BatchNorm updated each context's running statistics from its own share only, so
    the copies drifted apart, a checkpoint kept the first's and a resumed run evaluated the
    second context's share with other statistics than the uninterrupted run. After every step
    they are now the replicas' average, weighted by their shares, on every context."""
    from d2l_alexnet.core.checkpoint import latest_checkpoint

    def make_model():
        return residual_lesson_model(mx.nd.relu, num_classes=10)

    straight_model, straight = run_with_checkpoints(make_model, **TWO_CONTEXTS)
    first, second = (d2l.to_numpy(copy) for copy in
                     straight_model.net[1].bn.running_mean.list_data())
    assert np.array_equal(first, second) and np.abs(first).max() > 0
    run_with_checkpoints(make_model, tmp_path, epochs=1, **TWO_CONTEXTS)
    model, resumed = run_with_checkpoints(make_model, resume=latest_checkpoint(tmp_path),
                                          **TWO_CONTEXTS)
    assert metrics(resumed) == metrics(straight)
    for ours, theirs in zip(model_state(model), model_state(straight_model), strict=True):
        assert np.array_equal(ours, theirs)


def fit_history(make_model, data, **settings):
    d2l.set_seed(0)
    model = make_model()
    history = d2l.Trainer(max_epochs=settings.pop("epochs", 1), progress=False, log=None,
                          **settings).fit(model, data)
    return model, metrics(history)


def test_a_batch_smaller_than_the_contexts_trains_as_on_one_device():
    """A batch with fewer images than contexts (an epoch's last, of 1 image on 2) ran no
    backward on the idle context, and the kvstore summed its previous step's gradient into
    this one (val_loss 2.5e-4 off one device's), or on the first step refused it as stale
    ('... on context cpu(1) has not been updated by backward'). The idle contexts now give a
    zero gradient: the step is one device's, and so are Gluon BatchNorm's running statistics,
    the same on every context."""
    data = d2l.FashionMNIST(batch_size=8, resize=SMALL, limit_train=9, limit_val=9, log=None)

    def alexnet():
        return d2l.AlexNet(lr=0.05, momentum=0.9, dropout=0, resize=SMALL)

    _, one = fit_history(alexnet, data, epochs=2)
    _, two = fit_history(alexnet, data, epochs=2, **TWO_CONTEXTS)
    np.testing.assert_allclose(two, one, rtol=1e-5)
    # Batches of 1: every step runs on the first context alone, as on one device.
    images = np.random.default_rng(0).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    tiny = d2l.ArrayData(train=(images[:3], np.arange(3)), val=(images[3:], np.arange(2)),
                         batch_size=1, resize=28)

    def resnet():
        return residual_lesson_model(mx.nd.relu, num_classes=10)

    one_model, one = fit_history(resnet, tiny)
    two_model, two = fit_history(resnet, tiny, **TWO_CONTEXTS)
    np.testing.assert_allclose(two, one, rtol=1e-5)
    expected = d2l.to_numpy(one_model.net[1].bn.running_mean.data())
    for copy in two_model.net[1].bn.running_mean.list_data():
        np.testing.assert_allclose(d2l.to_numpy(copy), expected, rtol=1e-5, atol=1e-7)


def test_the_mxnet_edition_beside_another_edition_warns_once():
    """A notebook that changed BACKEND and ran again: MXNet's edition said nothing."""
    import subprocess
    import sys

    code = ("import sys, types, warnings\n"
            "sys.modules['d2l_alexnet.torch'] = types.ModuleType('d2l_alexnet.torch')\n"
            "with warnings.catch_warnings(record=True) as caught:\n"
            "    warnings.simplefilter('always')\n"
            "    from d2l_alexnet import mxnet\n"
            "print([str(w.message) for w in caught if w.category.__name__ == "
            "'FrameworkClashWarning'])\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("d2l_alexnet.mxnet imported into a process that has imported "
                               "d2l_alexnet.torch") == 1, result.stdout


def test_a_trained_hybridized_model_copies_and_pickles_as_itself():
    """After its first forward pass an AlexNet's hybridized graph holds C pointers, and after a
    fit its parameters hold their Gluon Trainer: copy.deepcopy and pickle raised "ctypes objects
    containing pointers cannot be pickled". A copy is the model made again from its arguments
    and weights, hybridized again; the book's listing still copies too."""
    import copy
    import pickle

    d2l.set_seed(0)
    data = d2l.FashionMNIST(batch_size=8, resize=SMALL, limit_train=8, limit_val=8, log=None)
    model = d2l.AlexNet(lr=0.01, resize=SMALL)
    d2l.Trainer(max_epochs=1, progress=False, log=None).fit(model, data)
    X = data.val_images[:4]
    expected = model.probabilities(X)
    for made in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        assert type(made) is d2l.AlexNet and made.hparams == model.hparams
        assert made.net._active  # hybridized again
        assert all(np.array_equal(mine, theirs) for (_, mine), (_, theirs)
                   in zip(model.weight_arrays(), made.weight_arrays(), strict=True))
        np.testing.assert_array_equal(made.probabilities(X), expected)
        made.net[0].weight.set_data(mx.nd.zeros(made.net[0].weight.shape))
        np.testing.assert_array_equal(model.probabilities(X), expected)  # independent
    shallow = copy.copy(model)
    assert type(shallow) is d2l.AlexNet and shallow.net is model.net  # as PyTorch's copy.copy
    book = d2l.BookAlexNet(lr=0.02)
    assert copy.deepcopy(book).hparams == book.hparams


def test_a_model_called_directly_in_the_other_mode_is_refused_in_one_line():
    """fit and predict said so; a direct call, model(X), failed 14 frames deep in Gluon with
    "module 'mxnet.symbol.numpy_extension' has no attribute 'Convolution'"."""
    from mxnet import np as mnp
    from mxnet import npx

    from d2l_alexnet.mxnet.runtime import NumpyModeError

    classic_model = d2l.AlexNet(num_classes=4, resize=SMALL)
    npx.set_np()
    try:
        with pytest.raises(NumpyModeError, match="built before it was turned on") as error:
            classic_model(mnp.zeros((1, 1, SMALL, SMALL)))
        assert error.value.__suppress_context__
    finally:
        npx.reset_np()


def test_a_model_cast_to_float16_is_refused_in_one_line_by_fit_and_predict():
    """Gluon's model.cast("float16") left the float32 input to MXNet's "This layer requires
    uniform type", raw, in fit and predict."""
    model = d2l.AlexNet(num_classes=4, resize=SMALL)
    model.cast("float16")
    expected = ("the model's parameters are float16 (Gluon's model.cast), which its float32 "
                "input cannot meet: keep the weights in float32 (model.cast('float32')); for "
                "mixed precision use precision='bf16'")
    with pytest.raises(TypeError) as error:
        model.predict(np.zeros((1, SMALL, SMALL), np.uint8))
    assert str(error.value) == expected and error.value.__suppress_context__
    with pytest.raises(TypeError) as error:
        d2l.Trainer(max_epochs=1, progress=False, log=None).fit(model,
                                                               tiny_lesson_data(resize=SMALL))
    assert str(error.value) == expected
    model.cast("float32")
    assert model.predict(np.zeros((1, SMALL, SMALL), np.uint8)).shape == (1,)
