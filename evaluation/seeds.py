"""Runs of one configuration with different seeds, summarised: mean, spread and range.

Two completed full runs belong to one group when their configurations are equal in everything
but the seed and the run name, so a group needs no tag and cannot mix configurations. Runs with a
time budget group by the budget instead of the epochs it chose for each seed (and the settings
that follow from them). Ensemble
and combination records, which have no configuration of their own, and specialists, tested on
a group of classes only, belong to none.
"""

import json
import re
import statistics
from dataclasses import dataclass

from records.reader import is_run

# Fields that differ between the seeds of one configuration and say nothing about it: the seed,
# and the labels of a run (its name, preset and tags), which change nothing it trains.
PER_SEED_FIELDS = ("seed", "run_name", "preset", "tags")
# Tags of a benchmark's runs, which its own table sums up (`benchmarks.ablation`,
# `benchmarks.race` and `benchmarks.peer` tag their runs so): they are no seed group, and their
# seeds must not mix with another batch of the same settings (the ablation's default step is the
# fast recipe, trained on another day than its seed group).
ABLATION_TAG, RACE_TAG, PEER_TAG = "ablation", "race", "peer"
BENCHMARK_TAGS = (ABLATION_TAG, RACE_TAG, PEER_TAG)
# What a time budget decides for each run from the speed it measured: the epochs and the settings
# derived from them (`training.config.with_budget_epochs`).
BUDGET_DERIVED_FIELDS = ("epochs", "steps_per_epoch", "warmup_epochs", "swa", "swa_start",
                         "swa_freq")


@dataclass
class SeedGroup:
    """The records of one configuration, in seed order."""

    records: list[dict]

    @property
    def name(self) -> str:
        """The run names' common part, e.g. `fast-seed0`, `fast-seed1` -> `fast`."""
        names = [record["run_name"] for record in self.records]
        common = names[0]
        for name in names[1:]:
            while not name.startswith(common):
                common = common[:-1]
        return re.sub(r"[-_]*(seed)?$", "", common) or names[0]

    def summary(self, key: str) -> dict:
        return spread([record[key] for record in self.records])


def spread(values: list[float]) -> dict:
    """Mean, sample standard deviation (0 for one value), minimum and maximum."""
    return {
        "mean": statistics.fmean(values),
        "std": statistics.stdev(values) if len(values) > 1 else 0.0,
        "min": min(values),
        "max": max(values),
    }


def configuration_key(record: dict) -> str:
    """The configuration a run stands for: its settings but the per-seed ones; for a run with a
    time budget, the budget in place of what it decided."""
    budget = record.get("time_budget")
    left_out = PER_SEED_FIELDS + (BUDGET_DERIVED_FIELDS if budget else ())
    settings = {k: v for k, v in record["config"].items() if k not in left_out}
    if budget:
        settings["time_budget"] = budget["seconds"]
    return json.dumps(settings, sort_keys=True)


def seed_groups(records: list[dict], min_seeds: int = 2) -> list[SeedGroup]:
    """Groups of completed full runs that share a configuration, with at least `min_seeds` runs,
    best mean test accuracy first."""
    groups: dict[str, list[dict]] = {}
    for record in records:
        if (
            record.get("status") == "completed"
            and not record.get("smoke_run")
            and is_run(record)
            and not set(record["config"].get("tags") or ()) & set(BENCHMARK_TAGS)
        ):
            groups.setdefault(configuration_key(record), []).append(record)
    found = [SeedGroup(one_run_per_seed(members)) for members in groups.values()]
    found = [group for group in found if len(group.records) >= min_seeds]
    return sorted(found, key=lambda group: -group.summary("test_accuracy")["mean"])


def one_run_per_seed(records: list[dict]) -> list[dict]:
    """The latest finished run of each seed, in seed order: a configuration trained twice with
    one seed is a repeated measurement, not a second seed."""
    latest = {}
    for record in sorted(records, key=lambda record: record.get("finished") or ""):
        latest[record["seed"]] = record
    return [latest[seed] for seed in sorted(latest)]


def overlapping(first: SeedGroup, second: SeedGroup, key: str = "test_accuracy") -> bool:
    """Whether the two groups' ranges of `key` overlap: then neither is shown as better."""
    a, b = first.summary(key), second.summary(key)
    return a["min"] <= b["max"] and b["min"] <= a["max"]


def seed_summary_lines(group: SeedGroup) -> list[str]:
    """Plain-text lines for the terminal."""
    test, seconds = group.summary("test_accuracy"), group.summary("train_seconds")
    seeds = ", ".join(str(record["seed"]) for record in group.records)
    return [
        f"{len(group.records)} seeds ({seeds}) of {group.name}",
        f"  test accuracy   mean {test['mean']:.4f}, std {test['std']:.4f}, "
        f"range {test['min']:.4f}-{test['max']:.4f}",
        f"  training time   mean {seconds['mean']:.0f} s, std {seconds['std']:.0f} s, "
        f"range {seconds['min']:.0f}-{seconds['max']:.0f} s",
    ]
