"""A training-time budget: its durations, the epochs it chooses, the schedule scaled to them, the
safety net that keeps training within it, and runs that end on time or are refused."""

import math
from types import SimpleNamespace

import pytest

import train
from training.config import ExperimentConfig, resolve, with_budget_epochs
from training.hardware import Hardware
from training.time_budget import (
    PLANNING_MARGIN,
    BudgetPlan,
    EpochCost,
    TimeBudgetTooSmall,
    budget_plan,
    format_duration,
    parse_duration,
)

CPU = Hardware(cpu_bf16=True)
# 90 steps of 0.1 s, 0.5 s of validation: 9.5 s an epoch, after 5 s of building the steps.
COST = EpochCost(step_seconds=0.1, steps_per_epoch=90, batch_size=128, validation_seconds=0.5,
                 checkpoint_seconds=0.0, setup_seconds=5.0)


@pytest.mark.parametrize(
    "text, seconds",
    [("600", 600), ("600s", 600), ("10m", 600), ("1h30m", 5400), ("1.5h", 5400),
     ("2m30s", 150), (" 90 ", 90), ("1H", 3600), ("45.5", 45.5)],
)
def test_a_duration_reads_as_seconds(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "10x", "m", "-5", "0", "0m", "1m1h", "inf", "10 minutes",
                                  "1h-30m"])
def test_a_bad_duration_is_refused_with_the_rule(text):
    with pytest.raises(ValueError) as error:
        parse_duration(text)
    assert str(error.value) == (
        "--time-budget must be a duration in seconds (600, 600s), minutes (10m) or hours "
        f"(1h30m, 1.5h), more than 0. Received: --time-budget={text!r}"
    )


def test_a_duration_is_written_back_short():
    assert [format_duration(s) for s in (5400, 600, 17.2, 3601, 0.2)] == [
        "1h30m", "10m", "18s", "1h1s", "1s"]


def test_the_budget_is_a_flag_a_set_override_and_a_file_setting(tmp_path):
    assert train.parse_config(["--time-budget", "10m"])[0].schedule.time_budget == 600.0
    assert train.parse_config(["--set", "schedule.time_budget=1h30m"])[0].schedule.time_budget \
        == 5400.0
    assert train.parse_config(["--set", "schedule.time_budget=90"])[0].schedule.time_budget == 90
    path = tmp_path / "budget.toml"
    path.write_text('[schedule]\ntime_budget = "2m"\n')
    assert train.parse_config(["--config", str(path)])[0].schedule.time_budget == 120.0
    assert ExperimentConfig().schedule.time_budget is None  # off by default


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--time-budget", "10x"], "argument --time-budget: --time-budget must be a duration in "
         "seconds (600, 600s), minutes (10m) or hours (1h30m, 1.5h), more than 0. Received: "
         "--time-budget='10x'"),
        (["--set", "schedule.time_budget=soon"], "schedule.time_budget must be a duration in "
         "seconds (600, 600s), minutes (10m) or hours (1h30m, 1.5h), more than 0. Received: "
         "schedule.time_budget='soon' in --set"),
        (["--set", "schedule.time_budget=0"], "schedule.time_budget must be a duration in "
         "seconds (600, 600s), minutes (10m) or hours (1h30m, 1.5h), more than 0, or unset. "
         "Received: schedule.time_budget=0.0 (from --set schedule.time_budget): fix the value"),
    ],
)
def test_a_bad_budget_on_the_command_line_is_refused(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        train.parse_config(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_the_budget_gives_the_most_whole_passes_that_fit_after_the_setup_and_margin():
    assert COST.epoch_seconds == pytest.approx(9.5)
    assert COST.images_per_second == pytest.approx(1280)
    assert PLANNING_MARGIN == 0.05
    assert budget_plan(105.0, COST, "m") == BudgetPlan(10, 90, 90, 9.5)  # (105 - 5) x 0.95 / 9.5
    assert budget_plan(14.5, COST, "m") == BudgetPlan(1, 90, 90, 9.5)  # exactly the minimum
    assert budget_plan(3600.0, COST, "m").epochs == 359


def test_where_whole_passes_leave_time_one_epoch_more_of_shorter_epochs_fills_it():
    # 1.3 passes fit in 19 s: 2 epochs of 61 steps train 122 steps, one pass 90.
    plan = budget_plan(19.0, COST, "m")
    assert (plan.epochs, plan.steps_per_epoch) == (2, 61)
    assert plan.epoch_seconds == pytest.approx(6.6) and plan.passes == pytest.approx(122 / 90)
    # 9.5 passes: 10 epochs of 85 steps (850) beat 9 of 90 (810).
    plan = budget_plan(100.0, COST, "m")
    assert (plan.epochs, plan.steps_per_epoch) == (10, 85)
    # Just over 11 passes: one validation more costs more than the steps it would add.
    assert budget_plan(115.6, COST, "m") == BudgetPlan(11, 90, 90, 9.5)
    for budget in (14.5, 15, 17.3, 19, 23.9, 50, 104.4, 200.1, 999):
        plan = budget_plan(budget, COST, "m")
        assert COST.setup_seconds + plan.epochs * plan.epoch_seconds <= budget + 1e-9
        assert 1 <= plan.steps_per_epoch <= 90
        fit = max(1, math.floor((budget - 5) * (1 - PLANNING_MARGIN) / 9.5))
        assert plan.epochs * plan.steps_per_epoch >= fit * 90


def test_a_budget_too_small_for_one_epoch_is_refused_with_the_minimum():
    with pytest.raises(TimeBudgetTooSmall) as error:
        budget_plan(14.0, COST, "wrn-16-4")
    assert error.value.minimum == pytest.approx(14.5)
    message = str(error.value)
    assert message.startswith("The time budget is too small for one epoch of wrn-16-4")
    assert "an epoch takes about 9.5 s (90 steps of 0.100 s, 0.5 s of validation" in message
    assert "so the minimum is 15s. Give --time-budget 15s or more" in message
    assert message.endswith("Received: time_budget=14 s")
    one_step = EpochCost(3.0, 1, 128, 1.0, 1.0, 2.0)
    with pytest.raises(TimeBudgetTooSmall, match=r"an epoch takes about 5.0 s \(1 step of 3.000 s"):
        budget_plan(6.0, one_step, "capsnet")


def test_epochs_shorter_than_a_pass_are_a_setting_a_budget_alone_may_not_share():
    config = ExperimentConfig().replace(steps_per_epoch=100)
    assert resolve(config, CPU).schedule.steps_per_epoch == 100
    with pytest.raises(ValueError, match="steps_per_epoch must be >= 1, or unset"):
        ExperimentConfig().replace(steps_per_epoch=0).validate()
    with pytest.raises(ValueError, match="steps_per_epoch must be unset with a time budget"):
        ExperimentConfig().replace(steps_per_epoch=100, time_budget=60.0).validate()
    shorter = with_budget_epochs(resolve(ExperimentConfig().replace(time_budget=600.0), CPU), 2,
                                 300)
    assert (shorter.schedule.epochs, shorter.schedule.steps_per_epoch) == (2, 300)


def test_with_a_budget_the_settings_that_follow_from_the_epochs_wait_for_them():
    planned = resolve(ExperimentConfig().replace(time_budget=600.0), CPU)
    assert planned.schedule.time_budget == 600.0
    assert (planned.schedule.warmup_epochs, planned.averaging.swa,
            planned.averaging.swa_start) == (None, None, None)
    assert planned.optimizer.lr == 3e-3  # the one-cycle peak does not depend on them
    assert resolve(planned, CPU) == planned


@pytest.mark.parametrize("epochs", [1, 3, 4, 10, 23])
def test_the_schedule_scales_to_the_epochs_the_budget_chose(epochs):
    asked = ExperimentConfig().replace(time_budget=600.0, epochs=15)
    trained = resolve(with_budget_epochs(resolve(asked, CPU), epochs), CPU)
    # Exactly what a run asked for that many epochs trains, with the budget spent.
    assert trained == resolve(ExperimentConfig().replace(epochs=epochs), CPU)
    assert trained.schedule.time_budget is None
    assert trained.schedule.warmup_epochs == pytest.approx(epochs / 5)  # one-cycle warm-up
    assert trained.averaging.swa == (epochs >= 4)
    assert trained.averaging.swa_start == max(1, math.ceil(3 * epochs / 4))
    assert trained.averaging.ema == 0.999  # per step: the same whatever the epochs


def test_settings_given_explicitly_are_kept_when_the_budget_scales_the_rest():
    asked = ExperimentConfig().replace(time_budget=600.0, warmup_epochs=1.0, swa=False)
    trained = resolve(with_budget_epochs(resolve(asked, CPU), 12), CPU)
    assert (trained.schedule.epochs, trained.schedule.warmup_epochs) == (12, 1.0)
    assert trained.averaging.swa is False


class Clock:
    """`time.perf_counter` reading the times given, one per call."""

    def __init__(self, *times):
        self.times = iter(times)

    def __call__(self):
        return next(self.times)


def budget_stop(monkeypatch, times, budget=10.0, epoch_seconds=3.0, spent=0.0, epochs=8):
    """A BudgetStop through epochs ending at `times[1:]` (training starts at `times[0]`), until
    it stops training; returns it with the lines it said."""
    from training import speed_probe

    monkeypatch.setattr(speed_probe.time, "perf_counter", Clock(*times))
    said = []
    stop = speed_probe.BudgetStop(budget, epoch_seconds, spent, say=said.append)
    stop.set_model(SimpleNamespace(stop_training=False))
    stop.set_params({"epochs": epochs})
    stop.on_train_begin()
    for epoch in range(len(times) - 1):
        stop.on_epoch_end(epoch)
        if stop.model.stop_training:
            break
    return stop, said


def test_the_safety_net_stops_before_an_epoch_that_would_pass_the_budget_by_a_tenth(monkeypatch):
    # The first epoch is followed by the estimate (3 s), the others by the last epoch's length.
    stop, said = budget_stop(monkeypatch, [0.0, 4.0, 6.0, 9.0, 9.5])
    assert stop.stopped_after == 3 and stop.model.stop_training  # 9 + 3 > 10 x 1.1
    assert said == ["Epoch 3: another epoch would end after the time budget (9 s of 10 s "
                    "spent); training stops here."]
    # Half a second over the budget is let through: stopping would cut the schedule short.
    over, said = budget_stop(monkeypatch, [0.0, 4.0, 6.0, 8.5, 10.5], epochs=4)
    assert over.stopped_after is None and said == []
    within, said = budget_stop(monkeypatch, [0.0, 4.0, 6.0, 8.0, 9.0, 10.0], epochs=5)
    assert within.stopped_after is None and not within.model.stop_training and said == []


def test_the_safety_net_counts_the_training_time_of_earlier_attempts(monkeypatch):
    stop, _ = budget_stop(monkeypatch, [0.0, 2.0], spent=6.5)  # 6.5 + 2 + 3 > 10 x 1.1
    assert stop.stopped_after == 1
    first, _ = budget_stop(monkeypatch, [0.0, 2.0, 3.0])  # alone: 2 + 3 and 3 + 1 fit
    assert first.stopped_after is None


@pytest.fixture
def outputs(tmp_path, monkeypatch):
    for name in ("RESULTS_PATH", "DL_MODELS_PATH", "TB_LOGS_PATH"):
        monkeypatch.setenv(name, str(tmp_path / name.lower()))
    return tmp_path


TINY = {"limit_train": 256, "val_size": 500, "tta": False}


@pytest.mark.slow
def test_a_tiny_budget_ends_on_time_with_its_plan_in_the_record(outputs, fashion_mnist):
    from training.experiment import run_experiment

    budget = 30.0
    config = ExperimentConfig().replace(time_budget=budget, run_name="budget", **TINY)
    result = run_experiment(config, data=fashion_mnist, verbose=0, evaluate_test=False)
    record = result.record
    plan = record.time_budget
    assert record.status == "completed" and plan["seconds"] == budget
    assert plan["epochs"] >= 2 and plan["images_per_second"] > 0 and plan["measure_seconds"] > 0
    assert record.fit_seconds <= budget * 1.1  # the safety net's slack: one epoch's noise
    assert record.epochs_run == (plan["stopped_after"] or plan["epochs"])
    # The configuration saved is the one trained: the chosen epochs, the schedule scaled to them.
    saved = ExperimentConfig.from_json(result.run_dir / "config.json")
    assert saved.schedule.epochs == record.config["epochs"] == plan["epochs"]
    assert saved.schedule.time_budget is None
    assert saved.schedule.warmup_epochs == pytest.approx(plan["epochs"] / 5)
    assert (result.run_dir / "time_budget.json").exists()


@pytest.mark.slow
def test_a_budget_too_small_for_one_epoch_is_refused_before_anything_is_written(
    outputs, fashion_mnist
):
    from training.experiment import run_experiment

    config = ExperimentConfig().replace(time_budget=0.5, **TINY)
    with pytest.raises(TimeBudgetTooSmall, match=r"so the minimum is \d+s") as error:
        run_experiment(config, data=fashion_mnist, verbose=0, evaluate_test=False)
    assert error.value.minimum > 0.5
    assert not any(outputs.glob("*/*"))


def test_a_resumed_run_keeps_the_plan_its_first_attempt_measured(tmp_path):
    from training.experiment import BUDGET_FILE, RunFolders, _keep_budget

    folders = RunFolders(tmp_path / "run", tmp_path / "checkpoints", tmp_path / "tb")
    folders.run_dir.mkdir()
    assert _keep_budget(folders, None) is None  # a run without a budget
    plan = {"seconds": 600.0, "images_per_second": 900.0, "epoch_seconds": 50.0,
            "setup_seconds": 5.0, "epochs": 11, "measure_seconds": 9.0}
    assert _keep_budget(folders, plan) == plan  # a new run writes it beside its configuration
    assert (folders.run_dir / BUDGET_FILE).exists()
    assert _keep_budget(folders, None) == plan  # a resumed run reads it back
