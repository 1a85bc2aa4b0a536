"""The configuration's shape: frozen sections, one flat name per setting, and the flat layout that
records and `config.json` keep read back into the same nested configuration."""

import dataclasses
import json

import pytest

from tests.conftest import REPO_ROOT
from training import presets
from training.config import (
    FLAT_FIELDS,
    SECTION_KEYS,
    SECTION_TYPES,
    ConfigError,
    ExperimentConfig,
    ScheduleConfig,
)


def test_sections_are_frozen_and_replace_makes_a_changed_copy():
    config = ExperimentConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.schedule.epochs = 3
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.schedule = ScheduleConfig(epochs=3)
    changed = config.replace(epochs=3, lr_schedule="cosine", model_args={"dropout": 0.2})
    assert (changed.schedule.epochs, changed.schedule.name) == (3, "cosine")
    assert changed.model.args == {"dropout": 0.2}
    assert config.schedule == ScheduleConfig()  # the original is unchanged
    assert changed.augmentation == config.augmentation


def test_each_flat_name_reads_its_section_key():
    config = presets.compose(preset="airbench").config
    flat = config.to_dict()
    assert set(flat) == set(FLAT_FIELDS) == set(SECTION_KEYS)
    for name, value in flat.items():
        section, _, key = SECTION_KEYS[name].rpartition(".")
        owner = getattr(config, section) if section else config
        assert getattr(owner, key) == value, name
    assert set(SECTION_TYPES) == {f.name for f in dataclasses.fields(ExperimentConfig)} - {"preset"}


@pytest.mark.parametrize("name", ["default", "airbench", "fast-cnn-20-epochs"])
def test_the_flat_layout_reads_back_equal(name):
    config = presets.compose(preset=name).config.replace(tags=("a",), classes=("shirt", "coat"))
    assert ExperimentConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


def test_a_committed_run_folder_config_reads_into_the_sections():
    stored = json.loads((REPO_ROOT / "results" / "default-seed0" / "config.json").read_text())
    config = ExperimentConfig.from_dict(stored)
    assert config.model.name == stored["model"] and config.schedule.name == stored["lr_schedule"]
    assert config.runtime.batch_size == stored["batch_size"]
    assert {k: v for k, v in config.to_dict().items() if k in stored} == {
        k: tuple(v) if isinstance(v, list) else v for k, v in stored.items()
    }


def test_an_unknown_flat_name_is_refused_with_the_name():
    with pytest.raises(ValueError, match=r"Unknown config fields: \['epoch'\]"):
        ExperimentConfig().replace(epoch=3)


def test_validation_names_the_flat_setting_of_a_nested_value():
    with pytest.raises(ConfigError) as error:
        ExperimentConfig().replace(epochs=0).validate()
    assert error.value.field == "epochs" and "epochs must be >= 1" in str(error.value)
    assert presets.SECTION_KEYS["epochs"] == "schedule.epochs"
