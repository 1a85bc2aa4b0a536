"""Ensembles of recorded runs, chosen on validation and evaluated once on the test set.

    python -m evaluation.ensemble                    # every run with predictions
    python -m evaluation.ensemble --runs a b c --name my-ensemble
    python -m evaluation.ensemble --runs a b c --average   # each named run once, no selection

Each member is a run's selected candidate (its weights and TTA choice, as chosen on validation
when it finished), read from `RESULTS_PATH/<run>/predictions.npz`. Members must share their
validation images (the same `--split-seed` and `--val-size`), or the choice would be made on
images some members trained on. Greedy forward selection with replacement (Caruana et al. 2004,
"Ensemble Selection from Libraries of Models") adds, one at a time, the member whose addition
gives the highest validation accuracy of the averaged probabilities, and keeps the best prefix.
With `--average` the named runs are averaged with equal weights instead: nothing is chosen on
validation, so its validation accuracy is not fitted to the validation split. The record lists the
validation accuracy after each member was added, so it shows what each one brought.
The test set is scored once, for the chosen ensemble, and the result is written as a record of
its own (`RESULTS_PATH/<name>/result.json`, with `"kind": "ensemble"`) with its probabilities
(`predictions.npz`, candidate `ensemble`), so the report's paired tests include it. Ensembles
are never members of another ensemble.
"""

import argparse
import shlex
import sys
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import config as paths
from outputs.folders import check_output_name, claim_output_dir
from outputs.io import atomic_write_json, read_json
from records.predictions import PREDICTIONS_FILE, decode_probabilities, write_predictions
from records.provenance import utc_now
from records.reader import ENSEMBLE, is_run

DEFAULT_STEPS = 25
NOT_A_RUN = "an ensemble, specialist or combination, not a 10-class training run"
PLAIN_AVERAGE = "plain average of the named runs"  # the record's method with --average


@dataclass
class Member:
    run_name: str
    candidate: str  # e.g. "swa_tta"
    val_probabilities: np.ndarray
    test_probabilities: np.ndarray


def read_member(run_dir: Path) -> tuple[Member | None, np.ndarray | None, str | None]:
    """A run's selected candidate and its validation rows, or None and why it cannot be one."""
    try:
        record = read_json(run_dir / "result.json", "A record")
        if not is_run(record):
            return None, None, NOT_A_RUN
        if record.get("status") != "completed" or record.get("smoke_run"):
            return None, None, "not a completed full run"
        candidate = record["selected_weights"] + ("_tta" if record.get("selected_tta") else "")
        with np.load(run_dir / PREDICTIONS_FILE) as predictions:
            member = Member(
                record["run_name"],
                candidate,
                decode_probabilities(predictions[f"val_{candidate}"]),
                decode_probabilities(predictions[f"test_{candidate}"]),
            )
            return member, predictions["val_indices"], None
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as error:
        return None, None, f"no readable record and predictions ({type(error).__name__}: {error})"


def greedy_selection(members: list[Member], val_labels, steps: int = DEFAULT_STEPS) -> list[int]:
    """The members picked, in order: forward selection with replacement for `steps` rounds,
    keeping the prefix with the best validation accuracy (the earliest on a tie)."""
    total = np.zeros_like(members[0].val_probabilities)
    picks, best_picks, best_accuracy = [], [], -1.0
    for _ in range(steps):
        scores = [
            np.mean((total + m.val_probabilities).argmax(axis=1) == val_labels) for m in members
        ]
        chosen = int(np.argmax(scores))
        picks.append(chosen)
        total += members[chosen].val_probabilities
        if scores[chosen] > best_accuracy:
            best_accuracy, best_picks = scores[chosen], list(picks)
    return best_picks


def selection_trace(members: list[Member], picks: list[int], val_labels) -> list[dict]:
    """The validation accuracy of the averaged probabilities after each pick."""
    total = np.zeros_like(members[0].val_probabilities)
    trace = []
    for index in picks:
        total += members[index].val_probabilities
        accuracy = float(np.mean(total.argmax(axis=1) == val_labels))
        trace.append({"member": members[index].run_name, "val_accuracy": accuracy})
    return trace


def ensemble_probabilities(members: list[Member], picks: list[int], split: str) -> np.ndarray:
    """The mean of the picked members' probabilities on `split` ("val" or "test"); a member
    picked twice counts twice."""
    return np.mean([getattr(members[index], f"{split}_probabilities") for index in picks], axis=0)


def collect_members(results_dir: Path, run_names: list[str] | None) -> tuple[list, np.ndarray]:
    """The members (every run with predictions, or the named ones) and their validation rows.
    Members must share validation images: the largest group of runs that do is kept, and any
    other run is left out with a warning (or refused, when named)."""
    folders = (
        [results_dir / name for name in run_names]
        if run_names
        else sorted(path.parent for path in results_dir.glob(f"*/{PREDICTIONS_FILE}"))
    )
    groups: dict[bytes, tuple[np.ndarray, list[Member]]] = {}
    for folder in folders:
        member, val_indices, problem = read_member(folder)
        if problem == NOT_A_RUN and not run_names:
            continue  # ensembles of ensembles would count their members twice
        if problem:
            _leave_out(folder.name, problem, refuse=bool(run_names))
            continue
        groups.setdefault(val_indices.tobytes(), (val_indices, []))[1].append(member)
    rows, members = max(groups.values(), key=lambda group: len(group[1]), default=(None, []))
    for other_rows, others in groups.values():
        if other_rows is not rows:
            for member in others:
                problem = "its validation images differ (another --split-seed or --val-size)"
                _leave_out(member.run_name, problem, refuse=bool(run_names))
    if len(members) < 2:
        raise ValueError(
            f"An ensemble needs at least two runs with predictions on the same validation images "
            f"in {results_dir}. Received: {len(members)}"
        )
    return members, rows


def _leave_out(name: str, problem: str, refuse: bool) -> None:
    if refuse:
        raise ValueError(f"{name} cannot be a member: {problem}.")
    print(f"warning: left out {name}: {problem}", file=sys.stderr)


def build_ensemble(
    results_dir, run_names, name, steps, labels, average=False, command=None
) -> dict:
    """Selects the ensemble on validation (or averages the named runs), scores the test set once,
    writes and returns its record. `labels` holds (training labels, test labels) of the dataset;
    `command`, the command line that built it, is kept in the record. The record goes to
    `results_dir/<name>/`, or to `<name>-2`, `-3`, ... when `name` is taken (said on stdout):
    its `run_name` is the folder's name."""
    check_output_name(name, "--name")
    if average and not run_names:
        raise ValueError("A plain average needs the runs to average. Received: no --runs")
    train_labels, test_labels = labels
    members, val_indices = collect_members(Path(results_dir), run_names)
    val_labels = train_labels[val_indices]
    picks = list(range(len(members))) if average else greedy_selection(members, val_labels, steps)
    counts = Counter(members[index].run_name for index in picks)
    val = ensemble_probabilities(members, picks, "val")
    test = ensemble_probabilities(members, picks, "test")
    roots = {"RESULTS_PATH": Path(results_dir)}
    (run_dir,) = claim_output_dir(roots, name, what="--name", say=print).values()
    record = {
        "kind": ENSEMBLE,
        "run_name": run_dir.name,
        "status": "completed",
        "smoke_run": False,
        "method": PLAIN_AVERAGE
        if average
        else f"greedy forward selection with replacement, {steps} rounds (Caruana et al. 2004)",
        "members": {member: count / len(picks) for member, count in counts.items()},
        "candidates": {m.run_name: m.candidate for m in members if m.run_name in counts},
        "library": [m.run_name for m in members],
        "selection": selection_trace(members, picks, val_labels),
        "val_images": len(val_labels),
        "val_accuracy": float(np.mean(val.argmax(axis=1) == val_labels)),
        "test_accuracy": float(np.mean(test.argmax(axis=1) == test_labels)),
        "member_test_accuracy": {
            m.run_name: float(np.mean(m.test_probabilities.argmax(axis=1) == test_labels))
            for m in members
            if m.run_name in counts
        },
        "finished": utc_now(),
        "command": command,
    }
    write_predictions(run_dir / PREDICTIONS_FILE, ENSEMBLE, val, test, val_indices)
    atomic_write_json(run_dir / "result.json", record)
    return record


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--runs", nargs="+", metavar="RUN", help="members to choose from (default: all)"
    )
    parser.add_argument("--name", default="ensemble", help="name of the ensemble's record folder")
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS, help="rounds of selection")
    parser.add_argument(
        "--average", action="store_true", help="average the --runs with equal weights, no selection"
    )
    args = parser.parse_args(argv)
    if args.steps < 1:
        parser.error(f"argument --steps: at least one round. Received: steps={args.steps}")
    try:
        check_output_name(args.name, "--name")
    except ValueError as error:
        parser.error(str(error))
    from data import load_fashion_mnist

    data = load_fashion_mnist()
    try:
        record = build_ensemble(
            paths.RESULTS_PATH,
            args.runs,
            args.name,
            args.steps,
            (data.y_train, data.y_test),
            average=args.average,
            command=shlex.join(
                ["python", "-m", "evaluation.ensemble", *(sys.argv[1:] if argv is None else argv)]
            ),
        )
    except (ValueError, PermissionError, FileExistsError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(record["method"])
    for member, weight in sorted(record["members"].items(), key=lambda item: -item[1]):
        print(f"  {weight:5.2f}  {member} ({record['member_test_accuracy'][member]:.4f} alone)")
    print("validation accuracy as members were added:")
    for step in record["selection"]:
        print(f"  {step['val_accuracy']:.4f}  + {step['member']}")
    print(f"val accuracy  {record['val_accuracy']:.4f}")
    chosen = "the plain average" if args.average else "the ensemble chosen on validation"
    print(f"test accuracy {record['test_accuracy']:.4f} ({chosen})")
    print(f"wrote {paths.RESULTS_PATH / record['run_name']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
