"""A study is a fixed contract: its base preset, fixed settings, space and base configuration
are stored when it is created; a command that continues or exports it with other ones is
refused naming each difference, and an export reads everything from the study, so a changed
preset changes neither what a study searches nor what it exports. Studies made with Optuna
as `sweep.py` makes them, no training."""

import shutil

import optuna
import pytest

from search.contract import Contract, keep_contract, plain
from search.space import read_space, trial_layers
from search.study import (
    default_storage_url,
    load_study,
    make_pruner,
    make_sampler,
    open_storage,
    record_command,
)
from tests.search.tiny_sweep import TINY_SETTINGS, TINY_SPACE, run_sweep, sweep_args
from training import presets

STUDY = "kept"
FIXED = dict(map(presets.parse_override, TINY_SETTINGS))
OTHER_SPACE = TINY_SPACE.replace("high = 10.0", "high = 20.0")


@pytest.fixture
def presets_copy(tmp_path, monkeypatch):
    """presets/ copied, so a test may change the default and write an export."""
    folder = tmp_path / "presets"
    folder.mkdir()
    for name in presets.compose().presets:  # the default and the presets it starts from
        shutil.copy(presets.PRESETS_DIR / f"{name}.toml", folder)
    monkeypatch.setattr(presets, "PRESETS_DIR", folder)
    return folder


@pytest.fixture
def study(tmp_path, run_paths, presets_copy):
    """A study over the tiny space, made as `sweep.py` makes it, with two completed trials
    that kept their configurations."""
    path = tmp_path / "space.toml"
    path.write_text(TINY_SPACE)
    space = read_space(path)
    made = load_study(STUDY, open_storage(default_storage_url(STUDY)), make_sampler("tpe", 0),
                      make_pruner("none", 1))
    keep_contract(made, Contract.of("default", FIXED, space), running=True)
    record_command(made, str(path), "python sweep.py --study kept ...")
    for value, rotation in ((0.80, 2.0), (0.85, 7.5)):
        made.enqueue_trial({"augmentation.rotation_range": rotation, "optimizer.lr": 0.004})
        trial = made.ask()
        drawn = {knob.key: knob.suggest(trial) for knob in space.knobs}
        config = trial_layers("default", FIXED, drawn).config.without_labels().to_dict()
        trial.set_user_attr("config", plain(config))
        made.tell(trial, value)
    return path


def attrs() -> dict:
    return optuna.load_study(study_name=STUDY, storage=default_storage_url(STUDY)).user_attrs


def another_set(args: list[str]) -> list[str]:
    return [arg.replace("schedule.epochs=1", "schedule.epochs=2") for arg in args]


@pytest.mark.parametrize("changed, words", [
    (another_set, "--set schedule.epochs: 1 in the study, 2 in this command"),
    (lambda args: [*args, "--preset", "airbench-kept"],
     "--preset: default in the study, airbench-kept in this command"),
    (lambda args: [*args, "--trial-budget", "60"],
     "--trial-budget: None in the study, 60.0 in this command"),
], ids=["another-set", "another-preset", "another-budget"])
def test_a_rerun_with_other_settings_is_refused_naming_them(study, capsys, changed, words):
    before = attrs()
    assert run_sweep(changed(sweep_args(STUDY, study, "--trials", "3"))) == 2
    message = capsys.readouterr().err
    assert f"Study '{STUDY}' keeps the settings it was created with" in message
    assert "(its command: python sweep.py --study kept ...)" in message
    assert words in message, message
    assert "Traceback" not in message
    assert attrs() == before  # nothing recorded, no trial added
    assert len(optuna.load_study(study_name=STUDY, storage=default_storage_url(STUDY)).trials) == 2


def test_an_export_over_another_space_is_refused_naming_the_knob(study, tmp_path, capsys,
                                                                 presets_copy):
    other = tmp_path / "other.toml"
    other.write_text(OTHER_SPACE)
    assert run_sweep(sweep_args(STUDY, other, "--trials", "0", "--export-preset", "x")) == 2
    message = capsys.readouterr().err
    assert ("[augmentation.rotation_range] of the space: float in [0.0, 10.0] in the study, "
            "float in [0.0, 20.0] in this command") in message, message
    assert "Traceback" not in message and not (presets_copy / "x.toml").exists()


def test_an_export_starts_from_the_base_preset_with_the_fixed_and_searched_settings(
        study, capsys, presets_copy):
    assert run_sweep(sweep_args(STUDY, study, "--trials", "0", "--export-preset", "tuned")) == 0
    written = presets.read_toml(presets_copy / "tuned.toml")
    assert written["preset"] == "default"
    assert written["augmentation"] == {"rotation_range": 7.5}  # the best trial's
    assert written["optimizer"] == {"lr": 0.004}
    assert written["schedule"] == {"epochs": 1} and written["data"]["limit_train"] == 2000
    assert written["description"].startswith(f"Trial 1 of study '{STUDY}' (2 completed trials, "
                                              "validation accuracy 0.8500)")
    exported = presets.compose(preset="tuned").config.without_labels().to_dict()
    assert plain(exported) == optuna.load_study(
        study_name=STUDY, storage=default_storage_url(STUDY)).best_trial.user_attrs["config"]


def test_a_changed_preset_changes_neither_what_the_study_searches_nor_what_it_exports(
        study, capsys, presets_copy):
    default = presets_copy / "default.toml"
    default.write_text(default.read_text() + "\n[optimizer]\nweight_decay = 0.01\n")
    assert run_sweep(sweep_args(STUDY, study, "--trials", "3")) == 2
    message = capsys.readouterr().err
    assert ("preset default's configuration, changed since the study was created: "
            "optimizer.weight_decay: 0.0 in the study, 0.01 in this command") in message, message

    assert run_sweep(sweep_args(STUDY, study, "--trials", "0", "--export-preset", "tuned")) == 0
    written = presets.read_toml(presets_copy / "tuned.toml")
    assert "preset" not in written and "has changed since" in written["description"]
    assert written["optimizer"]["weight_decay"] == 0.0  # the study's base, not today's default
    exported = presets.compose(preset="tuned").config.without_labels().to_dict()
    best = optuna.load_study(study_name=STUDY, storage=default_storage_url(STUDY)).best_trial
    assert plain(exported) == best.user_attrs["config"]


def test_an_export_from_a_study_not_there_is_refused_and_creates_none(tmp_path, run_paths,
                                                                      capsys):
    path = tmp_path / "space.toml"
    path.write_text(TINY_SPACE)
    assert run_sweep(sweep_args("absent", path, "--trials", "0", "--export-preset", "x")) == 2
    message = capsys.readouterr().err
    assert "No study 'absent' in sqlite:///" in message and "run its trials first" in message
    assert optuna.get_all_study_names(default_storage_url("absent")) == []
