"""Training recipes in every backend (``pytest tests/contract --backend B``): each framework's own
schedule gives the core plan's rate at every step, label smoothing and weight decay compute
what the recipe says, a run stopped mid-schedule resumes exactly, and
``bench --time-to-accuracy`` stops at the target and says when it never got there."""

import json
import shlex
import sys

import numpy as np
import pytest

from d2l_alexnet import bench
from d2l_alexnet.core.checkpoint import read_checkpoint

from test_contract import SMALL, TIMING_KEYS, run_train, without_timing  # noqa: E402

SCHEDULES = {
    "onecycle": {"schedule": "onecycle", "max_lr": 0.05},
    "cosine": {"schedule": "cosine", "max_lr": 0.03, "warmup_epochs": 0.5},
    "warmup": {"max_lr": 0.02, "warmup_epochs": 1},
}


def tiny_data(d2l, examples=32, batch_size=8):
    return d2l.FashionMNIST(batch_size=batch_size, resize=(SMALL, SMALL), limit_train=examples,
                            limit_val=8, log=None)


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_the_frameworks_schedule_gives_the_plans_rate_at_every_step(d2l, name):
    d2l.set_seed(0)
    model = d2l.AlexNet(lr=0.01, resize=SMALL, momentum=0.9, nesterov=True,
                        weight_decay=5e-4, label_smoothing=0.1, **SCHEDULES[name])
    trainer = d2l.Trainer(max_epochs=2, progress=False, log=None)
    rates = []
    trainer.step_callbacks.append(lambda trainer: rates.append(trainer.learning_rate()))
    trainer.setup(model, tiny_data(d2l))
    rates.insert(0, trainer.learning_rate())  # before the first step
    trainer.fit(model, tiny_data(d2l))
    plan = trainer.lr_plan
    assert plan.total_steps == 8 and len(rates) == 9
    expected = [plan(step) for step in range(9)]
    np.testing.assert_allclose(rates, expected, rtol=1e-6, atol=1e-9)
    assert len(set(np.round(rates, 6))) > 3  # it really changes


def lesson_model_with_recipe_names(d2l, backend_name):
    """A lesson's model whose own arguments are called momentum and label_smoothing (its
    BatchNorm's momentum, say), written in its framework's book style."""
    if backend_name == "jax":
        class Lesson(d2l.Classifier):
            lr: float = 0.1
            momentum: float = 0.5
            label_smoothing: float = 0.3

        return Lesson()

    class Lesson(d2l.Classifier):
        def __init__(self, lr=0.1, momentum=0.5, label_smoothing=0.3):
            super().__init__()
            self.save_hyperparameters()

    return Lesson()


def test_a_lessons_arguments_named_like_the_recipes_leave_plain_sgd(d2l, backend_name):
    """Only our AlexNet (and its subclasses) reads momentum, label_smoothing... as its
    training recipe; a lesson's model trains as the book's configure_optimizers does, plain
    SGD at its lr with plain cross-entropy, whatever its own arguments are called."""
    lesson = lesson_model_with_recipe_names(d2l, backend_name)
    assert lesson.recipe.lr == 0.1 and lesson.recipe.momentum == 0.0
    assert lesson.smoothing() == 0.0
    model = d2l.AlexNet(lr=0.01, resize=SMALL, momentum=0.9, label_smoothing=0.1)
    assert model.recipe.momentum == 0.9 and model.smoothing() == 0.1


def test_a_checkpoint_names_the_rows_the_model_is_built_from(d2l):
    """A resumed run must be of the same rows (test_torch has a lesson's model, which names
    none)."""
    from d2l_alexnet.core.architecture import row_label
    from d2l_alexnet.core.notebook import LENET

    trainer = d2l.Trainer(max_epochs=1, progress=False, log=None).setup(
        d2l.AlexNet(resize=SMALL, layers=LENET), tiny_data(d2l))
    assert trainer.run_identity()["network"] == " ".join(map(row_label, LENET))


def test_a_lessons_rate_set_without_save_hyperparameters_is_the_one_trained_with(
        d2l, backend_name):
    """``self.lr = lr`` in a lesson's ``__init__``, without ``save_hyperparameters()``: the
    book's configure_optimizers reads self.lr, and so do ours (it had trained at 0.01 while
    the metrics recorded 0.5)."""
    if backend_name == "jax":
        pytest.skip("a Flax module's lr is a field, always among its hyperparameters")

    class Lesson(d2l.Classifier):
        def __init__(self, lr=0.5):
            super().__init__()
            self.lr = lr

    assert Lesson().recipe.lr == 0.5 and Lesson(lr=0.2).recipe.lr == 0.2


def test_a_rate_set_after_the_model_was_built_is_the_one_trained_with(d2l):
    """``model.lr = ...`` after construction (the book's configure_optimizers reads self.lr
    at fit): the run is that of a model built with it, and the metrics record the rate the
    steps applied. Before, three backends kept the old rate and recorded the new one."""
    histories = []
    for late in (False, True):
        d2l.set_seed(0)
        if late:
            model = d2l.AlexNet(lr=0.01, resize=SMALL, dropout=0)
            model.lr, model.label_smoothing = 0.05, 0.2
        else:
            model = d2l.AlexNet(lr=0.05, resize=SMALL, dropout=0, label_smoothing=0.2)
        trainer = d2l.Trainer(max_epochs=1, progress=False, log=None)
        history = trainer.fit(model, tiny_data(d2l, examples=16))
        assert trainer.learning_rate() == pytest.approx(0.05) and history[-1]["lr"] == 0.05
        histories.append([(record["train_loss"], record["val_loss"]) for record in history])
    np.testing.assert_allclose(histories[1], histories[0], rtol=1e-6)


def test_a_constant_recipe_keeps_the_chapters_rate(d2l):
    model = d2l.AlexNet(lr=0.02, resize=SMALL)
    trainer = d2l.Trainer(max_epochs=1, progress=False, log=None).setup(model, tiny_data(d2l))
    assert trainer.lr_plan is None and trainer.learning_rate() == pytest.approx(0.02)


def test_label_smoothing_is_the_smoothed_cross_entropy(d2l):
    """The loss on a batch equals (1 - ε) × cross-entropy + ε × the mean over classes of
    -log p, computed here in numpy from the model's own logits (the output layer's weights
    scaled up and each label the least likely class, so that the two terms differ)."""
    data = tiny_data(d2l, examples=8)
    images, labels = data.train_images[:8], data.train_labels[:8]
    smoothing = 0.2
    d2l.set_seed(0)
    model = d2l.AlexNet(lr=0.01, resize=SMALL, label_smoothing=smoothing)
    arrays = d2l.parameter_arrays(model)
    name, kernel = arrays[-2]
    arrays[-2] = (name, kernel * 300)
    d2l.assign_parameter_arrays(model, arrays)
    trainer = d2l.Trainer(max_epochs=1, progress=False, log=None).setup(model, data)
    logits = model.evaluate_batch(trainer.prepare_batch(images, labels)[0],
                                  features=False).astype(np.float64)
    labels = logits.argmin(axis=1)  # the least likely class: far from the classes' mean
    measured = trainer.to_float(trainer.eval_step(trainer.prepare_batch(images, labels))[0])
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    nll = -log_p[np.arange(8), labels]
    assert measured == pytest.approx(((1 - smoothing) * nll - smoothing * log_p.mean(axis=1))
                                     .sum(), rel=1e-4)
    assert measured != pytest.approx(nll.sum(), rel=1e-2)  # not the plain cross-entropy


def test_weight_decay_adds_the_coupled_l2_term_to_the_gradient(d2l):
    """One plain SGD step (no momentum, no dropout) with and without weight decay: the
    difference of the two updates is -lr × wd × w for every weight, in every backend."""
    data = tiny_data(d2l, examples=8)
    lr, decay = 0.01, 0.1
    start, after = None, {}
    for weight_decay in (0.0, decay):
        d2l.set_seed(0)
        model = d2l.AlexNet(lr=lr, resize=SMALL, dropout=0, weight_decay=weight_decay)
        if start is None:
            start = [array.copy() for _, array in d2l.parameter_arrays(model)]
        d2l.Trainer(max_epochs=1, progress=False, log=None).fit(model, data)
        after[weight_decay] = [array for _, array in d2l.parameter_arrays(model)]
    for index, weights in enumerate(start):
        difference = after[decay][index] - after[0.0][index]
        np.testing.assert_allclose(difference, -lr * decay * weights, rtol=2e-2,
                                   atol=2e-6 * np.abs(weights).max(), err_msg=str(index))


RECIPE_RUN = ("--momentum", "0.9", "--nesterov", "--weight-decay", "5e-4", "--label-smoothing",
              "0.1", "--schedule", "onecycle", "--max-lr", "0.03", "--epochs", "2",
              "--batch-size", "8", "--limit-train", "16", "--limit-val", "8", "--resize",
              str(SMALL), "--checkpoint-every", "1")


def test_a_run_stopped_mid_schedule_resumes_exactly(d2l, backend_name, tmp_path):
    common = ["--backend", backend_name, *RECIPE_RUN]
    straight = tmp_path / "straight"
    result = run_train(common + ["--out", str(straight), "--checkpoint-dir",
                                 str(straight / "ckpt")])
    assert result.returncode == 0, result.stderr
    assert ("recipe (custom): SGD lr 0.01, Nesterov momentum 0.9, weight decay 0.0005, "
            "onecycle up to 0.03, then down to 0, label smoothing 0.1, 2 epoch(s)") in result.stdout

    resumed = tmp_path / "resumed"
    argv = common + ["--out", str(resumed), "--checkpoint-dir", str(resumed / "ckpt")]
    result = run_train(argv, D2L_ALEXNET_TEST_SIGNAL_AFTER_STEP="1:SIGINT")
    assert result.returncode == 130, result.stderr
    command = shlex.split(result.stderr.strip().splitlines()[-1].split("resume with: ", 1)[1])
    assert command[:3] == [sys.executable, "-m", "d2l_alexnet.train"]

    # Another recipe, or the same schedule over other epochs, would not continue it: exit 2.
    other = run_train([flag if flag != "0.03" else "0.04" for flag in command[3:]])
    assert other.returncode == 2 and "max_lr differ" in other.stderr, other.stderr
    longer = run_train(command[3:] + ["--epochs", "3"])
    assert longer.returncode == 2 and "resume with --epochs 2" in longer.stderr, longer.stderr

    result = run_train(command[3:])
    assert result.returncode == 0, result.stderr
    expected = read_checkpoint(straight / "ckpt" / "checkpoint-4.ckpt")
    got = read_checkpoint(resumed / "ckpt" / "checkpoint-4.ckpt")
    assert got.metadata["lr_plan"] == expected.metadata["lr_plan"] is not None
    assert got.metadata["recipe"]["schedule"] == "onecycle"
    differing = [name for name in expected.arrays
                 if not np.array_equal(got.arrays[name], expected.arrays[name])]
    assert not differing, f"not bit-exact: {differing}"
    assert any(name.startswith("optimizer.") for name in got.arrays)  # momentum was saved
    assert without_timing(got.metadata["history"]) == without_timing(
        expected.metadata["history"])
    assert set(TIMING_KEYS) <= set(got.metadata["history"][0])


def time_to_accuracy(backend_name, tmp_path, target):
    out = tmp_path / f"tta-{target}"
    status = bench.main(["--backend", backend_name, "--time-to-accuracy", str(target),
                         "--resize", str(SMALL), "--batch-size", "8", "--limit-train", "32",
                         "--limit-val", "32", "--epochs", "1", "--eval-every", "0.25",
                         "--out", str(out)])
    assert status == 0
    assert (out / "time-to-accuracy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return json.loads((out / "time-to-accuracy.json").read_text())


def test_time_to_accuracy_stops_at_the_target_and_says_when_it_never_gets_there(
        backend_name, tmp_path, capsys):
    missed = time_to_accuracy(backend_name, tmp_path, 1.0)
    assert not missed["reached"] and "seconds_to_target" not in missed
    curve = missed["curve"]
    assert [point["images"] for point in curve] == [8, 16, 24, 32]
    assert [point["epochs"] for point in curve] == [0.25, 0.5, 0.75, 1.0]
    printed = capsys.readouterr().out
    assert "did not reach 1.0 in 1 epoch(s): best val_acc" in printed
    assert missed["versions"]["d2l_alexnet"] and missed["command"].startswith("python -m")
    # Where the wait before the first evaluation went, phase by phase, in order.
    startup = missed["startup_seconds"]
    assert list(startup) == ["import", "data", "model", "setup", "first step",
                             "to the first evaluation"]
    assert all(seconds > 0 for seconds in startup.values()), startup  # each phase took time
    # ...and together they are the wait: the clock's first point is read just after (half
    # of it at least, not a time bound: a loaded machine may print slowly between the two).
    assert curve[0]["seconds"] / 2 <= sum(startup.values()) <= curve[0]["seconds"]
    assert "start-up: import " in printed

    # The same run (same seed) with the best accuracy it saw as the target stops there.
    target = max(point["val_acc"] for point in curve)
    assert target > 0
    first = next(index for index, point in enumerate(curve) if point["val_acc"] >= target)
    reached = time_to_accuracy(backend_name, tmp_path, target)
    assert reached["reached"] and len(reached["curve"]) == first + 1
    assert reached["images_to_target"] == curve[first]["images"]
    assert reached["seconds_to_target"] == reached["curve"][-1]["seconds"] > 0
    assert "reached val_acc" in capsys.readouterr().out
    assert list(reached["startup_seconds"]) == list(startup)


def test_a_time_to_accuracy_run_resumed_from_a_checkpoint_has_the_same_curve(
        backend_name, tmp_path, capsys):
    """A run killed after its third step (its checkpoints after that gone) and resumed with
    --resume evaluates at the same points to the same accuracies as one straight run, and
    its clock continues from the checkpoint's."""
    common = ["--backend", backend_name, "--time-to-accuracy", "1.0", "--resize", str(SMALL),
              "--batch-size", "8", "--limit-train", "32", "--limit-val", "32", "--epochs", "1",
              "--eval-every", "0.25", "--checkpoint-every", "1"]

    def measure(name, *extra):
        out = tmp_path / name
        assert bench.main(common + ["--out", str(out), "--checkpoint-dir",
                                    str(tmp_path / f"{name}-ckpt"), *extra]) == 0
        return json.loads((out / "time-to-accuracy.json").read_text())

    straight = measure("straight")
    checkpoints = tmp_path / "straight-ckpt"
    (checkpoints / "checkpoint-4.ckpt").unlink()  # as if killed before the last step
    saved = read_checkpoint(checkpoints / "checkpoint-3.ckpt").metadata[bench.PROGRESS_KEY]
    assert [point["step"] for point in saved["curve"]] == [1, 2, 3]  # step 3's evaluation too

    # Another target would mix two measurements: refused before the framework is used.
    other = common + ["--time-to-accuracy", "0.5", "--out", str(tmp_path / "other"),
                      "--checkpoint-dir", str(checkpoints), "--resume"]
    assert bench.main(other) == 2
    assert "measured target 1.0, this run has 0.5" in capsys.readouterr().err

    out = tmp_path / "resumed"
    assert bench.main(common + ["--out", str(out), "--checkpoint-dir", str(checkpoints),
                                "--resume"]) == 0
    assert "resuming from" in capsys.readouterr().out
    resumed = json.loads((out / "time-to-accuracy.json").read_text())
    assert straight["parts"] == 1 and resumed["parts"] == 2

    def without_clock(curve):
        return [{key: value for key, value in point.items()
                 if key not in ("seconds", "eval_seconds")} for point in curve]

    assert without_clock(resumed["curve"]) == without_clock(straight["curve"])
    assert resumed["curve"][:3] == saved["curve"]  # the first part's points, as measured
    last = resumed["curve"][-1]
    assert last["seconds"] > saved["seconds"] > saved["curve"][-1]["seconds"]
    assert last["eval_seconds"] > saved["eval_seconds"]


def test_a_time_to_accuracy_run_that_reached_its_target_is_not_trained_again_on_resume(
        backend_name, tmp_path, capsys):
    """The step that reaches the target is checkpointed, so --resume of the run says it has
    ended and leaves its result alone (it used to train on from the checkpoint before)."""
    out, checkpoints = tmp_path / "out", tmp_path / "ckpt"
    command = ["--backend", backend_name, "--time-to-accuracy", "1e-6", "--resize", str(SMALL),
               "--batch-size", "8", "--limit-train", "32", "--limit-val", "32", "--epochs", "2",
               "--eval-every", "0.25", "--checkpoint-dir", str(checkpoints),
               "--checkpoint-every", "1", "--out", str(out)]
    assert bench.main(command) == 0
    result = (out / "time-to-accuracy.json").read_bytes()
    curve = json.loads(result)["curve"]
    assert json.loads(result)["reached"]  # one image in 32 right: any untrained net gets there
    newest = sorted(checkpoints.glob("checkpoint-*.ckpt"),
                    key=lambda path: read_checkpoint(path).step)[-1]
    assert read_checkpoint(newest).step == curve[-1]["step"]
    capsys.readouterr()
    assert bench.main(command + ["--resume"]) == 0
    assert "the run has ended (it reached val_acc" in capsys.readouterr().out
    assert (out / "time-to-accuracy.json").read_bytes() == result
