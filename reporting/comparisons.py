"""Which differences between runs the test set can show: McNemar's paired tests between ranked
runs with predictions, the spread of configurations trained with several seeds, and the text
that goes with the figures drawn from predictions.
"""

from pathlib import Path

import pandas as pd

from evaluation.calibration import DEFAULT_BINS
from evaluation.seeds import BENCHMARK_TAGS, SeedGroup, overlapping, seed_groups, spread
from evaluation.statistics import EXACT_BELOW, mcnemar
from records.machine import record_alone
from records.predictions import PredictedRuns
from records.reader import best_run, is_ensemble, record_tags, runs_only, selected_val_accuracy
from reporting.tables import (
    format_accuracy,
    format_duration,
    machines_sentence,
    markdown_link,
    markdown_table,
    relative_link,
)

MAX_PAIRS = 6
SIGNIFICANCE = 0.05
PER_CLASS_RUNS = 5  # rows of images/per-class.png


def pairs_to_compare(names: list[str], limit: int = MAX_PAIRS) -> list[tuple[str, str]]:
    """Pairs of runs (in ranking order) to test: each run against the one above it and, from
    the third on, the top run against it; the first `limit`."""
    pairs = []
    for position in range(1, len(names)):
        pairs.append((names[position - 1], names[position]))
        if position >= 2:
            pairs.append((names[0], names[position]))
    return pairs[:limit]


def format_p_value(p_value: float) -> str:
    return "<0.0001" if p_value < 1e-4 else f"{p_value:.4f}"


def _run_link(name: str, results_dir: Path, base_dir: Path) -> str:
    return markdown_link(name, Path(results_dir) / name / "result.json", base_dir)


def paired_tests_markdown(predicted: PredictedRuns, results_dir: Path, base_dir: Path) -> str:
    """McNemar's test between the pairs of `pairs_to_compare`, or why there is none."""
    names = [record["run_name"] for record in predicted.records]
    if len(names) < 2:
        why = predicted.problem or f"only {names[0]} has predictions"
        return (
            f"No paired test: {why}. McNemar's test compares two runs image by image, so it "
            "needs two ranked runs with predictions (`predictions.npz`, kept by every run) and "
            "the test set in `DATA_PATH`; until then only the intervals in the leaderboard say "
            "how far apart two test accuracies must be."
        )
    accuracy = {record["run_name"]: record["test_accuracy"] for record in predicted.records}
    rows, index = [], []
    for first, second in pairs_to_compare(names):
        result = mcnemar(predicted.correct(first), predicted.correct(second))
        index.append(_run_link(first, results_dir, base_dir))
        rows.append([
            _run_link(second, results_dir, base_dir),
            f"{accuracy[first]:.4f} / {accuracy[second]:.4f}",
            str(result.only_first_right),
            str(result.only_second_right),
            format_p_value(result.p_value),
            "yes" if result.p_value <= SIGNIFICANCE else "no",
        ])
    columns = ("Against", "Test acc", "Only run right", "Only other right", "p-value",
               f"Different at {SIGNIFICANCE:g}")
    table = markdown_table(pd.DataFrame(rows, index=pd.Index(index, name="Run"), columns=columns),
                           right_aligned=columns[1:5])
    return (
        f"{table}\n\n"
        f"McNemar's paired test (McNemar 1947) on the 10,000 test images, between each run with "
        f"predictions and the one above it, and between the top one and each other, at most "
        f"{MAX_PAIRS} pairs. Only the images that exactly one of the two runs gets right count "
        f"(an exact binomial test below {EXACT_BELOW} of them, else chi-square with a continuity "
        f"correction). Where the answer is no (p > {SIGNIFICANCE:g}), the two runs are not "
        f"different on this test set: neither is better, whatever their order."
    )


def ensembles_markdown(predicted: PredictedRuns, results_dir: Path, base_dir: Path) -> str:
    """Each ensemble with predictions against its member best on validation (a member with
    predictions of its own), by McNemar's test on the test images: whether averaging made a
    difference the test set can show."""
    by_name = {record["run_name"]: record for record in predicted.records}
    lines = []
    for ensemble in filter(is_ensemble, predicted.records):
        members = [by_name[name] for name in ensemble["members"] if name in by_name]
        if not members:
            continue
        member = best_run(members)
        result = mcnemar(predicted.correct(ensemble["run_name"]),
                         predicted.correct(member["run_name"]))
        verdict = "different" if result.p_value <= SIGNIFICANCE else "not different"
        lines.append(
            f"- {_run_link(ensemble['run_name'], results_dir, base_dir)} ({ensemble['method']}; "
            f"{len(ensemble['members'])} members): test accuracy "
            f"{ensemble['test_accuracy']:.4f} against {member['test_accuracy']:.4f} for "
            f"`{member['run_name']}`, its member best on validation; "
            f"{result.only_first_right} test images only the ensemble gets right, "
            f"{result.only_second_right} only the member (p = {format_p_value(result.p_value)}): "
            f"{verdict} at {SIGNIFICANCE:g}."
        )
    if not lines:
        return (f"No ensemble with predictions and a member with predictions yet"
                f"{f' ({predicted.problem})' if predicted.problem else ''}: "
                "`python -m evaluation.ensemble` makes one.")
    return ("Each ensemble against its member best on validation, by McNemar's test on the "
            "test images:\n\n" + "\n".join(lines))


def group_label(group: SeedGroup) -> str:
    """A seed group's name in tables: the tag every one of its runs carries (`train.py --tag`),
    else the common part of their run names. A run's name is chosen when it starts and may name
    a preset that has changed since (`default-seed0`); its tag names the batch it belongs to."""
    shared = set.intersection(*(set(record_tags(record)) for record in group.records))
    shared -= set(BENCHMARK_TAGS)
    return min(shared) if shared else group.name


def seed_groups_markdown(records: list[dict]) -> str:
    """Mean, spread and range of each configuration trained with several seeds, best mean
    first, marking adjacent configurations whose ranges overlap."""
    groups = seed_groups(records)
    if not groups:
        return (
            "No configuration has completed full runs with more than one seed yet. "
            "`python train.py --seeds 3` trains three seeds of one configuration; this table "
            "then shows their mean, spread and range of test accuracy."
        )
    rows = []
    for position, group in enumerate(groups):
        test = group.summary("test_accuracy")
        below = groups[position + 1] if position + 1 < len(groups) else None
        rows.append([
            group.records[0]["model"],
            str(len(group.records)),
            ", ".join(str(record["seed"]) for record in group.records),
            f"{test['mean']:.4f} ± {test['std']:.4f}",
            f"{format_accuracy(test['min'])}-{format_accuracy(test['max'])}",
            training_time_cell(group.records),
            "-" if below is None else ("yes" if overlapping(group, below) else "no"),
        ])
    columns = ("Model", "n", "Seeds", "Test acc mean ± std", "Range", "Mean training time",
               "Range overlaps the next")
    labels = [f"`{group_label(group)}`" for group in groups]
    index = pd.Index(labels, name="Configuration")
    table = markdown_table(pd.DataFrame(rows, index=index, columns=columns),
                           right_aligned=columns[1:6])
    named = [(label, record) for label, group in zip(labels, groups) for record in group.records]
    return (
        f"{table}\n\n"
        "Configurations trained with several seeds (runs whose settings are equal apart from "
        "the seed, named by the tag they share or else by their run names), best mean test "
        "accuracy first; std is the sample standard deviation over the seeds. Where a "
        "configuration's range overlaps the next one's (yes), a seed can reorder the two: "
        "neither is ranked above the other. The mean training time leaves out runs that shared "
        f"the cores with other processes (`load.alone`). {machines_sentence(named)}"
    )


def training_time_cell(records: list[dict]) -> str:
    """The mean training time of the runs that had the cores alone, or of unmeasured ones;
    runs that shared them are left out and counted ("(2 shared)"), and a group whose every run
    shared them has no time."""
    timed = [record["train_seconds"] for record in records if record_alone(record) is not False]
    shared = len(records) - len(timed)
    if not timed:
        return f"- ({shared} shared)"
    mean = format_duration(sum(timed) / len(timed))
    return f"{mean} ({shared} shared, left out)" if shared else mean


def figure_run(predicted: PredictedRuns) -> dict | None:
    """The run whose predictions the calibration and mistakes figures show: the best run on
    validation among those with predictions."""
    runs = runs_only(predicted.records)
    return best_run(runs) if runs else None


def figures_markdown(ranked, predicted: PredictedRuns, images_dir: Path, base_dir: Path) -> str:
    """The per-class, calibration and mistakes figures, and which runs they show."""
    runs = runs_only(ranked)
    if not runs:
        return "No completed full run yet: train one with `python train.py`."

    def image(name, text):
        return f"![{text}]({relative_link(Path(images_dir) / name, base_dir)})"

    parts = [
        f"Per-class test accuracy of the first {min(PER_CLASS_RUNS, len(runs))} runs of the "
        "leaderboard, from their confusion matrices:",
        image("per-class.png", "Per-class test accuracy of the top runs"),
    ]
    chosen = figure_run(predicted)
    if chosen is None:
        parts.append(
            "The reliability diagram and the most confident mistakes need a ranked run with "
            f"predictions (`predictions.npz`) and the test set in `DATA_PATH`: "
            f"{predicted.problem}."
        )
        return "\n\n".join(parts)
    best, name = best_run(runs), f"`{chosen['run_name']}`"
    which = f"{name}, the best run on validation"
    if chosen is not best:
        which += f" among those with predictions (the best, `{best['run_name']}`, has none)"
    parts += [
        f"Calibration of {which}: how often it is right at each confidence, in {DEFAULT_BINS} "
        "bins, and the expected calibration error, the gap between the two averaged over the "
        "test images:",
        image("reliability.png", "Reliability diagram"),
        f"The test images {name} gets wrong with the highest confidence:",
        image("mistakes.png", "Most confident mistakes"),
    ]
    return "\n\n".join(parts)


def tagged_seed_runs(records: list[dict], tag: str) -> list[dict]:
    """The completed full 10-class runs tagged `tag`, in seed order."""
    runs = [record for record in runs_only(records) if tag in record_tags(record)]
    return sorted(runs, key=lambda record: record["seed"])


def seed_validation_sentence(records: list[dict], tag: str) -> str:
    """The validation accuracies of the weights the runs tagged `tag` chose: what a search
    trial over their configuration, scored the same way on the same split, is held against."""
    runs = tagged_seed_runs(records, tag)
    if not runs:
        return (f"No completed runs tagged `{tag}` yet: `python train.py --seeds 5 --tag {tag}` "
                "trains them.")
    values = spread([selected_val_accuracy(run) for run in runs])
    seeds = ", ".join(str(run["seed"]) for run in runs)
    splits = sorted({str(run["config"].get("split_seed")) for run in runs})
    return (f"The {len(runs)} runs tagged `{tag}` (seeds {seeds}) chose weights with validation "
            f"accuracy {format_accuracy(values['min'])}-{format_accuracy(values['max'])}, mean "
            f"{values['mean']:.4f} (split seed {', '.join(splits)}).")


def seed_comparison_markdown(predicted: PredictedRuns, candidate_tag: str,
                             baseline_tag: str) -> str:
    """The runs tagged `candidate_tag` against those tagged `baseline_tag` (`train.py --seeds N
    --tag ...`): each side's mean, spread and range of test accuracy, whether the ranges overlap,
    and McNemar's test between the two runs of each seed both sides trained."""
    records = predicted.records
    candidate = tagged_seed_runs(records, candidate_tag)
    baseline = tagged_seed_runs(records, baseline_tag)
    if not candidate or not baseline:
        missing = candidate_tag if not candidate else baseline_tag
        return (f"No completed runs tagged `{missing}` with predictions yet: "
                f"`python train.py --preset PRESET --seeds 5 --tag {missing}` trains them.")
    sides = {candidate_tag: candidate, baseline_tag: baseline}
    rows = []
    for runs in sides.values():
        test = spread([run["test_accuracy"] for run in runs])
        seconds = spread([run["train_seconds"] for run in runs])
        rows.append([str(len(runs)), f"{test['mean']:.4f} ± {test['std']:.4f}",
                     f"{format_accuracy(test['min'])}-{format_accuracy(test['max'])}",
                     format_duration(seconds["mean"])])
    columns = ("Seeds", "Test acc mean ± std", "Range", "Mean training time")
    index = pd.Index([f"`{tag}`" for tag in sides], name="Runs tagged")
    table = markdown_table(pd.DataFrame(rows, index=index, columns=columns),
                           right_aligned=columns)
    named = [(f"`{tag}`", run) for tag, runs in sides.items() for run in runs]
    return (f"{table}\n\n{seed_comparison_sentence(predicted, candidate, baseline)} "
            f"{machines_sentence(named)}")


def seed_comparison_sentence(predicted: PredictedRuns, candidate: list[dict],
                             baseline: list[dict]) -> str:
    """Whether the ranges overlap, and the per-seed McNemar tests, in words."""
    ours, theirs = ([run["test_accuracy"] for run in runs] for runs in (candidate, baseline))
    overlap = min(ours) <= max(theirs) and min(theirs) <= max(ours)
    by_seed = {run["seed"]: run["run_name"] for run in baseline}
    pairs = [(run["seed"], run["run_name"], by_seed[run["seed"]]) for run in candidate
             if run["seed"] in by_seed]
    tests = [(seed, mcnemar(predicted.correct(name), predicted.correct(baseline_name)))
             for seed, name, baseline_name in pairs]
    different = [seed for seed, result in tests if result.p_value <= SIGNIFICANCE]
    mean = spread(ours)["mean"] - spread(theirs)["mean"]
    paired = (f"McNemar's test between the runs of the same seed finds {len(different)} of "
              f"{len(tests)} pairs different at {SIGNIFICANCE:g}"
              + (f" (seed {', '.join(map(str, different))})" if different else "")
              if tests else "No seed was trained on both sides, so no pair was tested")
    return (f"The mean test accuracies differ by {mean:+.4f}; the ranges "
            f"{'overlap, so a seed can reorder the two' if overlap else 'do not overlap'}. "
            f"{paired}.")
