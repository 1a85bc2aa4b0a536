"""How well a run's confidence matches its accuracy: reliability bins and the expected
calibration error (Guo et al. 2017, "On Calibration of Modern Neural Networks")."""

from dataclasses import dataclass

import numpy as np

DEFAULT_BINS = 15


@dataclass
class ReliabilityBins:
    """Predictions grouped by confidence (the top class probability) into equal-width bins of
    (0, 1]: per bin, how many, their mean confidence and their accuracy (NaN where empty).

    Args:
        edges: the bins' edges, `bins + 1` values from 0 to 1.
        counts: the predictions in each bin.
        confidence: each bin's mean confidence.
        accuracy: each bin's fraction of right predictions.

    Example:

    ```python
    bins = reliability_bins(probabilities, labels)
    print(f"ECE {bins.expected_calibration_error:.4f}")
    ```
    """

    edges: np.ndarray
    counts: np.ndarray
    confidence: np.ndarray
    accuracy: np.ndarray

    @property
    def expected_calibration_error(self) -> float:
        """The gap between accuracy and confidence, averaged over bins weighted by their
        share of the predictions."""
        filled = self.counts > 0
        gaps = np.abs(self.accuracy[filled] - self.confidence[filled])
        return float(np.sum(gaps * self.counts[filled]) / np.sum(self.counts))


def reliability_bins(probabilities, labels, bins: int = DEFAULT_BINS) -> ReliabilityBins:
    """Bins the predictions of `probabilities` (N x classes) against `labels` by confidence; a
    confidence on an edge goes to the bin below it, as in (lo, hi]."""
    if bins < 1:
        raise ValueError(f"bins must be >= 1. Received: bins={bins}")
    probabilities = np.asarray(probabilities, np.float64)
    labels = np.asarray(labels)
    if probabilities.ndim != 2 or len(probabilities) != len(labels) or not len(labels):
        raise ValueError(
            "Expected N x classes probabilities and N labels, N > 0. Received: shapes "
            f"{probabilities.shape} and {labels.shape}"
        )
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    counts = np.bincount(index, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_confidence = np.bincount(index, confidence, minlength=bins) / counts
        accuracy = np.bincount(index, correct, minlength=bins) / counts
    return ReliabilityBins(edges, counts, mean_confidence, accuracy)
