"""Markdown tables and the formats of their cells, shared by every generated table.

Numbers have fixed formats and nothing depends on the time of writing, so the same records
always give the same text.
"""

import os
from pathlib import Path

import numpy as np
import pandas as pd

from evaluation.metrics import classification_report_frame
from evaluation.statistics import wilson_interval
from records.machine import record_machine
from records.reader import (
    is_combined,
    is_ensemble,
    selected_candidate,
    selected_val_accuracy,
)
from records.run_record import tta_words

# Leaderboard columns that hold numbers, right-aligned.
NUMERIC_COLUMNS = (
    "Epochs", "Params", "Val acc (best)", "Val acc (selected)", "Test acc (final)",
    "Test acc (SWA)", "Test acc (selected)", "95% CI", "Wall time",
)
LEADERBOARD_COLUMNS = (
    "Model", "Optimizer", "LR schedule", "Averaging", "Augmentation", "Epochs", "Params",
    "Val acc (best)", "Val acc (selected)", "Test acc (final)", "Test acc (SWA)",
    "Test acc (selected)", "95% CI", "Wall time", "Hardware", "Date",
)
TEST_IMAGES = 10_000  # the official test set, which every full run and ensemble is scored on


def format_accuracy(value: float | None) -> str:
    """'0.9221', or '-' for a value never measured."""
    return "-" if value is None else f"{value:.4f}"


def format_duration(seconds: float) -> str:
    """'45s', '9m 39s' or '1h 02m'."""
    minutes, seconds = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {seconds:02d}s" if minutes else f"{seconds}s"


def machine(record: dict) -> str:
    """The machine a run or benchmark record was made on (`records.machine.record_machine`: its
    machine key, e.g. 'AMD EPYC family 26 model 2, 2 cores, avx512_bf16', or in older records
    `system.cpu`, e.g. 'AMD EPYC (family 26, model 2), 2 cores')."""
    return record_machine(record) or "a machine it does not name"


def machines_sentence(named: list[tuple[str, dict]], verb: str = "Trained") -> str:
    """Which machine each record was made on, for the sentence under a table of times:
    'Trained on M.' when one machine made them all, else one clause per machine naming its
    records, and that their times compare only within one machine.

    Args:
        named: (how the table names a row, one of its records) pairs; a row whose records
            span machines is named under each of them.
        verb: the sentence's first word, e.g. "Measured".
    """
    by_machine: dict[str, list[str]] = {}
    for name, record in named:
        names = by_machine.setdefault(machine(record), [])
        if name not in names:
            names.append(name)
    if len(by_machine) == 1:
        return f"{verb} on {next(iter(by_machine))}."
    clauses = [f"{cpu} ({', '.join(names)})" for cpu, names in by_machine.items()]
    return (f"{verb} on {'; '.join(clauses[:-1])} and on {clauses[-1]}: times compare only "
            "within one machine.")


def relative_link(target: Path, start: Path) -> str:
    """The path of `target` relative to the folder `start`, as a markdown link target."""
    return Path(os.path.relpath(target, start)).as_posix()


def markdown_link(text: str, target: Path, start: Path) -> str:
    """`[text](target)` with `target` relative to the folder `start` of the linking file."""
    return f"[{text}]({relative_link(target, start)})"


def markdown_table(frame: pd.DataFrame, right_aligned=()) -> str:
    """A GitHub markdown table of `frame`'s string cells, its index as the first column."""
    header = [frame.index.name or "", *frame.columns]
    separator = ["---", *("---:" if column in right_aligned else "---" for column in frame.columns)]
    body = [[index, *row] for index, row in zip(frame.index, frame.itertuples(index=False))]
    lines = [header, separator, *body]
    return "\n".join("| " + " | ".join(_cell(value) for value in line) + " |" for line in lines)


def _cell(value) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


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


def averaging_description(record: dict) -> str:
    """The weight averages a run kept: 'SWA from epoch 30', 'EMA 0.999', both, or 'off'."""
    config = record["config"]
    parts = []
    if config["swa"]:
        reached = record.get("test_accuracy_swa") is not None  # else stopped before swa_start
        parts.append(f"SWA from epoch {config['swa_start']}" if reached else "SWA not reached")
    if config.get("ema"):
        parts.append(f"EMA {config['ema']:g}")
    return ", ".join(parts) or "off"


def epochs_description(record: dict) -> str:
    """'7', or '3 of 7' for a run that stopped early."""
    planned = record["config"]["epochs"]
    run = record["epochs_run"]
    return str(run) if run == planned else f"{run} of {planned}"


def selected_description(record: dict) -> str:
    """The test accuracy of the weights selected on validation, and which they were: '0.9221
    (swa)', '0.9301 (ema+tta)' with flip TTA, '0.9350 (ensemble)'."""
    if record.get("test_accuracy") is None:
        return "-"  # a failed run was never evaluated
    if is_combined(record):
        return f"{record['test_accuracy']:.4f} ({record['kind']})"
    return f"{record['test_accuracy']:.4f} ({selected_candidate(record).replace('_', '+')})"


def weights_description(record: dict) -> str:
    """'swa weights', or 'swa weights with flip TTA' (`tta_words`), for a run's selection."""
    text = f"{record['selected_weights']} weights"
    if not record.get("selected_tta"):
        return text
    return f"{text} with {tta_words(record.get('config') or {})}"


def accuracy_interval(accuracy: float) -> tuple[float, float]:
    """The 95% Wilson interval of a test accuracy measured on the 10,000 test images."""
    return wilson_interval(round(accuracy * TEST_IMAGES), TEST_IMAGES)


def interval_description(accuracy: float | None) -> str:
    """'0.9378-0.9470', the 95% interval of a test accuracy, or '-' for one never measured."""
    if accuracy is None:
        return "-"
    low, high = accuracy_interval(accuracy)
    return f"{low:.4f}-{high:.4f}"


def model_description(record: dict) -> str:
    """The run's model, 'ensemble of 3 runs', or 'RUN + specialist SPECIALIST'."""
    if not is_ensemble(record) and is_combined(record):
        return f"{record['generalist']} + specialist {record['specialist']}"
    if is_ensemble(record):
        count = len(record["members"])
        return f"ensemble of {count} run{'s' if count != 1 else ''}"
    return record["model"]


def selected_val_or_none(record: dict) -> float | None:
    """`selected_val_accuracy`, or None for a run that never selected weights."""
    if is_combined(record) or "selected_weights" in record:
        return selected_val_accuracy(record)
    return None


def leaderboard_frame(records: list[dict]) -> pd.DataFrame:
    """One row of display text per record, runs and ensembles, in the given order, indexed by
    run name.

    Failed runs get "-" for the test accuracies they never measured, ensembles for what only a
    training run has.
    """
    rows = [_ensemble_row(record) if is_combined(record) else _run_row(record)
            for record in records]
    index = pd.Index([record["run_name"] for record in records], name="Run")
    frame = pd.DataFrame(rows, index=index, columns=LEADERBOARD_COLUMNS)
    return frame.fillna("-")


def _run_row(record: dict) -> dict:
    return {
        "Model": record["model"],
        "Optimizer": record["optimizer"],
        "LR schedule": f"{record['config']['lr_schedule']} (lr {record['config']['lr']:g})",
        "Averaging": averaging_description(record),
        "Augmentation": augmentation_description(record["config"]),
        "Epochs": epochs_description(record),
        "Params": f"{record['params']:,}",
        "Val acc (best)": format_accuracy(record["best_val_accuracy"]),
        "Val acc (selected)": format_accuracy(selected_val_or_none(record)),
        "Test acc (final)": format_accuracy(record.get("test_accuracy_final")),
        "Test acc (SWA)": format_accuracy(record.get("test_accuracy_swa")),
        "Test acc (selected)": selected_description(record),
        "95% CI": interval_description(record.get("test_accuracy")),
        "Wall time": format_duration(record["wall_seconds"]),
        "Hardware": record["system"].get("hardware", "-"),
        "Date": record["finished"][:10],
    }


def _ensemble_row(record: dict) -> dict:
    return {
        "Model": model_description(record),
        "Val acc (selected)": format_accuracy(record["val_accuracy"]),
        "Test acc (selected)": selected_description(record),
        "95% CI": interval_description(record["test_accuracy"]),
        "Date": record["finished"][:10],
    }


def report_from_confusion(confusion, class_names) -> pd.DataFrame:
    """The classification report of the predictions that a confusion matrix counts."""
    confusion = np.asarray(confusion)
    true_labels, predicted_labels = np.indices(confusion.shape).reshape(2, -1)
    counts = confusion.ravel()
    return classification_report_frame(
        np.repeat(true_labels, counts), np.repeat(predicted_labels, counts), class_names
    )


def classification_report_table(report: pd.DataFrame) -> str:
    """A classification report as a markdown table: precision, recall, F1 and support."""
    formatted = pd.DataFrame(index=report.index.rename("Class"))
    for column in ("precision", "recall", "f1-score"):
        formatted[column] = [format_accuracy(None if pd.isna(v) else v) for v in report[column]]
    formatted["support"] = [str(int(v)) for v in report["support"]]
    return markdown_table(formatted, right_aligned=formatted.columns)
