"""The class probabilities that ranked runs kept (`RESULTS_PATH/<run>/predictions.npz`), read
back with the test labels: which test images each run gets right, for paired tests and figures.

A run keeps the probabilities of every weight set it scored; the report reads those of the
candidate it selected on validation (`test_<candidate>`), the one its `test_accuracy` measures.
Records from before runs kept predictions have none; a file that cannot be read, lacks the
selected candidate or disagrees with the record's test accuracy is named on stderr and ignored.
"""

import functools
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from data.fashion_mnist import NUM_CLASSES, DatasetFileError, load_fashion_mnist
from evaluation.record_reader import selected_candidate

PREDICTIONS_FILE = "predictions.npz"
# float16 probabilities can tie or swap an argmax the float32 ones did not: allow 10 images.
ACCURACY_TOLERANCE = 0.001


@dataclass(frozen=True)
class LabelledImages:
    """Images (N x 28 x 28 x 1, uint8) and their labels: here the 10,000 official test images."""

    images: np.ndarray
    labels: np.ndarray


@dataclass
class PredictedRuns:
    """The ranked runs that have predictions, in ranking order, and what they need.

    Args:
        records: the records of those runs, in the order of the ranking.
        probabilities: each run's selected candidate's test probabilities, by run name.
        test_set: the test images and labels; None when there are no predictions to score or
            the dataset is missing.
        problem: why no run can be scored (no predictions, or no dataset); None when some can.
    """

    records: list[dict]
    probabilities: dict[str, np.ndarray]
    test_set: LabelledImages | None
    problem: str | None

    def correct(self, run_name: str) -> np.ndarray:
        """Whether the run's prediction for each test image is right."""
        return self.probabilities[run_name].argmax(axis=1) == self.test_set.labels


@functools.cache
def fashion_mnist_test_set() -> LabelledImages | None:
    """The test set from DATA_PATH (never downloaded here), or None when it is not there."""
    try:
        data = load_fashion_mnist(download=False)
    except (FileNotFoundError, DatasetFileError) as error:
        print(f"warning: no Fashion-MNIST test set for the runs' predictions: {error}",
              file=sys.stderr)
        return None
    return LabelledImages(data.x_test, data.y_test)


def read_test_probabilities(run_dir: Path, record: dict) -> tuple[np.ndarray | None, str | None]:
    """The selected candidate's test probabilities (float32, 10,000 x 10) and None, or None and
    why they cannot be used; (None, None) when the run kept no predictions."""
    path = Path(run_dir) / PREDICTIONS_FILE
    if not path.exists():
        return None, None
    key = f"test_{selected_candidate(record)}"
    try:
        with np.load(path) as predictions:
            probabilities = predictions[key].astype(np.float32)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as error:
        return None, f"unreadable {key} ({error})"
    if probabilities.ndim != 2 or probabilities.shape[1] != NUM_CLASSES:
        return None, f"{key} has shape {probabilities.shape}, expected (N, {NUM_CLASSES})"
    if not np.all(np.isfinite(probabilities)):
        return None, f"{key} holds a NaN or infinite probability"
    return probabilities, None


def predicted_runs(ranked: list[dict], results_dir: Path, load_test_set=None) -> PredictedRuns:
    """The ranked runs and ensembles with usable predictions, in ranking order. `load_test_set`
    returns the `LabelledImages` or None (default: `fashion_mnist_test_set`); it is called only when
    some run has predictions."""
    found = {}
    for record in ranked:
        probabilities, problem = read_test_probabilities(
            Path(results_dir) / record["run_name"], record
        )
        if problem:
            print(f"warning: ignored the predictions of {record['run_name']}: {problem}",
                  file=sys.stderr)
        elif probabilities is not None:
            found[record["run_name"]] = (record, probabilities)
    if not found:
        return PredictedRuns([], {}, None, "no ranked run has predictions")
    test_set = (load_test_set or fashion_mnist_test_set)()
    if test_set is None:
        return PredictedRuns([], {}, None, "the Fashion-MNIST test set is not in DATA_PATH")
    usable = {}
    for name, (record, probabilities) in found.items():
        problem = _disagreement(record, probabilities, test_set.labels)
        if problem:
            print(f"warning: ignored the predictions of {name}: {problem}", file=sys.stderr)
        else:
            usable[name] = (record, probabilities)
    return PredictedRuns(
        [record for record, _ in usable.values()],
        {name: probabilities for name, (_, probabilities) in usable.items()},
        test_set,
        None if usable else "no ranked run has predictions that match its record",
    )


def _disagreement(record: dict, probabilities: np.ndarray, labels: np.ndarray) -> str | None:
    if len(probabilities) != len(labels):
        return f"{len(probabilities)} test predictions for {len(labels)} test images"
    accuracy = float(np.mean(probabilities.argmax(axis=1) == labels))
    if abs(accuracy - record["test_accuracy"]) > ACCURACY_TOLERANCE:
        return (f"their test accuracy {accuracy:.4f} is not the record's "
                f"{record['test_accuracy']:.4f}")
    return None
