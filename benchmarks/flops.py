"""FLOPs of a training step and the machine's measured peak FLOP rate, to turn images/s into a
utilisation.

Counting convention: forward FLOPs per image come from TensorFlow's profiler
(`ProfileOptionBuilder.float_operation()`) on the graph of one inference call at batch size 1.
A multiply-add counts as 2 FLOPs; convolutions and matrix products dominate; element-wise ops
count where TensorFlow registers a cost for them. One training step is counted as 3x the forward
pass, because the backward pass computes gradients with respect to the activations and to the
weights, each about one forward pass. Optimizer updates, augmentation and input pipelines are not
counted.

Peak: what large matrix products measurably reach on this machine in the model's dtype
(`measured_peak_for`), not a clock-times-width formula, which the machines' kernels beat.

    python -m benchmarks.flops --model wrn-16-4 --input-shape 56 56 3
"""

import argparse
import contextlib
import sys

from records.machine import cpu_facts, measured_peak

TRAIN_STEP_FORWARD_PASSES = 3


@contextlib.contextmanager
def _quiet_tensorflow_logger():
    """The v1 profiler logs deprecation warnings about its own internals on every first use."""
    import tensorflow as tf

    logger = tf.get_logger()
    level = logger.level
    logger.setLevel("ERROR")
    try:
        yield
    finally:
        logger.setLevel(level)


def forward_flops_per_image(model, input_shape) -> int:
    """FLOPs of one inference pass of `model` on a single image of `input_shape` (H, W, C)."""
    import tensorflow as tf

    profiler = tf.compat.v1.profiler
    forward = tf.function(lambda images: model(images, training=False))
    graph = forward.get_concrete_function(tf.TensorSpec((1, *input_shape), tf.float32)).graph
    options = (
        profiler.ProfileOptionBuilder(profiler.ProfileOptionBuilder.float_operation())
        .with_empty_output()
        .build()
    )
    with _quiet_tensorflow_logger():
        return int(profiler.profile(graph=graph, options=options).total_float_ops)


def train_flops_per_image(model, input_shape) -> int:
    return TRAIN_STEP_FORWARD_PASSES * forward_flops_per_image(model, input_shape)


def measured_peak_for(precision: str) -> dict:
    """The peak a model's FLOP rate in `precision` is held against: the GFLOP/s that large
    matrix products reach in its dtype on this machine (`records.machine.measured_peak`, cached
    per machine), with the machine and whether the cores were quiet when it was measured."""
    dtype = "bfloat16" if precision == "mixed_bfloat16" else "float32"
    key = cpu_facts()["key"]
    peak = measured_peak(key)
    return {"dtype": dtype, "gflops": peak["gflops"][dtype], "machine": key,
            "measured": peak.get("measured"), "alone": peak.get("alone")}


def flop_rates(train_flops_per_image: int, images_per_second: float, peak: dict | None) -> dict:
    """Achieved GFLOP/s and, with a peak, the fraction of it."""
    achieved = train_flops_per_image * images_per_second / 1e9
    return {
        "flops_per_image_train": train_flops_per_image,
        "achieved_gflops": round(achieved, 2),
        "peak_gflops": peak["gflops"] if peak else None,
        "utilisation": round(achieved / peak["gflops"], 4) if peak else None,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description="FLOPs per image of a model and the machine's measured peak.")
    parser.add_argument("--model", required=True, help="registered model name")
    parser.add_argument(
        "--input-shape", type=int, nargs=3, default=(28, 28, 1), metavar=("H", "W", "C")
    )
    args = parser.parse_args(argv)

    from models import build_model, list_models

    if args.model not in list_models():
        parser.error(f"argument --model: unknown model; known: {', '.join(list_models())}")
    model = build_model(args.model, input_shape=tuple(args.input_shape))
    forward = forward_flops_per_image(model, args.input_shape)
    print(f"{args.model} at {tuple(args.input_shape)}, {model.count_params():,} parameters")
    print(f"  forward     {forward / 1e6:12.2f} MFLOP/image")
    print(f"  train step  {TRAIN_STEP_FORWARD_PASSES * forward / 1e6:12.2f} MFLOP/image (3x)")
    for precision in ("float32", "mixed_bfloat16"):
        peak = measured_peak_for(precision)
        print(f"  measured peak {peak['dtype']}: {peak['gflops']:.1f} GFLOP/s on {peak['machine']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
