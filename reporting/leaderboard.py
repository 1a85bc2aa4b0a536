"""The results report: a leaderboard of every run record, its figures, and the README section.

    python report.py                     # RESULTS_PATH records -> RESULTS_PATH/README.md, images/
    python -m reporting.leaderboard --results results --images images --readme README.md

Reads `<results>/<run>/result.json` for every run folder (folders without one, such as
`benchmarks/`, are not runs). A record that cannot be read, or lacks a field the report reads or
holds it with the wrong type or a NaN, is named on stderr with the reason and skipped. Smoke
runs (`--limit-train`) and failed runs are listed but not ranked; ensembles
(`python -m evaluation.ensemble`) are ranked beside the runs. The leaderboard is sorted by the
test accuracy of each run's selected weights, which were chosen on the validation split when the
run finished, with the 95% interval of each; McNemar's paired tests, from the runs' predictions,
say which neighbours the test set can tell apart. The best run (its classification report and
confusion matrix) is the one whose selected weights have the highest validation accuracy.

The outputs depend on the records (and the predictions and test images they point to) alone:
rows are sorted, numbers have fixed formats, nothing holds the time of writing, and PNGs carry no
software version, so regenerating from the same records rewrites identical bytes. Records are
read and checked by `records.reader`, predictions by `records.predictions`, tables formatted by
`reporting.tables` and `reporting.comparisons`, and README sections written by
`reporting.sections`.
"""

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import config
from data.fashion_mnist import CLASS_NAMES
from evaluation.calibration import reliability_bins
from evaluation.ensemble import PLAIN_AVERAGE
from outputs.io import atomic_write_bytes, atomic_write_text
from records.predictions import PredictedRuns, predicted_runs
from records.reader import (
    best_run,
    is_ensemble,
    rank_records,
    read_records,
    runs_only,
    selected_candidate,
    selected_val_accuracy,
)
from reporting.comparisons import (
    PER_CLASS_RUNS,
    figure_run,
    figures_markdown,
    paired_tests_markdown,
    seed_groups_markdown,
)
from reporting.label_noise import AGREED_CONFIDENCE, dataset_mistakes
from reporting.label_noise import FIGURE as DATASET_MISTAKES_FIGURE
from reporting.plots import (
    accuracy_curves_figure,
    agreed_mistakes_figure,
    confusion_figure,
    figure_to_png,
    mistakes_figure,
    per_class_figure,
    reliability_figure,
)
from reporting.sections import GeneratedSection, section_markers, write_sections
from reporting.specialist_report import FIGURE as SPECIALIST_FIGURE
from reporting.specialist_report import combinations, specialist_figure
from reporting.tables import (
    NUMERIC_COLUMNS,
    accuracy_interval,
    classification_report_table,
    leaderboard_frame,
    markdown_table,
    relative_link,
    report_from_confusion,
    weights_description,
)

LEADERBOARD = "leaderboard"  # the README section's name in its markers
README_START, README_END = section_markers(LEADERBOARD)
# The notebook imports leaderboard_frame and selected_val_accuracy from here;
# reporting.tables and records.reader define them.


@dataclass
class ReportInputs:
    """Everything the report reads, read once: the valid records, the skipped ones with why,
    the ranking, the unranked runs with why, and the ranked runs' predictions."""

    records: list[dict]
    skipped: list[tuple[Path, str]]
    ranked: list[dict]
    excluded: list[tuple[str, str]]
    predicted: PredictedRuns


def read_inputs(results_dir: Path, load_test_set=None) -> ReportInputs:
    """Reads the records and predictions in `results_dir`; `load_test_set` as in
    `records.predictions.predicted_runs`."""
    records, skipped = read_records(results_dir)
    ranked, excluded = rank_records(records)
    predicted = predicted_runs(ranked, results_dir, load_test_set)
    return ReportInputs(records, skipped, ranked, excluded, predicted)


def leaderboard_caption(ranked: list[dict]) -> str:
    """What the columns mean and what the order of the rows does and does not say."""
    top = ranked[0]["test_accuracy"]
    low, high = accuracy_interval(top)
    return (
        "Sorted by the test accuracy of the weights each run selected on validation: final, "
        "SWA or EMA, `+tta` where averaging with the prediction on the mirrored image scored "
        "higher. Val acc (best) is the best epoch's validation accuracy, Val acc (selected) "
        "that of the selected weights. 95% CI is the Wilson interval of the test accuracy on "
        f"the 10,000 test images ({low:.4f}-{high:.4f} around the top row's {top:.4f}). "
        "The order is not a ranking by itself: two rows whose paired test below has p > 0.05 "
        "are not different, and rows without predictions cannot be tested, so a gap inside "
        "their intervals does not make either better. The best run, whose classification "
        "report and confusion matrix follow, is the one with the highest Val acc (selected): "
        "chosen on the validation split, never on the test set."
    )


def ensembles_markdown(ranked: list[dict]) -> str | None:
    """Each ranked ensemble's members and weights, how they were chosen and, where the record
    holds it, the validation accuracy after each member was added; None without ensembles."""
    lines = []
    for record in ranked:
        if is_ensemble(record):
            members = sorted(record["members"].items(), key=lambda item: (-item[1], item[0]))
            weights = ", ".join(f"`{name}` {weight:.2f}" for name, weight in members)
            how = (
                "a plain average of the named runs"
                if record.get("method") == PLAIN_AVERAGE
                else f"chosen on validation from {len(record['library'])} runs"
            )
            steps = "; ".join(
                f"{step['val_accuracy']:.4f} with `{step['member']}`"
                for step in record.get("selection", [])
            )
            added = f"; validation accuracy as members were added: {steps}" if steps else ""
            lines.append(f"- `{record['run_name']}`: {weights}, {how}{added}")
    if not lines:
        return None
    return (
        "Ensembles (`python -m evaluation.ensemble`) average their members' probabilities with "
        "these weights. A chosen ensemble's Val acc is what its members were chosen to maximise, "
        "so the best run is never an ensemble:\n\n" + "\n".join(lines)
    )


def leaderboard_markdown(ranked: list[dict], excluded, images_dir: Path, base_dir: Path) -> str:
    """The leaderboard with its figure links (relative to `base_dir`), and the unranked runs."""
    curves = relative_link(images_dir / "accuracies.png", base_dir)
    if not ranked:
        parts = ["No completed full run yet: train one with `python train.py`."]
    else:
        parts = [
            markdown_table(leaderboard_frame(ranked), right_aligned=NUMERIC_COLUMNS),
            leaderboard_caption(ranked),
            ensembles_markdown(ranked),
            f"![Validation accuracy per epoch]({curves})",
        ]
    if excluded:
        parts.append("Not ranked:\n\n" + "\n".join(f"- `{name}`: {why}" for name, why in excluded))
    return "\n\n".join(part for part in parts if part)


def best_run_markdown(runs: list[dict], images_dir: Path, results_dir: Path) -> list[str]:
    """The best run's heading, why it was chosen, its classification report and confusion
    matrix."""
    best = best_run(runs)
    return [
        f"## Best run: `{best['run_name']}`",
        (
            f"Chosen by validation accuracy ({selected_val_accuracy(best):.4f}, "
            f"{weights_description(best)}). Classification report on the test set:"
        ),
        classification_report_table(report_from_confusion(best["confusion_matrix"],
                                                          CLASS_NAMES)),
        f"![Confusion matrix]({relative_link(images_dir / 'confusion.png', results_dir)})",
    ]


def results_readme(inputs: ReportInputs, images_dir: Path, results_dir: Path) -> str:
    """RESULTS_PATH/README.md: the leaderboard, the paired tests, the seed groups, the best
    run's classification report and the figures drawn from predictions."""
    parts = [
        "# Results",
        (
            "Generated from the run records in this folder by `python report.py`; edits by "
            "hand are overwritten."
        ),
        "## Leaderboard",
        leaderboard_markdown(inputs.ranked, inputs.excluded, images_dir, results_dir),
    ]
    runs = runs_only(inputs.ranked)
    if runs:
        parts += [
            "## Paired tests",
            paired_tests_markdown(inputs.predicted, results_dir, results_dir),
            "## Seeds",
            seed_groups_markdown(inputs.records),
            *best_run_markdown(runs, images_dir, results_dir),
            "## Per class, calibration and mistakes",
            figures_markdown(inputs.ranked, inputs.predicted, images_dir, results_dir),
        ]
    return "\n\n".join(parts) + "\n"


def report_figures(inputs: ReportInputs) -> dict:
    """The figures' file names and figures: validation curves, the best run's confusion
    matrix, the top runs' per-class accuracy, and, from the predictions of the best run that
    has them, its reliability diagram and most confident mistakes; from the best ensemble's,
    the test mistakes its members all share (`reporting.label_noise`); from the combinations
    with a specialist, the group's recall and confusion block before and after."""
    runs = runs_only(inputs.ranked)
    if not runs:
        return {}
    best = best_run(runs)
    figures = {
        "accuracies.png": accuracy_curves_figure(runs),
        "confusion.png": confusion_figure(
            np.asarray(best["confusion_matrix"]), CLASS_NAMES,
            f"{best['run_name']} ({weights_description(best)}), test set",
        ),
        "per-class.png": per_class_figure(
            {r["run_name"]: r["confusion_matrix"] for r in runs[:PER_CLASS_RUNS]}, CLASS_NAMES
        ),
    }
    chosen = figure_run(inputs.predicted)
    if chosen is not None:
        probabilities = inputs.predicted.probabilities[chosen["run_name"]]
        test_set = inputs.predicted.test_set
        title = f"{chosen['run_name']} ({selected_candidate(chosen)}), test set"
        figures["reliability.png"] = reliability_figure(
            reliability_bins(probabilities, test_set.labels), title
        )
        figures["mistakes.png"] = mistakes_figure(
            test_set.images, probabilities, test_set.labels, CLASS_NAMES, title
        )
    shared = dataset_mistakes(inputs.predicted)
    if shared is not None and len(shared.shown):
        test_set = inputs.predicted.test_set
        figures[DATASET_MISTAKES_FIGURE] = agreed_mistakes_figure(
            test_set.images, shared.probabilities, test_set.labels, shared.shown, CLASS_NAMES,
            f"{shared.ensemble['run_name']}, test set: wrong with probability "
            f">= {AGREED_CONFIDENCE:.2f}, every member agreeing",
        )
    found = combinations(inputs.records, inputs.predicted)
    if found:
        figures[SPECIALIST_FIGURE] = specialist_figure(found)
    return figures


def write_report(inputs: ReportInputs, results_dir: Path, images_dir: Path,
                 readme: Path) -> list[Path]:
    """Writes the figures, the results README and `readme`'s leaderboard section (when it has
    the markers); returns the paths written. Skipped records are named on stderr."""
    for path, reason in inputs.skipped:
        print(f"warning: skipped {path}: {reason}", file=sys.stderr)
    written = []
    for name, figure in report_figures(inputs).items():
        atomic_write_bytes(images_dir / name, figure_to_png(figure))
        written.append(images_dir / name)
    summary = results_dir / "README.md"
    atomic_write_text(summary, results_readme(inputs, images_dir, results_dir))
    written.append(summary)
    section = GeneratedSection(
        Path(readme.name),
        LEADERBOARD,
        lambda folder: leaderboard_markdown(inputs.ranked, inputs.excluded, images_dir, folder),
    )
    return written + write_sections([section], readme.parent)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Regenerate the leaderboard and its figures from the run records.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--results", type=Path, default=config.RESULTS_PATH,
                        help="folder of run folders (RESULTS_PATH)")
    parser.add_argument("--images", type=Path, default=config.REPO_ROOT / "images",
                        help="folder for the figures (accuracies.png, confusion.png, ...)")
    parser.add_argument("--readme", type=Path, default=config.REPO_ROOT / "README.md",
                        help="README whose leaderboard section (between the markers) is replaced")
    return parser


def main(argv=None, sections=None) -> int:
    """Writes the report; then, given `sections` (a function of the `ReportInputs` and the
    parsed arguments that returns `GeneratedSection`s), those sections beside the README."""
    args = build_parser().parse_args(argv)
    if not args.results.is_dir():
        print(f"error: the results folder {args.results} does not exist. Set RESULTS_PATH or "
              "pass --results.", file=sys.stderr)
        return 2
    inputs = read_inputs(args.results)
    for path in write_report(inputs, args.results, args.images, args.readme):
        print(f"wrote {path}")
    if sections is not None:
        for path in write_sections(sections(inputs, args), args.readme.parent):
            print(f"wrote the generated sections of {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
