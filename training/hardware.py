"""Accelerator-dependent defaults: numeric precision, XLA, augmentation placement, batch size."""

import functools
from dataclasses import dataclass
from pathlib import Path

from quiet_tensorflow import import_tensorflow

PRECISIONS = ("auto", "float32", "mixed_bfloat16", "mixed_float16")
AUGMENT_ON = ("auto", "dataset", "model")
# MultiWorkerMirroredStrategy is left out: Keras 3's TensorFlow trainer cannot train under it
# (its per-replica mean reduces scalars along axis 0: "Invalid reduction dimension 0 for input
# with 0 dimensions", tensorflow/tensorflow#72388; seen with Keras 3.15 and TF 2.21).
DISTRIBUTE = ("none", "mirrored")

# Where augmentation runs on a CPU. On the 2-core reference machine, inside the train step was
# faster in float32 (MobileNetV2 120 against 108 images/s, results/benchmarks/long-windows/;
# simple CNN 787 against 740) and within 2% in bfloat16 (simple CNN 1,371 against 1,396,
# throughput-simple-cnn-mixed_bfloat16*.json): a tf.data map's threads compete with the
# training step's for the same two cores.
CPU_AUGMENT_ON = "model"
CPU_BATCH_SIZE = 128
GPU_BATCH_SIZE = 512  # per GPU


@dataclass(frozen=True)
class Hardware:
    """What the accelerator-dependent defaults depend on, probed once per process by
    `probe_hardware()` and passed to `training.config.resolve`.

    Args:
        gpus: local GPUs TensorFlow sees.
        gpu_bf16: every GPU has compute capability 8.0 or newer (Ampere, Hopper and later).
        cpu_bf16: the CPU has bfloat16 instructions (AVX512-BF16 or AMX), which oneDNN uses.

    Example: `Hardware(cpu_bf16=True)` is a CPU-only machine with bfloat16 instructions.
    """

    gpus: int = 0
    gpu_bf16: bool = False
    cpu_bf16: bool = False


def cpu_has_native_bf16() -> bool:
    """True when the CPU has bfloat16 instructions (AVX512-BF16 or AMX), which oneDNN uses."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


@functools.cache
def probe_hardware() -> Hardware:
    """This machine's `Hardware`, asked of TensorFlow and /proc/cpuinfo once per process."""
    tf = import_tensorflow()
    gpus = tf.config.list_physical_devices("GPU")
    details = [tf.config.experimental.get_device_details(gpu) for gpu in gpus]
    return Hardware(
        gpus=len(gpus),
        gpu_bf16=all(detail.get("compute_capability", (0, 0)) >= (8, 0) for detail in details),
        cpu_bf16=cpu_has_native_bf16(),
    )


def resolve_precision(precision: str, cpu_precision: str | None, hardware: Hardware) -> str:
    """`auto`: on a GPU, mixed_bfloat16 (mixed_float16 before compute capability 8.0); on a CPU
    with bfloat16 instructions, the model's `cpu_precision` hint (its `ModelSpec`'s; float32 for
    the depthwise families, which train slower in bfloat16 there), else mixed_bfloat16; float32
    elsewhere."""
    if precision != "auto":
        return precision
    if hardware.gpus:
        return "mixed_bfloat16" if hardware.gpu_bf16 else "mixed_float16"
    if hardware.cpu_bf16:
        return cpu_precision or "mixed_bfloat16"
    return "float32"


def resolve_augment_on(augment_on: str, hardware: Hardware) -> str:
    """`auto`: inside the training step on a GPU, so the host only batches arrays, and
    `CPU_AUGMENT_ON` on a CPU."""
    if augment_on != "auto":
        return augment_on
    return "model" if hardware.gpus else CPU_AUGMENT_ON


def default_batch_size(distribute: str, hardware: Hardware) -> int:
    """128 on a CPU; 512 on a GPU, times the number of local GPUs under `mirrored`."""
    if not hardware.gpus:
        return CPU_BATCH_SIZE
    return GPU_BATCH_SIZE * (hardware.gpus if distribute == "mirrored" else 1)


def resolve_jit_compile(jit_compile: bool | None, hardware: Hardware) -> bool:
    """XLA by default on a GPU only: on a 2-core CPU it was measured several times slower."""
    return bool(hardware.gpus) if jit_compile is None else jit_compile


def make_strategy(distribute: str):
    """`none`: the default (one device); `mirrored`: every local GPU, or every logical CPU when
    there is no GPU."""
    tf = import_tensorflow()
    if distribute == "none":
        return tf.distribute.get_strategy()
    if distribute == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy(devices=[device.name for device in devices])
    raise ValueError(f"distribute must be one of {DISTRIBUTE}. Received: distribute={distribute!r}")
