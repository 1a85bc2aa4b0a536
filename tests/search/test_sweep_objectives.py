"""Studies of two objectives, validation accuracy against training seconds: the trials' values,
the Pareto front in the report, and the export of a chosen point of it."""

import json
import shutil
from types import SimpleNamespace

import optuna
import pytest

from search.contract import Contract, keep_contract, plain
from search.report import studies_markdown
from search.space import read_space, trial_layers
from search.study import (
    default_storage_url,
    load_study,
    make_pruner,
    make_sampler,
    open_storage,
    record_command,
)
from tests.search.tiny_sweep import TINY_SETTINGS, TINY_SPACE, run_sweep, sweep_args, trials
from training import presets

optuna.logging.set_verbosity(optuna.logging.WARNING)
BOTH = ("accuracy", "seconds")
FIXED = dict(map(presets.parse_override, TINY_SETTINGS))
# (rotation, validation accuracy, training seconds): trials 0, 2 and 3 make the front.
POINTS = ((1.0, 0.80, 30.0), (2.0, 0.78, 40.0), (3.0, 0.85, 60.0), (4.0, 0.90, 120.0))


def space_file(tmp_path):
    path = tmp_path / "space.toml"
    path.write_text(TINY_SPACE)
    return path


@pytest.fixture
def front_study(tmp_path, run_paths, monkeypatch):
    """A study of both objectives made as `sweep.py` makes it, its trials at `POINTS`, and a
    copy of presets/ to export into."""
    folder = tmp_path / "presets"
    folder.mkdir()
    for name in presets.compose().presets:
        shutil.copy(presets.PRESETS_DIR / f"{name}.toml", folder)
    monkeypatch.setattr(presets, "PRESETS_DIR", folder)
    path = space_file(tmp_path)
    space = read_space(path)
    study = load_study("front", open_storage(default_storage_url("front")),
                       make_sampler("tpe", 0), make_pruner("none", 1), objectives=BOTH)
    keep_contract(study, Contract.of("default", FIXED, space, objectives=BOTH), running=True)
    record_command(study, str(path), "python sweep.py --study front --objectives ...")
    for rotation, accuracy, seconds in POINTS:
        study.enqueue_trial({"augmentation.rotation_range": rotation, "optimizer.lr": 0.004})
        trial = study.ask()
        drawn = {knob.key: knob.suggest(trial) for knob in space.knobs}
        config = trial_layers("default", FIXED, drawn).config.without_labels().to_dict()
        trial.set_user_attr("config", plain(config))
        study.tell(trial, (accuracy, seconds))
    return SimpleNamespace(space=path, presets=folder, study=study)


@pytest.mark.parametrize("extra, words", [
    (["--objectives", "seconds"], "--objectives must be accuracy or accuracy,seconds"),
    (["--objectives", "accuracy,seconds", "--export-preset", "x"],
     "export the point of its Pareto front you choose with --trials 0 --export-preset NAME "
     "--trial N"),
    (["--trial", "3"], "--trial names the trial --export-preset writes"),
], ids=["seconds-alone", "export-without-trial", "trial-without-export"])
def test_objectives_and_the_exported_trial_are_checked_up_front(tmp_path, run_paths, capsys,
                                                                extra, words):
    assert run_sweep(sweep_args("refused", space_file(tmp_path), *extra)) == 2
    assert words in capsys.readouterr().err
    assert not run_paths["RESULTS_PATH"].exists()


def test_a_point_of_the_front_exports_by_its_number(front_study, capsys):
    args = sweep_args("front", front_study.space, "--objectives", "accuracy,seconds",
                      "--trials", "0", "--export-preset", "quick", "--trial", "2")
    assert run_sweep(args) == 0
    printed = capsys.readouterr().out
    assert ("Pareto front (validation accuracy, training seconds): trial 3: 0.9000 in 120 s; "
            "trial 2: 0.8500 in 60 s; trial 0: 0.8000 in 30 s.") in printed
    written = presets.read_toml(front_study.presets / "quick.toml")
    assert written["augmentation"] == {"rotation_range": 3.0}
    assert written["description"].startswith(
        "Trial 2 of study 'front' (4 completed trials, validation accuracy 0.8500 in 60 s)")


@pytest.mark.parametrize("extra, words", [
    ((), "name the point of its Pareto front to export with --trial N; the front: "
         "0 (0.8000 in 30 s), 2 (0.8500 in 60 s), 3 (0.9000 in 120 s)"),
    ((9,), "--trial must be a completed trial of study 'front': 0, 1, 2, 3. "
           "Received: --trial 9"),
], ids=["no-trial", "no-such-trial"])
def test_an_export_of_no_one_point_is_refused_naming_the_front(front_study, extra, words):
    from search.export import chosen_trial

    with pytest.raises(ValueError) as error:
        chosen_trial(front_study.study, *extra)
    assert words in str(error.value)


def test_a_rerun_with_one_objective_is_refused(front_study, capsys):
    assert run_sweep(sweep_args("front", front_study.space, "--trials", "6")) == 2
    assert ("--objectives: accuracy,seconds in the study, accuracy in this command"
            in capsys.readouterr().err)
    assert len(trials("front", default_storage_url("front"))) == 4


def test_the_report_shows_the_front_fastest_first_and_its_figure(front_study, tmp_path):
    results = tmp_path / "results"
    text = studies_markdown(results, tmp_path / "images", tmp_path)
    assert ("Objectives: validation accuracy, maximized, against training seconds, minimized "
            "(no pruner).") in text
    assert "Its Pareto front, fastest first" in text
    rows = [line.split("|")[1].strip() for line in text.splitlines()
            if line.startswith("| ") and "---" not in line][1:]
    assert rows == ["0", "2", "3"]
    assert "| 0.8500 | - | 60 s | complete |" in text
    assert "The most accurate trial, 3 (validation accuracy 0.9000)" in text
    assert (tmp_path / "images" / "search-front-pareto.png").read_bytes().startswith(b"\x89PNG")


def test_without_a_pruner_only_the_budget_stops_a_trial_of_two_objectives(monkeypatch):
    from search import objective

    class TwoObjectives:  # reporting fails, as Optuna's trials of several objectives do
        def report(self, value, step):
            raise NotImplementedError

        def should_prune(self):
            raise NotImplementedError

    clock = iter([0.0, 50.0, 50.0, 80.0])
    monkeypatch.setattr(objective.time, "perf_counter", lambda: next(clock))
    callback = objective.PruningCallback(TwoObjectives(), 300.0, report=False)
    callback.set_model(SimpleNamespace(stop_training=False))
    callback.set_params({"epochs": 10})  # as `fit` gives it
    for epoch in range(2):
        callback.on_epoch_begin(epoch)
        callback.on_epoch_end(epoch, {"val_accuracy": 0.5})
    assert (callback.pruned_at, callback.pruned_by) == (2, "budget")


@pytest.mark.slow
def test_a_study_of_two_objectives_scores_its_trials_on_both(tmp_path, run_paths, capsys):
    args = sweep_args("both", space_file(tmp_path), "--objectives", "accuracy,seconds",
                      "--trials", "2")
    assert run_sweep(args) == 0
    done = trials("both", default_storage_url("both"))
    assert [trial.state for trial in done] == [optuna.trial.TrialState.COMPLETE] * 2
    for trial in done:
        record = json.loads((run_paths["RESULTS_PATH"] / f"both-trial{trial.number}"
                             / "result.json").read_text())
        accuracy = record[f"val_accuracy_{record['selected_weights']}"]
        assert trial.values == pytest.approx([accuracy, record["train_seconds"]])
    assert "Pareto front (validation accuracy, training seconds): trial " in (
        capsys.readouterr().out)
