"""Training images/s of every model family, before and after the current recipe, on one machine.

For each family (`FAMILIES`) two configurations train back to back in one process, each with its
own training step exactly as `train.py` builds it (precision, BatchNorm kernel, augmentation in
the step or in `tf.data`, optimizer):

  before  the configuration a committed run of the family trained with, read from its saved
          `results/<run>/config.json` (the original repository's rows, trained before the speed
          work); none for the families that were built on the recipe.
  after   the family's recipe preset (`presets/<family>-recipe.toml`, or the preset of the
          fast-cnn family).

Each side trains --warmup steps, then --windows windows of about --window-seconds each (as many
whole steps as a few timed steps say fit); its images/s is the median over the windows. Training
FLOPs per image (3x the profiled forward pass, see benchmarks/flops.py) turn images/s into
GFLOP/s and a share of this machine's measured matrix product peak in the side's dtype. Each side
keeps the load of the machine while it was timed (`records.machine.LoadMeter`). The record goes
to <out>/families-speed.json. Nothing else should run on the machine meanwhile.

    python -m benchmarks.families
    python -m benchmarks.families --families wrn-16-4,mobilenet-v2 --window-seconds 3
"""

import argparse
import math
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import keras

import config as paths
from benchmarks.common import (
    WindowTimer,
    base_record,
    default_out_dir,
    window_rates,
    write_record,
)
from benchmarks.flops import flop_rates, measured_peak_for, train_flops_per_image
from data import IMAGE_SHAPE, load_fashion_mnist
from models.whitening import fit_whitening, whitening_layers
from records.machine import LoadMeter, is_alone
from training.config import ExperimentConfig
from training.experiment import build_compiled_model, build_data
from training.hardware import make_strategy
from training.presets import compose, list_presets

RECORD_NAME = "families-speed.json"
# Calls of the compiled training function timed after the warm-up to size the windows.
SIZING_CALLS = 3
# How the timed steps run (`time_training`): in `model.fit`, or in a plain loop.
LOOPS = ("fit", "function")


@dataclass(frozen=True)
class Family:
    """One row: a model family, its recipe preset and the run whose configuration came before.

    Args:
        model: the registered model the row trains.
        recipe: the preset of the current recipe for it.
        before_run: a committed run (a folder of `results/`) whose saved configuration is the
            family's configuration before the recipe; None where the family started on it.
    """

    model: str
    recipe: str
    before_run: str | None


FAMILIES = (
    Family("capsnet", "capsnet-recipe", "seed-capsnet-adam"),
    Family("wrn-16-4", "wrn-16-4-recipe", "seed-wrn-16-4-adam"),
    Family("mobilenet-v2", "mobilenet-v2-recipe", "seed-mobilenet-v2-adam"),
    Family("shufflenet-v2-1.0", "shufflenet-v2-recipe",
           "seed-shufflenet-v2-1.0-rmsprop-triangular"),
    Family("simple-cnn", "simple-cnn-recipe", "seed-simple-cnn-adam-cosine-noswa"),
    Family("fast-cnn-small", "default", None),
    Family("fast-cnn", "fast-cnn", None),
)


def get_family(model: str) -> Family:
    """The row of `model`; a ValueError naming the known ones otherwise."""
    for family in FAMILIES:
        if family.model == model:
            return family
    known = ", ".join(family.model for family in FAMILIES)
    raise ValueError(f"Unknown family; known: {known}. Received: {model!r}")


def before_config(family: Family, results_dir: Path) -> ExperimentConfig | None:
    """The configuration the family's `before_run` trained with, as it saved it."""
    if family.before_run is None:
        return None
    return ExperimentConfig.from_json(results_dir / family.before_run / "config.json").resolved()


def recipe_config(family: Family) -> ExperimentConfig:
    return compose(preset=family.recipe).config.resolved().validate()


class TimedWindowsLoad(keras.callbacks.Callback):
    """The machine's load from the first timestamp of `timer` (a `WindowTimer` listed before
    this callback) to its last: `load` (`records.machine.load_between`, with `alone`)."""

    def __init__(self, timer: WindowTimer):
        super().__init__()
        self.timer = timer
        self.meter = LoadMeter()
        self.load: dict | None = None

    def on_train_batch_end(self, batch, logs=None):
        stamps = len(self.timer.timestamps)
        if stamps == 1 and self.meter.started is None:
            self.meter.start()
        elif stamps == len(self.timer.boundaries) and self.load is None:
            load = self.meter.stop()
            self.load = load and {**load, "alone": is_alone([load])}


def time_training(config: ExperimentConfig, data, warmup: int, window_seconds: float,
                  windows: int, steps_per_execution: int = 1, loop: str = "fit") -> dict:
    """Images/s of `config`'s training step on this machine, with its FLOP rate and the load:
    `warmup` untimed steps, a few timed ones that size the windows, then `windows` windows of
    whole calls of the compiled function (`steps_per_execution` steps each) lasting about
    `window_seconds` each; the median window counts. `loop` "fit" runs the steps in
    `model.fit` as a run does; "function" in a plain Python loop over a `tf.function` of the
    model's train step (`time_plain_loop`)."""
    if loop not in LOOPS:
        raise ValueError(f"loop must be one of {', '.join(LOOPS)}. Received: loop={loop!r}")
    keras.utils.set_random_seed(config.runtime.seed)
    run_data = build_data(config, data, with_test=False)
    model = build_compiled_model(config, make_strategy("none"), run_data.steps_per_epoch,
                                 steps_per_execution)
    if whitening_layers(model):
        fit_whitening(model, run_data.train[0])

    def train(calls, callbacks=()):
        model.fit(run_data.train_ds, epochs=1, steps_per_epoch=calls * steps_per_execution,
                  callbacks=list(callbacks), verbose=0, shuffle=False)

    train(max(1, -(-warmup // steps_per_execution)))
    started = time.perf_counter()
    train(SIZING_CALLS)
    call_seconds = (time.perf_counter() - started) / SIZING_CALLS
    calls = max(1, math.ceil(window_seconds / call_seconds))
    if loop == "function":
        seconds, load = time_plain_loop(model, run_data.train_ds, calls, windows)
    else:
        timer = WindowTimer(1, calls, windows)
        meter = TimedWindowsLoad(timer)
        train(timer.last_step, [timer, meter])
        seconds, load = timer.window_seconds(), meter.load
    runtime = config.runtime
    images = calls * steps_per_execution * runtime.batch_size
    rates = window_rates(seconds, images)
    peak = measured_peak_for(runtime.precision)
    return {
        "model": config.model.name,
        "preset": config.preset,
        "precision": runtime.precision,
        "batch_size": runtime.batch_size,
        "augment_on": runtime.augment_on,
        "jit_compile": runtime.jit_compile,
        "steps_per_execution": steps_per_execution,
        "loop": loop,
        "window_steps": calls * steps_per_execution,
        "model_args": dict(config.model.args),
        "params": int(model.count_params()),
        **rates,
        **flop_rates(train_flops_per_image(model, IMAGE_SHAPE), rates["images_per_second"], peak),
        "peak": peak,
        "load": load,
    }


def time_plain_loop(model, dataset, steps: int, windows: int) -> tuple[list[float], dict | None]:
    """Seconds of each of `windows` windows of `steps` training steps run the plain way: a
    Python loop over a `tf.function` of `model.train_step` (its XLA setting kept), without
    `fit`, its callbacks or its per-step logs; and the load over the windows. One untimed step
    first traces the function."""
    import tensorflow as tf

    step = tf.function(model.train_step, reduce_retracing=True, jit_compile=model.jit_compile)
    iterator = iter(dataset)
    logs = step(next(iterator))
    meter = LoadMeter()
    meter.start()
    seconds = []
    for _ in range(windows):
        started = time.perf_counter()
        for _ in range(steps):
            logs = step(next(iterator))
        float(tf.nest.flatten(logs)[0])  # waits for the last step where execution is async
        seconds.append(time.perf_counter() - started)
    load = meter.stop()
    return seconds, load and {**load, "alone": is_alone([load])}


def measure_family(family: Family, data, args) -> dict:
    """The row of `family`: both sides timed back to back, and the speed-up."""
    row = {"model": family.model, "recipe": family.recipe, "before_run": family.before_run}
    before = before_config(family, args.results)
    sides = {"before": before, "after": recipe_config(family)}
    for side, config in sides.items():
        if config is None:
            row[side] = None
            continue
        print(f"{family.model}, {side}: {config.runtime.precision}, "
              f"batch {config.runtime.batch_size}", flush=True)
        row[side] = time_training(config, data, args.warmup, args.window_seconds, args.windows)
        print(f"  {row[side]['images_per_second']:,.1f} images/s, "
              f"{row[side]['utilisation']:.0%} of the measured peak", flush=True)
    if row["before"] and row["after"]:
        row["speedup"] = round(
            row["after"]["images_per_second"] / row["before"]["images_per_second"], 3)
    return row


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Training images/s of every family, before and after the current recipe.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--families", default=",".join(family.model for family in FAMILIES),
                        help="comma-separated models of FAMILIES")
    parser.add_argument("--window-seconds", type=float, default=5.0,
                        help="about how long each timed window lasts")
    parser.add_argument("--windows", type=int, default=4, help="timed windows (median kept)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first")
    parser.add_argument("--results", type=Path, default=None,
                        help="where the before runs' folders are; default: RESULTS_PATH")
    parser.add_argument("--out", type=Path, default=None, help="default: RESULTS_PATH/benchmarks")
    args = parser.parse_args(argv)
    try:
        args.families = [get_family(name.strip()) for name in args.families.split(",")]
    except ValueError as error:
        parser.error(f"argument --families: {error}")
    bounds = (("--window-seconds", args.window_seconds, 0.1), ("--windows", args.windows, 1),
              ("--warmup", args.warmup, 1))
    for name, value, least in bounds:
        if value < least:
            parser.error(f"argument {name}: must be >= {least}. Received: {value}")
    missing = [family.recipe for family in args.families if family.recipe not in list_presets()]
    if missing:
        parser.error(f"argument --families: no preset {', '.join(missing)} in presets/")
    args.results = args.results or paths.RESULTS_PATH
    for family in args.families:
        try:
            before_config(family, args.results)
        except ValueError as error:
            parser.error(f"argument --results: {error}")
    args.out = args.out or default_out_dir()
    return args


def main(argv=None, data=None) -> int:
    """Runs the benchmark; `data` (a `FashionMNIST`) skips loading the dataset again."""
    args = parse_args(argv)
    data = data if data is not None else load_fashion_mnist()
    rows = [measure_family(family, data, args) for family in args.families]
    record = base_record("benchmarks.families", argv)
    sides = [row[side] for row in rows for side in ("before", "after") if row[side]]
    speedups = [row["speedup"] for row in rows if "speedup" in row]
    record.update(
        warmup_steps=args.warmup,
        window_seconds=args.window_seconds,
        windows=args.windows,
        alone=all((side["load"] or {}).get("alone") for side in sides),
        median_speedup=statistics.median(speedups) if speedups else None,
        rows=rows,
        timing="each side: --warmup untimed steps, three timed ones that size the windows, then "
        "--windows windows of whole steps of its own train step lasting about --window-seconds "
        "each; images/s is the median window",
    )
    path = write_record(args.out / RECORD_NAME, record)
    print(f"record: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
