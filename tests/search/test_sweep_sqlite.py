"""A tiny study on the default SQLite storage, run twice in this process: trials are ordinary
runs tagged with their study and number, never read the test set, keep no checkpoints; the
first trial is the base preset's, and the second command continues the study to its new total
with settings of its own; its best trial exports as a preset train.py accepts."""

import shutil
from types import SimpleNamespace

import optuna
import pytest

import data
import train
from data import FashionMNIST
from search.study import default_storage_url
from tests.search.tiny_sweep import TINY_SPACE, run_sweep, sweep_args, trials
from training import presets

STUDY = "tiny"


class NoTestSet(FashionMNIST):
    """The dataset with its test images and labels out of reach: reading them fails the test."""

    __slots__ = ()

    @property
    def x_test(self):
        raise AssertionError("a trial read the test images")

    @property
    def y_test(self):
        raise AssertionError("a trial read the test labels")


@pytest.fixture(scope="module")
def study(tmp_path_factory, fashion_mnist, data_path):
    """The tiny study after its first command (2 trials) and its second (to 4 in all)."""
    folder = tmp_path_factory.mktemp("sqlite-study")
    space = folder / "space.toml"
    space.write_text(TINY_SPACE)
    with pytest.MonkeyPatch.context() as monkeypatch:
        for name in ("RESULTS_PATH", "DL_MODELS_PATH", "TB_LOGS_PATH"):
            monkeypatch.setenv(name, str(folder / name.lower()))
        monkeypatch.setenv("DATA_PATH", str(data_path))
        monkeypatch.setattr(data, "load_fashion_mnist",
                            lambda *args, **kwargs: NoTestSet(*fashion_mnist))
        storage = default_storage_url(STUDY)
        statuses = [run_sweep(sweep_args(STUDY, space, "--trials", "2"))]
        first = trials(STUDY, storage)
        statuses.append(run_sweep(sweep_args(STUDY, space, "--trials", "4")))
        yield SimpleNamespace(folder=folder, space=space, storage=storage, statuses=statuses,
                              first=first, all=trials(STUDY, storage))


@pytest.mark.slow
def test_the_first_command_runs_its_trials_as_tagged_runs(study):
    import json

    assert study.statuses[0] == 0
    assert [t.state for t in study.first] == [optuna.trial.TrialState.COMPLETE] * 2
    assert study.storage.endswith(f"results_path/sweeps/{STUDY}/study.db")
    for trial in study.first:
        record = json.loads((study.folder / "results_path" / f"{STUDY}-trial{trial.number}"
                             / "result.json").read_text())
        assert record["config"]["tags"] == [f"study:{STUDY}", f"trial:{trial.number}"]
        assert record["trial"]["value"] == trial.value == pytest.approx(
            record[f"val_accuracy_{record['selected_weights']}"])
        assert trial.user_attrs["run_dir"].endswith(f"{STUDY}-trial{trial.number}")


@pytest.mark.slow
def test_the_first_trial_trains_the_base_preset(study):
    from tests.search.tiny_sweep import TINY_SETTINGS

    config = presets.checked(presets.compose(overrides=TINY_SETTINGS))  # resolved here
    base = study.first[0]
    assert base.params == {"augmentation.rotation_range": config.augmentation.rotation_range,
                           "optimizer.lr": config.optimizer.lr}
    assert base.user_attrs["base"] is True
    assert "base" not in study.first[1].user_attrs


@pytest.mark.slow
def test_rerunning_the_command_continues_the_study_with_new_settings(study):
    assert study.statuses[1] == 0
    assert [t.number for t in study.all] == [0, 1, 2, 3]
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.all)
    settings = [tuple(sorted(t.params.items())) for t in study.all]
    assert len(set(settings)) == 4  # the rerun draws afresh instead of replaying the first
    seeds = [t.user_attrs["sampler_seed"] for t in study.all]
    assert seeds[1] != seeds[2] and seeds[2] == seeds[3]  # a seed per process


@pytest.mark.slow
def test_trials_never_read_the_test_set_and_keep_no_checkpoints(study):
    import json

    # The dataset's test arrays raise when read (NoTestSet), and the trials completed anyway.
    for trial in study.all:
        run = study.folder / "results_path" / f"{STUDY}-trial{trial.number}"
        record = json.loads((run / "result.json").read_text())
        assert not [key for key in record if key.startswith("test_")]
        assert "confusion_matrix" not in record
        assert not (run / "predictions.npz").exists() and not (run / "report.csv").exists()
        assert not (study.folder / "dl_models_path" / run.name).exists()


@pytest.mark.slow
def test_the_best_trial_exports_as_a_preset_train_accepts(study, monkeypatch, capsys):
    folder = study.folder / "presets"
    folder.mkdir()
    for name in presets.compose().presets:  # the default and the presets it starts from
        shutil.copy(presets.PRESETS_DIR / f"{name}.toml", folder)
    monkeypatch.setattr(presets, "PRESETS_DIR", folder)
    monkeypatch.setenv("RESULTS_PATH", str(study.folder / "results_path"))
    export = sweep_args(STUDY, study.space, "--trials", "0", "--export-preset", "tuned")
    assert run_sweep(export) == 0
    written = presets.read_toml(folder / "tuned.toml")
    best = optuna.load_study(study_name=STUDY, storage=study.storage).best_trial
    assert written["preset"] == "default"
    assert written["optimizer"] == {"lr": best.params["optimizer.lr"]}
    # The searched settings and those the study fixed, as the trial trained them.
    assert set(written) == {"description", "preset", "augmentation", "optimizer", "data",
                            "schedule", "evaluation"}
    assert written["schedule"] == {"epochs": 1}
    capsys.readouterr()
    assert train.main(["--preset", "tuned", "--dry-run"]) == 0
    assert f"lr = {best.params['optimizer.lr']}" in capsys.readouterr().out
    assert run_sweep(export) == 2  # never over an existing preset
    assert "tuned.toml exists" in capsys.readouterr().err


@pytest.mark.slow
def test_the_study_keeps_its_contract_and_command(study):
    attrs = optuna.load_study(study_name=STUDY, storage=study.storage).user_attrs

    assert attrs["preset"] == "default" and attrs["space"] == str(study.space)
    assert attrs["fixed"] == {"data.limit_train": 2000, "data.val_size": 500,
                              "schedule.epochs": 1, "evaluation.tta": False}
    assert attrs["command"].startswith(f"python sweep.py --study {STUDY} --space ")
    assert [knob["key"] for knob in attrs["space_knobs"]] == ["augmentation.rotation_range",
                                                               "optimizer.lr"]
    assert attrs["base"]["epochs"] == 1 and attrs["base"]["lr"] is None  # as composed
    assert attrs["base_resolved"]["lr"] == study.first[0].params["optimizer.lr"]
