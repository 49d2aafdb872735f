"""Our AlexNet inside the book's own ``d2l`` package (1.0.3), and the book's models inside ours.

Runs where ``d2l`` is installed (``make test`` installs it without its pins for PyTorch and
MXNet: see the Makefile). ``d2l.torch`` imports torchvision at module level for its own
Fashion-MNIST, and no torchvision wheel imports beside the CPU build of PyTorch these tests pin,
so a stand-in module takes its place (nothing here reads data through it); ``d2l.jax`` likewise
needs ``tensorflow_datasets`` and is imported in a process of its own (it imports TensorFlow).
"""

import sys
import types

import numpy as np
import pytest

SMALL = 67


def imports_tensorflow(module_name):
    """Whether the book's ``module_name`` imports TensorFlow (or its datasets) at module level,
    read from its source without importing it."""
    import importlib.util
    import re

    with open(importlib.util.find_spec(module_name).origin, encoding="utf-8") as source:
        return re.search(r"^(import|from) tensorflow", source.read(), re.MULTILINE) is not None


@pytest.fixture(scope="module")
def book(backend_name):
    pytest.importorskip("d2l")
    module_name = f"d2l.{ {'pytorch': 'torch'}.get(backend_name, backend_name) }"
    if backend_name != "tensorflow" and imports_tensorflow(module_name):
        pytest.skip(f"{module_name} imports TensorFlow, which must not share a process with "
                    f"{backend_name} (tests/backends/test_jax.py runs the book's JAX Trainer in "
                    "a process of its own)")
    if backend_name == "pytorch":
        stand_in = types.ModuleType("torchvision")
        stand_in.transforms = types.ModuleType("torchvision.transforms")
        sys.modules.setdefault("torchvision", stand_in)
        sys.modules.setdefault("torchvision.transforms", stand_in.transforms)
    import importlib

    return importlib.import_module(module_name)


def test_the_books_trainer_fits_our_alexnet_and_plots_as_the_books_models_do(d2l, backend_name,
                                                                             book):
    from test_reuse import native_loader_module

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (32, SMALL, SMALL, 1), dtype=np.uint8)
    labels = (np.arange(32) % 10).astype(np.int64)
    d2l.set_seed(0)
    model = d2l.AlexNet(lr=0.01, resize=SMALL)
    before = d2l.parameter_arrays(model)[0][1].copy()
    data = native_loader_module(d2l, backend_name, images, labels, base=book.DataModule)
    book.Trainer(max_epochs=2).fit(model, data)
    assert model.board.xlim == [0, 2]
    series = model.board.series
    # Four batches an epoch, so two points an epoch of training loss, each the mean of two
    # batches (their x too, as the book's board draws them); one point of validation.
    assert series["train_loss"][0] == [0.125, 0.625, 1.125, 1.625]
    assert series["val_loss"][0] == series["val_acc"][0] == [1.0, 2.0]
    assert all(np.isfinite(series["train_loss"][1]))
    assert not np.array_equal(before, d2l.parameter_arrays(model)[0][1]), "it did not train"


def test_our_trainer_leaves_the_books_board_alone(d2l, backend_name):
    """Under our Trainer, plot() costs nothing: no point, no read from the device."""
    data = d2l.FashionMNIST(batch_size=8, resize=(SMALL, SMALL), limit_train=16, limit_val=8)
    model = d2l.AlexNet(lr=0.01, resize=SMALL)
    trainer = d2l.Trainer(max_epochs=1, progress=False, log=None)
    trainer.fit(model, data)
    assert model.board.series == {}
    assert set(trainer.board.series) == {"train_loss", "val_loss", "val_acc"}


def test_our_trainer_fits_the_books_lenet_with_checkpoints_and_exact_resume(d2l, backend_name,
                                                                           book, tmp_path):
    if backend_name != "pytorch":
        pytest.skip("the reverse direction is PyTorch's (the book's LeNet there)")
    import torch

    from d2l_alexnet.core.checkpoint import Checkpointer, read_checkpoint
    from d2l_alexnet.core.trainer import TrainingInterrupted

    data = d2l.FashionMNIST(batch_size=32, resize=(28, 28), limit_train=128, limit_val=64,
                            log=None)
    first = next(iter(data.train_dataloader()))[0]

    def lenet():
        torch.manual_seed(0)
        model = book.LeNet(lr=0.1)
        model.apply_init([first], book.init_cnn)
        return model

    def trainer(stop_at=None):
        d2l.set_seed(0)
        made = d2l.Trainer(max_epochs=2, progress=False, log=None)
        if stop_at is not None:
            made.step_callbacks.append(lambda t: setattr(t, "stop_requested", "test")
                                       if t.step == stop_at else None)
        return made

    straight_model = lenet()
    straight = trainer().fit(straight_model, data)
    assert straight[-1]["train_loss"] < straight[0]["train_loss"] + 0.05
    assert straight_model.board.display is False  # the book's board: ours draws instead
    interrupted = trainer(stop_at=3)
    checkpointer = Checkpointer(tmp_path, log=None).attach(interrupted)
    with pytest.raises(TrainingInterrupted):
        interrupted.fit(lenet(), data)
    saved = read_checkpoint(checkpointer.save(interrupted))
    resumed_model = lenet()
    resumed = trainer().fit(resumed_model, data, resume=saved)
    timing = ("seconds", "val_seconds", "images_per_sec")
    assert [{k: v for k, v in r.items() if k not in timing} for r in resumed] == [
        {k: v for k, v in r.items() if k not in timing} for r in straight]
    for (name, a), (_, b) in zip(straight_model.named_parameters(),
                                 resumed_model.named_parameters()):
        assert torch.equal(a, b), name


def test_our_mxnet_trainer_fits_the_books_mxnet_lenet(d2l, backend_name, book):
    if backend_name != "mxnet":
        pytest.skip("the book's MXNet LeNet, under our MXNet Trainer")
    data = d2l.FashionMNIST(batch_size=16, resize=(28, 28), limit_train=48, limit_val=16,
                            log=None)
    d2l.set_seed(0)
    history = d2l.Trainer(max_epochs=2, progress=False, log=None).fit(book.LeNet(lr=0.1), data)
    assert [record["epoch"] for record in history] == [1, 2]
    assert all(np.isfinite(record["train_loss"]) for record in history)
    assert 0.0 <= history[-1]["val_acc"] <= 1.0


def test_a_book_model_we_cannot_fit_is_refused_in_one_line(d2l, backend_name, book):
    if backend_name != "pytorch":
        pytest.skip("the reverse direction is PyTorch's")
    data = d2l.FashionMNIST(batch_size=8, resize=(28, 28), limit_train=8, limit_val=8, log=None)
    with pytest.raises(ValueError) as error:
        d2l.Trainer(max_epochs=1, progress=False, log=None).fit(book.LeNet(), data)
    assert "lazy layers): run model.apply_init([X], d2l.init_cnn)" in str(error.value)
    assert "\n" not in str(error.value)
    with pytest.raises(TypeError) as error:
        d2l.Trainer(max_epochs=1, progress=False, log=None).fit(book.LinearRegression(0.1), data)
    assert str(error.value).startswith("LinearRegression lacks accuracy: the Trainer fits models "
                                       "written as the book's d2l.Classifier")
