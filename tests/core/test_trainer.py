"""The shared fit loop, driven by the tiny numpy backend (softmax regression,
``numpy_backend.py``)."""

import io
import math

import numpy as np
import pytest

from d2l_alexnet.core.datamodule import FashionMNISTBase
from d2l_alexnet.core.progress import ProgressBar, ProgressBoard
from d2l_alexnet.core.errors import D2LAlexNetError, DeviceError
from d2l_alexnet.core.trainer import ReplicaError, TrainingError, format_epoch
from numpy_backend import NumpyTrainer, SoftmaxRegression


@pytest.fixture(scope="module")
def data():
    return FashionMNISTBase(batch_size=50, resize=224, limit_train=300, limit_val=200, log=None)


def test_history_and_learning(data):
    lines = []
    trainer = NumpyTrainer(max_epochs=3, progress=False, log=lines.append)
    history = trainer.fit(SoftmaxRegression(lr=0.05), data)
    assert trainer.step == 3 * 6
    assert [record["epoch"] for record in history] == [1, 2, 3]
    assert history[0]["train_loss"] < math.log(10) + 1e-6
    assert history[-1]["val_loss"] < history[0]["val_loss"]
    assert history[-1]["val_acc"] > 0.5
    assert lines[0].startswith("training on cpu (fp32): 300 images per epoch, batch 50")
    assert lines[1] == format_epoch(history[0], 3)
    assert set(trainer.board.series) == {"train_loss", "val_loss", "val_acc"}
    assert len(trainer.board.series["train_loss"][0]) == 6  # two points per epoch
    assert trainer.board.series["val_acc"][0] == [1.0, 2.0, 3.0]


def test_a_lessons_own_loader_on_a_subclass_is_what_trains():
    """A lesson's FashionMNIST whose get_dataloader (or train_dataloader) changes its batches,
    the book's way to add augmentation: the Trainer trains on those batches, where it used to
    take the module's built-in ones and pass the override by silently."""
    calls = []

    class Inverted(FashionMNISTBase):  # the lesson's change: every image inverted
        def get_dataloader(self, train):
            calls.append(train)
            for images, labels in super().get_dataloader(train):
                yield 1.0 - images, labels

    class OwnTraining(FashionMNISTBase):
        def train_dataloader(self):
            calls.append("train_dataloader")
            return super().train_dataloader()

    options = dict(batch_size=50, resize=28, limit_train=100, limit_val=50, log=None)
    trainer = NumpyTrainer(max_epochs=1, progress=False, log=None)
    inverted = trainer.fit(SoftmaxRegression(lr=0.05), Inverted(**options))
    assert calls.count(True) >= 1 and calls.count(False) >= 1 and not trainer.position_aware
    plain = NumpyTrainer(max_epochs=1, progress=False, log=None).fit(
        SoftmaxRegression(lr=0.05), FashionMNISTBase(**options))
    assert inverted[0]["train_loss"] != plain[0]["train_loss"]  # the inverted images trained
    NumpyTrainer(max_epochs=1, progress=False, log=None).fit(SoftmaxRegression(lr=0.05),
                                                             OwnTraining(**options))
    assert "train_loader" not in calls and "train_dataloader" in calls


def test_the_host_queues_a_bounded_number_of_steps(data):
    """The losses of at most STEPS_IN_FLIGHT steps wait on the device between two bar
    updates, so that a stop waits for few steps (JAX dispatched a whole half-epoch ahead);
    the epoch's loss is the same sum."""
    from d2l_alexnet.core.trainer import STEPS_IN_FLIGHT

    waiting = []
    trainer = NumpyTrainer(max_epochs=1, progress=False, log=None)
    trainer.step_callbacks.append(
        lambda trainer: waiting.append(len(trainer.epoch_progress.pending)))
    history = trainer.fit(SoftmaxRegression(lr=0.05), FashionMNISTBase(
        batch_size=10, resize=28, limit_train=200, limit_val=50, log=None))
    assert max(waiting) == STEPS_IN_FLIGHT == 3 and len(waiting) == 20
    assert 0 < history[0]["train_loss"] < math.log(10) + 1e-6


def test_validation_metrics_are_exact_averages(data):
    trainer = NumpyTrainer(max_epochs=1, progress=False, log=None)
    model = SoftmaxRegression(lr=0.0)  # no learning: every prediction is class 0
    model.recipe = None  # a recipe refuses a zero rate; a model of another lesson has none
    record = trainer.fit(model, data)[0]
    assert record["train_loss"] == pytest.approx(math.log(10))
    assert record["val_loss"] == pytest.approx(math.log(10))
    assert record["val_acc"] == pytest.approx(np.mean(data.val_labels == 0))


def test_callbacks_see_every_epoch(data):
    seen = []
    trainer = NumpyTrainer(max_epochs=2, progress=False, log=None)
    trainer.callbacks.append(lambda trainer, record: seen.append(record["epoch"]))
    trainer.fit(SoftmaxRegression(lr=0.1), data)
    assert seen == [1, 2]


def test_nan_loss_stops_with_advice(data):
    trainer = NumpyTrainer(max_epochs=1, progress=False, log=None)
    model = SoftmaxRegression(lr=0.1)
    model.W[:] = np.nan
    with pytest.raises(TrainingError, match="lower the learning rate"):
        trainer.fit(model, data)


@pytest.mark.parametrize("val_loss", [math.nan, math.inf, 6.5e28])
def test_a_validation_loss_that_diverged_stops_before_the_callbacks(data, monkeypatch,
                                                                    val_loss):
    """Weights huge but finite give finite training losses and a NaN (or absurd) validation
    loss: fit stops there, naming the rate as a Python caller sets it, before any callback
    sees the epoch (KeepBest would keep it), with the last good epoch's step."""
    from d2l_alexnet.core.trainer import ValidationDiverged

    validate = NumpyTrainer.validate
    monkeypatch.setattr(NumpyTrainer, "validate", lambda trainer: (
        {**validate(trainer), "val_loss": val_loss} if trainer.epoch == 1 else validate(trainer)))
    seen = []
    trainer = NumpyTrainer(max_epochs=3, progress=False, log=None)
    trainer.callbacks.append(lambda trainer, record: seen.append(record["epoch"]))
    with pytest.raises(ValidationDiverged, match=r"validation loss became \S+ after epoch 2 "
                                                 r".*lower the learning rate \(now lr=0.1\)"
                       ) as error:
        trainer.fit(SoftmaxRegression(lr=0.1), data)
    assert seen == [1] and error.value.last_good_step == trainer.history[-1]["step"]


def test_a_model_for_another_number_of_classes_than_the_data_names_is_refused_at_once():
    """A 10-output model on data naming 2 classes (a folder of cats and dogs, num_classes left
    at its default) is refused before a step, naming the fix; it trained an epoch in silence,
    then failed on its first save. Data that names no classes goes by its labels."""
    from d2l_alexnet.core.data import DataError
    from d2l_alexnet.core.images import ArrayData

    images = np.zeros((4, 28, 28), np.uint8)
    split = (images, np.array([0, 1, 0, 1]))
    steps = []
    trainer = NumpyTrainer(max_epochs=1, progress=False, log=None)
    trainer.step_callbacks.append(lambda trainer: steps.append(trainer.step))
    with pytest.raises(DataError, match=r"SoftmaxRegression has 10 outputs \(num_classes=10\) "
                                        r"but ArrayData names 2 classes \(cat, dog\): build "
                                        r"the model with num_classes=2"):
        trainer.fit(SoftmaxRegression(), ArrayData(split, split, classes=["cat", "dog"]))
    assert steps == []
    NumpyTrainer(max_epochs=1, progress=False, log=None).fit(
        SoftmaxRegression(num_classes=2), ArrayData(split, split, classes=["cat", "dog"]))
    NumpyTrainer(max_epochs=1, progress=False, log=None).fit(SoftmaxRegression(),
                                                             ArrayData(split, split))


def test_progress_bar_in_a_log(data, capsys):
    NumpyTrainer(max_epochs=1, log=None).fit(SoftmaxRegression(lr=0.1), data)
    lines = capsys.readouterr().err.splitlines()
    # Only the forced last line: the steps before it fall within the 15 s interval.
    assert len(lines) == 1 and "\r" not in lines[0], lines
    assert lines[0].startswith("epoch 1/1: 100%") and "300/300" in lines[0]
    assert "img/s" in lines[0] and "loss " in lines[0]


def test_arguments_checked():
    with pytest.raises(ValueError, match="max_epochs"):
        NumpyTrainer(max_epochs=0)
    with pytest.raises(ValueError, match="device"):
        NumpyTrainer(max_epochs=1, device="tpu")
    with pytest.raises(ValueError, match="precision"):
        NumpyTrainer(max_epochs=1, precision="fp8")
    assert NumpyTrainer(max_epochs=1, num_gpus=1).device_request == "auto"
    assert NumpyTrainer(max_epochs=1).device_request == "cpu"


@pytest.mark.parametrize("arguments, expected", [
    ({"max_epochs": "10"}, "max_epochs must be a whole number of at least 1, got '10'"),
    ({"max_epochs": None}, "max_epochs must be a whole number of at least 1, got None"),
    ({"max_epochs": 2.0}, "max_epochs must be a whole number of at least 1, got 2.0"),
    ({"num_gpus": "1"}, "num_gpus must be a whole number of at least 0, got '1'"),
    ({"num_gpus": None}, "num_gpus must be a whole number of at least 0, got None"),
    ({"gradient_clip_val": "1"}, "gradient_clip_val must be a number of at least 0"),
    ({"gradient_clip_val": -1.0}, "gradient_clip_val must be a number of at least 0"),
    ({"progress": "no"}, "progress must be True or False, got 'no'"),
    ({"data_on_device": "off"}, "data_on_device must be None (automatic), True or False, got "
                                "'off'"),
    ({"data_on_device": "auto"}, "data_on_device must be None (automatic), True or False"),
])
def test_arguments_of_the_wrong_kind_are_refused_when_the_trainer_is_made(arguments, expected):
    """2.0 epochs failed in fit, gradient_clip_val="1" at the first step, and a string read as
    a flag was true: data_on_device="off" put the data on the device."""
    with pytest.raises(ValueError) as error:
        NumpyTrainer(**{"max_epochs": 1, **arguments})
    assert str(error.value).startswith(expected)
    trainer = NumpyTrainer(max_epochs=np.int64(2), num_gpus=np.int64(0), gradient_clip_val=1,
                           progress=np.bool_(False), data_on_device=np.bool_(False))
    assert trainer.max_epochs == 2  # numpy's numbers and bools are taken


class Hooks:  # an object with a callback's hooks, not a Callback subclass
    def on_evaluation(self, trainer, record):
        pass


@pytest.mark.parametrize("callbacks, expected", [
    ("metrics.jsonl", "callbacks must be a list of callbacks, got 'metrics.jsonl'; pass a list"),
    (Hooks(), "callbacks takes a list, got a single Hooks; pass a list: callbacks=[...]"),
    ([1], "callbacks holds 1, which is not a callback"),
    ([lambda: None], "callbacks holds the function "),
    ([Hooks], "callbacks holds the class Hooks, not a callback: create it: Hooks(...)"),
])
def test_callbacks_the_trainer_cannot_call_are_refused_when_it_is_made(callbacks, expected):
    """They were refused only after the first epoch ("'str' object is not callable"), or as
    "object is not iterable", or (a class) as a missing argument."""
    with pytest.raises(ValueError) as error:
        NumpyTrainer(max_epochs=1, callbacks=callbacks)
    assert str(error.value).startswith(expected)
    taken = [Hooks(), lambda trainer, record: None, print]
    assert NumpyTrainer(max_epochs=1, callbacks=tuple(taken)).callbacks == taken


def test_a_model_without_a_size_trains_on_any_size():
    """Only a model that says its input size (AlexNet's resize) constrains the data's: the
    book's other models, at 28×28, train too (AlexNet refuses a small size when it is built)."""
    small = FashionMNISTBase(batch_size=10, resize=28, limit_train=10, limit_val=10, log=None)
    history = NumpyTrainer(max_epochs=1, progress=False, log=None).fit(SoftmaxRegression(0.1),
                                                                       small)
    assert len(history) == 1


def test_board_saves_a_png(tmp_path):
    board = ProgressBoard(live=False)
    for x in range(3):
        board.draw(x, 1.0 / (x + 1), "loss")
    path = tmp_path / "curves.png"
    board.save(path)
    assert path.read_bytes()[:4] == b"\x89PNG"
    assert [p.name for p in tmp_path.iterdir()] == ["curves.png"]  # no temporary left


def test_model_and_data_sizes_must_agree(data):
    model = SoftmaxRegression(lr=0.1)
    model.resize = 100
    with pytest.raises(ValueError, match="built for 100×100 images but the data is resized to 224"):
        NumpyTrainer(max_epochs=1, log=None).fit(model, data)


def test_final_progress_line_is_printed_once():
    """The epoch's last step drew the bar (it was due); the forced update at the epoch's end
    and the close add nothing."""
    log = io.StringIO()
    bar = ProgressBar(300, "epoch 1/1", stream=log, log_interval=0)
    bar.update(150, loss=0.7)
    bar.update(300, loss=0.5)
    bar.update(300, loss=0.5, force=True)
    bar.close()
    assert log.getvalue().count("300/300") == 1 and log.getvalue().count("150/300") == 1


def test_evaluate_runs_the_validation_loop_of_fit_without_training(data):
    trainer = NumpyTrainer(max_epochs=2, progress=False, log=None)
    model = SoftmaxRegression(lr=0.05)
    history = trainer.fit(model, data)
    weights = model.W.copy()
    evaluator = NumpyTrainer(max_epochs=1, progress=False, log=None)
    result = evaluator.evaluate(model, data)
    assert result == {"val_loss": history[-1]["val_loss"], "val_acc": history[-1]["val_acc"]}
    assert np.array_equal(model.W, weights) and evaluator.step == 0
    assert evaluator.evaluate(SoftmaxRegression(lr=0.05), data)["val_acc"] < result["val_acc"]
    model.resize = 100
    with pytest.raises(ValueError, match="built for 100×100 images"):
        evaluator.evaluate(model, data)


class GpuTrainer(NumpyTrainer):
    """A trainer whose backend sees a GPU, and opens one replica per device asked for."""

    def gpu_available(self):
        return True

    def open_device(self, kind):
        if self.num_replicas > 2:
            raise ReplicaError(f"{self.num_replicas} replicas need {self.num_replicas} "
                               f"{kind} devices but numpy sees 2: use --devices 2 or fewer")
        return "cpu" if kind == "cpu" else "gpu:0"


def test_num_gpus_without_a_gpu_trains_on_the_cpu_as_the_books_trainer_does():
    """The book's Trainer(num_gpus=2) takes the GPUs there are: none here, so one CPU device,
    said in one line; device="cpu" still asks for CPU replicas, and a GPU still gets two."""
    lines = []
    trainer = NumpyTrainer(max_epochs=1, num_gpus=2, log=lines.append)
    assert trainer.num_replicas == 1 and trainer.select_device(trainer.device_request) == "cpu"
    assert lines == ["num_gpus=2: no GPU is visible to numpy, so this trains on the CPU as one "
                     "device, as the book's Trainer does (device=\"cpu\" makes 2 CPU replicas)"]
    assert NumpyTrainer(max_epochs=1, num_gpus=2, device="cpu", log=None).num_replicas == 2
    assert GpuTrainer(max_epochs=1, num_gpus=2, log=None).num_replicas == 2


@pytest.mark.parametrize("trainer_class, request_, expected", [
    (NumpyTrainer, "cpu", "cpu"), (NumpyTrainer, "auto", "cpu"),
    (GpuTrainer, "cpu", "cpu"), (GpuTrainer, "auto", "gpu:0"), (GpuTrainer, "gpu", "gpu:0")])
def test_device_choice_is_written_once(trainer_class, request_, expected):
    assert trainer_class(max_epochs=1).select_device(request_) == expected


def test_gpu_without_one_is_a_device_error_with_the_fix():
    with pytest.raises(DeviceError, match="no GPU is visible to numpy: use --device cpu") as error:
        NumpyTrainer(max_epochs=1).select_device("gpu")
    assert isinstance(error.value, RuntimeError) and error.value.exit_status == 2
    with pytest.raises(ValueError, match="device must be one of auto, cpu, gpu"):
        NumpyTrainer(max_epochs=1).select_device("tpu")


def test_replicas_are_counted_once_and_named_in_the_device():
    trainer = GpuTrainer(max_epochs=1, num_gpus=2, device="gpu")
    assert (trainer.num_replicas, trainer.replica_rank) == (2, 0)
    trainer.device = trainer.select_device("gpu")
    assert trainer.device_name() == "2 × gpu"
    with pytest.raises(ReplicaError, match="use --devices 2 or fewer") as error:
        GpuTrainer(max_epochs=1, num_gpus=3).select_device("gpu")
    assert isinstance(error.value, D2LAlexNetError)
    with pytest.raises(ValueError, match="num_gpus"):
        NumpyTrainer(max_epochs=1, num_gpus=-1)


def test_only_the_first_replica_speaks():
    class SecondReplica(NumpyTrainer):
        def replicas(self, requested):
            return 2, 1

    trainer = SecondReplica(max_epochs=1, progress=True, log=print)
    assert not trainer.is_first_replica
    assert (trainer.progress, trainer.log) == (False, None)


def test_to_float_reads_any_scalar_the_steps_return():
    trainer = NumpyTrainer(max_epochs=1)
    assert trainer.to_float(np.float32(0.25)) == 0.25
    assert trainer.to_float(np.array([1.5])) == 1.5  # MXNet's scalars have shape (1,)


def test_validation_sums_add_up_the_models_own_unaveraged_loss_and_accuracy():
    from d2l_alexnet.core.trainer import validation_sums

    class Scored:
        def loss(self, Y_hat, Y, averaged=True):
            assert not averaged
            return (Y_hat - Y) ** 2

        def accuracy(self, Y_hat, Y, averaged=True):
            assert not averaged
            return (Y_hat == Y).astype(np.float32)

    Y_hat, Y = np.array([1.0, 2.0, 4.0]), np.array([1.0, 3.0, 2.0])
    assert validation_sums(Scored(), Y_hat, Y) == (5.0, 1.0)
    assert validation_sums(Scored(), Y_hat, Y, total=lambda values: values.max()) == (4.0, 1.0)


# ---- data that cannot be trained on, refused in one line -------------------------------------

def book_style(train_batches, val_batches=None):
    """A lesson's module whose loaders are the lists (or whatever) given."""

    class Lesson:
        batch_size = 4

        def train_dataloader(self):
            return train_batches() if callable(train_batches) else train_batches

        def val_dataloader(self):
            batches = train_batches if val_batches is None else val_batches
            return batches() if callable(batches) else batches

    return Lesson()


def pixels(count, high=255, dtype=np.uint8, seed=0):
    return np.random.default_rng(seed).uniform(0, high, (count, 28, 28)).astype(dtype)


def one_line_error(kind, call):
    with pytest.raises(kind) as error:
        call()
    message = str(error.value)
    assert "\n" not in message, message
    return message


def test_one_indexed_labels_are_refused_naming_the_fix(data):
    trainer = NumpyTrainer(max_epochs=1, progress=False, log=None)
    labels = np.array([1, 2, 3, 4])
    lesson = book_style([(pixels(4), labels)])
    message = one_line_error(D2LAlexNetError,
                             lambda: trainer.fit(SoftmaxRegression(num_classes=4), lesson))
    assert message == ("a batch of Lesson.train_dataloader() has label 4, but the model has "
                       "num_classes=4: labels must be class indices 0..3; they look one-indexed "
                       "(1..4): subtract 1")
    negative = book_style([(pixels(4), np.array([0, -1, 2, 3]))])
    assert "has label -1" in one_line_error(
        D2LAlexNetError, lambda: trainer.fit(SoftmaxRegression(num_classes=4), negative))
    # Labels held in memory are checked once, before the first step: by evaluate too (data
    # that names its classes, as FashionMNIST does, is refused for their number first).
    message = one_line_error(D2LAlexNetError,
                             lambda: trainer.evaluate(SoftmaxRegression(num_classes=4), data))
    assert "FashionMNISTBase names 10 classes" in message
    assert "build the model with num_classes=10" in message
    data_without_names = FashionMNISTBase(batch_size=10, limit_train=30, limit_val=20, log=None)
    data_without_names.classes = None
    message = one_line_error(D2LAlexNetError, lambda: trainer.evaluate(
        SoftmaxRegression(num_classes=4), data_without_names))
    assert "FashionMNISTBase's train split has label 9" in message
    assert "build the model with num_classes=10" in message
    assert trainer.step == 0


def test_one_hot_loader_labels_are_refused():
    trainer = NumpyTrainer(max_epochs=1, progress=False, log=None)
    lesson = book_style([(pixels(4), np.eye(10)[[0, 1, 2, 3]])])
    assert "y.argmax(axis=1)" in one_line_error(
        D2LAlexNetError, lambda: trainer.fit(SoftmaxRegression(), lesson))


@pytest.mark.parametrize("batch, expected", [
    ((pixels(4), np.arange(3)),
     "Lesson.train_dataloader() yields a batch of 4 images and 3 labels: give one label per image"),
    ((pixels(4), np.array([0.0, 1.6, 2.0, 3.0])),
     "Lesson.train_dataloader() yields float64 labels that are not whole numbers (such as 1.6)"),
    ((pixels(2), np.array(["shirt", "shoe"])),
     "Lesson.train_dataloader() yields <U5 labels: give one class index per example"),
    ((pixels(1)[0], np.int64(3)),
     "Lesson.train_dataloader() yields one example at a time (its label 3 is a single number): "
     "batch them"),
    ({"image": pixels(4), "label": np.arange(4)},
     "Lesson.train_dataloader() yields dicts (keys 'image', 'label'), not (X, y) pairs"),
    (pixels(4), "Lesson.train_dataloader() yields ndarray batches, not (X, y) pairs"),
])
def test_loader_batches_that_do_not_pair_images_with_class_indices_are_refused(batch, expected):
    trainer = NumpyTrainer(max_epochs=1, progress=False, log=None)
    message = one_line_error(D2LAlexNetError,
                             lambda: trainer.fit(SoftmaxRegression(), book_style([batch])))
    assert message.startswith(expected), message
    assert trainer.step == 0


def test_whole_float_labels_from_a_loader_are_taken_as_class_indices():
    metrics = []
    for labels in (np.arange(4, dtype=np.float32), np.arange(4)):
        trainer = NumpyTrainer(max_epochs=1, progress=False, log=None)
        record = trainer.fit(SoftmaxRegression(), book_style([(pixels(4), labels)]))[0]
        metrics.append([record[key] for key in ("train_loss", "val_loss", "val_acc")])
    assert metrics[0] == metrics[1]


def test_a_model_of_one_class_is_refused(data):
    trainer = NumpyTrainer(max_epochs=1, progress=False, log=None)
    message = one_line_error(ValueError,
                             lambda: trainer.fit(SoftmaxRegression(num_classes=1), data))
    assert "num_classes=1, but a classifier needs at least 2 classes" in message


@pytest.mark.parametrize("train, val, epoch", [
    ([], None, 1),  # an empty training loader
    (lambda: iter([(pixels(4), np.arange(4))]), [], 1),  # an empty validation loader
    (iter([(pixels(4), np.arange(4))]), [(pixels(4), np.arange(4))], 2),  # used up after one
])
def test_a_loader_that_yields_nothing_is_refused(train, val, epoch):
    trainer = NumpyTrainer(max_epochs=2, progress=False, log=None)
    message = one_line_error(D2LAlexNetError,
                             lambda: trainer.fit(SoftmaxRegression(), book_style(train, val)))
    split = "val" if val == [] else "train"
    assert message.startswith(f"Lesson.{split}_dataloader() yielded no batch in epoch {epoch}: ")
    assert "return a new iterator or DataLoader from each call" in message


@pytest.mark.parametrize("train, val", [
    (None, [(pixels(4), np.arange(4))]),
    ([(pixels(4), np.arange(4))], None),
    ([(pixels(4), np.arange(4))], 4),
])
def test_a_loader_method_that_returns_no_batches_is_refused_before_a_step(train, val):
    lesson = book_style(train, val)
    if val is None:  # book_style gives the training batches for a missing validation split
        type(lesson).val_dataloader = lambda self: None
    trainer = NumpyTrainer(max_epochs=1, progress=False, log=None)
    message = one_line_error(D2LAlexNetError, lambda: trainer.fit(SoftmaxRegression(), lesson))
    split, returned = ("train", "NoneType") if train is None else (
        "val", "NoneType" if val is None else "int")
    assert message.startswith(f"Lesson.{split}_dataloader() returned {returned}, not batches:")
    assert ("hold out some examples" in message) == (split == "val")
    assert trainer.step == 0


def test_unscaled_float_pixels_from_a_loader_are_refused_before_a_step():
    trainer = NumpyTrainer(max_epochs=1, progress=False, log=None)
    lesson = book_style([(pixels(4, dtype=np.float32), np.arange(4))])
    message = one_line_error(D2LAlexNetError, lambda: trainer.fit(SoftmaxRegression(), lesson))
    assert "Lesson.train_dataloader() yields float32 images with values up to 25" in message
    assert "divide them by 255" in message and trainer.step == 0
    wide = book_style([(pixels(4, dtype=np.int64), np.arange(4))])  # named as given, not cast
    message = one_line_error(D2LAlexNetError, lambda: trainer.fit(SoftmaxRegression(), wide))
    assert "yields int64 images with values up to 25" in message
    not_a_number = pixels(4, high=1, dtype=np.float32)
    not_a_number[0, 0, 0] = np.nan
    message = one_line_error(D2LAlexNetError, lambda: trainer.fit(
        SoftmaxRegression(), book_style([(not_a_number, np.arange(4))])))
    assert "yields images with NaN or infinite values" in message
    normalized = book_style([(pixels(4, high=1, dtype=np.float32) * 5 - 2.5, np.arange(4))])
    assert np.isfinite(trainer.fit(SoftmaxRegression(), normalized)[0]["train_loss"])


@pytest.mark.parametrize("dtype, high, advice, divisor", [
    (np.uint16, 65535, "divide them by 65535, the largest 16-bit value", 65535),
    (np.uint16, 200, "divide them by 65535, the largest 16-bit value", 65535),  # a dark picture
    (np.float32, 255, "divide them by 255 (", 255),
    (np.float32, 65535, "divide them by 65535 if they are 16-bit values", 65535),
    (np.float64, 1e6, "divide them by their largest possible value", 1e6),
])
def test_unscaled_pixels_are_told_the_divisor_of_their_kind_which_then_passes(dtype, high,
                                                                                advice, divisor):
    trainer = NumpyTrainer(max_epochs=1, progress=False, log=None)
    images = pixels(4, high=high, dtype=dtype)
    message = one_line_error(D2LAlexNetError, lambda: trainer.fit(
        SoftmaxRegression(), book_style([(images, np.arange(4))])))
    assert advice in message
    scaled = (images / divisor).astype(np.float32)  # the advice followed: no refusal
    history = trainer.fit(SoftmaxRegression(), book_style([(scaled, np.arange(4))]))
    assert np.isfinite(history[0]["train_loss"])


def test_a_finite_loss_that_explodes_stops_training_with_advice_for_the_caller(data):
    class Exploding(NumpyTrainer):
        def train_step(self, batch):
            super().train_step(batch)
            return 1e11  # what MXNet reached on unscaled pixels, finite all the way

    trainer = Exploding(max_epochs=1, progress=False, log=None)
    with pytest.raises(TrainingError) as error:
        trainer.fit(SoftmaxRegression(lr=0.02), data)
    assert str(error.value) == ("the training loss became 1e+11 in epoch 1: lower the learning "
                                "rate (now lr=0.02)")
    assert error.value.for_command_line() == ("the training loss became 1e+11 in epoch 1: lower "
                                              "the learning rate (now --lr 0.02)")


@pytest.mark.parametrize("num_classes", [2, 10])
@pytest.mark.parametrize("factor, stops", [(1.001, True), (0.999, False)])
def test_the_divergence_limit_is_ten_thousand_times_ln_num_classes(num_classes, factor, stops):
    """README: a training loss above 10⁴ × ln(num_classes) stops the run, one below it does
    not (2 classes' limit, 6931, is below 10's, 23026: the limit follows num_classes)."""
    loss = factor * 1e4 * math.log(num_classes)

    class Steady(NumpyTrainer):
        def train_step(self, batch):
            super().train_step(batch)
            return loss

    trainer = Steady(max_epochs=1, progress=False, log=None)
    images = (pixels(4) / 255).astype(np.float32)

    def fit():
        return trainer.fit(SoftmaxRegression(lr=0.02, num_classes=num_classes),
                           book_style([(images, np.arange(4) % num_classes)]))

    if stops:
        assert one_line_error(TrainingError, fit).startswith(
            f"the training loss became {loss:.4g} in epoch 1: lower the learning rate")
    else:
        assert fit()[0]["train_loss"] == pytest.approx(loss)


def test_each_fit_draws_its_own_curves(data):
    """A notebook cell run again: the second fit's curves start afresh, in a new figure, where
    they had been drawn over the first's, into the first cell's output."""
    board = ProgressBoard(live=False)
    trainer = NumpyTrainer(max_epochs=1, progress=False, log=None, board=board)
    trainer.fit(SoftmaxRegression(lr=0.05), data)
    board._display_handle = object()  # as a live board's first fit leaves it
    trainer.fit(SoftmaxRegression(lr=0.05), data)
    assert board.series["train_loss"][0] == [0.5, 1.0] and board.series["val_acc"][0] == [1.0]
    assert board._display_handle is None


def test_an_interrupted_epoch_closes_its_bar(data):
    """Ctrl-C in a notebook: the bar left open made every later bar of the kernel print a line
    per update (tqdm placed them below it)."""
    from tqdm.std import tqdm

    trainer = NumpyTrainer(max_epochs=1, progress=True, log=None,
                           board=ProgressBoard(live=False))

    def interrupt(trainer):
        raise KeyboardInterrupt

    trainer.step_callbacks.append(interrupt)
    before = len(tqdm._instances)
    # Held, as Jupyter holds the last traceback: its frames would keep an unclosed bar alive.
    with pytest.raises(KeyboardInterrupt) as interrupted:
        trainer.fit(SoftmaxRegression(lr=0.05), data)
    assert len(tqdm._instances) == before, interrupted.traceback


def test_a_fit_refused_before_its_first_step_undoes_its_setup(data):
    """A callback refusing at the start (a checkpoint folder of another run, say): what the
    backend set up in the model for training is undone (TensorFlow's bf16 layers)."""
    class Refusing:
        def on_fit_start(self, trainer, state):
            raise ValueError("refused")

    abandoned = []
    trainer = NumpyTrainer(max_epochs=1, progress=False, log=None, callbacks=[Refusing()],
                           board=ProgressBoard(live=False))
    trainer.fit_abandoned = abandoned.append
    model = SoftmaxRegression(lr=0.05)
    with pytest.raises(ValueError, match="refused"):
        trainer.fit(model, data)
    assert abandoned == [model] and trainer.step == 0


def test_a_lessons_loader_made_from_ours_draws_each_epochs_order(tmp_path):
    """A subclass whose get_dataloader wraps super()'s got epoch 0's order in every epoch (a
    new loader each epoch started again); the Trainer now names each pass's epoch, so a run
    resumed at epoch 2 draws what the straight one did."""
    from d2l_alexnet.core.checkpoint import Checkpointer, latest_checkpoint

    seen = []

    class Inverted(FashionMNISTBase):
        def get_dataloader(self, train):
            for images, labels in super().get_dataloader(train):
                if train:
                    seen.append(labels.copy())
                yield 1.0 - images, labels

    options = dict(batch_size=25, resize=28, limit_train=50, limit_val=25, log=None)
    straight = NumpyTrainer(max_epochs=2, progress=False, log=None).fit(
        SoftmaxRegression(lr=0.05), Inverted(**options))
    plain = FashionMNISTBase(**options)
    assert [labels.tolist() for labels in seen] == [
        labels.tolist() for epoch in (0, 1) for _, labels in plain.raw_batches(True, epoch=epoch)]
    first = NumpyTrainer(max_epochs=1, progress=False, log=None)
    Checkpointer(tmp_path, log=None).attach(first)
    first.fit(SoftmaxRegression(lr=0.05), Inverted(**options))
    resumed = NumpyTrainer(max_epochs=2, progress=False, log=None)
    Checkpointer(tmp_path, log=None).attach(resumed)
    history = resumed.fit(SoftmaxRegression(lr=0.05), Inverted(**options),
                          resume=latest_checkpoint(tmp_path, log=None))
    assert history[-1]["train_loss"] == straight[-1]["train_loss"]


def test_a_stop_a_fit_has_stopped_at_does_not_stop_the_next_fit_or_evaluate(data):
    """stop_requested (a signal handler's, or code's) stayed set: every later fit and evaluate
    on that trainer (a notebook's, after a Ctrl-C) stopped at once. A stop set before a fit
    still stops it, as the CLI's first Ctrl-C during start-up does."""
    from d2l_alexnet.core.trainer import TrainingInterrupted

    trainer = NumpyTrainer(max_epochs=1, progress=False, log=None)
    stops = ["SIGINT"]  # one, at the first fit's first step
    trainer.step_callbacks.append(lambda trainer: setattr(trainer, "stop_requested", stops.pop())
                                  if stops else None)
    model = SoftmaxRegression(lr=0.1)
    with pytest.raises(TrainingInterrupted):
        trainer.fit(model, data)
    assert trainer.stop_requested == "SIGINT"  # what stopped it, for its caller
    assert set(trainer.evaluate(model, data)) == {"val_loss", "val_acc"}
    assert len(trainer.fit(model, data)) == 1
    trainer.stop_requested = "SIGTERM"
    with pytest.raises(TrainingInterrupted, match="SIGTERM"):
        trainer.fit(model, data)


class OwnSchedule(NumpyTrainer):
    """A trainer whose optimizer applies a rate of its own, as a lesson's scheduler sets it."""
    applied = 0.125

    def learning_rate(self):
        return self.applied


def test_the_record_holds_the_rate_the_optimizer_applies(data, monkeypatch):
    """A model's own schedule (a StepLR, a Keras ExponentialDecay) was logged as its constant
    lr in the history, metrics.jsonl and TensorBoard: Keras and Lightning log the rate applied."""
    history = OwnSchedule(max_epochs=1, progress=False, log=None,
                          board=ProgressBoard(live=False)).fit(SoftmaxRegression(lr=0.5), data)
    assert history[-1]["lr"] == 0.125
    # The model's own constant where the optimizer applies it, held in float32 as it is.
    monkeypatch.setattr(OwnSchedule, "applied", float(np.float32(0.01)))
    history = OwnSchedule(max_epochs=1, progress=False, log=None,
                          board=ProgressBoard(live=False)).fit(SoftmaxRegression(lr=0.01), data)
    assert history[-1]["lr"] == 0.01


def test_log_false_is_silence_and_a_log_that_cannot_be_called_is_refused_at_once(tmp_path,
                                                                                  capsys):
    """log=False (the word people reach for) failed with "'bool' object is not callable" at
    the first line to say: after every image of a folder was decoded, or a fit's setup."""
    from PIL import Image

    from d2l_alexnet.core.checkpoint import Checkpointer, latest_checkpoint
    from d2l_alexnet.core.images import ImageFolder
    from numpy_backend import FashionMNIST

    for name in ("cats", "dogs"):
        (tmp_path / "pets" / name).mkdir(parents=True)
        for index in range(2):
            Image.new("L", (4, 4), 60 * index).save(tmp_path / "pets" / name / f"{index}.png")
    quiet_data = FashionMNIST(batch_size=10, resize=67, limit_train=30, limit_val=20, log=False)
    trainer = NumpyTrainer(max_epochs=1, log=False, board=ProgressBoard(live=False))
    Checkpointer(tmp_path / "ckpt", log=False).attach(trainer)
    trainer.fit(SoftmaxRegression(lr=0.5), quiet_data)
    ImageFolder(tmp_path / "pets", resize=4, validation_split=0.5, log=False)
    assert latest_checkpoint(tmp_path / "ckpt", log=False) is not None
    assert capsys.readouterr().out == ""
    for make in (lambda: NumpyTrainer(max_epochs=1, log="quiet"),
                 lambda: ImageFolder(tmp_path / "pets", log=0),
                 lambda: FashionMNIST(batch_size=10, resize=67, log="no"),
                 lambda: Checkpointer(tmp_path / "other", log=True),
                 lambda: latest_checkpoint(tmp_path / "ckpt", log="off")):
        with pytest.raises(TypeError, match=r"log must be a function that takes one line"):
            make()


def test_fit_refuses_a_class_where_a_model_or_data_made_of_it_goes(data):
    """fit(AlexNet, data) failed with "'property' object is not iterable"."""
    trainer = NumpyTrainer(max_epochs=1, progress=False, log=None)
    with pytest.raises(TypeError, match=r"fit: model is the class SoftmaxRegression, not one "
                                        r"made of it: pass SoftmaxRegression\(...\)"):
        trainer.fit(SoftmaxRegression, data)
    with pytest.raises(TypeError, match="fit: data is the class FashionMNISTBase"):
        trainer.fit(SoftmaxRegression(lr=0.5), FashionMNISTBase)
