"""One trial of a study: an ordinary run of `training.experiment.run_experiment`, as `train.py`
trains, with the settings the sampler drew, selected and scored on validation only.

A trial's run is named `<study>-trial<number>` and tagged `study:<study>` and
`trial:<number>`; it never reads the test set, and keeps no checkpoints unless asked. Its value
is the validation accuracy of the weights the run selects. A drawn configuration is validated as
a whole first: one the knobs allow one by one but not together is recorded as pruned, with the
reason in its user attribute `invalid`, and trains nothing; the study goes on. A pruner may stop
a trial after any epoch (`PruningCallback`), and so does a training-time budget once the
trial's epochs so far say it would run past it: the run then ends there and is recorded as
pruned.

Example:

```python
objective = Objective("lr", "default", space, fixed={"schedule.epochs": 3}, data=data)
study.optimize(objective, n_trials=10, catch=(RunFailed,))
```
"""

import shutil
import statistics
import time
from dataclasses import dataclass

import keras
import optuna

from data import FashionMNIST
from outputs.io import atomic_write_json
from search.contract import plain
from search.space import SearchSpace, problem_of, sample, trial_layers, validated
from training.experiment import RunResult, run_experiment

MONITOR = "val_accuracy"  # what a trial reports after each epoch, and what it is pruned on


class RunFailed(RuntimeError):
    """A trial's run ended without a result (its loss became NaN): the trial fails, the study
    goes on."""


class PruningCallback(keras.callbacks.Callback):
    """Reports `val_accuracy` to the trial after each epoch (step = the epoch, from 1) and, when
    the pruner says so or the training would run past `budget_seconds`, ends training after that
    epoch, so the run still selects and records its weights; `pruned_at` is then the last epoch
    trained and `pruned_by` "pruner" or "budget". Without `report` (a study of several
    objectives, which Optuna's pruners do not judge), only the budget stops a trial.

    Example: `run_experiment(config, callbacks=[PruningCallback(trial)], evaluate_test=False)`.

    Args:
        trial: the Optuna trial reported to.
        budget_seconds: training seconds (epochs with their validation pass) a trial may take,
            projected from the epochs `fit` runs (those a `schedule.time_budget` chose, where
            one is set); None for no budget.
        report: report each epoch to the trial and ask its pruner.
    """

    def __init__(self, trial: optuna.Trial, budget_seconds: float | None = None,
                 report: bool = True):
        super().__init__()
        self.trial, self.budget_seconds, self.report = trial, budget_seconds, report
        self.pruned_at: int | None = None
        self.pruned_by: str | None = None
        self.epoch_seconds: list[float] = []
        self._started = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.epoch_seconds.append(time.perf_counter() - self._started)
        if self.report:
            self.trial.report(float(logs[MONITOR]), step=epoch + 1)
        pruned = self.report and self.trial.should_prune()
        reason = "pruner" if pruned else "budget" if self.over_budget() else None
        if reason is not None:
            self.pruned_at, self.pruned_by = epoch + 1, reason
            self.model.stop_training = True

    def over_budget(self) -> bool:
        """Whether the seconds so far plus the remaining epochs, each as long as the median
        epoch after the first (which also builds the step), pass the budget; judged from the
        second epoch on."""
        if self.budget_seconds is None:
            return False
        done, epochs = len(self.epoch_seconds), self.params["epochs"]
        if done < 2 or done >= epochs:
            return False
        typical = statistics.median(self.epoch_seconds[1:])
        return sum(self.epoch_seconds) + typical * (epochs - done) > self.budget_seconds


def trial_name(study: str, number: int) -> str:
    """The run name of trial `number`: `trial_name("lr", 3)` -> `"lr-trial3"`."""
    return f"{study}-trial{number}"


@dataclass
class Objective:
    """What every trial of one command shares: the study's name, the base preset, the space,
    the `--set` overrides fixed for every trial and the dataset, loaded once.

    Args:
        study: the study's name, which names and tags the trials' runs.
        preset: the base preset each trial's configuration starts from.
        space: the knobs the sampler draws.
        fixed: `{section.key: value}` applied to every trial (under the drawn values).
        data: the dataset; its test images are never read.
        keep_checkpoints: keep each trial's `DL_MODELS_PATH/<run>/` (removed by default).
        verbose: Keras' verbosity while training (2: one line per epoch).
        budget_seconds: training seconds a trial may take (`PruningCallback`); None: no budget.
        sampler_seed: this process's sampler seed, kept in each trial's user attributes.
        objectives: what a trial returns (`search.study.OBJECTIVES`): its validation accuracy,
            and with "seconds" its training seconds too.
    """

    study: str
    preset: str
    space: SearchSpace
    fixed: dict
    data: FashionMNIST
    keep_checkpoints: bool = False
    verbose: int = 2
    budget_seconds: float | None = None
    sampler_seed: int | None = None
    objectives: tuple[str, ...] = ("accuracy",)

    def __call__(self, trial: optuna.Trial) -> float | tuple[float, float]:
        if self.sampler_seed is not None:
            trial.set_user_attr("sampler_seed", self.sampler_seed)
        layers = trial_layers(self.preset, self.fixed, sample(self.space, trial))
        try:
            validated(layers)
        except ValueError as error:  # a combination of values the knobs allow one by one
            trial.set_user_attr("invalid", problem_of(error))
            raise optuna.TrialPruned(f"invalid configuration: {problem_of(error)}") from error
        # What the trial trains, as the study keeps it: an export reads it there.
        trial.set_user_attr("config", plain(layers.config.without_labels().to_dict()))
        config = layers.config.replace(
            run_name=trial_name(self.study, trial.number),
            tags=(f"study:{self.study}", f"trial:{trial.number}"),
        )
        pruning = PruningCallback(trial, self.budget_seconds, report=len(self.objectives) == 1)
        result = run_experiment(config, data=self.data, verbose=self.verbose,
                                evaluate_test=False, callbacks=[pruning])
        if not self.keep_checkpoints:
            shutil.rmtree(result.checkpoint_dir, ignore_errors=True)
        if pruning.pruned_by is not None:
            trial.set_user_attr("pruned_by", pruning.pruned_by)
        return self._outcome(trial, result, pruning.pruned_at)

    def _outcome(self, trial: optuna.Trial, result: RunResult,
                 pruned_at: int | None) -> float | tuple[float, float]:
        """Records the trial in the run's record and the run in the trial; the value (the
        values, with several objectives), or TrialPruned / RunFailed."""
        record = result.record
        trial.set_user_attr("run_dir", str(result.run_dir))
        trial.set_user_attr("epochs_run", record.epochs_run)
        trial.set_user_attr("train_seconds", record.train_seconds)
        if record.status != "completed":
            reason = f"run {result.name} failed: {record.error}"
            trial.set_user_attr("fail_reason", reason)
            raise RunFailed(reason)
        state = "completed" if pruned_at is None else "pruned"
        value = record.selected_accuracy("val")
        record.trial = {"study": self.study, "number": trial.number, "state": state,
                        "value": value, "params": dict(trial.params)}
        atomic_write_json(result.run_dir / "result.json", record.to_json())
        if pruned_at is not None:
            raise optuna.TrialPruned(
                f"pruned after epoch {pruned_at} by the {trial.user_attrs.get('pruned_by')}"
            )
        if len(self.objectives) > 1:
            return value, record.train_seconds
        return value
