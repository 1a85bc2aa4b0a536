"""The class probabilities that ranked runs kept (`RESULTS_PATH/<run>/predictions.npz`), read
back with the test labels: which test images each run gets right, for paired tests and figures.

    python -m records.predictions   # rewrites older predictions.npz files in RESULTS_PATH

A run or an ensemble keeps the probabilities of the candidate it selected on validation, the one
its `test_accuracy` measures, on validation (`val_<candidate>`, which ensembles choose on) and
test (`test_<candidate>`, which the report reads), as uint16 multiples of 1/4095: under 200 KB
a run. Nothing reads the other candidates, whose accuracies the record keeps. Runs used to keep
every candidate as float16 (about 1.5 MB); those files are still read, and the command above
rewrites them in the smaller form. Records from before runs kept predictions have none; a file
that cannot be read, lacks the selected candidate or disagrees with the record's test accuracy is
named on stderr and ignored.
"""

import argparse
import functools
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import config as paths
from data.fashion_mnist import NUM_CLASSES, DatasetFileError, load_fashion_mnist
from outputs.io import atomic_write_npz, read_json
from records.reader import selected_candidate

PREDICTIONS_FILE = "predictions.npz"
# Levels keep every argmax (`encode_probabilities`), so the accuracy read back is the record's
# exactly. Files kept as float16 could tie or swap an argmax: `python -m records.predictions`
# rewrites them as levels and mends each such tie from the record's confusion matrix
# (`mend_tied_argmax`); one it cannot mend is named, not used.
ACCURACY_TOLERANCE = 0.0
# Stored probabilities are multiples of 1/PROBABILITY_LEVELS (12 bits in a uint16): above 1/8,
# where the calibration bins and the figures' confidences lie, as fine as float16 or finer, so
# the figures keep what they show (at 1/255, about 3% of the images changed calibration bin),
# and three quarters of float16's compressed size.
PROBABILITY_LEVELS = 4095
LEVELS_DTYPE = np.uint16


def encode_probabilities(probabilities: np.ndarray) -> np.ndarray:
    """`probabilities` (N x classes, rows summing to 1) as multiples of 1/PROBABILITY_LEVELS with
    every row's argmax unchanged, so each accuracy read back is the one the record holds: where
    rounding ties the top class with an earlier one, which argmax would pick, the top class gets
    one more level (two classes summing to at most 1 cannot both round to the top level)."""
    probabilities = np.asarray(probabilities, np.float32)
    levels = np.rint(np.clip(probabilities, 0, 1) * PROBABILITY_LEVELS).astype(LEVELS_DTYPE)
    top = probabilities.argmax(axis=1)
    tied = np.flatnonzero(levels.argmax(axis=1) != top)
    levels[tied, top[tied]] += 1
    return levels


def decode_probabilities(stored: np.ndarray) -> np.ndarray:
    """Stored probabilities as float32: the levels of `encode_probabilities`, or the float16 of
    files written before them."""
    if stored.dtype == LEVELS_DTYPE:
        return stored.astype(np.float32) / PROBABILITY_LEVELS
    return stored.astype(np.float32)


def write_predictions(path: Path, candidate: str, val: np.ndarray, test: np.ndarray,
                      val_indices: np.ndarray, test_indices: np.ndarray | None = None) -> None:
    """The `candidate`'s probabilities on validation (`val_<candidate>`) and test
    (`test_<candidate>`), encoded, with `val_indices` (rows of the 60,000 training images, which
    ensembles need to check that their members share validation images) and, for a specialist,
    `test_indices` (rows of the 10,000 test images), written atomically."""
    indices = {"val_indices": val_indices, "test_indices": test_indices}
    atomic_write_npz(path, {
        **{key: np.asarray(rows, np.int32) for key, rows in indices.items() if rows is not None},
        f"val_{candidate}": encode_probabilities(val),
        f"test_{candidate}": encode_probabilities(test),
    })


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
            probabilities = decode_probabilities(predictions[key])
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


def mend_tied_argmax(levels: np.ndarray, labels: np.ndarray, confusion) -> np.ndarray | None:
    """`levels` whose argmax gives the record's `confusion` matrix (rows true, columns
    predicted): where rounding tied an image's top class with an earlier one (argmax picks the
    earlier), the class the record counted gets one more level. Each mended image must be the only
    tied image of its true class and two predicted classes that the difference allows; None when
    the difference is not explained that way (then the file is not mended)."""
    levels = np.array(levels)
    predicted = levels.argmax(axis=1)
    classes = levels.shape[1]
    counts = np.zeros((classes, classes), np.int64)
    np.add.at(counts, (labels, predicted), 1)
    difference = np.asarray(confusion) - counts
    for true, wanted in np.argwhere(difference > 0):
        for shown in np.flatnonzero(difference[true] < 0):
            rows = np.flatnonzero((labels == true) & (predicted == shown)
                                  & (levels[:, wanted] == levels[:, shown]))
            if len(rows) == 1 and difference[true, wanted] > 0 and difference[true, shown] < 0:
                levels[rows[0], wanted] += 1
                difference[true, wanted] -= 1
                difference[true, shown] += 1
    return levels if not difference.any() else None


def compact_predictions(results_dir: Path) -> list[Path]:
    """Rewrites each `<run>/predictions.npz` under `results_dir` that keeps more than its
    selected candidate, or keeps it as float16, in the form runs write now; returns the files
    rewritten. Every kept row keeps the argmax it had, so no accuracy or paired test read from
    them changes. A file whose record or selected candidate cannot be read is named on stderr
    and left as it is."""
    rewritten = []
    for path in sorted(Path(results_dir).glob(f"*/{PREDICTIONS_FILE}")):
        try:
            candidate = selected_candidate(read_json(path.parent / "result.json", "A record"))
            with np.load(path) as stored:
                val, test = stored[f"val_{candidate}"], stored[f"test_{candidate}"]
                indices = {key: stored[key] for key in ("val_indices", "test_indices")
                           if key in stored.files}
                compact = val.dtype == test.dtype == LEVELS_DTYPE
                if compact and len(stored.files) == 2 + len(indices):
                    continue
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as error:
            print(f"warning: left {path} as it is: {type(error).__name__}: {error}",
                  file=sys.stderr)
            continue
        write_predictions(path, candidate, decode_probabilities(val), decode_probabilities(test),
                          **indices)
        rewritten.append(path)
    return rewritten


def mend_predictions(results_dir: Path, test_set: LabelledImages) -> list[Path]:
    """Mends, in each `<run>/predictions.npz` of 10,000 test rows whose argmax disagrees with
    its record's confusion matrix, the ties that rounding made (`mend_tied_argmax`), and
    rewrites it; returns the files mended. A file that cannot be mended is named on stderr and
    left as it is."""
    mended = []
    for path in sorted(Path(results_dir).glob(f"*/{PREDICTIONS_FILE}")):
        try:
            record = read_json(path.parent / "result.json", "A record")
            candidate = selected_candidate(record)
            with np.load(path) as stored:
                kept = {key: stored[key] for key in stored.files}
        except (OSError, ValueError, KeyError, zipfile.BadZipFile):
            continue  # named by compact_predictions
        test = kept.get(f"test_{candidate}")
        confusion = record.get("confusion_matrix")
        if (test is None or test.dtype != LEVELS_DTYPE or "test_indices" in kept
                or test.shape != (len(test_set.labels), NUM_CLASSES) or confusion is None):
            continue
        if _disagreement(record, decode_probabilities(test), test_set.labels) is None:
            continue
        levels = mend_tied_argmax(test, test_set.labels, confusion)
        if levels is None:
            print(f"warning: left {path} as it is: its predictions disagree with the record's "
                  "confusion matrix beyond tied classes", file=sys.stderr)
            continue
        atomic_write_npz(path, {**kept, f"test_{candidate}": levels})
        mended.append(path)
    return mended


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description="Rewrites every RESULTS_PATH/<run>/predictions.npz that keeps more than its "
        "selected candidate, or keeps it as float16, in the smaller form runs write now "
        "(every prediction, and so every accuracy, unchanged), and mends the classes that "
        "rounding tied, from each record's confusion matrix."
    )
    parser.parse_args(argv)
    rewritten = compact_predictions(paths.RESULTS_PATH)
    for path in rewritten:
        print(f"rewrote {path} ({path.stat().st_size / 1000:.0f} KB)")
    print(f"{len(rewritten)} files rewritten in {paths.RESULTS_PATH}")
    test_set = fashion_mnist_test_set()
    if test_set is None:
        print("Ties were not mended: the test set is not in DATA_PATH.")
        return 0
    for path in mend_predictions(paths.RESULTS_PATH, test_set):
        print(f"mended a tie in {path}: its predictions now give the record's confusion matrix")
    return 0


if __name__ == "__main__":
    sys.exit(main())
