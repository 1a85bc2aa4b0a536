import dataclasses
import shutil

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import api_pb2, metadata
from tensorboard.util.tensor_util import make_ndarray

from records.run_record import RunRecord
from tests.fake_records import fake_record
from tests.tiny_run import tiny_run
from training import hparams
from training.hparams import (
    CONFIG_HPARAMS,
    EXPERIMENT_FILE_SUFFIX,
    METRICS,
    SHOWN_FIRST,
    log_hparams,
    run_hparams,
)


@pytest.fixture(scope="module")
def run(tmp_path_factory, fashion_mnist):
    return tiny_run(tmp_path_factory, fashion_mnist)


@pytest.fixture
def logs(tmp_path, run):
    """A logs folder holding a copy of the tiny run's logs, with its HParams logged."""
    shutil.copytree(run.tensorboard_dir, tmp_path / "tiny")
    log_hparams(tmp_path / "tiny", run.record)
    return tmp_path


def hparams_content(folder, tag) -> bytes:
    events = EventAccumulator(str(folder))
    events.Reload()
    return events.PluginTagToContent(metadata.PLUGIN_NAME)[tag]


def scalar_tags(folder) -> dict:
    events = EventAccumulator(str(folder), size_guidance={"tensors": 0})
    events.Reload()
    return {tag: events.Tensors(tag) for tag in events.Tags()["tensors"]}


def test_the_session_holds_the_settings_of_the_run(logs, run):
    config = run.record.to_json()["config"]

    session = metadata.parse_session_start_info_plugin_data(
        hparams_content(logs / "tiny", metadata.SESSION_START_INFO_TAG)
    )

    assert session.group_name == "tiny"
    logged = {
        name: getattr(value, value.WhichOneof("kind")) for name, value in session.hparams.items()
    }
    expected = {
        name: config[name]
        for name in CONFIG_HPARAMS
        if name != "swa_start" and config[name] is not None  # no SWA: no swa_start
    }
    assert logged == pytest.approx({**expected, "smoke_run": True})
    assert logged["model"] == "fast-cnn-small" and logged["lr_schedule"] == "onecycle"


def test_the_experiment_lists_every_setting_and_metrics_that_the_run_logged(logs, run):
    record = run.record.to_json()

    experiment = metadata.parse_experiment_plugin_data(
        hparams_content(logs, metadata.EXPERIMENT_TAG)
    )

    assert [info.name for info in experiment.hparam_infos] == [*CONFIG_HPARAMS, "smoke_run"]
    infos = {info.name: info for info in experiment.hparam_infos}
    assert "fast-cnn-small" in [
        value.string_value for value in infos["model"].domain_discrete.values
    ]
    assert infos["lr"].type == api_pb2.DATA_TYPE_FLOAT64  # filtered by a range
    # The dashboard's first columns: the settings marked as differing, then the others by name.
    assert {name for name, info in infos.items() if info.differs} == set(SHOWN_FIRST)
    metrics = [(info.name.tag, info.name.group) for info in experiment.metric_infos]
    assert metrics == [(tag, group) for tag, group, _ in METRICS]
    for tag, group in metrics:
        logged = scalar_tags(logs / "tiny" / group)
        if tag.endswith("_swa"):  # a one-epoch run has no SWA weights (it has EMA ones)
            assert tag not in logged
            continue
        (*_, last) = logged[tag]
        key = tag.removeprefix("outcome/")
        if key == "val_accuracy":
            tta = "_tta" if record["selected_tta"] else ""
            key = f"val_accuracy_{record['selected_weights']}{tta}"
        if key in record:
            assert make_ndarray(last.tensor_proto).item() == pytest.approx(record[key])


def test_each_run_replaces_the_experiment_description(logs, run):
    (logs / "second").mkdir()  # a second run's folder, without a session yet
    log_hparams(logs / "second", dataclasses.replace(run.record, run_name="second"))

    assert len(list(logs.glob(f"*{EXPERIMENT_FILE_SUFFIX}"))) == 1
    assert (
        metadata.parse_session_start_info_plugin_data(
            hparams_content(logs / "second", metadata.SESSION_START_INFO_TAG)
        ).group_name
        == "second"
    )


def test_swa_start_is_a_setting_only_with_swa_on():
    config = {name: 1 for name in CONFIG_HPARAMS} | {"swa": True, "swa_start": 5, "lr": None}
    record = RunRecord.from_json({**fake_record("run", [900] * 10, 0.9), "config": config})

    assert run_hparams(record)["swa_start"] == 5
    assert "swa_start" not in run_hparams(dataclasses.replace(record, config={**config,
                                                                               "swa": False}))
    assert "lr" not in run_hparams(record)  # unset values are left out
    assert run_hparams(record)["smoke_run"] is False


def test_the_command_logs_recorded_runs_and_skips_those_without_logs(
    run, tmp_path, monkeypatch, capsys
):
    results, logs = tmp_path / "results", tmp_path / "logs"
    shutil.copytree(run.run_dir, results / "tiny")
    shutil.copytree(run.run_dir, results / "unlogged")
    shutil.copytree(run.tensorboard_dir, logs / "tiny")
    monkeypatch.setenv("RESULTS_PATH", str(results))
    monkeypatch.setenv("TB_LOGS_PATH", str(logs))

    assert hparams.main([]) == 0

    assert capsys.readouterr().out.splitlines() == [
        f"logged tiny in {logs / 'tiny'}",
        f"skipped unlogged: {logs / 'unlogged'} does not exist",
    ]
    session = metadata.parse_session_start_info_plugin_data(
        hparams_content(logs / "tiny", metadata.SESSION_START_INFO_TAG)
    )
    assert session.hparams["model"].string_value == "fast-cnn-small"
