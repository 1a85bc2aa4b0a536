"""Which of the best ensemble's remaining test mistakes may be the dataset's: the images it gets
wrong with high confidence while every one of its members predicts the same wrong class.

Fashion-MNIST has label errors and near-duplicates. Where independently trained runs all agree,
confidently, on a class other than the given label, the image is a candidate for label noise or
is genuinely ambiguous; only the picture (`images/dataset-mistakes.png`) can tell a reader
which, so the report gives counts and the images, never a verdict.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from records.predictions import PredictedRuns
from records.reader import is_ensemble
from reporting.tables import markdown_link, relative_link

# The ensemble's least probability for the wrong class it predicts. Label smoothing (0.1 in the
# recipe) keeps the runs' top probabilities near 0.91 at most, so 0.8 is already confident.
AGREED_CONFIDENCE = 0.8
MAX_SHOWN = 32  # images in the figure, most confident first
FIGURE = "dataset-mistakes.png"


def agreed_mistakes(ensemble_probabilities, member_probabilities: list, labels,
                    confidence: float = AGREED_CONFIDENCE) -> np.ndarray:
    """Indices of the images whose ensemble top class is wrong with probability >= `confidence`
    and is every member's top class too; the most confident first, ties in the order of the
    images, so the same predictions always give the same list."""
    ensemble = np.asarray(ensemble_probabilities)
    predicted, top = ensemble.argmax(axis=1), ensemble.max(axis=1)
    agreed = (predicted != np.asarray(labels)) & (top >= confidence)
    for member in member_probabilities:
        agreed &= np.asarray(member).argmax(axis=1) == predicted
    indices = np.flatnonzero(agreed)
    return indices[np.argsort(-top[indices], kind="stable")]


def noise_ensemble(predicted: PredictedRuns) -> dict | None:
    """The ensemble with the highest validation accuracy (ties to the name) among those that
    kept predictions and whose members all did: chosen on validation, never on the test set;
    None when there is none."""
    complete = [
        record for record in predicted.records
        if is_ensemble(record) and all(name in predicted.probabilities
                                       for name in record["members"])
    ]
    return min(complete, key=lambda r: (-r["val_accuracy"], r["run_name"]), default=None)


@dataclass(frozen=True)
class DatasetMistakes:
    """The chosen ensemble's record, its test probabilities, how many test images it gets wrong
    and the agreed confident mistakes among them (`agreed_mistakes`)."""

    ensemble: dict
    probabilities: np.ndarray
    errors: int
    indices: np.ndarray

    @property
    def shown(self) -> np.ndarray:
        """The images the figure shows: the `MAX_SHOWN` most confident."""
        return self.indices[:MAX_SHOWN]


def dataset_mistakes(predicted: PredictedRuns) -> DatasetMistakes | None:
    """The agreed confident mistakes of `noise_ensemble`'s choice, or None without one."""
    ensemble = noise_ensemble(predicted)
    if ensemble is None:
        return None
    name = ensemble["run_name"]
    members = [predicted.probabilities[member] for member in sorted(ensemble["members"])]
    probabilities = predicted.probabilities[name]
    indices = agreed_mistakes(probabilities, members, predicted.test_set.labels)
    return DatasetMistakes(ensemble, probabilities, int(np.sum(~predicted.correct(name))),
                           indices)


def dataset_mistakes_markdown(predicted: PredictedRuns, results_dir: Path, images_dir: Path,
                              base_dir: Path) -> str:
    """Which ensemble, its members, how many of its test errors are agreed confident mistakes,
    and the figure of them; or why there is none. Counts only: the reader judges the images."""
    found = dataset_mistakes(predicted)
    if found is None:
        why = f" ({predicted.problem})" if predicted.problem else ""
        return (
            "No ensemble to ask: this needs an ensemble (`python -m evaluation.ensemble`) "
            "whose record and members all kept predictions (`predictions.npz`), and the test "
            f"set in `DATA_PATH`{why}."
        )
    name = found.ensemble["run_name"]
    link = markdown_link(name, Path(results_dir) / name / "result.json", base_dir)
    members = ", ".join(f"`{member}`" for member in sorted(found.ensemble["members"]))
    text = (
        f"{link}, the best ensemble on validation ({found.ensemble['val_accuracy']:.4f}) among "
        f"those whose members all kept predictions, averages {members}. Of its "
        f"{found.errors} wrong test images, {len(found.indices)} are agreed confident mistakes: "
        f"it gives the wrong class a probability of at least {AGREED_CONFIDENCE:.2f} and every "
        "member predicts that same class. These are candidates for label noise or for "
        "genuinely ambiguous images, not established label errors"
    )
    if not len(found.indices):
        return text + "."
    shown = (f"the {len(found.shown)} most confident" if len(found.shown) < len(found.indices)
             else "each")
    figure = relative_link(Path(images_dir) / FIGURE, base_dir)
    return (
        f"{text}: judge them from the picture, which shows {shown} with its given label, the "
        "class every run predicts and the ensemble's probability for it.\n\n"
        f"![Test images every run gets wrong the same way]({figure})"
    )
