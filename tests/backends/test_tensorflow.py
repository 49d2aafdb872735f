"""What only the TensorFlow backend has to get right (the contract suite covers the rest).

Dropout really active in training (the book's TF code never passes ``training=``), ReLU folded
into the layers as the book prints them, Keras' layouts, resizing that matches PyTorch's, one
trace for every batch size, gradient clipping (before weight decay), the Keras schedule, bf16
kept to the model and to its fit (fp32 inference after), a real allocation failure read as out
of memory, and a quiet import.
"""

import json
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from d2l_alexnet import tensorflow as d2l  # noqa: E402
from d2l_alexnet.cli import out_of_memory_message  # noqa: E402
from d2l_alexnet.core.callbacks import Callback  # noqa: E402
from d2l_alexnet.core.errors import DeviceError  # noqa: E402
from d2l_alexnet.core.recipe import LearningRatePlan  # noqa: E402
from d2l_alexnet.core.trainer import ReplicaError  # noqa: E402
from d2l_alexnet.tensorflow.model import PlannedSchedule  # noqa: E402
from repository import child_env  # noqa: E402

tf, keras = d2l.tf, d2l.keras
SMALL = 67  # the smallest input AlexNet accepts


@pytest.fixture
def model():
    d2l.set_seed(0)
    return d2l.AlexNet(lr=0.1, resize=SMALL)


@pytest.fixture
def batch():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(4, 28, 28), dtype=np.uint8)
    return d2l.resize_images(images, (SMALL, SMALL)), tf.constant([0, 3, 7, 9], tf.int32)


def make_trainer(model, **kwargs):
    """A Trainer ready to step, without running fit."""
    data = d2l.FashionMNIST(batch_size=8, resize=(SMALL, SMALL), limit_train=20, limit_val=8,
                            log=None)
    return d2l.Trainer(max_epochs=1, progress=False, log=None, **kwargs).setup(model, data)


def test_a_notebooks_sixth_evaluate_or_fit_prints_no_retracing_warning(model):
    """Each fit and evaluate makes its step functions anew; from the sixth, TensorFlow's
    detector warned of retracing, blaming the reader's code. Its warning about a function of
    the reader's own still passes."""
    import logging

    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = logging.getLogger("tensorflow")
    logger.addHandler(handler)
    try:
        data = d2l.FashionMNIST(batch_size=8, resize=(SMALL, SMALL), limit_train=8, limit_val=8,
                                log=None)
        trainer = d2l.Trainer(max_epochs=1, progress=False, log=None)
        for _ in range(7):
            trainer.evaluate(model, data)
        assert [record.getMessage() for record in records
                if "retracing" in record.getMessage()] == []
        logger.warning("5 out of the last 5 calls to <function mine at 0x1> triggered "
                       "tf.function retracing.")
        assert len(records) == 1
    finally:
        logger.removeHandler(handler)


def test_dropout_is_active_in_training_and_off_in_evaluation(model, batch):
    X, _ = batch
    assert not np.array_equal(model(X, training=True), model(X, training=True))
    np.testing.assert_array_equal(model(X, training=False), model(X, training=False))


@pytest.mark.parametrize("precision", ["bf16", "fp32"])  # fp32 last: the model keeps it
def test_a_training_step_uses_dropout(model, batch, precision):
    """Two steps from the same weights on the same batch move the weights differently: each
    draws its own dropout mask. A step run with ``training=False`` would move them identically."""
    trainer = make_trainer(model, precision=precision)
    start = [variable.numpy() for variable in model.trainable_variables]
    trainer.train_step(batch)
    first = [variable.numpy() for variable in model.trainable_variables]
    for variable, value in zip(model.trainable_variables, start):
        variable.assign(value)
    trainer.train_step(batch)
    second = [variable.numpy() for variable in model.trainable_variables]
    assert not np.array_equal(first[0], start[0])
    assert not np.array_equal(first[-2], second[-2])  # the last dense kernel sees the mask
    loss_sums = [float(trainer.eval_step(batch)[0]) for _ in range(2)]
    assert loss_sums[0] == loss_sums[1]


def test_same_seed_same_dropout(batch):
    outputs = []
    for _ in range(2):
        d2l.set_seed(5)
        outputs.append(d2l.AlexNet(resize=SMALL)(batch[0], training=True).numpy())
    np.testing.assert_array_equal(*outputs)


def test_relu_is_folded_into_the_layers_as_the_book_does(model):
    layers = model.net.layers
    assert not any(isinstance(layer, keras.layers.ReLU) for layer in layers)
    weighted = [layer for layer in layers if isinstance(layer, (keras.layers.Conv2D,
                                                                keras.layers.Dense))]
    assert [layer.activation.__name__ for layer in weighted] == ["relu"] * 7 + ["linear"]
    first = weighted[0]
    assert (first.padding, first.strides, first.kernel_size) == ("valid", (4, 4), (11, 11))
    assert [layer.padding for layer in weighted[1:5]] == ["same"] * 4


def test_parameters_are_in_keras_layout():
    arrays = d2l.parameter_arrays(d2l.AlexNet())
    shapes = [array.shape for _, array in arrays]
    assert shapes[0] == (11, 11, 1, 96) and shapes[1] == (96,)  # HWIO
    assert shapes[10] == (6400, 4096) and shapes[-2:] == [(4096, 10), (10,)]  # (in, out)
    assert [name.rsplit("/", 1)[-1] for name, _ in arrays] == ["kernel", "bias"] * 8


def reference_bilinear(images, size):
    """Half-pixel-centre bilinear without antialiasing, as torch's F.interpolate
    (align_corners=False): one interpolation matrix per axis."""
    def matrix(n_in, n_out):
        source = np.maximum((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0.0)
        low = np.minimum(np.floor(source).astype(int), n_in - 1)
        high = np.minimum(low + 1, n_in - 1)
        weight = source - low
        result = np.zeros((n_out, n_in))
        result[np.arange(n_out), low] += 1 - weight
        result[np.arange(n_out), high] += weight
        return result

    rows, cols = matrix(images.shape[1], size[0]), matrix(images.shape[2], size[1])
    return np.einsum("hi,bij,wj->bhw", rows, images.astype(np.float64) / 255.0, cols)


@pytest.mark.parametrize("size", [(SMALL, SMALL), (224, 224), (20, 41)])
def test_resize_matches_pytorchs_bilinear(size):
    images = np.random.default_rng(1).integers(0, 256, size=(3, 28, 28), dtype=np.uint8)
    resized = d2l.resize_images(tf.constant(images), size).numpy()
    assert resized.shape == (3, *size, 1) and resized.dtype == np.float32
    np.testing.assert_allclose(resized[..., 0], reference_bilinear(images, size), atol=1e-5)


def test_one_trace_for_every_batch_size(model):
    data = d2l.FashionMNIST(batch_size=8, resize=(SMALL, SMALL), limit_train=20, limit_val=12,
                            log=None)  # batches of 8, 8, 4: the last one is short
    trainer = d2l.Trainer(max_epochs=2, progress=False, log=None)
    trainer.fit(model, data)
    assert trainer.compiled_train_step.experimental_get_tracing_count() == 1
    assert trainer.compiled_eval_step.experimental_get_tracing_count() == 1


def test_gradient_clipping_bounds_the_update(model, batch):
    """With SGD the update is lr × the clipped gradient, so its global norm is lr × clip."""
    trainer = make_trainer(model, gradient_clip_val=1e-3)
    start = [variable.numpy() for variable in model.trainable_variables]
    trainer.train_step(batch)
    steps = [variable.numpy() - value for variable, value in zip(model.trainable_variables, start)]
    norm = np.sqrt(sum(float(np.sum(step.astype(np.float64) ** 2)) for step in steps))
    assert norm == pytest.approx(0.1 * 1e-3, rel=1e-3)


def raw_gradients(model, batch):
    """The mean loss's gradient alone (no decay term), in float64, with dropout off."""
    with tf.GradientTape() as tape:
        loss = model.loss(model(batch[0], training=False), batch[1])
    return [grad.numpy().astype(np.float64)
            for grad in tape.gradient(loss, model.trainable_variables)]


def clipped_then_decayed(grads, weights, clip, weight_decay):
    """The documented order, as PyTorch's clip_grad_norm_ before its SGD's weight_decay and
    optax's chain: the raw gradient's global norm clipped, then weight_decay × w added."""
    norm = np.sqrt(sum(float(np.sum(grad ** 2)) for grad in grads))
    scale = min(1.0, clip / norm)
    return [grad * scale + weight_decay * weight for grad, weight in zip(grads, weights)]


def test_gradient_clipping_clips_the_gradient_before_weight_decay_is_added(batch):
    """Two momentum steps with clipping and weight decay follow numpy's computation of
    clip(g) + wd·w (Keras' momentum: v ← m·v − lr·g, w ← w + v). The decay term was clipped
    with the gradient, so one step moved the weights 0.05 where the other backends moved
    them 0.76."""
    lr, momentum, weight_decay, clip = 0.1, 0.9, 0.1, 0.05
    d2l.set_seed(0)
    model = d2l.AlexNet(lr=lr, resize=SMALL, dropout=0, momentum=momentum,
                        weight_decay=weight_decay)
    trainer = make_trainer(model, gradient_clip_val=clip)
    weights = [variable.numpy().astype(np.float64) for variable in model.trainable_variables]
    velocity = [np.zeros_like(weight) for weight in weights]
    for _ in range(2):
        grads = raw_gradients(model, batch)
        assert np.sqrt(sum(float(np.sum(grad ** 2)) for grad in grads)) > clip  # it clips
        steps = clipped_then_decayed(grads, weights, clip, weight_decay)
        velocity = [momentum * v - lr * step for v, step in zip(velocity, steps)]
        weights = [weight + v for weight, v in zip(weights, velocity)]
        trainer.train_step(batch)
        for variable, expected in zip(model.trainable_variables, weights, strict=True):
            np.testing.assert_allclose(variable.numpy(), expected, rtol=1e-4, atol=1e-6)


def test_a_momentum_run_resumes_exactly_in_the_process_that_wrote_its_checkpoint(tmp_path):
    """Resumed beside the run it continues (a notebook's second model), with momentum,
    clipping and weight decay: the momentum slots are named after their layers with a
    per-process counter (sequential_1_conv2d_5_kernel_momentum), and resuming raised KeyError
    where the checkpoint's names were the first model's. Read by position, it ends exactly."""
    from d2l_alexnet.core.checkpoint import Checkpointer, read_checkpoint

    def alexnet(seed):
        d2l.set_seed(seed)
        return d2l.AlexNet(lr=0.1, resize=SMALL, momentum=0.9, weight_decay=0.1)

    data = fashion(batch_size=8, limit_train=16, limit_val=8, resize=SMALL)
    straight = alexnet(seed=0)
    trainer = d2l.Trainer(max_epochs=2, gradient_clip_val=0.05, progress=False, log=None)
    Checkpointer(tmp_path, log=None, keep=5).attach(trainer)
    trainer.fit(straight, data)
    resumed = alexnet(seed=1)  # other weights and seeds: restored from the checkpoint
    d2l.Trainer(max_epochs=2, gradient_clip_val=0.05, progress=False, log=None).fit(
        resumed, data, resume=read_checkpoint(tmp_path / "checkpoint-2.ckpt"))
    for ours, theirs in zip(resumed.variables, straight.variables, strict=True):
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy(), err_msg=ours.path)


REPLICAS_CLIP_WITH_DECAY = """
import json
import numpy as np
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from d2l_alexnet import tensorflow as d2l
d2l.set_seed(0)
model = d2l.AlexNet(lr=0.1, resize=67, dropout=0, weight_decay=0.1)
data = d2l.FashionMNIST(batch_size=8, resize=(67, 67), limit_train=8, limit_val=8, log=None)
X = d2l.resize_images(data.train_images, (67, 67))
y = tf.constant(data.train_labels.astype(np.int32))
with tf.GradientTape() as tape:
    loss = model.loss(model(X, training=False), y)
variables = model.trainable_variables
grads = [grad.numpy().astype(np.float64) for grad in tape.gradient(loss, variables)]
start = [variable.numpy().astype(np.float64) for variable in variables]
d2l.Trainer(max_epochs=1, num_gpus=2, device="cpu", gradient_clip_val=0.5, progress=False,
            log=None).fit(model, data)
print(json.dumps({"grads": [grad.tolist() for grad in grads[-2:]],
                  "start": [weight.tolist() for weight in start[-2:]],
                  "norm": float(np.sqrt(sum(np.sum(grad ** 2) for grad in grads))),
                  "after": [variable.numpy().tolist()
                            for variable in model.trainable_variables[-2:]]}))
"""


def test_gradient_clipping_on_two_replicas_clips_the_gradient_before_weight_decay():
    """On two CPU replicas, one step of the 8 images is lr × (clip(g) + wd·w), g the global
    batch's gradient (the last layer's kernel and bias checked, the global norm from all)."""
    result = subprocess.run([sys.executable, "-c", REPLICAS_CLIP_WITH_DECAY], env=child_env(),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    run = json.loads(result.stdout.splitlines()[-1])
    assert run["norm"] > 0.5  # it clips
    scale = 0.5 / run["norm"]
    for grad, weight, after in zip(run["grads"], run["start"], run["after"], strict=True):
        expected = np.array(weight) - 0.1 * (np.array(grad) * scale + 0.1 * np.array(weight))
        np.testing.assert_allclose(after, expected, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("plan", [
    LearningRatePlan("constant", lr=0.01, peak_lr=0.02, warmup_steps=3, total_steps=3),
    LearningRatePlan("constant", lr=0.01, peak_lr=0.01, warmup_steps=0, total_steps=4),
    LearningRatePlan("constant", lr=0.01, peak_lr=0.02, warmup_steps=2, total_steps=6),
    LearningRatePlan("onecycle", lr=0.01, peak_lr=0.05, warmup_steps=2, total_steps=6),
    LearningRatePlan("cosine", lr=0.01, peak_lr=0.03, warmup_steps=0, total_steps=5),
    LearningRatePlan("cosine", lr=0.01, peak_lr=0.03, warmup_steps=4, total_steps=5)],
    ids=["warmup-fills-the-run", "constant", "warmup", "onecycle", "cosine", "cosine-warmup"])
def test_the_keras_schedule_gives_the_plans_rate_at_every_step_and_after_the_run(plan):
    """A constant rate whose warmup fills the run divided 0 by 0 after its last step: its
    rate was NaN there, and bench --time-to-accuracy wrote "learning_rate": NaN."""
    schedule = PlannedSchedule(plan)
    steps = range(plan.total_steps + 3)
    rates = [float(schedule(tf.constant(step, tf.int64))) for step in steps]
    np.testing.assert_allclose(rates, [plan(step) for step in steps], rtol=1e-6, atol=1e-9)


def test_a_run_whose_warmup_fills_it_ends_at_the_peak_rate():
    """As trainer.learning_rate() in the other backends (and time-to-accuracy.json) says."""
    d2l.set_seed(0)
    model = d2l.AlexNet(lr=0.01, max_lr=0.02, warmup_epochs=1, resize=SMALL)
    trainer = d2l.Trainer(max_epochs=1, progress=False, log=None)
    trainer.fit(model, fashion(batch_size=8, limit_train=16, limit_val=8, resize=SMALL))
    assert trainer.lr_plan.warmup_steps == trainer.lr_plan.total_steps == 2
    assert trainer.learning_rate() == pytest.approx(0.02, rel=1e-6)


def test_bf16_computes_in_bfloat16_with_fp32_weights_and_logits(model, batch):
    trainer = make_trainer(model, precision="bf16")
    assert all(variable.dtype == "float32" for variable in model.weights)
    X = batch[0]
    for layer in model.net.layers[:-1]:
        X = layer(X, training=False)
        assert X.dtype == tf.bfloat16, layer.name
    assert model(batch[0], training=False).dtype == tf.float32
    assert np.isfinite(float(trainer.train_step(batch)))
    # Kept to this model: the global policy and a new model stay fp32.
    assert keras.config.dtype_policy().name == "float32"
    assert d2l.AlexNet(resize=SMALL)(batch[0]).dtype == tf.float32
    make_trainer(model, precision="fp32")  # the next fit's precision wins
    assert model.net.layers[0](batch[0]).dtype == tf.float32


class ComputeDtypes(Callback):
    """The first layer's compute dtype as each fit starts."""

    def __init__(self):
        self.seen = []

    def on_fit_start(self, trainer, state):
        self.seen.append(trainer.model.net.layers[0].compute_dtype)


class RefusingAtStart:
    def on_fit_start(self, trainer, state):
        raise ValueError("refused at the start")


def test_a_bf16_fit_refused_at_its_start_leaves_the_model_in_fp32():
    """A notebook cell run again into a used checkpoint folder is refused before a step: the
    layers had been left computing in bf16 (features 0.5% off)."""
    data = fashion(batch_size=8, limit_train=8, limit_val=8, resize=SMALL)
    model = d2l.AlexNet(resize=SMALL)
    trainer = d2l.Trainer(max_epochs=1, precision="bf16", progress=False, log=None,
                          callbacks=[RefusingAtStart()])
    with pytest.raises(ValueError, match="refused at the start"):
        trainer.fit(model, data)
    assert [layer.dtype_policy.name for layer in model.net.layers
            if layer.dtype_policy.name != "float32"] == []


def test_after_a_bf16_fit_predictions_and_features_are_fp32_and_bf16_trains_again(tmp_path):
    """After fit or evaluate in bf16, predict, probabilities and features compute in fp32, as
    in the other backends: those of a fresh fp32 model with the same weights (they kept
    computing in bf16: features 1e-4 off, probabilities up to 1e-3). A second bf16 fit
    computes in bf16 again, and a bf16 run resumed from its checkpoint ends exactly as the
    straight one."""
    from d2l_alexnet.core.checkpoint import Checkpointer, read_checkpoint

    data = fashion(batch_size=8, limit_train=8, limit_val=8, resize=SMALL)
    X = data.val_images

    def bf16_trainer(*callbacks):
        return d2l.Trainer(max_epochs=2, precision="bf16", progress=False, log=None,
                           callbacks=list(callbacks))

    d2l.set_seed(0)
    model = d2l.AlexNet(lr=0.1, resize=SMALL, momentum=0.9)
    dtypes = ComputeDtypes()
    bf16_trainer(dtypes).fit(model, data)
    model.save_weights(tmp_path / "trained.safetensors")
    fresh = d2l.AlexNet(resize=SMALL).load_weights(tmp_path / "trained.safetensors", log=None)
    assert all(layer.compute_dtype == "float32" for layer in model.net.layers)
    np.testing.assert_allclose(model.probabilities(X), fresh.probabilities(X), rtol=1e-6,
                               atol=1e-9)
    np.testing.assert_allclose(model.features(X), fresh.features(X), rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(model.predict(X), fresh.predict(X))
    bf16_trainer().evaluate(model, data)
    assert model.net.layers[0](d2l.resize_images(X[:1], (SMALL, SMALL))).dtype == tf.float32

    trainer = bf16_trainer(dtypes)  # a second bf16 fit, checkpointed, computes in bf16 again
    Checkpointer(tmp_path / "ckpt", log=None, keep=5).attach(trainer)
    trainer.fit(model, data)
    assert dtypes.seen == ["bfloat16", "bfloat16"]
    d2l.set_seed(1)
    resumed = d2l.AlexNet(lr=0.1, resize=SMALL, momentum=0.9)
    bf16_trainer().fit(resumed, data, resume=read_checkpoint(tmp_path / "ckpt" /
                                                             "checkpoint-1.ckpt"))
    for ours, theirs in zip(resumed.variables, model.variables, strict=True):
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy(), err_msg=ours.path)


def test_a_real_allocation_failure_is_called_out_of_memory():
    """4 EiB (2**31 × 2**31 bytes) is beyond any machine's address space, so the allocator
    refuses and nothing is touched; the message is the one the CLI turns into its one line.
    (TensorFlow's allocator waits 10 s for memory to be freed before it gives up.)"""
    with d2l.cpu(), pytest.raises(tf.errors.ResourceExhaustedError) as failure:
        tf.zeros((2**31, 2**31), tf.uint8)
    assert out_of_memory_message(failure.value, 128) == (
        "out of memory at batch size 128: use a smaller --batch-size (try 64)"), failure.value
    assert int(tf.reduce_sum(tf.ones(4))) == 4  # and the process carries on


@pytest.mark.skipif(bool(tf.config.list_physical_devices("GPU")), reason="a GPU is present")
def test_asking_for_a_missing_gpu_says_how_to_fix_it():
    with pytest.raises(DeviceError, match="GPU.*--device cpu"):
        d2l.Trainer(max_epochs=1, device="gpu").select_device("gpu")


def test_init_cnn_reinitializes_built_layers_and_refuses_unbuilt_ones(model):
    dense = model.net.layers[-1]
    dense.bias.assign(tf.ones(dense.bias.shape))
    before = dense.kernel.numpy()
    d2l.init_cnn(dense)
    assert not np.array_equal(dense.kernel.numpy(), before)
    assert not np.any(dense.bias.numpy())
    assert np.abs(dense.kernel.numpy()).max() <= np.sqrt(6 / sum(before.shape))
    with pytest.raises(ValueError, match="no weights yet"):
        d2l.init_cnn(keras.layers.Dense(3))


def test_importing_the_backend_and_looking_for_gpus_is_quiet():
    env = child_env()
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    code = "import d2l_alexnet.tensorflow as d2l; d2l.num_gpus()"
    result = subprocess.run([sys.executable, "-c", code], env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and result.stderr == ""


def test_tensorflows_own_warnings_still_reach_the_user_after_the_import():
    """Only the start-up lines and INFO are left out: a warning of TF's C++ runtime (a cached
    tf.data pipeline read in part) is still printed, as without the library (level 2 had hidden
    every warning for the rest of the process and its children)."""
    env = child_env()
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    code = ("import d2l_alexnet.tensorflow as d2l; tf = d2l.tf\n"
            "list(tf.data.Dataset.range(10).cache().take(2).as_numpy_iterator())")
    result = subprocess.run([sys.executable, "-c", code], env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "did not fully read the dataset being cached" in result.stderr


# A tiny fit and the Keras backend it ran on, printed by a child Python.
FIT_ON_KERAS_SETTINGS = """
import os
from d2l_alexnet import tensorflow as d2l
data = d2l.FashionMNIST(batch_size=8, resize=(67, 67), limit_train=8, limit_val=8, log=None)
d2l.Trainer(max_epochs=1, progress=False, log=None).fit(d2l.AlexNet(resize=67), data)
print(d2l.keras.config.backend(), os.environ.get("KERAS_BACKEND"))
"""


@pytest.mark.parametrize("setting", ["variable", "keras.json"])
def test_the_edition_runs_keras_on_tensorflow_whatever_keras_is_set_to(tmp_path, setting):
    """KERAS_BACKEND=jax, or keras.json naming JAX, once failed the first step deep inside JAX
    ("Cannot convert a symbolic tf.Tensor"); Keras imported first by the edition now runs on
    TensorFlow, and the variable is left as the user set it."""
    env = child_env(HOME=str(tmp_path))
    env.pop("KERAS_HOME", None)
    env.pop("KERAS_BACKEND", None)
    if setting == "variable":
        env["KERAS_BACKEND"] = "jax"
    else:
        (tmp_path / ".keras").mkdir()
        (tmp_path / ".keras" / "keras.json").write_text(json.dumps({"backend": "jax"}))
    result = subprocess.run([sys.executable, "-c", FIT_ON_KERAS_SETTINGS], env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    expected = "tensorflow jax" if setting == "variable" else "tensorflow None"
    assert result.stdout.strip().splitlines()[-1] == expected


def test_keras_imported_on_another_backend_first_is_refused_in_one_line(tmp_path):
    """Keras already running on JAX cannot be moved: a BackendError naming the fix in Python,
    one line and exit 2 from the command line, before any folder is made."""
    code = """
import sys, keras
from d2l_alexnet.backends import BackendError
try:
    import d2l_alexnet.tensorflow
except BackendError as error:
    print("refused:", error)
from d2l_alexnet.train import main
sys.exit(main(["--backend", "tensorflow", "--limit-train", "8", "--limit-val", "8",
               "--resize", "67", "--epochs", "1", "--batch-size", "8", "--out", "run"]))
"""
    result = subprocess.run([sys.executable, "-c", code], env=child_env(KERAS_BACKEND="jax"),
                            cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stderr
    assert "refused: Keras was imported on its jax backend" in result.stdout
    assert "restart Python" in result.stdout
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "KERAS_BACKEND=tensorflow" in errors[0]
    assert "Traceback" not in result.stderr and not (tmp_path / "run").exists()


class BookVGG(d2l.Classifier):
    """A lesson's model as the book writes VGG and its successors for TensorFlow: a
    keras.Sequential that says not its input shape (Keras makes its weights on the first call)."""

    def __init__(self, lr=0.1, num_classes=10):
        super().__init__()
        self.save_hyperparameters()
        self.net = keras.Sequential([
            keras.layers.Conv2D(4, kernel_size=3, padding="same", activation="relu"),
            keras.layers.MaxPool2D(pool_size=2, strides=2),
            keras.layers.Flatten(),
            keras.layers.Dense(num_classes)])


class ShuffledBookData(d2l.DataModule):
    """The book's TensorFlow data module: a new shuffled tf.data.Dataset from each call."""

    def __init__(self, batch_size=16):
        super().__init__()
        self.batch_size = batch_size
        rng = np.random.default_rng(0)
        self.images = rng.random((32, 20, 20, 3), dtype=np.float32)
        self.labels = (np.arange(32) % 10).astype(np.int32)

    def get_dataloader(self, train):
        data = tf.data.Dataset.from_tensor_slices((self.images, self.labels))
        return data.shuffle(32).batch(self.batch_size)


class FirstWeights(Callback):
    """The model's weights as fit starts, after the Trainer has prepared it."""

    def on_fit_start(self, trainer, state):
        self.weights = [variable.numpy() for variable in trainer.model.trainable_variables]


@pytest.mark.parametrize("data", ["FashionMNIST", "tf.data"])
def test_a_book_style_vgg_trains_with_fit_alone_as_if_called_on_a_batch_first(data):
    """The book's `trainer.fit(model, data)` on a model never called: fit makes its weights
    from the first training batch's shape, the same weights a call model(X) right before fit
    makes (Keras' initializers drew their seeds when the layers were made), and the run is that
    of the model built by hand, data order included (no extra shuffle drawn). Our weights
    files and predict's resizing are AlexNet's, refused in one line for it."""
    from d2l_alexnet.core.module import InputShapeError
    from d2l_alexnet.core.weights import WeightsError

    def run(built):
        module = fashion() if data == "FashionMNIST" else ShuffledBookData()
        d2l.set_seed(0)
        model = BookVGG()
        if built:  # on a batch of its images (another train_dataloader() would shuffle anew)
            images = module.train_images if data == "FashionMNIST" else module.images
            model(d2l.resize_images(images[:16], images.shape[1:3]))
        first = FirstWeights()
        history = d2l.Trainer(max_epochs=2, progress=False, log=None,
                              callbacks=[first]).fit(model, module)
        return model, first.weights, history

    lazy, lazy_start, lazy_history = run(built=False)
    built, built_start, built_history = run(built=True)
    assert len(lazy_start) == 4  # the kernels and biases of the convolution and dense layers
    for ours, theirs in zip(lazy_start, built_start, strict=True):
        np.testing.assert_array_equal(ours, theirs)
    for key in ("train_loss", "val_loss", "val_acc"):
        assert [record[key] for record in lazy_history] == [
            record[key] for record in built_history]
    for ours, theirs in zip(lazy.variables, built.variables, strict=True):
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    with pytest.raises(InputShapeError, match="BookVGG says not which it takes"):
        lazy.predict(np.zeros((4, 28, 28), np.uint8))
    with pytest.raises(WeightsError, match="BookVGG is not the chapter's AlexNet"):
        lazy.save_weights("unused.safetensors")


def test_evaluate_predict_and_features_build_a_lesson_model_never_called():
    """evaluate makes the weights as fit does (a fresh model's accuracy, as in every backend);
    predict and features on a tensor call the model, so Keras makes them; a model left half
    built by features has the rest made by fit."""
    data = fashion()
    d2l.set_seed(0)
    built = BookVGG()
    built(tf.zeros((1, 28, 28, 1)))
    expected = d2l.Trainer(max_epochs=1, progress=False, log=None).evaluate(built, data)
    d2l.set_seed(0)
    lazy = BookVGG()
    assert d2l.Trainer(max_epochs=1, progress=False, log=None).evaluate(lazy, data) == expected
    X = tf.random.uniform((2, 28, 28, 1))
    assert BookVGG().predict(X).shape == (2,)
    half = BookVGG()
    assert half.features(X).shape == (2, 784)  # every layer but the last made
    history = d2l.Trainer(max_epochs=1, progress=False, log=None).fit(half, data)
    assert np.isfinite(history[-1]["val_loss"]) and len(half.trainable_variables) == 4


def test_a_lesson_model_fit_cannot_build_is_refused_in_one_line():
    """Where building cannot work: no training batch to take a shape from, or a network with no
    weights even once called."""
    from d2l_alexnet.core.data import DataError

    class NoImages(ShuffledBookData):
        def get_dataloader(self, train):
            return []

    class Weightless(d2l.Classifier):
        def __init__(self, lr=0.1):
            super().__init__()
            self.net = keras.Sequential([keras.layers.Flatten()])

    trainer = d2l.Trainer(max_epochs=1, progress=False, log=None)
    with pytest.raises(DataError, match="BookVGG has no weights yet .* model\\(X\\)") as error:
        trainer.fit(BookVGG(), NoImages())
    assert "\n" not in str(error.value)
    with pytest.raises(ValueError, match="Weightless has no weights to train") as error:
        trainer.fit(Weightless(), fashion())
    assert "\n" not in str(error.value)


def fashion(batch_size=16, limit_train=32, limit_val=16, resize=28):
    return d2l.FashionMNIST(batch_size=batch_size, resize=(resize, resize),
                            limit_train=limit_train, limit_val=limit_val, log=None)


class MLPScratch(d2l.Classifier):
    """The book's from-scratch MLP (sec_mlp-implementation): tf.Variables and a forward."""

    def __init__(self, num_inputs=784, num_outputs=10, num_hiddens=16, lr=0.1, sigma=0.01):
        super().__init__()
        self.save_hyperparameters()
        self.W1 = tf.Variable(tf.random.normal((num_inputs, num_hiddens)) * sigma)
        self.b1 = tf.Variable(tf.zeros(num_hiddens))
        self.W2 = tf.Variable(tf.random.normal((num_hiddens, num_outputs)) * sigma)
        self.b2 = tf.Variable(tf.zeros(num_outputs))

    def forward(self, X):
        H = tf.nn.relu(tf.matmul(tf.reshape(X, (-1, self.num_inputs)), self.W1) + self.b1)
        return tf.matmul(H, self.W2) + self.b2


def test_a_lesson_models_forward_is_what_fit_evaluate_and_predict_run():
    """As in the book's TensorFlow Module, a call goes through forward: a subclass's forward
    that zeroes the logits is what training, evaluation and prediction see (a loss of ln 10),
    and a from-scratch model with no self.net trains its own tf.Variables."""
    class ZeroedNet(d2l.Classifier):
        def __init__(self, lr=0.1, num_classes=10):
            super().__init__()
            self.save_hyperparameters()
            self.net = keras.Sequential([keras.layers.Flatten(), keras.layers.Dense(num_classes)])

        def forward(self, X):
            return self.net(X) * 0.0

    data = fashion()
    zeroed = ZeroedNet()
    zeroed(tf.zeros((1, 28, 28, 1)))
    trainer = d2l.Trainer(max_epochs=1, progress=False, log=None)
    assert trainer.fit(zeroed, data)[-1]["val_loss"] == pytest.approx(np.log(10), abs=1e-6)
    assert trainer.evaluate(zeroed, data)["val_loss"] == pytest.approx(np.log(10), abs=1e-6)
    X = tf.constant(data.val_images[:4, ..., None] / 255, tf.float32)
    np.testing.assert_allclose(zeroed.probabilities(X), 0.1, rtol=1e-6)

    d2l.set_seed(0)
    scratch = MLPScratch()
    assert len(scratch.trainable_variables) == 4  # Keras 3 alone tracks none of them
    start = scratch.W1.numpy()
    history = d2l.Trainer(max_epochs=1, progress=False, log=None).fit(scratch, data)
    assert np.isfinite(history[-1]["val_loss"]) and not np.array_equal(scratch.W1.numpy(), start)
    assert scratch.predict(X).shape == (4,)
    for refused in (lambda: scratch.features(X), lambda: scratch.layer_summary((1, 28, 28, 1)),
                    lambda: make_trainer(scratch, precision="bf16")):
        with pytest.raises(TypeError, match="MLPScratch has none .* forward") as error:
            refused()
        assert "\n" not in str(error.value)


def vgg_with_nested_dropout(seed, built=True):
    """A book-style VGG block (Conv, BatchNormalization, ReLU, MaxPool) and a Dropout inside a
    nested keras.Sequential, built unless ``built=False`` (fit then makes its weights): moving
    statistics and a seed generator in nested blocks."""
    d2l.set_seed(seed)
    block = keras.Sequential([keras.layers.Conv2D(4, 3, padding="same"),
                              keras.layers.BatchNormalization(), keras.layers.Activation("relu"),
                              keras.layers.MaxPool2D(pool_size=2, strides=2)])
    head = keras.Sequential([keras.layers.Dense(16, activation="relu"),
                             keras.layers.Dropout(0.5)])

    class VGG(d2l.Classifier):
        def __init__(self, lr=0.1):
            super().__init__()
            self.save_hyperparameters()
            self.net = keras.Sequential([block, keras.layers.Flatten(), head,
                                         keras.layers.Dense(10)])

    model = VGG()
    if built:
        model(tf.zeros((1, 28, 28, 1)))
    return model


@pytest.mark.parametrize("built", [True, False])
def test_a_resumed_lesson_model_with_batch_norm_and_nested_dropout_ends_exactly(tmp_path, built):
    """Built by hand or by fit from the first batch (its first run and its resumed one alike),
    the resumed run ends as the uninterrupted one."""
    from d2l_alexnet.core.checkpoint import Checkpointer, read_checkpoint

    data = fashion(limit_train=48)
    straight = vgg_with_nested_dropout(seed=0, built=built)
    trainer = d2l.Trainer(max_epochs=2, progress=False, log=None)
    Checkpointer(tmp_path, log=None, keep=5).attach(trainer)
    expected = trainer.fit(straight, data)
    checkpoint = read_checkpoint(tmp_path / "checkpoint-3.ckpt")  # the end of epoch 1
    assert {"state.00.moving_mean", "state.01.moving_variance", "rng.dropout.0"} <= set(
        checkpoint.arrays)
    resumed = vgg_with_nested_dropout(seed=1, built=built)  # other weights and seeds: restored
    history = d2l.Trainer(max_epochs=2, progress=False, log=None).fit(resumed, data,
                                                                      resume=checkpoint)
    for key in ("train_loss", "val_loss", "val_acc"):
        assert [record[key] for record in history] == [record[key] for record in expected]
    for ours, theirs in zip(resumed.variables, straight.variables, strict=True):
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy(), err_msg=ours.path)


def test_alexnets_checkpoint_arrays_keep_their_names(model, batch):
    """Checkpoints written before nested blocks were walked still resume: AlexNet's arrays are
    named as they were (its dropouts' seed states rng.dropout.0 and 1, nothing else added)."""
    trainer = make_trainer(model)
    trainer.train_step(batch)
    names = sorted(trainer.state_arrays())
    assert names == sorted([f"params.{index:02d}.{kind}" for index, kind in
                            enumerate(["kernel", "bias"] * 8)]
                           + ["optimizer.00.iteration", "rng.dropout.0", "rng.dropout.1"])


def test_bf16_reaches_the_layers_of_a_nested_block():
    model = vgg_with_nested_dropout(seed=0)
    X = tf.random.uniform((2, 28, 28, 1))
    make_trainer(model, precision="bf16")
    conv = model.net.layers[0].layers[0]
    assert conv.compute_dtype == "bfloat16" and conv(X).dtype == tf.bfloat16
    assert model.net.layers[2].layers[0].compute_dtype == "bfloat16"  # the nested dense
    assert model(X, training=False).dtype == tf.float32  # the output layer's logits
    assert all(variable.dtype == "float32" for variable in model.weights)
    make_trainer(model, precision="fp32")
    assert conv(X).dtype == tf.float32


LESSON_ON_REPLICAS = """
import json, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import d2l_alexnet.core.trainer
from d2l_alexnet import tensorflow as d2l
keras = d2l.keras

class LeNet(d2l.Classifier):  # the book's, in brief
    def __init__(self, lr=0.1, num_classes=10, hidden=()):
        super().__init__()
        self.save_hyperparameters()
        self.net = keras.Sequential(
            [keras.layers.Conv2D(6, kernel_size=5, activation="sigmoid", padding="same"),
             keras.layers.AvgPool2D(pool_size=2, strides=2), keras.layers.Flatten()]
            + [keras.layers.Dense(units, activation="sigmoid") for units in hidden]
            + [keras.layers.Dense(num_classes)])

data = d2l.FashionMNIST(batch_size=16, limit_train=32, limit_val=16, log=None)
histories = []
for replicas, hidden in ((1, ()), (2, ()), (2, (12,))):  # the last: another size, same devices
    d2l.set_seed(0)
    model = LeNet(hidden=hidden)
    if replicas == 1:  # on two, fit makes the weights before it mirrors them
        model(tf.zeros((1, 28, 28, 1)))
    trainer = d2l.Trainer(max_epochs=2, num_gpus=replicas, device="cpu", progress=False,
                          log=None)
    histories.append([[record[key] for key in ("train_loss", "val_loss")]
                      for record in trainer.fit(model, data)])
    assert type(model.net.layers[-1]).__name__ == "Dense", model.net.layers

class Scratch(d2l.Classifier):  # no self.net to mirror
    def __init__(self, lr=0.1):
        super().__init__()
        self.W = tf.Variable(tf.zeros((784, 10)))

    def forward(self, X):
        return tf.matmul(tf.reshape(X, (-1, 784)), self.W)

try:
    d2l.Trainer(max_epochs=1, num_gpus=2, device="cpu", progress=False, log=None).fit(
        Scratch(), data)
    refusal = None
except TypeError as error:
    refusal = str(error)

class Inception(keras.Model):  # the book's GoogLeNet block: arguments, and no get_config
    def __init__(self, c1, c2):
        super().__init__()
        self.b1 = keras.layers.Conv2D(c1, 1, activation="relu")
        self.b2 = keras.layers.Conv2D(c2[0], 1, activation="relu")

    def call(self, X):
        return keras.layers.Concatenate()([self.b1(X), self.b2(X)])

class GoogLeNet(d2l.Classifier):
    def __init__(self, lr=0.1):
        super().__init__()
        self.net = keras.Sequential([Inception(4, (4,)), keras.layers.Flatten(),
                                     keras.layers.Dense(10)])

try:
    d2l.Trainer(max_epochs=1, num_gpus=2, device="cpu", progress=False, log=None).fit(
        GoogLeNet(), data)
    unclonable = None
except d2l_alexnet.core.trainer.ReplicaError as error:
    unclonable = str(error)
print(json.dumps(histories + [refusal, unclonable]))
"""


def test_a_lesson_model_trains_on_two_replicas_as_on_one_device():
    """Several replicas mirror the lesson model's own network (not AlexNet's): the book's
    LeNet on two CPU replicas, its weights made by fit from the first batch, follows one
    device's losses (from the weights a call before fit makes); a second model of another size
    trains in the same process (one strategy per set of devices); a model with no self.net to
    mirror, or with a layer Keras cannot clone, is refused in one line."""
    result = subprocess.run([sys.executable, "-c", LESSON_ON_REPLICAS], env=child_env(),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    one, two, other, refusal, unclonable = json.loads(result.stdout.splitlines()[-1])
    np.testing.assert_allclose(two, one, rtol=1e-5)
    assert np.isfinite(other).all()
    assert "2 replicas" in refusal and "train it on one device" in refusal, refusal
    # A layer that cannot be cloned (the book's Inception) is named: Keras' message began
    # with a blank line, and the refusal showed "failed ()".
    assert ("which failed (Object Inception was created by passing non-serializable argument "
            "values in `__init__()`, and therefore the object must override `get_config()`"
            in unclonable and "\n" not in unclonable), unclonable


def test_a_model_compiled_for_keras_fit_is_refused_in_one_line(batch):
    model = d2l.AlexNet(resize=SMALL)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    data = fashion(batch_size=8, limit_train=8, limit_val=8, resize=SMALL)
    with pytest.raises(TypeError) as error:
        d2l.Trainer(max_epochs=1, progress=False, log=None).fit(model, data)
    message = str(error.value)
    assert "compile()" in message and "del model.loss" in message and "\n" not in message
    del model.loss  # the fix it names: the model's own loss method again
    assert np.isfinite(d2l.Trainer(max_epochs=1, progress=False, log=None).fit(
        model, data)[-1]["val_loss"])


SHORT_BATCHES_ON_REPLICAS = """
import json
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from d2l_alexnet import tensorflow as d2l
keras = d2l.keras

class BNLeNet(d2l.Classifier):  # the book's LeNet with Keras' BatchNormalization, in brief
    def __init__(self, lr=0.1, num_classes=10):
        super().__init__()
        self.save_hyperparameters()
        self.net = keras.Sequential([
            keras.layers.Conv2D(6, kernel_size=5), keras.layers.BatchNormalization(),
            keras.layers.Activation("sigmoid"), keras.layers.AvgPool2D(pool_size=2, strides=2),
            keras.layers.Flatten(), keras.layers.Dense(num_classes)])

def run(make_model, replicas, epochs=1, **sizes):
    d2l.set_seed(0)
    model = make_model()
    data = d2l.FashionMNIST(log=None, **sizes)
    history = d2l.Trainer(max_epochs=epochs, num_gpus=replicas, device="cpu", progress=False,
                          log=None).fit(model, data)
    moving = [variable.numpy().tolist() for variable in model.non_trainable_variables
              if "moving" in variable.path]
    return [[record[key] for key in ("train_loss", "val_loss", "val_acc")]
            for record in history], moving

def alexnet():
    return d2l.AlexNet(lr=0.05, momentum=0.9, dropout=0, resize=67)

lasts = dict(batch_size=8, resize=(67, 67), limit_train=9, limit_val=9)
ones = dict(batch_size=1, resize=(28, 28), limit_train=3, limit_val=2)
print(json.dumps([[run(alexnet, replicas, epochs=2, **lasts)[0] for replicas in (1, 2)],
                  [run(BNLeNet, replicas, **ones) for replicas in (1, 2)]]))
"""


def test_a_batch_smaller_than_the_replicas_trains_and_evaluates_as_on_one_device():
    """A batch with fewer images than replicas (an epoch's last, of 1 image on 2, or every
    batch of 1) gave a replica an empty slice, and the step stopped with 'input depth must
    be evenly divisible by filter depth: 1 vs 96'. Every replica now takes such a batch, the
    first weighing 1 and the others 0: AlexNet's losses follow one device's, and so do
    BatchNormalization's moving statistics."""
    result = subprocess.run([sys.executable, "-c", SHORT_BATCHES_ON_REPLICAS], env=child_env(),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    (one, two), ((bn_one, moving_one), (bn_two, moving_two)) = json.loads(
        result.stdout.splitlines()[-1])
    np.testing.assert_allclose(two, one, rtol=1e-5)
    np.testing.assert_allclose(bn_two, bn_one, rtol=1e-5)
    assert len(moving_one) == 2
    for ours, theirs in zip(moving_two, moving_one, strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-7)


def test_too_few_cpu_devices_are_refused_with_a_fix_for_python_and_one_for_the_command_line():
    """Two replicas on a CPU that is not split into logical devices: a Python caller is told to
    split it, and the command line, where that cannot be done ('before any op'), was told the
    same; it now names what works there, a GPU per replica or a TF_CONFIG cluster."""
    trainer = d2l.Trainer(max_epochs=1, num_gpus=2, device="cpu", progress=False, log=None)
    with pytest.raises(ReplicaError) as refusal:
        trainer.fit(d2l.AlexNet(resize=SMALL), fashion(batch_size=8, limit_train=8,
                                                        limit_val=8, resize=SMALL))
    in_python, on_the_command_line = str(refusal.value), refusal.value.for_command_line()
    assert in_python.startswith("2 replicas need 2 CPU devices but TensorFlow sees 1: ")
    assert "tf.config.set_logical_device_configuration before any op" in in_python
    assert on_the_command_line.startswith("2 replicas need 2 CPU devices but TensorFlow sees 1")
    assert "--device gpu" in on_the_command_line and "TF_CONFIG" in on_the_command_line
    assert "tf.config" not in on_the_command_line
    assert "\n" not in in_python + on_the_command_line


def test_a_trained_model_copies_and_pickles_as_itself_and_says_its_arguments():
    """Keras pickles a model by its config through Keras' registry of classes: copy.copy,
    copy.deepcopy and pickle of an AlexNet raised "Could not locate class 'AlexNet'", and
    get_config gave the defaults (lr 0.1, resize 224) rather than the arguments given. A copy
    is the model made again from its arguments, with every variable's value (dropout seeds too),
    and left Python's RNG, which Keras' initializers draw from, as it was."""
    import copy
    import pickle
    import random

    d2l.set_seed(0)
    data = d2l.FashionMNIST(batch_size=8, resize=SMALL, limit_train=8, limit_val=8, log=None)
    model = d2l.AlexNet(lr=0.01, resize=SMALL)
    d2l.Trainer(max_epochs=1, progress=False, log=None).fit(model, data)
    model.lr = 0.05  # set after it was built, as the book's configure_optimizers reads it
    X = data.val_images[:4]
    expected = model.probabilities(X)
    assert model.get_config()["lr"] == 0.01 and model.get_config()["resize"] == SMALL
    assert type(d2l.AlexNet.from_config(model.get_config())) is d2l.AlexNet
    python_rng = random.getstate()
    for made in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        assert random.getstate() == python_rng
        assert type(made) is d2l.AlexNet and made.hparams == model.hparams and made.lr == 0.05
        assert all(np.array_equal(mine, theirs) for mine, theirs
                   in zip(model.variables, made.variables, strict=True))
        np.testing.assert_array_equal(made.probabilities(X), expected)
        made.net.layers[0].kernel.assign(tf.zeros_like(made.net.layers[0].kernel))
        np.testing.assert_array_equal(model.probabilities(X), expected)  # independent
    shallow = copy.copy(model)
    assert type(shallow) is d2l.AlexNet and shallow.net is model.net  # as PyTorch's copy.copy
    np.testing.assert_array_equal(shallow.probabilities(X), expected)


def test_a_lesson_model_keeping_no_arguments_of_its_own_is_refused_a_copy_in_one_line():
    import copy

    class Slim(d2l.Classifier):
        def __init__(self, width):  # no save_hyperparameters(): width is not kept
            super().__init__()
            self.net = keras.Sequential([keras.layers.Flatten(), keras.layers.Dense(width)])

    with pytest.raises(TypeError) as error:
        copy.deepcopy(Slim(4))
    message = str(error.value)
    assert message.startswith("Slim cannot be copied or pickled: it is made again from the "
                              "arguments its save_hyperparameters() kept")
    assert "self.save_hyperparameters() in its __init__" in message and "\n" not in message


def test_our_weights_options_with_a_keras_weights_h5_path_are_refused_in_one_line(model,
                                                                                   tmp_path):
    """Keras' own format has nowhere for them: skip_head= was ignored (the head overwritten),
    classes= dropped without a word."""
    path = tmp_path / "a.weights.h5"
    with pytest.raises(TypeError) as error:
        model.save_weights(path, classes=["a", "b"])
    assert str(error.value).endswith("got classes=: a Keras .weights.h5 file takes only Keras' "
                                     "options; ours are for a .safetensors path, as in every "
                                     "backend")
    assert not path.exists()
    model(np.zeros((1, SMALL, SMALL, 1), np.float32))
    model.save_weights(path)  # Keras' own format, with Keras' options, still
    with pytest.raises(TypeError) as error:
        d2l.AlexNet(resize=SMALL).load_weights(path, skip_head=True, log=None)
    assert "got skip_head=, log=: a Keras .weights.h5" in str(error.value)


def test_a_fully_frozen_model_is_told_its_weights_are_frozen_not_missing(model):
    """fit said "no weights to train ... give it layers with weights" to a model whose 21.6M
    weights were frozen with trainable=False."""
    model.trainable = False
    data = d2l.FashionMNIST(batch_size=8, resize=(SMALL, SMALL), limit_train=16, limit_val=8,
                            log=None)
    with pytest.raises(ValueError) as error:
        d2l.Trainer(max_epochs=1, progress=False, log=None).fit(model, data)
    assert str(error.value).startswith("AlexNet's ")
    assert str(error.value).endswith(" weights are all frozen (trainable=False), so fit has none "
                                     "to train: set model.trainable = True, or unfreeze the "
                                     "layers to fine-tune")
