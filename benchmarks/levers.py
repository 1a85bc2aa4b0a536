"""What each lever around the kernels does to a preset's training speed, one after the other on
one machine.

A lever is a change to how the same training step runs, not to what it computes: XLA on the CPU,
several steps per call of the compiled function, the threads of TensorFlow and OpenMP, a larger
batch, augmentation on the host, a plain `tf.function` loop instead of `model.fit`, oneDNN's
kernels off. Each lever trains in its own process
(threads and oneDNN are fixed when TensorFlow starts), with the preset's own training step as
`train.py` builds it and the lever's change on top, timed as `benchmarks.families` times a side:
--warmup steps, then --windows windows of about --window-seconds each, the median window's
images/s, its FLOP rate as a share of the machine's measured peak, and the load while it ran. The
preset as it is (`baseline`) is timed first and last, so the record shows how far the machine
drifted between the two. The record goes to <out>/levers-<preset>.json.

    python -m benchmarks.levers                                   # every lever, the default
    python -m benchmarks.levers --levers baseline,xla --preset wrn-16-4-recipe --window-seconds 8
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.common import base_record, default_out_dir, write_record


@dataclass(frozen=True)
class Lever:
    """A change to how a preset's training step runs.

    Args:
        description: what changes, for the table.
        overrides: `section.key=value` settings over the preset, as `train.py --set`.
        env: environment variables of the lever's process (read when TensorFlow starts).
        threads: (intra-op, inter-op) thread counts set before TensorFlow runs anything.
        steps_per_execution: training steps per call of the compiled function.
        loop: how the steps run: "fit" as a run trains, or "function", a plain loop over a
            `tf.function` of the train step (`benchmarks.families.time_plain_loop`).
    """

    description: str
    overrides: tuple[str, ...] = ()
    env: dict = field(default_factory=dict)
    threads: tuple[int, int] | None = None
    steps_per_execution: int = 1
    loop: str = "fit"


def _cores() -> int:
    return len(os.sched_getaffinity(0))


LEVERS = {
    "baseline": Lever("the preset as it trains"),
    "xla": Lever("XLA compiles the training step (`runtime.jit_compile=true`)",
                 overrides=("runtime.jit_compile=true",)),
    "steps-per-execution-8": Lever("8 training steps per call of the compiled function",
                                   steps_per_execution=8),
    "threads-one-inter-op": Lever("one intra-op thread per core, one inter-op thread",
                                  threads=(0, 1)),
    "openmp-pinned": Lever("OpenMP threads pinned to the cores, spinning 1 ms after a kernel",
                           env={"KMP_AFFINITY": "granularity=fine,compact,1,0",
                                "KMP_BLOCKTIME": "1", "OMP_PROC_BIND": "true"}),
    "batch-256": Lever("batch 256 instead of the preset's", overrides=("runtime.batch_size=256",)),
    "augment-in-dataset": Lever("augmentation in the tf.data map on the host, not in the step",
                                overrides=("runtime.augment_on=dataset",)),
    "plain-loop": Lever("a plain loop over a tf.function of the train step, not `model.fit`",
                        loop="function"),
    "onednn-off": Lever("oneDNN's kernels off (TensorFlow's own)",
                        env={"TF_ENABLE_ONEDNN_OPTS": "0"}),
}
RETIMED = "baseline"


def time_lever(name: str, preset: str, warmup: int, window_seconds: float, windows: int) -> dict:
    """In this process (started for the lever): the lever's threads, the preset with its
    overrides, and its timing (`benchmarks.families.time_training`)."""
    import tensorflow as tf

    lever = LEVERS[name]
    if lever.threads:
        intra, inter = lever.threads
        tf.config.threading.set_intra_op_parallelism_threads(intra or _cores())
        tf.config.threading.set_inter_op_parallelism_threads(inter)

    from benchmarks.families import time_training
    from data import load_fashion_mnist
    from training.presets import compose

    config = compose(preset=preset, overrides=lever.overrides).config.resolved().validate()
    return time_training(config, load_fashion_mnist(), warmup, window_seconds, windows,
                         steps_per_execution=lever.steps_per_execution, loop=lever.loop)


def run_lever(name: str, args, folder: Path, index: int) -> dict:
    """The lever timed in a process of its own; its error text where it failed."""
    out = folder / f"{index}-{name}.json"
    argv = [sys.executable, "-m", "benchmarks.levers", "--child", name, "--preset", args.preset,
            "--warmup", str(args.warmup), "--window-seconds", str(args.window_seconds),
            "--windows", str(args.windows), "--child-out", str(out)]
    env = {**os.environ, **LEVERS[name].env}
    done = subprocess.run(argv, env=env, capture_output=True, text=True)
    if done.returncode != 0 or not out.exists():
        lines = (done.stderr or done.stdout).strip().splitlines()
        return {"error": lines[-1] if lines else f"exit status {done.returncode}"}
    return json.loads(out.read_text())


def lever_rows(args) -> list[dict]:
    order = [RETIMED, *(name for name in args.levers if name != RETIMED), RETIMED]
    rows = []
    with tempfile.TemporaryDirectory(prefix="levers-") as folder:
        for index, name in enumerate(order):
            print(f"{name}: {LEVERS[name].description}", flush=True)
            result = run_lever(name, args, Path(folder), index)
            rate = result.get("images_per_second")
            print(f"  {result['error']}" if rate is None else f"  {rate:,.0f} images/s",
                  flush=True)
            rows.append({"lever": name, "description": LEVERS[name].description,
                         "overrides": list(LEVERS[name].overrides), "env": LEVERS[name].env,
                         "threads": LEVERS[name].threads,
                         "steps_per_execution": LEVERS[name].steps_per_execution,
                         "loop": LEVERS[name].loop, **result})
    return rows


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="What each lever around the kernels does to a preset's training speed.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--preset", default="default", help="preset whose training step runs")
    parser.add_argument("--levers", default=",".join(LEVERS), help="comma-separated; the "
                        "baseline is always timed first and last")
    parser.add_argument("--window-seconds", type=float, default=5.0,
                        help="about how long each timed window lasts")
    parser.add_argument("--windows", type=int, default=4, help="timed windows (median kept)")
    parser.add_argument("--warmup", type=int, default=16, help="untimed steps first")
    parser.add_argument("--out", type=Path, default=None, help="default: RESULTS_PATH/benchmarks")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--child-out", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.levers = [name.strip() for name in args.levers.split(",")]
    unknown = [name for name in args.levers + [args.child or RETIMED] if name not in LEVERS]
    if unknown:
        parser.error(f"argument --levers: unknown lever {', '.join(unknown)}; known: "
                     f"{', '.join(LEVERS)}")
    from training.presets import list_presets

    if args.preset not in list_presets():
        parser.error(f"argument --preset: unknown preset; known: {', '.join(list_presets())}. "
                     f"Received: {args.preset!r}")
    bounds = (("--window-seconds", args.window_seconds, 0.1), ("--windows", args.windows, 1),
              ("--warmup", args.warmup, 1))
    for name, value, least in bounds:
        if value < least:
            parser.error(f"argument {name}: must be >= {least}. Received: {value}")
    args.out = args.out or default_out_dir()
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.child:
        result = time_lever(args.child, args.preset, args.warmup, args.window_seconds,
                            args.windows)
        args.child_out.write_text(json.dumps(result))
        return 0
    rows = lever_rows(args)
    first, last = rows[0].get("images_per_second"), rows[-1].get("images_per_second")
    for row in rows:
        rate = row.get("images_per_second")
        row["against_baseline"] = round(rate / first, 3) if rate and first else None
    record = base_record("benchmarks.levers", argv)
    record.update(
        preset=args.preset, warmup_steps=args.warmup, window_seconds=args.window_seconds,
        windows=args.windows, rows=rows,
        baseline_drift=round(last / first - 1, 4) if first and last else None,
        alone=all((row.get("load") or {}).get("alone") for row in rows),
        timing="each lever in its own process: --warmup untimed steps, then --windows windows "
        "of about --window-seconds of the preset's train step with the lever; the median "
        "window's images/s; the baseline first and last",
    )
    path = write_record(args.out / f"levers-{args.preset}.json", record)
    print(f"record: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
