"""The machine a timing was taken on and the load it carried, so that times are compared only
between runs of one machine that had its cores to itself.

- `cpu_facts()`: the CPU's name, family and model numbers, the instruction sets that decide the
  speed of bfloat16 and float32 kernels, and the cores this process may use; `machine_key` of
  those facts names one kind of machine ("AMD EPYC family 25 model 17, 2 cores, avx512_bf16").
  Two generations of a virtual CPU can share a name: family and model tell them apart.
- `measured_peak()`: the GFLOP/s that large matrix products reach in bfloat16 and float32 on this
  machine (the rate a model's FLOP rate is held against), measured in a few seconds and cached
  per machine key; a measurement taken while other processes used the cores is not cached.
- `LoadMeter`: from `/proc/stat` and this process's CPU time, how much of the machine other
  processes used (and the hypervisor stole) between two readings; `is_alone` says whether a run
  had the cores to itself.
"""

import hashlib
import json
import os
import platform
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from outputs.io import atomic_write_json

# The instruction sets that change what oneDNN's kernels reach: bfloat16 dot products (AVX512-BF16,
# AMX), 512-bit vectors (AVX-512) and AVX2, the baseline of TensorFlow's x86 builds.
SPEED_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")
# A run is alone when no epoch saw other processes (or the hypervisor) take more than this share
# of the machine's core-seconds: a commit or an editor's save stays under it, a second training
# or a test suite (about one core of two) does not.
ALONE_MAX_SHARE = 0.05
PEAK_SIZE = 2048  # the side of the timed square products: large enough for the peak of 2 cores
PEAK_REPEATS = 5
PEAK_DTYPES = ("bfloat16", "float32")


def _cpuinfo_fields(cpuinfo: str | None) -> tuple[dict, set]:
    """The first processor's fields of /proc/cpuinfo (or `cpuinfo`) and its flags."""
    try:
        text = Path("/proc/cpuinfo").read_text() if cpuinfo is None else cpuinfo
    except OSError:
        text = ""
    fields = {}
    for line in text.split("\n\n")[0].splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    return fields, set(fields.get("flags", "").split())


def usable_cores() -> int:
    """The logical CPUs this process may run on (its affinity), which TensorFlow's threads use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def cpu_facts(cpuinfo: str | None = None, cores: int | None = None) -> dict:
    """This machine's CPU: name, vendor, family and model numbers, the speed-deciding
    instruction sets it has, the cores this process may use, and the `key` that names the kind.

    Example: `cpu_facts()["key"]` -> "AMD EPYC family 25 model 17, 2 cores, avx512_bf16".
    """
    fields, flags = _cpuinfo_fields(cpuinfo)
    facts = {
        "name": fields.get("model name") or platform.processor() or platform.machine(),
        "vendor": fields.get("vendor_id"),
        "family": int(fields["cpu family"]) if fields.get("cpu family", "").isdigit() else None,
        "model": int(fields["model"]) if fields.get("model", "").isdigit() else None,
        "flags": [flag for flag in SPEED_FLAGS if flag in flags],
        "cores": usable_cores() if cores is None else cores,
    }
    facts["key"] = machine_key(facts)
    return facts


def machine_key(facts: dict) -> str:
    """One line naming a kind of machine: runs with equal keys may compare their times."""
    name = facts["name"]
    if facts.get("family") is not None:
        name += f" family {facts['family']} model {facts['model']}"
    bf16 = [flag for flag in ("avx512_bf16", "amx_bf16") if flag in facts.get("flags", ())]
    return ", ".join([name, f"{facts['cores']} cores", *bf16])


@dataclass(frozen=True)
class CpuTimes:
    """One reading: the machine's busy and stolen core-seconds since boot, this process's CPU
    seconds, and the moment it was taken."""

    busy: float
    steal: float
    own: float
    wall: float
    cpus: int


def read_cpu_times(stat_text: str | None = None) -> CpuTimes | None:
    """The aggregate `cpu` line of /proc/stat (or `stat_text`) and this process's CPU time;
    None where /proc/stat cannot be read (not Linux)."""
    try:
        text = Path("/proc/stat").read_text() if stat_text is None else stat_text
    except OSError:
        return None
    lines = text.splitlines()
    totals = next((line.split()[1:] for line in lines if line.startswith("cpu ")), None)
    if totals is None:
        return None
    # user nice system idle iowait irq softirq steal (guest time is inside user already)
    ticks = [int(value) for value in totals[:8]] + [0] * (8 - len(totals[:8]))
    hertz = os.sysconf("SC_CLK_TCK")
    cpus = sum(1 for line in lines if line.startswith("cpu") and line[3:4].isdigit())
    own = os.times()
    return CpuTimes(
        busy=(ticks[0] + ticks[1] + ticks[2] + ticks[5] + ticks[6]) / hertz,
        steal=ticks[7] / hertz,
        own=own.user + own.system,
        wall=time.monotonic(),
        cpus=max(cpus, 1),
    )


def load_between(start: CpuTimes | None, end: CpuTimes | None) -> dict | None:
    """What the machine did between two readings, as shares of its core-seconds: other processes
    (`other_share`), the hypervisor (`steal_share`), this process (`own_share`), and this
    process's CPU seconds; None without both readings."""
    if start is None or end is None or end.wall <= start.wall:
        return None
    capacity = (end.wall - start.wall) * end.cpus
    own = end.own - start.own
    other = max(end.busy - start.busy - own, 0.0)
    return {
        "other_share": round(min(other / capacity, 1.0), 4),
        "steal_share": round(min(max(end.steal - start.steal, 0.0) / capacity, 1.0), 4),
        "own_share": round(min(own / capacity, 1.0), 4),
        "own_cpu_seconds": round(own, 2),
    }


def is_alone(loads: list[dict]) -> bool | None:
    """Whether every measured interval left the cores to this process (`ALONE_MAX_SHARE`);
    None when none was measured."""
    if not loads:
        return None
    return all(load["other_share"] <= ALONE_MAX_SHARE and load["steal_share"] <= ALONE_MAX_SHARE
               for load in loads)


def summarize_load(loads: list[dict]) -> dict | None:
    """A run's load from its epochs' loads: the mean and largest share of other processes, the
    largest steal, this process's CPU seconds, and whether it was alone."""
    if not loads:
        return None
    others = [load["other_share"] for load in loads]
    return {
        "other_share_mean": round(sum(others) / len(others), 4),
        "other_share_max": max(others),
        "steal_share_max": max(load["steal_share"] for load in loads),
        "own_cpu_seconds": round(sum(load["own_cpu_seconds"] for load in loads), 1),
        "epochs_measured": len(loads),
        "alone": is_alone(loads),
        "alone_rule": f"other processes and steal <= {ALONE_MAX_SHARE:.0%} of the cores "
                      "in every epoch",
    }


class LoadMeter:
    """Measures the load between `start()` and `stop()`: `with LoadMeter() as meter: ...`, then
    `meter.load` (see `load_between`)."""

    def __init__(self):
        self.started: CpuTimes | None = None
        self.load: dict | None = None

    def start(self) -> "LoadMeter":
        self.started = read_cpu_times()
        return self

    def stop(self) -> dict | None:
        self.load = load_between(self.started, read_cpu_times())
        return self.load

    def __enter__(self) -> "LoadMeter":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def peak_cache_path(key: str) -> Path:
    """Where the measured peak of the machine `key` is kept: one small JSON file per kind of
    machine under `$XDG_CACHE_HOME/fashion-mnist-lab` (by default `~/.cache/...`)."""
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    digest = hashlib.sha1(key.encode()).hexdigest()[:12]
    return root / "fashion-mnist-lab" / f"matmul-peak-{digest}.json"


def time_matmul(size: int, dtype: str, repeats: int) -> float:
    """The best GFLOP/s of `repeats` products of two `size` x `size` matrices of `dtype` (2 N^3
    FLOPs each), after one product that traces and warms the kernel."""
    import tensorflow as tf

    generator = tf.random.Generator.from_seed(0)
    a = tf.cast(generator.normal((size, size)), dtype)
    b = tf.cast(generator.normal((size, size)), dtype)
    # One element comes back to Python: the whole product is computed, little is copied.
    product = tf.function(lambda x, y: tf.cast(tf.linalg.matmul(x, y)[0, 0], tf.float32))
    product(a, b).numpy()
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        product(a, b).numpy()  # .numpy() waits for the product
        best = min(best, time.perf_counter() - started)
    return 2 * size**3 / best / 1e9


def measure_peak(size: int = PEAK_SIZE, repeats: int = PEAK_REPEATS) -> dict:
    """The bfloat16 and float32 GFLOP/s of `size`^3 products on this machine now, with the load
    while they ran."""
    with LoadMeter() as meter:
        gflops = {dtype: round(time_matmul(size, dtype, repeats), 1) for dtype in PEAK_DTYPES}
    return {
        "gflops": gflops,
        "size": size,
        "repeats": repeats,
        "measured": datetime.now(UTC).isoformat(timespec="seconds"),
        "load": meter.load,
        "alone": is_alone([meter.load] if meter.load else []),
    }


# Measurements taken by this process, by machine key: measured once per process at most, so
# `--seeds 5` (or a test session) pays for one measurement even when the machine is loaded.
_MEASURED_HERE: dict[str, dict] = {}


def measured_peak(key: str, measure=measure_peak) -> dict:
    """The measured peak (`measure_peak`) of the machine `key` (`cpu_facts()["key"]`, or the
    GPU's name on a GPU machine), from its cache when a quiet measurement is there; a measurement
    under load is returned, marked so, and not cached on disk, so the next process measures
    again."""
    if key in _MEASURED_HERE:
        return _MEASURED_HERE[key]
    path = peak_cache_path(key)
    try:
        cached = json.loads(path.read_text())
        if cached.get("machine") == key and cached.get("alone"):
            return {**cached, "cached": True}
    except (OSError, ValueError, AttributeError):
        pass  # no cache yet, or a broken one: measured again and rewritten
    peak = {"machine": key, **measure()}
    if peak.get("alone"):
        try:
            atomic_write_json(path, peak)
        except OSError:
            pass  # a read-only home: the next process measures again
    _MEASURED_HERE[key] = {**peak, "cached": False}
    return _MEASURED_HERE[key]


def share_of_peak(gflops: float | None, peak: dict | None, dtype: str) -> float | None:
    """`gflops` as a share of the measured `dtype` peak of the same machine, or None."""
    rate = ((peak or {}).get("gflops") or {}).get(dtype)
    return round(gflops / rate, 4) if gflops and rate else None


def record_machine(record: dict) -> str | None:
    """The kind of machine a record's times were taken on: its `system.machine.key`, or, in
    records from before machine keys, the CPU as they named it (`system.cpu`)."""
    system = record.get("system") or {}
    return (system.get("machine") or {}).get("key") or system.get("cpu") or system.get("hardware")


def record_alone(record: dict) -> bool | None:
    """Whether a run had the cores alone while it trained (`summarize_load`); None for records
    from before the load was measured."""
    return (record.get("load") or {}).get("alone")
