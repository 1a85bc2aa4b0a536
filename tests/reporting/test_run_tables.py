import importlib
import json

from reporting.run_tables import (
    comparison_table,
    default_run_markdown,
    repeated_runs,
    top_runs_markdown,
)
from reporting.sections import section_markers
from tests.fake_records import fake_record, write_json


def _write(results, record, *tags):
    if tags:
        record["config"]["tags"] = list(tags)
    write_json(results / record["run_name"] / "result.json", record)
    return record


def _precision_runs(results, float32_seconds=300.0, bfloat16_seconds=150.0):
    for precision, seconds in (("float32", float32_seconds), ("mixed_bfloat16", bfloat16_seconds)):
        record = fake_record(f"precision-{precision}", [900] * 10, 0.91, train_seconds=seconds)
        record["config"]["precision"] = precision
        _write(results, record, "precision-default")


def test_top_runs_are_the_leaderboard_head_and_the_best_run_is_chosen_on_validation(tmp_path):
    results = tmp_path / "results"
    # Higher test accuracy, but its selected (SWA) weights are worse on validation.
    _write(results, fake_record("test-best", [920] * 10, 0.95, val_accuracy_swa=0.90))
    _write(results, fake_record("val-best", [910] * 10, 0.93))
    _write(results, fake_record("third", [800] * 10, 0.85))
    _write(results, fake_record("smoke", [990] * 10, 0.99, limit_train=1000))

    text = top_runs_markdown(results, tmp_path, count=2)
    lines = text.splitlines()
    assert lines[0] == (
        "| Run | Model | Epochs | Training time | Val acc (selected) | Test acc (selected) "
        "| 95% CI |"
    )
    # Wilson 95% interval of 9,200 right of 10,000.
    assert lines[2] == (
        "| [test-best](results/test-best/result.json) | simple-cnn | 3 | 1m 00s | 0.9000 "
        "| 0.9200 (swa) | 0.9145-0.9252 |"
    )
    assert lines[3].startswith("| [val-best](results/val-best/result.json) |")
    assert len(lines) == 6  # two rows, then the sentence
    assert "The first 2 of 3 full runs by test accuracy" in text
    assert "(p > 0.05) are not different, whatever their order" in text
    assert "is [val-best](results/val-best/result.json) (swa weights: validation 0.9300" in text
    assert "[the leaderboard](results/README.md)" in text


def test_the_default_run_sentence_reads_its_numbers_and_the_precision_ratio_from_records(tmp_path):
    results = tmp_path / "results"
    _write(results, fake_record("default", [922] * 10, 0.93, train_seconds=522.4,
                                wall_seconds=579.0), "default-seeds")
    _write(results, fake_record("untagged", [990] * 10, 0.99))  # not the default's
    _precision_runs(results, float32_seconds=401.4, bfloat16_seconds=218.3)

    text = default_run_markdown(results, tmp_path, "default-seeds", "precision-default")
    assert "trains `simple-cnn` for 3 epochs with the `swa` schedule and SWA" in text
    assert "took 522 s of training, 579 s from start to record" in text
    assert "printed test accuracy **0.9220** (swa weights; " in text
    assert "[seed 0](results/default/result.json)" in text
    # 401.4 / 218.3 = 1.84 per epoch, on the machine that ran both; nothing extrapolated.
    assert ("On Fixture GPU | 2, 3 epochs of `simple-cnn` took 401 s in `float32` against "
            "218 s in `mixed_bfloat16`") in text
    assert "each epoch took 1.8x as long in `float32`" in text
    assert "minutes" not in text and "AVX2" not in text


def test_the_default_run_sentence_names_each_machine_from_its_record(tmp_path):
    results = tmp_path / "results"
    record = fake_record("default", [922] * 10, 0.93)
    record["system"] = {"cpu": "AMD EPYC (family 26, model 2), 2 cores", "hardware": "old"}
    _write(results, record, "default-seeds")
    _precision_runs(results)
    float32 = results / "precision-float32" / "result.json"
    moved = json.loads(float32.read_text())
    moved["system"] = {"hardware": "AMD EPYC, 2 cores"}  # an older record: no `cpu`
    write_json(float32, moved)

    text = default_run_markdown(results, tmp_path, "default-seeds", "precision-default")
    assert "(AMD EPYC (family 26, model 2), 2 cores; `mixed_bfloat16`)" in text
    assert "on two machines (AMD EPYC, 2 cores; Fixture GPU | 2)" in text


def test_the_default_run_sentence_summarises_every_seed(tmp_path):
    results = tmp_path / "results"
    for seed, (correct, seconds) in enumerate([(930, 280.0), (940, 300.0), (935, 290.0)]):
        _write(results, fake_record(f"default-seed{seed}", [correct] * 10, 0.94, seed=seed,
                                    train_seconds=seconds, wall_seconds=seconds + 40),
               "default-seeds")
    _precision_runs(results, float32_seconds=400.0, bfloat16_seconds=200.0)

    text = default_run_markdown(results, tmp_path, "default-seeds", "precision-default")
    assert "3 recorded runs with different seeds (" in text
    assert "took 280-300 s of training, 320-340 s from start to record" in text
    assert "printed test accuracy **0.9350** on average, 0.9300-0.9400" in text
    assert "[seed 2](results/default-seed2/result.json)" in text


def test_the_default_run_sentence_names_a_missing_or_bad_record(tmp_path, capsys):
    results = tmp_path / "results"
    _precision_runs(results)
    broken = fake_record("default", [900] * 10, 0.9)
    del broken["config"]["precision"]
    _write(results, broken, "default-seeds")

    text = default_run_markdown(results, tmp_path, "default-seeds", "precision-default")
    assert text.startswith("No usable records tagged `default-seeds` (the default's seeds) and")
    assert "missing key 'config.precision'" in capsys.readouterr().err


def test_the_comparison_table_has_a_row_per_tagged_run_best_first(tmp_path):
    results = tmp_path / "results"
    _precision_runs(results)
    resized = fake_record("resized", [800] * 10, 0.8, limit_train=10000, train_images=10000)
    resized["config"]["input_size"] = 56
    _write(results, resized, "precision-default")
    _write(results, fake_record("other", [990] * 10, 0.99), "another-table")

    lines = comparison_table(results, tmp_path / "docs", "precision-default").splitlines()
    assert len(lines) == 7  # the header, its rule, the three tagged runs, the machine
    assert lines[6] == "Trained on Fixture GPU | 2."
    assert "| float32 | 28x28 | 3 x 55,000 | 5m 00s | 100 s |" in lines[2]
    assert lines[4] == (
        "| [resized](../results/resized/result.json) | simple-cnn | mixed_bfloat16 | 56x56 "
        "| 3 x 10,000 | 1m 00s | 20 s | 2,750 | 0.8000 | 0.8000 (swa) |"
    )
    assert comparison_table(results, tmp_path, "none") == (
        "No usable record tagged `none` yet (`python train.py --tag none`)."
    )


def test_report_writes_the_readme_and_docs_sections_beside_the_readme(tmp_path):
    results = tmp_path / "results"
    _write(results, fake_record("cnn", [900] * 10, 0.9))
    readme, page = tmp_path / "README.md", tmp_path / "docs" / "experiments.md"
    page.parent.mkdir()
    readme.write_text("{}\n{}\n".format(*section_markers("top-runs")))
    page.write_text("{}\n{}\n".format(*section_markers("short-runs")))
    report = importlib.import_module("report")  # the script at the repository root

    assert report.main(["--results", str(results), "--images", str(tmp_path / "images"),
                        "--readme", str(readme)]) == 0
    assert "| [cnn](results/cnn/result.json) | simple-cnn |" in readme.read_text()
    # No run here is tagged for the short runs' table.
    assert "No usable record tagged `short-runs` yet" in page.read_text()


def test_top_runs_rank_ensembles_as_rows_and_name_a_tta_selection(tmp_path):
    from tests.records.fake_predictions import fake_ensemble_record

    results = tmp_path / "results"
    _write(results, fake_record("tta-run", [920] * 10, 0.93, selected_weights="ema",
                                selected_tta=True, val_accuracy_ema_tta=0.935))
    _write(results, fake_record("plain", [900] * 10, 0.92))
    _write(results, fake_ensemble_record("pair", 0.93, 0.97, {"tta-run": 0.5, "plain": 0.5}))

    lines = top_runs_markdown(results, tmp_path).splitlines()
    assert lines[2] == ("| [pair](results/pair/result.json) | ensemble of 2 runs | - | - | 0.9700 "
                        "| 0.9300 (ensemble) | 0.9248-0.9348 |")
    assert "| 0.9350 | 0.9200 (ema+tta) |" in lines[3]
    assert "The first 3 of 2 full runs and 1 ensemble by test accuracy" in lines[-1]
    assert "(ema weights with flip TTA: validation 0.9350, test 0.9200)" in lines[-1]


def test_a_table_of_runs_from_two_machines_names_each_and_says_times_do_not_compare(tmp_path):
    results = tmp_path / "results"
    for name, cpu in (("new", "AMD EPYC (family 26, model 2), 2 cores"), ("old", None)):
        record = fake_record(name, [900] * 10, 0.9)
        record["system"] = {"cpu": cpu} if cpu else {"hardware": "AMD EPYC, 2 cores"}
        _write(results, record, "mixed")

    last = comparison_table(results, tmp_path, "mixed").splitlines()[-1]
    assert last == ("Trained on AMD EPYC (family 26, model 2), 2 cores (`new`) and on "
                    "AMD EPYC, 2 cores (`old`): times compare only within one machine.")


def test_a_run_that_repeats_an_earlier_ones_outcome_is_counted_once(tmp_path):
    results = tmp_path / "results"
    first = _write(results, fake_record("seed0", [900] * 10, 0.9, finished="2026-01-01"))
    again = _write(results, fake_record("race-seed0", [900] * 10, 0.9, finished="2026-01-02"))
    _write(results, fake_record("seed1", [905] * 10, 0.9, finished="2026-01-03"))
    differs = fake_record("seed2", [900] * 10, 0.9, finished="2026-01-04")
    differs["test_accuracy_final"] += 0.0001  # one candidate scored differently
    _write(results, differs)

    assert [record["run_name"] for record in repeated_runs([again, first])] == ["race-seed0"]
    text = top_runs_markdown(results, tmp_path, count=2)
    assert ("The first 2 of 4 full runs (1 of them repeats an earlier run's accuracies and "
            "confusion matrix exactly) by test accuracy") in text


def test_the_headline_keeps_only_records_that_trace_to_a_commit(tmp_path):
    from records.reader import from_clean_commit
    from tests.records.fake_predictions import fake_ensemble_record

    results = tmp_path / "results"
    states = {"committed": {"git_commit": "abc", "git_clean": True},
              "uncommitted": {"git_commit": "abc-dirty", "git_clean": False},
              "older-committed": {"git_commit": "def"},  # before git_clean was recorded
              "no-commit": {}}
    for index, (name, system) in enumerate(states.items()):
        record = fake_record(name, [950 - 10 * index] * 10, 0.95 - index / 100)
        record["system"] = system
        _write(results, record)
    _write(results, fake_ensemble_record("mixed", 0.99, 0.99,
                                         {"committed": 0.5, "uncommitted": 0.5}))
    _write(results, fake_ensemble_record("clean-pair", 0.98, 0.98,
                                         {"committed": 0.5, "older-committed": 0.5}))
    records = {path.parent.name: json.loads(path.read_text())
               for path in results.glob("*/result.json")}
    assert {name for name, record in records.items() if from_clean_commit(record, records)} == {
        "committed", "older-committed", "clean-pair"}

    every = top_runs_markdown(results, tmp_path, count=10)
    headline = top_runs_markdown(results, tmp_path, count=10, clean_only=True)
    assert "[uncommitted](" in every and "[mixed](" in every
    rows = [line for line in headline.splitlines() if line.startswith("| [")]
    assert [row.split("]")[0] for row in rows] == ["| [clean-pair", "| [committed",
                                                    "| [older-committed"]
    assert "3 records of runs on uncommitted changes (or naming no commit)" in headline


def test_the_default_seeds_that_shared_the_cores_keep_their_accuracy_but_not_their_times(
    tmp_path,
):
    results = tmp_path / "results"
    for seed, (seconds, alone) in enumerate(((100.0, True), (300.0, False), (120.0, None))):
        record = fake_record(f"default-seed{seed}", [920 + seed] * 10, 0.93,
                             train_seconds=seconds, wall_seconds=seconds + 50)
        record["seed"], record["load"] = seed, {"alone": alone}
        _write(results, record, "default-seeds")
    _precision_runs(results)
    text = default_run_markdown(results, tmp_path, "default-seeds", "precision-default")
    assert ("took 100-120 s of training, 150-170 s from start to record (1 that shared the cores "
            "left out), and printed test accuracy **0.9210** on average") in text
