"""The answer to "did a specialist help?" (reporting.specialist_report), from combinations built
on synthetic predictions by evaluation.specialist."""

import json

import numpy as np

from evaluation.specialist import build_combination, decode_probabilities
from records.predictions import PREDICTIONS_FILE, LabelledImages, PredictedRuns
from reporting.plots import figure_to_png
from reporting.specialist_report import (
    answer,
    combinations,
    cost_sentence,
    specialist_figure,
    specialist_markdown,
    verdict,
)
from tests.evaluation.test_specialist import TEST_LABELS, TRAIN_LABELS, write_pair

# NOTE: every number below is a fixture, not the result of any run.
SPECIALIST_FIELDS = {"model": "fast-cnn", "params": 1234, "train_seconds": 75.0,
                     "train_images": 400, "test_accuracy": 0.9}


def predicted_pair(results, right_on_test=True):
    """The generalist, specialist and combination records and the report's view of them."""
    write_pair(results, specialist_right_on_test=right_on_test)
    combined = build_combination(results, "generalist", "tops", "combined",
                                 (TRAIN_LABELS, TEST_LABELS))
    generalist = json.loads((results / "generalist" / "result.json").read_text())
    specialist = {**json.loads((results / "tops" / "result.json").read_text()),
                  **SPECIALIST_FIELDS}
    probabilities = {}
    for name, candidate in (("generalist", "final"), ("combined", "combination")):
        with np.load(results / name / PREDICTIONS_FILE) as stored:
            probabilities[name] = decode_probabilities(stored[f"test_{candidate}"])
    images = np.zeros((len(TEST_LABELS), 28, 28, 1), np.uint8)
    predicted = PredictedRuns([combined, generalist], probabilities,
                              LabelledImages(images, TEST_LABELS), None)
    return [combined, generalist, specialist], predicted


def test_a_specialist_that_fixes_the_shirts_meets_the_target_with_a_real_difference(tmp_path):
    records, predicted = predicted_pair(tmp_path)
    (found,) = combinations(records, predicted)
    test = found.paired_test()
    assert (test.only_first_right, test.only_second_right) == (60, 0)
    assert found.recall("Shirt") == (0.0, 1.0)
    assert found.block(found.before).tolist() == [[0, 30], [30, 0]]
    assert found.block(found.after).tolist() == [[30, 0], [0, 30]]
    assert "is met" in verdict(found) and "a real difference" in verdict(found)


def test_a_specialist_wrong_on_the_test_set_misses_the_target_by_how_much(tmp_path):
    records, predicted = predicted_pair(tmp_path, right_on_test=False)
    (found,) = combinations(records, predicted)
    assert found.recall("Shirt") == (0.0, 0.0)
    assert "missed by 0.030 of recall" in verdict(found)


def test_the_cost_names_parameters_time_consulted_share_and_latency(tmp_path):
    records, predicted = predicted_pair(tmp_path)
    (found,) = combinations(records, predicted)
    assert "1,234 parameters" in cost_sentence(found, tmp_path)
    assert "20.0% of the test images" in cost_sentence(found, tmp_path)
    assert "python export.py tops" in cost_sentence(found, tmp_path)
    export = {"formats": [{"format": "keras", "latency_ms": {"1": 1.5, "256": 90.0}}]}
    (tmp_path / "exports").mkdir()
    (tmp_path / "exports" / "tops.json").write_text(json.dumps(export))
    assert "one image through it takes 1.50 ms" in cost_sentence(found, tmp_path)


def test_the_section_and_figure_come_from_the_combinations(tmp_path):
    records, predicted = predicted_pair(tmp_path)
    text = specialist_markdown(records, predicted, tmp_path, tmp_path / "images", tmp_path)
    assert "[combined](combined/result.json)" in text and "0.6000 -> 1.0000" in text
    assert "images/specialist.png" in text
    assert figure_to_png(specialist_figure(combinations(records, predicted)))[:4] == b"\x89PNG"


def test_without_a_combination_the_section_says_how_to_make_one(tmp_path):
    records, predicted = predicted_pair(tmp_path)
    predicted = PredictedRuns(predicted.records[1:], predicted.probabilities,
                              predicted.test_set, None)
    assert combinations(records, predicted) == []
    text = specialist_markdown(records, predicted, tmp_path, tmp_path, tmp_path)
    assert "python -m evaluation.specialist" in text


def test_the_answer_counts_the_generalists_where_the_target_was_met(tmp_path):
    records, predicted = predicted_pair(tmp_path)
    found = combinations(records, predicted)
    assert answer(found).startswith("**Did a specialist help? Yes**: it met the target on 1 of")
    assert found[0].generalist_group_accuracy() == 0.0  # it swaps shirts and tops
