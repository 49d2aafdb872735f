"""What only the JAX/Flax backend has to get right: dropout keys in a functional train state,
determinism from ``set_seed``, compile-once steps, bf16, the resize convention, current APIs."""

import math
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

pytest.importorskip("flax")
pytest.importorskip("optax")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from d2l_alexnet import jax as d2l  # noqa: E402
from d2l_alexnet.cli import out_of_memory_message  # noqa: E402
from d2l_alexnet.core.errors import DeviceError  # noqa: E402
from repository import child_env  # noqa: E402

SMALL = 67  # the smallest input AlexNet accepts: keeps compiling and stepping fast


def small_data():
    return d2l.FashionMNIST(batch_size=8, resize=(SMALL, SMALL), limit_train=12, limit_val=8,
                            log=None)


@pytest.fixture(scope="module")
def data():
    return small_data()


@pytest.fixture(autouse=True)
def default_seed():
    yield
    d2l.set_seed(0)  # the seed is module state: leave it as the next test expects


def prepared_trainer(data, model=None, seed=0, **kwargs):
    """A Trainer set up the way ``fit`` sets it up, plus the first 8 training images as a batch."""
    d2l.set_seed(seed)
    model = model if model is not None else d2l.AlexNet(lr=0.01, resize=SMALL)
    trainer = d2l.Trainer(max_epochs=1, progress=False, log=None, **kwargs).setup(model, data)
    return trainer, trainer.prepare_batch(data.train_images[:8], data.train_labels[:8])


def test_each_training_step_draws_a_new_dropout_mask(data):
    """The same parameters stepped as step 0 and as step 1: only the mask, a function of the
    step, can make the two losses differ."""
    trainer, batch = prepared_trainer(data)
    start = jax.tree.map(jnp.copy, trainer.state)  # a step donates (consumes) the state it gets
    eval_loss = float(trainer.eval_step(batch)[0]) / 8
    first = float(trainer.train_step(batch))
    assert int(trainer.state.step) == 1
    trainer.state = start.replace(step=start.step + 1)
    second = float(trainer.train_step(batch))
    assert first != second, "the same dropout mask was used twice"
    assert eval_loss not in (first, second), "dropout is not active in training steps"


def test_evaluation_is_deterministic(data):
    trainer, batch = prepared_trainer(data)
    first, second = trainer.eval_step(batch), trainer.eval_step(batch)
    assert [float(value) for value in first] == [float(value) for value in second]


def test_same_seed_same_first_step_loss(data):
    def first_loss(seed):
        trainer, batch = prepared_trainer(data, seed=seed)
        return float(trainer.train_step(batch))

    losses = [first_loss(seed) for seed in (1, 1, 2)]
    assert losses[0] == losses[1]
    assert losses[0] != losses[2]


def test_the_model_carries_its_parameters_from_the_seed_it_was_made_with(data):
    d2l.set_seed(5)
    model = d2l.AlexNet(lr=0.01, resize=SMALL)
    trainer, _ = prepared_trainer(data, model, seed=6)  # a later seed moves only dropout keys
    start = trainer.state.params["net"]
    for name, array in d2l.parameter_arrays(model):
        _, layer, kind = name.split(".")
        np.testing.assert_array_equal(array, d2l.to_numpy(start[layer][kind]), err_msg=name)
    fresh = dict(d2l.parameter_arrays(model, seed=5))
    assert all(np.array_equal(fresh[name], array) for name, array in d2l.parameter_arrays(model))
    assert not np.array_equal(dict(d2l.parameter_arrays(model, seed=6))["net.layers_0.kernel"],
                              fresh["net.layers_0.kernel"])


def check_padded_step_is_the_short_steps(trainer, data):
    """5 real images padded to 8 (zeros, masked out) against the same 5 at their own shape,
    from the same state and step (so the same dropout key): the loss, the evaluation sums and
    the parameter update agree; the padded batch is what fit steps on. Returns it."""
    images, labels = data.train_images[:5], data.train_labels[:5]
    alone = trainer.prepare_batch(images, labels)
    padded = trainer.batch_preparer(train=True)(images, labels)
    assert padded[0].shape[0] == 8 and d2l.to_numpy(padded[2]).tolist() == [True] * 5 + [False] * 3
    start = jax.tree.map(jnp.copy, trainer.state)
    results = []
    for batch in (alone, padded):
        trainer.state = jax.tree.map(jnp.copy, start)  # a step donates the state it gets
        sums = [float(value) for value in trainer.eval_step(batch)]
        loss = float(trainer.train_step(batch))
        results.append((loss, sums, jax.tree.map(d2l.to_numpy, trainer.state.params)))
    (loss, sums, params), (padded_loss, padded_sums, padded_params) = results
    assert padded_loss == pytest.approx(loss, rel=1e-5)
    assert padded_sums == pytest.approx(sums, rel=1e-5) and 0 <= sums[1] <= 5
    first = jax.tree.map(d2l.to_numpy, start.params)
    for before, after, padded_after in zip(*(jax.tree.leaves(tree) for tree in
                                             (first, params, padded_params))):
        update, padded_update = after - before, padded_after - before
        assert np.abs(update).max() > 0
        # Relative to the largest update, as the parity test compares steps: on a mesh the
        # sums run in another order.
        np.testing.assert_allclose(padded_update, update, rtol=0,
                                   atol=1e-3 * np.abs(update).max())
    return padded


def test_a_padded_short_batch_steps_as_the_short_batch_alone(data):
    check_padded_step_is_the_short_steps(prepared_trainer(data)[0], data)


def test_a_padded_short_batch_splits_over_two_replicas():
    """The same check on a mesh of two CPU devices (a process of its own: XLA_FLAGS must come
    before JAX starts), where the padded batch is split between the replicas and the short
    one, 5 images, runs replicated; and where data_on_device=True is refused in one line."""
    # This folder for test_jax, the one above for the repository module test_jax imports.
    here = os.path.dirname(os.path.abspath(__file__))
    folders = [here, os.path.dirname(here)]
    script = f"""
import os, sys
os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
sys.path[:0] = {folders!r}
import test_jax
data = test_jax.small_data()
trainer, _ = test_jax.prepared_trainer(data, num_gpus=2, device="cpu")
padded = test_jax.check_padded_step_is_the_short_steps(trainer, data)
print("padding mask shards:", *(shard.data.shape for shard in padded[2].addressable_shards))
from d2l_alexnet.core.trainer import DataOnDeviceError
try:
    test_jax.prepared_trainer(data, num_gpus=2, device="cpu", data_on_device=True)
except DataOnDeviceError as error:
    print("refused:", error)
"""
    env = child_env()
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            env=env, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert "padding mask shards: (4,) (4,)" in result.stdout, result.stdout
    assert ("refused: data_on_device=True is for one device, and JAX trains on 2 replicas "
            "here, whose batches are split from the host: leave it unset or off"
            in result.stdout), result.stdout


def test_a_fit_compiles_each_step_once(data):
    """12 training and 12 validation images at batch 8: both splits end in a batch of 4, which
    is padded to 8, so neither step is traced for a second shape. (The jitted Python runs only
    while JAX traces it; the subclass is a configuration of its own, compiled afresh.)"""
    traces = []

    class CountingAlexNet(d2l.AlexNet):
        @d2l.nn.nowrap
        def training_step(self, *args, **kwargs):
            traces.append("train")
            return super().training_step(*args, **kwargs)

        @d2l.nn.nowrap
        def logits(self, params, X, dropout_key=None, dtype=None):
            if dropout_key is None:
                traces.append("eval")
            return super().logits(params, X, dropout_key, dtype)

    short = d2l.FashionMNIST(batch_size=8, resize=(SMALL, SMALL), limit_train=12, limit_val=12,
                             log=None)
    assert short.num_batches(train=True) == short.num_batches(train=False) == 2
    model = CountingAlexNet(lr=0.01, resize=SMALL)
    d2l.Trainer(max_epochs=2, progress=False, log=None).fit(model, short)
    assert sorted(traces) == ["eval", "train"]

    images = d2l.to_numpy(d2l.resize_images(short.train_images, (SMALL, SMALL)))

    class BookStyle:  # a book-style module: its loaders' batches are padded to their first's
        def train_dataloader(self):
            labels = short.train_labels
            return [(images[:8], labels[:8]), (images[8:], labels[8:])]

        val_dataloader = train_dataloader

    d2l.Trainer(max_epochs=1, progress=False, log=None).fit(model, BookStyle())
    assert sorted(traces) == ["eval", "train"]
    # Batches gathered on the device are padded alike, with the same shapes and types.
    d2l.Trainer(max_epochs=1, progress=False, log=None, data_on_device=True).fit(model, short)
    assert sorted(traces) == ["eval", "train"]


def test_bf16_computes_in_bf16_with_fp32_master_parameters(data):
    full, batch = prepared_trainer(data)
    mixed, _ = prepared_trainer(data, precision="bf16")
    full_loss, mixed_loss = float(full.train_step(batch)), float(mixed.train_step(batch))
    assert math.isfinite(mixed_loss)
    assert mixed_loss != full_loss, "bf16 gave the fp32 result: nothing was cast"
    assert mixed_loss == pytest.approx(full_loss, abs=0.05)
    assert {leaf.dtype for leaf in jax.tree.leaves(mixed.state.params)} == {np.dtype("float32")}


def test_a_real_allocation_failure_is_called_out_of_memory():
    """4 EiB is beyond any machine's address space, so XLA refuses at once and nothing is
    touched; the message is the one the CLI turns into its one line."""
    with pytest.raises(RuntimeError) as failure:
        jnp.zeros(2**62, jnp.uint8).block_until_ready()
    assert out_of_memory_message(failure.value, 128) == (
        "out of memory at batch size 128: use a smaller --batch-size (try 64)"), failure.value
    assert int(jnp.ones(4).sum()) == 4  # and the process carries on


def test_gpu_request_without_a_gpu_says_how_to_fix_it():
    if d2l.num_gpus():
        pytest.skip("this machine has a GPU")
    with pytest.raises(DeviceError, match="GPU") as error:
        d2l.Trainer(max_epochs=1, device="gpu").select_device("gpu")
    assert "--device cpu" in str(error.value)


def test_model_and_data_sizes_must_agree(data):
    trainer = d2l.Trainer(max_epochs=1, progress=False, log=None)
    with pytest.raises(ValueError, match="pass the same resize to both"):
        trainer.fit(d2l.AlexNet(lr=0.01, resize=224), data)


def torch_bilinear_matrix(size_in, size_out):
    """Weights of ``F.interpolate(mode='bilinear', align_corners=False)`` along one axis: source
    = (target + 0.5) · in/out − 0.5, clamped at 0; the right neighbour clamped at the edge."""
    source = np.maximum((np.arange(size_out) + 0.5) * size_in / size_out - 0.5, 0.0)
    left = np.floor(source).astype(int)
    right = np.minimum(left + 1, size_in - 1)
    weights = np.zeros((size_out, size_in))
    weights[np.arange(size_out), left] += 1 - (source - left)
    weights[np.arange(size_out), right] += source - left
    return weights


def test_resize_is_torch_bilinear_by_hand():
    # One row [0, 255] widened to 4: sources -0.25 (clamped to 0), 0.25, 0.75, 1.25 (right edge).
    widened = d2l.to_numpy(d2l.resize_images(np.array([[[0, 255]]], np.uint8), (1, 4)))
    assert widened.shape == (1, 1, 4, 1) and widened.dtype == np.float32
    np.testing.assert_allclose(widened.ravel(), [0.0, 0.25, 0.75, 1.0], atol=1e-6)

    images = np.random.default_rng(0).integers(0, 256, (2, 28, 28), dtype=np.uint8)
    for size in (SMALL, 224, 20):  # up, up, and down (no antialiasing either way)
        expected = np.einsum("hi,bij,wj->bhw", torch_bilinear_matrix(28, size),
                             images / 255.0, torch_bilinear_matrix(28, size))
        resized = d2l.to_numpy(d2l.resize_images(images, (size, size)))
        assert resized.shape == (2, size, size, 1)
        np.testing.assert_allclose(resized[..., 0], expected, atol=1e-5, err_msg=str(size))


def test_training_uses_no_deprecated_api(data):
    """A whole fit (init, compile, steps, evaluation) with deprecation warnings as errors. The
    configuration (lr 0.05, gradient clipping) is used nowhere else, so it is traced afresh."""
    model = d2l.AlexNet(lr=0.05, resize=SMALL)
    with warnings.catch_warnings():
        for category in (DeprecationWarning, PendingDeprecationWarning, FutureWarning):
            warnings.simplefilter("error", category)
        model.layer_summary(d2l.example_input_shape(SMALL))
        history = d2l.Trainer(max_epochs=1, gradient_clip_val=1.0, progress=False,
                              log=None).fit(model, data)
    assert math.isfinite(history[0]["train_loss"])


def test_trainer_starts_from_loaded_weights_and_leaves_them_usable(data, tmp_path):
    model = d2l.AlexNet(lr=0.01, resize=SMALL)
    params = d2l.init_params(model, seed=9)
    model.save_weights(tmp_path / "weights.safetensors", params=params)
    assert model.load_weights(tmp_path / "weights.safetensors") is model
    loaded = model.params
    trainer, _ = prepared_trainer(data, model, seed=0)
    for name, array in d2l.parameter_arrays(model, seed=9):
        _, layer, kind = name.split(".")
        np.testing.assert_array_equal(d2l.to_numpy(trainer.state.params["net"][layer][kind]),
                                      array, err_msg=name)
    trainer.train_step(trainer.prepare_batch(data.train_images[:8], data.train_labels[:8]))
    assert not jax.tree.leaves(loaded)[0].is_deleted(), "the donated step consumed the model's"
    # Data of seven classes, so that the labels fit the model and the parameters are what is
    # refused.
    seven = d2l.ArrayData(train=(data.train_images[:8], data.train_labels[:8] % 7),
                          val=(data.val_images[:8], data.val_labels[:8] % 7), batch_size=8,
                          resize=SMALL)
    with pytest.raises(ValueError, match=r"do not fit this AlexNet .*: net.layers_20.bias is "
                                         r"\(10,\), the model's is \(7,\)"):
        prepared_trainer(seven, d2l.AlexNet(lr=0.01, resize=SMALL, num_classes=7),
                         init_params=loaded)


def test_fit_hands_the_trained_parameters_to_the_model(data):
    model = d2l.AlexNet(lr=0.05, resize=SMALL)
    before = d2l.to_numpy(model.params["net"]["layers_0"]["kernel"])
    trainer = d2l.Trainer(max_epochs=1, progress=False, log=None)
    trainer.fit(model, data)
    after = model.params["net"]["layers_0"]["kernel"]
    np.testing.assert_array_equal(d2l.to_numpy(after),
                                  d2l.to_numpy(trainer.state.params["net"]["layers_0"]["kernel"]))
    assert not np.array_equal(before, d2l.to_numpy(after))


def test_applying_without_a_dropout_key_is_evaluation():
    model = d2l.AlexNet(resize=SMALL)
    X = jax.numpy.ones((2, SMALL, SMALL, 1))
    first = model.apply({"params": model.params}, X)
    np.testing.assert_array_equal(first, model.apply({"params": model.params}, X))
    dropped = model.apply({"params": model.params}, X, rngs={"dropout": jax.random.key(1)})
    assert not np.array_equal(first, dropped)
    with pytest.raises(Exception, match="dropout"):  # dropout forced on needs its key
        d2l.AlexNet(resize=SMALL, training=True).apply({"params": model.params}, X)


def test_the_books_jax_trainer_fails_upstream():
    """What the README says of the book's JAX Trainer, checked: on current JAX it stops at
    ``jax.random.PRNGKeyArray`` (removed from JAX), whatever model it is given."""
    pytest.importorskip("d2l")
    script = """
import sys, types
sys.modules["tensorflow_datasets"] = types.ModuleType("tensorflow_datasets")
from d2l import jax as book
import numpy as np
from d2l_alexnet import jax as ours

class WithInit(ours.AlexNet):
    @ours.nn.nowrap
    def apply_init(self, dummy_input, key):
        return self.init(key, *dummy_input)

class Data(book.DataModule):
    batch_size = 8
    def get_dataloader(self, train):
        X = np.zeros((8, 67, 67, 1), np.float32)
        return [(X, np.zeros(8, np.int32))]

book.Trainer(max_epochs=1).fit(WithInit(resize=67), Data())
"""
    env = child_env()
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            env=env, timeout=600)
    assert result.returncode != 0
    assert "module 'jax.random' has no attribute 'PRNGKeyArray'" in result.stderr, (
        result.stderr[-2000:])


def test_a_model_without_an_input_size_trains_from_the_parameters_it_is_given():
    """A lesson's Flax model that says not its input size: its parameters cannot be made before
    a batch, so the lesson gives them (set_params, or the Trainer's init_params), taken as
    given; none at all is refused in one line."""
    from flax import linen as nn

    class Softmax(d2l.Classifier):
        lr: float = 0.1
        num_classes: int = 10

        def setup(self):
            self.net = nn.Sequential([lambda X: X.reshape((X.shape[0], -1)),
                                      nn.Dense(self.num_classes)])

    data = d2l.FashionMNIST(batch_size=16, resize=(28, 28), limit_train=32, limit_val=16,
                            log=None)
    params = Softmax().init(jax.random.key(0), jnp.zeros((1, 28, 28, 1)))["params"]
    histories = []
    for model, trainer_options in ((Softmax().set_params(params), {}),
                                   (Softmax(), {"init_params": params})):
        trainer = d2l.Trainer(max_epochs=1, progress=False, log=None, **trainer_options)
        histories.append([record["train_loss"] for record in trainer.fit(model, data)])
    assert histories[0] == histories[1] and np.isfinite(histories[0]).all()
    with pytest.raises(ValueError, match="give them with model.set_params"):
        d2l.Trainer(max_epochs=1, progress=False, log=None).fit(Softmax(), data)
