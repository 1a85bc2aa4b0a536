"""Regenerate everything generated from the records: the leaderboard (RESULTS_PATH/README.md and
the figures in images/) and every table between `<!-- NAME:start -->` and `<!-- NAME:end -->`
in README.md and docs/*.md (`generated_sections` lists them: file, name, what writes it).

    python report.py [--results DIR] [--images DIR] [--readme FILE]

The pages of docs/ are those in the docs folder beside --readme; a file that is missing or has
no markers is left alone.
"""

import os
import sys
from functools import partial
from pathlib import Path

# The runs that the README and docs/ describe by name.
# `python -m benchmarks.race --seeds 5`: `python train.py` with every default, seeds 0-4, trained
# right after the previous default (`previous-default`).
DEFAULT_SEED_RUNS = tuple(f"default-seed{seed}" for seed in range(5))
PREVIOUS_DEFAULT_RUN = "previous-default"
PRECISION_RUNS = ("precision-fast-cnn-small-float32", "precision-fast-cnn-small-mixed_bfloat16")
EARLIER_PRECISION_RUNS = (
    "precision-simple-cnn-bn-float32",
    "precision-simple-cnn-bn-mixed_bfloat16",
)
SHORT_DEFAULT_RUNS = ("fast-cnn-small-2-epochs", PRECISION_RUNS[1])  # 2 and 3 epochs
DEFAULT_RUNS = (  # then the previous default, its first record, and two earlier versions of it
    DEFAULT_SEED_RUNS[0],
    PREVIOUS_DEFAULT_RUN,
    "default-run",
    "simple-cnn-bn-adam-20261128-122416",
    "simple-cnn-bn-adam-20261128-114906",
)
SHORT_RUNS = (  # 2 epochs on 10,000 images per family
    "capsnet-adam-20261128-125818",
    "mobilenet-v2-adam-20261128-124422",
    "shufflenet-v2-1.0-adam-20261128-125443",
    "wrn-16-4-adam-20261128-123523",
)
FAST_RECIPE_RUNS = (
    "fast-cnn-recipe",
    DEFAULT_SEED_RUNS[0],
    PREVIOUS_DEFAULT_RUN,
    "seed-simple-cnn-adam-cosine-noswa",
)
RESOLUTION_RUNS = (
    "resolution-mobilenet-v2-28",
    "resolution-mobilenet-v2-56",
    "resolution-mobilenet-v2-28-8-epochs",
)


def generated_sections(results_dir: Path, readme: Path, inputs, images_dir: Path) -> list:
    """Every generated section, with paths relative to the README's folder; `inputs` are the
    records and predictions the report read (`evaluation.report.ReportInputs`), `images_dir`
    the folder of its figures."""
    from benchmarks import summary
    from evaluation import comparisons, export, run_tables
    from evaluation.sections import GeneratedSection
    from experiments import seed_table

    experiments, benchmarks = Path("docs") / "experiments.md", Path("docs") / "benchmarks.md"
    bench_dir = results_dir / "benchmarks"

    def comparison(run_names):
        return partial(run_tables.comparison_table, results_dir, run_names=run_names)

    quick_start = partial(
        run_tables.default_run_markdown, results_dir, default_runs=DEFAULT_SEED_RUNS,
        float32_run=PRECISION_RUNS[0], bfloat16_run=PRECISION_RUNS[1],
    )
    return [
        GeneratedSection(readme, "quick-start", quick_start),
        GeneratedSection(readme, "race", partial(summary.race_sentence, bench_dir)),
        GeneratedSection(readme, "top-runs", partial(run_tables.top_runs_markdown, results_dir)),
        GeneratedSection(readme, "seed-groups",
                         lambda folder: comparisons.seed_groups_markdown(inputs.records)),
        GeneratedSection(experiments, "paired-tests", partial(
            comparisons.paired_tests_markdown, inputs.predicted, results_dir)),
        GeneratedSection(experiments, "seed-groups",
                         lambda folder: comparisons.seed_groups_markdown(inputs.records)),
        GeneratedSection(experiments, "figures", partial(
            comparisons.figures_markdown, inputs.ranked, inputs.predicted, images_dir)),
        GeneratedSection(experiments, "default-runs", comparison(run_names=DEFAULT_RUNS)),
        GeneratedSection(experiments, "short-runs", comparison(run_names=SHORT_RUNS)),
        GeneratedSection(experiments, "fast-recipe", comparison(run_names=FAST_RECIPE_RUNS)),
        GeneratedSection(experiments, "short-default-runs",
                         comparison(run_names=SHORT_DEFAULT_RUNS)),
        *export.generated_sections(results_dir),
        *seed_table.generated_sections(results_dir),
        *summary.generated_sections(results_dir),
        GeneratedSection(benchmarks, "precision-runs",
                         comparison(run_names=(*PRECISION_RUNS, *EARLIER_PRECISION_RUNS))),
        GeneratedSection(benchmarks, "resolution-runs", comparison(run_names=RESOLUTION_RUNS)),
    ]


def main(argv=None) -> int:
    from evaluation import report

    def sections(inputs, args):
        return generated_sections(args.results, Path(args.readme.name), inputs, args.images)

    return report.main(argv, sections=sections)


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads (via data/)
    sys.exit(main())
