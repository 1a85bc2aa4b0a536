import json

from records.reader import read_record, read_records, record_tags
from records.run_record import (
    FIELDS_ADDED,
    FIELDS_BEFORE_RECIPE,
    RECORD_VERSION,
    TAGS_BEFORE_VERSION_2,
    upgraded,
)
from tests.conftest import REPO_ROOT
from tests.fake_records import fake_record, write_json


def test_a_version_1_record_gets_the_tags_of_its_docs_tables(tmp_path):
    old = fake_record("default-seed0", [900] * 10, 0.9)
    old.pop("record_version", None)
    write_json(tmp_path / "default-seed0" / "result.json", old)

    record, problem = read_record(tmp_path / "default-seed0" / "result.json")
    assert problem is None and record["record_version"] == RECORD_VERSION
    assert record_tags(record) == TAGS_BEFORE_VERSION_2["default-seed0"]
    assert record["config"]["preset"] is None
    assert "record_version" not in old  # the record read is a new dict


def test_a_current_record_keeps_its_own_tags_and_an_ensemble_is_left_alone():
    current = fake_record("default-seed0", [900] * 10, 0.9)
    current.update(record_version=RECORD_VERSION)
    every_field = {**FIELDS_BEFORE_RECIPE, **FIELDS_ADDED, "split_seed": 0}
    current["config"].update(every_field, tags=["mine"], preset="fast-cnn")
    assert upgraded(current) is current and record_tags(current) == ("mine",)
    ensemble = {"run_name": "pair", "kind": "ensemble", "status": "completed"}
    assert upgraded(ensemble) is ensemble and record_tags(ensemble) == ()


def test_a_current_record_gets_the_settings_added_since_it_was_written():
    # A record written before `time_budget` existed groups with new seeds of its settings.
    current = fake_record("default-seed0", [900] * 10, 0.9)
    current.update(record_version=RECORD_VERSION)
    current["config"].update(tags=["mine"], bias_lr_factor=8.0)
    record = upgraded(current)
    assert record["config"]["time_budget"] is None and record["config"]["bias_lr_factor"] == 8.0
    assert record["config"]["tags"] == ["mine"] and "time_budget" not in current["config"]


def test_every_committed_record_reads_and_the_tagged_runs_exist():
    records, skipped = read_records(REPO_ROOT / "results")
    assert not skipped
    names = {record["run_name"] for record in records}
    assert set(TAGS_BEFORE_VERSION_2) <= names  # no tag points at a run that is not there
    on_disk = {path.parent.name for path in (REPO_ROOT / "results").glob("*/result.json")}
    assert names == on_disk
    runs = [record for record in records if "config" in record]
    assert all(record["record_version"] == RECORD_VERSION for record in runs)
    assert sum("default-seeds" in record_tags(record) for record in runs) == 5


def test_the_fields_added_since_version_1_have_the_configurations_defaults():
    # A field added to ExperimentConfig needs its default here, so an old record of the same
    # settings keeps grouping with new seeds of them.
    from training.config import ExperimentConfig

    old_keys = set(json.loads((REPO_ROOT / "results" / "default-seed0" / "config.json")
                              .read_text()))
    defaults = ExperimentConfig().to_dict()
    assert set(defaults) == old_keys | set(FIELDS_ADDED)
    for name, value in FIELDS_ADDED.items():
        expected = defaults[name]
        assert (list(expected) if isinstance(expected, tuple) else expected) == value, name


def test_a_configuration_from_before_the_recipe_trains_as_it_did():
    # seed-wrn-16-4-adam trained before the moving average, label smoothing, test-time
    # augmentation and split_seed existed: its configuration must not take today's defaults.
    from training.config import ExperimentConfig

    path = REPO_ROOT / "results" / "seed-wrn-16-4-adam" / "config.json"
    assert "ema" not in json.loads(path.read_text())
    config = ExperimentConfig.from_json(path)
    assert config.averaging.ema == 0.0 and config.loss.label_smoothing == 0.0
    assert config.evaluation.tta is False and config.model.args == {}
    assert config.data.split_seed == config.runtime.seed == 0
    (record, _) = read_record(path.with_name("result.json"))
    assert record["config"]["ema"] == 0.0 and record["config"]["tta"] is False
    # A record of today keeps its own settings.
    current = ExperimentConfig.from_json(REPO_ROOT / "results" / "wrn-16-4-recipe-60m"
                                         / "config.json")
    assert current.averaging.ema == 0.999 and current.loss.label_smoothing == 0.1
