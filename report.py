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

# The docs' tables find their runs by tag (`train.py --tag NAME`; records from before tags
# existed get theirs in `records.reader.TAGS_BEFORE_VERSION_2`). The quick start describes the
# default preset's seeds (`airbench-kept`, which the default starts from, trained with
# `--seeds 5 --tag airbench-kept`) and the float32 / mixed_bfloat16 pair tagged
# `precision-default`.
KEPT_RECIPE_TAG = "airbench-kept"
DEFAULT_SEEDS_TAG, DEFAULT_PRECISION_TAG = KEPT_RECIPE_TAG, "precision-default"
# The seeds of the fast recipe, tagged `default-seeds` while it was the default: the augmentation
# study's best preset (docs/search.md) and the kept airbench options (docs/benchmarks.md) are
# compared with them, as both start from it.
FAST_RECIPE_SEEDS_TAG = "default-seeds"
SEARCHED_PRESET_TAG = "augmentation-best"


def clean_records(records: list[dict]) -> list[dict]:
    """The records that trace to a commit (`records.reader.from_clean_commit`)."""
    from records.reader import from_clean_commit

    by_name = {record["run_name"]: record for record in records}
    return [record for record in records if from_clean_commit(record, by_name)]


def readme_sections(results_dir: Path, readme: Path, inputs) -> list:
    """The README's sections: the quick start, the race, and the headline tables, which take only
    records that trace to a commit."""
    from benchmarks import summary
    from experiments import family_report
    from reporting import comparisons, run_tables
    from reporting.sections import GeneratedSection
    from reporting.tables import relative_link

    clean = clean_records(inputs.records)

    def seed_groups(folder: Path) -> str:
        note = run_tables.clean_commits_note(len(inputs.records) - len(clean),
                                             relative_link(results_dir / "README.md", folder))
        return comparisons.seed_groups_markdown(clean) + note

    quick_start = partial(
        run_tables.default_run_markdown, results_dir, seeds_tag=DEFAULT_SEEDS_TAG,
        precision_tag=DEFAULT_PRECISION_TAG,
    )
    return [
        GeneratedSection(readme, "quick-start", quick_start),
        GeneratedSection(readme, "race", partial(summary.race_sentence,
                                                 results_dir / "benchmarks")),
        GeneratedSection(readme, "top-runs", partial(run_tables.top_runs_markdown, results_dir,
                                                     clean_only=True)),
        GeneratedSection(readme, "seed-groups", seed_groups),
        GeneratedSection(readme, family_report.EQUAL_COST,
                         partial(family_report.equal_cost_markdown, clean, results_dir)),
    ]


def generated_sections(results_dir: Path, readme: Path, inputs, images_dir: Path) -> list:
    """Every generated section, with paths relative to the README's folder; `inputs` are the
    records and predictions the report read (`reporting.leaderboard.ReportInputs`), `images_dir`
    the folder of its figures."""
    from benchmarks import summary
    from experiments import family_report, seed_table
    from reporting import comparisons, exports, label_noise, run_tables, specialist_report
    from reporting.sections import GeneratedSection
    from search import report as search_report

    experiments, benchmarks = Path("docs") / "experiments.md", Path("docs") / "benchmarks.md"

    def comparison(tag):
        return partial(run_tables.comparison_table, results_dir, tag=tag)

    return [
        *readme_sections(results_dir, readme, inputs),
        GeneratedSection(experiments, "paired-tests", partial(
            comparisons.paired_tests_markdown, inputs.predicted, results_dir)),
        GeneratedSection(Path("docs") / "search.md", "preset-comparison",
                         lambda folder: comparisons.seed_comparison_markdown(
                             inputs.predicted, SEARCHED_PRESET_TAG, FAST_RECIPE_SEEDS_TAG)),
        GeneratedSection(Path("docs") / "search.md", "default-validation",
                         lambda folder: comparisons.seed_validation_sentence(
                             inputs.records, DEFAULT_SEEDS_TAG)),
        GeneratedSection(benchmarks, "kept-recipe",
                         lambda folder: comparisons.seed_comparison_markdown(
                             inputs.predicted, KEPT_RECIPE_TAG, FAST_RECIPE_SEEDS_TAG)),
        GeneratedSection(experiments, "ensembles", partial(
            comparisons.ensembles_markdown, inputs.predicted, results_dir)),
        GeneratedSection(experiments, "seed-groups",
                         lambda folder: comparisons.seed_groups_markdown(inputs.records)),
        GeneratedSection(experiments, "figures", partial(
            comparisons.figures_markdown, inputs.ranked, inputs.predicted, images_dir)),
        GeneratedSection(experiments, "dataset-mistakes", partial(
            label_noise.dataset_mistakes_markdown, inputs.predicted, results_dir, images_dir)),
        GeneratedSection(experiments, "specialist", partial(
            specialist_report.specialist_markdown, inputs.records, inputs.predicted,
            results_dir, images_dir)),
        GeneratedSection(experiments, "default-runs", comparison("default-runs")),
        GeneratedSection(experiments, "short-runs", comparison("short-runs")),
        GeneratedSection(experiments, "fast-recipe", comparison("fast-recipe")),
        GeneratedSection(experiments, "fast-cnn-kept", comparison("fast-cnn-kept")),
        GeneratedSection(experiments, "short-default-runs",
                         comparison("short-default-runs")),
        *exports.generated_sections(results_dir),
        *seed_table.generated_sections(results_dir),
        *family_report.generated_sections(inputs.records, results_dir, images_dir),
        *summary.generated_sections(results_dir),
        *search_report.generated_sections(results_dir, images_dir),
        GeneratedSection(benchmarks, "precision-runs",
                         comparison("precision")),
        GeneratedSection(benchmarks, "resolution-runs", comparison("resolution")),
    ]


def main(argv=None) -> int:
    from reporting import leaderboard

    def sections(inputs, args):
        return generated_sections(args.results, Path(args.readme.name), inputs, args.images)

    return leaderboard.main(argv, sections=sections)


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads (via data/)
    sys.exit(main())
