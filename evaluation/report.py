"""The results report: a leaderboard of every run record, its figures, and the README section.

    python report.py                     # RESULTS_PATH records -> RESULTS_PATH/README.md, images/
    python -m evaluation.report --results results --images images --readme README.md

Reads `<results>/<run>/result.json` for every run folder (folders without one, such as
`benchmarks/`, are not runs). A record that cannot be read, or lacks a field the report reads or
holds it with the wrong type or a NaN, is named on stderr with the reason and skipped. Smoke
runs (`--limit-train`) and failed runs are listed but not ranked. The leaderboard is sorted by
the test accuracy of each run's selected weights, which were chosen on the validation split when
the run finished; the best run (its classification report and confusion matrix) is the one
whose selected weights have the highest validation accuracy.

The outputs depend on the records alone: rows are sorted, numbers have fixed formats, nothing
holds the time of writing, and PNGs carry no software version, so regenerating from the same
records rewrites identical bytes.
"""

import argparse
import json
import math
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

import config
from data.fashion_mnist import CLASS_NAMES
from evaluation.metrics import classification_report_frame
from evaluation.plots import accuracy_curves_figure, confusion_figure, figure_to_png
from evaluation.records import atomic_write_bytes, atomic_write_text

README_START = "<!-- leaderboard:start -->"
README_END = "<!-- leaderboard:end -->"
AUGMENTATION_KNOBS = (
    "rotation_range", "zoom_range", "width_shift_range", "height_shift_range", "horizontal_flip",
    "random_erasing",
)

_NUMBER = (int, float)
_OPTIONAL_NUMBER = (int, float, type(None))
SELECTABLE_WEIGHTS = ("final", "swa")
# Every field the report reads, by dotted path (one level of nesting) and JSON type. Required
# by every record:
RECORD_FIELDS = {"run_name": str, "status": str, "smoke_run": bool}
# Read from any record that has them: why a run failed, a smoke run's subset size.
OPTIONAL_FIELDS = {"error": str, "config": dict, "config.limit_train": (int, type(None))}
# Required by ranked runs (completed, not smoke), which fill the leaderboard and the seed table.
RANKED_FIELDS = {
    "model": str,
    "optimizer": str,
    "config": dict,
    "config.lr_schedule": str,
    "config.lr": _NUMBER,
    "config.swa": bool,
    "config.swa_start": int,
    "config.epochs": int,
    **{f"config.{knob}": _NUMBER for knob in AUGMENTATION_KNOBS},
    "params": int,
    "epochs_run": int,
    "best_val_accuracy": _NUMBER,
    "history": dict,
    "train_seconds": _NUMBER,
    "wall_seconds": _NUMBER,
    "finished": str,
    "system": dict,
    "test_accuracy_final": _NUMBER,
    "test_accuracy": _NUMBER,
    "selected_weights": str,
    "confusion_matrix": list,
}
# Read from ranked runs when present (SWA runs, records that hold the selected weights' val).
RANKED_OPTIONAL_FIELDS = {
    "test_accuracy_swa": _OPTIONAL_NUMBER,
    "val_accuracy_final": _OPTIONAL_NUMBER,
    "val_accuracy_swa": _OPTIONAL_NUMBER,
    "system.hardware": str,
}
NUMERIC_COLUMNS = (
    "Epochs", "Params", "Val acc (best)", "Val acc (selected)", "Test acc (final)",
    "Test acc (SWA)", "Test acc (selected)", "Wall time",
)


def record_problems(record) -> list[str]:
    """What keeps `record` out of the report: missing fields, values of the wrong type, NaN or
    infinite numbers, unknown selected weights, a malformed history or confusion matrix."""
    if not isinstance(record, dict):
        return [f"expected a JSON object, found {_json_type(record)}"]
    problems = _field_problems(record, RECORD_FIELDS, required=True)
    problems += _field_problems(record, OPTIONAL_FIELDS, required=False)
    if problems or record["status"] != "completed" or record["smoke_run"]:
        return problems
    problems = _field_problems(record, RANKED_FIELDS, required=True)
    problems += _field_problems(record, RANKED_OPTIONAL_FIELDS, required=False)
    return problems or _content_problems(record)


def _field_problems(record: dict, fields: dict, required: bool) -> list[str]:
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
        problems.append(f"'selected_weights' is {record['selected_weights']!r}, expected "
                        f"{' or '.join(map(repr, SELECTABLE_WEIGHTS))}")
    for epoch, logs in record["history"].items():
        if not epoch.isdigit():
            problems.append(f"'history' has the key {epoch!r}, expected epoch numbers")
        elif not isinstance(logs, dict):
            problems += _value_problems(f"history.{epoch}", logs, dict)
        elif "val_accuracy" in logs:
            problems += _value_problems(f"history.{epoch}.val_accuracy", logs["val_accuracy"],
                                        _OPTIONAL_NUMBER)
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
    ranked.sort(key=lambda r: (-r["test_accuracy"], -r["best_val_accuracy"], r["run_name"]))
    return ranked, sorted(excluded)


def selected_val_accuracy(record: dict) -> float:
    """Validation accuracy of the weights the run selected (and evaluated on the test set); the
    best epoch's when the record does not hold it."""
    value = record.get(f"val_accuracy_{record['selected_weights']}")
    return record["best_val_accuracy"] if value is None else value


def best_run(ranked: list[dict]) -> dict:
    """The run whose selected weights have the highest validation accuracy: the test set, seen
    once per run, never picks it. Ties go to the higher best-epoch validation accuracy, then to
    the run name."""
    return min(
        ranked,
        key=lambda r: (-selected_val_accuracy(r), -r["best_val_accuracy"], r["run_name"]),
    )


def _accuracy(value) -> str:
    return "-" if value is None else f"{value:.4f}"


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {seconds:02d}s" if minutes else f"{seconds}s"


def augmentation_description(settings: dict) -> str:
    """Short text for the augmentation knobs of a run config, e.g. 'flip 0.5, shift 0.1'."""
    parts = []
    if settings["horizontal_flip"]:
        parts.append(f"flip {settings['horizontal_flip']:g}")
    if settings["rotation_range"]:
        parts.append(f"rotate {settings['rotation_range']:g} deg")
    if settings["zoom_range"]:
        parts.append(f"zoom {settings['zoom_range']:g}")
    width, height = settings["width_shift_range"], settings["height_shift_range"]
    if width == height and width:
        parts.append(f"shift {width:g}")
    elif width or height:
        parts.append(f"shift {width:g} x {height:g}")
    if settings["random_erasing"]:
        parts.append(f"erase {settings['random_erasing']:g}")
    return ", ".join(parts) or "none"


def _swa_description(record: dict) -> str:
    if not record["config"]["swa"]:
        return "off"
    if record.get("test_accuracy_swa") is None:
        return "not reached"  # stopped before swa_start
    return f"from epoch {record['config']['swa_start']}"


def _epochs_description(record: dict) -> str:
    planned = record["config"]["epochs"]
    run = record["epochs_run"]
    return str(run) if run == planned else f"{run} of {planned}"


def _selected_description(record: dict) -> str:
    if record.get("test_accuracy") is None:
        return "-"  # a failed run was never evaluated
    return f"{record['test_accuracy']:.4f} ({record['selected_weights']})"


def _selected_val_or_none(record: dict) -> float | None:
    return selected_val_accuracy(record) if "selected_weights" in record else None


def leaderboard_frame(records: list[dict]) -> pd.DataFrame:
    """One row of display text per run record, in the given order, indexed by run name.

    Failed runs get "-" for the test accuracies they never measured.
    """
    rows = [
        {
            "Model": record["model"],
            "Optimizer": record["optimizer"],
            "LR schedule": f"{record['config']['lr_schedule']} (lr {record['config']['lr']:g})",
            "SWA": _swa_description(record),
            "Augmentation": augmentation_description(record["config"]),
            "Epochs": _epochs_description(record),
            "Params": f"{record['params']:,}",
            "Val acc (best)": _accuracy(record["best_val_accuracy"]),
            "Val acc (selected)": _accuracy(_selected_val_or_none(record)),
            "Test acc (final)": _accuracy(record.get("test_accuracy_final")),
            "Test acc (SWA)": _accuracy(record.get("test_accuracy_swa")),
            "Test acc (selected)": _selected_description(record),
            "Wall time": _duration(record["wall_seconds"]),
            "Hardware": record["system"].get("hardware", "-"),
            "Date": record["finished"][:10],
        }
        for record in records
    ]
    index = pd.Index([record["run_name"] for record in records], name="Run")
    return pd.DataFrame(rows, index=index, columns=list(rows[0]) if rows else None)


def report_from_confusion(confusion, class_names) -> pd.DataFrame:
    """The classification report of the predictions that a confusion matrix counts."""
    confusion = np.asarray(confusion)
    true_labels, predicted_labels = np.indices(confusion.shape).reshape(2, -1)
    counts = confusion.ravel()
    return classification_report_frame(
        np.repeat(true_labels, counts), np.repeat(predicted_labels, counts), class_names
    )


def markdown_table(frame: pd.DataFrame, right_aligned=()) -> str:
    """A GitHub markdown table of `frame`'s string cells, its index as the first column."""
    header = [frame.index.name or "", *frame.columns]
    separator = ["---", *("---:" if column in right_aligned else "---" for column in frame.columns)]
    body = [[index, *row] for index, row in zip(frame.index, frame.itertuples(index=False))]
    lines = [header, separator, *body]
    return "\n".join("| " + " | ".join(_cell(value) for value in line) + " |" for line in lines)


def _cell(value) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def classification_report_table(report: pd.DataFrame) -> str:
    formatted = pd.DataFrame(index=report.index.rename("Class"))
    for column in ("precision", "recall", "f1-score"):
        formatted[column] = [_accuracy(None if pd.isna(v) else v) for v in report[column]]
    formatted["support"] = [str(int(v)) for v in report["support"]]
    return markdown_table(formatted, right_aligned=formatted.columns)


def _link(target: Path, start: Path) -> str:
    return Path(os.path.relpath(target, start)).as_posix()


def leaderboard_markdown(ranked: list[dict], excluded, images_dir: Path, base_dir: Path) -> str:
    """The leaderboard with its figure links (relative to `base_dir`), and the unranked runs."""
    if not ranked:
        parts = ["No completed full run yet: train one with `python train.py`."]
    else:
        parts = [
            markdown_table(leaderboard_frame(ranked), right_aligned=NUMERIC_COLUMNS),
            (
                "Sorted by test accuracy of the selected weights (final or SWA, whichever had "
                "the higher validation accuracy). Val acc (best) is the best epoch's validation "
                "accuracy, Val acc (selected) that of the selected weights. The best run, whose "
                "classification report and confusion matrix follow, is the one with the highest "
                "Val acc (selected): chosen on the validation split, never on the test set."
            ),
            f"![Validation accuracy per epoch]({_link(images_dir / 'accuracies.png', base_dir)})",
        ]
    if excluded:
        parts.append("Not ranked:\n\n" + "\n".join(f"- `{name}`: {why}" for name, why in excluded))
    return "\n\n".join(parts)


def results_readme(ranked: list[dict], excluded, images_dir: Path, results_dir: Path) -> str:
    parts = [
        "# Results",
        (
            "Generated from the run records in this folder by `python report.py`; edits by "
            "hand are overwritten."
        ),
        "## Leaderboard",
        leaderboard_markdown(ranked, excluded, images_dir, results_dir),
    ]
    if ranked:
        best = best_run(ranked)
        parts += [
            f"## Best run: `{best['run_name']}`",
            (
                f"Chosen by validation accuracy ({selected_val_accuracy(best):.4f}, "
                f"{best['selected_weights']} weights). Classification report on the test set:"
            ),
            classification_report_table(report_from_confusion(best["confusion_matrix"],
                                                              CLASS_NAMES)),
            f"![Confusion matrix]({_link(images_dir / 'confusion.png', results_dir)})",
        ]
    return "\n\n".join(parts) + "\n"


def replace_marked_section(
    text: str, content: str, start_marker: str = README_START, end_marker: str = README_END
) -> str | None:
    """`text` with the part between the markers (the leaderboard's by default) replaced by
    `content`.

    None when the markers are not there exactly once each, start before end.
    """
    start, end = text.find(start_marker), text.find(end_marker)
    if text.count(start_marker) != 1 or text.count(end_marker) != 1 or end < start:
        return None
    return f"{text[:start + len(start_marker)]}\n{content}\n{text[end:]}"


def update_readme_section(readme: Path, content: str, start_marker: str, end_marker: str) -> bool:
    """Writes `content` between the markers in `readme` (atomically, only when it changes);
    False, leaving the file alone, when the markers are missing or malformed."""
    text = readme.read_text(encoding="utf-8")
    updated = replace_marked_section(text, content, start_marker, end_marker)
    if updated is None:
        return False
    if updated != text:
        atomic_write_text(readme, updated)
    return True


def write_report(results_dir: Path, images_dir: Path, readme: Path) -> list[Path]:
    """Writes the results README, the figures and `readme`'s leaderboard section (when it has
    the markers); returns the paths written. Skipped records are named on stderr."""
    records, skipped = read_records(results_dir)
    for path, reason in skipped:
        print(f"warning: skipped {path}: {reason}", file=sys.stderr)
    ranked, excluded = rank_records(records)
    written = []
    if ranked:
        best = best_run(ranked)
        figures = {
            images_dir / "accuracies.png": accuracy_curves_figure(ranked),
            images_dir / "confusion.png": confusion_figure(
                np.asarray(best["confusion_matrix"]), CLASS_NAMES,
                f"{best['run_name']} ({best['selected_weights']} weights), test set",
            ),
        }
        for path, figure in figures.items():
            atomic_write_bytes(path, figure_to_png(figure))
            written.append(path)
    summary = results_dir / "README.md"
    atomic_write_text(summary, results_readme(ranked, excluded, images_dir, results_dir))
    written.append(summary)
    if readme.exists():
        text = readme.read_text(encoding="utf-8")
        section = leaderboard_markdown(ranked, excluded, images_dir, readme.parent)
        updated = replace_marked_section(text, section)
        if updated is not None:
            atomic_write_text(readme, updated)
            written.append(readme)
        elif README_START in text or README_END in text:
            print(f"warning: {readme} was not changed: it needs {README_START} and {README_END} "
                  "once each, in that order", file=sys.stderr)
    return written


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Regenerate the leaderboard and its figures from the run records.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--results", type=Path, default=config.RESULTS_PATH,
                        help="folder of run folders (RESULTS_PATH)")
    parser.add_argument("--images", type=Path, default=config.REPO_ROOT / "images",
                        help="folder for accuracies.png and confusion.png")
    parser.add_argument("--readme", type=Path, default=config.REPO_ROOT / "README.md",
                        help="README whose leaderboard section (between the markers) is replaced")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if not args.results.is_dir():
        print(f"error: the results folder {args.results} does not exist. Set RESULTS_PATH or "
              "pass --results.", file=sys.stderr)
        return 2
    for path in write_report(args.results, args.images, args.readme):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
