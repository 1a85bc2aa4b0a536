"""Every drawn configuration is validated as a whole before it trains: a combination the knobs
allow one by one but not together becomes a pruned trial with its reason, and the study goes
on to its total. Model arguments are checked up front against the base's model, and a
`model.args` knob merges into the base's argument table."""

import optuna
import pytest
from optuna.trial import TrialState

from search.objective import Objective
from search.space import check_space, read_space, trial_layers
from tests.search.tiny_sweep import run_sweep, sweep_args, trials

optuna.logging.set_verbosity(optuna.logging.WARNING)

# Each value is valid alone over the default (15 epochs, warm-up by its rule); a warm-up of as
# many epochs as the run has, or more, is not.
EPOCHS_AND_WARMUP = """
[schedule.epochs]
type = "int"
low = 1
high = 3

[schedule.warmup_epochs]
type = "int"
low = 0
high = 2
"""
# What makes a trial short, the epochs left to the space.
SMALL_DATA = ("data.limit_train=2000", "data.val_size=500", "evaluation.tta=false")
CAPSNET_ARGUMENT = """
[model.args]
type = "categorical"
choices = [{routing_iterations = 2}, {routing_iterations = 3}]
"""


def space_file(tmp_path, text: str):
    path = tmp_path / "space.toml"
    path.write_text(text)
    return path


def test_a_model_argument_the_bases_model_does_not_take_is_refused_up_front(
        tmp_path, run_paths, capsys):
    path = space_file(tmp_path, CAPSNET_ARGUMENT)
    assert run_sweep(sweep_args("capsule", path, "--dry-run")) == 2
    message = capsys.readouterr().err
    for words in (f"[model.args] in {path}", "routing_iterations is not an argument of",
                  "which takes batchnorm_momentum, batchnorm_scale_trainable, dirac_init",
                  "whitening_patch_size", "--set model.name=NAME"):
        assert words in message, message
    assert "Traceback" not in message
    assert not run_paths["RESULTS_PATH"].exists()


def test_the_same_argument_is_searched_over_its_own_model(tmp_path):
    check_space(read_space(space_file(tmp_path, CAPSNET_ARGUMENT)), "default",
                {"model.name": "capsnet", "loss.label_smoothing": 0.0})


def test_a_model_args_knob_merges_into_the_bases_arguments():
    base = trial_layers("default", {}, {}).config.model.args
    assert base["whitening_patch_size"] == 3 and base["dirac_init"] is True
    drawn = trial_layers("default", {}, {"model.args": {"dirac_init": False}}).config.model.args
    assert drawn == {**base, "dirac_init": False}  # the whitening stem stays


def test_a_drawn_combination_the_configuration_refuses_is_pruned_with_its_reason(
        tmp_path, run_paths):
    space = read_space(space_file(tmp_path, EPOCHS_AND_WARMUP))
    objective = Objective("combos", "default", space, {}, data=None)
    study = optuna.create_study(direction="maximize")
    study.enqueue_trial({"schedule.epochs": 2, "schedule.warmup_epochs": 2})
    study.optimize(objective, n_trials=1)  # raises if the trial tried to train on data=None
    (trial,) = study.trials
    assert trial.state == TrialState.PRUNED
    assert trial.user_attrs["invalid"] == ("schedule.warmup_epochs must be in [0, epochs=2). "
                                           "Received: schedule.warmup_epochs=2.0")
    assert not run_paths["RESULTS_PATH"].exists()  # no run folder for it


@pytest.mark.slow
def test_a_space_with_invalid_combinations_runs_to_its_trial_count(tmp_path, run_paths, capsys):
    from search.study import default_storage_url

    sets = [arg for setting in SMALL_DATA for arg in ("--set", setting)]
    args = ["--study", "combos", "--space", str(space_file(tmp_path, EPOCHS_AND_WARMUP)), *sets,
            "--trials", "5", "--seed", "3"]  # seed 3 draws some invalid combinations first
    assert run_sweep(args) == 0
    printed = capsys.readouterr().out
    done = trials("combos", default_storage_url("combos"))
    assert len(done) == 5
    invalid = [t for t in done if "invalid" in t.user_attrs]
    assert invalid and all(t.state == TrialState.PRUNED for t in invalid)
    for trial in invalid:
        assert trial.params["schedule.warmup_epochs"] >= trial.params["schedule.epochs"]
        assert not (run_paths["RESULTS_PATH"] / f"combos-trial{trial.number}").exists()
        assert f"trial {trial.number}: pruned, value -, - epoch(s), - (invalid: " in printed
    valid = [t for t in done if t not in invalid]
    assert valid and all(t.state == TrialState.COMPLETE for t in valid)
    assert all(t.user_attrs["epochs_run"] == t.params["schedule.epochs"] for t in valid)
