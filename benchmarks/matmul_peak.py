"""The measured peak of this machine: GFLOP/s of large square matrix products in TensorFlow.

A model's FLOP rate is held against what real kernels reach on the same machine, not against a
clock-times-vector-width formula (which the cores beat when they run above their reported clock).
This benchmark times `tf.linalg.matmul` of two N x N matrices (2 N^3 FLOPs) in float32 and
bfloat16 (oneDNN's kernels, as the convolutions use) for each --sizes, and records the best rate
of --repeats timed products after a warm-up, with the load on the cores while it ran. Runs and
the throughput and profile benchmarks measure the same peak at one size on their own
(`records.machine.measured_peak`, cached per machine); this record shows the rate across sizes.
Nothing else should run on the machine meanwhile.

    python -m benchmarks.matmul_peak --sizes 1024,2048,4096

The record goes to <out>/matmul-peak-<machine>.json (e.g. matmul-peak-amd-epyc-family-25-model-17-
2-cores-avx512-bf16.json).
"""

import argparse
import re
import sys
from pathlib import Path

from benchmarks.common import base_record, default_out_dir, write_record
from records.machine import PEAK_DTYPES, LoadMeter, cpu_facts, is_alone, time_matmul


def sizes_argument(text: str) -> list[int]:
    """`1024,2048` as [1024, 2048]; each size a positive integer."""
    try:
        sizes = [int(part) for part in text.split(",")]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(
            f"expected positive integers separated by commas, e.g. 1024,2048. Received: {text!r}"
        )
    return sizes


def measure(sizes: list[int], repeats: int) -> dict:
    """Per dtype: the rate of each size and the best."""
    results = {}
    for dtype in PEAK_DTYPES:
        rates = {str(size): round(time_matmul(size, dtype, repeats), 1) for size in sizes}
        results[dtype] = {"gflops_by_size": rates, "best_gflops": max(rates.values())}
        print(f"{dtype:>8}: " + ", ".join(f"{size}: {rate:.0f}" for size, rate in rates.items())
              + f" GFLOP/s; best {max(rates.values()):.0f}")
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description="GFLOP/s of large matrix products in float32 and bfloat16: the peak a "
        "model's FLOP rate can be held against.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--sizes", type=sizes_argument, default=[1024, 2048, 4096],
                        help="matrix sides, comma-separated")
    parser.add_argument("--repeats", type=int, default=10, help="timed products per size")
    parser.add_argument("--out", type=Path, default=None, help="default: RESULTS_PATH/benchmarks")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error(f"argument --repeats: must be >= 1. Received: {args.repeats}")
    record = base_record("benchmarks.matmul_peak", argv)
    record.update(
        sizes=args.sizes,
        repeats=args.repeats,
        flops_convention="2 N^3 per N x N product; the best of the timed products",
    )
    with LoadMeter() as meter:
        record["dtypes"] = measure(args.sizes, args.repeats)
    record["load"] = {**meter.load, "alone": is_alone([meter.load])} if meter.load else None
    # One record per kind of machine: a second machine's measurement does not replace the first.
    slug = re.sub(r"[^a-z0-9]+", "-", cpu_facts()["key"].lower()).strip("-")
    path = write_record((args.out or default_out_dir()) / f"matmul-peak-{slug}.json", record)
    print(f"record: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
