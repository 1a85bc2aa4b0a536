"""The predictions.npz a run keeps: small enough to commit, and read back to the accuracies its
record holds; older files rewritten without changing a prediction."""

import numpy as np

from records.predictions import (
    LEVELS_DTYPE,
    PREDICTIONS_FILE,
    PROBABILITY_LEVELS,
    LabelledImages,
    compact_predictions,
    decode_probabilities,
    encode_probabilities,
    mend_predictions,
    mend_tied_argmax,
    predicted_runs,
    read_test_probabilities,
    write_predictions,
)
from records.run_record import WEIGHT_SETS
from tests.fake_records import fake_record, write_json
from training.selection import Candidate, scores, select

MAX_BYTES = 300_000  # what one run may add to the committed results/
VAL_IMAGES, TEST_IMAGES, NUM_CLASSES = 5000, 10_000, 10


def peaked_probabilities(rng, labels, accuracy=0.93, near_ties=0.02) -> np.ndarray:
    """Softmax outputs shaped like a trained model's: confident, right on about `accuracy` of the
    images, and a share `near_ties` of them with two classes closer than rounding resolves."""
    predicted = np.where(rng.random(len(labels)) < accuracy, labels,
                         rng.integers(0, NUM_CLASSES, len(labels)))
    logits = rng.normal(0, 1.5, (len(labels), NUM_CLASSES))
    rows = np.arange(len(labels))
    logits[rows, predicted] += rng.uniform(2, 9, len(labels))
    tied = rng.random(len(labels)) < near_ties
    runner_up = (predicted + rng.integers(1, NUM_CLASSES, len(labels))) % NUM_CLASSES
    logits[rows[tied], runner_up[tied]] = logits[rows[tied], predicted[tied]] - 1e-4
    exponentials = np.exp(logits - logits.max(axis=1, keepdims=True))
    return (exponentials / exponentials.sum(axis=1, keepdims=True)).astype(np.float32)


def test_a_run_keeps_only_its_selected_candidate_under_the_size_limit_with_its_accuracies(
    tmp_path,
):
    rng = np.random.default_rng(0)
    val_labels = rng.integers(0, NUM_CLASSES, VAL_IMAGES)
    test_labels = rng.integers(0, NUM_CLASSES, TEST_IMAGES)
    candidates = [
        Candidate(weights, tta, peaked_probabilities(rng, val_labels),
                  peaked_probabilities(rng, test_labels))
        for weights in WEIGHT_SETS for tta in (False, True)
    ]
    record = scores(candidates, val_labels, test_labels)
    selected = select(candidates, val_labels)
    path = tmp_path / PREDICTIONS_FILE

    write_predictions(path, selected.name, selected.val_probabilities,
                      selected.test_probabilities, np.arange(VAL_IMAGES))

    assert path.stat().st_size < MAX_BYTES
    with np.load(path) as kept:
        assert sorted(kept.files) == sorted(
            ["val_indices", f"val_{selected.name}", f"test_{selected.name}"]
        )
        for split, labels in (("val", val_labels), ("test", test_labels)):
            probabilities = decode_probabilities(kept[f"{split}_{selected.name}"])
            accuracy = float(np.mean(probabilities.argmax(axis=1) == labels))
            assert accuracy == record[f"{split}_accuracy_{selected.name}"]


def test_rounding_never_changes_a_prediction_even_where_it_ties_two_classes():
    rest = (1 - 0.29990 - 0.29995) / 8
    probabilities = np.array([[0.29990, 0.29995] + [rest] * 8], np.float32)
    tie = np.rint(probabilities[0, :2] * PROBABILITY_LEVELS)
    assert tie[0] == tie[1]  # argmax would pick the first

    levels = encode_probabilities(probabilities)

    assert levels.dtype == LEVELS_DTYPE and levels.argmax(axis=1).tolist() == [1]
    assert np.abs(decode_probabilities(levels) - probabilities).max() <= 1.5 / PROBABILITY_LEVELS


def _write_float16_run(results, name, candidate, rng):
    """A run as runs used to keep it: every candidate's probabilities as float16."""
    record = fake_record(name, [930] * 10, 0.94, selected_weights=candidate.split("_")[0],
                         selected_tta=candidate.endswith("_tta"))
    write_json(results / name / "result.json", record)
    arrays = {"val_indices": np.arange(VAL_IMAGES, dtype=np.int32)}
    for weights in WEIGHT_SETS:
        for suffix in ("", "_tta"):
            labels = rng.integers(0, NUM_CLASSES, VAL_IMAGES + TEST_IMAGES)
            probabilities = peaked_probabilities(rng, labels).astype(np.float16)
            arrays[f"val_{weights}{suffix}"] = probabilities[:VAL_IMAGES]
            arrays[f"test_{weights}{suffix}"] = probabilities[VAL_IMAGES:]
    np.savez_compressed(results / name / PREDICTIONS_FILE, **arrays)
    return record, arrays


def test_older_files_are_rewritten_with_the_same_predictions_and_only_once(tmp_path, capsys):
    rng = np.random.default_rng(1)
    record, before = _write_float16_run(tmp_path, "older", "swa_tta", rng)
    (tmp_path / "no-record").mkdir()
    (tmp_path / "no-record" / PREDICTIONS_FILE).write_bytes(b"kept as it is")

    assert compact_predictions(tmp_path) == [tmp_path / "older" / PREDICTIONS_FILE]

    path = tmp_path / "older" / PREDICTIONS_FILE
    assert path.stat().st_size < MAX_BYTES
    with np.load(path) as kept:
        assert sorted(kept.files) == ["test_swa_tta", "val_indices", "val_swa_tta"]
        for key in ("val_swa_tta", "test_swa_tta"):
            assert kept[key].dtype == LEVELS_DTYPE
            np.testing.assert_array_equal(kept[key].argmax(axis=1), before[key].argmax(axis=1))
        np.testing.assert_array_equal(kept["val_indices"], before["val_indices"])
    probabilities, problem = read_test_probabilities(path.parent, record)
    assert problem is None and probabilities.shape == (TEST_IMAGES, NUM_CLASSES)
    assert "left " + str(tmp_path / "no-record" / PREDICTIONS_FILE) in capsys.readouterr().err
    assert (tmp_path / "no-record" / PREDICTIONS_FILE).read_bytes() == b"kept as it is"
    assert compact_predictions(tmp_path) == []


def _confusion(labels, predicted) -> list:
    counts = np.zeros((NUM_CLASSES, NUM_CLASSES), np.int64)
    np.add.at(counts, (labels, predicted), 1)
    return counts.tolist()


def test_a_tie_that_rounding_made_is_mended_from_the_records_confusion_matrix(tmp_path, capsys):
    rng = np.random.default_rng(3)
    labels = rng.integers(0, NUM_CLASSES, TEST_IMAGES)
    probabilities = peaked_probabilities(rng, labels)
    levels = encode_probabilities(probabilities)
    truth = levels.argmax(axis=1)
    # As a float16 file rewritten before ties were kept: image 7 ties its top class with class 0.
    top = int(truth[7]) if truth[7] != 0 else 1
    levels[7, top] = levels[7, 0] = 2000
    truth[7] = top
    labels[7] = top
    assert levels[7].argmax() == 0  # argmax picks the earlier class: one image off
    confusion = _confusion(labels, truth)

    mended = mend_tied_argmax(levels, labels, confusion)
    np.testing.assert_array_equal(mended.argmax(axis=1), truth)
    assert np.sum(mended != levels) == 1  # one level of one image

    # A difference no tie explains is not mended.
    wrong = np.array(confusion)
    wrong[0, 0] += 1
    wrong[1, 1] -= 1
    assert mend_tied_argmax(levels, labels, wrong) is None

    # The command mends the file, after which the read-back accuracy is the record's exactly.
    (tmp_path / "run").mkdir()
    record = fake_record("run", [900] * NUM_CLASSES, 0.9)
    record.update(test_accuracy=float(np.mean(truth == labels)), selected_weights="swa",
                  selected_tta=True, confusion_matrix=confusion)
    write_json(tmp_path / "run" / "result.json", record)
    path = tmp_path / "run" / PREDICTIONS_FILE
    np.savez(path, val_indices=np.arange(3, dtype=np.int32), val_swa_tta=levels[:3],
             test_swa_tta=levels)
    test_set = LabelledImages(np.zeros((TEST_IMAGES, 28, 28, 1), np.uint8), labels)
    predicted = predicted_runs([record], tmp_path, load_test_set=lambda: test_set)
    assert predicted.records == []  # one image off: not used
    assert "is not the record's" in capsys.readouterr().err

    assert mend_predictions(tmp_path, test_set) == [path]
    predicted = predicted_runs([record], tmp_path, load_test_set=lambda: test_set)
    assert [item["run_name"] for item in predicted.records] == ["run"]
    assert mend_predictions(tmp_path, test_set) == []  # once


def test_levels_keep_every_argmax_even_where_rounding_ties_classes():
    rng = np.random.default_rng(5)
    labels = rng.integers(0, NUM_CLASSES, TEST_IMAGES)
    probabilities = peaked_probabilities(rng, labels, near_ties=0.3)
    decoded = decode_probabilities(encode_probabilities(probabilities))
    np.testing.assert_array_equal(decoded.argmax(axis=1), probabilities.argmax(axis=1))
