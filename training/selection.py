"""Every weight set of a run scored on validation and test, the best of them on validation also
with test-time augmentation, and one candidate chosen on validation alone."""

from dataclasses import dataclass

import numpy as np

from training.tta import predict_with_tta

EVAL_BATCH_SIZE = 512
# BatchNorm statistics of averaged weights are recomputed on this many training images: their
# means and variances over 10,240 images (millions of pixels per channel) differ from those over
# every image by far less than a run's noise, at a fifth of the passes, which in the large
# families cost minutes per weight set. The file's images come shuffled, so the first are a
# sample of every class.
BATCHNORM_IMAGES = 20 * EVAL_BATCH_SIZE


@dataclass
class Candidate:
    """One weight set, with or without horizontal-flip TTA, and its class probabilities."""

    weights: str  # one of records.run_record.WEIGHT_SETS
    tta: bool
    val_probabilities: np.ndarray
    test_probabilities: np.ndarray | None  # None when the run does not read the test set

    @property
    def name(self) -> str:
        return f"{self.weights}_tta" if self.tta else self.weights


def predict(model, images: np.ndarray) -> np.ndarray:
    return np.asarray(model.predict(images, batch_size=EVAL_BATCH_SIZE, verbose=0), np.float32)


def score_weight_set(
    model, weights: str, val_images, test_images, tta: bool, tta_shifts: int = 0
) -> list[Candidate]:
    """The weights now in `model` as `weights`, and with `tta` also averaged with their
    prediction on mirrored images (Fashion-MNIST's classes are symmetric left-right) and, with
    `tta_shifts`, on copies shifted by up to that many pixels (`training.tta.predict_with_tta`).
    `test_images` None predicts nothing on test (the candidates' test probabilities are None)."""
    val = predict(model, val_images)
    test = None if test_images is None else predict(model, test_images)
    plain = Candidate(weights, False, val, test)
    if not tta:
        return [plain]
    return [plain, with_tta(model, plain, val_images, test_images, tta_shifts)]


def with_tta(model, plain: Candidate, val_images, test_images, tta_shifts: int = 0) -> Candidate:
    """`plain`'s weights (now in `model`) predicted with test-time augmentation, reusing
    `plain`'s predictions for the unaugmented view."""

    def predict_view(images):
        return predict(model, images)

    val = predict_with_tta(predict_view, val_images, tta_shifts, plain=plain.val_probabilities)
    test = (
        None
        if test_images is None
        else predict_with_tta(predict_view, test_images, tta_shifts,
                              plain=plain.test_probabilities)
    )
    return Candidate(plain.weights, True, val, test)


def accuracy(probabilities: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(probabilities.argmax(axis=1) == labels))


def select(candidates: list[Candidate], val_labels: np.ndarray) -> Candidate:
    """The candidate with the highest validation accuracy; a tie goes to the first (final before
    averages, plain before TTA). Test accuracy plays no part."""
    return max(
        candidates, key=lambda c: (accuracy(c.val_probabilities, val_labels), -candidates.index(c))
    )


def scores(candidates: list[Candidate], val_labels, test_labels) -> dict:
    """`val_accuracy_<name>` and `test_accuracy_<name>` of every candidate, for the record;
    validation only when `test_labels` is None."""
    values = {}
    for candidate in candidates:
        values[f"val_accuracy_{candidate.name}"] = accuracy(candidate.val_probabilities, val_labels)
        if test_labels is not None:
            values[f"test_accuracy_{candidate.name}"] = accuracy(
                candidate.test_probabilities, test_labels
            )
    return values
