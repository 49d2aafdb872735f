"""What only the JAX/Flax backend has to get right: dropout keys in a functional train state,
determinism from ``set_seed``, compile-once steps, bf16, the resize convention, current APIs."""

import json
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
from d2l_alexnet.core.exercises import SLIM_28  # noqa: E402
from d2l_alexnet.core.module import InputShapeError  # noqa: E402
from d2l_alexnet.cli import out_of_memory_message  # noqa: E402
from d2l_alexnet.core.data import DataError  # noqa: E402
from d2l_alexnet.core.errors import DeviceError  # noqa: E402
from d2l_alexnet.jax.runtime import _keys  # noqa: E402
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


@pytest.mark.parametrize("command, platforms", [("train", "cuda"), ("train", "tpu"),
                                                 ("evaluate", "cuda"), ("predict", "cuda"),
                                                 ("python", "cuda")])
def test_jax_platforms_naming_none_this_jax_can_start_is_refused_in_one_line(tmp_path, command,
                                                                              platforms):
    """JAX_PLATFORMS=cuda where this jaxlib or machine has no CUDA (or tpu without libtpu)
    once gave JAX's bare AssertionError even with --device cpu; now one line naming the fix,
    exit 2 from each command (under python -O too), a DeviceError in Python."""
    if platforms == "cuda" and d2l.num_gpus():
        pytest.skip("this machine's JAX has CUDA")
    weights = tmp_path / "weights.safetensors"
    d2l.AlexNet(resize=SMALL).save_weights(str(weights))
    image = tmp_path / "shirt.png"
    from PIL import Image
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(image)
    arguments = {
        "train": ["--limit-train", "8", "--limit-val", "8", "--resize", "67", "--epochs", "1",
                  "--batch-size", "8", "--device", "cpu", "--out", str(tmp_path / "run")],
        "evaluate": ["--weights", str(weights), "--limit-val", "8", "--device", "cpu"],
        "predict": ["--weights", str(weights), str(image)],
    }
    if command == "python":
        code = ("from d2l_alexnet.core.errors import DeviceError\ntry:\n"
                "    import d2l_alexnet.jax as d2l\n    d2l.cpu()\n"
                "except DeviceError as error:\n    raise SystemExit(f'error: {error}')")
        argv = [sys.executable, "-c", code]
    else:
        argv = [sys.executable, "-O", "-m", f"d2l_alexnet.{command}", "--backend", "jax",
                *arguments[command]]
    result = subprocess.run(argv, env=child_env(JAX_PLATFORMS=platforms), cwd=tmp_path,
                            capture_output=True, text=True, timeout=300)
    lines = [line for line in result.stderr.splitlines() if not line.startswith("note: ")]
    assert result.returncode == (1 if command == "python" else 2), result.stderr
    assert len(lines) == 1 and lines[0].startswith(f"error: JAX_PLATFORMS={platforms} "
                                                   "names no platform"), result.stderr
    assert "unset JAX_PLATFORMS" in lines[0] and "install the JAX build" in lines[0]
    assert not (tmp_path / "run").exists()


def test_platforms_named_after_the_import_are_checked_where_a_device_is_chosen():
    """jax_platforms set in Python after the edition's import: the device choice refuses."""
    code = """
import jax
import d2l_alexnet.jax as d2l
from d2l_alexnet.core.errors import DeviceError
jax.config.update("jax_platforms", "tpu")
for choose in (d2l.cpu, d2l.num_gpus, lambda: d2l.Trainer(max_epochs=1).select_device("cpu")):
    try:
        choose()
    except DeviceError as error:
        print("refused:", str(error).split(" (")[0])
"""
    result = subprocess.run([sys.executable, "-c", code], env=child_env(), capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["refused: JAX_PLATFORMS=tpu names no platform JAX "
                                          "can start here"] * 3


def test_the_jax_edition_beside_other_frameworks_but_no_other_edition_says_nothing():
    """TensorFlow and PyTorch themselves imported first (the book's d2l.jax reads its data with
    TensorFlow): no FrameworkClashWarning, which is for two of our editions only."""
    code = """
import warnings
warnings.simplefilter("error")
import tensorflow, torch
import d2l_alexnet.jax
print("quiet")
"""
    result = subprocess.run([sys.executable, "-c", code], env=child_env(), capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0 and result.stdout == "quiet\n", result.stderr


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


def test_a_clone_carries_the_trained_parameters_as_a_deepcopy_does(data):
    """clone() made fresh parameters: model.clone(training=False).predict(X) predicted from
    untrained weights. A clone now carries them, unless its new fields no longer fit them."""
    model = d2l.AlexNet(lr=0.05, resize=SMALL)
    d2l.Trainer(max_epochs=1, progress=False, log=None).fit(model, data)
    X = data.val_images[:4]
    for clone in (model.clone(), model.clone(training=False)):
        assert jax.tree.all(jax.tree.map(lambda a, b: bool((a == b).all()),
                                         clone.params, model.params))
        np.testing.assert_array_equal(clone.probabilities(X), model.probabilities(X))
    other = model.clone(num_classes=5)  # another head: fresh parameters that fit it
    assert other.weight_arrays()[-1][1].shape == (5,)
    assert not np.array_equal(d2l.to_numpy(other.params["net"]["layers_0"]["kernel"]),
                              d2l.to_numpy(model.params["net"]["layers_0"]["kernel"]))


def test_a_second_fit_with_init_params_trains_on_from_the_first(data):
    """init_params were the start of every fit on that trainer: a second fit replayed the
    first, dropping it, where every backend's second fit trains on from the weights held."""
    model = d2l.AlexNet(lr=0.05, resize=SMALL)
    start = d2l.init_params(model, seed=3)
    trainer = d2l.Trainer(max_epochs=1, progress=False, log=None, init_params=start)
    first = trainer.fit(model, data)[0]["train_loss"]
    after_first = d2l.to_numpy(model.params["net"]["layers_0"]["kernel"])
    second = trainer.fit(model, data)[0]["train_loss"]
    assert second != first
    assert not np.array_equal(d2l.to_numpy(model.params["net"]["layers_0"]["kernel"]),
                              after_first)
    replay = d2l.Trainer(max_epochs=1, progress=False, log=None, init_params=start)
    assert replay.fit(d2l.AlexNet(lr=0.05, resize=SMALL), data)[0]["train_loss"] == first


def test_params_of_the_wrong_kind_are_refused_in_one_line_naming_the_argument(data, tmp_path):
    """Flax's whole variables dict got "net.layers_0.bias is missing"; a path, a list or None
    got Python's internals ("dictionary update sequence element #0 ...", KeyError: 'net')."""
    model = d2l.AlexNet(lr=0.01, resize=SMALL)
    variables = {"params": model.params}
    cases = [(lambda p: d2l.Trainer(max_epochs=1, init_params=p), r"Trainer\(init_params"),
             (model.set_params, r"set_params\(params\)"),
             (lambda p: model.save_weights(tmp_path / "w.safetensors", params=p),
              r"save_weights\(params=")]
    for call, argument in cases:
        with pytest.raises(ValueError, match=argument + r'.*variables\["params"\]'):
            call(variables)
        with pytest.raises(ValueError, match=argument + r".*model.load_weights\(path\) first"):
            call("w.safetensors")
        for wrong in ([1, 2], None):
            if wrong is None and call is not model.set_params:
                continue  # None is the default there: no parameters given
            with pytest.raises(ValueError, match=argument + f".*not {type(wrong).__name__}"):
                call(wrong)
    assert not (tmp_path / "w.safetensors").exists()
    d2l.Trainer(max_epochs=1, progress=False, log=None,
                init_params=variables["params"]).fit(model, data)  # its "params" are taken


def test_applying_without_a_dropout_key_is_evaluation():
    model = d2l.AlexNet(resize=SMALL)
    X = jax.numpy.ones((2, SMALL, SMALL, 1))
    first = model.apply({"params": model.params}, X)
    np.testing.assert_array_equal(first, model.apply({"params": model.params}, X))
    dropped = model.apply({"params": model.params}, X, rngs={"dropout": jax.random.key(1)})
    assert not np.array_equal(first, dropped)
    with pytest.raises(Exception, match="dropout"):  # dropout forced on needs its key
        d2l.AlexNet(resize=SMALL, training=True).apply({"params": model.params}, X)


def test_training_false_keeps_dropout_off_outside_the_trainer_which_switches_it_on(data):
    """training=False, documented as dropout off, was overridden by any dropout key: a direct
    training_step used dropout. Now it keeps dropout off there, and the Trainer switches it on
    for its steps whatever the model was made with, as the book's Trainer sets the mode."""
    batch = (jnp.ones((2, SMALL, SMALL, 1)), jnp.array([1, 2]))
    model = d2l.AlexNet(lr=0.01, resize=SMALL, training=False)
    key = jax.random.key(1)
    evaluation = model.validation_step(model.params, batch)[0]
    assert model.training_step(model.params, batch, key) == evaluation
    default = d2l.AlexNet(lr=0.01, resize=SMALL)
    assert default.training_step(model.params, batch, key) != evaluation
    losses = []
    for training in (False, True):
        d2l.set_seed(0)
        trainer = d2l.Trainer(max_epochs=1, progress=False, log=None)
        losses.append(trainer.fit(d2l.AlexNet(lr=0.01, resize=SMALL, training=training),
                                  data)[0]["train_loss"])
    assert losses[0] == losses[1]


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


class Softmax(d2l.Classifier):
    """A lesson's softmax regression in Flax, which says not its input size."""
    lr: float = 0.1
    num_classes: int = 10

    def setup(self):
        from flax import linen as nn

        self.net = nn.Sequential([lambda X: X.reshape((X.shape[0], -1)),
                                  nn.Dense(self.num_classes)])


def test_a_model_without_an_input_size_trains_from_the_parameters_it_is_given():
    """A lesson's Flax model that says not its input size: its parameters cannot be made before
    a batch, so the lesson gives them (set_params, or the Trainer's init_params), taken as
    given; none at all is refused in one line."""
    data = d2l.FashionMNIST(batch_size=16, resize=(28, 28), limit_train=32, limit_val=16,
                            log=None)
    params = Softmax().init(jax.random.key(0), jnp.zeros((1, 28, 28, 1)))["params"]
    histories = []
    for model, trainer_options in ((Softmax().set_params(params), {}),
                                   (Softmax(), {"init_params": params})):
        trainer = d2l.Trainer(max_epochs=1, progress=False, log=None, **trainer_options)
        histories.append([record["train_loss"] for record in trainer.fit(model, data)])
    assert histories[0] == histories[1] and np.isfinite(histories[0]).all()
    # None given: fit makes them from the first batch's shape, as the book's JAX Trainer does,
    # with the seed the model was made with (so a run is repeatable).
    d2l.set_seed(4)
    model = Softmax()
    with pytest.raises(ValueError, match="let Trainer.fit make them from its first batch"):
        model.params
    d2l.set_seed(0)
    first_batch = losses(d2l.Trainer(max_epochs=1, progress=False, log=None).fit(model, data))
    by_hand = Softmax().set_params(
        Softmax().init(_keys(4)[0], jnp.zeros((1, 28, 28, 1)))["params"])
    assert first_batch == losses(d2l.Trainer(max_epochs=1, progress=False,
                                             log=None).fit(by_hand, data))
    assert_trees_equal(model.params, by_hand.params)


def losses(history):
    return [(record["train_loss"], record["val_loss"], record["val_acc"]) for record in history]


def assert_trees_equal(first, second):
    assert jax.tree.structure(first) == jax.tree.structure(second)
    for one, other in zip(jax.tree.leaves(first), jax.tree.leaves(second)):
        np.testing.assert_array_equal(d2l.to_numpy(one), d2l.to_numpy(other))


def given_params(model, seed=0):
    """``model`` carrying parameters made for Fashion-MNIST's 28×28 images (a lesson's model,
    which says not its input size, is given them)."""
    return model.set_params(model.init(jax.random.key(seed), jnp.zeros((1, 28, 28, 1)))["params"])


def tiny_fashion(limit_train=32):
    return d2l.FashionMNIST(batch_size=16, resize=(28, 28), limit_train=limit_train,
                            limit_val=16, log=None)


def test_a_lesson_models_forward_is_what_fit_evaluate_and_predict_run():
    """As in the book's JAX edition, ``__call__`` runs ``forward``: a from-scratch model that
    defines only ``forward`` (weights made in ``setup``, no ``self.net``) trains and predicts,
    and a subclass's ``forward`` replaces ours everywhere."""
    from flax import linen as nn

    class MLPScratch(d2l.Classifier):  # the book's sec_mlp-implementation
        num_inputs: int = 784
        num_outputs: int = 10
        num_hiddens: int = 32
        lr: float = 0.1
        sigma: float = 0.01

        def setup(self):
            self.W1 = self.param("W1", nn.initializers.normal(self.sigma),
                                 (self.num_inputs, self.num_hiddens))
            self.b1 = self.param("b1", nn.initializers.zeros, self.num_hiddens)
            self.W2 = self.param("W2", nn.initializers.normal(self.sigma),
                                 (self.num_hiddens, self.num_outputs))
            self.b2 = self.param("b2", nn.initializers.zeros, self.num_outputs)

        def forward(self, X):
            H = nn.relu(X.reshape((-1, self.num_inputs)) @ self.W1 + self.b1)
            return H @ self.W2 + self.b2

    class Silenced(d2l.Classifier):  # has a net, but its forward is what counts
        lr: float = 0.1
        num_classes: int = 10

        def setup(self):
            self.net = nn.Sequential([d2l.flatten, nn.Dense(self.num_classes)])

        def forward(self, X):
            return self.net(X) * 0.0

    data = tiny_fashion()
    X = jnp.asarray(data.val_images[:5, ..., None] / 255.0, jnp.float32)
    scratch = given_params(MLPScratch())
    history = d2l.Trainer(max_epochs=1, progress=False, log=None).fit(scratch, data)
    assert np.isfinite(history[0]["val_loss"]) and set(scratch.params) == {"W1", "b1", "W2",
                                                                           "b2"}
    by_hand = scratch.apply({"params": scratch.params}, X)
    np.testing.assert_array_equal(scratch.predict(X), np.asarray(by_hand).argmax(axis=1))
    # A numpy batch is taken as images to resize, which a model without resize= cannot: the
    # refusal names the conversion that makes it the model's input as it is.
    with pytest.raises(InputShapeError, match=r"as a float32 tensor \(jnp\.asarray\(X\)\)"):
        scratch.predict(np.asarray(X))

    silenced = given_params(Silenced())
    history = d2l.Trainer(max_epochs=1, progress=False, log=None).fit(silenced, data)
    assert history[0]["val_loss"] == pytest.approx(math.log(10), rel=1e-6)
    assert d2l.Trainer(max_epochs=1, progress=False, log=None).evaluate(
        silenced, data)["val_loss"] == pytest.approx(math.log(10), rel=1e-6)
    np.testing.assert_allclose(silenced.probabilities(X), np.full((5, 10), 0.1), rtol=1e-6)
    with pytest.raises(NotImplementedError, match="Silenced cannot give features"):
        silenced.features(X)
    with pytest.raises(NotImplementedError, match="MLPScratch has no self.net"):
        scratch.layer_summary((1, 28, 28, 1))


def test_a_model_with_its_own_call_predicts_and_refuses_features_in_one_line():
    """The book's concise JAX models define ``@nn.compact __call__(self, X)``: predict and
    probabilities call it without ``features=``; features is refused in one line."""
    from flax import linen as nn

    class DropoutMLP(d2l.Classifier):  # the book's sec_dropout, concise
        lr: float = 0.1
        training: bool = True

        @nn.compact
        def __call__(self, X):
            H = nn.relu(nn.Dense(32)(X.reshape((X.shape[0], -1))))
            H = nn.Dropout(0.5, deterministic=not self.training)(H)
            return nn.Dense(10)(H)

    data = tiny_fashion()
    model = given_params(DropoutMLP())
    d2l.Trainer(max_epochs=1, progress=False, log=None).fit(model, data)
    X = jnp.asarray(data.val_images[:6, ..., None] / 255.0, jnp.float32)
    logits = np.asarray(model.clone(training=False).apply({"params": model.params}, X))
    np.testing.assert_array_equal(model.predict(X), logits.argmax(axis=1))
    np.testing.assert_allclose(model.probabilities(X), np.asarray(jax.nn.softmax(logits)),
                               rtol=1e-5)
    with pytest.raises(NotImplementedError) as refusal:
        model.features(X)
    assert "\n" not in str(refusal.value) and "takes no features= argument" in str(refusal.value)


def batchnorm_net_class():
    """A lesson's small network with BatchNorm, in the book's JAX style."""
    from flax import linen as nn

    class BNNet(d2l.Classifier):
        lr: float = 0.1
        num_classes: int = 10
        training: bool = True

        def setup(self):
            self.net = nn.Sequential([nn.Conv(4, (3, 3)), nn.BatchNorm(not self.training),
                                      nn.relu, d2l.flatten, nn.Dense(self.num_classes)])

    return BNNet


def batchnorm_run(**trainer_options):
    """Two epochs of ``batchnorm_net_class``'s network on 32 images at batch 16: the model and
    its history."""
    d2l.set_seed(0)
    model = given_params(batchnorm_net_class()())
    trainer = d2l.Trainer(max_epochs=2, progress=False, log=None, **trainer_options)
    return model, trainer.fit(model, tiny_fashion(limit_train=32))


def test_batchnorm_statistics_train_evaluate_and_resume_exactly(tmp_path):
    """A model with BatchNorm (the book's ``nn.BatchNorm(not self.training)``): the train state
    carries its running statistics, updated by every step exactly as Flax updates them by
    hand; evaluation and predict use them; a checkpoint holds them, so a resumed run ends
    where an uninterrupted one does. 40 images at batch 16: the last batch, 8, is not padded
    (the padding would count in the batch's statistics)."""
    from d2l_alexnet.core.checkpoint import Checkpointer, read_checkpoint

    BNNet = batchnorm_net_class()
    data = tiny_fashion(limit_train=40)
    model = given_params(BNNet())
    trainer = d2l.Trainer(max_epochs=1, progress=False, log=None).setup(model, data)
    start = jax.tree.map(jnp.copy, trainer.state)
    assert set(start.batch_stats["net"]["layers_1"]) == {"mean", "var"}
    images, labels = data.train_images[:8], data.train_labels[:8]
    batch = trainer.batch_preparer(train=True)(images, labels)
    assert batch[0].shape[0] == 8  # short, and not padded to 16
    loss = float(trainer.train_step(batch))

    def by_hand(params):
        logits, updates = model.apply({"params": params, "batch_stats": start.batch_stats},
                                      batch[0], rngs={"dropout": jax.random.key(0)},
                                      mutable=["batch_stats"])
        loss = d2l.optax.softmax_cross_entropy_with_integer_labels(logits, batch[1]).mean()
        return loss, updates["batch_stats"]

    (hand_loss, hand_stats), grads = jax.value_and_grad(by_hand, has_aux=True)(start.params)
    assert loss == pytest.approx(float(hand_loss), rel=1e-6)
    hand_params = jax.tree.map(lambda p, g: p - 0.1 * g, start.params, grads)
    for ours, hand in ((trainer.state.batch_stats, hand_stats),
                       (trainer.state.params, hand_params)):
        for one, other in zip(jax.tree.leaves(ours), jax.tree.leaves(hand)):
            np.testing.assert_allclose(d2l.to_numpy(one), d2l.to_numpy(other), atol=1e-6)
    stats = trainer.state.batch_stats
    assert not np.array_equal(d2l.to_numpy(stats["net"]["layers_1"]["mean"]),
                              d2l.to_numpy(start.batch_stats["net"]["layers_1"]["mean"]))

    def run(resume=None):
        d2l.set_seed(0)
        model = given_params(BNNet())
        trainer = d2l.Trainer(max_epochs=2, progress=False, log=None)
        if resume is None:
            Checkpointer(tmp_path, every=2, keep=10, log=None).attach(trainer)
        return model, losses(trainer.fit(model, data, resume=resume))

    whole, history = run()
    resumed, resumed_history = run(read_checkpoint(tmp_path / "checkpoint-2.ckpt"))
    assert resumed_history == history
    assert_trees_equal(resumed.params, whole.params)
    assert_trees_equal(resumed._carried["batch_stats"], whole._carried["batch_stats"])
    X = jnp.asarray(data.val_images[:6, ..., None] / 255.0, jnp.float32)
    logits = whole.clone(training=False).apply(
        {"params": whole.params, "batch_stats": whole._carried["batch_stats"]}, X)
    np.testing.assert_allclose(whole.probabilities(X), np.asarray(jax.nn.softmax(logits)),
                               rtol=1e-5)



def test_a_fit_interrupted_in_python_leaves_the_model_with_what_it_reached():
    """Ctrl-C in a notebook (a KeyboardInterrupt between two steps) or an error in a callback:
    the model holds the weights the trainer reached, as the other backends' models do, where
    it kept its starting ones (JAX's trainer holds the state until fit ends)."""
    data = tiny_fashion(limit_train=64)
    for interruption in (KeyboardInterrupt, RuntimeError):
        d2l.set_seed(0)
        model = d2l.AlexNet(lr=0.05, resize=28, layers=SLIM_28, dropout=0)
        start = jax.tree.map(np.asarray, model.params)
        trainer = d2l.Trainer(max_epochs=2, progress=False, log=None)

        def interrupt(trainer):
            if trainer.step == 6:  # in the second epoch, mid-way
                raise interruption("stop")

        trainer.step_callbacks.append(interrupt)
        with pytest.raises(interruption):
            trainer.fit(model, data)
        assert_trees_equal(model.params, trainer.state.params)
        assert not all(np.array_equal(before, after) for before, after in zip(
            jax.tree.leaves(start), jax.tree.leaves(jax.tree.map(np.asarray, model.params))))


def test_the_books_own_batchnorm_layer_trains_evaluates_and_predicts():
    """The book's from-scratch BatchNorm (sec_batch_norm) writes its moving statistics on
    every call, in evaluation mode too (unchanged there): validation, evaluate, predict and
    layer_summary allow the write and drop it, where Flax refused it ("collection batch_stats
    is immutable") once the first epoch's validation began."""
    from flax import linen as nn

    class BookBatchNorm(nn.Module):
        num_features: int
        deterministic: bool = False

        @nn.compact
        def __call__(self, X):
            shape = (1, 1, 1, self.num_features)
            gamma = self.param("gamma", nn.initializers.ones, shape)
            beta = self.param("beta", nn.initializers.zeros, shape)
            mean = self.variable("batch_stats", "moving_mean", jnp.zeros, shape)
            var = self.variable("batch_stats", "moving_var", jnp.ones, shape)
            if self.deterministic:
                X_hat = (X - mean.value) / jnp.sqrt(var.value + 1e-5)
                new_mean, new_var = mean.value, var.value
            else:
                batch_mean = X.mean(axis=(0, 1, 2), keepdims=True)
                batch_var = ((X - batch_mean) ** 2).mean(axis=(0, 1, 2), keepdims=True)
                X_hat = (X - batch_mean) / jnp.sqrt(batch_var + 1e-5)
                new_mean = 0.9 * mean.value + 0.1 * batch_mean
                new_var = 0.9 * var.value + 0.1 * batch_var
            mean.value, var.value = new_mean, new_var  # as the book writes: on every call
            return gamma * X_hat + beta

    class BNScratch(d2l.Classifier):
        lr: float = 0.1
        num_classes: int = 10
        training: bool = True

        def setup(self):
            self.net = nn.Sequential([nn.Conv(4, (3, 3)),
                                      BookBatchNorm(4, deterministic=not self.training),
                                      nn.relu, d2l.flatten, nn.Dense(self.num_classes)])

    data = tiny_fashion()
    model = given_params(BNScratch())
    history = d2l.Trainer(max_epochs=1, progress=False, log=None).fit(model, data)
    assert np.isfinite(history[0]["val_loss"])
    stats = model._carried["batch_stats"]["net"]["layers_1"]
    assert not np.allclose(d2l.to_numpy(stats["moving_mean"]), 0)  # training updated them
    result = d2l.Trainer(max_epochs=1, progress=False, log=None).evaluate(model, data)
    assert result["val_loss"] == pytest.approx(history[0]["val_loss"], rel=1e-5)
    X = jnp.asarray(data.val_images[:5, ..., None] / 255.0, jnp.float32)
    assert model.predict(X).shape == (5,)
    model.clone(training=False).layer_summary((1, 28, 28, 1))


def test_batchnorm_in_bf16_keeps_its_statistics_in_float32():
    """bf16 computes the convolution in bf16; BatchNorm's running statistics, like the
    parameters, stay float32 (bf16's 8 bits of mantissa would round a running mean's small
    updates away), and the run follows the fp32 one closely."""
    fp32_model, fp32_history = batchnorm_run()
    bf16_model, bf16_history = batchnorm_run(precision="bf16")
    for stat in jax.tree.leaves(bf16_model._carried["batch_stats"]):
        assert stat.dtype == jnp.float32
    for fp32, bf16 in zip(losses(fp32_history), losses(bf16_history)):
        assert bf16[0] == pytest.approx(fp32[0], rel=0.02)
    assert bf16_history[-1]["train_loss"] < bf16_history[0]["train_loss"]


def test_batchnorm_on_two_replicas_normalizes_over_the_whole_batch():
    """On a mesh of two CPU devices the batch is split between them, yet BatchNorm's mean and
    variance are the whole batch's (the step is one program over the sharded batch, not one per
    replica): the losses and running statistics are one device's, to float rounding. (Other
    frameworks' data parallelism normalizes each replica's share on its own.)"""
    here = os.path.dirname(os.path.abspath(__file__))
    folders = [here, os.path.dirname(here)]
    script = f"""
import os, sys
os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
sys.path[:0] = {folders!r}
import json
import jax
import numpy as np
import test_jax
one, one_history = test_jax.batchnorm_run()
two, two_history = test_jax.batchnorm_run(num_gpus=2, device="cpu")
gaps = [float(np.abs(np.asarray(a) - np.asarray(b)).max()) for a, b in zip(
    jax.tree.leaves(one._carried["batch_stats"]), jax.tree.leaves(two._carried["batch_stats"]))]
print(json.dumps({{"one": test_jax.losses(one_history), "two": test_jax.losses(two_history),
                  "gaps": gaps}}))
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            env=child_env(), timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    run = json.loads(result.stdout.strip().splitlines()[-1])
    for single, parallel in zip(run["one"], run["two"]):
        assert parallel == pytest.approx(single, rel=1e-5)
    assert len(run["gaps"]) == 2 and max(run["gaps"]) < 1e-6


def test_a_model_with_a_list_field_trains_and_predicts_with_its_compiled_code_cached():
    """Flax cannot hash a module with a list field, and the compile caches key on the model:
    such a model is keyed on its fields made hashable instead (an equal model reuses the
    compiled steps; another list does not)."""
    from flax import linen as nn
    from d2l_alexnet.jax.trainer import _compiled_steps

    class MLP(d2l.Classifier):
        hiddens: list = (32,)
        lr: float = 0.1
        num_classes: int = 10

        def setup(self):
            layers = [d2l.flatten]
            for width in self.hiddens:
                layers += [nn.Dense(width), nn.relu]
            self.net = nn.Sequential(layers + [nn.Dense(self.num_classes)])

    data = tiny_fashion()
    model = given_params(MLP(hiddens=[32, 16]))
    history = d2l.Trainer(max_epochs=1, progress=False, log=None).fit(model, data)
    assert np.isfinite(history[0]["val_loss"])
    X = jnp.asarray(data.val_images[:4, ..., None] / 255.0, jnp.float32)
    logits = model.apply({"params": model.params}, X)
    np.testing.assert_array_equal(model.predict(X), np.asarray(logits).argmax(axis=1))
    assert model.features(X).shape == (4, 16)

    def steps(model):
        return _compiled_steps(model, "fp32", 0.0, None)[2]

    assert steps(MLP(hiddens=[32, 16])) is steps(MLP(hiddens=[32, 16]))
    assert steps(MLP(hiddens=[32, 8])) is not steps(MLP(hiddens=[32, 16]))


def test_a_model_with_variables_it_cannot_carry_is_refused_before_compiling():
    """Collections beyond params and BatchNorm's batch_stats (a counter, say) would be lost
    between steps: refused in one line, with parameters given or made from the first batch."""
    from flax import linen as nn

    class Counting(d2l.Classifier):
        lr: float = 0.1

        @nn.compact
        def __call__(self, X):
            count = self.variable("counter", "count", lambda: jnp.zeros((), jnp.int32))
            count.value += 1
            return nn.Dense(10)(X.reshape((X.shape[0], -1)))

    for model in (Counting(), given_params(Counting())):
        with pytest.raises(NotImplementedError, match=r"Counting makes the variable collections "
                                                      r"\['counter'\], which this backend"):
            d2l.Trainer(max_epochs=1, progress=False, log=None).fit(model, tiny_fashion())


class GlobalShuffleData(d2l.DataModule):
    """A lesson's data module whose every train_dataloader() call draws a new order from
    numpy's global RNG, as a hand-written loader often does: an extra call moves its runs."""

    def __init__(self, batch_size=8, images=None):
        super().__init__()
        self.batch_size, self.calls = batch_size, 0
        rng = np.random.default_rng(0)
        self.images = (rng.random((24, 28, 28, 1), dtype=np.float32)
                       if images is None else images)
        self.labels = (np.arange(len(self.images)) % 10).astype(np.int32)

    def get_dataloader(self, train):
        self.calls += train
        order = np.random.permutation(len(self.labels)) if train else np.arange(len(self.labels))
        return [(self.images[order[start:start + self.batch_size]],
                 self.labels[order[start:start + self.batch_size]])
                for start in range(0, len(order), self.batch_size)]


def test_a_model_made_from_the_first_batch_reads_the_loader_setup_checked():
    """fit makes a lesson model's parameters from the training loader it asked for at setup,
    not from one more train_dataloader() call (which would draw a new order): the run is the
    run of the same model given its parameters by hand. A loader with no batch is refused in
    one line."""
    def run(given):
        d2l.set_seed(4)
        model = Softmax()
        if given:
            model.set_params(model.init(_keys(4)[0], jnp.zeros((1, 28, 28, 1)))["params"])
        data = GlobalShuffleData()
        np.random.seed(0)
        history = d2l.Trainer(max_epochs=2, progress=False, log=None).fit(model, data)
        return losses(history), data.calls

    assert run(given=False) == run(given=True)
    with pytest.raises(DataError, match="yielded no batch to make them from"):
        d2l.Trainer(max_epochs=1, progress=False, log=None).fit(
            Softmax(), GlobalShuffleData(images=np.zeros((0, 28, 28, 1), np.float32)))


def test_the_books_batchnorm_loss_cell_is_refused_in_one_line_before_any_step_is_traced():
    """The book's BatchNorm chapter (sec_batch_norm) has a ``#@save`` cell that puts on
    ``d2l.Classifier`` a ``loss(self, params, X, Y, state, averaged=True)``: every Classifier,
    AlexNet too, then failed inside the compiled step (``loss() missing 2 required positional
    arguments: 'Y' and 'state'``). Refused at fit start in one line that says to leave it out."""
    from functools import partial

    import optax

    ours = d2l.Classifier.__dict__["loss"]
    try:
        # The book's cell, as it writes it (its body shortened: it is never called).
        @d2l.add_to_class(d2l.Classifier)
        @partial(jax.jit, static_argnums=(0, 5))
        def loss(self, params, X, Y, state, averaged=True):
            Y_hat, updates = state.apply_fn({'params': params,
                                             'batch_stats': state.batch_stats},
                                            *X, mutable=['batch_stats'],
                                            rngs={'dropout': state.dropout_rng})
            Y_hat = d2l.reshape(Y_hat, (-1, Y_hat.shape[-1]))
            Y = d2l.reshape(Y, (-1,))
            fn = optax.softmax_cross_entropy_with_integer_labels
            return (fn(Y_hat, Y).mean(), updates) if averaged else (fn(Y_hat, Y), updates)

        trainer = d2l.Trainer(max_epochs=1, progress=False, log=None)
        with pytest.raises(TypeError) as error:
            trainer.fit(d2l.AlexNet(lr=0.01, resize=SMALL), small_data())
    finally:
        d2l.Classifier.loss = ours
    message = str(error.value)
    assert message.startswith("AlexNet.loss takes (params, X, Y, state), as the book's JAX "
                              "Classifier.loss that its BatchNorm chapter's cell")
    assert "carries BatchNorm's batch_stats itself" in message
    assert "restart the kernel and leave it out" in message and "\n" not in message
    assert not hasattr(trainer, "state"), "a step was prepared before the refusal"


def test_a_method_changed_after_a_fit_is_what_the_next_fit_and_predict_run():
    """The compile caches key on the model's class and fields: a lesson that redefined a method
    with ``@d2l.add_to_class`` (or ``AlexNet.loss = f``) after a first fit got the old compiled
    code, bit for bit. Now the key holds the class's methods too; unchanged code still hits.
    (The slim table at 28×28: the same caches, compiled in a fraction of the time.)"""
    import optax

    from d2l_alexnet.jax.trainer import _compiled_steps

    def slim():
        return d2l.AlexNet(lr=0.01, resize=28, layers=SLIM_28)

    data = tiny_fashion(limit_train=16)

    def fit(model):
        model.set_params(start)
        return d2l.Trainer(max_epochs=1, progress=False, log=None).fit(model, data)[-1]

    def steps():
        return _compiled_steps(slim(), "fp32", 0.0, None)[2]

    start = slim().params
    first, compiled = fit(slim()), steps()
    X = data.val_images[:4]
    predicted = slim().set_params(start).probabilities(X)
    ours = {name: d2l.AlexNet.__dict__.get(name)
            for name in ("loss", "configure_optimizers", "forward")}
    try:
        @d2l.add_to_class(d2l.AlexNet)
        @d2l.nn.nowrap
        def loss(self, Y_hat, Y, averaged=True):  # the same gradients, the loss shifted by 1
            return d2l.Classifier.loss(self, Y_hat, Y, averaged) + 1.0

        shifted = fit(slim())
        for key in ("train_loss", "val_loss"):
            assert shifted[key] == pytest.approx(first[key] + 1.0, rel=1e-5)
        made = []  # a plain assignment, as a lesson may write it
        d2l.AlexNet.configure_optimizers = d2l.nn.nowrap(
            lambda self, plan=None: made.append(optax.sgd(0.0)) or made[-1])
        assert _compiled_steps(slim(), "fp32", 0.0, None)[1] is made[0]

        @d2l.add_to_class(d2l.AlexNet)
        def forward(self, X, features=False):
            return -d2l.Classifier.forward(self, X, features)

        flipped = slim().set_params(start).probabilities(X)
        assert not np.allclose(flipped, predicted)
    finally:
        for name, method in ours.items():
            if method is None:
                delattr(d2l.AlexNet, name)
            else:
                setattr(d2l.AlexNet, name, method)
    assert steps() is compiled  # the original code again: compiled once, found again
