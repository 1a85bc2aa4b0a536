"""A generalist revised by a specialist on a group of classes (evaluation.specialist), on
synthetic predictions, and how the report reads specialist and combination records."""

import json

import numpy as np
import pytest

from evaluation.seeds import seed_groups
from evaluation.specialist import (
    METHODS,
    MIXTURE_WEIGHTS,
    build_combination,
    combined_probabilities,
    main,
)
from records.predictions import PREDICTIONS_FILE, write_predictions
from records.reader import NO_CHANGE, changes_nothing, rank_records, record_problems, runs_only
from reporting.specialist_report import no_change_sentence
from reporting.tables import leaderboard_frame
from tests.fake_records import fake_record, write_json

# NOTE: every number below is a fixture for the combination code, not the result of any run.
GROUP = (6, 0)  # Shirt, T-shirt/top: the specialist's outputs, in this order
NAMES = ["Shirt", "T-shirt/top"]
TRAIN_LABELS = np.arange(400) % 10
VAL_INDICES = np.arange(0, 400, 2)  # 200 validation images: the even classes, 40 each
TEST_LABELS = np.arange(300) % 10


def confused_generalist(labels) -> np.ndarray:
    """Right on every class but the group's, whose images it gives to the other class of the
    group (0.5 against 0.4)."""
    probabilities = np.full((len(labels), 10), 0.1 / 8)
    for row, label in enumerate(labels):
        if label in GROUP:
            other = GROUP[1 - GROUP.index(label)]
            probabilities[row, [label, other]] = 0.4, 0.5
        else:
            probabilities[row] = 0.1 / 9
            probabilities[row, label] = 0.9
    return probabilities


def sure_specialist(labels, right=True) -> np.ndarray:
    """Over the group's two classes: 0.9 on the right one (the wrong one when not `right`); the
    other classes' images split evenly."""
    probabilities = np.full((len(labels), 2), 0.5)
    for row, label in enumerate(labels):
        if label in GROUP:
            position = GROUP.index(label) if right else 1 - GROUP.index(label)
            probabilities[row] = 0.1
            probabilities[row, position] = 0.9
    return probabilities


def write_record(results, name, val, test, val_indices, test_indices=None, **fields):
    """A completed full record with `val` and `test` as its selected candidate's predictions."""
    record = {"run_name": name, "status": "completed", "smoke_run": False,
              "selected_weights": "final", "selected_tta": False, **fields}
    write_json(results / name / "result.json", record)
    write_predictions(results / name / PREDICTIONS_FILE, "final", val, test, val_indices,
                      test_indices)


def write_pair(results, specialist_val_indices=VAL_INDICES, specialist_right_on_test=True):
    val_labels = TRAIN_LABELS[VAL_INDICES]
    write_record(results, "generalist", confused_generalist(val_labels),
                 confused_generalist(TEST_LABELS), VAL_INDICES)
    write_record(results, "tops", sure_specialist(TRAIN_LABELS[specialist_val_indices]),
                 sure_specialist(TEST_LABELS, specialist_right_on_test), specialist_val_indices,
                 np.arange(len(TEST_LABELS)), kind="specialist",
                 classes={"names": NAMES, "labels": list(GROUP)})


def test_a_specialist_that_says_what_the_generalist_says_changes_nothing():
    generalist = np.random.default_rng(0).dirichlet(np.ones(10), size=500).astype(np.float32)
    mass = generalist[:, list(GROUP)].sum(axis=1, keepdims=True)
    identity = generalist[:, list(GROUP)] / mass
    settings = [(method, None) for method in METHODS[:2]]
    settings += [("mixture", weight) for weight in MIXTURE_WEIGHTS]
    for method, weight in settings:
        combined = combined_probabilities(generalist, identity, GROUP, method, weight)
        np.testing.assert_allclose(combined, generalist, rtol=1e-6, atol=1e-7)
        assert np.array_equal(combined.argmax(axis=1), generalist.argmax(axis=1)), method


def test_replace_top2_consults_the_specialist_only_where_both_top_classes_are_in_the_group():
    generalist = np.array([[0.5, 0, 0, 0.3, 0, 0, 0.2, 0, 0, 0],   # top two: 0, 3
                           [0.5, 0, 0, 0.1, 0, 0, 0.4, 0, 0, 0]])  # top two: 0, 6
    specialist = np.array([[1.0, 0.0], [1.0, 0.0]])  # all on Shirt
    combined = combined_probabilities(generalist, specialist, GROUP, "replace-top2")
    assert combined.argmax(axis=1).tolist() == [0, 6]
    assert combined[1, 6] == pytest.approx(0.9)  # the generalist's mass on the group


def test_the_specialist_is_chosen_on_validation_and_the_test_set_plays_no_part(tmp_path):
    write_pair(tmp_path / "a")
    write_pair(tmp_path / "b", specialist_right_on_test=False)
    shuffled = np.random.default_rng(1).permutation(TEST_LABELS)
    first = build_combination(tmp_path / "a", "generalist", "tops", "combined",
                              (TRAIN_LABELS, TEST_LABELS))
    second = build_combination(tmp_path / "b", "generalist", "tops", "combined",
                               (TRAIN_LABELS, shuffled))

    assert first["val_accuracy"] == 1.0 > first["generalist_val_accuracy"] == 0.6
    assert (first["method"], first["weight"]) == ("replace-top1", None)
    assert first["tried"] == second["tried"]
    assert (second["method"], second["weight"]) == ("replace-top1", None)
    assert first["test_accuracy"] == 1.0 and second["test_accuracy"] != first["test_accuracy"]
    assert first["per_class_recall"]["before"]["Shirt"] == 0.0
    assert first["per_class_recall"]["after"]["Shirt"] == 1.0


def test_the_combination_is_ranked_with_predictions_that_match_its_record(tmp_path):
    write_pair(tmp_path)
    record = build_combination(tmp_path, "generalist", "tops", "combined",
                               (TRAIN_LABELS, TEST_LABELS), method="mixture")
    assert record_problems(record) == []
    assert record["method"] == "mixture" and len(record["tried"]) == len(MIXTURE_WEIGHTS)
    with np.load(tmp_path / "combined" / PREDICTIONS_FILE) as stored:
        test = stored["test_combination"]
    assert np.mean(test.argmax(axis=1) == TEST_LABELS) == record["test_accuracy"]
    ranked, _ = rank_records([record])
    assert ranked == [record] and runs_only(ranked) == []
    row = leaderboard_frame(ranked).loc["combined"]
    assert row["Model"] == "generalist + specialist tops"


def test_a_combination_that_changes_no_prediction_is_no_change_not_a_result(tmp_path):
    write_pair(tmp_path)
    # A specialist that says what the generalist says: no method changes a class.
    val_labels = TRAIN_LABELS[VAL_INDICES]
    generalist_val, generalist_test = confused_generalist(val_labels), confused_generalist(
        TEST_LABELS)
    echo = [probabilities[:, list(GROUP)] / probabilities[:, list(GROUP)].sum(1, keepdims=True)
            for probabilities in (generalist_val, generalist_test)]
    write_record(tmp_path, "tops", echo[0], echo[1], VAL_INDICES, np.arange(len(TEST_LABELS)),
                 kind="specialist", classes={"names": NAMES, "labels": list(GROUP)})
    record = build_combination(tmp_path, "generalist", "tops", "echo",
                               (TRAIN_LABELS, TEST_LABELS))
    assert record["changed_val_predictions"] == record["changed_test_predictions"] == 0
    ranked, excluded = rank_records([record])
    assert ranked == [] and excluded == [("echo", NO_CHANGE)]
    assert "`echo` (on `generalist`)" in no_change_sentence([record])
    # A record of a mixture that chose weight 0, from before the counts were kept.
    older = {key: value for key, value in record.items() if not key.startswith("changed_")}
    assert changes_nothing({**older, "method": "mixture", "weight": 0.0})
    assert not changes_nothing({**older, "method": "mixture", "weight": 0.4})
    # One that changes a class is a result, ranked.
    first = build_combination(tmp_path, "generalist", "tops", "echo-again",
                              (TRAIN_LABELS, TEST_LABELS))
    assert not changes_nothing({**first, "changed_test_predictions": 3})


def test_a_combination_can_stack_on_an_ensemble(tmp_path):
    write_pair(tmp_path)
    (tmp_path / "generalist" / "result.json").write_text(json.dumps({
        "kind": "ensemble", "run_name": "generalist", "status": "completed",
        "smoke_run": False}))
    write_predictions(tmp_path / "generalist" / PREDICTIONS_FILE, "ensemble",
                      confused_generalist(TRAIN_LABELS[VAL_INDICES]),
                      confused_generalist(TEST_LABELS), VAL_INDICES)
    record = build_combination(tmp_path, "generalist", "tops", "combined",
                               (TRAIN_LABELS, TEST_LABELS))
    assert record["generalist_kind"] == "ensemble" and record["test_accuracy"] == 1.0


def test_other_validation_images_are_refused_naming_both_runs(tmp_path):
    write_pair(tmp_path, specialist_val_indices=VAL_INDICES + 1)
    with pytest.raises(ValueError, match="generalist generalist and specialist tops differ"):
        build_combination(tmp_path, "generalist", "tops", "combined",
                          (TRAIN_LABELS, TEST_LABELS))
    assert sorted(path.name for path in tmp_path.iterdir()) == ["generalist", "tops"]


def test_a_generalist_for_a_specialist_and_an_unknown_method_are_refused(tmp_path):
    write_pair(tmp_path)
    labels = (TRAIN_LABELS, TEST_LABELS)
    with pytest.raises(ValueError, match="--specialist must name a run trained with --classes"):
        build_combination(tmp_path, "tops", "generalist", "combined", labels)
    with pytest.raises(ValueError, match="--method must be one of auto, replace-top1"):
        build_combination(tmp_path, "generalist", "tops", "combined", labels, method="best")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["generalist", "tops"]


def test_the_command_refuses_a_bad_name_before_reading_anything(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--generalist", "a", "--specialist", "b", "--name", "../out"])
    assert exit_info.value.code == 2
    assert "--name must be a plain folder name" in capsys.readouterr().err


def specialist_record(name="tops-seed0", seed=0) -> dict:
    """A completed specialist over Shirt and T-shirt/top: a 2 x 2 confusion matrix."""
    record = fake_record(name, [900] * 10, 0.9, seed=seed, kind="specialist",
                         classes={"names": NAMES, "labels": list(GROUP)},
                         confusion_matrix=[[900, 100], [150, 850]], test_accuracy=0.875)
    record["config"]["classes"] = NAMES
    return record


def test_a_specialist_is_listed_apart_from_the_ten_class_ranking():
    specialists = [specialist_record(), specialist_record("tops-seed1", seed=1)]
    run = fake_record("run", [900] * 10, 0.9)
    assert [record_problems(record) for record in specialists] == [[], []]

    ranked, excluded = rank_records([*specialists, run])

    assert ranked == [run]
    assert [name for name, _ in excluded] == ["tops-seed0", "tops-seed1"]
    assert "specialist over Shirt, T-shirt/top: test accuracy 0.8750" in excluded[0][1]
    assert seed_groups(specialists) == []


def test_a_specialist_whose_confusion_matrix_is_not_k_by_k_is_named():
    record = specialist_record()
    record["confusion_matrix"] = fake_record("run", [900] * 10, 0.9)["confusion_matrix"]
    assert record_problems(record) == ["'confusion_matrix' is not 2 rows of 2 counts"]
