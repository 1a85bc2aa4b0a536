"""A generalist's probabilities revised on a group of classes by a specialist of that group,
chosen on validation and scored once on the test set.

    python -m evaluation.specialist --generalist RUN --specialist RUN
    python -m evaluation.specialist --generalist ENSEMBLE --specialist RUN --method mixture

The generalist is a run, an ensemble or another combination over the ten classes; the
specialist a run trained with `--classes` (a record with `"kind": "specialist"`), which keeps its
probabilities over its k classes for every validation and test image. Both must have been chosen
on the same validation images (the same `data.split_seed` and `data.val_size`). On the images
where the generalist consults it, the specialist's probabilities replace the generalist's on the
group, scaled to the generalist's total probability on the group, so the other classes keep
theirs:

- `replace-top1`: where the generalist's top class is in the group;
- `replace-top2`: where its top two classes are both in the group;
- `mixture`: everywhere, w x the specialist + (1 - w) x the generalist's probabilities on the
  group renormalised, w out of 0, 0.1, ..., 1.

`--method auto` (the default) tries all of them, each weight of the mixture included; the one
with the highest validation accuracy is kept (a tie goes to the first tried, in that order),
then the test set is scored once. The record (`RESULTS_PATH/<name>/result.json`,
`"kind": "combination"`) keeps every choice's validation accuracy, the test accuracy and the
per-class recall before and after, with the combined probabilities (`predictions.npz`, candidate
`combination`), so the report ranks it beside the runs and tests it against the generalist.
"""

import argparse
import shlex
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import config as paths
from data.fashion_mnist import CLASS_NAMES
from outputs.folders import check_output_name, claim_output_dir
from outputs.io import atomic_write_json, read_json
from records.predictions import PREDICTIONS_FILE, decode_probabilities, write_predictions
from records.provenance import utc_now
from records.reader import COMBINATION, is_specialist, selected_candidate

METHODS = ("replace-top1", "replace-top2", "mixture")
AUTO = "auto"
MIXTURE_WEIGHTS = tuple(step / 10 for step in range(11))


@dataclass
class Predictions:
    """The selected candidate's probabilities of one record, and the rows they cover.

    Args:
        run_name: the record's name.
        record: the record (result.json).
        val, test: probabilities on the validation and test images (N x classes).
        val_indices: rows of the 60,000 training images that `val` covers.
        test_indices: rows of the test images that `test` covers (None: every row, in order).
    """

    run_name: str
    record: dict
    val: np.ndarray
    test: np.ndarray
    val_indices: np.ndarray
    test_indices: np.ndarray | None


def read_predictions(results_dir: Path, name: str, flag: str) -> Predictions:
    """The completed full record `name` and its selected candidate's probabilities; a
    ValueError naming `flag` when there is none.

    Args:
        results_dir: the folder of records (RESULTS_PATH).
        name: the record's folder name.
        flag: the option that named it (`--generalist`, `--specialist`), for the error.

    Example: `read_predictions(paths.RESULTS_PATH, "fast-cnn-seed0", "--generalist").val.shape`
    is (5000, 10).
    """
    folder = Path(results_dir) / check_output_name(name, flag)
    try:
        record = read_json(folder / "result.json", "A record")
        if record.get("status") != "completed" or record.get("smoke_run"):
            raise ValueError("not a completed full run")
        candidate = selected_candidate(record)
        with np.load(folder / PREDICTIONS_FILE) as stored:
            return Predictions(
                name, record,
                decode_probabilities(stored[f"val_{candidate}"]),
                decode_probabilities(stored[f"test_{candidate}"]),
                stored["val_indices"],
                stored["test_indices"] if "test_indices" in stored.files else None,
            )
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as error:
        raise ValueError(
            f"{flag} must name a completed full run with predictions in {results_dir} "
            f"({type(error).__name__}: {error}). Received: {flag} {name}"
        ) from error


def specialist_group(specialist: Predictions) -> tuple[int, ...]:
    """The specialist's classes as original labels, in the order of its outputs; a ValueError
    when the record is no specialist's or its outputs do not match its classes."""
    record = specialist.record
    if not is_specialist(record):
        raise ValueError(
            f"--specialist must name a run trained with --classes (a record with "
            f"\"kind\": \"specialist\"). Received: --specialist {specialist.run_name}"
        )
    group = tuple(record["classes"]["labels"])
    if specialist.val.shape[1] != len(group) or specialist.test.shape[1] != len(group):
        raise ValueError(
            f"The predictions of {specialist.run_name} have {specialist.val.shape[1]} columns, "
            f"its classes {len(group)}: run it again. Received: --specialist "
            f"{specialist.run_name}"
        )
    return group


def check_generalist(generalist: Predictions, test_images: int) -> None:
    """Refuses a generalist that is a specialist, or whose test probabilities are not over the
    ten classes of every test image."""
    expected = (test_images, len(CLASS_NAMES))
    if is_specialist(generalist.record) or generalist.test.shape != expected:
        raise ValueError(
            f"--generalist must name a run, an ensemble or a combination over the "
            f"{len(CLASS_NAMES)} classes with predictions on all {test_images} test images; "
            f"its test predictions "
            f"have shape {generalist.test.shape}. Received: --generalist {generalist.run_name}"
        )


def check_same_images(generalist: Predictions, specialist: Predictions, test_images: int) -> None:
    """Refuses two records whose probabilities cover other validation or test images, naming
    both: the choice would be made on images one of them trained on, or scored on others."""
    same_val = np.array_equal(generalist.val_indices, specialist.val_indices)
    rows = specialist.test_indices
    same_test = rows is None or np.array_equal(rows, np.arange(test_images))
    if not (same_val and same_test):
        which = "validation" if not same_val else "test"
        raise ValueError(
            f"The {which} images of generalist {generalist.run_name} and specialist "
            f"{specialist.run_name} differ: train the specialist with the generalist's "
            f"data.split_seed and data.val_size. Received: --generalist {generalist.run_name} "
            f"--specialist {specialist.run_name}"
        )


def _normalised(probabilities: np.ndarray) -> np.ndarray:
    """Rows scaled to sum to 1; rows of zeros stay zeros."""
    total = probabilities.sum(axis=1, keepdims=True)
    return np.divide(probabilities, total, out=np.zeros_like(probabilities), where=total > 0)


def consulted_rows(generalist: np.ndarray, group, method: str) -> np.ndarray:
    """Where `method` consults the specialist: the generalist's top class in the group
    (`replace-top1`), its top two both in it (`replace-top2`), every image (`mixture`).

    Args:
        generalist: probabilities over the ten classes (N x 10).
        group: the specialist's classes as original labels.
        method: one of `METHODS`.

    Example: `consulted_rows(np.array([[0.6, 0.4] + [0] * 8]), (0, 1), "replace-top2")` is
    [True].
    """
    if method == "mixture":
        return np.ones(len(generalist), bool)
    top = np.argsort(-generalist, axis=1, kind="stable")[:, : 1 if method == "replace-top1" else 2]
    return np.isin(top, group).all(axis=1)


def combined_probabilities(generalist, specialist, group, method: str, weight=None) -> np.ndarray:
    """The generalist's probabilities with the specialist's on `group` where `method` consults
    it, scaled to the generalist's total on the group; the mixture's `weight` is the
    specialist's share.

    Args:
        generalist: probabilities over the ten classes (N x 10).
        specialist: probabilities over the group's classes, in its order (N x k).
        group: the specialist's classes as original labels.
        method: one of `METHODS`.
        weight: the mixture's w in [0, 1]; unused by the other methods.

    Example: a specialist that says what the generalist says on the group,
    `generalist[:, group]` renormalised, leaves the generalist as it is.
    """
    group = list(group)
    mass = generalist[:, group].sum(axis=1, keepdims=True)
    revised = _normalised(specialist)
    if method == "mixture":
        revised = weight * revised + (1 - weight) * _normalised(generalist[:, group])
    rows = consulted_rows(generalist, group, method)
    combined = generalist.copy()
    combined[:, group] = np.where(rows[:, None], revised * mass, generalist[:, group])
    return combined


def accuracy(probabilities: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(probabilities.argmax(axis=1) == labels))


def choices(method: str) -> list[tuple[str, float | None]]:
    """(method, weight) pairs tried on validation, in the order a tie is settled.

    Args:
        method: `auto` or one of `METHODS`.

    Example: `choices("replace-top1")` is [("replace-top1", None)].
    """
    if method not in (AUTO, *METHODS):
        raise ValueError(f"--method must be one of {', '.join((AUTO, *METHODS))}. "
                         f"Received: method={method!r}")
    fixed = [(name, None) for name in METHODS[:2]]
    mixtures = [("mixture", weight) for weight in MIXTURE_WEIGHTS]
    return {AUTO: fixed + mixtures, "mixture": mixtures}.get(method, [(method, None)])


def choose(generalist, specialist, group, val_labels, method: str = AUTO):
    """Every choice of `choices(method)` with its validation accuracy, and the best (the first
    on a tie). The test set plays no part.

    Args:
        generalist, specialist: validation probabilities (N x 10, N x k).
        group: the specialist's classes as original labels.
        val_labels: original labels of the validation images.
        method: `auto` or one of `METHODS`.

    Example: `choose(g, s, (0, 6), labels)[1]` is e.g. {"method": "mixture", "weight": 0.4, ...}.
    """
    tried = [
        {"method": name, "weight": weight, "val_accuracy": accuracy(
            combined_probabilities(generalist, specialist, group, name, weight), val_labels)}
        for name, weight in choices(method)
    ]
    best = max(tried, key=lambda choice: (choice["val_accuracy"], -tried.index(choice)))
    return tried, best


def per_class_recall(probabilities: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """The share of each class's images predicted as that class, by class name."""
    predicted = probabilities.argmax(axis=1)
    return {name: float(np.mean(predicted[labels == label] == label))
            for label, name in enumerate(CLASS_NAMES) if np.any(labels == label)}


def changed_classes(before: np.ndarray, after: np.ndarray) -> int:
    """How many images `after`'s probabilities classify otherwise than `before`'s."""
    return int(np.sum(before.argmax(axis=1) != after.argmax(axis=1)))


def combination_record(name, generalist, specialist, best, tried, labels, combined) -> dict:
    """A combination's record: which generalist and specialist, the method and weight chosen on
    validation (`best`, of `tried`), each split's accuracy before and after, the test recall per
    class, and how many images changed class. `generalist` and `specialist` are (name,
    predictions) pairs; `labels` and `combined` are (validation, test) pairs."""
    (generalist_name, before), (specialist_name, expert) = generalist, specialist
    (val_labels, test_labels), (val, test) = labels, combined
    return {
        "kind": COMBINATION,
        "run_name": name,
        "status": "completed",
        "smoke_run": False,
        "generalist": generalist_name,
        "generalist_kind": before.record.get("kind", "run"),
        "specialist": specialist_name,
        "group": expert.record["classes"],
        "method": best["method"],
        "weight": best["weight"],
        "tried": tried,
        "val_images": len(val_labels),
        "generalist_val_accuracy": accuracy(before.val, val_labels),
        "val_accuracy": best["val_accuracy"],
        "generalist_test_accuracy": accuracy(before.test, test_labels),
        "test_accuracy": accuracy(test, test_labels),
        "per_class_recall": {"before": per_class_recall(before.test, test_labels),
                             "after": per_class_recall(test, test_labels)},
        # Images whose class the combination changed: none on either split is "no change".
        "changed_val_predictions": changed_classes(before.val, val),
        "changed_test_predictions": changed_classes(before.test, test),
        "finished": utc_now(),
    }


def build_combination(results_dir, generalist_name, specialist_name, name, labels,
                      method=AUTO, command=None) -> dict:
    """Chooses the method (and weight) on validation, scores the test set once, writes and
    returns the record. The folder is `results_dir/<name>/`, or `<name>-2`, ... when taken (said
    on stdout); everything is checked before it is made.

    Args:
        results_dir: the folder of records (RESULTS_PATH).
        generalist_name: a run, ensemble or combination over the ten classes.
        specialist_name: a run trained with `--classes`.
        name: the record's folder name.
        labels: (training labels, test labels) of the dataset.
        method: `auto` or one of `METHODS`.
        command: the command line, kept in the record.

    Example: `build_combination(RESULTS_PATH, "fast-cnn-seed0", "tops-seed0", "tops", labels)`.
    """
    check_output_name(name, "--name")
    choices(method)  # refuses an unknown method before anything is read
    train_labels, test_labels = labels
    generalist = read_predictions(results_dir, generalist_name, "--generalist")
    specialist = read_predictions(results_dir, specialist_name, "--specialist")
    group = specialist_group(specialist)
    check_generalist(generalist, len(test_labels))
    check_same_images(generalist, specialist, len(test_labels))
    val_labels = train_labels[generalist.val_indices]
    tried, best = choose(generalist.val, specialist.val, group, val_labels, method)
    val = combined_probabilities(generalist.val, specialist.val, group, best["method"],
                                 best["weight"])
    test = combined_probabilities(generalist.test, specialist.test, group, best["method"],
                                  best["weight"])
    (run_dir,) = claim_output_dir({"RESULTS_PATH": Path(results_dir)}, name, what="--name",
                                  say=print).values()
    record = combination_record(
        run_dir.name, (generalist_name, generalist), (specialist_name, specialist),
        best, tried, (val_labels, test_labels), (val, test),
    )
    record.update(method_requested=method, command=command)
    write_predictions(run_dir / PREDICTIONS_FILE, COMBINATION, val, test, generalist.val_indices)
    atomic_write_json(run_dir / "result.json", record)
    return record


def summary_lines(record: dict) -> list[str]:
    """What the command prints: each choice's validation accuracy, the one kept, the test
    accuracy and the recall of the group's classes before and after."""
    lines = [f"validation accuracy (generalist alone {record['generalist_val_accuracy']:.4f}):"]
    for choice in record["tried"]:
        weight = "" if choice["weight"] is None else f" w={choice['weight']:.1f}"
        lines.append(f"  {choice['val_accuracy']:.4f}  {choice['method']}{weight}")
    weight = "" if record["weight"] is None else f" w={record['weight']:.1f}"
    lines.append(f"chosen on validation: {record['method']}{weight}")
    lines.append(f"test accuracy {record['test_accuracy']:.4f} "
                 f"(generalist alone {record['generalist_test_accuracy']:.4f})")
    recall = record["per_class_recall"]
    for name in record["group"]["names"]:
        lines.append(f"  recall {name}: {recall['before'][name]:.4f} -> "
                     f"{recall['after'][name]:.4f}")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--generalist", required=True, metavar="RUN",
                        help="a run, ensemble or combination over the ten classes")
    parser.add_argument("--specialist", required=True, metavar="RUN",
                        help="a run trained with --classes")
    parser.add_argument("--name", help="the record's folder name; default "
                        "<generalist>-with-<specialist>")
    parser.add_argument("--method", default=AUTO, choices=(AUTO, *METHODS),
                        help="how the specialist is consulted; auto: chosen on validation")
    args = parser.parse_args(argv)
    name = f"{args.generalist}-with-{args.specialist}" if args.name is None else args.name
    try:
        check_output_name(name, "--name")
    except ValueError as error:
        parser.error(str(error))
    from data import load_fashion_mnist

    data = load_fashion_mnist()
    command = shlex.join(
        ["python", "-m", "evaluation.specialist", *(sys.argv[1:] if argv is None else argv)]
    )
    try:
        record = build_combination(paths.RESULTS_PATH, args.generalist, args.specialist, name,
                                   (data.y_train, data.y_test), args.method, command)
    except (ValueError, PermissionError, FileExistsError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print("\n".join(summary_lines(record)))
    print(f"wrote {paths.RESULTS_PATH / record['run_name']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
