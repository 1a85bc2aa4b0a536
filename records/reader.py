"""Run records read back: the fields the report reads, their checks, and the runs' ranking.

A record (`RESULTS_PATH/<run>/result.json`) that cannot be read, lacks a field the report reads,
or holds it with the wrong JSON type or a NaN is named with the reason and left out; the tables
never fail on one bad record. Four kinds of record share the folder, each checked for its own
fields: a training run's (no `kind`), an ensemble's (`"kind": "ensemble"`, written by
`evaluation.ensemble`), a specialist's (`"kind": "specialist"`, a run over a group of classes,
listed but not ranked with the 10-class runs) and a combination's (`"kind": "combination"`, a
generalist with a specialist's say on its group, written by `evaluation.specialist`). A search
trial's run (`sweep.py`) is a training run with a `trial` entry: scored on validation only, it
has no test accuracy and is listed, one line per study, but not ranked.
"""

import math
import sys
from pathlib import Path

from data.fashion_mnist import CLASS_NAMES
from data.knobs import AUGMENTATION_KNOBS
from outputs.io import UnreadableFileError, read_json
from records.run_record import WEIGHT_SETS, run_record_problems, upgraded

NUMBER = (int, float)
OPTIONAL_NUMBER = (int, float, type(None))
ENSEMBLE = "ensemble"  # the `kind` of an ensemble's record; a training run's record has none
SPECIALIST = "specialist"  # a run trained and tested on a group of classes
COMBINATION = "combination"  # a generalist whose probabilities on a group a specialist revised
KINDS = (ENSEMBLE, SPECIALIST, COMBINATION)
# Every field the report reads, by dotted path (one level of nesting) and JSON type. Required
# by every record:
RECORD_FIELDS = {"run_name": str, "status": str, "smoke_run": bool}
# Read from any record that has them: why a run failed, a smoke run's subset size.
OPTIONAL_FIELDS = {
    "kind": str, "error": str, "config": dict, "config.limit_train": (int, type(None)),
}
# Required by ranked runs (completed, not smoke), which fill the leaderboard and the seed table:
# the record's fields (their types are `RunRecord`'s) and the settings of its configuration.
RANKED_RECORD_FIELDS = (
    "params", "epochs_run", "best_val_accuracy", "wall_seconds", "test_accuracy",
    "selected_weights", "confusion_matrix", "test_accuracy_final",
)
RANKED_FIELDS = {
    "config.lr_schedule": str,
    "config.lr": NUMBER,
    "config.swa": bool,
    "config.swa_start": int,
    "config.epochs": int,
    **{f"config.{knob}": NUMBER for knob in AUGMENTATION_KNOBS},
}
# Read from ranked runs when present: the settings older records lack.
RANKED_OPTIONAL_FIELDS = {
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
# Required by completed specialists: their classes, by name and original label.
SPECIALIST_FIELDS = {"classes": dict, "classes.names": list, "classes.labels": list}
# Required by a search trial's record (`search.objective`), recognised by its `trial` entry.
TRIAL_FIELDS = {
    "trial": dict, "trial.study": str, "trial.number": int, "trial.state": str,
    "trial.value": NUMBER, "trial.params": dict,
}
# Required by completed combinations, which are ranked beside the runs.
COMBINATION_FIELDS = {
    "generalist": str,
    "specialist": str,
    "method": str,
    "val_accuracy": NUMBER,
    "test_accuracy": NUMBER,
    "finished": str,
}


def record_problems(record) -> list[str]:
    """What keeps `record` out of the report: missing fields, values of the wrong type, NaN or
    infinite numbers, unknown selected weights, a malformed history or confusion matrix."""
    if not isinstance(record, dict):
        return [f"expected a JSON object, found {_json_type(record)}"]
    problems = field_problems(record, RECORD_FIELDS, required=True)
    problems += field_problems(record, OPTIONAL_FIELDS, required=False)
    if not problems and record.get("kind", ENSEMBLE) not in KINDS:
        problems.append(f"'kind' is {record['kind']!r}, expected one of "
                        f"{', '.join(map(repr, KINDS))} or no 'kind'")
    if problems or is_trial(record):
        return problems or field_problems(record, TRIAL_FIELDS, required=True)
    if record["status"] != "completed" or record["smoke_run"]:
        return problems
    if is_ensemble(record):
        return ensemble_problems(record)
    if record.get("kind") == COMBINATION:
        return field_problems(record, COMBINATION_FIELDS, required=True)
    if is_specialist(record):
        problems = field_problems(record, SPECIALIST_FIELDS, required=True)
        return problems or completed_run_problems(record)
    return completed_run_problems(record)


def is_ensemble(record: dict) -> bool:
    """Whether `record` is an ensemble's, not a training run's."""
    return record.get("kind") == ENSEMBLE


def is_combined(record: dict) -> bool:
    """Whether `record` combines other records' predictions (an ensemble, a combination) instead
    of training a model."""
    return record.get("kind") in (ENSEMBLE, COMBINATION)


def is_specialist(record: dict) -> bool:
    """Whether `record` is a run over a group of classes (its test accuracy counts only their
    test images)."""
    return record.get("kind") == SPECIALIST


def is_trial(record: dict) -> bool:
    """Whether `record` is a search trial's run (it has a `trial` entry): chosen and scored on
    validation only, so it has no test accuracy to rank."""
    return "trial" in record


def changes_nothing(record: dict) -> bool:
    """Whether `record` is a combination whose choice on validation left the generalist's
    predictions as they were (a mixture that gives the specialist no weight, or no image
    changed class): no result of its own, "no change"."""
    if record.get("kind") != COMBINATION:
        return False
    if record.get("weight") == 0:
        return True
    changed = [record.get(key) for key in ("changed_val_predictions", "changed_test_predictions")]
    return changed == [0, 0]


NO_CHANGE = ("no change: the choice on validation leaves the generalist's predictions as they "
             "are")


def from_clean_commit(record: dict, by_name: dict[str, dict]) -> bool:
    """Whether `record` can be traced to a commit: a run's tree matched its commit
    (`system.git_clean`, or a `git_commit` without `-dirty` in older records); an ensemble's or a
    combination's records, looked up in `by_name`, all did."""
    if record.get("kind") in (ENSEMBLE, COMBINATION):
        parts = [*record.get("members", {}), record.get("generalist"), record.get("specialist")]
        parts = [name for name in parts if name]
        return bool(parts) and all(
            name in by_name and from_clean_commit(by_name[name], by_name) for name in parts)
    system = record.get("system") or {}
    if "git_clean" in system:
        return system["git_clean"] is True
    commit = system.get("git_commit")
    return bool(commit) and not commit.endswith("-dirty")


def is_run(record: dict) -> bool:
    """Whether `record` is a training run's over the ten classes: no ensemble, specialist,
    combination or search trial."""
    return record.get("kind") is None and not is_trial(record)


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
    """What a completed run's record lacks for the leaderboard's columns, smoke run or not: a
    field of the wrong type for `RunRecord`, a missing field a row needs, a bad setting."""
    problems = run_record_problems(record)
    problems += [f"missing key {name!r}" for name in RANKED_RECORD_FIELDS if name not in record]
    problems += field_problems(record, RANKED_FIELDS, required=True)
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
    if record["selected_weights"] not in WEIGHT_SETS:
        *others, last = map(repr, WEIGHT_SETS)
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
    size = len(record["classes"]["names"]) if is_specialist(record) else len(CLASS_NAMES)
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


def record_tags(record: dict) -> tuple[str, ...]:
    """The run's `--tag`s (an ensemble's record has none)."""
    config = record.get("config")
    return tuple(config.get("tags", ())) if isinstance(config, dict) else ()


def read_record(path: Path) -> tuple[dict | None, str | None]:
    """The record in `path`, upgraded to the current version, and None; or None and why the
    report cannot use it."""
    try:
        record = upgraded(read_json(path, "A record"))
    except UnreadableFileError as error:
        return None, f"unreadable (it {error.problem})"
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
    trials = [record for record in records if is_trial(record)]
    for record in records:
        if is_trial(record):
            continue
        if record["smoke_run"]:
            limit = record.get("config", {}).get("limit_train")
            excluded.append((record["run_name"], f"smoke run (--limit-train {limit})"))
        elif record["status"] != "completed":
            reason = record.get("error") or "no reason recorded"
            excluded.append((record["run_name"], f"{record['status']}: {reason}"))
        elif is_specialist(record):
            excluded.append((record["run_name"], specialist_description(record)))
        elif changes_nothing(record):
            excluded.append((record["run_name"], NO_CHANGE))
        else:
            ranked.append(record)
    ranked.sort(key=lambda r: (-r["test_accuracy"], -_best_val_accuracy(r), r["run_name"]))
    return ranked, sorted(excluded + studies_excluded(trials))


def studies_excluded(trials: list[dict]) -> list[tuple[str, str]]:
    """One (`<study>-trial<N>`, summary) per study among the trial records: a study's dozens of
    trials make one line of the unranked list, not dozens."""
    by_study: dict[str, list[dict]] = {}
    for record in trials:
        by_study.setdefault(record["trial"]["study"], []).append(record)
    return [(f"{study}-trial<N>", study_description(study, records))
            for study, records in by_study.items()]


def study_description(study: str, trials: list[dict]) -> str:
    """How many trials of `study` were recorded, by state, and the best on validation."""
    states: dict[str, int] = {}
    for record in trials:
        states[record["trial"]["state"]] = states.get(record["trial"]["state"], 0) + 1
    counts = ", ".join(f"{count} {state}" for state, count in sorted(states.items()))
    best = min(trials, key=lambda r: (-r["trial"]["value"], r["trial"]["number"]))["trial"]
    runs = "run" if len(trials) == 1 else "runs"
    return (f"{len(trials)} search trial {runs} of study {study} ({counts}; best validation "
            f"accuracy {best['value']:.4f}, trial {best['number']}): trials are scored on "
            "validation and have no test accuracy")


def specialist_description(record: dict) -> str:
    """Why a specialist is listed apart from the 10-class ranking, with its test accuracy."""
    names = ", ".join(record["classes"]["names"])
    return (f"specialist over {names}: test accuracy {record['test_accuracy']:.4f} on those "
            "classes' test images only, not comparable with the 10-class runs")


def _best_val_accuracy(record: dict) -> float:
    return record["val_accuracy"] if is_combined(record) else record["best_val_accuracy"]


def selected_candidate(record: dict) -> str:
    """The name of the weights the run selected, as in its record's keys and its predictions:
    `final`, `swa`, `ema`, or one of them with `_tta` (averaged with the mirrored images);
    `ensemble` for an ensemble, `combination` for a combination."""
    if is_combined(record):
        return record["kind"]
    return record["selected_weights"] + ("_tta" if record.get("selected_tta") else "")


def selected_val_accuracy(record: dict) -> float:
    """Validation accuracy of the weights the run selected (and evaluated on the test set), or of
    an ensemble or a combination; the best epoch's when a run's record does not hold it."""
    if is_combined(record):
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
    """The 10-class training runs among `records`, without ensembles, specialists and
    combinations, in the same order."""
    return [record for record in records if is_run(record)]
