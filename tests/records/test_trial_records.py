"""Search trials' records in the report: read without warnings, never ranked, and summed up in
one line per study of the unranked list (a study has dozens of trials)."""

import pytest

from evaluation.seeds import seed_groups
from records.reader import rank_records, read_records, record_problems, runs_only
from reporting.leaderboard import main
from tests.fake_records import fake_record, write_json

TEST_FIELDS = ("test_accuracy", "test_accuracy_final", "test_accuracy_swa", "confusion_matrix")


def fake_trial_record(study: str, number: int, value: float, state: str = "completed") -> dict:
    """A trial's record as `search.objective` writes it: tagged with its study and number, with
    a `trial` entry, and without any test accuracy (a trial never reads the test set)."""
    record = fake_record(f"{study}-trial{number}", [900] * 10, value)
    for key in TEST_FIELDS:
        del record[key]
    record["config"]["tags"] = [f"study:{study}", f"trial:{number}"]
    record["trial"] = {"study": study, "number": number, "state": state, "value": value,
                       "params": {"augmentation.rotation_range": 2.5 * number}}
    return record


def test_a_trial_record_is_valid_without_test_accuracy_and_is_no_run():
    record = fake_trial_record("aug", 3, 0.93)

    assert record_problems(record) == []
    assert runs_only([record]) == []


@pytest.mark.parametrize("change, reason", [
    (lambda trial: trial.pop("study"), "missing key 'trial.study'"),
    (lambda trial: trial.update(value="high"), "'trial.value' is str, expected int or float"),
    (lambda trial: trial.update(number=1.5), "'trial.number' is float, expected int"),
])
def test_a_malformed_trial_entry_is_named(change, reason):
    record = fake_trial_record("aug", 0, 0.93)
    change(record["trial"])

    assert reason in record_problems(record)


def test_trials_make_one_unranked_line_per_study():
    records = [
        fake_record("run", [950] * 10, 0.95),
        fake_trial_record("aug", 0, 0.9312),
        fake_trial_record("aug", 1, 0.9401),
        fake_trial_record("aug", 2, 0.9100, state="pruned"),
        fake_trial_record("lr", 0, 0.9200),
    ]

    ranked, excluded = rank_records(records)

    assert [record["run_name"] for record in ranked] == ["run"]
    assert excluded == [
        ("aug-trial<N>", "3 search trial runs of study aug (2 completed, 1 pruned; best "
         "validation accuracy 0.9401, trial 1): trials are scored on validation and have no "
         "test accuracy"),
        ("lr-trial<N>", "1 search trial run of study lr (1 completed; best validation accuracy "
         "0.9200, trial 0): trials are scored on validation and have no test accuracy"),
    ]


def test_trials_with_equal_settings_are_no_seed_group():
    records = [fake_trial_record("aug", number, 0.93) for number in (0, 1)]
    for record in records:
        record["config"]["tags"] = []  # the same configuration but for the seed

    assert seed_groups(records) == []


def test_the_report_lists_a_study_without_warnings(tmp_path, capsys):
    results = tmp_path / "results"
    write_json(results / "run" / "result.json", fake_record("run", [950] * 10, 0.95))
    for number, value in enumerate((0.93, 0.94)):
        write_json(results / f"aug-trial{number}" / "result.json",
                   fake_trial_record("aug", number, value))

    assert main(["--results", str(results), "--images", str(tmp_path / "images"),
                 "--readme", str(tmp_path / "README.md")]) == 0

    assert capsys.readouterr().err == ""
    records, skipped = read_records(results)
    assert skipped == [] and len(records) == 3
    text = (results / "README.md").read_text()
    assert ("- `aug-trial<N>`: 2 search trial runs of study aug (2 completed; best validation "
            "accuracy 0.9400, trial 1)") in text
