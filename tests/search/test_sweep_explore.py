"""Workers that explore: a fresh sampler seed per process (a given one replays), a study-wide
total of trials, and the base configuration queued as every study's first trial. Optuna alone,
no training."""

import optuna
import pytest
from optuna.trial import TrialState

from search.space import base_params, read_space
from search.study import (
    StudyTotal,
    counted_trials,
    draw_seed,
    enqueue_base,
    make_sampler,
)
from tests.search.tiny_sweep import TINY_SPACE, run_sweep, sweep_args

optuna.logging.set_verbosity(optuna.logging.WARNING)


def tiny_space(tmp_path, text: str = TINY_SPACE):
    path = tmp_path / "space.toml"
    path.write_text(text)
    return read_space(path)


def draws(sampler, space, count: int = 3) -> list[dict]:
    """The settings a fresh study with `sampler` asks for first."""
    study = optuna.create_study(direction="maximize", sampler=sampler)
    asked = []
    for _ in range(count):
        trial = study.ask()
        asked.append({knob.key: knob.suggest(trial) for knob in space.knobs})
        study.tell(trial, 0.5)
    return asked


@pytest.mark.parametrize("name", ["tpe", "random"])
def test_processes_draw_their_own_settings_and_a_given_seed_replays(tmp_path, name):
    space = tiny_space(tmp_path)
    seeds = {draw_seed() for _ in range(5)}
    assert len(seeds) == 5  # a fresh seed each time (out of 2**31)
    first, second = (draws(make_sampler(name, seed), space) for seed in sorted(seeds)[:2])
    assert not {repr(d) for d in first} & {repr(d) for d in second}
    assert draws(make_sampler(name, 7), space) == draws(make_sampler(name, 7), space)


def test_tpe_lets_parallel_workers_see_each_others_running_trials():
    assert make_sampler("tpe", 0)._constant_liar  # a running trial counts as a poor one


def finished(study, state: TrialState, **attrs) -> None:
    trial = study.ask()
    for key, value in attrs.items():
        trial.set_user_attr(key, value)
    study.tell(trial, 0.5 if state == TrialState.COMPLETE else None, state=state)


def test_the_total_counts_trials_that_ran_not_those_stopped_from_outside():
    study = optuna.create_study(direction="maximize")
    finished(study, TrialState.COMPLETE)
    finished(study, TrialState.PRUNED, invalid="warmup_epochs must be < epochs")
    finished(study, TrialState.FAIL, fail_reason="run tiny-trial2 failed: loss is NaN")
    finished(study, TrialState.FAIL)  # interrupted, or a killed worker's: its settings are owed
    study.ask()  # running in another worker
    assert counted_trials(study) == 4


def test_the_total_is_the_studys_whichever_worker_runs_its_trials():
    study = optuna.create_study(direction="maximize")
    study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=2)
    # A second worker asked for a total of 5: it runs the 3 missing, not 5 more.
    study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=5,
                   callbacks=[StudyTotal(5)])
    assert len(study.trials) == 5
    other = study.ask()  # another worker's trial, running: it counts toward the total
    study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=5,
                   callbacks=[StudyTotal(7)])
    assert len(study.trials) == 7 and other.number == 5


def test_the_base_is_queued_once_as_the_first_trial_of_a_new_study(tmp_path):
    from types import SimpleNamespace

    space = tiny_space(tmp_path)
    base = SimpleNamespace(to_dict=lambda: {"rotation_range": 0.0, "lr": 0.003})
    params = base_params(space, base)
    assert params == {"augmentation.rotation_range": 0.0, "optimizer.lr": 0.003}
    study = optuna.create_study(direction="maximize", sampler=make_sampler("tpe", draw_seed()))
    assert enqueue_base(study, params) and not enqueue_base(study, params)  # queued once
    study.optimize(lambda trial: sum(knob.suggest(trial) for knob in space.knobs), n_trials=2)
    first, second = study.trials
    assert first.params == params and first.user_attrs == {"base": True}
    assert second.params != params and "base" not in second.user_attrs
    assert not enqueue_base(optuna.create_study(), {})  # nothing of the base in the space
    assert not enqueue_base(study, params)  # a study with trials gets no base


def test_a_base_value_the_space_cannot_give_is_left_to_the_sampler(tmp_path):
    from types import SimpleNamespace

    space = tiny_space(tmp_path, TINY_SPACE + """
[runtime.batch_size]
type = "categorical"
choices = [256, 512]

[schedule.epochs]
type = "int"
low = 2
high = 10
step = 2

[model.args]
type = "categorical"
choices = [{dirac_init = false}, {dirac_init = true}]
""")
    base = SimpleNamespace(to_dict=lambda: {
        "rotation_range": 12.0, "lr": 0.003, "batch_size": 128, "epochs": 5,
        "model_args": {"whitening_patch_size": 3, "dirac_init": True}})
    # rotation 12 > 10, batch 128 not a choice, 5 epochs off the step: the sampler draws them
    assert base_params(space, base) == {"optimizer.lr": 0.003,
                                        "model.args": {"dirac_init": True}}


def test_a_study_that_holds_its_total_runs_no_trial(tmp_path, run_paths, capsys):
    from search.study import default_storage_url, open_storage

    path = tmp_path / "space.toml"
    path.write_text(TINY_SPACE)
    study = optuna.create_study(study_name="full", direction="maximize",
                                storage=open_storage(default_storage_url("full")))
    study.optimize(lambda trial: trial.suggest_float("optimizer.lr", 1e-3, 1e-2), n_trials=3)
    assert run_sweep(sweep_args("full", path, "--trials", "3")) == 0
    assert "Study full holds its 3 trials; raise --trials to run more." in capsys.readouterr().out
    assert len(study.trials) == 3
    assert not list(run_paths["RESULTS_PATH"].glob("full-trial*"))
