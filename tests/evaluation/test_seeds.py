import pytest

import train
from evaluation.seeds import SeedGroup, overlapping, seed_groups, spread


def record(name, seed, accuracy, seconds=100.0, **config):
    settings = {"model": "fast", "epochs": 5, "seed": seed, "run_name": name, **config}
    return {
        "run_name": name,
        "seed": seed,
        "status": "completed",
        "smoke_run": False,
        "test_accuracy": accuracy,
        "train_seconds": seconds,
        "config": settings,
    }


def test_runs_group_by_configuration_apart_from_seed_and_name():
    records = [
        record("a-seed0", 0, 0.940),
        record("a-seed1", 1, 0.944),
        record("a-seed2", 2, 0.936),
        record("b-seed0", 0, 0.950, epochs=9),
        record("b-seed1", 1, 0.952, epochs=9),
        record("lonely", 0, 0.99, epochs=3),  # one seed: no group
        {**record("smoke-seed0", 0, 0.5, epochs=1), "smoke_run": True},
        {**record("smoke-seed1", 1, 0.5, epochs=1), "smoke_run": True},
    ]
    groups = seed_groups(records)
    assert [group.name for group in groups] == ["b", "a"]  # best mean first
    summary = groups[1].summary("test_accuracy")
    assert summary == pytest.approx({"mean": 0.94, "std": 0.004, "min": 0.936, "max": 0.944})
    assert not overlapping(groups[0], groups[1])
    close = SeedGroup([record("c-seed0", 0, 0.939), record("c-seed1", 1, 0.941)])
    assert overlapping(groups[1], close)


def test_a_seed_trained_twice_counts_once_with_its_latest_run():
    first = {**record("old", 0, 0.92, epochs=7), "finished": "2026-01-01T00:00:00+00:00"}
    again = {**record("again", 0, 0.93, epochs=7), "finished": "2026-02-01T00:00:00+00:00"}
    assert seed_groups([again, first]) == []  # one seed, measured twice: not a seed group
    other = {**record("other", 1, 0.94, epochs=7), "finished": "2026-01-15T00:00:00+00:00"}
    (group,) = seed_groups([again, first, other])
    assert [member["run_name"] for member in group.records] == ["again", "other"]


@pytest.mark.parametrize("tag", ["ablation", "race", "peer"])
def test_a_benchmarks_runs_are_no_seed_group_and_do_not_join_one(tag):
    batch = [record(f"a-seed{seed}", seed, 0.94, tags=["default-seeds"]) for seed in range(3)]
    benchmark = [record(f"{tag}-seed{seed}", seed, 0.93, tags=[tag])
                 for seed in range(3)]  # the same settings, another batch
    (group,) = seed_groups([*batch, *benchmark])
    assert [member["run_name"] for member in group.records] == ["a-seed0", "a-seed1", "a-seed2"]


def test_budget_runs_group_by_their_budget_whatever_epochs_each_seed_chose():
    def budget_run(name, seed, epochs, seconds):
        derived = {"epochs": epochs, "swa_start": epochs, "warmup_epochs": epochs / 5}
        return {**record(name, seed, 0.93, **derived), "time_budget": {"seconds": seconds,
                                                                        "epochs": epochs}}

    runs = [budget_run("b-10m-seed0", 0, 4, 600.0), budget_run("b-10m-seed1", 1, 3, 600.0),
            budget_run("b-20m-seed0", 0, 7, 1200.0), budget_run("b-20m-seed1", 1, 8, 1200.0)]
    # Without a budget, different epochs are different configurations.
    fixed = [record("f-seed0", 0, 0.93, epochs=4, swa_start=4, warmup_epochs=0.8),
             record("f-seed1", 1, 0.93, epochs=3, swa_start=3, warmup_epochs=0.6)]
    groups = seed_groups([*runs, *fixed])
    assert sorted(group.name for group in groups) == ["b-10m", "b-20m"]


@pytest.mark.slow
def test_seeds_flag_trains_each_seed_and_prints_the_spread(run_paths, capsys):
    argv = [
        "--seeds",
        "2",
        "--epochs",
        "1",
        "--limit-train",
        "200",
        "--val-size",
        "100",
        "--run-name",
        "multi",
        "--seed",
        "3",
    ]
    assert train.main(argv) == 0
    printed = capsys.readouterr().out
    names = sorted(path.name for path in run_paths["RESULTS_PATH"].iterdir())
    assert names == ["multi-seed3", "multi-seed4"]
    assert "2 seeds (3, 4) of multi" in printed and "test accuracy   mean" in printed
    with pytest.raises(SystemExit):
        train.parse_config(["--seeds", "0"])


def test_spread_of_one_value_has_no_deviation():
    assert spread([0.93]) == {"mean": 0.93, "std": 0.0, "min": 0.93, "max": 0.93}
    assert spread([1.0, 3.0]) == pytest.approx({"mean": 2.0, "std": 2**0.5, "min": 1.0, "max": 3.0})
