"""Records read back: a record that cannot be read is named with the reason, skipped and left as
it is, whatever its bytes."""

import json

import pytest

from outputs.io import MAX_DEPTH
from records.reader import read_records
from records.run_record import upgraded
from tests.fake_records import fake_record, write_json


def deep_history() -> bytes:
    """A valid record but for one value nested far deeper than any record's."""
    record = fake_record("deep", [900] * 10, 0.9)
    notes = 0
    for _ in range(MAX_DEPTH):
        notes = [notes]
    record["history"]["1"]["notes"] = notes
    return json.dumps(record).encode()


CRAFTED = {
    "bombed": (("[" * 100_000 + "]" * 100_000).encode(),
               f"unreadable (it nests values deeper than {MAX_DEPTH} levels)"),
    "deep-field": (deep_history(), f"unreadable (it nests values deeper than {MAX_DEPTH} levels)"),
    "array": (b"[]", "unreadable (it holds an array, not an object)"),
    "truncated": (b'{"run_name": "x", "stat', "unreadable (it is not valid JSON (Unterminated "
                  "string starting at: line 1 column 19 (char 18)))"),
    "latin1": (b'{"run_name": "caf\xe9"}', "unreadable (it is not UTF-8 text (invalid "
               "continuation byte at byte 17))"),
    "folder": (None, "unreadable (it is a folder)"),
}


@pytest.mark.parametrize("kind", CRAFTED)
def test_a_crafted_record_is_named_skipped_and_left_untouched(tmp_path, kind):
    content, reason = CRAFTED[kind]
    write_json(tmp_path / "good" / "result.json", fake_record("good", [900] * 10, 0.9))
    crafted = tmp_path / kind / "result.json"
    if content is None:
        crafted.mkdir(parents=True)
    else:
        crafted.parent.mkdir()
        crafted.write_bytes(content)

    records, skipped = read_records(tmp_path)

    assert [record["run_name"] for record in records] == ["good"]
    assert skipped == [(crafted, reason)]
    assert crafted.is_dir() if content is None else crafted.read_bytes() == content


def test_a_record_version_that_is_no_number_is_left_for_the_checks():
    record = {**fake_record("odd", [900] * 10, 0.9), "record_version": "2"}
    assert upgraded(record) is record


def test_every_command_reading_a_runs_record_names_a_crafted_one(tmp_path, monkeypatch, capsys):
    from evaluation.ensemble import read_member
    from evaluation.specialist import read_predictions
    from records.predictions import compact_predictions
    from serving.export import resolve_checkpoint

    monkeypatch.setenv("RESULTS_PATH", str(tmp_path))
    bomb = CRAFTED["bombed"][0]
    crafted = tmp_path / "crafted" / "result.json"
    crafted.parent.mkdir()
    crafted.write_bytes(bomb)
    (crafted.parent / "predictions.npz").write_bytes(b"")
    problem = "A record must be a readable UTF-8 JSON file, but it nests values deeper than"

    assert problem in read_member(crafted.parent)[2]
    with pytest.raises(ValueError, match=problem):
        read_predictions(tmp_path, "crafted", "--generalist")
    with pytest.raises(ValueError, match=problem):
        resolve_checkpoint("crafted")
    assert compact_predictions(tmp_path) == []
    assert problem in capsys.readouterr().err
    assert crafted.read_bytes() == bomb
