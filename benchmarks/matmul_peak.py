"""The measured peak of this machine: GFLOP/s of large square matrix products in TensorFlow.

The throughput and profile records compare a model's FLOP rate with the CPU's *assumed* peak
(`benchmarks.flops.cpu_peak`: cores x clock x FLOPs per cycle of the widest vector unit). What a
real kernel reaches is lower: this benchmark times `tf.linalg.matmul` of two N x N matrices (2 N^3
FLOPs) in float32 and bfloat16 (oneDNN's kernels, as the convolutions use) for each --sizes, and
records the best rate of --repeats timed products after a warm-up. The best size's rate is the
measured peak that a model's rate can be held against. Nothing else should run on the machine
meanwhile.

    python -m benchmarks.matmul_peak --sizes 1024,2048,4096

The record goes to <out>/matmul-peak.json.
"""

import argparse
import sys
import time
from pathlib import Path

from benchmarks.common import base_record, default_out_dir, write_record
from benchmarks.flops import cpu_peak

DTYPES = {"float32": "float32", "bfloat16": "mixed_bfloat16"}  # dtype -> its peak's policy


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


def time_matmul(size: int, dtype: str, repeats: int) -> float:
    """The best GFLOP/s of `repeats` products of two `size` x `size` matrices of `dtype`."""
    import tensorflow as tf

    generator = tf.random.Generator.from_seed(0)
    a = tf.cast(generator.normal((size, size)), dtype)
    b = tf.cast(generator.normal((size, size)), dtype)
    # One element comes back to Python: the whole product is computed, little is copied.
    product = tf.function(lambda x, y: tf.cast(tf.linalg.matmul(x, y)[0, 0], tf.float32))
    product(a, b).numpy()  # traces and warms the kernel
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        product(a, b).numpy()  # .numpy() waits for the product
        best = min(best, time.perf_counter() - started)
    return 2 * size**3 / best / 1e9


def measure(sizes: list[int], repeats: int) -> dict:
    """Per dtype: the rate of each size, the best, and the assumed peak it is a fraction of."""
    results = {}
    for dtype, policy in DTYPES.items():
        rates = {str(size): round(time_matmul(size, dtype, repeats), 1) for size in sizes}
        best = max(rates.values())
        assumed = cpu_peak(policy)
        results[dtype] = {
            "gflops_by_size": rates,
            "best_gflops": best,
            "assumed_peak_gflops": assumed["gflops"],
            "of_assumed_peak": round(best / assumed["gflops"], 4),
            "assumed_peak": assumed,
        }
        print(f"{dtype:>8}: " + ", ".join(f"{size}: {rate:.0f}" for size, rate in rates.items())
              + f" GFLOP/s; best {best:.0f} = {best / assumed['gflops']:.0%} of the assumed "
              f"{assumed['gflops']:.0f}")
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
        dtypes=measure(args.sizes, args.repeats),
    )
    path = write_record((args.out or default_out_dir()) / "matmul-peak.json", record)
    print(f"record: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
