"""The results report: a leaderboard of every run record, its figures, and the README section.

    python report.py                     # RESULTS_PATH records -> RESULTS_PATH/README.md, images/
    python -m evaluation.report --results results --images images --readme README.md

Reads `<results>/<run>/result.json` for every run folder (folders without one, such as
`benchmarks/`, are not runs). A record that cannot be read or lacks a required key is named on
stderr and skipped. Smoke runs (`--limit-train`) and failed runs are listed but not ranked. Runs
are ranked by the test accuracy of their selected weights; the weights themselves were chosen on
the validation split when each run finished.

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
RECORD_KEYS = {"run_name": str, "status": str, "smoke_run": bool}
# Needed only by ranked runs: failed and smoke runs are listed by name alone.
RANKED_RECORD_KEYS = {
    "model": str,
    "optimizer": str,
    "config": dict,
    "params": int,
    "epochs_run": int,
    "best_val_accuracy": _NUMBER,
    "history": dict,
    "wall_seconds": _NUMBER,
    "finished": str,
    "system": dict,
    "test_accuracy_final": _NUMBER,
    "test_accuracy": _NUMBER,
    "selected_weights": str,
    "confusion_matrix": list,
}
RANKED_CONFIG_KEYS = ("lr_schedule", "lr", "swa", "swa_start", "epochs", *AUGMENTATION_KNOBS)
NUMERIC_COLUMNS = (
    "Epochs", "Params", "Val acc (best)", "Test acc (final)", "Test acc (SWA)",
    "Test acc (selected)", "Wall time",
)


def record_problems(record) -> list[str]:
    """What keeps `record` out of the report: missing keys or values of the wrong type."""
    if not isinstance(record, dict):
        return [f"expected a JSON object, found {type(record).__name__}"]
    required = dict(RECORD_KEYS)
    if record.get("status") == "completed" and record.get("smoke_run") is False:
        required |= RANKED_RECORD_KEYS
    problems = [f"missing key {key!r}" for key in required if key not in record]
    problems += [
        f"{key!r} is {type(record[key]).__name__}, expected {_type_names(kind)}"
        for key, kind in required.items()
        if key in record and not _is_instance(record[key], kind)
    ]
    if not problems and "config" in required:
        problems += [f"missing key 'config.{key}'" for key in RANKED_CONFIG_KEYS
                     if key not in record["config"]]
    return problems


def _is_instance(value, kind) -> bool:
    # JSON true/false are Python bools, which are also ints: never accept them as numbers.
    if isinstance(value, bool) and kind is not bool:
        return False
    if isinstance(value, float) and not math.isfinite(value):
        return False
    return isinstance(value, kind)


def _type_names(kind) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(k.__name__ for k in kinds)


def read_records(results_dir: Path) -> tuple[list[dict], list[tuple[Path, str]]]:
    """Valid records in run-folder order, and (path, reason) for each record that is not valid."""
    records, skipped = [], []
    for path in sorted(Path(results_dir).glob("*/result.json")):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            skipped.append((path, f"unreadable ({error})"))
            continue
        problems = record_problems(record)
        if problems:
            skipped.append((path, "; ".join(problems)))
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
    """Validation accuracy of the weights the run selected (and evaluated on the test set)."""
    return record[f"val_accuracy_{record['selected_weights']}"]


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
                "Best first, by test accuracy of the selected weights (final or SWA, whichever "
                "had the higher validation accuracy). Val acc (best) is the best epoch's "
                "validation accuracy."
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
        best = ranked[0]
        parts += [
            f"## Best run: `{best['run_name']}`",
            f"Classification report on the test set ({best['selected_weights']} weights):",
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
        best = ranked[0]
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
