"""Time to accuracy of whole runs, back to back: a contender preset against a baseline preset.

Trains N seeds of the contender (by default `train.py`'s default) and M seeds of the baseline
(by default `fast-recipe`, the default before it), alternating, one after the other in this
process, as ordinary runs with records of their own; a run already completed under its name with
the same configuration is reused, so an interrupted race goes on where it stopped.
The benchmark record then gives, per run, the training seconds until the validation accuracy
first reached each target at an epoch's end (epochs are timed with their validation pass, about
2 s of each), the test accuracy of the weights chosen on validation at the end of the schedule,
each configuration's mean, spread and range, and the ratio of the baseline's times to the
contender's. Nothing else should run on the machine meanwhile.

    python -m benchmarks.race --seeds 5
    python -m benchmarks.race --contender airbench-kept --baseline fast-recipe --seeds 5 \
        --baseline-seeds 5 --name race-airbench-kept --baseline-name race-fast-recipe

The record goes to <out>/race-<contender model>-vs-<baseline model>.json when the two differ
in their models, else to <out>/race-<contender preset>-vs-<baseline preset>.json; the runs to
RESULTS_PATH as `<name>-seed<k>` and `<baseline name>` (`<baseline name>-seed<k>` with several
baseline seeds), tagged `race` (which keeps them out of the leaderboard's seed groups) and
`race-contender` or `race-baseline`, with their records but not their predictions or confusion
figure (`--keep-predictions` keeps them).
"""

import argparse
import sys
from itertools import zip_longest
from pathlib import Path

from benchmarks.common import base_record, default_out_dir, write_record
from evaluation.seeds import RACE_TAG, spread
from outputs.io import read_json
from records.machine import record_alone, record_machine
from records.reader import selected_val_accuracy
from training.config import ExperimentConfig
from training.presets import compose

TARGETS = (0.92, 0.93, 0.94)
CONTENDER, BASELINE = "default", "fast-recipe"  # presets: train.py's default and its former
# What a benchmark's run leaves out of its record folder unless --keep-predictions: its table
# reads the records alone.
PRUNED_OUTPUTS = ("predictions.npz", "confusion.png")
TIMING = ("seconds_to_val: summed epoch times (validation pass included) until the first epoch "
          "end at or above the target; train_seconds: the whole schedule")


def seconds_to_target(history: dict, target: float) -> float | None:
    """Training seconds until the end of the first epoch whose validation accuracy reached
    `target`, or None when no epoch did. `history` maps epoch numbers to result.json's logs."""
    elapsed = 0.0
    for epoch in sorted(history, key=int):
        elapsed += history[epoch]["seconds"]
        if (history[epoch].get("val_accuracy") or 0.0) >= target:
            return elapsed
    return None


def run_summary(record: dict) -> dict:
    return {
        "run_name": record["run_name"],
        "seed": record["seed"],
        "train_seconds": record["train_seconds"],
        "val_accuracy": selected_val_accuracy(record),
        "test_accuracy": record["test_accuracy"],
        "selected": f"{record['selected_weights']}{'+tta' if record.get('selected_tta') else ''}",
        "machine": record_machine(record),
        "alone": record_alone(record),
        "seconds_to_val": {
            str(target): seconds_to_target(record["history"], target) for target in TARGETS
        },
    }


def group_summary(runs: list[dict]) -> dict:
    """Spread of test accuracy and training time, and of the time to each target that every run
    reached (`reached` counts the runs that did)."""
    summary = {
        "runs": runs,
        "val_accuracy": spread([run["val_accuracy"] for run in runs]),
        "test_accuracy": spread([run["test_accuracy"] for run in runs]),
        "train_seconds": spread([run["train_seconds"] for run in runs]),
        "seconds_to_val": {},
    }
    for target in map(str, TARGETS):
        times = [run["seconds_to_val"][target] for run in runs]
        reached = [seconds for seconds in times if seconds is not None]
        summary["seconds_to_val"][target] = {
            "reached": len(reached),
            **(spread(reached) if len(reached) == len(runs) else {}),
        }
    return summary


def timing_comparable(baseline: dict, contender: dict) -> tuple[bool, str]:
    """Whether the two sides' times compare: every run on one kind of machine and none that
    shared its cores; and why not."""
    runs = [*baseline["runs"], *contender["runs"]]
    machines = sorted({str(run.get("machine")) for run in runs})
    if len(machines) != 1:
        return False, f"the runs trained on different machines ({'; '.join(machines)})"
    shared = [run["run_name"] for run in runs if run.get("alone") is False]
    if shared:
        return False, f"{', '.join(shared)} shared the cores with other processes"
    unmeasured = sum(run.get("alone") is None for run in runs)
    return True, (f"one machine ({machines[0]})" + (
        f"; the load of {unmeasured} run(s) was not measured" if unmeasured else ""))


def verdict(baseline: dict, contender: dict, speedup: dict) -> dict:
    """The race's outcome by validation alone: the contender wins when its mean validation
    accuracy (selected weights) beats the baseline's by more than the larger standard deviation
    of the two sides' seeds, or ties within it and reaches the highest target both sides reach
    sooner. The test set is reported, never read here."""
    gain = contender["val_accuracy"]["mean"] - baseline["val_accuracy"]["mean"]
    noise = max(contender["val_accuracy"]["std"], baseline["val_accuracy"]["std"])
    accuracy = "better" if gain > noise else "worse" if gain < -noise else "tie"
    highest = max(speedup, key=float, default=None)
    faster = highest is not None and speedup[highest] > 1
    winner = "contender" if accuracy == "better" or (accuracy == "tie" and faster) else "baseline"
    return {
        "rule": "validation accuracy beyond the seeds' spread, else the time to the highest "
                "validation target both reached; test accuracy is reported, never used",
        "val_accuracy_gain": round(gain, 4),
        "val_accuracy_noise": round(noise, 4),
        "accuracy": accuracy,
        "decided_on_target": highest,
        "faster": faster,
        "winner": winner,
    }


def speedups(baseline: dict, contender: dict) -> dict:
    """Baseline mean seconds over the contender's, per target both reached in every run."""
    ratios = {}
    for target, base in baseline["seconds_to_val"].items():
        new = contender["seconds_to_val"][target]
        if "mean" in base and "mean" in new:
            ratios[target] = base["mean"] / new["mean"]
    return ratios


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contender", default=CONTENDER, help="preset of the contender")
    parser.add_argument("--baseline", default=BASELINE, help="preset of the baseline")
    parser.add_argument("--seeds", type=int, default=5, help="seeds of the contender (0, 1, ...)")
    parser.add_argument("--baseline-seeds", type=int, default=1, help="seeds of the baseline")
    parser.add_argument("--name", default=None, help="run name of the contender's seeds "
                        "(default: its preset's name)")
    parser.add_argument("--baseline-name", default=None, help="default: its preset's name")
    parser.add_argument(
        "--limit-train", type=int, default=None, help="train on a stratified subset (smoke runs)"
    )
    parser.add_argument("--epochs", type=int, default=None, help="override both runs' epochs")
    parser.add_argument("--val-size", type=int, default=None, help="override the validation size")
    parser.add_argument("--out", type=Path, default=None, help="default: RESULTS_PATH/benchmarks")
    parser.add_argument(
        "--keep-predictions", action="store_true",
        help=f"keep each run's {' and '.join(PRUNED_OUTPUTS)} (removed by default)",
    )
    args = parser.parse_args(argv)
    for flag in ("seeds", "baseline_seeds"):
        if getattr(args, flag) < 1:
            parser.error(f"argument --{flag.replace('_', '-')}: must be >= 1. "
                         f"Received: {getattr(args, flag)}")
    args.name = args.name or args.contender
    args.baseline_name = args.baseline_name or args.baseline
    return args


def race_configs(args) -> tuple[list[ExperimentConfig], list[ExperimentConfig]]:
    """The baseline's configurations and the contender's, one per seed, with `args`' overrides."""
    overrides = {"limit_train": args.limit_train}
    for name in ("epochs", "val_size"):
        if getattr(args, name) is not None:
            overrides[name] = getattr(args, name)
    baseline = compose(preset=args.baseline).config.replace(
        **overrides, tags=(RACE_TAG, "race-baseline")
    )
    baselines = [
        baseline.replace(seed=seed, run_name=f"{args.baseline_name}-seed{seed}")
        for seed in range(args.baseline_seeds)
    ] if args.baseline_seeds > 1 else [baseline.replace(run_name=args.baseline_name)]
    contender = compose(preset=args.contender).config.replace(
        **overrides, tags=(RACE_TAG, "race-contender")
    )
    seeds = [
        contender.replace(seed=seed, run_name=f"{args.name}-seed{seed}")
        for seed in range(args.seeds)
    ]
    for config in (*baselines, *seeds):
        config.resolved().validate()
    return baselines, seeds


def completed_record(config: ExperimentConfig) -> dict | None:
    """The record of a completed run named `config.run.name` with this very configuration (an
    interrupted race goes on where it stopped), or None when there is none to reuse."""
    import config as paths

    run_dir = paths.RESULTS_PATH / config.run.name
    if not (run_dir / "result.json").exists():
        return None
    record = read_json(run_dir / "result.json", "A record")
    stored = ExperimentConfig.from_json(run_dir / "config.json")
    # A preset's name or a tag changes no training.
    same = stored.without_labels() == config.resolved().without_labels()
    return record if same and record.get("status") == "completed" else None


def prune_outputs(run_name: str) -> None:
    """Removes `PRUNED_OUTPUTS` from the run's record folder (RESULTS_PATH/<run>)."""
    import config as paths

    for name in PRUNED_OUTPUTS:
        (paths.RESULTS_PATH / run_name / name).unlink(missing_ok=True)


def train_or_reuse(config: ExperimentConfig, data) -> dict:
    from training.experiment import run_experiment

    record = completed_record(config)
    if record is not None:
        print(f"{config.run.name}: reusing its completed record with this configuration")
        return record
    return run_experiment(config, data=data, verbose=2).record.to_json()


def main(argv=None, data=None) -> int:
    """Trains the seeds of the contender and the baseline, alternating; `data` skips loading
    the dataset."""
    args = parse_args(argv)
    try:
        baseline_configs, seed_configs = race_configs(args)
    except (KeyError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    # Alternating the two sides spreads a drift of the machine's speed over both.
    order = [config for pair in zip_longest(seed_configs, baseline_configs) for config in pair]
    trained = {}
    for config in filter(None, order):
        trained[config.run.name] = train_or_reuse(config, data)
        if not args.keep_predictions:
            prune_outputs(config.run.name)
    contenders = [trained[config.run.name] for config in seed_configs]
    baselines = [trained[config.run.name] for config in baseline_configs]
    baseline = group_summary([run_summary(record) for record in baselines])
    contender = group_summary([run_summary(record) for record in contenders])
    record = base_record("benchmarks.race", argv)
    models = contenders[0]["model"], baselines[0]["model"]
    comparable, why = timing_comparable(baseline, contender)
    # Ratios of times only between runs of one machine that had its cores.
    speedup = speedups(baseline, contender) if comparable else {}
    record.update(
        targets=list(TARGETS),
        baseline={"model": models[1], "preset": args.baseline, **baseline},
        default={"model": models[0], "preset": args.contender, **contender},
        timing_comparable=comparable,
        timing_note=why,
        speedup_to_val=speedup,
        verdict=verdict(baseline, contender, speedup),
        timing=TIMING,
    )
    names = models if models[0] != models[1] else (args.contender, args.baseline)
    out = args.out or default_out_dir()
    path = write_record(out / f"race-{names[0]}-vs-{names[1]}.json", record)
    print_outcome(record)
    print(f"record: {path}")
    return 0


def print_outcome(record: dict) -> None:
    for side, role in (("baseline", "baseline"), ("default", "contender")):
        summary = record[side]
        test, seconds = summary["test_accuracy"], summary["train_seconds"]
        print(
            f"{role} {summary['preset']}, {summary['model']} ({len(summary['runs'])} run"
            f"{'s' if len(summary['runs']) > 1 else ''}): "
            f"test accuracy mean "
            f"{test['mean']:.4f} (range {test['min']:.4f}-{test['max']:.4f}), training "
            f"{seconds['mean']:.0f} s"
        )
    for target, ratio in record["speedup_to_val"].items():
        print(f"validation {target}: {record['default']['preset']} is {ratio:.1f}x as fast")
    if not record["timing_comparable"]:
        print(f"times not compared: {record['timing_note']}")
    winner = record["verdict"]["winner"]
    side = record["default"] if winner == "contender" else record["baseline"]
    print(f"decided on validation: the {winner}, {side['preset']}, wins (the contender's "
          f"validation accuracy: {record['verdict']['accuracy']})")


if __name__ == "__main__":
    sys.exit(main())
