"""The report on records of every kind: runs that select EMA weights or TTA, ensembles, records
from before either existed, and the figures drawn from runs' predictions."""

import os
import subprocess
import sys

import numpy as np
import pytest

import config
from records.reader import rank_records, read_records, record_problems
from records.reader import selected_val_accuracy as val_of_selection
from reporting.leaderboard import ensembles_markdown, main
from reporting.tables import leaderboard_frame
from tests.fake_records import fake_record, write_json
from tests.records.fake_predictions import (
    fake_ensemble_record,
    fake_test_set,
    write_run_with_predictions,
)

FIGURES_FROM_PREDICTIONS = ("reliability.png", "mistakes.png")


def recipe_record(name="recipe", **overrides) -> dict:
    """A record with every field that runs with EMA, TTA and the new schedules write."""
    fields = {
        "selected_weights": "ema", "selected_tta": True, "val_accuracy_ema": 0.949,
        "test_accuracy_ema": 0.948, "val_accuracy_ema_tta": 0.953, "test_accuracy_ema_tta": 0.95,
        "val_accuracy_final_tta": 0.945, "test_accuracy_final_tta": 0.944,
        "val_accuracy_swa_tta": None,
    }
    record = fake_record(name, [950] * 10, 0.951, **{**fields, **overrides})
    record["config"].update(ema=0.999, label_smoothing=0.1, tta=True, warmup_epochs=0.6,
                            split_seed=0, lr_schedule="onecycle")
    return record


def test_a_run_that_selected_ema_weights_with_tta_is_read_with_that_selection():
    record = recipe_record()

    assert record_problems(record) == []
    assert val_of_selection(record) == 0.953  # val_accuracy_ema_tta, not val_accuracy_ema
    row = leaderboard_frame([record]).loc["recipe"]
    assert row["Test acc (selected)"] == "0.9500 (ema+tta)"
    assert row["Averaging"] == "SWA from epoch 3, EMA 0.999"
    assert row["LR schedule"] == "onecycle (lr 0.001)"
    assert row["95% CI"] == "0.9456-0.9541"  # Wilson, 9,500 of 10,000
    old = fake_record("old", [900] * 10, 0.91)  # no selected_tta: the plain weights' val
    assert val_of_selection(old) == old["val_accuracy_swa"]
    assert leaderboard_frame([old]).loc["old", "Test acc (selected)"] == "0.9000 (swa)"


def test_an_averaged_ensemble_says_so_and_shows_what_each_member_added():
    record = fake_ensemble_record("mean", 0.95, 0.96, {"run-a": 0.5, "run-b": 0.5})
    record["method"] = "plain average of the named runs"
    record["selection"] = [
        {"member": "run-a", "val_accuracy": 0.94},
        {"member": "run-b", "val_accuracy": 0.96},
    ]
    assert ensembles_markdown([record]).splitlines()[-1] == (
        "- `mean`: `run-a` 0.50, `run-b` 0.50, a plain average of the named runs; validation "
        "accuracy as members were added: 0.9400 with `run-a`; 0.9600 with `run-b`"
    )


@pytest.mark.parametrize(
    "change, reason",
    [
        ({"selected_tta": "yes"}, "'selected_tta' is str, expected bool or null"),
        ({"val_accuracy_ema_tta": "0.9"},
         "'val_accuracy_ema_tta' is str, expected int or float or null"),
        ({"kind": "sweep"}, "'kind' is 'sweep', expected one of 'ensemble', 'specialist', "
         "'combination' or no 'kind'"),
    ],
)
def test_new_fields_with_wrong_values_are_named(change, reason):
    assert reason in record_problems(recipe_record(**change))


def test_ensembles_are_ranked_as_rows_but_never_chosen_as_the_best_run(tmp_path):
    results = tmp_path / "results"
    write_json(results / "run-a" / "result.json", fake_record("run-a", [920] * 10, 0.93))
    write_json(results / "run-b" / "result.json", fake_record("run-b", [900] * 10, 0.92))
    ensemble = fake_ensemble_record("pair", 0.9300, 0.97, {"run-a": 0.6, "run-b": 0.4})
    write_json(results / "pair" / "result.json", ensemble)

    assert main(["--results", str(results), "--images", str(tmp_path / "images"),
                 "--readme", str(tmp_path / "README.md")]) == 0
    text = (results / "README.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith("| pair ")]
    assert rows == [
        "| pair | ensemble of 2 runs | - | - | - | - | - | - | - | 0.9700 | - | - "
        "| 0.9300 (ensemble) | 0.9248-0.9348 | - | - | 2026-01-03 |"
    ]
    ranked_names = [line.split(" | ")[0][2:] for line in text.splitlines()
                    if line.startswith("| run-") or line.startswith("| pair ")]
    assert ranked_names[:3] == ["pair", "run-a", "run-b"]
    assert "## Best run: `run-a`" in text  # the ensemble's validation accuracy is higher
    assert "- `pair`: `run-a` 0.60, `run-b` 0.40, chosen on validation from 2 runs\n" in text


@pytest.mark.parametrize(
    "change, reason",
    [
        (lambda r: r.pop("members"), "missing key 'members'"),
        (lambda r: r["members"].update({"run-a": -1.0}), "'members.run-a' is -1.0, expected a"),
        (lambda r: r["members"].clear(), "'members' is empty"),
        (lambda r: r.update(test_accuracy=None), "'test_accuracy' is null, expected int or"),
    ],
    ids=["no-members", "negative-weight", "empty-members", "no-test-accuracy"],
)
def test_ensemble_records_are_checked_for_their_own_fields(change, reason):
    record = fake_ensemble_record("pair", 0.93, 0.94, {"run-a": 0.5, "run-b": 0.5})
    assert record_problems(record) == []
    change(record)
    assert any(problem.startswith(reason) for problem in record_problems(record))


def test_every_committed_record_is_still_read():
    records, skipped = read_records(config.REPO_ROOT / "results")
    ranked, _ = rank_records(records)
    assert skipped == [] and len(ranked) >= 10


@pytest.fixture
def predicted_layout(tmp_path, monkeypatch):
    """The best run on validation has no predictions; two runs below it do."""
    labels = fake_test_set(monkeypatch)
    results = tmp_path / "results"
    write_json(results / "old-best" / "result.json", fake_record("old-best", [950] * 10, 0.99))
    confidence = np.linspace(0.3, 0.99, 10_000)
    write_run_with_predictions(results, "with-tta", labels, np.arange(0, 10_000, 25), 0.96,
                               candidate="swa_tta", confidence=confidence)
    write_run_with_predictions(results, "plain", labels, np.arange(0, 10_000, 20), 0.95)
    return {"results": results, "images": tmp_path / "images", "readme": tmp_path / "README.md"}


def run_report(layout) -> int:
    return main(["--results", str(layout["results"]), "--images", str(layout["images"]),
                 "--readme", str(layout["readme"])])


def test_figures_from_predictions_show_the_best_run_on_validation_that_has_them(predicted_layout):
    assert run_report(predicted_layout) == 0
    text = (predicted_layout["results"] / "README.md").read_text()

    for name in ("per-class.png", *FIGURES_FROM_PREDICTIONS):
        assert (predicted_layout["images"] / name).read_bytes().startswith(b"\x89PNG")
        assert f"](../images/{name})" in text
    assert ("Calibration of `with-tta`, the best run on validation among those with "
            "predictions (the best, `old-best`, has none)") in text
    assert "The test images `with-tta` gets wrong with the highest confidence" in text
    paired = text.split("## Paired tests", 1)[1].split("##", 1)[0]
    assert "| [with-tta](with-tta/result.json) | [plain](plain/result.json) |" in paired


def test_without_predictions_the_figures_that_need_them_are_not_drawn(tmp_path):
    results = tmp_path / "results"
    write_json(results / "old" / "result.json", fake_record("old", [950] * 10, 0.95))
    layout = {"results": results, "images": tmp_path / "images", "readme": tmp_path / "R.md"}
    assert run_report(layout) == 0

    assert (layout["images"] / "per-class.png").exists()
    assert not any((layout["images"] / name).exists() for name in FIGURES_FROM_PREDICTIONS)
    text = (results / "README.md").read_text()
    assert "need a ranked run with predictions (`predictions.npz`) and the test set in " \
           "`DATA_PATH`: no ranked run has predictions." in text


def test_regenerating_with_predictions_writes_identical_bytes(tmp_path, fashion_mnist, data_path):
    results, images = tmp_path / "results", tmp_path / "images"
    labels = fashion_mnist.y_test
    wrong = np.flatnonzero(np.arange(10_000) % 17 == 0)
    write_run_with_predictions(results, "first", labels, wrong, 0.95,
                               confidence=np.linspace(0.2, 1.0, 10_000))
    write_run_with_predictions(results, "second", labels, wrong[::2], 0.94, candidate="ema")
    argv = ["--results", str(results), "--images", str(images),
            "--readme", str(tmp_path / "README.md")]
    subprocess.run([sys.executable, "report.py", *argv], cwd=config.REPO_ROOT, check=True,
                   capture_output=True, env={**os.environ, "DATA_PATH": str(data_path)})
    names = ("accuracies.png", "confusion.png", "per-class.png", *FIGURES_FROM_PREDICTIONS)
    first = {name: (images / name).read_bytes() for name in names}
    first_text = (results / "README.md").read_text()

    assert main(argv) == 0  # in this process: no state shared with the first
    assert {name: (images / name).read_bytes() for name in names} == first
    assert (results / "README.md").read_text() == first_text
    assert "| [second](second/result.json) | [first](first/result.json) |" in first_text
