"""ArrayData and ImageFolder: a lesson author's own images as data modules (and predict's numpy
images, read as ArrayData reads them)."""

import os
import unicodedata

import numpy as np
import pytest
from PIL import Image

from d2l_alexnet.core.data import DataError
from d2l_alexnet.core.datamodule import epoch_order
from d2l_alexnet.core.images import (ArrayData, ImageFolder, _has_transparency, folder_classes,
                                     folder_color_mode, folder_images, read_image)
from d2l_alexnet.core.module import InputShapeError, ModuleContract

RNG = np.random.default_rng(0)


def pixels(shape, dtype=np.uint8):
    return RNG.integers(0, 256, size=shape).astype(dtype)


def split(num_images=6, shape=(5, 7, 3), num_classes=3):
    return pixels((num_images, *shape)), np.arange(num_images) % num_classes


def refusal(function, *args, **kwargs):
    """The one-line message of the DataError that ``function(*args, **kwargs)`` raises."""
    with pytest.raises(DataError) as caught:
        function(*args, **kwargs)
    message = str(caught.value)
    assert "\n" not in message
    return message


# ---- ArrayData: layouts and dtypes ------------------------------------------------------------

def test_every_layout_gives_the_same_channels_last_arrays():
    channels_last = pixels((4, 5, 7, 3))
    labels = np.arange(4)
    for images in (channels_last, channels_last.transpose(0, 3, 1, 2)):
        data = ArrayData((images, labels), (images, labels))
        np.testing.assert_array_equal(data.train_images, channels_last)
        assert data.train_images.flags.c_contiguous
        assert data.in_channels == 3 and data.image_shape == (5, 7, 3)

    grey = channels_last[..., 0]
    for images in (grey, grey[..., np.newaxis], grey[:, np.newaxis]):
        data = ArrayData((images, labels), (images, labels))
        np.testing.assert_array_equal(data.val_images, grey[..., np.newaxis])
        assert data.in_channels == 1 and data.image_shape == (5, 7, 1)


def test_an_explicit_layout_resolves_an_ambiguous_shape():
    images, labels = pixels((4, 3, 3, 3)), np.arange(4)
    message = refusal(ArrayData, (images, labels), (images, labels))
    assert 'layout="NCHW"' in message and 'layout="NHWC"' in message and "(4, 3, 3, 3)" in message
    first = ArrayData((images, labels), (images, labels), layout="NCHW")
    last = ArrayData((images, labels), (images, labels), layout="NHWC")
    np.testing.assert_array_equal(first.train_images, images.transpose(0, 2, 3, 1))
    np.testing.assert_array_equal(last.train_images, images)

    five = pixels((2, 5, 8, 8))  # five channels: only with a layout
    assert "layout=" in refusal(ArrayData, (five, [0, 1]), (five, [0, 1]))
    data = ArrayData((five, [0, 1]), (five, [0, 1]), layout="NCHW")
    assert data.in_channels == 5 and data.image_shape == (8, 8, 5)


def test_uint8_stays_uint8_and_floats_are_never_scaled_again():
    images, labels = split()
    data = ArrayData((images, labels), (images, labels), batch_size=6)
    batch, _ = next(data.raw_batches(True))
    assert batch.dtype == np.uint8 and batch.max() > 1

    floats = images / 255.0  # float64, max exactly 1.0 somewhere
    floats[0, 0, 0, 0] = 1.0
    data = ArrayData((floats, labels), (floats.astype(np.float16), labels), batch_size=6)
    for train in (True, False):
        batch, _ = next(data.raw_batches(train))
        assert batch.dtype == np.float32 and batch.max() == 1.0


def test_uint8_and_float_batches_agree_after_one_scaling():
    # Every uint8 value appears, so a single-scaling mismatch at any value would show.
    uint8 = (np.arange(4 * 8 * 8 * 3) % 256).astype(np.uint8).reshape(4, 8, 8, 3)
    labels = np.array([0, 1, 0, 1])
    as_uint8 = ArrayData((uint8, labels), (uint8, labels), batch_size=3, seed=2)
    as_float = ArrayData((uint8 / 255.0, labels), (uint8 / 255.0, labels), batch_size=3, seed=2)
    for train in (True, False):
        pairs = zip(as_uint8.raw_batches(train, epoch=1), as_float.raw_batches(train, epoch=1))
        for (scaled, labels_u), (floats, labels_f) in pairs:
            np.testing.assert_array_equal(scaled.astype(np.float32) / 255, floats)
            np.testing.assert_array_equal(labels_u, labels_f)


# ---- ArrayData: refusals ----------------------------------------------------------------------

def good():
    return split(), split(num_images=3)


def with_train(images=None, labels=None):
    (train_images, train_labels), val = good()
    return ((train_images if images is None else images,
             train_labels if labels is None else labels), val)


REFUSALS = {
    "rank 2 images": (with_train(images=pixels((6, 10))), {}, ["(6, 10)", "(N, H, W)"]),
    "rank 5 images": (with_train(images=pixels((6, 2, 5, 7, 3))), {}, ["5-d", "(N, C, H, W)"]),
    "int32 images": (with_train(images=pixels((6, 5, 7, 3), np.int32)), {},
                     ["int32", "uint8", "[0, 1]"]),
    "floats 0..255": (with_train(images=pixels((6, 5, 7, 3), np.float32)), {},
                      ["train", "divide by 255", "[0.0, 255.0]"]),
    "floats -1..1": (with_train(images=np.linspace(-1, 1, 6 * 5 * 7 * 3).reshape(6, 5, 7, 3)),
                     {}, ["[-1.0, 1.0]", "scale them into [0, 1]"]),
    "NaN": (with_train(images=np.full((6, 5, 7, 3), np.nan)), {}, ["NaN", "[0, 1]"]),
    "labels length": (with_train(labels=np.arange(5)), {}, ["6 images", "5 labels"]),
    "float labels": (with_train(labels=np.zeros(6)), {}, ["float64", "integer"]),
    "negative labels": (with_train(labels=np.array([0, 1, -1, 0, 1, 0])), {}, ["-1", "0 or more"]),
    "2-d labels": (with_train(labels=np.zeros((6, 3), np.int64)), {}, ["(6, 3)", "argmax"]),
    "label beyond classes": (good(), {"classes": ["a", "b"]}, ["up to 2", "2", "classes"]),
    "channel mismatch": ((split(), split(shape=(5, 7, 1))), {}, ["3 channel", "have 1"]),
    "batch_size 0": (good(), {"batch_size": 0}, ["batch_size", "0"]),
    "empty split": ((split(), split(num_images=0)), {}, ["val", "empty"]),
    "unknown layout": (good(), {"layout": "CHW"}, ["'CHW'", "NCHW", "NHWC"]),
    "layout for 3-d": ((split(shape=(5, 7)), split(shape=(5, 7))), {"layout": "NHWC"},
                       ["4-d", "(6, 5, 7)"]),
    # NHWC images said to be NCHW: the fit then asked for a model of 5 input channels.
    "the other layout": (good(), {"layout": "NCHW"},
                         ["layout='NCHW' reads 5 channels in the train images of shape "
                          "(6, 5, 7, 3), whose other end holds 3, as NHWC images do: pass "
                          "layout='NHWC'"]),
    "resize 0": (good(), {"resize": 0}, ["resize", "0"]),
    "negative seed": (good(), {"seed": -1}, ["seed", "-1"]),
    "augment as a string": (good(), {"augment": "False"},  # (it augmented: the string is true)
                            ["augment must be True or False, got 'False'"]),
    "one string of classes": (good(), {"classes": "abc"}, ["list of names", "'abc'"]),
    "class indices for names": (good(), {"classes": np.arange(3)}, ["names (text)", "0 (",
                                                                   "str(name)"]),
    "a name twice": (good(), {"classes": ["cat", "cat", "dog"]}, ["'cat' more than once"]),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_bad_input_is_refused_in_one_line(case):
    (train, val), kwargs, key_words = REFUSALS[case]
    message = refusal(ArrayData, train, val, **kwargs)
    assert message.startswith("ArrayData: ")
    for words in key_words:
        assert words in message, (words, message)


# ---- ArrayData: the batch contract ------------------------------------------------------------

@pytest.fixture
def indexed():
    """Ten images whose pixels and labels both equal their index."""
    images = np.broadcast_to(np.arange(10, dtype=np.uint8)[:, None, None, None],
                             (10, 5, 6, 3)).copy()
    return ArrayData((images, np.arange(10)), (images[:7], np.arange(7)), batch_size=4, seed=3)


def test_training_order_is_the_epoch_order_sorted_per_batch(indexed):
    epochs = []
    for epoch in (0, 1):
        batches = list(indexed.raw_batches(True, epoch=epoch))
        order = epoch_order(10, seed=3, epoch=epoch)
        assert [len(labels) for _, labels in batches] == [4, 4, 2]
        for number, (images, labels) in enumerate(batches):
            np.testing.assert_array_equal(labels, np.sort(order[number * 4:number * 4 + 4]))
            np.testing.assert_array_equal(images[:, 0, 0, 0], labels)  # images follow labels
            assert labels.dtype == np.int64 and images.shape[1:] == (5, 6, 3)
        epochs.append(np.concatenate([labels for _, labels in batches]))
    assert not np.array_equal(epochs[0], epochs[1])
    assert sorted(epochs[0]) == sorted(epochs[1]) == list(range(10))


def test_start_batch_continues_the_epoch_exactly(indexed):
    full = [labels for _, labels in indexed.raw_batches(True, epoch=4)]
    tail = [labels for _, labels in indexed.raw_batches(True, epoch=4, start_batch=1)]
    assert len(tail) == 2
    for expected, got in zip(full[1:], tail):
        np.testing.assert_array_equal(expected, got)
    assert list(indexed.raw_batches(True, start_batch=3)) == []


def test_validation_is_in_order_with_a_short_last_batch(indexed):
    batches = [labels for _, labels in indexed.raw_batches(False, epoch=5)]
    assert [len(labels) for labels in batches] == [4, 3]
    np.testing.assert_array_equal(np.concatenate(batches), np.arange(7))


def test_counts(indexed):
    assert indexed.num_examples(True) == 10 and indexed.num_examples(False) == 7
    assert indexed.num_batches(True) == 3 and indexed.num_batches(False) == 2
    assert indexed.batch_size == 4 and indexed.seed == 3


@pytest.mark.parametrize("resize, expected", [(None, (5, 7)), (8, (8, 8)), ((8, 12), (8, 12)),
                                              (np.int64(9), (9, 9))])
def test_resize_is_kept_as_a_pair_and_images_are_not_resized(resize, expected):
    train, val = good()
    data = ArrayData(train, val, resize=resize)
    assert data.resize == expected and isinstance(data.resize, tuple)
    assert all(type(size) is int for size in data.resize)
    assert data.image_shape == (5, 7, 3)  # resizing is the backends' job, per batch


def test_num_classes_from_labels_and_from_names():
    train = (pixels((3, 4, 4)), np.array([0, 2, 1]))
    val = (pixels((2, 4, 4)), np.array([4, 0]))
    data = ArrayData(train, val)
    assert data.num_classes == 5 and data.classes is None  # the highest label of both splits
    assert data.text_labels(np.array([4, 0])) == ["4", "0"]
    named = ArrayData(train, val, classes=("a", "b", "c", "d", "e", "f"))
    assert named.num_classes == 6 and named.classes == ["a", "b", "c", "d", "e", "f"]
    assert named.text_labels([4, 0]) == ["e", "a"]


def test_a_column_of_labels_is_read_as_one_label_per_image():
    """Labels of shape (N, 1), as loaders and CSV columns give them: one index per image (the
    one-hot advice's argmax would make every label 0)."""
    train = (pixels((3, 4, 4)), np.array([[0], [2], [1]]))
    val = (pixels((2, 4, 4)), np.array([[1], [0]]))
    data = ArrayData(train, val)
    np.testing.assert_array_equal(data.train_labels, [0, 2, 1])
    np.testing.assert_array_equal(data.val_labels, [1, 0])
    assert data.num_classes == 3 and data.train_labels.dtype == np.int64


def test_hyperparameters_hold_no_arrays():
    train, val = good()
    data = ArrayData(train, val, batch_size=2, resize=8, seed=4)
    assert set(data.hparams) == {"batch_size", "resize", "layout", "seed", "classes",
                                 "augment"}
    assert data.hparams["batch_size"] == 2 and data.hparams["seed"] == 4


# ---- ImageFolder on real files ----------------------------------------------------------------

DARK, LIGHT = 20, 230
# Per class: PNG and JPEG, RGB and greyscale sources, 30×20 and 40×40, one nested, one upper-case.
SOURCES = {"a.png": ("RGB", (30, 20)), "b.jpg": ("RGB", (40, 40)), "c.png": ("L", (40, 40)),
           "d.jpeg": ("L", (30, 20)), "sub/e.png": ("RGB", (40, 40)), "F.PNG": ("RGB", (30, 20))}
FILES_PER_CLASS = sorted(SOURCES)  # "F.PNG" sorts first


def save(path, value, mode="RGB", size=(30, 20)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, value if mode == "L" else (value,) * 3).save(path)


def make_tree(root, classes=(("dark", DARK), ("light", LIGHT))):
    """Two visually distinct classes, plus files and folders that must be ignored."""
    for name, value in classes:
        for file_name, (mode, size) in SOURCES.items():
            save(root / name / file_name, value, mode, size)
        (root / name / "README.txt").write_text("not an image")
        save(root / name / ".hidden.png", 128)
        save(root / name / ".ipynb_checkpoints" / "copy.png", 128)
        Image.new("L", (4, 4), 128).save(root / name / "old.png.bak", format="PNG")
    save(root / "loose.png", 128)  # directly in root: no class
    save(root / ".cache" / "x.png", 128)  # a hidden folder is no class
    (root / "README.txt").write_text("a tree of images")
    return root


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return make_tree(tmp_path_factory.mktemp("images") / "root")


def class_means(data, train):
    images = data.train_images if train else data.val_images
    labels = data.train_labels if train else data.val_labels
    return {data.classes[label]: images[labels == label].reshape(-1, images.shape[-1]
                                                                ).mean(axis=0)
            for label in np.unique(labels)}


def test_classes_labels_and_pixels_come_from_the_folders(tree):
    lines = []
    data = ImageFolder(tree, batch_size=4, resize=(16, 16), validation_split=0.34, log=lines.append)
    assert data.classes == ["dark", "light"] and data.num_classes == 2
    assert data.in_channels == 3 and data.resize == (16, 16) and data.image_shape == (16, 16, 3)
    assert data.text_labels([1, 0]) == ["light", "dark"]
    for train in (True, False):
        images = data.train_images if train else data.val_images
        assert images.dtype == np.uint8 and images.shape[1:] == (16, 16, 3)
        means = class_means(data, train)
        assert abs(means["dark"] - DARK).max() < 3 and abs(means["light"] - LIGHT).max() < 3
        # each image on its own, too (JPEG is lossy: loosely)
        for image, label in zip(images, data.train_labels if train else data.val_labels):
            assert abs(image.mean() - (DARK, LIGHT)[label]) < 3
    every = sorted(data.files(True) + data.files(False))
    assert every == [f"{name}/{file}" for name in ("dark", "light") for file in FILES_PER_CLASS]
    assert len(lines) == 1 and "2 classes" in lines[0] and "8 training and 4 validation" in lines[0]
    assert set(data.hparams) >= {"root", "batch_size", "resize", "seed", "color_mode"}
    assert all(not isinstance(value, np.ndarray) for value in data.hparams.values())
    images, labels = next(data.raw_batches(True))
    assert images.shape == (4, 16, 16, 3) and labels.dtype == np.int64


def test_files_are_listed_with_their_labels(tree):
    data = ImageFolder(tree, resize=16, log=None)
    for train in (True, False):
        labels = data.train_labels if train else data.val_labels
        assert len(data.files(train)) == len(labels)
        for path, label in zip(data.files(train), labels):
            assert path.split("/")[0] == data.classes[label]
            with Image.open(tree / path) as image:  # the file really is that class's colour
                assert abs(np.asarray(image.convert("L"), float).mean()
                           - (DARK, LIGHT)[label]) < 3


def test_grayscale_and_a_rectangular_resize(tree):
    data = ImageFolder(tree, resize=(12, 20), color_mode="grayscale", log=None)
    assert data.in_channels == 1 and data.train_images.shape[1:] == (12, 20, 1)
    assert data.resize == (12, 20)
    means = class_means(data, True)
    assert abs(means["dark"] - DARK).max() < 3 and abs(means["light"] - LIGHT).max() < 3


def test_the_split_is_stratified_and_seeded(tree):
    def split_of(seed):
        data = ImageFolder(tree, resize=8, validation_split=0.34, seed=seed, log=None)
        assert not set(data.files(True)) & set(data.files(False))
        assert sorted(np.unique(data.val_labels)) == [0, 1]  # every class in validation
        assert np.bincount(data.val_labels).tolist() == [2, 2]  # round(6 * 0.34) each
        return data.files(False)

    assert split_of(0) == split_of(0)
    assert split_of(0) != split_of(1)


def test_a_small_class_still_gives_one_image_to_validation(tmp_path):
    save(tmp_path / "a" / "1.png", DARK)
    save(tmp_path / "a" / "2.png", DARK)
    for index in range(3):
        save(tmp_path / "b" / f"{index}.png", LIGHT)
    data = ImageFolder(tmp_path, resize=8, validation_split=0.1, log=None)
    assert np.bincount(data.val_labels).tolist() == [1, 1]
    assert np.bincount(data.train_labels).tolist() == [1, 2]


def test_a_separate_validation_folder(tree, tmp_path):
    val_root = tmp_path / "val"
    save(val_root / "dark" / "v.png", DARK, size=(16, 16))
    save(val_root / "light" / "w.jpg", LIGHT)
    save(val_root / "light" / "nested" / "x.png", LIGHT, "L")
    data = ImageFolder(tree, resize=16, val_root=val_root, log=None)
    assert data.files(False) == ["dark/v.png", "light/nested/x.png", "light/w.jpg"]
    np.testing.assert_array_equal(data.val_labels, [0, 1, 1])
    assert len(data.files(True)) == 12  # all of root is for training
    means = class_means(data, False)
    assert abs(means["dark"] - DARK).max() < 3 and abs(means["light"] - LIGHT).max() < 3

    other = tmp_path / "other"
    save(other / "dark" / "v.png", DARK)
    save(other / "medium" / "v.png", 128)
    message = refusal(ImageFolder, tree, resize=16, val_root=other, log=None)
    assert "missing light" in message and "extra medium" in message


def test_linked_subfolders_are_followed_and_a_link_loop_is_walked_once(tmp_path):
    root = tmp_path / "root"
    save(root / "a" / "1.png", DARK)
    save(root / "b" / "1.png", LIGHT)
    save(tmp_path / "elsewhere" / "2.png", DARK)
    (root / "a" / "more").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    (root / "a" / "more" / "loop").symlink_to(root / "a", target_is_directory=True)
    (root / "b" / "up").symlink_to(root, target_is_directory=True)  # root: all of a, b again
    images, labels, classes, paths = folder_images(root, resize=4, log=None)
    assert classes == ["a", "b"]
    assert paths == ["a/1.png", "a/more/2.png", "b/1.png", "b/up/a/1.png", "b/up/a/more/2.png"]
    np.testing.assert_array_equal(labels, [0, 0, 1, 1, 1])


def test_a_validation_folder_copied_from_macos_matches_by_name_with_the_same_labels(tmp_path):
    # NFD "e\u0301cru" sorts before "fig", NFC "\u00e9cru" after it: the labels are root's.
    composed, decomposed = ["eclair", "\u00e9cru", "fig"], ["eclair", "e\u0301cru", "fig"]
    shades = {"eclair": 10, "\u00e9cru": 120, "fig": 230}  # by the composed name
    for folder, names in (("train", composed), ("val", decomposed)):
        for name in names:
            shade = shades[unicodedata.normalize("NFC", name)]
            save(tmp_path / folder / name / "1.png", shade, "L", (4, 4))
    data = ImageFolder(tmp_path / "train", resize=4, val_root=tmp_path / "val", log=None)
    assert data.classes == ["eclair", "fig", "\u00e9cru"]
    for train in (True, False):
        images, labels = ((data.train_images, data.train_labels) if train
                          else (data.val_images, data.val_labels))
        means = {data.classes[label]: images[labels == label].mean() for label in labels}
        assert means == {"eclair": 10, "fig": 230, "\u00e9cru": 120}, (train, means)
    assert data.files(False) == ["eclair/1.png", "fig/1.png", "e\u0301cru/1.png"]  # as on disk

    save(tmp_path / "val" / "\u00e9cru" / "1.png", 120, "L", (4, 4))  # both forms in val_root
    message = refusal(ImageFolder, tmp_path / "train", resize=4, val_root=tmp_path / "val",
                      log=None)
    assert "other classes than root" in message and "extra \u00e9cru;" in message


def test_a_class_folder_whose_name_is_not_utf8_is_named_by_text_a_weights_file_can_hold(
        tmp_path):
    """A Latin-1 folder name (from an old disk) came through as Python's surrogate escapes,
    which no weights file or checkpoint can hold as text: saving them failed after training."""
    root = tmp_path / "train"
    for name, shade in ((b"caf\xe9", 40), (b"tea", 200)):
        folder = os.path.join(os.fsencode(root), name)
        os.makedirs(folder)
        Image.new("L", (4, 4), shade).save(os.path.join(folder, b"1.png"), format="PNG")
        Image.new("L", (4, 4), shade).save(os.path.join(folder, b"2.png"), format="PNG")
    data = ImageFolder(root, resize=4, validation_split=0.5, log=None)
    assert data.classes == ["caf\\xe9", "tea"]
    "".join(data.classes).encode("utf-8")  # raised UnicodeEncodeError
    means = {data.classes[label]: data.train_images[data.train_labels == label].mean()
             for label in (0, 1)}
    assert means == {"caf\\xe9": 40, "tea": 200}
    assert folder_color_mode(root) == "grayscale"
    assert os.path.exists(root / data.files(True)[0])  # the files by their names on disk


def write_unreadable(folder):
    """A text file named .png and a PNG cut in half (noise: the cut falls in its pixel data)."""
    (folder / "dark" / "bad.png").write_text("this is text, not a PNG")
    noise = np.random.default_rng(1).integers(0, 256, (40, 40, 3), dtype=np.uint8)
    Image.fromarray(noise).save(folder / "light" / "cut.png")
    whole = (folder / "light" / "cut.png").read_bytes()
    (folder / "light" / "cut.png").write_bytes(whole[:len(whole) // 2])


def test_unreadable_files_are_named_in_one_line(tmp_path):
    root = tmp_path / "root"
    write_unreadable(make_tree(root))
    message = refusal(ImageFolder, root, resize=16, log=None)
    assert "2 unreadable" in message and "dark/bad.png" in message and "light/cut.png" in message
    assert "skip_unreadable=True" in message


def test_skipping_unreadable_files_says_so_once_and_loads_the_rest(tmp_path):
    root = tmp_path / "root"
    write_unreadable(make_tree(root))
    lines = []
    data = ImageFolder(root, resize=16, skip_unreadable=True, log=lines.append)
    about_skipping = [line for line in lines if "skipped" in line]
    assert len(about_skipping) == 1 and "\n" not in about_skipping[0]
    assert "2 unreadable" in about_skipping[0] and "dark/bad.png" in about_skipping[0]
    assert "light/cut.png" in about_skipping[0]
    assert data.skipped == ["dark/bad.png", "light/cut.png"]
    assert data.num_examples(True) + data.num_examples(False) == 12
    assert "dark/bad.png" not in data.files(True) + data.files(False)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_skipping_unreadable_files_splits_as_removing_them_would(tmp_path, seed):
    """The split was drawn over every file, then the unreadable ones dropped: a class of 3 good
    and 7 bad files could keep no validation image (the README promises each class's
    validation_split, and at least one from two images)."""
    shades = np.random.default_rng(seed).integers(0, 256, 13)
    for name, good, bad in (("cat", 3, 7), ("dog", 10, 0)):
        for folder in ("skipped", "removed"):
            (tmp_path / folder / name).mkdir(parents=True)
            for index in range(good):
                shade = int(shades[index + (3 if name == "dog" else 0)])
                save(tmp_path / folder / name / f"good{index}.png", shade, "L", (4, 4))
        for index in range(bad):
            (tmp_path / "skipped" / name / f"bad{index}.png").write_text("not a PNG")
    skipped = ImageFolder(tmp_path / "skipped", resize=4, seed=seed, skip_unreadable=True,
                          log=None)
    removed = ImageFolder(tmp_path / "removed", resize=4, seed=seed, log=None)
    assert np.bincount(skipped.val_labels).tolist() == [1, 2]  # round(0.2 * 3), 0.2 * 10
    for train in (True, False):
        assert skipped.files(train) == removed.files(train)
    np.testing.assert_array_equal(skipped.train_images, removed.train_images)
    np.testing.assert_array_equal(skipped.val_images, removed.val_images)
    np.testing.assert_array_equal(skipped.train_labels, removed.train_labels)


def test_a_class_that_skipping_leaves_without_training_images_is_refused(tmp_path):
    root = make_tree(tmp_path / "root")
    (root / "broken").mkdir()
    for index in range(3):
        (root / "broken" / f"{index}.png").write_text("not a PNG")
    message = refusal(ImageFolder, root, resize=16, skip_unreadable=True, log=None)
    assert message.endswith("no training images left in class folder(s) broken after skipping "
                            "3 unreadable; repair or replace their files"), message
    # Without skip_unreadable the first refusal says it already: skipping them (or removing
    # them) is no way out; it had offered both, each refused in turn.
    message = refusal(ImageFolder, root, resize=16, log=None)
    assert message.endswith("; repair or replace them: the class folder(s) broken would have "
                            "no training image left without them"), message


def test_a_class_with_one_readable_image_is_not_said_to_lose_its_training_images(tmp_path):
    """Where the split had put the readable one into validation, the refusal said skipping
    would leave the class no training image; the split is drawn again over the files read."""
    root = make_tree(tmp_path / "root")
    save(root / "few" / "a.png", 128)
    (root / "few" / "b.png").write_text("not a PNG")
    for seed in range(6):  # b.png to training for some seeds, to validation for others
        message = refusal(ImageFolder, root, resize=16, seed=seed, log=None)
        assert message.endswith("remove or repair them, or pass skip_unreadable=True"), message
        data = ImageFolder(root, resize=16, seed=seed, skip_unreadable=True, log=None)
        assert data.files(True).count("few/a.png") == 1


def test_an_empty_class_folder_is_refused(tmp_path):
    make_tree(tmp_path)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "README.txt").write_text("no images here")
    message = refusal(ImageFolder, tmp_path, resize=16, log=None)
    assert "empty" in message and "no images" in message


@pytest.mark.parametrize("problem", ["missing", "a file", "no classes"])
def test_a_root_without_class_folders_is_refused(tmp_path, problem):
    root = tmp_path / "root"
    if problem == "a file":
        root.write_text("not a folder")
    elif problem == "no classes":
        save(root / "loose.png", DARK)
    message = refusal(ImageFolder, root, log=None)
    assert str(root) in message
    assert {"missing": "does not exist", "a file": "not a directory",
            "no classes": "no class subfolders"}[problem] in message


@pytest.mark.parametrize("kwargs, key_words", [
    ({"color_mode": "rgba"}, ["color_mode", "'rgba'"]),
    ({"validation_split": 0}, ["val_root=", "validation_split"]),
    ({"validation_split": 1.0}, ["[0, 1)", "1.0"]),
    ({"batch_size": 0}, ["batch_size"]),
    ({"resize": (16,)}, ["resize", "(16,)"]),
    ({"skip_unreadable": "no"}, ["skip_unreadable must be True or False, got 'no'"]),
    ({"augment": "False"}, ["augment must be True or False, got 'False'"]),
])
def test_bad_arguments_are_refused_before_reading(tmp_path, kwargs, key_words):
    # The root does not exist: a refusal about the arguments shows they are checked first.
    message = refusal(ImageFolder, tmp_path / "nowhere", **kwargs, log=None)
    assert message.startswith("ImageFolder: ")
    for words in key_words:
        assert words in message, (words, message)


# ---- every kind of picture comes out as it looks -----------------------------------------------

def two_class_folder(root, name, write):
    """``write(path)`` makes the file ``name`` in class "a"; class "b" holds a plain grey one."""
    (root / "a").mkdir(parents=True)
    write(root / "a" / name)
    save(root / "b" / "grey.png", 128, mode="L", size=(4, 4))
    return root


def read_one(root, **kwargs):
    data = ImageFolder(root, resize=(4, 4), val_root=root, log=None, **kwargs)
    return data.train_images[data.train_labels == 0][0]


def test_a_16_bit_png_is_scaled_to_8_bits_not_clipped_white(tmp_path):
    values = np.linspace(0, 63960, 16).reshape(4, 4).astype(np.uint16)
    root = two_class_folder(tmp_path, "deep.png", lambda path: Image.fromarray(values).save(path))
    assert Image.open(root / "a" / "deep.png").mode == "I;16"  # what Pillow reads it as
    expected = np.rint(values / 257).astype(np.uint8)
    np.testing.assert_array_equal(read_one(root, color_mode="grayscale")[..., 0], expected)
    np.testing.assert_array_equal(read_one(root), np.repeat(expected[..., None], 3, axis=-1))


def image_of(mode, values, **info):
    image = Image.fromarray(np.asarray(values), mode) if mode in ("I", "F") else Image.new(
        mode, (4, 4), values)
    image.info.update(info)
    return image


# mode (and how it is saved) -> what each of its 4×4 pixels must look like in RGB
PICTURES = {
    "I with 16-bit values": (lambda path: image_of("I", np.full((4, 4), 51400, np.int32)).save(
        path.with_suffix(".tif")), (200, 200, 200)),
    "F in [0, 1]": (lambda path: image_of("F", np.full((4, 4), 0.5, np.float32)).save(
        path.with_suffix(".tif")), (128, 128, 128)),
    "F in 0..255": (lambda path: image_of("F", np.full((4, 4), 77.0, np.float32)).save(
        path.with_suffix(".tif")), (77, 77, 77)),
    # A [0, 1] picture whose white a rounding took past 1: white, not 1 of 255 (near black).
    "F in [0, 1], white a rounding above 1": (lambda path: image_of(
        "F", np.full((4, 4), 1.0000001, np.float32)).save(path.with_suffix(".tif")),
        (255, 255, 255)),
    "palette with a transparent entry": (lambda path: Image.new("P", (4, 4), 0).save(
        path, transparency=0), (255, 255, 255)),
    "LA, transparent": (lambda path: Image.new("LA", (4, 4), (0, 0)).save(path),
                        (255, 255, 255)),
    "RGBA, half transparent red": (lambda path: Image.new("RGBA", (4, 4), (255, 0, 0, 128)).save(
        path), (255, 127, 127)),
    "CMYK cyan": (lambda path: Image.new("CMYK", (4, 4), (255, 0, 0, 0)).save(
        path.with_suffix(".tif")), (0, 255, 255)),
    "1-bit white": (lambda path: Image.new("1", (4, 4), 1).save(path), (255, 255, 255)),
    "Lab mid grey": (lambda path: Image.new("LAB", (4, 4), (128, 128, 128)).save(
        path.with_suffix(".tif")), (119, 119, 119)),
}


@pytest.mark.parametrize("case", list(PICTURES))
def test_every_image_mode_gives_the_picture_it_shows(tmp_path, case):
    write, colour = PICTURES[case]
    root = two_class_folder(tmp_path, "picture.png", write)
    rgb = read_one(root).astype(int)
    assert np.abs(rgb - np.array(colour)).max() <= 2, (case, rgb[0, 0])
    grey = read_one(root, color_mode="grayscale").astype(int)
    assert np.abs(grey[..., 0] - round(np.dot(colour, (0.299, 0.587, 0.114)))).max() <= 2, case


@pytest.mark.parametrize("case", ["palette with a transparent entry", "LA, transparent",
                                  "RGBA, half transparent red", "CMYK cyan", "1-bit white"])
def test_a_pillow_older_than_10_1_reads_every_picture_alike(tmp_path, monkeypatch, case):
    # Image.has_transparency_data is new in Pillow 10.1; pyproject.toml takes Pillow 9.1 on.
    write, colour = PICTURES[case]
    root = two_class_folder(tmp_path, "picture.png", write)
    monkeypatch.delattr(Image.Image, "has_transparency_data")
    assert np.abs(read_one(root).astype(int) - np.array(colour)).max() <= 2, case


def test_transparency_is_told_alike_with_and_without_pillows_own_answer(monkeypatch):
    alpha_palette = Image.new("P", (4, 4), 0)
    alpha_palette.putpalette([0, 0, 0, 0] * 256, rawmode="RGBA")
    images = [Image.new("RGB", (4, 4)), Image.new("L", (4, 4)), Image.new("P", (4, 4)),
              Image.new("LA", (4, 4)), Image.new("RGBA", (4, 4)), alpha_palette,
              image_of("L", 0, transparency=0)]
    expected = [image.has_transparency_data for image in images]
    assert expected == [False, False, False, True, True, True, True]
    monkeypatch.delattr(Image.Image, "has_transparency_data")
    assert [_has_transparency(image) for image in images] == expected


def test_a_photo_is_turned_upright_by_its_exif_orientation(tmp_path):
    def write(path):
        halves = np.zeros((4, 4), np.uint8)
        halves[:, 2:] = 255  # dark left, light right, as stored
        exif = Image.Exif()
        exif[0x0112] = 3  # orientation: rotated 180°, so it shows light left, dark right
        Image.fromarray(halves).save(path, exif=exif)

    grey = read_one(two_class_folder(tmp_path, "photo.png", write), color_mode="grayscale")
    assert grey[:, :2].min() == 255 and grey[:, 2:].max() == 0


@pytest.mark.parametrize("compression", [None, "tiff_lzw"])
def test_a_tiff_turned_by_its_orientation_tag_is_upright_compressed_or_not(tmp_path,
                                                                            compression):
    """Pillow turns a TIFF by its orientation tag as it loads it; an uncompressed one opened by
    its name was memory-mapped at the turned width, a scramble of stripes."""
    stored = np.zeros((4, 6), np.uint8)
    stored[:, :2] = 255  # light left third, as stored; orientation 6 shows it on top

    path = tmp_path / "turned.tif"
    Image.fromarray(stored).save(path, tiffinfo={0x0112: 6}, compression=compression)
    shown = read_image(path, "grayscale", resize=(6, 4))[..., 0]  # 6 high, 4 wide: no resize
    np.testing.assert_array_equal(shown, np.rot90(stored, -1))  # turned clockwise


def test_pixels_beyond_16_bits_are_an_unreadable_file_with_the_reason(tmp_path):
    root = two_class_folder(tmp_path, "wide.tif", lambda path: image_of(
        "I", np.full((4, 4), 1 << 20, np.int32)).save(path))
    message = refusal(ImageFolder, root, resize=4, val_root=root, log=None)
    assert "a/wide.tif" in message and "beyond 16 bits" in message


# ---- one file, a folder's classes and colours: what the command line reads -----------------

@pytest.mark.parametrize("case", list(PICTURES))
def test_read_image_reads_a_file_as_imagefolder_does(tmp_path, case):
    root = two_class_folder(tmp_path, "picture.png", PICTURES[case][0])
    (path,) = (root / "a").iterdir()
    for color_mode in ("rgb", "grayscale"):
        np.testing.assert_array_equal(read_image(path, color_mode, resize=4),
                                      read_one(root, color_mode=color_mode))


@pytest.mark.parametrize("problem, words", [
    ("text", "not an image Pillow can read"), ("missing", "no such file"),
    ("folder", "is a directory"), ("empty", "picture.png: empty (0 bytes)"),
    ("link to nothing", "picture.png: a link to gone.png, which does not exist"),
    ("floats beyond 1", "picture.tif: float pixels from 0 to 1.25 lie beyond [0, 1]")])
def test_read_image_refuses_what_is_not_an_image_in_one_line(tmp_path, problem, words):
    """What is wrong, where it is known: an empty file was "not an image Pillow can read", a
    link to nothing "no such file" (ls lists it), pixel values Pillow had read "not an image
    Pillow can read" with advice to pass another format."""
    path = tmp_path / "picture.png"
    if problem == "text":
        path.write_text("not a picture")
    elif problem == "folder":
        path.mkdir()
    elif problem == "empty":
        path.write_bytes(b"")
    elif problem == "link to nothing":
        path.symlink_to("gone.png")
    elif problem == "floats beyond 1":
        path = path.with_suffix(".tif")
        image_of("F", np.linspace(0, 1.25, 16, dtype=np.float32).reshape(4, 4)).save(path)
    message = refusal(read_image, path)
    assert str(path) in message and words in message
    if problem not in ("text", "folder"):
        assert "Pillow can read" not in message and "pass PNG" not in message


def test_float_pixels_a_little_beyond_1_are_neither_guessed_dark_nor_bright(tmp_path):
    """A float picture whose brightest pixel lies between 1 and 2 is [0, 1] gone beyond it or
    a nearly black 0..255: it was read as 0..255, every pixel 0 or 1 of 255; now refused."""
    root = two_class_folder(tmp_path, "ramp.tif", lambda path: image_of(
        "F", np.linspace(0, 1.02, 16, dtype=np.float32).reshape(4, 4)).save(path))
    message = refusal(ImageFolder, root, resize=4, val_root=root, log=None)
    assert "a/ramp.tif: float pixels from 0 to 1.02 lie beyond [0, 1]" in message
    bright = two_class_folder(tmp_path / "two", "ramp.tif", lambda path: image_of(
        "F", np.linspace(0, 2, 16, dtype=np.float32).reshape(4, 4)).save(path))
    assert read_one(bright, color_mode="grayscale")[3, 3, 0] == 2  # 0..255 from 2 up


def test_a_16_bit_grey_png_shows_white_where_its_file_marks_a_value_transparent(tmp_path):
    """PNG's tRNS for 16-bit grey names one 16-bit value: scaling to 8 bits dropped it, and the
    transparent pixels showed the grey they store. 1001, beside the transparent 1000, is
    the same 8-bit grey, and stays opaque."""
    values = np.full((4, 4), 1000, np.uint16)
    values[:, 2:] = 1001

    def write(path):
        Image.fromarray(values).save(path, transparency=1000)

    root = two_class_folder(tmp_path, "marked.png", write)
    assert Image.open(root / "a" / "marked.png").info["transparency"] == 1000
    grey = read_one(root, color_mode="grayscale")[..., 0]
    assert (grey[:, :2] == 255).all() and (grey[:, 2:] == 4).all(), grey


def test_imagefolder_reads_jpegs_and_netpbm_files_by_every_usual_name(tmp_path):
    """.jfif (how Windows' browsers save photos), .jpe, and the Netpbm .ppm, .pgm and .pbm
    (which torchvision's ImageFolder reads) were passed over without a word: a class of five
    such files was refused as having too few images."""
    for name in ("cats", "dogs"):
        for index, (suffix, format_name) in enumerate(((".jfif", "JPEG"), (".JPE", "JPEG"),
                                                       (".ppm", "PPM"), (".pgm", "PPM"),
                                                       (".pbm", "PPM"))):
            mode = {".pgm": "L", ".pbm": "1"}.get(suffix, "RGB")
            path = tmp_path / name / f"{index}{suffix}"
            path.parent.mkdir(exist_ok=True)
            Image.new(mode, (6, 6), 1 if mode == "1" else 0).save(path, format_name)
    data = ImageFolder(tmp_path, resize=4, validation_split=0.2, log=None)
    assert sorted(data.files(True) + data.files(False)) == sorted(
        f"{name}/{index}{suffix}" for name in ("cats", "dogs")
        for index, suffix in enumerate((".jfif", ".JPE", ".ppm", ".pgm", ".pbm")))


def test_pillows_warning_about_a_file_names_the_file(tmp_path):
    """"Corrupt EXIF data" came from Pillow naming no file: in a folder of thousands, which?"""
    exif = Image.Exif()
    exif[0x0112] = 6
    root = two_class_folder(tmp_path, "cut.jpg", lambda path: Image.new("RGB", (4, 4)).save(
        path, exif=exif.tobytes()[:-4]))  # its EXIF block cut short
    with pytest.warns(UserWarning) as caught:
        read_one(root)
    assert {str(warning.message).split(": ", 1)[0] for warning in caught} == {
        str(root / "a" / "cut.jpg")}
    assert "Corrupt EXIF data" in str(caught[0].message)


def test_an_empty_folder_name_is_refused_not_taken_for_the_current_folder(tmp_path,
                                                                            monkeypatch):
    """``--image-folder ""`` listed the current folder's subfolders as classes."""
    make_tree(tmp_path)  # classes here, where "" would find them
    monkeypatch.chdir(tmp_path)
    assert "--image-folder is an empty path" in refusal(folder_classes, "", "--image-folder")
    assert "root is an empty path" in refusal(ImageFolder, "", log=None)
    assert "val_root is an empty path" in refusal(ImageFolder, tmp_path, val_root="", log=None)
    assert "root is an empty path" in refusal(folder_images, "", log=None)


def test_an_image_folders_refusal_says_what_is_wrong_with_the_first_file(tmp_path):
    root = two_class_folder(tmp_path, "empty.png", lambda path: path.write_bytes(b""))
    message = refusal(ImageFolder, root, resize=4, val_root=root, log=None)
    assert "a/empty.png: empty (0 bytes): copy the image again)" in message


def test_folder_images_reads_every_image_of_every_class(tree):
    images, labels, classes, paths = folder_images(tree, "rgb", (16, 16), log=None)
    whole = ImageFolder(tree, resize=(16, 16), val_root=tree, log=None)
    assert classes == whole.classes and paths == whole.files(True)
    np.testing.assert_array_equal(images, whole.train_images)
    np.testing.assert_array_equal(labels, whole.train_labels)


def test_folder_classes_lists_without_decoding_and_refuses_what_imagefolder_refuses(tmp_path,
                                                                                    tree):
    assert folder_classes(tree) == ["dark", "light"]
    save(tmp_path / "cats" / "1.png", 30)
    message = refusal(folder_classes, tmp_path, "--image-folder")
    assert "--image-folder" in message and "one class folder (cats)" in message
    (tmp_path / "dogs").mkdir()
    assert "dogs" in refusal(folder_classes, tmp_path) and "no images" in refusal(
        folder_classes, tmp_path)


def test_a_folder_is_greyscale_only_when_every_image_is(tmp_path, tree):
    grey = tmp_path / "grey"
    save(grey / "a" / "l.png", 30, mode="L")
    Image.new("LA", (4, 4), (10, 0)).save(grey / "a" / "la.png")
    (grey / "b").mkdir()
    Image.fromarray(np.full((4, 4), 1000, np.uint16)).save(grey / "b" / "deep.png")
    palette = Image.new("P", (4, 4), 1)
    palette.putpalette([0, 0, 0, 90, 90, 90])  # two greys
    palette.save(grey / "b" / "palette.png")
    (grey / "b" / "bad.png").write_text("unreadable: left for ImageFolder to name")
    assert folder_color_mode(grey) == "grayscale"
    assert folder_color_mode(tree) == "rgb"  # RGB and greyscale files: RGB loses nothing
    palette.putpalette([0, 0, 0, 90, 0, 0])  # a red
    palette.save(grey / "b" / "palette.png")
    assert folder_color_mode(grey) == "rgb"


# ---- a classifier needs two classes ----------------------------------------------------------

def test_one_class_is_refused(tmp_path):
    save(tmp_path / "cats" / "1.png", 30)
    save(tmp_path / "cats" / "2.png", 40)
    message = refusal(ImageFolder, tmp_path, resize=4, log=None)
    assert "one class folder (cats)" in message and "at least two" in message
    images = pixels((4, 5, 5))
    assert "classes names one class only (['cat'])" in refusal(
        ArrayData, (images, np.zeros(4, int)), (images, np.zeros(4, int)), classes=["cat"])


# ---- file names that are not UTF-8 ---------------------------------------------------------------

def test_a_file_name_that_is_not_utf8_is_printed_escaped(tmp_path):
    import os
    import subprocess
    import sys

    make_tree(tmp_path / "root")
    with open(os.fsencode(tmp_path / "root" / "dark") + b"/bad\xff.png", "wb") as stream:
        stream.write(b"not a PNG")
    script = ("import sys\nfrom d2l_alexnet.core.images import ImageFolder\n"
              "from d2l_alexnet.core.data import DataError\n"
              "ImageFolder(sys.argv[1], resize=8, skip_unreadable=True)\n"
              "try:\n    ImageFolder(sys.argv[1], resize=8, log=None)\n"
              "except DataError as error:\n    print(error)\n")
    env = dict(os.environ, PYTHONIOENCODING="utf-8:strict")
    result = subprocess.run([sys.executable, "-c", script, str(tmp_path / "root")], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "skipped 1 unreadable image file: dark/bad\\xff.png" in lines[0], lines
    assert "1 unreadable image file: dark/bad\\xff.png (dark/bad\\xff.png: " in lines[-1], lines


def test_a_large_photo_reads_quietly_and_one_beyond_pillows_limit_is_told_to_shrink(
        tmp_path, monkeypatch, recwarn):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 150)  # Pillow's limit, scaled down
    large, huge = tmp_path / "large.png", tmp_path / "huge.png"
    Image.new("L", (12, 20), 90).save(large)  # 240 pixels: above the limit, within twice it
    Image.new("L", (20, 20), 90).save(huge)  # 400: beyond twice the limit
    assert read_image(large, "grayscale", 8).shape == (8, 8, 1)
    assert not [warning for warning in recwarn
                if issubclass(warning.category, Image.DecompressionBombWarning)]
    message = refusal(read_image, huge, "grayscale", 8)
    assert ": larger than Pillow decodes" in message and "downscale it" in message


# ---- predict's numpy images: the layout settled by the model's channels ----------------------

class TinyModel(ModuleContract):
    """A backend's model as far as predict goes: NCHW, built for 4×4 inputs; it keeps the
    channels-last images predict hands it."""

    LAYOUT, BACKEND = "NCHW", "pytorch"

    def __init__(self, in_channels):
        self.in_channels, self.resize, self.num_classes = in_channels, 4, 2
        self.inputs = []

    def images_to_input(self, images):  # (channels-last, as predict hands them over)
        self.inputs.append(images)
        return np.zeros((len(images), self.in_channels, 4, 4), np.float32)

    def evaluate_batch(self, X, features):
        return np.zeros((len(X), 2), np.float32)


@pytest.mark.parametrize("in_channels, shape, channels_last_shape", [
    (3, (2, 1, 1, 3), (2, 1, 1, 3)),  # an RGB model: the last axis holds its 3 channels
    (1, (2, 1, 1, 3), (2, 1, 3, 1)),  # a greyscale one: the first
    (3, (2, 3, 5, 3), None),          # both ends could: no layout= to say which
    (4, (2, 1, 1, 3), None),          # neither end holds the model's channels
])
def test_predict_reads_an_ambiguous_shape_by_the_models_channels_or_says_what_to_do(
        in_channels, shape, channels_last_shape):
    model = TinyModel(in_channels)
    images = pixels(shape)
    if channels_last_shape is not None:
        assert model.predict(images).tolist() == [0, 0]
        assert model.inputs[0].shape == channels_last_shape
        return
    with pytest.raises(InputShapeError) as caught:
        model.predict(images)
    message = str(caught.value)
    assert "\n" not in message and "layout=" not in message  # predict takes no layout=
    if in_channels == 3:
        assert "both ends could" in message
        assert "a float32 NCHW tensor of shape (2, 3, 4, 4)" in message
        assert "torch.as_tensor(X)" in message
    else:
        assert "takes 4 (in_channels=4): give images of 4 channel(s)" in message


def test_the_batch_shape_of_a_model_without_a_size_is_refused_in_one_line():
    """A lesson's model with no resize= raised "cannot unpack non-iterable NoneType"."""
    model = TinyModel(3)
    assert model.input_batch_shape(2) == (2, 3, 4, 4)
    model.resize = None
    with pytest.raises(InputShapeError, match=r"^TinyModel.input_batch_shape needs the model's "
                                              r"input size, .*\(it has no resize=\): write the "
                                              r"batch's shape yourself, .*\(NCHW\)$"):
        model.input_batch_shape()
