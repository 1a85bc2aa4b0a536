"""A training-time budget: the duration `--time-budget` takes, and the epochs that fit in it.

A run with `schedule.time_budget` measures its own speed before it trains
(`training.speed_probe.measure_epoch_cost`), and `budget_plan` turns the budget and that
measurement into a number of epochs and their length; the epoch-dependent defaults (one-cycle
warm-up, SWA's start) then follow from those epochs as from any other (`training.config.resolve`).
No TensorFlow here, so the command line and the configuration can read it.
"""

import math
import re
from dataclasses import dataclass

# A duration: whole or decimal hours, minutes and seconds, in that order, each at most once.
DURATION = re.compile(
    r"(?:(?P<h>\d+(?:\.\d*)?)h)?(?:(?P<m>\d+(?:\.\d*)?)m)?(?:(?P<s>\d+(?:\.\d*)?)s)?"
)
UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0}
DURATION_RULE = (
    "a duration in seconds (600, 600s), minutes (10m) or hours (1h30m, 1.5h), more than 0"
)


def parse_duration(text: str, name: str = "--time-budget") -> float:
    """Seconds of a duration as `--time-budget` takes it: a bare number is seconds.

    Args:
        text: e.g. "600", "600s", "10m", "1h30m", "1.5h".
        name: what the error calls the value (a flag, a `section.key`).

    Example: `parse_duration("1h30m")` is 5400.0.
    """
    cleaned = text.strip().lower().replace(" ", "")
    try:
        seconds = float(cleaned)
    except ValueError:
        match = DURATION.fullmatch(cleaned)
        parts = match.groupdict() if match and cleaned else {}
        seconds = sum(float(value) * UNIT_SECONDS[unit] for unit, value in parts.items()
                      if value is not None) if any(parts.values()) else math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"{name} must be {DURATION_RULE}. Received: {name}={text!r}")
    return seconds


def format_duration(seconds: float) -> str:
    """`seconds` as a short duration: 5400 -> "1h30m", 600 -> "10m", 17.2 -> "17s"."""
    whole = max(1, math.ceil(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{value}{unit}" for value, unit in ((hours, "h"), (minutes, "m"), (secs, "s"))
             if value]
    return "".join(parts)


@dataclass(frozen=True)
class EpochCost:
    """What one epoch of a run costs, as measured on its first steps.

    Args:
        step_seconds: one training step, once built (the mean of the timed steps).
        steps_per_epoch: training steps in an epoch.
        batch_size: images in a full training step.
        validation_seconds: the validation pass after each epoch.
        checkpoint_seconds: the checkpoint and backup each epoch writes.
        setup_seconds: once per run: building the training and validation steps (tracing,
            compiling), which the first epoch pays.
    """

    step_seconds: float
    steps_per_epoch: int
    batch_size: int
    validation_seconds: float
    checkpoint_seconds: float
    setup_seconds: float

    @property
    def epoch_seconds(self) -> float:
        return (self.step_seconds * self.steps_per_epoch + self.validation_seconds
                + self.checkpoint_seconds)

    @property
    def images_per_second(self) -> float:
        """Training images per second of the measured steps."""
        return self.batch_size / self.step_seconds

    def minimum_budget(self) -> float:
        """The budget one epoch needs: the setup and one epoch."""
        return self.setup_seconds + self.epoch_seconds


def plural(count: int, noun: str) -> str:
    """`plural(1, "step")` is "1 step", `plural(90, "step")` "90 steps"."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


class TimeBudgetTooSmall(ValueError):
    """A budget shorter than one epoch: says what an epoch costs and the minimum."""

    def __init__(self, budget: float, cost: EpochCost, model: str):
        self.minimum = cost.minimum_budget()
        super().__init__(
            f"The time budget is too small for one epoch of {model} on this machine: an epoch "
            f"takes about {cost.epoch_seconds:.1f} s ({plural(cost.steps_per_epoch, 'step')} of "
            f"{cost.step_seconds:.3f} s, {cost.validation_seconds:.1f} s of validation, "
            f"{cost.checkpoint_seconds:.1f} s of checkpoints) after {cost.setup_seconds:.1f} s "
            f"of building the steps, so the minimum is {format_duration(self.minimum)}. Give "
            f"--time-budget {format_duration(self.minimum)} or more, or train on fewer images "
            f"(--limit-train). Received: time_budget={budget:g} s"
        )


# The share of the budget a plan leaves unplanned: the probe's few steps have run up to a tenth
# faster than the steps of a whole epoch (CapsuleNet on a 2-core EPYC), and a plan that fills
# the budget exactly would then end after it.
PLANNING_MARGIN = 0.05


@dataclass(frozen=True)
class BudgetPlan:
    """What a budget trains: `epochs` epochs of `steps_per_epoch` steps each, which is at most
    one pass over the training images (`full_steps` steps), and what such an epoch costs.

    Example: `BudgetPlan(2, 300, 430, 150.0).passes` is about 1.4.
    """

    epochs: int
    steps_per_epoch: int
    full_steps: int
    epoch_seconds: float

    @property
    def passes(self) -> float:
        """Passes over the training images in all."""
        return self.epochs * self.steps_per_epoch / self.full_steps


def budget_plan(budget: float, cost: EpochCost, model: str) -> BudgetPlan:
    """The epochs and steps per epoch that train the most steps within `budget` seconds after
    the one-time setup, less `PLANNING_MARGIN` of it where more than one epoch fits: the most
    whole passes over the training images, or one epoch more with
    each epoch as many steps as the time per epoch then allows (less than a pass), whichever
    trains more; a `TimeBudgetTooSmall` when not even one pass fits.

    Whole passes alone would leave up to one pass of the budget unused, which for the large
    families at a short budget is most of it: where 1.7 passes fit, 1 would be trained.

    Example: a budget of 100 s with 5 s of setup and 9.5 s per epoch (90 steps of 0.1 s and
    0.5 s of validation) gives 10 epochs of 90 steps; 19 s, 2 epochs of 65 steps instead of one
    of 90.
    """
    available = budget - cost.setup_seconds
    if available < cost.epoch_seconds:
        raise TimeBudgetTooSmall(budget, cost, model)
    available = max(cost.epoch_seconds, available * (1 - PLANNING_MARGIN))
    overhead = cost.validation_seconds + cost.checkpoint_seconds
    whole = math.floor(available / cost.epoch_seconds + 1e-9)
    more = whole + 1
    steps = math.floor((available / more - overhead) / cost.step_seconds + 1e-9)
    if more * steps > whole * cost.steps_per_epoch:
        return BudgetPlan(more, steps, cost.steps_per_epoch, steps * cost.step_seconds + overhead)
    return BudgetPlan(whole, cost.steps_per_epoch, cost.steps_per_epoch, cost.epoch_seconds)
