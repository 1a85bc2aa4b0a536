import json

import pytest

from benchmarks import race
from benchmarks.summary import race_markdown, race_sentence


def _history(*epochs):
    """result.json's history from (seconds, val_accuracy) per epoch."""
    return {
        str(number): {"seconds": seconds, "val_accuracy": accuracy}
        for number, (seconds, accuracy) in enumerate(epochs, start=1)
    }


def _record(name, seed, test_accuracy, history, val_accuracy=0.94, machine="machine A",
            alone=True):
    seconds = sum(entry["seconds"] for entry in history.values())
    return {
        "run_name": name, "seed": seed, "model": "fast-cnn-small", "train_seconds": seconds,
        "test_accuracy": test_accuracy, "selected_weights": "swa", "selected_tta": True,
        "val_accuracy_swa_tta": val_accuracy, "history": history,
        "system": {"machine": {"key": machine}}, "load": {"alone": alone},
    }  # fmt: skip


def _side(val_accuracies, test_accuracy, seconds, **fields):
    return race.group_summary([
        race.run_summary(_record(f"run{index}", index, test_accuracy,
                                 _history((seconds, 0.925)), val_accuracy=value, **fields))
        for index, value in enumerate(val_accuracies)
    ])


def test_the_winner_is_decided_on_validation_and_the_test_set_plays_no_part():
    baseline = _side([0.940, 0.942], test_accuracy=0.95, seconds=60.0)
    # Better on validation beyond the seeds' spread: wins, though slower and worse on test.
    better = _side([0.950, 0.951], test_accuracy=0.90, seconds=90.0)
    outcome = race.verdict(baseline, better, race.speedups(baseline, better))
    assert (outcome["accuracy"], outcome["winner"]) == ("better", "contender")
    # A tie on validation: the time to the highest common target decides.
    tie = _side([0.9405, 0.9415], test_accuracy=0.99, seconds=90.0)
    assert race.verdict(baseline, tie, race.speedups(baseline, tie))["winner"] == "baseline"
    quick = _side([0.9405, 0.9415], test_accuracy=0.80, seconds=30.0)
    outcome = race.verdict(baseline, quick, race.speedups(baseline, quick))
    assert (outcome["accuracy"], outcome["faster"], outcome["winner"]) == ("tie", True,
                                                                           "contender")
    assert outcome["decided_on_target"] == "0.92"
    # Worse on validation beyond the spread: loses, however fast.
    worse = _side([0.930, 0.931], test_accuracy=0.99, seconds=10.0)
    assert race.verdict(baseline, worse, race.speedups(baseline, worse))["winner"] == "baseline"


def test_times_compare_only_between_runs_of_one_machine_that_had_its_cores():
    baseline = _side([0.94], test_accuracy=0.9, seconds=60.0)
    assert race.timing_comparable(baseline, _side([0.94], 0.9, 30.0))[0] is True
    elsewhere = _side([0.94], 0.9, 30.0, machine="machine B")
    comparable, why = race.timing_comparable(baseline, elsewhere)
    assert not comparable and "different machines (machine A; machine B)" in why
    shared = _side([0.94], 0.9, 30.0, alone=False)
    comparable, why = race.timing_comparable(baseline, shared)
    assert not comparable and "run0 shared the cores" in why
    unknown = _side([0.94], 0.9, 30.0, alone=None)
    comparable, why = race.timing_comparable(baseline, unknown)
    assert comparable and "not measured" in why


def test_time_to_a_target_sums_epochs_up_to_the_first_that_reached_it():
    history = _history((30.0, 0.90), (20.0, 0.925), (25.0, 0.921), (25.0, 0.935))
    assert race.seconds_to_target(history, 0.92) == 50.0
    assert race.seconds_to_target(history, 0.93) == 100.0
    assert race.seconds_to_target(history, 0.94) is None
    assert race.seconds_to_target({"1": {"seconds": 5.0, "val_accuracy": None}}, 0.5) is None


def test_summaries_keep_a_target_only_where_every_run_reached_it():
    fast = [
        race.run_summary(_record("a-seed0", 0, 0.935, _history((30.0, 0.925), (30.0, 0.941)))),
        race.run_summary(_record("a-seed1", 1, 0.933, _history((30.0, 0.915), (30.0, 0.932)))),
    ]
    slow = [race.run_summary(_record("b", 0, 0.92, _history((60.0, 0.91), (60.0, 0.931))))]
    fast_summary, slow_summary = race.group_summary(fast), race.group_summary(slow)

    assert fast[0]["selected"] == "swa+tta"
    assert fast_summary["test_accuracy"] == pytest.approx(
        {"mean": 0.934, "std": 0.0014142, "min": 0.933, "max": 0.935}, abs=1e-6
    )
    assert fast_summary["seconds_to_val"]["0.92"] == {
        "reached": 2, "mean": 45.0, "std": pytest.approx(21.2132, abs=1e-4), "min": 30.0,
        "max": 60.0,
    }  # fmt: skip
    assert fast_summary["seconds_to_val"]["0.94"] == {"reached": 1}  # one seed of two
    # 0.92: 120 s against 45 s; 0.93: 120 s against 60 s; 0.94: not every run reached it
    assert race.speedups(slow_summary, fast_summary) == pytest.approx(
        {"0.92": 120 / 45, "0.93": 2.0}
    )


def test_the_race_table_puts_both_configurations_side_by_side(tmp_path):
    runs = [_record(f"default-seed{seed}", seed, 0.93 + seed / 100, _history((30.0, 0.925)))
            for seed in range(2)]  # fmt: skip
    baseline = _record("previous-default", 0, 0.92, _history((60.0, 0.91), (60.0, 0.921)))
    baseline["model"] = "simple-cnn-bn"
    record = {
        "command": "python -m benchmarks.race --seeds 2", "date": "2026-11-29T14:00:00+00:00",
        "targets": [0.92, 0.93], "system": {"hardware": "AMD EPYC, 2 cores"},
        "baseline": {"model": "simple-cnn-bn",
                     **race.group_summary([race.run_summary(baseline)])},
        "default": {"model": "fast-cnn-small",
                    **race.group_summary([race.run_summary(run) for run in runs])},
    }  # fmt: skip
    record["speedup_to_val"] = race.speedups(record["baseline"], record["default"])
    bench = tmp_path / "results" / "benchmarks"
    bench.mkdir(parents=True)
    (bench / "race-fast-cnn-small-vs-simple-cnn-bn.json").write_text(json.dumps(record))

    text = race_markdown(bench, tmp_path)
    lines = text.splitlines()
    assert lines[0] == (
        "| Configuration | Runs | Test acc | Training time | To val 0.92 | To val 0.93 |"
    )
    assert lines[2] == (
        "| previous default: simple-cnn-bn | 1 | 0.9200 | 120 s | 120 s | 0 of 1 runs |"
    )
    assert lines[3] == (
        "| default: fast-cnn-small | 2 | 0.9350 (0.9300-0.9400) | 30 s | 30 s | 0 of 2 runs |"
    )
    assert "The default was 4.0x as fast to validation accuracy 0.92." in text
    assert "Trained one after the other on machine A, with" in text
    assert "Decided on validation" not in text  # a record from before the rule
    record["verdict"] = race.verdict(record["baseline"], record["default"],
                                     record["speedup_to_val"])
    (bench / "race-fast-cnn-small-vs-simple-cnn-bn.json").write_text(json.dumps(record))
    assert ("Decided on validation: the contender was tied with the baseline on validation"
            in race_markdown(bench, tmp_path))
    assert "(results/benchmarks/race-fast-cnn-small-vs-simple-cnn-bn.json)" in text
    assert race_markdown(tmp_path / "results" / "none", tmp_path).startswith("No race record")
    sentence = race_sentence(bench, tmp_path)
    assert "(`simple-cnn-bn`, test accuracy 0.9200 in 120 s of training)" in sentence
    assert "by `python -m benchmarks.race --seeds 2` (machine A)" in sentence
    assert "the default's 2 seeds were 4.0x as fast to validation accuracy 0.92 (" in sentence


def test_an_unknown_preset_or_a_bad_seed_count_is_refused_before_training(capsys):
    assert race.main(["--contender", "no-such-preset"]) == 2
    error = capsys.readouterr().err
    assert "no-such-preset" in error and "fast-recipe" in error  # names the known presets
    with pytest.raises(SystemExit):
        race.main(["--baseline-seeds", "0"])
    assert "argument --baseline-seeds: must be >= 1. Received: 0" in capsys.readouterr().err


def test_a_race_of_presets_is_told_by_preset_with_the_times_to_each_target(tmp_path):
    def side(preset, name, seconds, test_accuracy):
        runs = [_record(f"{name}-seed{seed}", seed, test_accuracy,
                        _history((seconds, 0.925), (seconds, 0.935), (seconds, 0.939)))
                for seed in range(2)]  # fmt: skip
        summary = race.group_summary([race.run_summary(run) for run in runs])
        return {"model": "fast-cnn-small", "preset": preset, **summary}

    record = {
        "command": "python -m benchmarks.race --contender kept", "date": "2026-12-05T14:00:00",
        "targets": [0.92, 0.93, 0.94], "system": {"hardware": "AMD EPYC, 2 cores"},
        "default": side("kept", "a", 20.0, 0.944),
        "baseline": side("fast-recipe", "b", 30.0, 0.935),
    }  # fmt: skip
    record["speedup_to_val"] = race.speedups(record["baseline"], record["default"])
    (tmp_path / "race-kept-vs-fast-recipe.json").write_text(json.dumps(record))

    sentence = race_sentence(tmp_path, tmp_path)
    assert sentence.startswith(
        "Preset `kept` (`fast-cnn-small`, 2 seeds, test accuracy 0.9440 in 60 s of training) "
        "reached validation accuracy 0.92 and 0.93 after 20 and 40 s of training on average, "
        "against 30 and 60 s for preset `fast-recipe` (`fast-cnn-small`, 2 seeds, test accuracy "
        "0.9350 in 90 s of training): 1.5x and 1.5x as fast; trained one after the other"
    )
    table = race_markdown(tmp_path, tmp_path).splitlines()
    assert table[2].startswith("| preset `fast-recipe`: fast-cnn-small | 2 | 0.9350 |")
    assert table[3].startswith("| preset `kept`: fast-cnn-small | 2 | 0.9440 |")
    record["speedup_to_val"] = {}
    (tmp_path / "race-kept-vs-fast-recipe.json").write_text(json.dumps(record))
    assert "no validation target was reached in every run of both" in race_sentence(
        tmp_path, tmp_path
    )


@pytest.mark.slow
def test_a_race_alternates_the_default_and_the_fast_recipe_and_writes_its_record(
    fashion_mnist, run_paths, tmp_path, capsys
):
    argv = ["--seeds", "1", "--baseline-seeds", "2", "--epochs", "1", "--limit-train", "300",
            "--val-size", "100", "--out", str(tmp_path)]  # fmt: skip
    assert race.main(argv, data=fashion_mnist) == 0

    # Both sides train fast-cnn-small: the record is named by the presets.
    record = json.loads((tmp_path / "race-default-vs-fast-recipe.json").read_text())
    assert record["command"] == "python -m benchmarks.race " + " ".join(argv)
    assert (record["default"]["preset"], record["baseline"]["preset"]) == (
        "default", "fast-recipe"
    )  # fmt: skip
    names = {"default": ["default-seed0"],
             "baseline": ["fast-recipe-seed0", "fast-recipe-seed1"]}  # fmt: skip
    for side, expected in names.items():
        assert [run["run_name"] for run in record[side]["runs"]] == expected
        assert [run["seed"] for run in record[side]["runs"]] == list(range(len(expected)))
    finished = {}
    for name in (*names["default"], *names["baseline"]):
        stored = json.loads((run_paths["RESULTS_PATH"] / name / "result.json").read_text())
        assert stored["status"] == "completed" and stored["config"]["limit_train"] == 300
        assert "race" in stored["config"]["tags"]  # no seed group of the leaderboard
        run_dir = run_paths["RESULTS_PATH"] / name  # the record stays, the bulk goes
        assert not any((run_dir / output).exists() for output in race.PRUNED_OUTPUTS)
        finished[name] = stored["finished"]
    assert sorted(finished, key=finished.get) == [
        "default-seed0", "fast-recipe-seed0", "fast-recipe-seed1"
    ]  # fmt: skip
    configs = {side: json.loads((run_paths["RESULTS_PATH"] / names[side][0] / "config.json")
                                .read_text()) for side in names}  # fmt: skip
    assert configs["default"]["model_args"]["whitening_patch_size"] == 3
    assert configs["baseline"]["model_args"].get("whitening_patch_size", 0) == 0
    printed = capsys.readouterr().out
    assert "contender default, fast-cnn-small (1 run): test accuracy mean" in printed
    assert record["verdict"]["winner"] in ("contender", "baseline")
    assert "never used" in record["verdict"]["rule"]
    runs = [*record["default"]["runs"], *record["baseline"]["runs"]]
    assert {run["machine"] for run in runs} == {record["system"]["machine"]["key"]}
    if not record["timing_comparable"]:  # a test beside other work shares the cores
        assert record["speedup_to_val"] == {} and "shared the cores" in record["timing_note"]

    # Run again, the completed runs with the same configuration are reused, not trained again.
    assert race.main(argv, data=fashion_mnist) == 0
    assert capsys.readouterr().out.count("reusing its completed record") == 3
    again = json.loads((tmp_path / "race-default-vs-fast-recipe.json").read_text())
    assert again["default"]["runs"] == record["default"]["runs"]


def test_a_race_refuses_an_impossible_setting_before_training(capsys):
    assert race.main(["--epochs", "0"]) == 2
    assert "epochs must be >= 1. Received: epochs=0" in capsys.readouterr().err
