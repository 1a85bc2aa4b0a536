"""docs/search.md's section from a tiny study built with Optuna alone (no training): the summary,
the best trials' table, the importance sentence and the figures, rewritten byte for byte."""

import json

import optuna
import pytest

from reporting.sections import write_sections
from search.contract import Contract, keep_contract
from search.report import SEARCH_PAGE, base_values, generated_sections, studies_markdown
from search.space import read_space, space_path
from search.study import record_command
from training.presets import checked, compose

STUDY = "tiny-aug"
KNOBS = {"augmentation.rotation_range": (0.0, 20.0), "augmentation.random_erasing": (0.0, 0.5)}
FIXED = {"schedule.epochs": 2}
COMMAND = "python sweep.py --study tiny-aug --space augmentation --set schedule.epochs=2"


def objective(trial: optuna.Trial) -> float:
    """A cheap stand-in for a run: accuracy grows with rotation; trial 2 is pruned."""
    params = {key: trial.suggest_float(key, *bounds) for key, bounds in KNOBS.items()}
    value = 0.9 + params["augmentation.rotation_range"] / 1000
    for epoch in (1, 2):
        trial.report(value - 0.01 * (2 - epoch), step=epoch)
    trial.set_user_attr("epochs_run", 1 if trial.number == 2 else 2)
    if trial.number == 2:
        raise optuna.TrialPruned()
    return value


@pytest.fixture
def layout(tmp_path):
    """A study of 3 trials (2 complete, 1 pruned) in results/sweeps/, and one trial's record."""
    results = tmp_path / "results"
    database = results / "sweeps" / STUDY / "study.db"
    database.parent.mkdir(parents=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name=STUDY, storage=f"sqlite:///{database}",
                                direction="maximize",
                                sampler=optuna.samplers.RandomSampler(seed=0))
    contract = Contract.of("default", FIXED, read_space(space_path("augmentation")), 90.0,
                           checked(compose(overrides=FIXED)))
    keep_contract(study, contract, running=True)
    record_command(study, "augmentation", COMMAND)
    study.optimize(objective, n_trials=3)
    record = results / f"{STUDY}-trial0" / "result.json"
    record.parent.mkdir()
    record.write_text(json.dumps({"run_name": f"{STUDY}-trial0", "config": {},
                                  "train_seconds": 61.4}))
    page = tmp_path / SEARCH_PAGE
    page.parent.mkdir()
    page.write_text("# Search\n\n<!-- studies:start -->\n<!-- studies:end -->\n")
    return results, tmp_path / "images", page, study


def table_rows(text: str) -> list[list[str]]:
    return [[cell.strip() for cell in line.strip("|").split("|")]
            for line in text.splitlines() if line.startswith("| ") and "---" not in line]


def test_the_section_sums_up_the_study_and_ranks_its_trials(layout):
    results, images, page, study = layout

    text = studies_markdown(results, images, page.parent)

    assert f"### Study `{STUDY}`" in text
    assert "3 trials: 2 complete, 1 pruned, 0 failed." in text
    assert ("Base preset `default`, space `augmentation` (`augmentation.random_erasing`, "
            "`augmentation.rotation_range`) with `schedule.epochs=2` fixed.") in text
    assert "(one trial at a time)" in text and f"Command: `{COMMAND}`." in text
    assert "Budget: 90 s of training per trial (a trial whose epochs say it would" in text
    header, *rows = table_rows(text)
    assert header == ["Trial", "`augmentation.random_erasing`", "`augmentation.rotation_range`",
                      "Val acc", "Epochs", "Training", "State", "Record"]
    best_first = sorted(study.trials, key=lambda trial: -trial.value)
    assert [row[0] for row in rows] == [str(trial.number) for trial in best_first]
    for row, trial in zip(rows, best_first):
        assert row[2] == f"{trial.params['augmentation.rotation_range']:.3g}"
        assert row[3:7] == [f"{trial.value:.4f}", str(trial.user_attrs["epochs_run"]),
                            "61 s" if trial.number == 0 else "-", trial.state.name.lower()]
        assert row[7] == ("[result.json](../results/tiny-aug-trial0/result.json)"
                          if trial.number == 0 else "-")


def test_the_sentence_names_the_important_settings_against_the_base_preset(layout):
    results, images, page, study = layout

    text = studies_markdown(results, images, page.parent)

    best = study.best_trial
    assert "Over the 2 completed trials, the settings that explain most" in text
    assert f"The best trial, {best.number} (validation accuracy {best.value:.4f}), has " in text
    rotation = best.params["augmentation.rotation_range"]
    assert f"`augmentation.rotation_range` {rotation:.3g} (`default`: 0)" in text
    assert "With fewer than 10 completed trials these shares are rough." in text


def test_a_base_setting_the_preset_leaves_unset_is_shown_as_a_run_resolves_it():
    settings = {"preset": "default", "keys": ["loss.label_smoothing", "runtime.batch_size"]}
    assert base_values(settings) == {"loss.label_smoothing": 0.1, "runtime.batch_size": 128}
    # The trials' hardware decides the batch size: 512 per GPU.
    assert base_values({**settings, "gpus": 1})["runtime.batch_size"] == 512


def test_figures_are_written_and_a_second_run_rewrites_identical_bytes(layout):
    results, images, page, _ = layout
    sections = generated_sections(results, images)

    assert write_sections(sections, page.parents[1]) == [page]
    first = {path.name: path.read_bytes() for path in images.glob("*.png")}
    text = page.read_text()
    write_sections(sections, page.parents[1])

    assert sorted(first) == [f"search-{STUDY}-{name}.png"
                             for name in ("history", "importances", "slice")]
    assert all(data.startswith(b"\x89PNG") for data in first.values())
    assert {path.name: path.read_bytes() for path in images.glob("*.png")} == first
    assert page.read_text() == text
    assert f"](../images/search-{STUDY}-history.png)" in text


def test_a_study_of_one_trial_says_importances_need_two(tmp_path):
    database = tmp_path / "sweeps" / "one" / "study.db"
    database.parent.mkdir(parents=True)
    study = optuna.create_study(study_name="one", storage=f"sqlite:///{database}",
                                direction="maximize")
    study.optimize(objective, n_trials=1)

    text = studies_markdown(tmp_path, tmp_path / "images", tmp_path)

    assert "Importances need 2 completed trials; this study has 1." in text
    assert "Base preset `not recorded`, a space not recorded" in text
    assert not (tmp_path / "images" / "search-one-importances.png").exists()


def test_the_wall_time_leaves_out_the_gaps_between_runs_of_the_command():
    from datetime import datetime, timedelta
    from types import SimpleNamespace

    from search.report import wall_time

    day = datetime(2026, 12, 1)

    def trial(start_minute, minutes):
        start = day + timedelta(minutes=start_minute)
        return SimpleNamespace(datetime_start=start,
                               datetime_complete=start + timedelta(minutes=minutes))

    one_run = [trial(0, 3), trial(3.5, 3)]  # half a minute to choose the next trial
    assert wall_time(one_run) == "6m 30s with a trial running (one trial at a time)"
    next_day = [*one_run, trial(24 * 60, 4)]
    assert wall_time(next_day) == (
        "10m 30s with a trial running (one trial at a time; 2 stretches, the time between "
        "them, when no worker ran, left out)")
    parallel = [trial(0, 3), trial(1, 3)]
    assert wall_time(parallel) == (
        "4m 00s with a trial running (up to 2 trials ran at once, in parallel workers)")


def test_the_summary_says_how_many_pruned_trials_were_invalid_configurations():
    from types import SimpleNamespace

    from optuna.trial import TrialState

    from search.report import state_counts

    def trial(state, **attrs):
        return SimpleNamespace(state=state, user_attrs=attrs)

    trials = [trial(TrialState.COMPLETE), trial(TrialState.PRUNED, pruned_by="pruner"),
              trial(TrialState.PRUNED, invalid="schedule.warmup_epochs must be in [0, 1)")]
    assert state_counts(trials) == "3 trials: 1 complete, 2 pruned (1 invalid), 0 failed"
    assert state_counts(trials[:2]) == "2 trials: 1 complete, 1 pruned, 0 failed"
