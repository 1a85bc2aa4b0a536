"""FLOPs of a training step and the CPU's peak FLOP rate, to turn images/s into a utilisation.

Counting convention: forward FLOPs per image come from TensorFlow's profiler
(`ProfileOptionBuilder.float_operation()`) on the graph of one inference call at batch size 1.
A multiply-add counts as 2 FLOPs; convolutions and matrix products dominate; element-wise ops
count where TensorFlow registers a cost for them. One training step is counted as 3x the forward
pass, because the backward pass computes gradients with respect to the activations and to the
weights, each about one forward pass. Optimizer updates, augmentation and input pipelines are not
counted.

Peak: physical cores x clock x FLOPs per cycle per core, where FLOPs per cycle follow from the
CPU's vector instructions (see `fp32_flops_per_cycle` and `bf16_flops_per_cycle`).

    python -m benchmarks.flops --model wrn-16-4 --input-shape 56 56 3
"""

import argparse
import contextlib
import os
import sys
from pathlib import Path

TRAIN_STEP_FORWARD_PASSES = 3
CPU_SYSFS = Path("/sys/devices/system/cpu")


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


def _processors(cpuinfo: str) -> list[dict[str, str]]:
    """The per-processor blocks of /proc/cpuinfo as dicts."""
    processors = []
    for block in cpuinfo.strip().split("\n\n"):
        fields = {}
        for line in block.splitlines():
            key, _, value = line.partition(":")
            fields[key.strip()] = value.strip()
        if "processor" in fields:
            processors.append(fields)
    return processors


def fp32_flops_per_cycle(vendor: str, family: int, model: int, flags: set[str]) -> tuple[int, str]:
    """fp32 FLOPs per cycle per core from the widest FMA the core executes, and why."""
    amd = vendor == "AuthenticAMD"
    if "avx512f" in flags:
        if amd and family < 0x1A:
            return 32, "AVX-512 on 256-bit units (AMD Zen 4): 2 FMA pipes x 8 fp32 lanes x 2"
        return 64, "AVX-512: 2 FMA units x 16 fp32 lanes x 2 (cores with one 512-bit FMA: half)"
    if "fma" in flags and "avx2" in flags:
        if amd and family == 0x17 and model < 0x30:
            return 16, "AMD Zen/Zen+: 2 FMA pipes x 4 fp32 lanes x 2"
        return 32, "AVX2: 2 FMA units x 8 fp32 lanes x 2"
    return 8, "SSE without FMA: one 4-lane multiply and one 4-lane add per cycle"


def bf16_flops_per_cycle(fp32_flops: int, fp32_basis: str, flags: set[str]) -> tuple[int, str]:
    """bf16 FLOPs per cycle per core, assuming oneDNN uses the best bf16 instructions present."""
    if "amx_bf16" in flags:
        return 1024, "AMX: a 16x32 by 32x16 bf16 tile product (8,192 multiply-adds) per 16 cycles"
    if "avx512_bf16" in flags:
        return (
            2 * fp32_flops,
            f"AVX512_BF16 dot products: 2 bf16 products per fp32 lane at the FMA rate, "
            f"2 x ({fp32_basis})",
        )
    return fp32_flops, f"no bf16 instructions, so the fp32 rate: {fp32_basis}"


def _clock_ghz(processors: list[dict[str, str]], read_cpufreq: bool) -> tuple[float, str]:
    """Maximum clock of the CPUs: cpufreq's maximum when exposed, else /proc/cpuinfo's clock."""
    for processor in processors if read_cpufreq else ():
        max_khz = CPU_SYSFS / f"cpu{processor['processor']}" / "cpufreq" / "cpuinfo_max_freq"
        if max_khz.exists():
            return int(max_khz.read_text()) / 1e6, "cpufreq cpuinfo_max_freq"
    mhz = max(float(p.get("cpu MHz", 0.0)) for p in processors)
    return mhz / 1000, "/proc/cpuinfo 'cpu MHz' (current clock; boost clocks may be higher)"


def cpu_peak(precision: str, cpuinfo: str | None = None, ghz: float | None = None) -> dict:
    """Peak GFLOP/s of the CPUs this process may run on, for a Keras dtype policy name.

    `mixed_bfloat16` uses the bf16 rate, every other policy the fp32 rate. `cpuinfo` (the text of
    a /proc/cpuinfo) defaults to this machine's; `ghz` overrides the clock read from it.
    """
    from_system = cpuinfo is None
    processors = _processors(Path("/proc/cpuinfo").read_text() if from_system else cpuinfo)
    if from_system:  # only the CPUs this process may run on
        allowed = {str(cpu) for cpu in os.sched_getaffinity(0)}
        processors = [p for p in processors if p["processor"] in allowed] or processors
    # Hyper-threads share a core's vector units, so count distinct (socket, core) pairs.
    cores = len({(p.get("physical id"), p.get("core id", p["processor"])) for p in processors})
    first = processors[0]
    flags = set(first.get("flags", "").split())
    fp32, fp32_basis = fp32_flops_per_cycle(
        first.get("vendor_id", ""),
        int(first.get("cpu family", 0)),
        int(first.get("model", 0)),
        flags,
    )
    if precision == "mixed_bfloat16":
        per_cycle, basis = bf16_flops_per_cycle(fp32, fp32_basis, flags)
    else:
        per_cycle, basis = fp32, fp32_basis
    clock_source = "given"
    if ghz is None:
        ghz, clock_source = _clock_ghz(processors, read_cpufreq=from_system)
    return {
        "rate": "bf16" if precision == "mixed_bfloat16" else "fp32",
        "cores": cores,
        "ghz": round(ghz, 3),
        "clock_source": clock_source,
        "flops_per_cycle_per_core": per_cycle,
        "flops_per_cycle_basis": basis,
        "gflops": round(cores * ghz * per_cycle, 1),
        "formula": f"{cores} cores x {ghz:.2f} GHz x {per_cycle} FLOP/cycle",
    }


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
    parser = argparse.ArgumentParser(description="FLOPs per image of a model and the CPU peak.")
    parser.add_argument("--model", required=True, help="registered model name")
    parser.add_argument(
        "--input-shape", type=int, nargs=3, default=(28, 28, 1), metavar=("H", "W", "C")
    )
    parser.add_argument("--cpu-ghz", type=float, default=None, help="override the read clock")
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
        peak = cpu_peak(precision, ghz=args.cpu_ghz)
        print(f"  CPU peak {peak['rate']}: {peak['gflops']:.1f} GFLOP/s = {peak['formula']}")
        print(f"    ({peak['flops_per_cycle_basis']}; clock: {peak['clock_source']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
