"""The family tables and figure from the records of `experiments.family_table`'s runs: every
family at the equal-cost budget, the original rows at every budget tried, and validation accuracy
against training time for every family.
"""

import math
from functools import partial
from pathlib import Path

from experiments.family_table import (
    CURVES,
    CURVES_FIGURE,
    DOCS_PAGE,
    EQUAL_COST,
    EQUAL_COST_BUDGET,
    LONGEST_BUDGET,
    NARROW_MARGIN,
    ORIGINAL_ROWS,
    ROWS,
    FamilyRow,
)
from outputs.io import UnreadableFileError, read_json
from training.time_budget import format_duration

FAMILIES_SPEED = Path("benchmarks") / "families-speed.json"  # under RESULTS_PATH


def budget_runs(records: list[dict], row: FamilyRow) -> dict[float, list[dict]]:
    """The completed full runs of `row`'s preset that trained to a time budget, by budget
    (seconds), each budget's runs in seed order (the latest run of a seed)."""
    from evaluation.seeds import one_run_per_seed
    from records.reader import is_run

    found: dict[float, list[dict]] = {}
    for record in records:
        if (record.get("status") == "completed" and not record.get("smoke_run")
                and is_run(record) and record.get("time_budget")
                and (record.get("preset_chain") or [None])[0] == row.preset):
            found.setdefault(record["time_budget"]["seconds"], []).append(record)
    return {budget: one_run_per_seed(runs) for budget, runs in sorted(found.items())}


def mean_interval(values: list[float]) -> tuple[float, float | None]:
    """The mean and the half-width of its 95% Student-t interval (None for one value)."""
    from scipy import stats

    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, None
    deviation = math.sqrt(sum((value - mean) ** 2 for value in values) / (len(values) - 1))
    return mean, stats.t.ppf(0.975, len(values) - 1) * deviation / math.sqrt(len(values))


def accuracy_cell(values: list[float]) -> str:
    mean, half = mean_interval(values)
    return f"{mean:.4f}" if half is None else f"{mean:.4f} ± {half:.4f}"


def train_flops(results_dir: Path) -> dict[str, int]:
    """Training FLOPs per image by model, from the families record where there is one."""
    path = results_dir / FAMILIES_SPEED
    try:
        record = read_json(path, "The families record") if path.exists() else {}
    except UnreadableFileError:
        return {}
    return {row["model"]: row["after"]["flops_per_image_train"] for row in record.get("rows", ())}


def _span(values) -> str:
    values = sorted(set(values))
    return "-".join(map(str, values[:1] + values[1:][-1:]))


def epochs_cell(runs: list[dict]) -> str:
    """The epochs the runs trained ("3", or "3-4" where seeds differ), with the passes over the
    training images where a budget made the epochs shorter than a pass: "2 (1.65 passes)"."""
    epochs = _span(run["epochs_run"] for run in runs)
    plans = [run["time_budget"] for run in runs if run["time_budget"].get("passes")]
    if not any(plan["passes"] < plan["epochs"] - 1e-9 for plan in plans):
        return epochs
    passes = _span(round(plan['passes'], 2) for plan in plans)
    return f"{epochs} ({passes} passes)"


def _equal_cost_cells(row: FamilyRow, runs: list[dict], flops: dict[str, int]) -> list[str]:
    from records.machine import record_alone
    from reporting.tables import format_duration as duration

    original = "-" if row.original is None else f"{row.original:.4f}"
    if not runs:
        return [original, "not run yet", "-", "-", "-", "-", "-", "-"]
    alone = [run for run in runs if record_alone(run) is not False]
    model = runs[0]["model"]
    return [
        original,
        accuracy_cell([run["test_accuracy"] for run in runs]),
        str(len(runs)),
        duration(sum(run["train_seconds"] for run in alone) / len(alone)) if alone else "-",
        epochs_cell(runs),
        f"{sum(run['images_per_second'] for run in alone) / len(alone):,.0f}" if alone else "-",
        f"{runs[0]['params']:,}",
        f"{flops[model] / 1e6:,.0f}" if model in flops else "-",
    ]


def equal_cost_markdown(records: list[dict], results_dir: Path, base_dir: Path) -> str:
    """Every family at `EQUAL_COST_BUDGET`: the original's number, the test accuracy's mean
    with its 95% interval over the seeds, the training time, epochs, images/s, parameters and
    training FLOPs per image; then the machines the runs trained on."""
    import pandas as pd

    from reporting.tables import machines_sentence, markdown_table

    rows, named = [], []
    flops = train_flops(results_dir)
    for row in ROWS:
        runs = budget_runs(records, row).get(EQUAL_COST_BUDGET, [])
        named += [(row.label, run) for run in runs]
        rows.append(_equal_cost_cells(row, runs, flops))
    columns = ("Original (picked on test)", "Test acc, mean ± 95% interval", "Seeds",
               "Training time", "Epochs", "Images/s", "Parameters", "Training MFLOP per image")
    frame = pd.DataFrame(rows, index=pd.Index([row.label for row in ROWS], name="Family"),
                         columns=columns)
    budget = format_duration(EQUAL_COST_BUDGET)
    return (
        f"{markdown_table(frame, right_aligned=columns)}\n\n"
        f"Each family's recipe preset trained with `--time-budget {budget}` (`python -m "
        f"experiments.family_table --budget {budget} --seeds 3`), the weights and test-time "
        "augmentation chosen on validation; the interval is Student's t over the seeds. The "
        "training time and images/s leave out runs that shared the cores. "
        f"{machines_sentence(named) if named else ''}"
    ).rstrip()


def _original_row_cells(row: FamilyRow, budget: float, runs: list[dict]) -> list[str]:
    from records.machine import record_alone
    from records.reader import selected_val_accuracy

    tests = [run["test_accuracy"] for run in runs]
    mean, _ = mean_interval(tests)
    margin = mean - row.original
    if margin < 0:
        verdict = f"below by {-margin:.4f}"
    elif margin < NARROW_MARGIN and len(runs) < 3:
        verdict = f"above by {margin:.4f}: within {NARROW_MARGIN}, needs 3 seeds"
    else:
        verdict = f"passes by {margin:.4f}"
    shared = sum(record_alone(run) is False for run in runs)
    return [
        f"{row.original:.4f}",
        format_duration(budget) + (f" ({shared} shared)" if shared else ""),
        str(len(runs)),
        ", ".join(str(run["epochs_run"]) for run in runs),
        accuracy_cell(tests),
        f"{sum(selected_val_accuracy(run) for run in runs) / len(runs):.4f}",
        verdict if budget <= LONGEST_BUDGET else f"{verdict} (over {LONGEST_BUDGET / 60:.0f} min)",
    ]


def original_rows_markdown(records: list[dict]) -> str:
    """Each original row on the recipe at every budget tried, shortest first: what it reached
    and whether that passes the original's number."""
    import pandas as pd

    from reporting.tables import machines_sentence, markdown_table

    rows, index, named = [], [], []
    for row in (row for row in ROWS if row.original is not None):
        by_budget = budget_runs(records, row)
        for budget, runs in by_budget.items():
            index.append(row.label)
            rows.append(_original_row_cells(row, budget, runs))
            named += [(row.label, run) for run in runs]
        if not by_budget:
            index.append(row.label)
            rows.append([f"{row.original:.4f}", "not run yet", *["-"] * 5])
    columns = ("Original (picked on test)", "Time budget", "Seeds", "Epochs", "Test acc",
               "Val acc (selected)", "Against the original")
    frame = pd.DataFrame(rows, index=pd.Index(index, name="Row"), columns=columns)
    return (
        f"{markdown_table(frame, right_aligned=columns[:6])}\n\n"
        "The original repository's rows on the recipe, each budget tried (`python -m "
        "experiments.family_table --budget B --families MODEL --seeds 1`); the test accuracy is "
        "the weights chosen on validation, the mean over the seeds with its 95% interval where "
        "there are several. The original numbers were picked on the test set. "
        f"{machines_sentence(named) if named else ''}"
    ).rstrip()


def curve_runs(records: list[dict]) -> list[tuple[str, dict]]:
    """(label, run) per family: its first seed at its longest budget."""
    curves = []
    for row in ROWS:
        by_budget = budget_runs(records, row)
        if by_budget:
            budget, runs = max(by_budget.items())
            curves.append((f"{row.label}, {format_duration(budget)}", runs[0]))
    return curves


def curves_markdown(records: list[dict], images_dir: Path, base_dir: Path) -> str:
    """Writes the figure of validation accuracy against training time and links it."""
    from reporting.plots import accuracy_against_time_figure, figure_to_png
    from reporting.tables import relative_link

    curves = curve_runs(records)
    if not curves:
        return "No family has a budget run yet: `python -m experiments.family_table`."
    path = images_dir / CURVES_FIGURE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(figure_to_png(accuracy_against_time_figure(curves)))
    image = f"![Validation accuracy against training time]({relative_link(path, base_dir)})"
    return f"{image}\n\n" + (
        "Each family's first seed at its longest time budget: validation accuracy after each "
        "epoch against the training seconds spent so far (from the records' histories)."
    )


def generated_sections(records: list[dict], results_dir: Path, images_dir: Path) -> list:
    """The sections of docs/experiments.md; the README's equal-cost table is `equal_cost_markdown`
    of the records that trace to a commit (report.py)."""
    from reporting.sections import GeneratedSection

    return [
        GeneratedSection(DOCS_PAGE, EQUAL_COST,
                         partial(equal_cost_markdown, records, results_dir)),
        GeneratedSection(DOCS_PAGE, ORIGINAL_ROWS, lambda folder: original_rows_markdown(records)),
        GeneratedSection(DOCS_PAGE, CURVES,
                         partial(curves_markdown, records, images_dir)),
    ]
