"""The typed run record (records.run_record): every committed record reads and writes back the
same, a bad field is named, and the selected candidate's accuracies are found."""

import json

import pytest

from records.run_record import RunRecord, upgraded
from tests.conftest import REPO_ROOT
from tests.fake_records import fake_record


def committed_run_records() -> list[dict]:
    records = []
    for path in sorted((REPO_ROOT / "results").glob("*/result.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        if record.get("kind") not in ("ensemble", "combination"):
            records.append(record)
    return records


def test_every_committed_run_record_reads_and_writes_back_unchanged():
    records = committed_run_records()
    assert len(records) > 20
    for record in records:
        assert RunRecord.from_json(record).to_json() == upgraded(record), record["run_name"]


def test_the_selected_candidates_accuracies_are_read_from_the_record():
    record = RunRecord.from_json(fake_record("run", [900] * 10, 0.9))
    record.selected_weights, record.selected_tta = "swa", True
    record.accuracies.update(val_accuracy_swa_tta=0.95, test_accuracy_swa_tta=0.94)
    assert (record.selected_accuracy("val"), record.selected_accuracy("test")) == (0.95, 0.94)
    assert record.to_json()["val_accuracy_swa_tta"] == 0.95


@pytest.mark.parametrize(("change", "named"), [
    ({"params": "many"}, "'params' is str, expected int"),
    ({"smoke_run": 0}, "'smoke_run' is int, expected bool"),
    ({"train_seconds": float("nan")}, "'train_seconds' is NaN"),
    ({"best_epoch": True}, "'best_epoch' is bool, expected int or null"),
    ({"val_accuracy_swa": "high"}, "'val_accuracy_swa' is str, expected int or float or null"),
    ({"colour": "red"}, "unknown key 'colour'"),
])
def test_a_bad_field_is_named_with_the_type_it_needs(change, named):
    record = {**fake_record("run", [900] * 10, 0.9), **change}
    with pytest.raises(ValueError, match="Run record 'run'") as error:
        RunRecord.from_json(record)
    assert named in str(error.value)


def test_a_missing_field_is_named():
    record = fake_record("run", [900] * 10, 0.9)
    del record["history"]
    with pytest.raises(ValueError, match="missing key 'history'"):
        RunRecord.from_json(record)


def test_tta_is_worded_with_its_shifts():
    from records.run_record import tta_words

    assert tta_words({"tta_shifts": 0}) == tta_words({}) == "flip TTA"
    assert tta_words({"tta_shifts": 1}) == "flip and 1-pixel shift TTA"
    assert tta_words({"tta_shifts": 2}) == "flip and 1-2-pixel shift TTA"
