"""``Trainer(data_on_device=...)``: the splits on the device, each batch gathered there, train
exactly as batches copied from the host do (PyTorch and JAX, tested on the CPU as the device);
the other backends refuse ``True`` in one line."""

import copy
import subprocess
import sys

import numpy as np
import pytest

from d2l_alexnet.core import trainer as core_trainer
from d2l_alexnet.core.checkpoint import Checkpoint
from d2l_alexnet.core.trainer import DataOnDeviceError, TrainingInterrupted
from repository import child_env

SMALL = 67
KEEPS_DATA_ON_DEVICE = ("pytorch", "jax")


def tiny_data(d2l, **kwargs):
    # 12 training images in batches of 8: every epoch ends with a short batch of 4 (JAX pads
    # it); 5 validation images, fewer than a batch.
    return d2l.FashionMNIST(batch_size=8, resize=(SMALL, SMALL), limit_train=12, limit_val=5,
                            seed=3, log=None, **kwargs)


def train(d2l, data_on_device, resume=None, stop_at_step=None):
    """Two epochs on the CPU from the same seed: ``(trainer, history, saved)``, ``saved`` the
    checkpoint of ``stop_at_step`` (the run stops there)."""
    d2l.set_seed(0)
    # lr 0.1 as the contract suite's other small runs: JAX reuses their compiled steps
    model = d2l.AlexNet(num_classes=10, resize=SMALL, lr=0.1)
    trainer = d2l.Trainer(max_epochs=2, device="cpu", progress=False, log=None,
                          data_on_device=data_on_device)
    saved = {}

    def stop_mid_epoch(trainer):
        if trainer.step == stop_at_step:
            metadata, arrays = trainer.checkpoint_state()
            saved["checkpoint"] = Checkpoint("mid-epoch", copy.deepcopy(metadata),
                                             {name: np.array(array)
                                              for name, array in arrays.items()})
            trainer.stop_requested = "test"

    trainer.step_callbacks.append(stop_mid_epoch)
    try:
        history = trainer.fit(model, tiny_data(d2l), resume=resume)
    except TrainingInterrupted:
        history = None
    return trainer, history, saved.get("checkpoint")


def assert_same_state(trainer, expected):
    arrays, expected_arrays = trainer.state_arrays(), expected.state_arrays()
    assert sorted(arrays) == sorted(expected_arrays)
    for name, array in arrays.items():
        np.testing.assert_array_equal(array, expected_arrays[name], err_msg=name)


@pytest.fixture(scope="module")
def from_the_host(d2l, backend_name):
    if backend_name not in KEEPS_DATA_ON_DEVICE:
        pytest.skip(f"the {backend_name} Trainer keeps the data on the host")
    return train(d2l, data_on_device=False)


def test_batches_gathered_on_the_device_train_bitwise_as_copied_ones(d2l, from_the_host):
    trainer, history, _ = train(d2l, data_on_device=True)
    assert trainer.data_is_on_device and not from_the_host[0].data_is_on_device
    # Let go when fit ends: the model keeps its trainer (model.trainer), which would hold the
    # device's copy of the data for as long as the model.
    assert trainer.device_splits == {} and trainer.device_orders == {}
    assert_same_state(trainer, from_the_host[0])
    for record, expected in zip(history, from_the_host[1], strict=True):
        for key in ("train_loss", "val_loss", "val_acc"):
            assert record[key] == expected[key], key


def test_a_mid_epoch_checkpoint_resumes_exactly_with_the_data_on_device(d2l, from_the_host):
    # Step 3 is the second epoch's first batch: the resumed run starts at its short batch.
    _, stopped, checkpoint = train(d2l, data_on_device=True, stop_at_step=3)
    assert stopped is None and checkpoint.metadata["batch"] == 1
    trainer, history, _ = train(d2l, data_on_device=True, resume=checkpoint)
    assert_same_state(trainer, from_the_host[0])
    assert [record["val_loss"] for record in history] == [
        record["val_loss"] for record in from_the_host[1]]


def test_data_on_device_is_automatic_on_a_gpu_only_and_refused_where_it_cannot_be(
        d2l, backend_name):
    model = d2l.AlexNet(num_classes=10, resize=SMALL)
    automatic = d2l.Trainer(max_epochs=1, device="cpu", progress=False, log=None)
    automatic.setup(model, tiny_data(d2l))
    assert not automatic.data_is_on_device  # the CPU: the host's batches are already there
    forced = d2l.Trainer(max_epochs=1, device="cpu", progress=False, log=None,
                         data_on_device=True)
    if backend_name not in KEEPS_DATA_ON_DEVICE:
        with pytest.raises(DataOnDeviceError, match=r"^data_on_device=True is not offered by "
                                                    r"the \w+ Trainer, which copies"):
            forced.setup(model, tiny_data(d2l))
        return
    with pytest.raises(DataOnDeviceError, match=r"^data_on_device=True does not go with "
                                                r"augment=True, which changes each"):
        forced.setup(model, tiny_data(d2l, augment=True))
    # On a GPU, automatic keeps splits up to AUTOMATIC_DATA_ON_DEVICE_BYTES there.
    automatic.device_is_gpu = lambda: True
    data = tiny_data(d2l)
    assert automatic.decide_data_on_device(data)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(core_trainer, "AUTOMATIC_DATA_ON_DEVICE_BYTES", data.train_images.nbytes)
        assert not automatic.decide_data_on_device(data)  # the labels and val split: more
    loaders = [(np.zeros((2, SMALL, SMALL), np.uint8), np.zeros(2, np.int64))]
    book_style = type("BookStyle", (), {"train_dataloader": lambda self: loaders,
                                        "val_dataloader": lambda self: loaders})()
    with pytest.raises(DataOnDeviceError, match=r"^data_on_device=True needs a data module "
                                                r"that holds its splits in memory .* and "
                                                r"BookStyle yields its own batches"):
        forced.setup(model, book_style)


def run_module(module, *args):
    env = child_env()
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True,
                          env=env, timeout=600)


def test_cli_refuses_data_on_device_that_cannot_be_before_writing(d2l, backend_name, tmp_path):
    out = tmp_path / "run"
    result = run_module("d2l_alexnet.train", "--backend", backend_name, "--epochs", "1",
                        "--batch-size", "8", "--limit-train", "8", "--limit-val", "8",
                        "--resize", str(SMALL), "--device", "cpu", "--data-on-device", "on",
                        "--augment", "--out", str(out))
    expected = ("error: --data-on-device on does not go with --augment, which changes each "
                "training image on the host: drop one of them"
                if backend_name in KEEPS_DATA_ON_DEVICE else
                "error: --data-on-device on is not offered by the ")
    assert result.returncode == 2 and result.stderr.startswith(expected), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not out.exists(), "nothing may be written for bad input"
    if backend_name not in KEEPS_DATA_ON_DEVICE:  # bench: the same check, before measuring
        from d2l_alexnet.bench import measure

        logged = []
        with pytest.raises(DataOnDeviceError, match="is not offered by the "):
            measure(backend_name, batch_size=4, steps=1, warmup=1, resize=SMALL, device="cpu",
                    data_on_device=True, log=logged.append)
        assert logged == []
