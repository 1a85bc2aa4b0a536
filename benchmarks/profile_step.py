"""Where the time of one training step goes: the ops of a profiled train step, by category.

Builds a preset's model, optimizer and training batches as `train.py` does (augmentation inside
the train step where the preset puts it there) and trains them in one `fit`: --warmup steps
(tracing, caches), then --steps steps timed without the profiler, then --steps more timed under
TensorFlow's profiler (`tf.profiler.experimental.start`/`stop`).

The profile is read with the profiler plugin's `framework_op_stats` tool, which gives every op of
the profiled window with its type, full name and self time (its time minus that of the ops it
waited for) on the host CPU, or on the accelerator when one ran the step. Each op's self time goes
to one category (`category_of`): first by the innermost name scope that belongs to a category
(`SCOPE_CATEGORIES`, and the model's own BatchNorm and pooling layers and its optimizer, see
`model_scopes`), because Keras 3 computes BatchNorm, the optimizer's update (Adam, the moving
average of the weights) and this project's augmentation with ordinary element-wise ops; then by
the op's type (`OP_TYPE_PATTERNS`); else "other". The step time that no op explains (Python and
framework work between ops, waiting) is the wall time per step less the summed self time. Ops of
several threads run at once on a multi-core CPU (the tf.data threads beside the step, independent
ops of the step itself), so that sum can exceed the wall time and the rest be negative.

Images/s and the FLOP rate come from the steps timed without the profiler; the FLOPs per image and
the peak are those of the throughput benchmark (benchmarks/flops.py). The record goes to
<out>/profile-<model>[-<variant>]-<precision>.json. Nothing else should run on the machine
meanwhile.

    python -m benchmarks.profile_step --preset default --steps 50 --warmup 10
    python -m benchmarks.profile_step --set "model.args={fused_batchnorm = false}" \
        --variant keras-bn
"""

import argparse
import fnmatch
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import keras
import tensorflow as tf

from benchmarks.common import base_record, check_variant, default_out_dir, write_record
from benchmarks.flops import flop_rates, measured_peak_for, train_flops_per_image
from data import IMAGE_SHAPE, load_fashion_mnist
from models.arguments import check_model_arguments
from models.whitening import fit_whitening, whitening_layers
from training.config import ConfigError
from training.experiment import build_compiled_model, build_data
from training.hardware import PRECISIONS, make_strategy
from training.presets import FLAGS, compose, list_presets, where

PROFILER_TOOL = "framework_op_stats"
# Category -> its name in tables, in the order of the tables.
CATEGORIES = {
    "convolution": "Convolutions (forward and backward)",
    "batchnorm": "BatchNorm (forward and backward)",
    "matmul": "Matrix products (dense layers)",
    "elementwise": "Element-wise ops (activations, casts, arithmetic)",
    "pooling": "Pooling",
    "augmentation": "Augmentation in the train step",
    "optimizer": "Optimizer update (Adam, moving average)",
    "input": "Input pipeline (tf.data)",
    "other": "Other ops",
}
# Op types -> category, the first match wins; `*` matches any text (`fnmatch`). Types are compared
# without oneDNN's prefixes (`normalized_op_type`: `_MklNativeConv2DBackpropFilter` is
# `Conv2DBackpropFilter`). A type that matches nothing is "other".
OP_TYPE_PATTERNS = (
    ("input", ("IteratorGetNext*", "Iterator*", "MultiDeviceIterator*", "Optional*", "*Dataset*")),
    ("convolution", ("Conv*", "FusedConv*", "DepthwiseConv*", "FusedDepthwiseConv*")),
    ("batchnorm", ("FusedBatchNorm*", "BatchNorm*")),
    ("matmul", ("MatMul*", "BatchMatMul*", "FusedMatMul*", "Einsum")),
    ("pooling", ("MaxPool*", "AvgPool*")),
    (
        "augmentation",
        (
            "ImageProjectiveTransform*", "StatelessRandom*", "StatefulRandom*", "RandomUniform*",
            "RandomStandardNormal", "TruncatedNormal", "StatelessMultinomial", "Multinomial",
            "RngReadAndSkip", "RngSkip", "StatefulUniform*", "StatefulStandardNormal*",
            "StatelessTruncatedNormal*", "AdjustContrast*", "AdjustHue", "AdjustSaturation",
        ),
    ),
    (
        "optimizer",
        (
            "ResourceApply*", "ResourceSparseApply*", "Apply*", "AssignVariableOp",
            "AssignAddVariableOp", "AssignSubVariableOp",
        ),
    ),
    (
        "elementwise",
        (
            "Relu*", "Elu*", "Selu*", "Gelu*", "LeakyRelu*", "Swish*", "Mish*", "Sigmoid*",
            "Tanh*", "Softplus*", "Softsign*", "Cast", "Mul", "MulNoNan", "Add", "AddV2", "AddN",
            "Sub", "Neg", "RealDiv", "Div", "DivNoNan", "FloorDiv", "FloorMod", "Reciprocal*",
            "Square", "SquaredDifference", "Sqrt*", "Rsqrt*", "Exp", "Expm1", "Log", "Log1p",
            "Pow", "Maximum", "Minimum", "Abs", "Sign", "Floor", "Ceil", "Round", "BiasAdd*",
            "Select", "SelectV2", "ClipByValue", "Less*", "Greater*", "Equal", "NotEqual",
            "Logical*", "ZerosLike", "OnesLike",
        ),
    ),
)  # fmt: skip
# Name scopes (the parts of an op's name before its own, with Keras' `_<n>` suffixes removed) whose
# ops belong to a category whatever their types.
SCOPE_CATEGORIES = {
    "augmentation": "augmentation",  # data.augmentation.augment_at_step
    "batch_normalization": "batchnorm",  # Keras' default names of its layers
    "max_pooling2d": "pooling",
    "average_pooling2d": "pooling",
    "global_max_pooling2d": "pooling",
    "global_average_pooling2d": "pooling",
    **dict.fromkeys(("adam", "adamw", "sgd", "rmsprop", "loss_scale_optimizer"), "optimizer"),
}
MKL_PREFIX = re.compile(r"^_(?:MklNative|Mkl|OneDnn)?")
NAME_SUFFIX = re.compile(r"(?:_\d+)+$")
TOP_OP_TYPES = 15
OVERLAP_NOTE = (
    "op self-times are summed over every thread; on a multi-core CPU ops of several threads run "
    "at once (tf.data beside the step, independent ops of the step), so the sum can exceed the "
    "wall time and the time not in ops can be negative; shares are of the profiled step's wall "
    "time"
)


def normalized_op_type(op_type: str) -> str:
    """`op_type` without the prefix of oneDNN's rewrites: `_MklNativeFusedConv2D` is
    `FusedConv2D`, `_MklMatMul` is `MatMul`."""
    return MKL_PREFIX.sub("", op_type)


def _scope_category(op_name: str, scopes: dict[str, str]) -> str | None:
    """The category of the innermost scope of `op_name` that has one in `scopes` or
    `SCOPE_CATEGORIES`."""
    for part in reversed(op_name.split("/")[:-1]):
        for candidate in (part, re.sub(r"_\d+$", "", part), NAME_SUFFIX.sub("", part)):
            for table in (scopes, SCOPE_CATEGORIES):
                if candidate in table:
                    return table[candidate]
    return None


def category_of(op_type: str, op_name: str = "", scopes: dict[str, str] | None = None) -> str:
    """The category (a key of `CATEGORIES`) of an op of type `op_type` named `op_name`.

    Args:
        op_type: the op's type as the profiler names it, e.g. `_MklNativeConv2DBackpropFilter`.
        op_name: its full name, whose scopes can decide (see `SCOPE_CATEGORIES`).
        scopes: more scope names -> category, before `SCOPE_CATEGORIES` (see `model_scopes`).

    Example:

    ```python
    category_of("Conv2DBackpropFilter")  # 'convolution'
    category_of("Mul", "StatefulPartitionedCall/adam/Mul_3")  # 'optimizer'
    ```
    """
    category = _scope_category(op_name, scopes or {})
    if category is not None:
        return category
    normalized = normalized_op_type(op_type)
    for category, patterns in OP_TYPE_PATTERNS:
        if any(fnmatch.fnmatchcase(normalized, pattern) for pattern in patterns):
            return category
    return "other"


def model_scopes(model: keras.Model) -> dict[str, str]:
    """Scope name -> category for the names of `model`'s BatchNorm and pooling layers and of its
    optimizer, whatever names the model gave them."""
    scopes = {}
    for layer in model._flatten_layers(include_self=False):
        if isinstance(layer, keras.layers.BatchNormalization):
            scopes[layer.name] = "batchnorm"
        elif any("Pooling" in cls.__name__ for cls in type(layer).__mro__):
            scopes[layer.name] = "pooling"
    if getattr(model, "optimizer", None) is not None:
        scopes[model.optimizer.name] = "optimizer"
    return scopes


def xplane_files(logdir: Path) -> list[Path]:
    """The newest profile's XSpace files: `<logdir>/plugins/profile/<run>/<host>.xplane.pb`."""
    runs = sorted((logdir / "plugins" / "profile").glob("*/"))
    files = sorted(runs[-1].glob("*.xplane.pb")) if runs else []
    if not files:
        raise FileNotFoundError(f"No profile in {logdir}: the profiler wrote no .xplane.pb file.")
    return files


def datatable_rows(text: str | bytes) -> list[dict]:
    """The rows of the first table in Google DataTable JSON (`{"cols": [{"id": ...}], "rows":
    [{"c": [{"v": ...}]}]}`, or a list of such tables) as dicts keyed by the columns' ids."""
    tables = json.loads(text)
    table = tables[0] if isinstance(tables, list) else tables
    columns = [column["id"] for column in table["cols"]]
    return [
        dict(zip(columns, ((cell or {}).get("v") for cell in row["c"]))) for row in table["rows"]
    ]


def op_stats(logdir: Path) -> list[dict]:
    """Per op of the profile in `logdir`: `host_or_device`, `type`, `operation` (its full name),
    `occurrences` and `total_self_time` in microseconds, from the `framework_op_stats` tool."""
    from tensorflow.python.profiler.internal import _pywrap_profiler_plugin

    paths = [str(path) for path in xplane_files(logdir)]
    data, ok = _pywrap_profiler_plugin.xspace_to_tools_data(paths, PROFILER_TOOL, {})
    if not ok:
        raise RuntimeError(f"The profiler's {PROFILER_TOOL} tool failed: {data!r}")
    return datatable_rows(data)


def summed_self_times(rows: list[dict], scopes=None) -> tuple[str, dict, dict]:
    """Where the ops ran ("Device" when any row is an accelerator's, else "Host"), the self
    seconds of each category there, and of each (op type, category) with its occurrences; the
    profiler's IDLE row left out."""
    where = "Device" if any(row["host_or_device"] == "Device" for row in rows) else "Host"
    seconds = dict.fromkeys(CATEGORIES, 0.0)
    by_type: dict[tuple[str, str], list[float]] = {}
    for row in rows:
        if row["host_or_device"] != where or row["type"] == "IDLE":
            continue
        category = category_of(row["type"], row["operation"], scopes)
        self_seconds = row["total_self_time"] / 1e6
        seconds[category] += self_seconds
        entry = by_type.setdefault((row["type"], category), [0.0, 0.0])
        entry[0] += self_seconds
        entry[1] += row["occurrences"] or 0
    return where, seconds, by_type


def breakdown(rows: list[dict], steps: int, wall_seconds_per_step: float, scopes=None) -> dict:
    """Self time per step by category and of the `TOP_OP_TYPES` heaviest op types, with their
    shares of the wall time per step and of the summed op time.

    The rows of the accelerator are used when there are any (then host ops, the input pipeline
    among them, are not counted), else those of the host; the profiler's IDLE row is left out.

    Args:
        rows: `op_stats`' rows.
        steps: the profiled steps.
        wall_seconds_per_step: the profiled steps' wall time per step.
        scopes: more scope names -> category, beside `SCOPE_CATEGORIES` (see `model_scopes`).

    Example:

    ```python
    rows = [{"host_or_device": "Host", "type": "Conv2D", "operation": "model/conv/Conv2D",
             "occurrences": 10, "total_self_time": 2e6}]
    breakdown(rows, steps=10, wall_seconds_per_step=0.5)["categories"]["convolution"]
    # {'label': 'Convolutions (forward and backward)', 'seconds_per_step': 0.2,
    #  'share_of_step': 0.4, 'share_of_op_time': 1.0}
    ```
    """
    if steps < 1 or wall_seconds_per_step <= 0:
        raise ValueError(
            "steps must be >= 1 and wall_seconds_per_step positive. Received: "
            f"steps={steps}, wall_seconds_per_step={wall_seconds_per_step}"
        )
    where, seconds, by_type = summed_self_times(rows, scopes)
    op_seconds = sum(seconds.values()) / steps

    def shares(total_seconds: float) -> dict:
        per_step = total_seconds / steps
        return {
            "seconds_per_step": round(per_step, 6),
            "share_of_step": round(per_step / wall_seconds_per_step, 4),
            "share_of_op_time": round(per_step / op_seconds, 4) if op_seconds else 0.0,
        }

    heaviest = sorted(by_type.items(), key=lambda item: -item[1][0])[:TOP_OP_TYPES]
    return {
        "measured_on": where.lower(),
        "categories": {
            name: {"label": label, **shares(seconds[name])} for name, label in CATEGORIES.items()
        },
        "top_op_types": [
            {
                "op_type": op_type,
                "category": category,
                **shares(total),
                "occurrences_per_step": round(occurrences / steps, 2),
            }
            for (op_type, category), (total, occurrences) in heaviest
        ],
        "op_seconds_per_step": round(op_seconds, 6),
        "unexplained_seconds_per_step": round(wall_seconds_per_step - op_seconds, 6),
        "unexplained_share": round(1 - op_seconds / wall_seconds_per_step, 4),
    }


class ProfiledWindows(keras.callbacks.Callback):
    """Times steps W+1..W+K without the profiler and W+K+1..W+2K under it, then stops training.

    Keras converts each step's logs to Python numbers before `on_train_batch_end`, which waits
    for the step to finish, so each timestamp marks a completed step. The profiler starts right
    after step W+K and stops right after the last timestamp.

    Args:
        warmup_steps: W >= 1 untimed steps (tracing, caches).
        steps: K >= 1 steps per window.
        logdir: where the profiler writes its trace.
    """

    def __init__(self, warmup_steps: int, steps: int, logdir: Path):
        super().__init__()
        if warmup_steps < 1 or steps < 1:
            raise ValueError(
                f"warmup_steps and steps must be >= 1. Received: {warmup_steps}, {steps}"
            )
        self.warmup_steps, self.steps, self.logdir = warmup_steps, steps, logdir
        self.total_steps = warmup_steps + 2 * steps
        self.done = 0
        self.marks: dict[str, float] = {}
        self.profiling = False

    def on_train_batch_end(self, batch, logs=None):
        self.done += 1
        if self.done == self.warmup_steps:
            self.marks["plain_start"] = time.perf_counter()
        elif self.done == self.warmup_steps + self.steps:
            self.marks["plain_end"] = time.perf_counter()
            tf.profiler.experimental.start(str(self.logdir))
            self.profiling = True
            self.marks["profiled_start"] = time.perf_counter()
        elif self.done == self.total_steps:
            self.marks["profiled_end"] = time.perf_counter()
            self.stop_profiler()
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        self.stop_profiler()  # training ended early: leave no profiler running

    def stop_profiler(self) -> None:
        if self.profiling:
            tf.profiler.experimental.stop()
            self.profiling = False

    def seconds_per_step(self) -> tuple[float, float]:
        """(without the profiler, under it), each the window's wall time over its steps."""
        if "profiled_end" not in self.marks:
            raise RuntimeError(
                f"Training stopped after {self.done} of {self.total_steps} steps: the input ran "
                "out or training was interrupted."
            )
        marks = self.marks
        return (
            (marks["plain_end"] - marks["plain_start"]) / self.steps,
            (marks["profiled_end"] - marks["profiled_start"]) / self.steps,
        )


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Where the time of one training step goes, by kind of op.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--preset", default="default", help="preset to profile (train.py's)")
    parser.add_argument("--steps", type=int, default=50, help="profiled steps (and timed ones)")
    parser.add_argument("--warmup", type=int, default=10, help="steps before any timing")
    parser.add_argument(
        "--precision", default=None, choices=PRECISIONS, help="override the preset's precision"
    )
    parser.add_argument(
        "--limit-train", type=int, default=None, help="train on a stratified subset (smoke runs)"
    )
    parser.add_argument(
        "--logdir", type=Path, default=None,
        help="keep the profile in this folder (TensorBoard's profile tab), not a temporary one",
    )  # fmt: skip
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
        help="override a setting of the preset, as train.py's --set; repeatable; needs --variant",
    )  # fmt: skip
    parser.add_argument("--variant", default=None,
                        help="a name for what --set changes, in the record's file name")
    parser.add_argument("--out", type=Path, default=None, help="default: RESULTS_PATH/benchmarks")
    args = parser.parse_args(argv)
    check_variant(parser, bool(args.overrides), args.variant,
                  "--set 'model.args={fused_batchnorm = false}'")
    if args.preset not in list_presets():
        parser.error(
            f"argument --preset: unknown preset; known: {', '.join(list_presets())}. "
            f"Received: {args.preset!r}"
        )
    if args.steps < 1:
        parser.error(f"argument --steps: must be >= 1. Received: {args.steps}")
    if args.warmup < 1:
        parser.error(
            "argument --warmup: must be >= 1 (the first step traces the model). "
            f"Received: {args.warmup}"
        )
    args.config = checked_config(parser, args)
    args.out = args.out or default_out_dir()
    return args


def checked_config(parser, args):
    """The preset with --precision, --limit-train and --set, resolved and checked; a bad value
    exits naming the flag, or the `--set` key, that gave it."""
    flags = {"precision": args.precision} if args.precision else {}
    if args.limit_train is not None:
        flags["limit_train"] = args.limit_train
    try:
        layers = compose(preset=args.preset, flags=flags, overrides=args.overrides)
        config = layers.config.resolved().validate()
        if config.model.args:
            check_model_arguments(config.model.name, config.model.args)
    except ConfigError as error:
        if error.field in flags or not args.overrides:
            flag = FLAGS[error.field] if error.field in flags else "--preset"
            parser.error(f"argument {flag}: {error.describe(flag)}")
        parser.error(where(error, layers.sources))
    except ValueError as error:  # an unknown key or a value of the wrong type in --set
        parser.error(str(error))
    return config


def profile_record(args, argv, model, timing, profile, flops) -> dict:
    config = args.config
    plain, profiled = timing
    record = base_record("benchmarks.profile_step", argv)
    record.update(
        preset=args.preset,
        variant=args.variant,
        overrides=args.overrides,
        model=config.model.name,
        params=int(model.count_params()),
        precision=config.runtime.precision,
        batch_size=config.runtime.batch_size,
        augment_on=config.runtime.augment_on,
        jit_compile=config.runtime.jit_compile,
        cores=len(os.sched_getaffinity(0)),
        warmup_steps=args.warmup,
        profiled_steps=args.steps,
        wall_seconds_per_step=round(profiled, 6),
        unprofiled_wall_seconds_per_step=round(plain, 6),
        profiler_slowdown=round(profiled / plain, 3),
        images_per_second=round(config.runtime.batch_size / plain, 2),
        **profile,
        flops=flops,
        profiler={
            "tool": PROFILER_TOOL,
            "time": "self time of each op, summed per category and divided by the profiled steps",
            "categories": "innermost name scope with a category (SCOPE_CATEGORIES, the model's "
            "BatchNorm and pooling layers, its optimizer), else the op type (OP_TYPE_PATTERNS), "
            "else other",
        },
        timing=(
            "wall_seconds_per_step: the profiled steps, each timestamp after a completed step; "
            "unprofiled_wall_seconds_per_step: as many steps just before, without the profiler, "
            "which images/s and the FLOP rate use (a partial last batch of an epoch counts as "
            "full)"
        ),
        overlap_note=OVERLAP_NOTE,
        config=config.to_dict(),
    )
    return record


def main(argv=None, data=None) -> int:
    """Runs the benchmark; `data` (a `FashionMNIST`) skips loading the dataset again."""
    args = parse_args(argv)
    config = args.config
    strategy = make_strategy("none")
    keras.utils.set_random_seed(config.runtime.seed)
    run_data = build_data(config, data if data is not None else load_fashion_mnist(),
                          with_test=False)  # fmt: skip
    model = build_compiled_model(config, strategy, run_data.steps_per_epoch)
    if whitening_layers(model):
        fit_whitening(model, run_data.train[0])
    runtime = config.runtime
    print(f"{args.preset}: {config.model.name}, {runtime.precision}, batch {runtime.batch_size}, "
          f"{args.warmup} warm-up steps, {args.steps} timed, {args.steps} profiled")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="profile-step-") as temporary:
        logdir = args.logdir or Path(temporary)
        windows = ProfiledWindows(args.warmup, args.steps, logdir)
        model.fit(
            run_data.train_ds,
            epochs=1,
            steps_per_epoch=windows.total_steps,  # the training dataset is endless
            callbacks=[windows],
            verbose=0,
            shuffle=False,
        )
        plain, profiled = windows.seconds_per_step()
        profile = breakdown(op_stats(logdir), args.steps, profiled, model_scopes(model))
    images_per_second = config.runtime.batch_size / plain
    peak = (None if tf.config.list_physical_devices("GPU")
            else measured_peak_for(config.runtime.precision))
    flops = {
        **flop_rates(train_flops_per_image(model, IMAGE_SHAPE), images_per_second, peak),
        "peak": peak,
    }
    record = profile_record(args, argv, model, (plain, profiled), profile, flops)
    variant = f"-{args.variant}" if args.variant else ""
    name = f"profile-{config.model.name}{variant}-{config.runtime.precision}.json"
    path = write_record(args.out / name, record)
    print_breakdown(record)
    print(f"record: {path}")
    return 0


def print_breakdown(record: dict) -> None:
    wall = record["wall_seconds_per_step"]
    print(f"\n{'category':<52}{'ms/step':>10}{'of step':>9}")
    for entry in record["categories"].values():
        print(f"{entry['label']:<52}{1000 * entry['seconds_per_step']:>10.2f}"
              f"{entry['share_of_step']:>9.1%}")  # fmt: skip
    print(f"{'not in op time (Python, framework)':<52}"
          f"{1000 * record['unexplained_seconds_per_step']:>10.2f}"
          f"{record['unexplained_share']:>9.1%}")  # fmt: skip
    print(f"{'step, wall clock under the profiler':<52}{1000 * wall:>10.2f}{1:>9.0%}")
    print(f"{record['images_per_second']:,.0f} images/s without the profiler "
          f"({record['profiler_slowdown']:.2f}x slower under it)")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
