import re

import numpy as np
import pytest

from d2l_alexnet.core.datamodule import FashionMNISTBase, as_size, epoch_order


@pytest.fixture(scope="module")
def data():
    return FashionMNISTBase(batch_size=64, limit_train=200, limit_val=100, seed=5, log=None)


def test_limits_and_batch_counts(data):
    assert data.num_examples(True) == 200 and data.num_examples(False) == 100
    assert data.num_batches(True) == 4 and data.num_batches(False) == 2
    sizes = [len(labels) for _, labels in data.raw_batches(True)]
    assert sizes == [64, 64, 64, 8]
    images, labels = next(data.raw_batches(True))
    assert images.dtype == np.uint8 and images.shape == (64, 28, 28)
    assert labels.dtype == np.int64


def test_every_epoch_reshuffles_examples_not_batches(data):
    first = np.concatenate([labels for _, labels in data.raw_batches(True, epoch=0)])
    again = np.concatenate([labels for _, labels in data.raw_batches(True, epoch=0)])
    second = np.concatenate([labels for _, labels in data.raw_batches(True, epoch=1)])
    np.testing.assert_array_equal(first, again)  # a pure function of (seed, epoch)
    assert not np.array_equal(first, second)
    assert sorted(first) == sorted(second) == sorted(data.train_labels)
    # Examples move between batches (a batch-level shuffle would keep each batch's set).
    batch_sets = lambda epoch: {frozenset(np.flatnonzero(np.isin(epoch_order(200, 5, epoch),
                                                                  chunk)))
                                for chunk in np.array_split(np.arange(200), 4)}
    assert batch_sets(0) != batch_sets(1)


def test_epoch_order_is_a_permutation_and_seeded():
    order = epoch_order(1000, seed=1, epoch=3)
    assert sorted(order) == list(range(1000))
    assert not np.array_equal(order, epoch_order(1000, seed=2, epoch=3))


def test_validation_order_is_fixed(data):
    labels = np.concatenate([labels for _, labels in data.raw_batches(False)])
    np.testing.assert_array_equal(labels, data.val_labels)


def test_resume_from_a_batch(data):
    full = [labels for _, labels in data.raw_batches(True, epoch=2)]
    tail = [labels for _, labels in data.raw_batches(True, epoch=2, start_batch=2)]
    assert len(tail) == 2
    for expected, got in zip(full[2:], tail):
        np.testing.assert_array_equal(expected, got)


def test_batch_indices_are_the_examples_raw_batches_yields(data):
    """One source of the order: each training batch is a run of epoch_order, ascending, and
    raw_batches yields exactly those examples; validation batches are runs in order."""
    order = epoch_order(200, seed=5, epoch=3)
    train = list(data.batch_indices(True, epoch=3))
    assert [chosen.tolist() for chosen in train] == [sorted(order[start:start + 64])
                                                     for start in range(0, 200, 64)]
    for chosen, (images, labels) in zip(train, data.raw_batches(True, epoch=3), strict=True):
        np.testing.assert_array_equal(images, data.train_images[chosen])
        np.testing.assert_array_equal(labels, data.train_labels[chosen])
    tail = list(data.batch_indices(True, epoch=3, start_batch=3))
    assert len(tail) == 1 and tail[0].tolist() == train[3].tolist()
    assert list(data.batch_indices(False)) == [slice(0, 64), slice(64, 100)]
    assert list(data.batch_indices(False, start_batch=1)) == [slice(64, 100)]


def test_loader_iterates_like_a_dataloader(data):
    loader = data.train_dataloader()
    assert len(loader) == 4
    first = np.concatenate([y for _, y in loader])
    second = np.concatenate([y for _, y in loader])
    assert not np.array_equal(first, second)  # a new epoch, a new order
    X, y = next(iter(data.val_dataloader()))
    assert X.dtype == np.float32 and 0.0 <= X.min() and X.max() <= 1.0


def test_text_labels_and_visualize(data, monkeypatch):
    assert data.text_labels([0, 1, 9]) == ["t-shirt", "trouser", "ankle boot"]
    images, labels = next(data.raw_batches(False))
    shown = []
    monkeypatch.setattr("d2l_alexnet.core.progress.show_figure", shown.append)
    assert data.visualize((images / 255.0, labels), nrows=2, ncols=4) is None
    (figure,) = shown
    axes = figure.get_axes()
    assert len(axes) == 8
    assert axes[0].get_title() == data.text_labels(labels[:1])[0]


def test_bad_arguments_are_refused():
    from d2l_alexnet.core.data import DataError

    with pytest.raises(DataError, match="batch_size"):
        FashionMNISTBase(batch_size=0, log=None)
    with pytest.raises(DataError, match="limit_train"):
        FashionMNISTBase(limit_train=0, log=None)
    assert as_size(224) == (224, 224) and as_size((32, 48)) == (32, 48)


@pytest.mark.parametrize("argument, value, expected", [
    ("batch_size", True, "batch_size must be a whole number of at least 1, got True"),
    ("batch_size", 8.0, "batch_size must be a whole number"),
    ("batch_size", "64", "batch_size must be a whole number"),
    ("batch_size", None, "batch_size must be a whole number"),
    ("limit_train", True, "limit_train must be None (all) or a whole number of at least 1"),
    ("limit_train", 32.0, "limit_train must be None (all) or a whole number"),
    ("limit_val", "8", "limit_val must be None (all) or a whole number"),
    ("resize", 0, "resize must be a positive int"),
    ("resize", -4, "resize must be a positive int"),
    ("augment", "False", "augment must be True or False, got 'False'"),
    ("download", "no", "download must be True or False"),
])
def test_fashion_mnist_checks_its_arguments_as_array_data_does(argument, value, expected):
    """True trained with batches of 1 and kept 1 image; 8.0, 32.0 and "64" failed in fit or
    with a raw TypeError; resize=0 was taken until fit; augment="False" augmented."""
    from d2l_alexnet.core.data import DataError

    with pytest.raises(DataError, match=re.escape(f"FashionMNISTBase: {expected}")):
        FashionMNISTBase(**{"batch_size": 8, "limit_train": 8, "limit_val": 8, "log": None,
                            argument: value})
    FashionMNISTBase(batch_size=np.int64(8), limit_train=np.int64(8), limit_val=8,
                     augment=np.bool_(True), log=None)  # numpy's own kinds are taken


def test_a_bad_seed_is_refused_when_the_module_is_made():
    """It was kept, and refused by numpy at the first training batch, in a traceback."""
    from d2l_alexnet.core.data import DataError

    for seed in (-1, 1.5, True):
        with pytest.raises(DataError, match="seed must be a whole number of at least 0"):
            FashionMNISTBase(batch_size=8, limit_train=8, limit_val=8, seed=seed, log=None)


def test_each_pass_over_new_training_loaders_draws_the_next_epoch():
    """A hand-written loop that asks train_dataloader() for a new loader each epoch got epoch
    0's order and augmentation every time; now the module counts its passes, and set_epoch
    (the Trainer's) names the next one."""
    data = FashionMNISTBase(batch_size=8, limit_train=32, limit_val=8, seed=3, augment=True,
                            log=None)

    def first_batch(loader):
        return next(iter(loader))

    def expected(epoch):
        return next(data.raw_batches(True, epoch=epoch))

    for epoch in range(3):
        images, labels = first_batch(data.train_dataloader())
        np.testing.assert_array_equal(labels, expected(epoch)[1])
        np.testing.assert_allclose(images, expected(epoch)[0] / 255.0, rtol=1e-6)  # augmented
    data.set_epoch(1)
    np.testing.assert_array_equal(first_batch(data.train_dataloader())[1], expected(1)[1])
    loader = data.train_dataloader()
    loader.set_epoch(7)
    np.testing.assert_array_equal(first_batch(loader)[1], expected(7)[1])
    np.testing.assert_array_equal(first_batch(loader)[1], expected(8)[1])
    # Validation is never shuffled.
    np.testing.assert_array_equal(first_batch(data.val_dataloader())[1], data.val_labels[:8])


def test_every_data_module_has_the_books_root_and_num_workers(data, tmp_path):
    """A lesson's get_dataloader written as the book's reads self.num_workers (and its
    FashionMNIST self.root): on our Fashion-MNIST, ArrayData and ImageFolder it failed with
    AttributeError at fit, as they do not take them."""
    from PIL import Image

    from d2l_alexnet.core.images import ArrayData, ImageFolder

    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        for index in range(2):
            Image.new("L", (4, 4), index).save(tmp_path / name / f"{index}.png")
    split = (np.zeros((4, 4, 4), np.uint8), np.array([0, 1, 0, 1]))
    for module in (data, ArrayData(split, split, batch_size=2)):
        assert (module.root, module.num_workers) == ("../data", 4)
    folder = ImageFolder(tmp_path, resize=4, log=None)
    assert (folder.root, folder.num_workers) == (tmp_path, 4)  # its root is its own
