import numpy as np
import pytest

from evaluation.calibration import reliability_bins


def test_expected_calibration_error_against_a_hand_computed_case():
    probabilities = np.array([[0.9, 0.1], [0.6, 0.4], [0.3, 0.7], [1.0, 0.0]])
    labels = np.array([0, 1, 1, 0])  # right, wrong, right, right
    bins = reliability_bins(probabilities, labels, bins=10)

    # Confidences 0.9, 0.6, 0.7 and 1.0, each alone in (0.8, 0.9], (0.5, 0.6], (0.6, 0.7] and
    # (0.9, 1.0]: gaps 0.1, 0.6, 0.3 and 0, averaged over the four images.
    assert bins.counts.tolist() == [0, 0, 0, 0, 0, 1, 1, 0, 1, 1]
    assert bins.accuracy[[5, 6, 8, 9]].tolist() == [0.0, 1.0, 1.0, 1.0]
    assert np.isnan(bins.accuracy[0]) and np.isnan(bins.confidence[0])
    assert bins.expected_calibration_error == pytest.approx(0.25)


def test_a_calibrated_classifier_has_no_gap_and_fifteen_bins_by_default():
    # Confidence 0.8 everywhere, right on 8 of every 10 images.
    probabilities = np.tile([0.8, 0.2], (1000, 1))
    labels = (np.arange(1000) % 10 >= 8).astype(int)
    bins = reliability_bins(probabilities, labels)
    assert len(bins.counts) == 15 and bins.counts.sum() == 1000
    assert bins.expected_calibration_error == pytest.approx(0.0, abs=1e-12)


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="Received: bins=0"):
        reliability_bins(np.ones((2, 2)) / 2, [0, 1], bins=0)
    with pytest.raises(ValueError, match="Received: shapes"):
        reliability_bins(np.ones((2, 2)) / 2, [0, 1, 1])
