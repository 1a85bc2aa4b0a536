"""Every model family on the current recipe at equal training time, and the original
repository's rows at the training time each needs.

    python -m experiments.family_table --budget 10m --seeds 3 --dry-run   # print the commands
    python -m experiments.family_table --budget 10m --seeds 3             # the equal-cost runs
    python -m experiments.family_table --budget 1h --families wrn-16-4    # one row, longer
    python report.py                                                      # the tables

Each row (`ROWS`) is a family's recipe preset trained with `train.py --time-budget`, which
measures the run's speed first and trains the epochs that fit (`training.time_budget`). A run is
named `<preset>-<budget>-seed<k>` and runs as one `train.py` command in its own process
(`experiments.runner`), so an interrupted batch continues where it stopped.

The tables read every completed budget run of a row's preset, whatever its name: the equal-cost
table the runs of `EQUAL_COST_BUDGET`, the original rows' table every budget tried, so a budget
that fell short stays in view beside the one that passed.
"""

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

from experiments.runner import train_each
from training.time_budget import format_duration, parse_duration

DOCS_PAGE = Path("docs") / "experiments.md"  # relative to the repository root
EQUAL_COST = "equal-cost"  # names of the generated sections
ORIGINAL_ROWS = "original-rows"
CURVES = "family-curves"
CURVES_FIGURE = "families-accuracy-against-time.png"
EQUAL_COST_BUDGET = 600.0
# At most this much training for an original row; with a margin below this, three seeds.
LONGEST_BUDGET = 5400.0
NARROW_MARGIN = 0.003


@dataclass(frozen=True)
class FamilyRow:
    """One family: its label, the original repository's number and the preset that trains it.

    Args:
        label: the family as tables name it (the original table's row where it has one).
        preset: its recipe preset (`presets/<preset>.toml`).
        original: the original repository's test accuracy (picked on the test set), or None
            for the families it did not have.
    """

    label: str
    preset: str
    original: float | None

    def run_name(self, budget_seconds: float, seed: int) -> str:
        return f"{self.preset}-{format_duration(budget_seconds)}-seed{seed}"

    @property
    def model(self) -> str:
        from training.presets import compose

        return compose(preset=self.preset).config.model.name


ROWS = (
    FamilyRow("CapsuleNet / Adam", "capsnet-recipe", 0.9465),
    FamilyRow("Wide ResNet 16-4 / Adam", "wrn-16-4-recipe", 0.9392),
    FamilyRow("MobileNetV2 / Adam", "mobilenet-v2-recipe", 0.9247),
    FamilyRow("ShuffleNetV2 / RMSProp + cyclic LR", "shufflenet-v2-recipe", 0.9060),
    FamilyRow("Simple CNN / Adam", "simple-cnn-recipe", 0.9207),
    FamilyRow("fast-cnn-small (the default)", "default", None),
    FamilyRow("fast-cnn", "fast-cnn", None),
)


def get_rows(models: list[str] | None) -> list[FamilyRow]:
    """The rows of `models` (registered model names), all of them for None."""
    if models is None:
        return list(ROWS)
    by_model = {row.model: row for row in ROWS}
    unknown = [model for model in models if model not in by_model]
    if unknown:
        raise ValueError(f"No row trains {', '.join(unknown)}; the rows' models: "
                         f"{', '.join(by_model)}. Received: {','.join(models)}")
    return [by_model[model] for model in models]


def runs(rows: list[FamilyRow], budget: float, seeds: int) -> list[tuple[str, str, list[str]]]:
    """(run name, label, `train.py` arguments) of every run of `rows` (`runner.train_each`), seed
    by seed, so an unfinished batch has every row at fewer seeds rather than some rows at none."""
    planned = []
    for seed in range(seeds):
        for row in rows:
            name = row.run_name(budget, seed)
            argv = ["train.py", "--preset", row.preset, "--time-budget",
                    format_duration(budget), "--seed", str(seed), "--run-name", name]
            planned.append((name, name, argv))
    return planned


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", default=format_duration(EQUAL_COST_BUDGET),
                        help="training time of every run, as train.py's --time-budget "
                             "(default: %(default)s, the equal-cost table's)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 (default: 3)")
    parser.add_argument("--families", default=None, metavar="MODEL[,MODEL...]",
                        help="only the rows of these models (default: every row)")
    parser.add_argument("--dry-run", action="store_true", help="print the commands and exit")
    args = parser.parse_args(argv)
    try:
        args.budget = parse_duration(args.budget, "--budget")
    except ValueError as error:
        parser.error(f"argument --budget: {error}")
    if args.seeds < 1:
        parser.error(f"argument --seeds: must be >= 1. Received: {args.seeds}")
    try:
        args.rows = get_rows(args.families.split(",") if args.families else None)
    except ValueError as error:
        parser.error(f"argument --families: {error}")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    return 1 if train_each(runs(args.rows, args.budget, args.seeds), args.dry_run) else 0


if __name__ == "__main__":
    sys.exit(main())
