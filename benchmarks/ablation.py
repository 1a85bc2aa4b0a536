"""Ablation of the speed options taken from airbench, one at a time over the fast recipe, greedily.

Step 0, named `default` after what it was when the ablation ran, trains N seeds of the
`fast-recipe` preset. Each later step adds one option (`STEPS`, in order) to the kept
configuration: the default plus every earlier change that was kept. A change is kept when the
mean over its seeds of the validation accuracy of each run's selected weights (the weights the
run chose on validation and tested once) beats the kept configuration's by more than the seeds'
spread, or ties within it, without a lower mean, at no training cost beyond the spread of the
seeds' times ("free"; `keep_decision`, whose reason each step's record keeps); otherwise the next
step builds on the configuration without it. Only validation decides: the test accuracy is
recorded, never compared.

The runs are ordinary runs with records of their own, named `ablation-<step>-<name>-seed<k>` and
tagged `ablation`; a run already completed under its name with the same configuration is reused,
so an interrupted ablation goes on where it stopped (a run of that name with another
configuration, as after other `--steps` or outcomes, is left alone: the new run's name gets a
suffix, as `train.py` gives it). The runs keep their records (`result.json` and beside it)
but not their predictions or confusion figure (`--keep-predictions` keeps them): the table reads
the records alone, and 24 runs' predictions would add 7 MB to the repository. The record
gives, per step, the change, the configuration's overrides from the default, whether the
change was kept, the mean selected validation accuracy, the test accuracy and training time
over the seeds, and the seconds to each validation target. Nothing else should run on the
machine meanwhile.

    python -m benchmarks.ablation --seeds 3
    python -m benchmarks.ablation --steps whitening,dirac --dry-run

The record goes to <out>/ablation-<model>.json; the runs to RESULTS_PATH.
"""

import argparse
import shlex
import statistics
import sys
from pathlib import Path

from benchmarks.common import base_record, default_out_dir, write_record
from benchmarks.race import (
    PRUNED_OUTPUTS,
    TARGETS,
    TIMING,
    group_summary,
    prune_outputs,
    run_summary,
    train_or_reuse,
)
from evaluation.seeds import ABLATION_TAG, spread
from records.reader import selected_val_accuracy
from training.config import ExperimentConfig
from training.presets import Layers, checked, compose, parse_override

PRESET = "fast-recipe"  # train.py's default when the ablation ran
TAG = ABLATION_TAG
# (name, description, overrides as `--set` takes them), in the order they are tried. Model
# arguments are one table (`model.args`): a step's table is merged into the kept one's.
STEPS = (
    ("default", "the fast recipe, no speed option", ()),
    ("whitening", "frozen 3x3 patch-whitening stem", ("model.args={whitening_patch_size = 3}",)),
    ("dirac", "identity-initialized convolutions", ("model.args={dirac_init = true}",)),
    (
        "bias-lr",
        "8x the learning rate for biases and BatchNorm offsets",
        ("optimizer.bias_lr_factor=8.0",),
    ),
    (
        "batchnorm",
        "BatchNorm momentum 0.6, no learned scale",
        ("model.args={batchnorm_momentum = 0.6, batchnorm_scale_trainable = false}",),
    ),
    ("alternating-flip", "each image mirrored in every other epoch",
     ('augmentation.flip_mode="alternate"',)),
    ("label-smoothing-0.2", "label smoothing 0.2 instead of 0.1", ("loss.label_smoothing=0.2",)),
    ("translate-tta", "TTA also over 1-pixel diagonal shifts", ("evaluation.tta_shifts=1",)),
)  # fmt: skip
STEP_NAMES = tuple(name for name, _, _ in STEPS)
SMOKE_FLAGS = ("epochs", "limit_train", "val_size")  # fields of the flags for smoke runs


def _toml_value(value) -> str:
    """`value` as an inline TOML value, as `parse_override` reads it back."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key} = {_toml_value(item)}" for key, item in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(map(_toml_value, value)) + "]"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(value)


def combined(*override_lists) -> list[str]:
    """The overrides of several lists, later ones first in precedence: one text per key, in the
    order the keys first appear; tables (`model.args`) are merged, key by key.

    Example:

    ```python
    combined(["model.args={dirac_init = true}"], ["model.args={whitening_patch_size = 3}"])
    # ['model.args={dirac_init = true, whitening_patch_size = 3}']
    ```
    """
    merged: dict[str, tuple[str, object]] = {}
    for text in (text for overrides in override_lists for text in overrides):
        key, value = parse_override(text)
        earlier = merged.get(key, (None, None))[1]
        if isinstance(value, dict) and isinstance(earlier, dict):
            value = {**earlier, **value}
            text = f"{key}={_toml_value(value)}"
        merged[key] = (text, value)
    return [text for text, _ in merged.values()]


def keep_decision(candidate: dict, kept: dict) -> tuple[bool, str]:
    """Whether a change is kept, and why, from two step summaries (`step_summary`): it is kept
    when its mean selected validation accuracy beats the kept configuration's by more than the
    larger standard deviation over the two sides' seeds ("better"), or when it ties within that
    spread without a lower mean and costs no training time beyond the spread of the seeds'
    training seconds ("free"); otherwise it is dropped. Validation alone decides."""
    gain = candidate["mean_val_accuracy"] - kept["mean_val_accuracy"]
    noise = max(candidate["val_accuracy"]["std"], kept["val_accuracy"]["std"])
    if gain > noise:
        return True, f"better: {gain:+.4f} beyond the seeds' spread of {noise:.4f}"
    if gain < -noise:
        return False, f"worse: {gain:+.4f} beyond the seeds' spread of {noise:.4f}"
    cost = candidate["train_seconds"]["mean"] - kept["train_seconds"]["mean"]
    slack = max(candidate["train_seconds"]["std"], kept["train_seconds"]["std"])
    if gain >= 0 and cost <= slack:
        return True, (f"free: a tie ({gain:+.4f} within {noise:.4f}) at {cost:+.0f} s of "
                      f"training (within {slack:.0f} s)")
    why = "a lower mean" if gain < 0 else f"{cost:+.0f} s of training beyond {slack:.0f} s"
    return False, f"a tie ({gain:+.4f} within {noise:.4f}) with {why}"


def greedy(steps, measure) -> list[dict]:
    """The cumulative, greedy protocol over `steps`, `(index, name, description, overrides)` in
    order, the first of them the reference (step 0, always kept).

    Args:
        steps: the steps to try; each one's overrides are added to the kept configuration's.
        measure: `measure(index, name, configuration)` trains (or reads) the configuration given
            by `configuration`, its full list of overrides from the default, and returns its
            summary, which holds `mean_val_accuracy`.

    Returns:
        Per step: its index, name, description, its own overrides, the configuration's full
        list of overrides, `kept` and the `decision` that says why, then the summary's fields.

    Example:

    ```python
    scores = {(): 0.93, ("loss.label_smoothing=0.2",): 0.92}
    steps = [(0, "default", "", ()), (6, "ls", "", ("loss.label_smoothing=0.2",))]
    outcome = greedy(steps, lambda i, name, c: {"mean_val_accuracy": scores[tuple(c)]})
    [step["kept"] for step in outcome]  # [True, False]
    ```
    """
    kept_overrides: list[str] = []
    kept_summary = None
    outcomes = []
    for index, name, description, overrides in steps:
        configuration = combined(kept_overrides, overrides)
        summary = measure(index, name, configuration)
        kept, why = ((True, "the reference") if kept_summary is None
                     else keep_decision(summary, kept_summary))
        if kept:
            kept_overrides, kept_summary = configuration, summary
        outcomes.append({
            "index": index, "name": name, "description": description,
            "overrides": list(overrides), "configuration": configuration, "kept": kept,
            "decision": why, **summary,
        })  # fmt: skip
    return outcomes


def parse_steps(text: str) -> list[int]:
    """The indices in `STEPS` of `--steps NAME,...`, in `STEPS`' order, the default's (the
    reference every change is measured against) always first."""
    names = [name.strip() for name in text.split(",")]
    unknown = [name for name in names if name not in STEP_NAMES]
    if unknown:
        raise ValueError(
            f"argument --steps: unknown step {', '.join(map(repr, unknown))}; the steps are "
            f"{', '.join(STEP_NAMES)}. Received: --steps {text}"
        )
    return [0, *(index for index, name in enumerate(STEP_NAMES) if index and name in names)]


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=3, help="seeds per step (0, 1, ...)")
    parser.add_argument(
        "--steps", default=",".join(STEP_NAMES),
        help=f"steps to try, comma-separated (default: all): {', '.join(STEP_NAMES)}; the "
        "default is always trained as the reference",
    )  # fmt: skip
    parser.add_argument(
        "--limit-train", type=int, default=None, help="train on a stratified subset (smoke runs)"
    )
    parser.add_argument("--epochs", type=int, default=None, help="override every run's epochs")
    parser.add_argument("--val-size", type=int, default=None, help="override the validation size")
    parser.add_argument("--out", type=Path, default=None, help="default: RESULTS_PATH/benchmarks")
    parser.add_argument(
        "--keep-predictions", action="store_true",
        help=f"keep each run's {' and '.join(PRUNED_OUTPUTS)} (removed by default)",
    )  # fmt: skip
    parser.add_argument(
        "--dry-run", action="store_true", help="print each step's overrides; train nothing"
    )
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error(f"argument --seeds: must be >= 1. Received: --seeds {args.seeds}")
    try:
        args.steps = parse_steps(args.steps)
    except ValueError as error:
        parser.error(str(error))
    return args


def smoke_flags(args) -> dict:
    """The fields that `--epochs`, `--limit-train` and `--val-size` set, where given."""
    return {name: getattr(args, name) for name in SMOKE_FLAGS if getattr(args, name) is not None}


def layers_of(configuration: list[str], args) -> Layers:
    """The fast recipe with the smoke flags and the configuration's overrides."""
    return compose(preset=PRESET, flags=smoke_flags(args), overrides=configuration)


def step_configs(index: int, name: str, configuration: list[str], args) -> list[ExperimentConfig]:
    """One configuration per seed of step `index`, named `ablation-<index>-<name>-seed<k>`."""
    base = layers_of(configuration, args).config.replace(tags=(TAG,))
    return [
        base.replace(seed=seed, run_name=f"ablation-{index}-{name}-seed{seed}")
        for seed in range(args.seeds)
    ]


def check_steps(args) -> ExperimentConfig:
    """Refuses a bad value before anything is written: every step's overrides over the default,
    and all of them together (the model built with every model argument); returns the latter."""
    for index in args.steps:
        checked(layers_of(list(STEPS[index][2]), args))
    every = checked(layers_of(combined(*(STEPS[index][2] for index in args.steps)), args))
    if every.model.args:
        from models.arguments import check_model_arguments

        check_model_arguments(every.model.name, every.model.args)
    return every


def step_summary(records: list[dict]) -> dict:
    """A step's group summary (`benchmarks.race.group_summary`), each run's selected validation
    accuracy, their spread and mean."""
    runs = [{**run_summary(record), "selected_val_accuracy": selected_val_accuracy(record)}
            for record in records]  # fmt: skip
    accuracies = [run["selected_val_accuracy"] for run in runs]
    return {
        "model": records[0]["model"],
        "mean_val_accuracy": statistics.fmean(accuracies),
        "val_accuracy": spread(accuracies),
        **group_summary(runs),
    }


def print_plan(args, every: ExperimentConfig) -> None:
    print(f"ablation of {every.model.name}: {args.seeds} seed(s) per step, each change added to "
          "the kept configuration and kept when its mean validation accuracy beats the seeds' "
          "spread, or ties at no training cost")
    width = max(len(STEPS[index][0]) for index in args.steps)
    for index in args.steps:
        name, description, overrides = STEPS[index]
        sets = " ".join(f"--set {shlex.quote(text)}" for text in overrides) or "(no change)"
        print(f"{index} {name:<{width}}  {sets}  # {description}")
    combined_sets = combined(*(STEPS[index][2] for index in args.steps))
    print("every change kept: " + " ".join(f"--set {shlex.quote(t)}" for t in combined_sets))


def main(argv=None, data=None) -> int:
    """Trains the steps one after the other; `data` (a `FashionMNIST`) skips loading the
    dataset."""
    args = parse_args(argv)
    try:
        every = check_steps(args)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.dry_run:
        print_plan(args, every)
        return 0

    def measure(index, name, configuration):
        records = []
        for config in step_configs(index, name, configuration, args):
            records.append(train_or_reuse(config, data))
            if not args.keep_predictions:
                prune_outputs(config.run.name)
        return step_summary(records)

    steps = greedy([(index, *STEPS[index]) for index in args.steps], measure)
    record = base_record("benchmarks.ablation", argv)
    record.update(
        model=steps[0]["model"],
        seeds=args.seeds,
        targets=list(TARGETS),
        protocol="cumulative and greedy: each step adds its change to the kept configuration "
        "(the default and every earlier change kept); a change is kept when the mean over seeds "
        "of the selected weights' validation accuracy beats the kept configuration's by more "
        "than the larger standard deviation of the two, or ties within it without a lower mean "
        "and costs no training time beyond the larger standard deviation of the seeds' "
        "training seconds (free). The test "
        "accuracy is recorded, never compared.",
        steps=steps,
        kept_configuration=next(step for step in reversed(steps) if step["kept"])["configuration"],
        timing=TIMING,
    )
    out = args.out or default_out_dir()
    path = write_record(out / f"ablation-{record['model']}.json", record)
    print_outcome(record)
    print(f"record: {path}")
    return 0


def print_outcome(record: dict) -> None:
    for step in record["steps"]:
        test = step["test_accuracy"]
        verdict = "reference" if step["index"] == 0 else "kept" if step["kept"] else "dropped"
        print(
            f"{step['index']} {step['name']}: mean val accuracy {step['mean_val_accuracy']:.4f} "
            f"({verdict}: {step['decision']}), test {test['mean']:.4f}, training "
            f"{step['train_seconds']['mean']:.0f} s"
        )
    kept = " ".join(f"--set {shlex.quote(text)}" for text in record["kept_configuration"])
    print(f"kept: {kept or 'the default alone'}")


if __name__ == "__main__":
    sys.exit(main())
