"""Training recipes: SGD's settings, the learning-rate schedule and label smoothing, written once.

The chapter trains with plain SGD at a constant learning rate of 0.01 (:data:`CHAPTER`), and that
stays every default. A :class:`TrainingRecipe` adds what the field uses to train faster:
momentum (optionally Nesterov's), L2 weight decay, label smoothing, and a schedule:

- ``constant``: ``lr`` throughout (after the warmup, ``max_lr``);
- ``onecycle``: rises linearly from ``lr`` to ``max_lr`` over the warmup (30% of the run unless
  ``warmup_epochs`` says otherwise), then falls linearly to 0 at the end of the run;
- ``cosine``: rises linearly from ``lr`` to ``max_lr`` over the warmup (none unless asked), then
  falls along a half cosine to 0 at the end of the run.

So ``lr`` is always the rate of the first step and ``max_lr`` (``lr`` when not given) the peak;
a ``max_lr`` above ``lr`` without a warmup to rise over is refused, as it would leave ``lr``
unused.
:meth:`TrainingRecipe.plan` turns a recipe into a :class:`LearningRatePlan`, the rate of every
step as a pure function of the step: each backend builds its framework's own schedule
(``torch.optim.lr_scheduler``, ``keras.optimizers.schedules``, optax, ``mxnet.lr_scheduler``)
from the plan, the tests hold every one to the plan's values, and since it depends on the step
alone a resumed run continues it exactly.

Weight decay is the coupled L2 form (``weight_decay × w`` added to the gradient before momentum),
as PyTorch's, optax's and MXNet's SGD apply it; the Keras backend adds it to the gradients itself.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Optional

from .errors import D2LAlexNetError
from .types import is_flag, is_number

SCHEDULES = ("constant", "onecycle", "cosine")
ONECYCLE_WARMUP_FRACTION = 0.3  # of the run, when --warmup-epochs is not given (as OneCycleLR)


class RecipeError(D2LAlexNetError, ValueError):
    """A recipe that cannot train (a negative momentum, say). The message names the setting as
    a Python caller gives it (``max_lr``); :meth:`for_command_line`, as the CLI's flag
    (``--max-lr``)."""

    def __init__(self, message: str, command_line: str | None = None) -> None:
        super().__init__(message)
        self.command_line = command_line

    def for_command_line(self) -> str:
        return self.command_line if self.command_line is not None else str(self)


def setting_name(setting: str, flags: bool = False) -> str:
    """A recipe setting as its caller names it: the ``AlexNet`` argument (``max_lr``; the run's
    length is the Trainer's ``max_epochs``), or with ``flags`` the CLI's flag (``--max-lr``)."""
    if flags:
        return "--" + setting.replace("_", "-")
    return "max_epochs" if setting == "epochs" else setting


def setting_given(setting: str, value: Any, flags: bool = False) -> str:
    """A setting with its value as its caller writes it: ``schedule="onecycle"`` in Python,
    ``--schedule onecycle`` on the command line (a switch such as ``--nesterov`` alone)."""
    if flags:
        return setting_name(setting, True) + ("" if value is True else f" {value}")
    shown = f'"{value}"' if isinstance(value, str) else value
    return f"{setting_name(setting)}={shown}"


@dataclass(frozen=True)
class TrainingRecipe:
    """How to train: each field is the ``AlexNet`` argument and the CLI flag of the same name
    (``max_lr`` is ``--max-lr``). The defaults are the chapter's."""

    lr: float = 0.01
    momentum: float = 0.0
    nesterov: bool = False
    weight_decay: float = 0.0
    label_smoothing: float = 0.0
    schedule: str = "constant"
    warmup_epochs: Optional[float] = None
    max_lr: Optional[float] = None

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> TrainingRecipe:
        """A recipe from a mapping that may hold other keys too (a model's ``hparams``)."""
        return cls(**{f.name: values[f.name] for f in fields(cls) if f.name in values})

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def updated(self, **changes: Any) -> TrainingRecipe:
        return replace(self, **changes)

    @property
    def peak_lr(self) -> float:
        return self.lr if self.max_lr is None else self.max_lr

    def warmup(self, max_epochs: int) -> float:
        """The warmup's length in epochs for a run of ``max_epochs``."""
        if self.warmup_epochs is not None:
            return self.warmup_epochs
        return ONECYCLE_WARMUP_FRACTION * max_epochs if self.schedule == "onecycle" else 0.0

    def problems(self, max_epochs: int | None = None, flags: bool = False) -> list[str]:
        """What is wrong with the recipe, one line per setting (empty when it can train). Each
        setting is named as a Python caller gives it (``max_lr``), or with ``flags`` as the
        CLI's flag (``--max-lr``): see :func:`setting_name`."""
        lr, momentum, max_lr, warmup, epochs = (setting_name(setting, flags) for setting in (
            "lr", "momentum", "max_lr", "warmup_epochs", "epochs"))
        found = self.type_problems(flags)
        if found:  # the checks below compare numbers: lr="0.01" failed among them
            return found
        for setting, value in (("lr", self.lr), ("weight_decay", self.weight_decay),
                               ("max_lr", self.max_lr), ("warmup_epochs", self.warmup_epochs)):
            if value is not None and math.isinf(value):  # (NaN fails the checks below)
                found.append(f"{setting_name(setting, flags)} must be a finite number, got "
                             f"{value}")
        if not self.lr > 0:
            found.append(f"{lr} must be positive, got {self.lr} (the chapter uses 0.01)")
        if not 0 <= self.momentum < 1:
            found.append(f"{momentum} must be at least 0 and below 1, got {self.momentum} "
                         "(0.9 is usual)")
        if self.nesterov and self.momentum == 0:
            found.append(f"{setting_given('nesterov', True, flags)} needs {momentum} above 0 "
                         "(Nesterov's method is a kind of momentum): give it one, or "
                         f"{'--no-nesterov' if flags else 'nesterov=False'}")
        if not self.weight_decay >= 0:
            found.append(f"{setting_name('weight_decay', flags)} must be at least 0, got "
                         f"{self.weight_decay}")
        if not 0 <= self.label_smoothing < 1:
            found.append(f"{setting_name('label_smoothing', flags)} must be at least 0 and "
                         f"below 1, got {self.label_smoothing} (0.1 is usual)")
        if self.schedule not in SCHEDULES:
            found.append(f"{setting_name('schedule', flags)} must be one of "
                         f"{', '.join(SCHEDULES)}, got {self.schedule!r}")
        if self.max_lr is not None and not self.max_lr >= self.lr:
            found.append(f"{max_lr} ({self.max_lr}) must be at least {lr} ({self.lr}): the "
                         f"schedule rises from {lr} to {max_lr}")
        no_warmup = self.warmup_epochs == 0 or (self.warmup_epochs is None
                                                 and self.schedule != "onecycle")
        if self.max_lr is not None and self.max_lr > self.lr and no_warmup:
            some_warmup = f"{warmup} E" if flags else f"{warmup}=E"
            # (Not "lr alone": a named recipe gives max_lr whatever lr is.)
            one_rate = setting_given("max_lr", self.lr, flags)
            found.append(f"{max_lr} ({self.max_lr}) with no warmup is the rate from the first "
                         f"step, so {lr} ({self.lr}) would go unused: give {some_warmup} to "
                         f"rise from {lr} to {max_lr}, or {one_rate} (as {lr}) to start at "
                         f"{lr}")
        if self.schedule == "onecycle" and self.max_lr is None:
            found.append(f"{setting_given('schedule', 'onecycle', flags)} needs {max_lr}, the "
                         f"peak it rises to from {lr}")
        if self.warmup_epochs is not None:
            if not self.warmup_epochs >= 0:
                found.append(f"{warmup} must be at least 0, got {self.warmup_epochs}")
            elif self.warmup_epochs > 0 and self.peak_lr == self.lr:
                found.append(f"{warmup} needs {max_lr} above {lr}: the warmup rises from {lr} "
                             f"to {max_lr}")
        if max_epochs is not None and self.schedule != "constant" \
                and self.warmup(max_epochs) >= max_epochs:
            found.append(f"{warmup} ({self.warmup(max_epochs):g}) must be shorter than "
                         f"{epochs} ({max_epochs}): the {self.schedule} schedule falls after it")
        elif max_epochs is not None and self.warmup(max_epochs) > max_epochs:
            found.append(f"{warmup} ({self.warmup(max_epochs):g}) is longer than "
                         f"{epochs} ({max_epochs}): give a shorter warmup or more epochs")
        return found

    def type_problems(self, flags: bool = False) -> list[str]:
        """The settings that are not of their kind: a number (a bool or a string of digits
        is not one), ``nesterov`` True or False."""
        found = []
        for setting in ("lr", "momentum", "weight_decay", "label_smoothing", "warmup_epochs",
                        "max_lr"):
            value = getattr(self, setting)
            optional = setting in ("warmup_epochs", "max_lr")
            if not is_number(value) and not (optional and value is None):
                default = "None or " if optional else ""
                found.append(f"{setting_name(setting, flags)} must be {default}a number, got "
                             f"{value!r}")
        if not is_flag(self.nesterov):
            found.append(f"{setting_name('nesterov', flags)} must be True or False, got "
                         f"{self.nesterov!r}")
        return found

    def check(self, max_epochs: int | None = None) -> TrainingRecipe:
        """Raise :class:`RecipeError` with the first problem, if any, in the Python caller's
        names (its ``for_command_line()`` in the CLI's flags); returns the recipe."""
        found = self.problems(max_epochs)
        if found:
            raise RecipeError(found[0], self.problems(max_epochs, flags=True)[0])
        return self

    def plan(self, steps_per_epoch: int, max_epochs: int) -> LearningRatePlan:
        """The learning rate of every step of a run of ``max_epochs`` epochs."""
        self.check(max_epochs)
        if steps_per_epoch < 1:
            raise RecipeError(f"a schedule needs the number of steps per epoch, got "
                              f"{steps_per_epoch}")
        total_steps = max_epochs * steps_per_epoch
        warmup_steps = round(self.warmup(max_epochs) * steps_per_epoch)
        # Rounded to steps, a warmup keeps what its epochs promise: --lr is the first step's
        # rate (one step of warmup at least), and a schedule that decays has a step to do it in.
        if self.warmup(max_epochs) > 0:
            warmup_steps = max(warmup_steps, 1)
        if self.schedule != "constant":
            warmup_steps = min(warmup_steps, total_steps - 1)
        return LearningRatePlan(schedule=self.schedule, lr=self.lr, peak_lr=self.peak_lr,
                                warmup_steps=max(warmup_steps, 0), total_steps=total_steps)

    def describe(self) -> str:
        """A short human summary, for the log line and the benchmark's table."""
        parts = [f"SGD lr {self.lr:g}"]
        if self.momentum:
            parts.append(f"{'Nesterov ' if self.nesterov else ''}momentum {self.momentum:g}")
        if self.weight_decay:
            parts.append(f"weight decay {self.weight_decay:g}")
        rises = self.peak_lr > self.lr  # over a warmup
        if self.schedule == "constant" and rises:
            parts.append(f"warmup to {self.peak_lr:g}")
        elif self.schedule != "constant":  # both fall to 0 at the end of the run
            rise = f"up to {self.peak_lr:g}, then " if rises else ""
            parts.append(f"{self.schedule} {rise}down to 0")
        if self.label_smoothing:
            parts.append(f"label smoothing {self.label_smoothing:g}")
        return ", ".join(parts)


@dataclass(frozen=True)
class LearningRatePlan:
    """The learning rate of step ``step`` (0 for the first update) of a planned run."""

    schedule: str
    lr: float
    peak_lr: float
    warmup_steps: int
    total_steps: int

    @property
    def is_constant(self) -> bool:
        return self.schedule == "constant" and self.warmup_steps == 0

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return self.lr + (self.peak_lr - self.lr) * step / self.warmup_steps
        if self.schedule == "constant":
            return self.peak_lr
        decay_steps = self.total_steps - self.warmup_steps
        progress = min(1.0, (step - self.warmup_steps) / decay_steps) if decay_steps > 0 else 1.0
        if self.schedule == "onecycle":
            return self.peak_lr * (1.0 - progress)
        return self.peak_lr * 0.5 * (1.0 + math.cos(math.pi * progress))


def resume_problem(saved: TrainingRecipe, current: TrainingRecipe) -> str | None:
    """Why a run of recipe ``current`` cannot continue a checkpoint of recipe ``saved`` exactly
    (``None`` when it can). Only a constant rate may change on resume, as ``--lr`` always could
    (a lower one after a diverged run); every other setting shapes the steps still to come."""
    constant = all(recipe.schedule == "constant" and recipe.peak_lr == recipe.lr
                   for recipe in (saved, current))
    ignored = {"lr", "max_lr"} if constant else set()
    differing = [name for name, value in saved.as_dict().items()
                 if name not in ignored and value != current.as_dict()[name]]
    if not differing:
        return None
    return (f"the checkpoint was trained with {saved.describe()}, this run asks for "
            f"{current.describe()} ({', '.join(differing)} differ): resume with the run's own "
            "recipe flags")


CHAPTER = TrainingRecipe()

# The bundle ``--recipe fast`` stands for: the combination that reached 0.88 soonest in the
# search recorded in BENCHMARKS.md ("Time to accuracy"); ``epochs`` is the run it was planned
# for (the schedule ends there: a 2-epoch plan got there sooner than a 3-epoch one).
NAMED_RECIPES = {
    "chapter": (CHAPTER, 10),
    "fast": (TrainingRecipe(lr=0.01, momentum=0.9, nesterov=True, weight_decay=5e-4,
                            label_smoothing=0.1, schedule="onecycle", max_lr=0.05), 2),
}
