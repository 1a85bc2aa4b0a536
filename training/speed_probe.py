"""What a run with a time budget measures before it trains, and the callback that keeps it within
the budget: `measure_epoch_cost` times a few training and validation steps of a compiled model
and one checkpoint, `BudgetStop` ends training where another epoch would pass the budget.
"""

import math
import tempfile
import time
from pathlib import Path

import keras
import tensorflow as tf

from training.callbacks import save_model_atomically
from training.time_budget import EpochCost

# Steps left out of the timing: the first builds the step (tracing, compiling); the second still
# runs slower on some machines.
WARM_STEPS = 2
# Steps timed: at least MIN_TIMED_STEPS and PROBE_SECONDS of them, at most MAX_TIMED_STEPS.
MIN_TIMED_STEPS = 5
MAX_TIMED_STEPS = 50
PROBE_SECONDS = 2.0
# How far past the budget another epoch may end before `BudgetStop` ends training instead.
OVERRUN_TOLERANCE = 0.1


class StepTimer(keras.callbacks.Callback):
    """Times the training (`kind="train"`) or validation (`kind="test"`) steps of one `fit` or
    `evaluate` call, and ends it once enough steps are timed: `first` is the first step, with
    its building, `steps` the timed ones after `WARM_STEPS`."""

    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind
        self.first: float | None = None
        self.steps: list[float] = []
        self._seen = 0
        self._last = 0.0

    def begin(self) -> None:
        self._last = time.perf_counter()

    def end(self, logs) -> None:
        # Reading a value waits for the step to finish, wherever it runs.
        float(keras.ops.convert_to_numpy((logs or {}).get("loss", 0.0)))
        now = time.perf_counter()
        seconds, self._last = now - self._last, now
        self._seen += 1
        if self._seen == 1:
            self.first = seconds
        elif self._seen > WARM_STEPS:
            self.steps.append(seconds)
        if self.enough():
            setattr(self.model, "stop_training" if self.kind == "train" else "stop_evaluating",
                    True)

    def enough(self) -> bool:
        timed = len(self.steps)
        return timed >= MAX_TIMED_STEPS or (timed >= MIN_TIMED_STEPS
                                            and sum(self.steps) >= PROBE_SECONDS)

    @property
    def step_seconds(self) -> float:
        return sum(self.steps) / len(self.steps)

    def on_train_begin(self, logs=None):
        if self.kind == "train":
            self.begin()

    def on_test_begin(self, logs=None):
        if self.kind == "test":
            self.begin()

    def on_train_batch_end(self, batch, logs=None):
        if self.kind == "train":
            self.end(logs)

    def on_test_batch_end(self, batch, logs=None):
        if self.kind == "test":
            self.end(logs)


def measure_epoch_cost(model: keras.Model, train_ds: tf.data.Dataset, val_ds: tf.data.Dataset,
                       steps_per_epoch: int, val_images: int, batch_size: int,
                       eval_batch_size: int) -> EpochCost:
    """What an epoch of `model` (compiled, freshly built) costs on this machine: its first
    training steps on `train_ds` (endless), its first validation batches of `val_ds`, and one
    checkpoint and backup written to a temporary folder. `model` trains a few steps: use a copy
    that is thrown away."""
    budget = WARM_STEPS + MAX_TIMED_STEPS
    train = StepTimer("train")
    model.fit(train_ds, epochs=1, steps_per_epoch=budget, callbacks=[train], verbose=0,
              shuffle=False)  # the dataset draws its own order, as the run's `fit` reads it
    test = StepTimer("test")
    model.evaluate(val_ds.repeat(), steps=budget, callbacks=[test], verbose=0)
    validation_steps = math.ceil(val_images / eval_batch_size)
    return EpochCost(
        step_seconds=train.step_seconds,
        steps_per_epoch=steps_per_epoch,
        batch_size=batch_size,
        validation_seconds=test.step_seconds * validation_steps,
        checkpoint_seconds=checkpoint_seconds(model),
        setup_seconds=max(0.0, train.first - train.step_seconds)
        + max(0.0, test.first - test.step_seconds),
    )


def checkpoint_seconds(model: keras.Model) -> float:
    """Seconds to write what a run writes after an epoch: an inference checkpoint (the best
    weights so far) and the backup of the weights."""
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        save_model_atomically(model, Path(folder) / "probe.keras")
        model.save_weights(Path(folder) / "probe.weights.h5")
        return time.perf_counter() - started


class BudgetStop(keras.callbacks.Callback):
    """Ends training after the epoch past which one more would end more than
    `OVERRUN_TOLERANCE` after `budget_seconds` of training (`fit`'s time, from `spent` seconds of
    earlier attempts on): the safety net of a run whose epochs were chosen to fit, for a machine
    that turned much slower than measured. Stopping cuts the schedule short, which costs more
    accuracy than a few seconds over the budget, so a small overrun is let through. The next
    epoch is taken to last as long as the last one or, before a second, as `epoch_seconds` (the
    first also builds the steps).

    `stopped_after` is then the last epoch trained (1-based), else None.
    """

    def __init__(self, budget_seconds: float, epoch_seconds: float, spent: float = 0.0,
                 say=print):
        super().__init__()
        self.budget_seconds, self.epoch_seconds, self.spent = budget_seconds, epoch_seconds, spent
        self.say = say
        self.stopped_after: int | None = None
        self._started = self._last_end = 0.0
        self._epochs_seen = 0

    def on_train_begin(self, logs=None):
        self._started = self._last_end = time.perf_counter()
        self._epochs_seen = 0

    def on_epoch_end(self, epoch, logs=None):
        now = time.perf_counter()
        last, self._last_end = now - self._last_end, now
        self._epochs_seen += 1
        following = last if self._epochs_seen > 1 else self.epoch_seconds
        elapsed = self.spent + now - self._started
        limit = self.budget_seconds * (1 + OVERRUN_TOLERANCE)
        if elapsed + following > limit and epoch + 1 < self.params["epochs"]:
            self.say(f"Epoch {epoch + 1}: another epoch would end after the time budget "
                  f"({elapsed:.0f} s of {self.budget_seconds:.0f} s spent); training stops here.")
            self.stopped_after = epoch + 1
            self.model.stop_training = True
