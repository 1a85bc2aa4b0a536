"""Ensemble records and `predictions.npz` files shaped like those that evaluation.ensemble and
training.run_experiment write, for the tests of the report's statistics and figures."""

import numpy as np

from records.predictions import PREDICTIONS_FILE, write_predictions
from tests.fake_records import fake_record, write_json

NUM_CLASSES = 10


# NOTE: every number below is a fixture for the report code, not the result of any run.
def fake_ensemble_record(name, test_accuracy, val_accuracy, members) -> dict:
    """A completed ensemble of `members` ({run name: weight})."""
    return {
        "kind": "ensemble",
        "run_name": name,
        "status": "completed",
        "smoke_run": False,
        "method": "greedy forward selection with replacement, 25 rounds (Caruana et al. 2004)",
        "members": members,
        "candidates": dict.fromkeys(members, "final"),
        "library": sorted(members),
        "val_images": 5000,
        "val_accuracy": val_accuracy,
        "test_accuracy": test_accuracy,
        "member_test_accuracy": dict.fromkeys(members, 0.9),
        "finished": "2026-01-03T00:00:00+00:00",
    }


def fake_probabilities(labels, wrong, confidence=None) -> np.ndarray:
    """Probabilities that predict each label, except at the indices `wrong`, where they predict
    the next class; the predicted class gets `confidence` (per image, default 0.9)."""
    labels = np.asarray(labels)
    count = len(labels)
    confidence = np.full(count, 0.9) if confidence is None else np.asarray(confidence, float)
    predicted = labels.copy()
    predicted[wrong] = (labels[wrong] + 1) % NUM_CLASSES
    probabilities = np.tile(((1 - confidence) / (NUM_CLASSES - 1))[:, None], (1, NUM_CLASSES))
    probabilities[np.arange(count), predicted] = confidence
    return probabilities


def write_run_with_predictions(results, name, labels, wrong, val_accuracy, candidate="final",
                               confidence=None, **overrides) -> dict:
    """A completed run whose selected `candidate` gets the test images `wrong` wrong, with its
    record (test accuracy to match) and predictions.npz; returns the record."""
    test = fake_probabilities(labels, wrong, confidence)
    accuracy = 1 - len(np.unique(wrong)) / len(labels)
    weights, _, tta = candidate.partition("_")
    settings = {"test_accuracy": accuracy, "selected_weights": weights,
                "selected_tta": bool(tta), f"val_accuracy_{candidate}": val_accuracy}
    record = fake_record(name, [900] * 10, val_accuracy, **{**settings, **overrides})
    write_json(results / name / "result.json", record)
    val = np.full((20, NUM_CLASSES), 0.1)
    write_predictions(results / name / PREDICTIONS_FILE, candidate, val, test, np.arange(20))
    return record


def fake_test_set(monkeypatch):
    """10,000 test images (class `i % 10`, each a square of its own grey) in place of the real
    test set that the report reads; returns their labels."""
    from records import predictions

    labels = np.arange(10_000) % 10
    images = np.zeros((10_000, 28, 28, 1), np.uint8)
    images[:, 4:24, 4:24] = (np.arange(10_000) % 200 + 50)[:, None, None, None]
    test_set = predictions.LabelledImages(images, labels)
    monkeypatch.setattr(predictions, "fashion_mnist_test_set", lambda: test_set)
    return labels
