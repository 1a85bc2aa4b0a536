"""The test mistakes that an ensemble and all its members share: which images count, which
ensemble is asked, and the report's section and figure of them."""

import numpy as np
import pytest

import report
from records.predictions import PREDICTIONS_FILE, PredictedRuns, write_predictions
from reporting.label_noise import FIGURE, agreed_mistakes, noise_ensemble
from tests.fake_records import fake_record, write_json
from tests.records.fake_predictions import (
    fake_ensemble_record,
    fake_probabilities,
    fake_test_set,
    write_run_with_predictions,
)


def rows(*predictions) -> np.ndarray:
    """One probability row per (class, probability): the rest spread over the other classes."""
    probabilities = np.zeros((len(predictions), 10))
    for row, (label, probability) in enumerate(predictions):
        probabilities[row] = (1 - probability) / 9
        probabilities[row, label] = probability
    return probabilities


def test_agreed_mistakes_are_confident_shared_and_most_confident_first():
    labels = np.zeros(7, int)
    ensemble = rows((1, 0.95), (1, 0.99), (1, 0.75), (0, 0.99), (2, 0.99), (3, 0.95), (1, 0.8))
    member = rows((1, 0.6), (1, 0.6), (1, 0.6), (0, 0.6), (2, 0.6), (3, 0.6), (1, 0.6))
    dissenter = member.copy()
    dissenter[1] = rows((4, 0.6))[0]  # image 1: this member predicts another class

    found = agreed_mistakes(ensemble, [member, dissenter], labels)

    # 1 has a dissenting member, 2 is below 0.8, 3 is right; 0 and 5 tie, in image order.
    assert found.tolist() == [4, 0, 5, 6]
    # Without the dissenter image 1 counts; it ties with image 4 at 0.99.
    assert agreed_mistakes(ensemble, [member], labels, confidence=0.96).tolist() == [1, 4]


def test_an_ensemble_whose_member_lacks_predictions_is_never_asked():
    partial = fake_ensemble_record("partial", 0.95, 0.99, {"run-a": 0.5, "run-b": 0.5})
    whole = fake_ensemble_record("whole", 0.95, 0.90, {"run-a": 1.0})
    probabilities = dict.fromkeys(["partial", "whole", "run-a"], np.zeros((1, 10)))
    predicted = PredictedRuns([partial, whole], probabilities, None, None)

    assert noise_ensemble(predicted)["run_name"] == "whole"
    assert noise_ensemble(PredictedRuns([partial], probabilities, None, None)) is None


def write_ensemble(results, name, labels, wrong, val_accuracy, members, confidence=None):
    """An ensemble record of `members` and its predictions, getting the images `wrong` wrong."""
    record = fake_ensemble_record(name, 1 - len(wrong) / len(labels), val_accuracy, members)
    write_json(results / name / "result.json", record)
    write_predictions(results / name / PREDICTIONS_FILE, "ensemble", np.full((20, 10), 0.1),
                      fake_probabilities(labels, wrong, confidence), np.arange(20))


@pytest.fixture
def layout(tmp_path, monkeypatch):
    """Runs `run-a` and `run-b` with predictions, `run-c` without; the ensemble of a and b, and
    one of a and c with a higher validation accuracy; a docs page with the section's markers."""
    labels = fake_test_set(monkeypatch)
    results = tmp_path / "results"
    write_run_with_predictions(results, "run-a", labels, np.arange(0, 10_000, 25), 0.95)
    write_run_with_predictions(results, "run-b", labels, np.arange(0, 10_000, 50), 0.94)
    write_json(results / "run-c" / "result.json", fake_record("run-c", [950] * 10, 0.96))
    # Wrong on every 50th image, with probability 0.8 or more from image 6,150 on: 77 images.
    write_ensemble(results, "pair", labels, np.arange(0, 10_000, 50), 0.97,
                   {"run-a": 0.5, "run-b": 0.5}, confidence=np.linspace(0.5, 0.99, 10_000))
    write_ensemble(results, "with-c", labels, np.arange(0, 10_000, 100), 0.99,
                   {"run-a": 0.5, "run-c": 0.5})
    page = tmp_path / "docs" / "experiments.md"
    page.parent.mkdir()
    page.write_text("# Experiments\n\n<!-- dataset-mistakes:start -->\n"
                    "<!-- dataset-mistakes:end -->\n")
    return {"results": results, "images": tmp_path / "images", "readme": tmp_path / "README.md",
            "page": page}


def run_report(layout) -> int:
    layout["readme"].write_text("# Readme\n")
    return report.main(["--results", str(layout["results"]), "--images", str(layout["images"]),
                        "--readme", str(layout["readme"])])


def test_the_section_names_the_ensemble_and_counts_its_shared_confident_mistakes(layout):
    assert run_report(layout) == 0
    text = layout["page"].read_text()

    assert "[pair](../results/pair/result.json), the best ensemble on validation (0.9700)" in text
    assert "averages `run-a`, `run-b`. Of its 200 wrong test images, 77 are agreed" in text
    assert "probability of at least 0.80 and every member predicts that same class" in text
    assert "shows the 32 most confident with its given label" in text
    assert f"](../images/{FIGURE})" in text
    assert "with-c" not in text  # its member run-c kept no predictions
    assert (layout["images"] / FIGURE).read_bytes().startswith(b"\x89PNG")


def test_regenerating_the_section_and_figure_writes_identical_bytes(layout):
    assert run_report(layout) == 0
    first = (layout["page"].read_bytes(), (layout["images"] / FIGURE).read_bytes())
    assert run_report(layout) == 0
    assert (layout["page"].read_bytes(), (layout["images"] / FIGURE).read_bytes()) == first


def test_without_a_fully_predicted_ensemble_the_section_says_so(layout):
    for name in ("pair", "run-b"):  # left: with-c, whose member run-c has no predictions
        (layout["results"] / name / PREDICTIONS_FILE).unlink()
    assert run_report(layout) == 0

    assert "No ensemble to ask: this needs an ensemble" in layout["page"].read_text()
    assert not (layout["images"] / FIGURE).exists()
