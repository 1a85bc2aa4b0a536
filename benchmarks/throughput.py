"""Training throughput of one model: this project's input pipeline against the old repository's.

Both approaches run in one process on one machine, with the same architecture, optimizer (Adam,
1e-3), loss and batch size:

  project  uint8 arrays in memory -> `make_training_dataset` (shuffle, batch) -> `model.fit`, with
           the legacy recipe's augmentation done by Keras layers in a parallel tf.data map
           (--augment-on dataset) or inside the compiled train step (--augment-on model), at
           28x28x1 and --precision; when that is a mixed policy, again in float32
           (`project_float32`) for a comparison at equal precision.
  legacy   the old repository's recipe on today's Keras: float64 arrays scaled to [0, 1] ->
           `ImageDataGenerator(width_shift_range=0.1, height_shift_range=0.1,
           horizontal_flip=True).flow(x, y, batch_size)` -> `model.fit`, in float32. For the
           models whose spec has a `legacy_input_shape` (the wide ResNets and MobileNetV2) the
           images are first upscaled to a float64 copy of that shape (56x56x3), as the old
           repository did, and the model is built for it; --legacy-images caps the copy's size.
           Those models are also measured on the legacy pipeline at 28x28x1 (`legacy_native`),
           to separate the input pipeline from the input size.

Each approach trains --warmup steps, then --windows windows of --steps / --windows steps; its
images/s is the median over the windows. Every step holds a full batch. Training FLOPs per image
(3x the profiled forward pass, see benchmarks/flops.py) turn images/s into GFLOP/s and, on a CPU,
a fraction of the peak. The record goes to
<out>/throughput-<model>[-<variant>]-<precision>[-xla][-augment-in-model].json.

    python -m benchmarks.throughput --model simple-cnn --steps 200 --windows 5 --warmup 20
    python -m benchmarks.throughput --model fast-cnn-small --approaches project \
        --model-arg fused_batchnorm=False --variant keras-bn
"""

import argparse
import math
import sys
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from benchmarks.common import (
    WindowTimer,
    base_record,
    check_variant,
    default_out_dir,
    load_train_split,
    restore_dtype_policy,
    window_rates,
    write_record,
)
from benchmarks.flops import flop_rates, measured_peak_for, train_flops_per_image
from data import IMAGE_SHAPE, NUM_CLASSES, build_augmentation, make_training_dataset
from models import build_model, get_spec, list_models
from models.arguments import check_model_arguments
from records.machine import LoadMeter, is_alone
from training.config import ExperimentConfig
from training.device_augmentation import augment_in_train_step
from training.hardware import (
    AUGMENT_ON,
    PRECISIONS,
    default_batch_size,
    probe_hardware,
    resolve_augment_on,
    resolve_jit_compile,
    resolve_precision,
)
from training.presets import model_argument

APPROACHES = ("project", "legacy")
LEGACY_AUGMENTATION = {"width_shift_range": 0.1, "height_shift_range": 0.1, "horizontal_flip": True}
# The same transforms as the legacy recipe, so both approaches do the same work per image.
PROJECT_AUGMENTATION = {"width_shift_range": 0.1, "height_shift_range": 0.1, "horizontal_flip": 0.5}
PIPELINES = {
    "dataset": "uint8 in memory -> make_training_dataset (shifts 0.1, flip 0.5 as Keras layers) "
    "-> fit",
    "model": "uint8 in memory -> make_training_dataset -> fit (shifts 0.1, flip 0.5 as Keras "
    "layers inside the train step)",
    "legacy": "float64 [0, 1] arrays -> ImageDataGenerator.flow -> fit",
}
FLOPS_CONVENTION = (
    "train FLOPs per image = 3 x forward FLOPs of one image, counted by TensorFlow's profiler "
    "(a multiply-add is 2 FLOPs); achieved GFLOP/s = train FLOPs per image x images/s"
)


def legacy_input_shape(model_name: str) -> tuple[int, int, int]:
    """The shape the old repository fed `model_name`: its spec's `legacy_input_shape` (56x56 RGB
    copies of the images for some families), else the images' own."""
    return get_spec(model_name).legacy_input_shape or IMAGE_SHAPE


def project_inputs(images, labels, batch_size: int, seed: int, augmentation):
    """This project's training pipeline, repeated; trimmed to whole batches."""
    whole = len(images) - len(images) % batch_size
    dataset = make_training_dataset(
        images[:whole], labels[:whole], batch_size, seed, augmentation=augmentation
    )
    return dataset, images[:whole].nbytes


def legacy_inputs(images, labels, input_shape, image_count: int, batch_size: int, seed: int):
    """The old repository's float64 arrays in [0, 1] behind `ImageDataGenerator.flow`."""
    count = min(image_count, len(images))
    count -= count % batch_size
    chosen = np.sort(np.random.default_rng(seed).choice(len(images), count, replace=False))
    arrays = images[chosen].astype(np.float64) / 255.0
    if arrays.shape[1:] != input_shape:
        arrays = tf.image.resize(arrays, input_shape[:2]).numpy().astype(np.float64)
        arrays = np.repeat(arrays, input_shape[2], axis=-1)
    generator = tf.keras.preprocessing.image.ImageDataGenerator(**LEGACY_AUGMENTATION)
    return generator.flow(arrays, labels[chosen], batch_size=batch_size), arrays.nbytes


def measure_approach(name, precision, input_shape, jit_compile, peak, train, args) -> dict:
    """Prepares the approach's inputs, trains a fresh model through the timed windows and
    returns its images/s, FLOP rates and setup costs."""
    images, labels = train
    total_steps = args.warmup + args.steps
    pipeline = "legacy" if name.startswith("legacy") else args.augment_on
    started = time.perf_counter()
    if pipeline == "legacy":
        inputs, nbytes = legacy_inputs(
            images, labels, input_shape, args.legacy_images, args.batch_size, args.seed
        )
        fit_options = {"epochs": math.ceil(total_steps / len(inputs))}
    else:
        augmentation = (
            build_augmentation(**PROJECT_AUGMENTATION, seed=args.seed)
            if pipeline == "dataset"
            else None
        )
        inputs, nbytes = project_inputs(images, labels, args.batch_size, args.seed, augmentation)
        fit_options = {"epochs": 1, "steps_per_epoch": total_steps, "shuffle": False}
    setup_seconds = time.perf_counter() - started

    keras.backend.clear_session()
    keras.mixed_precision.set_global_policy("float32")
    train_step_augmentation = (
        build_augmentation(**PROJECT_AUGMENTATION, seed=args.seed) if pipeline == "model" else None
    )
    keras.mixed_precision.set_global_policy(precision)
    model = build_model(args.model, input_shape=input_shape, num_classes=NUM_CLASSES,
                        **dict(args.model_args))
    if train_step_augmentation is not None:
        augment_in_train_step(model, train_step_augmentation)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        jit_compile=jit_compile,
    )
    timer = WindowTimer(args.warmup, args.steps // args.windows, args.windows)
    with LoadMeter() as meter:  # what else used the cores while it was timed
        model.fit(inputs, callbacks=[timer], verbose=0, **fit_options)
    rates = window_rates(timer.window_seconds(), timer.window_steps * args.batch_size)
    flops = train_flops_per_image(model, input_shape)
    return {
        "precision": precision,
        "jit_compile": jit_compile,
        "input_shape": list(input_shape),
        "params": int(model.count_params()),
        "augment_on": None if pipeline == "legacy" else pipeline,
        "pipeline": PIPELINES[pipeline],
        "input_array_bytes": int(nbytes),
        "input_setup_seconds": round(setup_seconds, 3),
        **rates,
        **flop_rates(flops, rates["images_per_second"], peak),
        "peak": peak,
        "load": {**meter.load, "alone": is_alone([meter.load])} if meter.load else None,
    }


def _approaches(value: str) -> list[str]:
    chosen = [name.strip() for name in value.split(",") if name.strip()]
    unknown = set(chosen) - set(APPROACHES)
    if not chosen or unknown:
        raise argparse.ArgumentTypeError(
            f"expected a comma-separated subset of {','.join(APPROACHES)}, got {value!r}"
        )
    return chosen


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Training throughput: this project's pipeline against the old repository's.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--model", required=True, help="registered model name")
    parser.add_argument("--steps", type=int, default=200, help="timed steps, split into windows")
    parser.add_argument("--windows", type=int, default=5, help="timed windows (median reported)")
    parser.add_argument("--warmup", type=int, default=20, help="untimed steps before the windows")
    parser.add_argument(
        "--batch-size", type=int, default=None, help="default: 128 on a CPU, 512 on a GPU"
    )
    parser.add_argument(
        "--precision",
        default="auto",
        choices=PRECISIONS,
        help="dtype policy of the project approach; legacy runs in float32",
    )
    parser.add_argument(
        "--jit-compile",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="XLA for every approach; default: on with a GPU only",
    )
    parser.add_argument(
        "--augment-on",
        default="auto",
        choices=AUGMENT_ON,
        help="where the project approach augments; auto: inside the train step (model), on a GPU "
        "and on a CPU alike",
    )
    parser.add_argument(
        "--approaches", type=_approaches, default=list(APPROACHES), help="comma-separated"
    )
    parser.add_argument(
        "--legacy-images",
        type=int,
        default=6000,
        help="images in the legacy float64 arrays (bounds their memory)",
    )
    parser.add_argument("--model-arg", dest="model_args", action="append", default=[],
                        type=model_argument, metavar="NAME=VALUE",
                        help="a constructor argument of the model, as train.py takes it; "
                        "repeatable; needs --variant")
    parser.add_argument("--variant", default=None,
                        help="a name for the model built with --model-arg, in the record's "
                        "file name and the table")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="default: RESULTS_PATH/benchmarks")
    return checked_args(parser, parser.parse_args(argv))


def checked_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.Namespace:
    """`args` with the hardware's defaults filled in; a bad value exits naming its flag."""
    if args.model not in list_models():
        parser.error(f"argument --model: unknown model; known: {', '.join(list_models())}")
    check_variant(parser, bool(args.model_args), args.variant, "--model-arg fused_batchnorm=False")
    if args.variant:
        try:
            check_model_arguments(args.model, dict(args.model_args), IMAGE_SHAPE, NUM_CLASSES)
        except ValueError as error:
            parser.error(str(error))
    if args.windows < 1 or args.steps < args.windows or args.steps % args.windows:
        parser.error("argument --steps: must be a positive multiple of --windows")
    if args.warmup < 1:
        parser.error("argument --warmup: must be at least 1 (the first step traces the model)")
    if args.batch_size is None:
        args.batch_size = default_batch_size("none", probe_hardware())
    if args.batch_size < 1:
        parser.error("argument --batch-size: must be at least 1")
    if args.legacy_images < args.batch_size:
        parser.error("argument --legacy-images: must be at least --batch-size")
    args.augment_on = resolve_augment_on(args.augment_on, probe_hardware())
    args.out = args.out or default_out_dir()
    return args


def _print_table(model: str, approaches: dict) -> None:
    legacy = approaches.get("legacy", {}).get("images_per_second")
    print(f"\n{model}")
    print(
        f"{'approach':<17}{'precision':<16}{'input':<10}{'img/s':>9}{'window range':>18}"
        f"{'vs legacy':>11}{'GFLOP/s':>10}{'of peak':>9}"
    )
    for name, result in approaches.items():
        rates = result["window_images_per_second"]
        ratio = f"{result['images_per_second'] / legacy:.2f}x" if legacy else "-"
        utilisation = f"{result['utilisation']:.1%}" if result["utilisation"] is not None else "-"
        print(
            f"{name:<17}{result['precision']:<16}{'x'.join(map(str, result['input_shape'])):<10}"
            f"{result['images_per_second']:>9.1f}{f'{min(rates):.0f}-{max(rates):.0f}':>18}"
            f"{ratio:>11}{result['achieved_gflops']:>10.1f}{utilisation:>9}"
        )


def approach_plans(approaches, precision: str, model: str) -> dict:
    """approach -> (precision, input shape): the project pipeline in `precision` and, when that is
    mixed, in float32 too; the legacy pipeline at its own input shape and, for the upscaled
    families, at 28x28x1 as well, to compare the pipelines alone at equal resolution."""
    plans = {}
    if "project" in approaches:
        plans["project"] = (precision, IMAGE_SHAPE)
        if precision != "float32":
            plans["project_float32"] = ("float32", IMAGE_SHAPE)
    if "legacy" in approaches:
        plans["legacy"] = ("float32", legacy_input_shape(model))
        if plans["legacy"][1] != IMAGE_SHAPE:
            plans["legacy_native"] = ("float32", IMAGE_SHAPE)
    return plans


def speed_ratios(results: dict, precision: str) -> dict:
    """Each project approach's images/s over the legacy pipeline's, and float32 over the legacy
    pipeline at 28x28x1."""
    legacy_rate = results.get("legacy", {}).get("images_per_second")
    ratios = {
        f"{name}_vs_legacy": round(result["images_per_second"] / legacy_rate, 3)
        for name, result in results.items()
        if legacy_rate and not name.startswith("legacy")
    }
    float32_name = "project" if precision == "float32" else "project_float32"
    if "legacy_native" in results and float32_name in results:
        ratios[f"{float32_name}_vs_legacy_native"] = round(
            results[float32_name]["images_per_second"]
            / results["legacy_native"]["images_per_second"],
            3,
        )
    return ratios


def throughput_record(args, argv, results, ratios, precision, jit_compile, on_gpu) -> dict:
    record = base_record("benchmarks.throughput", argv)
    record.update(
        model=args.model,
        variant=args.variant,
        model_args=dict(args.model_args),
        params=results[next(iter(results))]["params"],
        batch_size=args.batch_size,
        precision=precision,
        jit_compile=jit_compile,
        device="GPU" if on_gpu else "CPU",
        warmup_steps=args.warmup,
        timed_steps=args.steps,
        windows=args.windows,
        window_steps=args.steps // args.windows,
        legacy_images=args.legacy_images if "legacy" in results else None,
        augment_on=args.augment_on,
        project_augmentation=PROJECT_AUGMENTATION,
        legacy_augmentation=LEGACY_AUGMENTATION,
        flops_convention=FLOPS_CONVENTION,
        peak_note=(
            "no peak: training ran on a GPU, whose peak is not measured here"
            if on_gpu
            else "peak = the GFLOP/s large matrix products measurably reach on this machine in "
            "the approach's dtype (records.machine.measured_peak)"
        ),
        approaches=results,
        ratios=ratios,
    )
    return record


def main(argv=None, data=None) -> int:
    """Runs the benchmark; `data` (a `FashionMNIST`) skips loading the dataset again."""
    args = parse_args(argv)
    hardware = probe_hardware()
    precision = resolve_precision(args.precision, get_spec(args.model).cpu_precision, hardware)
    jit_compile = resolve_jit_compile(args.jit_compile, hardware)
    on_gpu = hardware.gpus > 0
    train, _ = load_train_split(data, ExperimentConfig().data.val_size, args.seed)
    keras.utils.set_random_seed(args.seed)

    results = {}
    with restore_dtype_policy():
        for name, (approach_precision, shape) in approach_plans(
            args.approaches, precision, args.model
        ).items():
            print(f"{name}: {approach_precision}, {'x'.join(map(str, shape))}")
            peak = None if on_gpu else measured_peak_for(approach_precision)
            results[name] = measure_approach(
                name, approach_precision, shape, jit_compile, peak, train, args
            )
    ratios = speed_ratios(results, precision)
    record = throughput_record(args, argv, results, ratios, precision, jit_compile, on_gpu)
    suffix = ("-xla" if jit_compile else "") + (
        "-augment-in-model" if args.augment_on == "model" else ""
    )
    name = args.model + (f"-{args.variant}" if args.variant else "")
    path = write_record(args.out / f"throughput-{name}-{precision}{suffix}.json", record)
    _print_table(name, results)
    for name, ratio in ratios.items():
        print(f"{name.replace('_vs_', ' / ')}: {ratio:.2f}x")
    print(f"record: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
