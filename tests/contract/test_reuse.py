"""AlexNet in another lesson, the same in every backend (``pytest tests/contract --backend B``).

RGB or any channel count, any input size (non-square too), the lesson's own data (numpy arrays,
a folder of image files, or a book-style data module whose loaders yield ``(X, y)``), inference
and features, fine-tuning from a file of another channel count and number of classes, and a one-
line refusal, naming the argument that fixes it, for everything that does not fit.
"""


import json

import numpy as np
import pytest

from d2l_alexnet.core.data import DataError
from d2l_alexnet.core.module import InputShapeError
from d2l_alexnet.core.weights import WeightsError, load_safetensors
from repository import child_env

SMALL = 67  # the smallest input AlexNet accepts: keeps every test here to seconds
CLASSES = 3


def colour_images(count, seed=0, size=(SMALL, SMALL)):
    """A synthetic, learnable RGB task: class c is the image whose channel c is bright, with
    pixel noise everywhere. uint8 ``(N, H, W, 3)`` and int64 labels, classes balanced."""
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % CLASSES
    images = rng.integers(20, 110, size=(count, *size, 3))
    images[np.arange(count), :, :, labels] += 120
    return images.astype(np.uint8), labels.astype(np.int64)


def one_line(error):
    text = str(error.value)
    assert "\n" not in text, text
    return text


@pytest.fixture
def rgb_model(d2l):
    d2l.set_seed(0)
    return d2l.AlexNet(lr=0.02, num_classes=CLASSES, in_channels=3, resize=SMALL)


# ---- training on the lesson's own data ------------------------------------------------------

def test_an_rgb_three_class_task_trains_clearly_above_chance(d2l, rgb_model):
    train = colour_images(96, seed=0)
    val = colour_images(48, seed=1)
    data = d2l.ArrayData(train, val, batch_size=16)
    assert (data.in_channels, data.num_classes, data.resize) == (3, 3, (SMALL, SMALL))
    history = d2l.Trainer(max_epochs=4, progress=False, log=None).fit(rgb_model, data)
    assert history[-1]["val_acc"] >= 0.8, history  # chance is 1/3
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    predictions = rgb_model.predict(val[0])
    assert np.mean(predictions == val[1]) == pytest.approx(history[-1]["val_acc"], abs=1e-6)


def test_a_non_square_model_trains_on_non_square_data(d2l):
    model = d2l.AlexNet(lr=0.01, num_classes=CLASSES, in_channels=3, resize=(SMALL, 80))
    images, labels = colour_images(16, size=(40, 48))
    data = d2l.ArrayData((images, labels), (images, labels), batch_size=8, resize=(SMALL, 80))
    history = d2l.Trainer(max_epochs=1, progress=False, log=None).fit(model, data)
    assert np.isfinite(history[0]["train_loss"])
    assert model.predict(images).shape == (16,)


def write_image_folder(root, per_class=6):
    """Three class folders of real PNG and JPEG files of different sizes, greyscale among them."""
    from PIL import Image

    images, labels = colour_images(CLASSES * per_class, seed=3, size=(40, 40))
    for index, (image, label) in enumerate(zip(images, labels)):
        folder = root / ("red", "green", "blue")[label]
        folder.mkdir(parents=True, exist_ok=True)
        picture = Image.fromarray(image)
        if index % 3 == 0:
            picture.resize((30, 44)).save(folder / f"{index}.png")
        elif index % 3 == 1:
            picture.save(folder / f"{index}.jpg", quality=95)
        else:
            picture.save(folder / f"{index}.png")
    Image.fromarray(images[0, :, :, 0]).save(root / "red" / "grey.png")  # an "L" image
    (root / "notes.txt").write_text("not an image")
    return root


def test_an_image_folder_of_real_files_trains_one_epoch(d2l, rgb_model, tmp_path):
    root = write_image_folder(tmp_path / "images")
    lines = []
    data = d2l.ImageFolder(root, batch_size=8, resize=SMALL, validation_split=0.25,
                           log=lines.append)
    assert data.classes == ["blue", "green", "red"] and data.in_channels == 3
    assert data.num_examples(True) + data.num_examples(False) == 19
    assert len(lines) == 1 and "3 classes" in lines[0]
    history = d2l.Trainer(max_epochs=1, progress=False, log=None).fit(rgb_model, data)
    assert np.isfinite(history[0]["train_loss"]) and 0.0 <= history[0]["val_acc"] <= 1.0
    X, y = next(iter(data.train_dataloader()))
    assert tuple(X.shape) == rgb_model.input_batch_shape(len(y))  # the backend's own layout
    assert data.text_labels([0, 2]) == ["blue", "red"]


def test_an_unreadable_image_file_is_named(d2l, tmp_path):
    root = write_image_folder(tmp_path / "images", per_class=2)
    (root / "green" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    with pytest.raises(DataError) as error:
        d2l.ImageFolder(root, batch_size=4, resize=SMALL, log=None)
    assert "green/broken.png" in one_line(error) and "skip_unreadable=True" in str(error.value)


def native_loader_module(d2l, backend_name, images, labels, batch_size=8, base=None, scale=255):
    """A lesson's own book-style data module (a subclass of ``base``, ours by default):
    ``get_dataloader`` returns the framework's loader of float images already in the model's
    layout (the book's way), or numpy pairs for JAX. ``images``: uint8, channels-last, divided
    by ``scale`` (1: a lesson that forgot to)."""
    X = images.astype(np.float32) / scale
    if backend_name in ("pytorch", "mxnet"):
        X = X.transpose(0, 3, 1, 2)

    class LessonData(base or d2l.DataModule):
        def __init__(self):
            super().__init__()
            self.batch_size = batch_size

        def get_dataloader(self, train):
            if backend_name == "pytorch":
                import torch

                dataset = torch.utils.data.TensorDataset(torch.from_numpy(X),
                                                         torch.from_numpy(labels))
                return torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=train)
            if backend_name == "tensorflow":
                import tensorflow as tf

                dataset = tf.data.Dataset.from_tensor_slices((X, labels))
                return (dataset.shuffle(len(labels), seed=0) if train else dataset).batch(
                    batch_size)
            if backend_name == "mxnet":
                from mxnet import gluon

                return gluon.data.DataLoader(gluon.data.ArrayDataset(X, labels),
                                             batch_size=batch_size, shuffle=train)
            return [(X[start:start + batch_size], labels[start:start + batch_size])
                    for start in range(0, len(labels), batch_size)]

    return LessonData()


def test_a_book_style_data_module_with_its_own_loaders_trains(d2l, backend_name, rgb_model):
    images, labels = colour_images(24)
    data = native_loader_module(d2l, backend_name, images, labels)
    assert not hasattr(data, "raw_batches")
    lines = []
    trainer = d2l.Trainer(max_epochs=2, progress=False, log=lines.append)
    history = trainer.fit(rgb_model, data)
    assert "the batches of LessonData.train_dataloader()" in lines[0]
    assert len(history) == 2 and all(np.isfinite(record["train_loss"]) for record in history)
    assert trainer.epoch_examples(train=True) == 24  # counted on the first pass
    # Evaluated the way fit evaluates, on the lesson's own validation loader.
    assert trainer.evaluate(rgb_model, data)["val_acc"] == pytest.approx(history[-1]["val_acc"])


def test_greyscale_loader_batches_take_a_channel_axis(d2l, backend_name):
    model = d2l.AlexNet(lr=0.01, resize=SMALL)
    images = np.random.default_rng(0).integers(0, 256, (8, SMALL, SMALL), dtype=np.uint8)
    labels = np.arange(8) % 10

    class Greyscale(d2l.DataModule):
        batch_size = 4

        def get_dataloader(self, train):
            return [(images[:4], labels[:4]), (images[4:], labels[4:])]

    history = d2l.Trainer(max_epochs=1, progress=False, log=None).fit(model, Greyscale())
    assert np.isfinite(history[0]["train_loss"])


# ---- what reaches the network ------------------------------------------------------------------

def test_uint8_and_float_images_reach_the_network_identical(d2l, rgb_model):
    images, labels = colour_images(8, size=(40, 40))
    as_float = images / 255.0  # what a lesson that scales its own images holds
    batches = []
    for pixels in (images, as_float):
        data = d2l.ArrayData((pixels, labels), (pixels, labels), batch_size=8, resize=SMALL)
        trainer = d2l.Trainer(max_epochs=1, progress=False, log=None).setup(rgb_model, data)
        batch_images, batch_labels = next(data.raw_batches(train=False))
        batches.append(d2l.to_numpy(trainer.prepare_batch(batch_images, batch_labels)[0]))
    np.testing.assert_array_equal(batches[0], batches[1])
    assert 0.3 < batches[1].max() <= 1.0, "floats in [0, 1] must not be divided by 255 again"
    np.testing.assert_array_equal(rgb_model.features(images), rgb_model.features(as_float))


def test_predict_probabilities_and_features_are_deterministic_and_batched(d2l, rgb_model):
    images, _ = colour_images(10)
    predictions = rgb_model.predict(images, batch_size=4)
    assert predictions.shape == (10,) and predictions.dtype == np.int64
    assert set(predictions) <= set(range(CLASSES))
    features = rgb_model.features(images, batch_size=4)
    assert features.shape == (10, 4096) and features.dtype == np.float32
    assert (features >= 0).all(), "the features are taken after the ReLU"
    np.testing.assert_array_equal(features, rgb_model.features(images, batch_size=4))
    np.testing.assert_allclose(features, rgb_model.features(images, batch_size=10), rtol=1e-4,
                               atol=1e-5)
    np.testing.assert_array_equal(predictions, rgb_model.predict(images))
    probabilities = rgb_model.probabilities(images, batch_size=4)  # what `predict` prints
    assert probabilities.shape == (10, CLASSES) and probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, rtol=1e-5)
    np.testing.assert_array_equal(probabilities.argmax(axis=1), predictions)
    # The model's own input, as a tensor of its backend, is taken as it is.
    X = rgb_model.images_to_input(images[:3])
    np.testing.assert_allclose(rgb_model.features(X), features[:3], rtol=1e-4, atol=1e-5)


# ---- fine-tuning ----------------------------------------------------------------------------

def test_a_greyscale_ten_class_file_starts_an_rgb_three_class_model(d2l, tmp_path):
    d2l.set_seed(4)
    source = d2l.AlexNet(lr=0.01, num_classes=10, resize=SMALL)
    path = tmp_path / "fashion.safetensors"
    source.save_weights(path)
    saved, metadata = load_safetensors(path)
    assert metadata["in_channels"] == "1" and metadata["num_classes"] == "10"

    d2l.set_seed(5)
    model = d2l.AlexNet(lr=0.02, num_classes=CLASSES, in_channels=3, resize=SMALL)
    before = tmp_path / "before.safetensors"
    model.save_weights(before)
    with pytest.raises(WeightsError) as error:
        model.load_weights(path)
    assert "10 classes (the model: 3)" in one_line(error) and "skip_head=True" in str(error.value)
    lines = []
    assert model.load_weights(path, skip_head=True, log=lines.append) is model
    assert len(lines) == 1 and "repeated over 3 input channels and divided by 3" in lines[0]

    after = tmp_path / "after.safetensors"
    model.save_weights(after)
    tuned, _ = load_safetensors(after)
    fresh, _ = load_safetensors(before)
    np.testing.assert_allclose(tuned["conv1.weight"], np.repeat(saved["conv1.weight"], 3, 1) / 3,
                               rtol=1e-6)
    for name in ("conv2.weight", "conv5.bias", "dense1.weight", "dense2.bias"):
        np.testing.assert_array_equal(tuned[name], saved[name], err_msg=name)
    for name in ("dense3.weight", "dense3.bias"):  # the new head is the model's own
        np.testing.assert_array_equal(tuned[name], fresh[name], err_msg=name)
        assert tuned[name].shape[0] == CLASSES

    # The rule keeps the response: a grey image in all three channels gives the RGB model the
    # features the greyscale model gives the grey image.
    grey = np.random.default_rng(0).integers(0, 256, (2, SMALL, SMALL), dtype=np.uint8)
    np.testing.assert_allclose(model.features(np.stack([grey] * 3, axis=-1)),
                               source.features(grey), rtol=1e-4, atol=1e-4)
    data = d2l.ArrayData(colour_images(16), colour_images(8, seed=1), batch_size=8)
    history = d2l.Trainer(max_epochs=1, progress=False, log=None).fit(model, data)
    assert np.isfinite(history[0]["train_loss"])


def test_an_rgb_file_starts_a_greyscale_model_by_summing_the_channels(d2l, rgb_model, tmp_path):
    path = tmp_path / "rgb.safetensors"
    rgb_model.save_weights(path)
    lines = []
    grey = d2l.AlexNet(num_classes=CLASSES, resize=SMALL).load_weights(path, log=lines.append)
    assert "summed over its 3 input channels" in lines[0]
    # log=False is silence (it failed: "'bool' object is not callable"); a string is refused.
    d2l.AlexNet(num_classes=CLASSES, resize=SMALL).load_weights(path, log=False)
    with pytest.raises(TypeError, match="load_weights: log must be a function"):
        d2l.AlexNet(num_classes=CLASSES, resize=SMALL).load_weights(path, log="quiet")
    image = np.random.default_rng(1).integers(0, 256, (2, SMALL, SMALL), dtype=np.uint8)
    np.testing.assert_allclose(grey.features(image),
                               rgb_model.features(np.stack([image] * 3, axis=-1)), rtol=1e-4,
                               atol=1e-4)


def test_weights_that_still_do_not_fit_are_refused_naming_the_option(d2l, rgb_model, tmp_path):
    path = tmp_path / "rgb.safetensors"
    rgb_model.save_weights(path)
    cases = [
        (d2l.AlexNet(num_classes=CLASSES, in_channels=4, resize=SMALL),
         ["no rule maps 3 channels to 4", "in_channels=3"]),
        (d2l.AlexNet(num_classes=CLASSES, in_channels=3, resize=71),
         ["67×67 inputs (the model: 71×71)", "resize=67"]),
    ]
    for model, phrases in cases:
        with pytest.raises(WeightsError) as error:
            model.load_weights(path, skip_head=True)
        message = one_line(error)
        assert all(phrase in message for phrase in phrases), message


# ---- refusals ---------------------------------------------------------------------------------

def test_the_model_refuses_bad_arguments_in_one_line(d2l):
    for kwargs, phrase in (({"in_channels": 0}, "in_channels must be a positive int"),
                           ({"in_channels": 2.5}, "in_channels must be a positive int"),
                           ({"resize": (96,)}, "resize must be an int or a (height, width)"),
                           ({"resize": 32}, "use a resize of at least 67")):
        with pytest.raises(ValueError) as error:
            d2l.AlexNet(**kwargs)
        assert phrase in one_line(error), str(error.value)


def test_compile_is_refused_in_one_line_where_the_steps_are_compiled_already(d2l,
                                                                             backend_name):
    """Only PyTorch's Trainer takes compile= (torch.compile); the others say why they need none
    instead of a TypeError from an unexpected keyword."""
    if backend_name == "pytorch":
        pytest.skip("PyTorch's Trainer takes compile= (test_contract's compiled-resume test)")
    with pytest.raises(ValueError) as error:
        d2l.Trainer(max_epochs=1, compile=True)
    assert one_line(error).startswith("compile= runs PyTorch's steps through torch.compile: "
                                      "the "), one_line(error)
    assert one_line(error).endswith("; drop compile=")
    assert d2l.Trainer(max_epochs=1, compile=False).max_epochs == 1  # off is no refusal


def test_a_batch_of_the_wrong_size_or_channels_names_the_argument(d2l, rgb_model):
    wrong_size = colour_images(2, size=(80, 80))[0]
    wrong_channels = wrong_size[..., 0]
    for images, phrases in ((wrong_size, ["3×67×67", "resize=80"]),
                            (wrong_channels, ["3×67×67", "in_channels=1"])):
        # As the model's own input (a tensor of the backend), it must fit exactly.
        data = d2l.ArrayData((images, np.zeros(2, int)), (images, np.zeros(2, int)),
                             batch_size=2, layout="NHWC" if images.ndim == 4 else None)
        X = data.convert_batch(*next(data.raw_batches(False)))[0]
        with pytest.raises(InputShapeError) as error:
            rgb_model.features(X)
        message = one_line(error)
        assert all(phrase in message for phrase in phrases), message


def test_data_that_does_not_fit_the_model_is_refused_before_training(d2l, rgb_model):
    images, labels = colour_images(8)
    trainer = d2l.Trainer(max_epochs=1, progress=False, log=None)
    other_size = d2l.ArrayData((images, labels), (images, labels), batch_size=4, resize=96)
    with pytest.raises(ValueError) as error:
        trainer.fit(rgb_model, other_size)
    assert "built for 67×67 images but the data is resized to 96×96" in one_line(error)
    grey = d2l.ArrayData((images[..., 0], labels), (images[..., 0], labels), batch_size=4)
    with pytest.raises(ValueError) as error:
        trainer.fit(rgb_model, grey)
    assert "AlexNet(in_channels=1" in one_line(error)
    with pytest.raises(TypeError) as error:
        trainer.fit(rgb_model, object())
    assert "train_dataloader() and val_dataloader()" in one_line(error)

    class WrongSize(d2l.DataModule):
        batch_size = 2

        def get_dataloader(self, train):
            return [(d2l.resize_images(images[:2], (80, 80)), labels[:2])]

    with pytest.raises(InputShapeError) as error:
        trainer.fit(rgb_model, WrongSize())
    assert "resize=80" in one_line(error)


def framework_tensor(backend_name, array):
    """``array`` as a CPU tensor of the backend's framework, keeping its dtype."""
    if backend_name == "pytorch":
        import torch

        return torch.from_numpy(array)
    if backend_name == "tensorflow":
        import tensorflow as tf

        return tf.constant(array)
    if backend_name == "mxnet":
        import mxnet as mx

        return mx.nd.array(array, dtype=array.dtype)
    import jax.numpy as jnp

    return jnp.asarray(array)


def test_framework_tensors_of_integers_or_float64_are_read_as_numpy_images_are(
        d2l, backend_name, rgb_model):
    images, _ = colour_images(4)  # uint8, 67×67: the model's size
    in_layout = images.transpose(0, 3, 1, 2) if rgb_model.LAYOUT == "NCHW" else images
    expected = rgb_model.probabilities(images)
    for array in (in_layout, in_layout / 255.0):  # uint8 scaled once; float64 taken as floats
        given = rgb_model.probabilities(framework_tensor(backend_name, array))
        np.testing.assert_allclose(given, expected, rtol=1e-4, atol=1e-6)


def test_a_batch_in_the_other_layout_is_told_to_move_the_channel_axis(d2l, rgb_model):
    images, labels = colour_images(4)
    other = images.transpose(0, 3, 1, 2) if rgb_model.LAYOUT == "NHWC" else images
    axes = "(0, 2, 3, 1)" if rgb_model.LAYOUT == "NHWC" else "(0, 3, 1, 2)"

    class OtherLayout(d2l.DataModule):
        batch_size = 4

        def get_dataloader(self, train):
            return [(other / np.float32(255), labels)]

    with pytest.raises(InputShapeError) as error:
        d2l.Trainer(max_epochs=1, progress=False, log=None).fit(rgb_model, OtherLayout())
    message = one_line(error)
    assert f"is in {'NCHW' if rgb_model.LAYOUT == 'NHWC' else 'NHWC'} order" in message
    assert f"transposing the batch's axes to {axes}" in message


def test_a_loader_that_was_not_batched_or_pairs_unequal_counts_is_refused(d2l, backend_name,
                                                                          rgb_model):
    images, labels = colour_images(4)
    X = (images.transpose(0, 3, 1, 2) if rgb_model.LAYOUT == "NCHW" else images) / np.float32(255)
    if backend_name == "pytorch":  # the frameworks' own loaders, left unbatched
        import torch

        unbatched = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(
            torch.from_numpy(X), torch.from_numpy(labels)), batch_size=None)
    elif backend_name == "tensorflow":
        import tensorflow as tf

        unbatched = tf.data.Dataset.from_tensor_slices((X, labels))  # no .batch(n)
    else:
        unbatched = list(zip(X, labels))
    for loader, expected in (
            (unbatched, "Lesson.train_dataloader() yields one example at a time (its label 0 is "
                        "a single number): batch them"),
            ([(X, labels[:3])], "Lesson.train_dataloader() yields a batch of 4 images and 3 "
                                "labels: give one label per image")):
        class Lesson(d2l.DataModule):
            batch_size = 4

            def get_dataloader(self, train):
                return loader

        trainer = d2l.Trainer(max_epochs=1, progress=False, log=None)
        with pytest.raises(DataError) as error:
            trainer.fit(rgb_model, Lesson())
        assert one_line(error).startswith(expected), str(error.value)
        assert trainer.step == 0


def test_layer_summary_of_a_shape_the_model_was_not_built_for_names_the_argument(d2l, capsys):
    model = d2l.AlexNet(resize=SMALL)
    with pytest.raises(InputShapeError) as error:
        model.layer_summary((1, 1, 224, 224) if model.LAYOUT == "NCHW" else (1, 224, 224, 1))
    assert "build the model with resize=224" in one_line(error)
    assert capsys.readouterr().out == ""


def test_weights_options_are_taken_by_keyword_alone_in_every_backend(d2l, rgb_model, tmp_path):
    path = tmp_path / "rgb.safetensors"
    with pytest.raises(TypeError):  # would be the classes in one backend, dropped in another
        rgb_model.save_weights(path, ["red", "green", "blue"])
    assert not path.exists()
    rgb_model.save_weights(path, classes=["red", "green", "blue"])
    assert json.loads(load_safetensors(path)[1]["classes"]) == ["red", "green", "blue"]
    with pytest.raises(TypeError):
        rgb_model.load_weights(path, True)
    assert rgb_model.load_weights(path, skip_head=True, log=None) is rgb_model


def test_images_that_would_be_scaled_twice_are_refused(d2l):
    images, labels = colour_images(4)
    with pytest.raises(DataError) as error:
        d2l.ArrayData((images.astype(np.float32), labels), (images, labels), batch_size=2)
    assert "divide by 255" in one_line(error)


def test_labels_beyond_the_models_classes_are_refused_before_a_step(d2l, backend_name,
                                                                    rgb_model):
    images, labels = colour_images(12)
    one_indexed = labels + 1  # 1..3 for a 3-class model: the commonest slip
    trainer = d2l.Trainer(max_epochs=1, progress=False, log=None)
    for data, where in (
            (d2l.ArrayData((images, one_indexed), (images, one_indexed), batch_size=4),
             "ArrayData's train split"),
            (native_loader_module(d2l, backend_name, images, one_indexed),
             "a batch of LessonData.train_dataloader()")):
        with pytest.raises(DataError) as error:
            trainer.fit(rgb_model, data)
        assert one_line(error) == (f"{where} has label 3, but the model has num_classes=3: "
                                   "labels must be class indices 0..2; they look one-indexed "
                                   "(1..3): subtract 1")
    assert trainer.step == 0
    with pytest.raises(ValueError) as error:
        d2l.AlexNet(num_classes=1, resize=SMALL)
    assert "a classifier needs at least 2 classes" in one_line(error)


@pytest.mark.parametrize("arguments, expected", [
    ({"num_classes": "10"}, "AlexNet: num_classes must be a whole number of at least 2, got '10'"),
    ({"num_classes": None}, "AlexNet: num_classes must be a whole number of at least 2"),
    ({"num_classes": (4,)}, "AlexNet: num_classes must be a whole number of at least 2"),
    ({"num_classes": 10.0}, "AlexNet: num_classes must be a whole number of at least 2"),
    ({"num_classes": True}, "AlexNet: num_classes must be a whole number of at least 2"),
    ({"lr": "0.01"}, "lr must be a number, got '0.01'"),
    ({"lr": None}, "lr must be a number, got None"),
    ({"momentum": "0.9"}, "momentum must be a number, got '0.9'"),
    ({"momentum": 0.9, "nesterov": "yes"}, "nesterov must be True or False, got 'yes'"),
    ({"dropout": "0.5"}, "dropout must be None (the table's rates) or a number in [0, 1)"),
    ({"layers": "alexnet"}, "layers must be None (the chapter's AlexNet) or a sequence of Layer "
                            "rows, got 'alexnet'"),
])
def test_model_arguments_of_the_wrong_kind_are_refused_in_one_line(d2l, arguments, expected):
    """Each failed with a raw error naming no argument ("'<' not supported", "'str' object has
    no attribute 'kind'"), in every backend."""
    with pytest.raises(ValueError) as error:
        d2l.AlexNet(**{"resize": SMALL, **arguments})
    assert one_line(error).startswith(expected)


@pytest.mark.parametrize("batch_size", ["8", 8.0, None, True, 0])
def test_inference_refuses_a_batch_size_that_is_not_a_whole_number(d2l, rgb_model, batch_size):
    images, _ = colour_images(2)
    for method in (rgb_model.predict, rgb_model.probabilities, rgb_model.features):
        with pytest.raises(ValueError) as error:
            method(images, batch_size=batch_size)
        assert one_line(error) == (f"batch_size must be a whole number of at least 1, got "
                                   f"{batch_size!r}; pass e.g. batch_size=256")


def test_inference_refuses_a_dataset_or_generator_naming_what_to_pass(d2l, backend_name,
                                                                      rgb_model):
    """What a Keras user passes (a tf.data.Dataset) ended in "input images have shape ()"."""
    images, labels = colour_images(4)
    loader = native_loader_module(d2l, backend_name, images, labels).get_dataloader(False)
    givens = [(image for image in images)] + ([] if backend_name == "jax" else [loader])
    for given in givens:
        for method, name in ((rgb_model.predict, "predict"),
                             (rgb_model.probabilities, "predict"),
                             (rgb_model.features, "features")):
            with pytest.raises(TypeError) as error:
                method(given)
            assert one_line(error) == (
                f"{type(rgb_model).__name__}.{name} takes an array or a framework tensor of "
                f"images, got {type(given).__name__}: for a dataset, iterate its batches and "
                "pass each batch's images")


def test_a_used_up_loader_is_refused_rather_than_reported_perfect(d2l, backend_name, rgb_model):
    images, labels = colour_images(8)
    lesson = native_loader_module(d2l, backend_name, images, labels, batch_size=4)
    batches = iter(list(lesson.get_dataloader(train=True)))  # one pass, then used up

    class Once(d2l.DataModule):
        batch_size = 4

        def train_dataloader(self):
            return batches

        def val_dataloader(self):
            return lesson.get_dataloader(train=False)

    trainer = d2l.Trainer(max_epochs=2, progress=False, log=None)
    with pytest.raises(DataError) as error:
        trainer.fit(rgb_model, Once())
    assert one_line(error).startswith("Once.train_dataloader() yielded no batch in epoch 2: ")
    assert len(trainer.history) == 1


def test_unscaled_float_images_from_a_lesson_loader_are_refused(d2l, backend_name, rgb_model):
    images, labels = colour_images(8)
    lesson = native_loader_module(d2l, backend_name, images, labels, scale=1)
    trainer = d2l.Trainer(max_epochs=1, progress=False, log=None)
    with pytest.raises(DataError) as error:
        trainer.fit(rgb_model, lesson)
    assert "LessonData.train_dataloader() yields float32 images with values up to 2" in \
        one_line(error) and "divide them by 255" in str(error.value)
    assert trainer.step == 0


def test_one_image_without_a_batch_axis_is_told_to_add_one(d2l, rgb_model):
    image = colour_images(1)[0][0]  # (67, 67, 3)
    for method in (rgb_model.predict, rgb_model.features):
        for one in (image, image.transpose(2, 0, 1)):
            with pytest.raises(InputShapeError) as error:
                method(one)
            assert "which is one image: add a batch axis (X[None]" in one_line(error)
        assert len(method(image[None])) == 1
    grey = d2l.AlexNet(num_classes=CLASSES, resize=SMALL)
    with pytest.raises(InputShapeError) as error:
        grey.predict(image[..., :1])  # (67, 67, 1)
    assert "add a batch axis" in one_line(error)
    assert grey.predict(image[..., 0][None]).shape == (1,)  # (1, 67, 67): one greyscale image


def run_train(*arguments):
    import subprocess
    import sys

    env = child_env()
    return subprocess.run([sys.executable, "-m", "d2l_alexnet.train", *arguments],
                          capture_output=True, text=True, env=env, timeout=600)


def test_cli_init_from_new_head_fine_tunes_from_an_rgb_three_class_file(d2l, backend_name,
                                                                       rgb_model, tmp_path):
    path = tmp_path / "rgb.safetensors"
    rgb_model.save_weights(path)
    common = ["--backend", backend_name, "--epochs", "1", "--batch-size", "8", "--limit-train",
              "8", "--limit-val", "8", "--resize", str(SMALL), "--init-from", str(path)]
    result = run_train(*common, "--out", str(tmp_path / "refused"))
    assert result.returncode == 2 and ("holds weights for 3 classes, and Fashion-MNIST has 10: "
                                       "add --new-head") in result.stderr
    assert "--new-head" in result.stderr and not (tmp_path / "refused").exists()
    result = run_train(*common, "--new-head", "--out", str(tmp_path / "run"))
    assert result.returncode == 0, result.stderr
    assert "its kernel was summed over its 3 input channels" in result.stdout
    assert "(all but the last layer, which starts fresh)" in result.stdout
    tuned, metadata = load_safetensors(tmp_path / "run" / "weights.safetensors")
    assert metadata["num_classes"] == "10" and tuned["conv1.weight"].shape[1] == 1
    result = run_train("--backend", backend_name, "--new-head", "--out", str(tmp_path / "bare"))
    assert result.returncode == 2 and "--new-head needs --init-from" in result.stderr
    assert not (tmp_path / "bare").exists()


def test_an_rgb_non_square_network_is_the_tables(d2l, capsys):
    from d2l_alexnet.core.architecture import layer_table

    model = d2l.AlexNet(num_classes=5, in_channels=3, resize=(SMALL, 99))
    rows = [row for row in layer_table((SMALL, 99), 5, in_channels=3)
            if row.layer.kind in ("conv", "dense")]
    arrays = d2l.parameter_arrays(model)
    assert sum(array.size for _, array in arrays) == sum(row.parameters for row in rows)
    for row, (_, kernel), (_, bias) in zip(rows, arrays[0::2], arrays[1::2]):
        assert kernel.size + bias.size == row.parameters
    model.layer_summary(model.input_batch_shape())
    printed = capsys.readouterr().out
    channels, height, width = [row for row in layer_table((SMALL, 99), 5, 3)
                               if row.layer.kind == "maxpool"][-1].output_shape
    assert (height, width) == (1, 2)  # a 67×99 input: the last map is 1×2
    last_map = (f"{channels}, {height}, {width}" if d2l.LAYOUT == "NCHW"
                else f"{height}, {width}, {channels}")
    assert last_map in printed, printed
    assert model.input_batch_shape(2) == ((2, 3, SMALL, 99) if d2l.LAYOUT == "NCHW"
                                          else (2, SMALL, 99, 3))


def test_another_table_trains_at_its_own_size(d2l, tmp_path):
    """Exercises 5 and 7: AlexNet(layers=rows) builds any table (LeNet's sigmoid and average
    pools included) at any size, and trains as the chapter's network does."""
    from d2l_alexnet.core.architecture import layer_table
    from d2l_alexnet.core.notebook import LENET

    d2l.set_seed(0)
    model = d2l.AlexNet(lr=0.5, num_classes=10, resize=28, layers=LENET)
    assert sum(a.size for _, a in d2l.parameter_arrays(model)) == 61_706 == sum(
        row.parameters for row in layer_table(28, layers=LENET))
    data = d2l.FashionMNIST(batch_size=16, resize=(28, 28), limit_train=64, limit_val=32,
                            log=None)
    history = d2l.Trainer(max_epochs=1, progress=False, log=None).fit(model, data)
    assert np.isfinite(history[0]["train_loss"])
    assert model.predict(data.val_images).shape == (32,)
    with pytest.raises(WeightsError) as error:
        model.save_weights(tmp_path / "lenet.safetensors")
    assert "weights files hold the chapter's AlexNet only" in one_line(error)
    # KeepBest writes such files: it says so before the first epoch, not after it.
    from d2l_alexnet.core.callbacks import KeepBest

    trainer = d2l.Trainer(max_epochs=1, progress=False, log=None,
                          callbacks=[KeepBest(tmp_path / "best" / "lenet.safetensors")])
    with pytest.raises(WeightsError) as error:
        trainer.fit(model, data)
    assert one_line(error).startswith("KeepBest cannot keep the best epoch: AlexNet is built "
                                      "from its own layers="), one_line(error)
    assert trainer.step == 0 and not (tmp_path / "best").exists()
    with pytest.raises(ValueError, match="use a resize of at least 12"):
        d2l.AlexNet(resize=8, layers=LENET)


# ---- the book's own AlexNet, beside ours ------------------------------------------------------

BOOK_FIRST_PADDING = {"pytorch": 1, "jax": 1, "tensorflow": 0, "mxnet": 0}  # as the book pads
# The book's JAX code pools and flattens with lambdas, which print as "<lambda> output...".
BOOK_LAYER_NAMES = {"jax": {"max_pool": "<lambda>", "flatten": "<lambda>"}}


def book_summary(backend_name):
    """Our summary of the chapter's network with the layer names the book's code prints."""
    from test_contract import EXPECTED_SUMMARY

    renamed = BOOK_LAYER_NAMES.get(backend_name, {})
    return [renamed.get(name, name) + " output shape:" + shape for name, shape in
            (line.split(" output shape:") for line in EXPECTED_SUMMARY[backend_name])]


def test_the_books_alexnet_takes_only_the_chapters_size(d2l, backend_name):
    """Its dense layer is sized at 224: data of another size failed at the first step with
    the framework's shape error; it is refused before, in one line, and a book-style loader's
    28×28 batches are resized to 224 as for our AlexNet."""
    if not hasattr(d2l, "BookAlexNet"):
        pytest.skip(f"the {backend_name} edition's AlexNet is the book's own")
    book = d2l.BookAlexNet(lr=0.01)
    assert book.input_size == (224, 224)
    data = d2l.FashionMNIST(batch_size=4, resize=(SMALL, SMALL), limit_train=4, limit_val=4,
                            log=None)
    with pytest.raises(ValueError, match=f"built for 224×224 images but the data is resized to "
                                         f"{SMALL}×{SMALL}: "):
        d2l.Trainer(max_epochs=1, progress=False, log=None).fit(book, data)


def test_the_books_alexnet_matches_ours(d2l, backend_name, capsys, tmp_path):
    """``BookAlexNet`` (the book's own code for this framework) prints the same summary, has
    the same parameters, and given the same weights file computes the same logits as our
    table-built AlexNet with the book's first padding (224×224: the book sizes its dense
    layers for the chapter's input)."""
    from dataclasses import replace

    from d2l_alexnet.core import weights
    from d2l_alexnet.core.architecture import ALEXNET
    from test_contract import CHAPTER_PARAMETERS

    book = d2l.BookAlexNet(lr=0.01, num_classes=10)
    book.layer_summary(d2l.example_input_shape(224))
    assert capsys.readouterr().out.splitlines() == book_summary(backend_name)

    d2l.set_seed(3)
    path = tmp_path / "weights.safetensors"
    d2l.AlexNet().save_weights(path)  # the chapter's network, one file for both
    arrays = weights.load_weights(path, d2l.LAYOUT, 224, 10)
    padding = BOOK_FIRST_PADDING[backend_name]
    ours = d2l.AlexNet(layers=(replace(ALEXNET[0], padding=padding), *ALEXNET[1:]))
    d2l.assign_parameter_arrays(ours, arrays)
    images = np.random.default_rng(0).integers(0, 256, (2, 28, 28), dtype=np.uint8)
    X = d2l.resize_images(images, (224, 224))
    expected = ours.evaluate_batch(X, features=False)
    d2l.assign_parameter_arrays(book, arrays)
    book_parameters = sum(array.size for _, array in d2l.parameter_arrays(book))
    got = book.evaluate_batch(X, features=False)
    assert book_parameters == CHAPTER_PARAMETERS
    assert np.abs(expected).max() > 0.01
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())
    # Where it records no input size (built on its first batch), weights files go through
    # AlexNet(), as the refusal says; JAX's knows the chapter's, and its file is the same one.
    if getattr(book, "resize", None) is None:
        with pytest.raises(weights.WeightsError) as error:
            book.save_weights(tmp_path / "book.safetensors")
        assert one_line(error).startswith("BookAlexNet is the book's listing of the chapter's "
                                          "network"), one_line(error)
        assert "d2l.AlexNet()" in one_line(error)
        assert not (tmp_path / "book.safetensors").exists()
    else:
        book.save_weights(tmp_path / "book.safetensors")
        for (name, saved), (_, given) in zip(
                weights.load_weights(tmp_path / "book.safetensors", d2l.LAYOUT, 224, 10), arrays):
            assert np.array_equal(saved, given), name
