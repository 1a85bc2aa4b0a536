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
records rewrites identical bytes. Records are read and checked by `evaluation.record_reader`,
tables formatted by `evaluation.tables` and README sections written by `evaluation.sections`.
"""

import argparse
import sys
from pathlib import Path

import numpy as np

import config
from data.fashion_mnist import CLASS_NAMES
from evaluation.plots import accuracy_curves_figure, confusion_figure, figure_to_png
from evaluation.record_reader import (
    best_run,
    rank_records,
    read_records,
    selected_val_accuracy,
)
from evaluation.records import atomic_write_bytes, atomic_write_text
from evaluation.sections import GeneratedSection, section_markers, write_sections
from evaluation.tables import (
    NUMERIC_COLUMNS,
    classification_report_table,
    leaderboard_frame,
    markdown_table,
    relative_link,
    report_from_confusion,
)

LEADERBOARD = "leaderboard"  # the README section's name in its markers
README_START, README_END = section_markers(LEADERBOARD)
# The notebook and evaluation/export.py import leaderboard_frame, markdown_table and
# selected_val_accuracy from here; evaluation.tables and evaluation.record_reader define them.


def leaderboard_markdown(ranked: list[dict], excluded, images_dir: Path, base_dir: Path) -> str:
    """The leaderboard with its figure links (relative to `base_dir`), and the unranked runs."""
    curves = relative_link(images_dir / "accuracies.png", base_dir)
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
            f"![Validation accuracy per epoch]({curves})",
        ]
    if excluded:
        parts.append("Not ranked:\n\n" + "\n".join(f"- `{name}`: {why}" for name, why in excluded))
    return "\n\n".join(parts)


def results_readme(ranked: list[dict], excluded, images_dir: Path, results_dir: Path) -> str:
    """RESULTS_PATH/README.md: the leaderboard and the best run's classification report."""
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
            f"![Confusion matrix]({relative_link(images_dir / 'confusion.png', results_dir)})",
        ]
    return "\n\n".join(parts) + "\n"


def write_figures(ranked: list[dict], images_dir: Path) -> list[Path]:
    """Writes the ranked runs' validation curves and the best run's confusion matrix."""
    if not ranked:
        return []
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
    return list(figures)


def write_report(results_dir: Path, images_dir: Path, readme: Path) -> list[Path]:
    """Writes the results README, the figures and `readme`'s leaderboard section (when it has
    the markers); returns the paths written. Skipped records are named on stderr."""
    records, skipped = read_records(results_dir)
    for path, reason in skipped:
        print(f"warning: skipped {path}: {reason}", file=sys.stderr)
    ranked, excluded = rank_records(records)
    written = write_figures(ranked, images_dir)
    summary = results_dir / "README.md"
    atomic_write_text(summary, results_readme(ranked, excluded, images_dir, results_dir))
    written.append(summary)
    section = GeneratedSection(
        Path(readme.name),
        LEADERBOARD,
        lambda folder: leaderboard_markdown(ranked, excluded, images_dir, folder),
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
