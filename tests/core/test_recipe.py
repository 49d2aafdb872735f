"""Training recipes without a framework: the schedules' values at known steps, the refusals
with the flag to change, resuming rules, and the CLI flags that exit 2 before any import."""

import math
import types

import pytest

from d2l_alexnet import bench, train
from d2l_alexnet.core.checkpoint import CheckpointError
from d2l_alexnet.core.recipe import (CHAPTER, NAMED_RECIPES, LearningRatePlan, RecipeError,
                                     TrainingRecipe, resume_problem)
from d2l_alexnet.core.trainer import check_resumed_recipe, saved_recipe


def test_the_chapter_recipe_is_plain_sgd_at_a_constant_rate():
    assert CHAPTER == TrainingRecipe(lr=0.01)
    assert CHAPTER.describe() == "SGD lr 0.01"
    # A schedule says where the rate goes: cosine fell to 0 where "cosine to 0.01" was printed.
    assert TrainingRecipe(lr=0.01, schedule="cosine").describe() == (
        "SGD lr 0.01, cosine down to 0")
    assert TrainingRecipe(lr=0.01, schedule="onecycle", max_lr=0.05).describe() == (
        "SGD lr 0.01, onecycle up to 0.05, then down to 0")
    assert TrainingRecipe(lr=0.01, max_lr=0.05, warmup_epochs=1).describe() == (
        "SGD lr 0.01, warmup to 0.05")
    plan = CHAPTER.plan(steps_per_epoch=10, max_epochs=2)
    assert plan.is_constant and [plan(step) for step in (0, 7, 19)] == [0.01] * 3


def test_onecycle_rises_from_lr_to_max_lr_then_falls_linearly_to_zero():
    plan = TrainingRecipe(lr=0.01, schedule="onecycle", max_lr=0.05).plan(10, 2)
    assert (plan.warmup_steps, plan.total_steps) == (6, 20)  # 30% of the run by default
    assert plan(0) == 0.01
    assert plan(3) == pytest.approx(0.03)
    assert plan(6) == pytest.approx(0.05)
    assert plan(13) == pytest.approx(0.025)
    assert plan(19) == pytest.approx(0.05 / 14)
    assert plan(20) == 0.0  # the end of the run, never reached by a step


def test_cosine_falls_along_a_half_cosine_after_its_warmup():
    plan = TrainingRecipe(lr=0.01, schedule="cosine", max_lr=0.03, warmup_epochs=0.5).plan(10, 3)
    assert plan.warmup_steps == 5 and plan(5) == pytest.approx(0.03)
    assert plan(2) == pytest.approx(0.01 + 0.02 * 2 / 5)
    assert plan(5 + 25 // 2) == pytest.approx(0.03 * 0.5 * (1 + math.cos(math.pi * 12 / 25)))
    no_warmup = TrainingRecipe(lr=0.02, schedule="cosine").plan(10, 1)
    assert no_warmup(0) == 0.02 and no_warmup(5) == pytest.approx(0.01)


def test_a_constant_rate_may_have_a_warmup():
    plan = TrainingRecipe(lr=0.001, max_lr=0.01, warmup_epochs=1).plan(4, 2)
    assert [round(plan(step), 6) for step in range(6)] == [0.001, 0.00325, 0.0055, 0.00775,
                                                            0.01, 0.01]
    assert not plan.is_constant


@pytest.mark.parametrize("changes, flag, argument", [
    ({"lr": 0}, "--lr must be positive", "lr must be positive"),
    ({"momentum": 1.0}, "--momentum must be at least 0 and below 1",
     "momentum must be at least 0 and below 1"),
    ({"momentum": -0.1}, "--momentum", "momentum must"),
    ({"nesterov": True}, "--nesterov needs --momentum above 0 (Nesterov's method is a kind "
                         "of momentum): give it one, or --no-nesterov",
     "nesterov=True needs momentum above 0 (Nesterov's method is a kind of momentum): give it "
     "one, or nesterov=False"),
    ({"weight_decay": -1e-4}, "--weight-decay must be at least 0",
     "weight_decay must be at least 0"),
    ({"label_smoothing": 1.0}, "--label-smoothing must be at least 0 and below 1",
     "label_smoothing must be at least 0 and below 1"),
    ({"schedule": "step"}, "--schedule must be one of constant, onecycle, cosine",
     "schedule must be one of constant, onecycle, cosine"),
    ({"schedule": "onecycle"}, "--schedule onecycle needs --max-lr, the peak it rises to from "
                               "--lr", 'schedule="onecycle" needs max_lr, the peak it rises to '
                                       "from lr"),
    ({"max_lr": 0.001}, "--max-lr (0.001) must be at least --lr (0.01)",
     "max_lr (0.001) must be at least lr (0.01): the schedule rises from lr to max_lr"),
    ({"warmup_epochs": 1}, "--warmup-epochs needs --max-lr above --lr",
     "warmup_epochs needs max_lr above lr"),
    ({"warmup_epochs": -1, "max_lr": 0.1}, "--warmup-epochs must be at least 0",
     "warmup_epochs must be at least 0"),
    ({"lr": float("inf")}, "--lr must be a finite number, got inf",
     "lr must be a finite number, got inf"),
    ({"weight_decay": float("inf")}, "--weight-decay must be a finite number, got inf",
     "weight_decay must be a finite number, got inf"),
    ({"max_lr": float("inf"), "warmup_epochs": 1}, "--max-lr must be a finite number",
     "max_lr must be a finite number"),
    ({"max_lr": 0.1}, "--max-lr (0.1) with no warmup is the rate from the first step, so --lr "
                      "(0.01) would go unused", "max_lr (0.1) with no warmup is the rate from "
                                                "the first step, so lr (0.01) would go unused"),
    ({"schedule": "cosine", "max_lr": 0.1}, "give --warmup-epochs E to rise from --lr to "
                                            "--max-lr, or --max-lr 0.01 (as --lr) to start at "
                                            "--lr",
     "give warmup_epochs=E to rise from lr to max_lr, or max_lr=0.01 (as lr) to start at lr"),
    ({"schedule": "onecycle", "max_lr": 0.1, "warmup_epochs": 0}, "--lr (0.01) would go unused",
     "lr (0.01) would go unused"),
])
def test_a_recipe_that_cannot_train_is_refused_naming_the_callers_setting(changes, flag,
                                                                          argument):
    """A Python caller reads its arguments' names (lr, max_lr), the CLI's user the flags."""
    with pytest.raises(RecipeError) as refusal:
        CHAPTER.updated(**changes).check()
    assert str(refusal.value).startswith(argument) or f" {argument}" in str(refusal.value)
    assert "--" not in str(refusal.value)
    assert flag in refusal.value.for_command_line()
    assert refusal.value.for_command_line() == CHAPTER.updated(**changes).problems(flags=True)[0]


def test_a_warmup_must_leave_room_for_the_fall():
    recipe = TrainingRecipe(schedule="cosine", max_lr=0.1, warmup_epochs=2)
    assert recipe.problems(max_epochs=3) == []
    assert "must be shorter than --epochs (2)" in recipe.problems(max_epochs=2, flags=True)[0]
    assert recipe.problems(max_epochs=2)[0].startswith(
        "warmup_epochs (2) must be shorter than max_epochs (2)")  # the Trainer's argument
    assert "needs the number of steps" in str(pytest.raises(
        RecipeError, recipe.plan, 0, 3).value)


@pytest.mark.parametrize("schedule, warmup_epochs, max_epochs, steps_per_epoch, warmup_steps", [
    ("onecycle", 0.9, 1, 3, 2),   # rounds to the whole run: one step is left to fall in
    ("cosine", 1.9, 2, 1, 1),     # likewise, over 2 one-step epochs
    ("cosine", 0.1, 3, 2, 1),     # rounds to none: --lr would go unused; one step of warmup
    ("constant", 1, 1, 3, 3),     # a constant rate's warmup may fill the run
])
def test_a_warmup_rounded_to_steps_keeps_a_first_step_at_lr_and_a_step_to_fall_in(
        schedule, warmup_epochs, max_epochs, steps_per_epoch, warmup_steps):
    """The warmup's epochs become whole steps: never none (the first step is --lr's, as a
    warmup promises) and, where the rate then falls, never all of them (a crash before, a
    division by zero in the plan and an optax refusal in JAX); every rate is finite."""
    recipe = TrainingRecipe(lr=0.01, schedule=schedule, max_lr=0.05, warmup_epochs=warmup_epochs)
    assert recipe.problems(max_epochs) == []
    plan = recipe.plan(steps_per_epoch, max_epochs)
    assert plan.warmup_steps == warmup_steps and plan(0) == 0.01
    rates = [plan(step) for step in range(plan.total_steps + 2)]
    assert all(math.isfinite(rate) for rate in rates)
    if schedule != "constant":
        assert rates[plan.total_steps] == pytest.approx(0.0, abs=1e-12)


def test_the_named_recipes_can_train_over_their_own_epochs():
    for name, (recipe, epochs) in NAMED_RECIPES.items():
        assert recipe.problems(epochs) == [], name
    assert NAMED_RECIPES["chapter"] == (CHAPTER, 10)


def test_only_a_constant_rate_may_change_on_resume():
    assert resume_problem(CHAPTER, CHAPTER.updated(lr=0.001)) is None
    assert "momentum differ" in resume_problem(CHAPTER, CHAPTER.updated(momentum=0.9))
    onecycle = TrainingRecipe(schedule="onecycle", max_lr=0.1)
    assert "lr differ" in resume_problem(onecycle, onecycle.updated(lr=0.02))


class Saved:
    """A checkpoint as ``check_resumed_recipe`` reads it."""

    def __init__(self, **metadata):
        self.name, self.metadata = "checkpoint-3.ckpt", metadata


def test_a_schedule_resumes_only_over_the_epochs_it_was_planned_for():
    onecycle = TrainingRecipe(schedule="onecycle", max_lr=0.1)
    plan = onecycle.plan(10, 3)
    saved = Saved(recipe=onecycle.as_dict(), max_epochs=3,
                  lr_plan={"schedule": "onecycle", "lr": 0.01, "peak_lr": 0.1,
                           "warmup_steps": plan.warmup_steps, "total_steps": 30})
    check_resumed_recipe(saved, onecycle, 3, plan)
    with pytest.raises(CheckpointError, match="planned over 3 epochs .30 steps.*--epochs 3"):
        check_resumed_recipe(saved, onecycle, 4)
    with pytest.raises(CheckpointError, match="over 30 steps, this run's over 36: the batches"):
        check_resumed_recipe(saved, onecycle, 3, onecycle.plan(12, 3))
    with pytest.raises(CheckpointError, match="resume with the run's own recipe flags"):
        check_resumed_recipe(saved, onecycle.updated(label_smoothing=0.1), 3)
    # Without a schedule more epochs are fine (the chapter's run, extended).
    check_resumed_recipe(Saved(recipe=CHAPTER.as_dict(), max_epochs=3), CHAPTER, 5)


def test_a_checkpoint_from_before_recipes_is_the_chapters_sgd():
    assert saved_recipe({"lr": 0.02}) == CHAPTER.updated(lr=0.02)
    with pytest.raises(CheckpointError, match="momentum differ"):
        check_resumed_recipe(Saved(lr=0.01, max_epochs=2), CHAPTER.updated(momentum=0.9), 2)


def test_the_plan_is_saved_as_plain_values():
    plan = LearningRatePlan("cosine", 0.01, 0.1, 5, 50)
    assert LearningRatePlan(**{key: getattr(plan, key) for key in
                               ("schedule", "lr", "peak_lr", "warmup_steps",
                                "total_steps")}) == plan


@pytest.mark.parametrize("arguments, message", [
    (["--momentum", "1.5"], "--momentum must be at least 0 and below 1, got 1.5"),
    (["--nesterov"], "--nesterov needs --momentum above 0"),
    (["--schedule", "onecycle"], "--schedule onecycle needs --max-lr"),
    (["--schedule", "cosine", "--max-lr", "0.1", "--warmup-epochs", "2", "--epochs", "2"],
     "must be shorter than --epochs (2)"),
    (["--label-smoothing", "-0.1"], "--label-smoothing must be at least 0"),
    (["--weight-decay", "-1"], "--weight-decay must be at least 0"),
    (["--lr", "0"], "--lr must be positive"),
    (["--recipe", "fast", "--epochs", "0"], "--epochs must be at least 1"),
    (["--lr", "inf"], "--lr must be a finite number, got inf"),
    (["--weight-decay", "inf"], "--weight-decay must be a finite number, got inf"),
    (["--max-lr", "0.1"], "--lr (0.01) would go unused"),
    # A value the bundle gave, not the person, is said to come from it.
    (["--recipe", "fast", "--schedule", "constant"],
     "or --max-lr 0.01 (as --lr) to start at --lr (--max-lr comes from --recipe fast)"),
    (["--seed", "-1"], "--seed must be a whole number from 0 to 4294967295, got -1"),
    (["--seed", str(2**32)], "--seed must be a whole number from 0 to 4294967295"),
])
def test_the_cli_refuses_a_bad_recipe_with_exit_2_before_importing_a_framework(
        arguments, message, capsys, tmp_path):
    assert train.main(["--backend", "caffe2-not-checked-yet", "--out", str(tmp_path / "out"),
                       *arguments]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_recipe_fast_fills_in_what_is_not_given():
    args = train.build_parser().parse_args(["--recipe", "fast", "--momentum", "0.8",
                                            "--no-nesterov"])
    train.resolve_recipe(args)
    fast, epochs = NAMED_RECIPES["fast"]
    assert args.recipe == fast.updated(momentum=0.8, nesterov=False) and args.epochs == epochs
    assert args.recipe_name == "fast-custom" and args.lr == fast.lr
    args = train.build_parser().parse_args(["--recipe", "fast"])
    train.resolve_recipe(args)
    assert (args.recipe, args.recipe_name) == (fast, "fast")
    args = train.build_parser().parse_args(["--momentum", "0.9"])
    train.resolve_recipe(args)
    assert args.recipe_name == "custom" and args.epochs == 10


def test_evaluations_fall_every_half_epoch_and_at_every_epoch_end():
    assert sorted(bench.evaluation_steps(10, 2, 0.5)) == [5, 10, 15, 20]
    assert sorted(bench.evaluation_steps(7, 1, 0.5)) == [4, 7]  # 3.5 rounds to 4
    assert sorted(bench.evaluation_steps(10, 2, 1.5)) == [10, 15, 20]
    # An interval of a step or less is every step: --eval-every 1e-9 counted a billion
    # intervals in the set-up, minutes on the time-to-accuracy clock.
    assert sorted(bench.evaluation_steps(4, 2, 1e-9)) == list(range(1, 9))
    assert sorted(bench.evaluation_steps(4, 2, 0.25)) == list(range(1, 9))


@pytest.mark.parametrize("arguments, message", [
    (["--time-to-accuracy", "88"], "between 0 and 1, got 88.0"),
    (["--time-to-accuracy", "0.88", "--eval-every", "0"],
     "--eval-every must be a positive number of epochs"),
    (["--time-to-accuracy", "0.88", "--schedule", "onecycle"], "needs --max-lr"),
    (["--time-to-accuracy", "0.88", "--limit-train", "0"], "--limit-train must be at least 1"),
    (["--recipe", "fast"], "--recipe and --epochs go with --time-to-accuracy"),
    # "" wrote into the default folder, without a word.
    (["--time-to-accuracy", "0.88", "--out", ""], "--out needs a folder name, got an empty one"),
])
def test_time_to_accuracy_refuses_bad_flags_with_exit_2(arguments, message, capsys):
    assert bench.main(arguments) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("arguments, message", [
    (["--checkpoint-dir", "ckpt"], "--checkpoint-dir goes with --time-to-accuracy"),
    (["--resume"], "--resume goes with --time-to-accuracy"),
    (["--time-to-accuracy", "0.88", "--resume"], "--resume needs --checkpoint-dir DIR"),
    (["--time-to-accuracy", "0.88", "--checkpoint-every", "10"],
     "--checkpoint-every needs --checkpoint-dir DIR"),
])
def test_time_to_accuracy_checkpoint_flags_are_refused_with_exit_2(arguments, message, capsys):
    assert bench.main(arguments) == 2
    assert message in capsys.readouterr().err


def saved_progress(**changes):
    progress = {"target": 0.88, "eval_every": 0.5, "precision": "bf16", "val_examples": 10000,
                "curve": [], "seconds": 60.0, "eval_seconds": 5.0, "parts": 1}
    return types.SimpleNamespace(name="checkpoint-100.ckpt", path="ckpt/checkpoint-100.ckpt",
                                 metadata={"backend": "pytorch", "train_examples": 60000,
                                           bench.PROGRESS_KEY: dict(progress, **changes)})


def test_a_time_to_accuracy_run_resumes_only_its_own_measurement():
    this_run = {"target": 0.88, "eval_every": 0.5, "precision": "bf16"}
    bench.check_resumable(saved_progress(), this_run)  # the same measurement: accepted
    with pytest.raises(CheckpointError, match="measured target 0.9, this run has 0.88: "
                                              "resume with the flags it was started with"):
        bench.check_resumable(saved_progress(target=0.9), this_run)
    with pytest.raises(CheckpointError, match="measured precision 'fp32', this run has 'bf16'"):
        bench.check_resumable(saved_progress(precision="fp32"), this_run)
    with pytest.raises(CheckpointError, match="measured val examples 10000, this run has 2000"):
        bench.check_resumable(saved_progress(), {"val_examples": 2000})
    from_train = saved_progress()
    del from_train.metadata[bench.PROGRESS_KEY]
    with pytest.raises(CheckpointError, match="saved by train, not by bench --time-to-accuracy"):
        bench.check_resumable(from_train, this_run)
    with pytest.raises(CheckpointError) as refused:
        bench.check_resumable(saved_progress(), this_run, {"train_examples": 100})
    assert ("resume with the same data (it had 60,000 training images: the same --limit-train"
            in refused.value.for_command_line())


def test_the_time_to_accuracy_line_says_whether_the_target_was_reached():
    curve = [{"val_acc": 0.81, "epochs": 0.5, "seconds": 300.0},
             {"val_acc": 0.885, "epochs": 1.0, "seconds": 600.0}]
    reached = {"reached": True, "target": 0.88, "curve": curve, "seconds_to_target": 600.0,
               "images_to_target": 60000, "epochs_to_target": 1.0, "max_epochs": 3}
    assert bench.describe_time_to_accuracy(reached) == (
        "reached val_acc 0.8850 >= 0.88 after 600 s (10.0 min), 60,000 images, 1.00 epochs")
    missed = dict(reached, reached=False, target=0.9)
    assert bench.describe_time_to_accuracy(missed) == (
        "did not reach 0.9 in 3 epoch(s): best val_acc 0.8850 after 1.00 epochs (600 s)")


def test_a_diverged_schedule_points_at_its_peak():
    from d2l_alexnet.core.trainer import TrainerBase

    class Model:
        lr, recipe = 0.01, TrainingRecipe(schedule="onecycle", max_lr=0.2)

    trainer = TrainerBase(max_epochs=1, progress=False, log=None)
    trainer.model = Model()
    assert trainer.lower_rate_advice() == ("lower the peak learning rate (now {max_lr})",
                                           {"max_lr": 0.2})
    Model.recipe = CHAPTER
    assert trainer.lower_rate_advice() == ("lower the learning rate (now {lr})", {"lr": 0.01})
