import numpy as np
import pytest

from evaluation.ensemble import build_ensemble
from evaluation.statistics import mcnemar
from records.predictions import LabelledImages, predicted_runs
from records.reader import rank_records, read_records
from reporting.comparisons import (
    ensembles_markdown,
    figure_run,
    paired_tests_markdown,
    pairs_to_compare,
    seed_comparison_markdown,
    seed_groups_markdown,
    seed_validation_sentence,
)
from tests.fake_records import fake_record, write_json
from tests.records.fake_predictions import fake_ensemble_record, write_run_with_predictions

LABELS = np.arange(10_000) % 10
TEST_SET = LabelledImages(np.zeros((10_000, 28, 28, 1), np.uint8), LABELS)


def read_predicted(results):
    records, _ = read_records(results)
    ranked, _ = rank_records(records)
    return predicted_runs(ranked, results, lambda: TEST_SET)


def table_rows(markdown: str) -> list[list[str]]:
    lines = [line for line in markdown.splitlines() if line.startswith("| ")][2:]
    return [line.strip("| ").split(" | ") for line in lines]


def test_pairs_are_neighbours_and_the_top_run_against_each_other_at_most_six():
    names = ["a", "b", "c", "d", "e", "f"]
    assert pairs_to_compare(names[:2]) == [("a", "b")]
    assert pairs_to_compare(names[:4]) == [
        ("a", "b"), ("b", "c"), ("a", "c"), ("c", "d"), ("a", "d")
    ]
    assert len(pairs_to_compare(names)) == 6 and pairs_to_compare(names)[-1] == ("d", "e")
    assert pairs_to_compare(["a"]) == []


def test_paired_tests_count_the_images_only_one_run_gets_right(tmp_path):
    results = tmp_path / "results"
    # top gets images 0-299 wrong, close 20-319: 40 discordant, 20 each way.
    write_run_with_predictions(results, "top", LABELS, np.arange(300), 0.93)
    write_run_with_predictions(results, "close", LABELS, np.arange(20, 320), 0.92)
    # far gets 0-799 wrong: 500 more than either, none fewer.
    write_run_with_predictions(results, "far", LABELS, np.arange(800), 0.91)
    write_json(results / "old" / "result.json", fake_record("old", [850] * 10, 0.85))

    predicted = read_predicted(results)
    rows = table_rows(paired_tests_markdown(predicted, results, results))

    assert [record["run_name"] for record in predicted.records] == ["top", "close", "far"]
    assert rows == [
        ["[top](top/result.json)", "[close](close/result.json)", "0.9700 / 0.9700", "20", "20",
         "0.8744", "no"],
        ["[close](close/result.json)", "[far](far/result.json)", "0.9700 / 0.9200", "500", "0",
         "<0.0001", "yes"],
        ["[top](top/result.json)", "[far](far/result.json)", "0.9700 / 0.9200", "500", "0",
         "<0.0001", "yes"],
    ]
    first, second = predicted.correct("top"), predicted.correct("close")
    assert mcnemar(first, second).p_value == pytest.approx(0.8744, abs=1e-4)
    text = paired_tests_markdown(predicted, results, results)
    assert "the two runs are not different on this test set: neither is better" in text


def test_without_two_runs_with_predictions_the_section_says_what_it_needs(tmp_path):
    results = tmp_path / "results"
    write_json(results / "old" / "result.json", fake_record("old", [850] * 10, 0.85))
    text = paired_tests_markdown(read_predicted(results), results, results)
    assert text.startswith("No paired test: no ranked run has predictions.")
    assert "needs two ranked runs with predictions" in text

    write_run_with_predictions(results, "new", LABELS, np.arange(100), 0.9)
    text = paired_tests_markdown(read_predicted(results), results, results)
    assert text.startswith("No paired test: only new has predictions.")


def test_predictions_that_do_not_match_their_record_are_named_and_ignored(tmp_path, capsys):
    results = tmp_path / "results"
    write_run_with_predictions(results, "good", LABELS, np.arange(100), 0.9)
    write_run_with_predictions(results, "mismatch", LABELS, np.arange(100), 0.9,
                               test_accuracy=0.95)
    write_run_with_predictions(results, "no-candidate", LABELS, np.arange(100), 0.9)
    record_path = results / "no-candidate" / "result.json"
    record_path.write_text(record_path.read_text().replace('"final"', '"swa"'))
    write_json(results / "corrupt" / "result.json", fake_record("corrupt", [800] * 10, 0.8))
    (results / "corrupt" / "predictions.npz").write_bytes(b"not a zip file")

    predicted = read_predicted(results)

    assert list(predicted.probabilities) == ["good"]
    stderr = capsys.readouterr().err
    assert "ignored the predictions of mismatch: their test accuracy 0.9900 is not the " \
           "record's 0.9500" in stderr
    assert "ignored the predictions of no-candidate: unreadable test_swa" in stderr
    assert "ignored the predictions of corrupt: unreadable test_swa" in stderr


def test_without_the_test_set_no_prediction_is_scored(tmp_path):
    results = tmp_path / "results"
    write_run_with_predictions(results, "new", LABELS, np.arange(100), 0.9)
    records, _ = read_records(results)
    predicted = predicted_runs(rank_records(records)[0], results, lambda: None)
    assert predicted.records == [] and "test set is not in DATA_PATH" in predicted.problem


def seed_record(name, seed, accuracy, seconds, epochs):
    record = fake_record(name, [900] * 10, 0.9, test_accuracy=accuracy, train_seconds=seconds,
                         seed=seed)
    record["config"].update(seed=seed, run_name=name, epochs=epochs)
    return record


def test_seed_groups_show_mean_spread_range_and_mark_overlapping_neighbours():
    records = [
        seed_record("wide-seed0", 0, 0.930, 100.0, 9),
        seed_record("wide-seed1", 1, 0.934, 140.0, 9),
        seed_record("narrow-seed0", 0, 0.925, 60.0, 3),
        seed_record("narrow-seed1", 1, 0.931, 80.0, 3),
        seed_record("short-seed0", 0, 0.900, 30.0, 1),
        seed_record("short-seed1", 1, 0.902, 30.0, 1),
        seed_record("alone", 0, 0.99, 30.0, 2),
    ]
    text = seed_groups_markdown(records)
    rows = table_rows(text)

    assert rows == [
        ["`wide`", "simple-cnn", "2", "0, 1", "0.9320 ± 0.0028", "0.9300-0.9340", "2m 00s", "yes"],
        ["`narrow`", "simple-cnn", "2", "0, 1", "0.9280 ± 0.0042", "0.9250-0.9310", "1m 10s",
         "no"],
        ["`short`", "simple-cnn", "2", "0, 1", "0.9010 ± 0.0014", "0.9000-0.9020", "30s", "-"],
    ]
    assert "a seed can reorder the two: neither is ranked above the other" in text
    assert text.endswith(" Trained on Fixture GPU | 2.")
    assert "No configuration" in seed_groups_markdown(records[-1:])

    # A seed that shared the cores keeps its accuracy but not its time.
    records[1]["load"] = {"alone": False}
    rows = table_rows(seed_groups_markdown(records))
    assert rows[0][6] == "1m 40s (1 shared, left out)"
    records[0]["load"] = {"alone": False}
    assert table_rows(seed_groups_markdown(records))[0][6] == "- (2 shared)"


def test_a_seed_group_is_named_by_the_tag_its_runs_share_and_its_machines_are_named():
    # Named when the fast recipe was the default; tagged as the batch they are.
    old = [seed_record(f"default-seed{seed}", seed, 0.93, 100.0, 9) for seed in (0, 1)]
    for record in old:
        record["config"]["tags"] = ["default-seeds", "fast-recipe"][: 1 + record["seed"]]
        record["system"] = {"hardware": "AMD EPYC, 2 cores"}
    new = [seed_record(f"kept-seed{seed}", seed, 0.94, 60.0, 3) for seed in (0, 1)]
    for record in new:
        record["system"] = {"cpu": "AMD EPYC (family 26, model 2), 2 cores"}

    text = seed_groups_markdown(old + new)
    assert [row[0] for row in table_rows(text)] == ["`kept`", "`default-seeds`"]
    assert text.endswith(
        "Trained on AMD EPYC (family 26, model 2), 2 cores (`kept`) and on AMD EPYC, 2 cores "
        "(`default-seeds`): times compare only within one machine."
    )


def test_an_ensemble_with_its_predictions_is_paired_tested_but_never_shown_in_the_figures(
    tmp_path,
):
    results = tmp_path / "results"
    write_run_with_predictions(results, "run-a", LABELS, np.arange(300), 0.93)
    write_run_with_predictions(results, "run-b", LABELS, np.arange(200, 400), 0.92)
    train_labels = np.zeros(20, int)  # the fake runs' 20 validation rows
    record = build_ensemble(
        results, ["run-a", "run-b"], "pair", 1, (train_labels, LABELS), average=True
    )

    predicted = read_predicted(results)
    assert "pair" in predicted.probabilities
    assert predicted.correct("pair").mean() == pytest.approx(record["test_accuracy"])
    rows = table_rows(paired_tests_markdown(predicted, results, results))
    assert any(
        row[0] == "[pair](pair/result.json)" or row[1] == "[pair](pair/result.json)" for row in rows
    )
    assert figure_run(predicted)["run_name"] == "run-a"  # the best run, never an ensemble


def test_an_ensemble_is_tested_against_its_member_best_on_validation(tmp_path):
    results = tmp_path / "results"
    write_run_with_predictions(results, "run-a", LABELS, np.arange(300), 0.92)
    write_run_with_predictions(results, "run-b", LABELS, np.arange(250, 400), 0.93)
    build_ensemble(results, ["run-a", "run-b"], "pair", 1, (np.zeros(20, int), LABELS),
                   average=True)

    predicted = read_predicted(results)
    text = ensembles_markdown(predicted, results, results)
    ensemble = predicted.correct("pair")
    member = predicted.correct("run-b")  # better on validation, though worse on test
    only_ensemble, only_member = int((ensemble & ~member).sum()), int((member & ~ensemble).sum())
    assert (only_ensemble, only_member) != (0, 0)
    assert f"for `run-b`, its member best on validation; {only_ensemble} test images only " in text
    assert f"right, {only_member} only the member (p = " in text
    assert text.startswith("Each ensemble against its member best on validation")


def test_without_a_member_with_predictions_no_ensemble_is_tested(tmp_path):
    results = tmp_path / "results"
    write_run_with_predictions(results, "run-a", LABELS, np.arange(300), 0.92)
    write_json(results / "pair" / "result.json",
               fake_ensemble_record("pair", 0.95, 0.96, {"gone": 0.5, "run-a": 0.5}))
    (results / "run-a" / "predictions.npz").unlink()
    assert ensembles_markdown(read_predicted(results), results, results).startswith(
        "No ensemble with predictions and a member with predictions yet (no ranked run has "
        "predictions)"
    )


def write_tagged_seeds(results, tag, wrong_by_seed, val_accuracy=0.93):
    """Runs `<tag>-seed<k>` tagged `tag`, seed k getting `wrong_by_seed[k]` test images wrong."""
    config = fake_record("x", [900] * 10, 0.9)["config"]
    for seed, wrong in enumerate(wrong_by_seed):
        write_run_with_predictions(results, f"{tag}-seed{seed}", LABELS, wrong, val_accuracy,
                                   seed=seed, config={**config, "tags": [tag], "seed": seed})


def test_a_tagged_preset_is_compared_with_the_default_seed_by_seed(tmp_path):
    results = tmp_path / "results"
    # The candidate gets 100-150 images wrong, the default 400-450: every pair differs.
    write_tagged_seeds(results, "tuned", [np.arange(100), np.arange(150)])
    write_tagged_seeds(results, "default-seeds", [np.arange(400), np.arange(450)])
    text = seed_comparison_markdown(read_predicted(results), "tuned", "default-seeds")
    rows = table_rows(text)
    assert rows[0] == ["`tuned`", "2", "0.9875 ± 0.0035", "0.9850-0.9900", "1m 00s"]
    assert rows[1] == ["`default-seeds`", "2", "0.9575 ± 0.0035", "0.9550-0.9600", "1m 00s"]
    assert "differ by +0.0300; the ranges do not overlap" in text
    assert "finds 2 of 2 pairs different at 0.05 (seed 0, 1)" in text


def test_overlapping_seeds_are_said_to_overlap_and_a_missing_side_named(tmp_path):
    results = tmp_path / "results"
    write_tagged_seeds(results, "tuned", [np.arange(100), np.arange(80)])
    write_tagged_seeds(results, "default-seeds", [np.arange(95)])  # 5 images apart: p = 0.06
    text = seed_comparison_markdown(read_predicted(results), "tuned", "default-seeds")
    assert "the ranges overlap, so a seed can reorder the two" in text
    assert "finds 0 of 1 pairs different" in text
    assert "No completed runs tagged `other`" in seed_comparison_markdown(
        read_predicted(results), "other", "default-seeds")


def test_the_validation_accuracies_of_tagged_seeds_are_summed_up():
    runs = [seed_record(f"kept-seed{seed}", seed, 0.94, 60.0, 3) for seed in (0, 1)]
    for run, value in zip(runs, (0.9512, 0.9538)):
        run["config"].update(tags=["kept"], split_seed=0)
        run["val_accuracy_swa"] = value
    assert seed_validation_sentence(runs + [seed_record("other", 2, 0.99, 60.0, 3)], "kept") == (
        "The 2 runs tagged `kept` (seeds 0, 1) chose weights with validation accuracy "
        "0.9512-0.9538, mean 0.9525 (split seed 0)."
    )
    assert seed_validation_sentence(runs, "none").startswith("No completed runs tagged `none`")
