import json

import pytest

from benchmarks import levers, summary
from benchmarks.families import time_training
from benchmarks.levers import LEVERS
from training.presets import compose


@pytest.mark.parametrize("name", list(LEVERS))
def test_every_lever_keeps_a_valid_configuration_of_the_default(name):
    lever = LEVERS[name]
    config = compose(preset="default", overrides=lever.overrides).config.resolved().validate()
    assert config.model.name == "fast-cnn-small" and lever.description
    assert lever.steps_per_execution >= 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--levers", "xla,warp-drive"], "argument --levers: unknown lever warp-drive"),
        (["--preset", "no-such"], "argument --preset: unknown preset"),
        (["--window-seconds", "0"], "argument --window-seconds: must be >= 0.1"),
        (["--windows", "0"], "argument --windows: must be >= 1"),
        (["--warmup", "0"], "argument --warmup: must be >= 1"),
    ],
)
def test_bad_arguments_exit_2_naming_the_flag_and_write_nothing(argv, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as stopped:
        levers.main([*argv, "--out", str(tmp_path)])
    assert stopped.value.code == 2
    assert message in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


@pytest.mark.slow  # trains a few steps of the default model, 8 steps per call
def test_several_steps_per_call_are_timed_as_steps(fashion_mnist, monkeypatch):
    monkeypatch.setattr("data.load_fashion_mnist", lambda: fashion_mnist)
    result = levers.time_lever("steps-per-execution-8", "default", 8, 0.2, 2)
    assert result["steps_per_execution"] == 8 and len(result["window_images_per_second"]) == 2
    assert result["window_steps"] % 8 == 0
    assert result["images_per_second"] > 0 and result["flops_per_image_train"] > 0


@pytest.mark.slow  # trains a few steps of the default model outside fit
def test_the_plain_loop_trains_the_same_step_outside_fit(fashion_mnist, monkeypatch):
    monkeypatch.setattr("data.load_fashion_mnist", lambda: fashion_mnist)
    result = levers.time_lever("plain-loop", "default", 2, 0.2, 2)
    assert result["loop"] == "function" and len(result["window_images_per_second"]) == 2
    assert result["images_per_second"] > 0 and result["load"]["own_cpu_seconds"] > 0


def test_an_unknown_loop_is_refused_naming_the_loops(fashion_mnist):
    config = compose(preset="default").config.resolved()
    with pytest.raises(ValueError, match="loop must be one of fit, function. Received: loop="):
        time_training(config, fashion_mnist, 1, 0.1, 1, loop="while")


@pytest.mark.slow  # three processes each train a few steps of the default model
def test_the_baseline_runs_first_and_last_and_a_failed_lever_is_kept_with_its_error(
        tmp_path, monkeypatch):
    monkeypatch.setitem(LEVERS, "broken", levers.Lever("a setting that does not exist",
                                                       overrides=("runtime.warp=9",)))
    argv = ["--levers", "broken", "--window-seconds", "0.2", "--windows", "2", "--warmup", "1",
            "--out", str(tmp_path)]
    # The lever's process cannot see the patched table: it refuses the unknown lever.
    assert levers.main(argv) == 0
    record = json.loads((tmp_path / "levers-default.json").read_text())
    assert [row["lever"] for row in record["rows"]] == ["baseline", "broken", "baseline"]
    first, broken, last = record["rows"]
    assert first["images_per_second"] > 0 and last["images_per_second"] > 0
    assert first["against_baseline"] == 1.0 and "error" in broken
    assert record["baseline_drift"] == pytest.approx(
        last["images_per_second"] / first["images_per_second"] - 1, abs=1e-3)
    table = summary.levers_markdown(tmp_path, tmp_path)
    assert "| broken | a setting that does not exist | failed:" in table
    assert "| baseline (again) |" in table and "drifted by" in table


def test_a_lever_that_changed_the_cores_has_no_share_of_the_usual_peak():
    usual = {"machine": "EPYC, 2 cores", "gflops": 400.0}
    baseline = {"utilisation": 0.65, "peak": usual}
    pinned = {"utilisation": 0.76, "peak": {"machine": "EPYC, 1 cores", "gflops": 208.0}}
    assert summary._lever_share(baseline, baseline) == "65%"
    assert summary._lever_share(pinned, baseline) == "- (the process saw EPYC, 1 cores)"
    assert summary._lever_share({"utilisation": None}, baseline) == "-"
