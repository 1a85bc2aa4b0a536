"""Run records read back: the fields the report reads, their checks, and the runs' ranking.

A record (`RESULTS_PATH/<run>/result.json`) that cannot be read, lacks a field the report reads,
or holds it with the wrong JSON type or a NaN is named with the reason and left out; the tables
never fail on one bad record. Two kinds of record share the folder: a training run's (no `kind`)
and an ensemble's (`"kind": "ensemble"`, written by `evaluation.ensemble`), each checked for its
own fields.
"""

import json
import math
import sys
from pathlib import Path

from data.fashion_mnist import CLASS_NAMES

AUGMENTATION_KNOBS = (
    "rotation_range", "zoom_range", "width_shift_range", "height_shift_range", "horizontal_flip",
    "random_erasing",
)
NUMBER = (int, float)
OPTIONAL_NUMBER = (int, float, type(None))
SELECTABLE_WEIGHTS = ("final", "swa", "ema")
ENSEMBLE = "ensemble"  # the `kind` of an ensemble's record; a training run's record has none
# Every field the report reads, by dotted path (one level of nesting) and JSON type. Required
# by every record:
RECORD_FIELDS = {"run_name": str, "status": str, "smoke_run": bool}
# Read from any record that has them: why a run failed, a smoke run's subset size.
OPTIONAL_FIELDS = {
    "kind": str, "error": str, "config": dict, "config.limit_train": (int, type(None)),
}
# Required by ranked runs (completed, not smoke), which fill the leaderboard and the seed table.
RANKED_FIELDS = {
    "model": str,
    "optimizer": str,
    "config": dict,
    "config.lr_schedule": str,
    "config.lr": NUMBER,
    "config.swa": bool,
    "config.swa_start": int,
    "config.epochs": int,
    **{f"config.{knob}": NUMBER for knob in AUGMENTATION_KNOBS},
    "params": int,
    "epochs_run": int,
    "best_val_accuracy": NUMBER,
    "history": dict,
    "train_seconds": NUMBER,
    "wall_seconds": NUMBER,
    "finished": str,
    "system": dict,
    "test_accuracy_final": NUMBER,
    "test_accuracy": NUMBER,
    "selected_weights": str,
    "confusion_matrix": list,
}
# Read from ranked runs when present: the scores of every weight set, with and without flip
# TTA, whether TTA was selected, and the settings older records lack.
RANKED_OPTIONAL_FIELDS = {
    **{
        f"{split}_accuracy_{weights}{tta}": OPTIONAL_NUMBER
        for weights in SELECTABLE_WEIGHTS
        for tta in ("", "_tta")
        for split in ("val", "test")
    },
    "selected_tta": bool,
    "system.hardware": str,
    "config.ema": OPTIONAL_NUMBER,
    "config.label_smoothing": NUMBER,
    "config.tta": bool,
    "config.warmup_epochs": OPTIONAL_NUMBER,
    "config.split_seed": int,
}
# Required by completed ensemble records, which are ranked beside the runs.
ENSEMBLE_FIELDS = {
    "members": dict,
    "candidates": dict,
    "library": list,
    "val_accuracy": NUMBER,
    "test_accuracy": NUMBER,
    "member_test_accuracy": dict,
    "finished": str,
}


def record_problems(record) -> list[str]:
    """What keeps `record` out of the report: missing fields, values of the wrong type, NaN or
    infinite numbers, unknown selected weights, a malformed history or confusion matrix."""
    if not isinstance(record, dict):
        return [f"expected a JSON object, found {_json_type(record)}"]
    problems = field_problems(record, RECORD_FIELDS, required=True)
    problems += field_problems(record, OPTIONAL_FIELDS, required=False)
    if not problems and record.get("kind", ENSEMBLE) != ENSEMBLE:
        problems.append(f"'kind' is {record['kind']!r}, expected {ENSEMBLE!r} or no 'kind'")
    if problems or record["status"] != "completed" or record["smoke_run"]:
        return problems
    if is_ensemble(record):
        return ensemble_problems(record)
    return completed_run_problems(record)


def is_ensemble(record: dict) -> bool:
    """Whether `record` is an ensemble's, not a training run's."""
    return record.get("kind") == ENSEMBLE


def ensemble_problems(record: dict) -> list[str]:
    """What a completed ensemble's record lacks for its leaderboard row: members with positive
    weights, and numbers where numbers belong."""
    problems = field_problems(record, ENSEMBLE_FIELDS, required=True)
    if problems:
        return problems
    if not record["members"]:
        problems.append("'members' is empty")
    for name, weight in record["members"].items():
        if not (_is_instance(weight, NUMBER) and math.isfinite(weight) and weight > 0):
            problems.append(f"'members.{name}' is {weight!r}, expected a positive number")
    for name, accuracy in record["member_test_accuracy"].items():
        problems += _value_problems(f"member_test_accuracy.{name}", accuracy, NUMBER)
    return problems


def completed_run_problems(record: dict) -> list[str]:
    """What a completed run's record lacks for the leaderboard's columns, smoke run or not."""
    problems = field_problems(record, RANKED_FIELDS, required=True)
    problems += field_problems(record, RANKED_OPTIONAL_FIELDS, required=False)
    return problems or _content_problems(record)


def field_problems(record: dict, fields: dict, required: bool) -> list[str]:
    """What is wrong with `record`'s `fields` ({dotted name: JSON type}); a missing field is a
    problem only when `required`."""
    problems = []
    for name, kind in fields.items():
        parent, _, key = name.rpartition(".")
        container = record.get(parent) if parent else record
        if not isinstance(container, dict):
            continue  # a missing or malformed parent is reported as such
        if key in container:
            problems += _value_problems(name, container[key], kind)
        elif required:
            problems.append(f"missing key {name!r}")
    return problems


def _content_problems(record: dict) -> list[str]:
    problems = []
    if record["selected_weights"] not in SELECTABLE_WEIGHTS:
        *others, last = map(repr, SELECTABLE_WEIGHTS)
        problems.append(f"'selected_weights' is {record['selected_weights']!r}, expected "
                        f"{', '.join(others)} or {last}")
    for epoch, logs in record["history"].items():
        if not epoch.isdigit():
            problems.append(f"'history' has the key {epoch!r}, expected epoch numbers")
        elif not isinstance(logs, dict):
            problems += _value_problems(f"history.{epoch}", logs, dict)
        elif "val_accuracy" in logs:
            problems += _value_problems(f"history.{epoch}.val_accuracy", logs["val_accuracy"],
                                        OPTIONAL_NUMBER)
    size = len(CLASS_NAMES)
    rows = record["confusion_matrix"]
    if len(rows) != size or not all(isinstance(row, list) and len(row) == size for row in rows):
        problems.append(f"'confusion_matrix' is not {size} rows of {size} counts")
    elif not all(_is_instance(count, int) and count >= 0 for row in rows for count in row):
        problems.append("'confusion_matrix' holds a count that is not a non-negative integer")
    return problems


def _value_problems(name: str, value, kind) -> list[str]:
    if isinstance(value, float) and not math.isfinite(value):
        return [f"{name!r} is {'NaN' if math.isnan(value) else 'infinite'}"]
    if _is_instance(value, kind):
        return []
    return [f"{name!r} is {_json_type(value)}, expected {_type_names(kind)}"]


def _is_instance(value, kind) -> bool:
    # JSON true/false are Python bools, which are also ints: never accept them as numbers.
    if isinstance(value, bool) and kind is not bool:
        return False
    return isinstance(value, kind)


def _json_type(value) -> str:
    return "null" if value is None else type(value).__name__


def _type_names(kind) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join("null" if k is type(None) else k.__name__ for k in kinds)


def read_record(path: Path) -> tuple[dict | None, str | None]:
    """The record in `path` and None, or None and why the report cannot use it."""
    try:
        record = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        return None, f"unreadable ({error})"
    problems = record_problems(record)
    return (None, "; ".join(problems)) if problems else (record, None)


def read_run_record(run_dir: Path) -> dict | None:
    """The record of the run in `run_dir`, or None when it has none; a record with bad fields
    is named on stderr and skipped, as by the report."""
    path = Path(run_dir) / "result.json"
    if not path.exists():
        return None
    record, problem = read_record(path)
    if problem:
        print(f"warning: skipped {path}: {problem}", file=sys.stderr)
    return record


def read_records(results_dir: Path) -> tuple[list[dict], list[tuple[Path, str]]]:
    """Valid records in run-folder order, and (path, reason) for each record that is not valid."""
    records, skipped = [], []
    for path in sorted(Path(results_dir).glob("*/result.json")):
        record, problem = read_record(path)
        if problem:
            skipped.append((path, problem))
        else:
            records.append(record)
    return records, skipped


def rank_records(records: list[dict]) -> tuple[list[dict], list[tuple[str, str]]]:
    """Completed full runs best first, and (run name, reason) for each run left out of the ranking.

    Ties on test accuracy go to the higher validation accuracy, then to the run name.
    """
    ranked, excluded = [], []
    for record in records:
        if record["smoke_run"]:
            limit = record.get("config", {}).get("limit_train")
            excluded.append((record["run_name"], f"smoke run (--limit-train {limit})"))
        elif record["status"] != "completed":
            reason = record.get("error") or "no reason recorded"
            excluded.append((record["run_name"], f"{record['status']}: {reason}"))
        else:
            ranked.append(record)
    ranked.sort(key=lambda r: (-r["test_accuracy"], -_best_val_accuracy(r), r["run_name"]))
    return ranked, sorted(excluded)


def _best_val_accuracy(record: dict) -> float:
    return record["val_accuracy"] if is_ensemble(record) else record["best_val_accuracy"]


def selected_candidate(record: dict) -> str:
    """The name of the weights the run selected, as in its record's keys and its predictions:
    `final`, `swa`, `ema`, or one of them with `_tta` (averaged with the mirrored images);
    `ensemble` for an ensemble."""
    if is_ensemble(record):
        return ENSEMBLE
    return record["selected_weights"] + ("_tta" if record.get("selected_tta") else "")


def selected_val_accuracy(record: dict) -> float:
    """Validation accuracy of the weights the run selected (and evaluated on the test set), or of
    an ensemble; the best epoch's when a run's record does not hold it."""
    if is_ensemble(record):
        return record["val_accuracy"]
    value = record.get(f"val_accuracy_{selected_candidate(record)}")
    return record["best_val_accuracy"] if value is None else value


def best_run(ranked: list[dict]) -> dict:
    """The run whose selected weights have the highest validation accuracy: the test set, seen
    once per run, never picks it. Ties go to the higher best-epoch validation accuracy, then to
    the run name. Ensembles are left out: their members were chosen to maximise that same
    validation accuracy, so it overstates them against a single run."""
    return min(
        runs_only(ranked),
        key=lambda r: (-selected_val_accuracy(r), -r["best_val_accuracy"], r["run_name"]),
    )


def runs_only(records: list[dict]) -> list[dict]:
    """The training runs among `records`, without ensembles, in the same order."""
    return [record for record in records if not is_ensemble(record)]
