"""Accelerator-dependent defaults: numeric precision and XLA."""

from pathlib import Path

import tensorflow as tf

PRECISIONS = ("auto", "float32", "mixed_bfloat16", "mixed_float16")


def has_gpu() -> bool:
    return bool(tf.config.list_physical_devices("GPU"))


def cpu_has_native_bf16() -> bool:
    """True when the CPU has bfloat16 instructions (AVX512-BF16 or AMX), which oneDNN uses."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_precision(precision: str) -> str:
    """`auto` is mixed_bfloat16 on a GPU or a CPU with native bfloat16, float32 elsewhere."""
    if precision != "auto":
        return precision
    return "mixed_bfloat16" if has_gpu() or cpu_has_native_bf16() else "float32"


def resolve_jit_compile(jit_compile: bool | None) -> bool:
    """XLA by default on a GPU only: on a 2-core CPU it was measured several times slower."""
    return has_gpu() if jit_compile is None else jit_compile


DISTRIBUTE = ("none", "mirrored", "multi-worker")


def make_strategy(distribute: str) -> tf.distribute.Strategy:
    """`none`: the default (one device); `mirrored`: every local GPU, or every logical CPU when
    there is no GPU; `multi-worker`: MultiWorkerMirroredStrategy with the cluster in `TF_CONFIG`.
    """
    if distribute == "none":
        return tf.distribute.get_strategy()
    if distribute == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy(devices=[device.name for device in devices])
    if distribute == "multi-worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"distribute must be one of {DISTRIBUTE}. Received: distribute={distribute!r}")
