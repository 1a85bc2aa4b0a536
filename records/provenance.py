"""What a run record says besides its results: its default name, when it finished, and the
hardware and software it ran on. Files and folders are written by `outputs`."""

import os
import platform
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import config

PACKAGES = ("tensorflow", "keras", "numpy", "scikit-learn", "pandas")


def default_run_name(model: str, optimizer: str) -> str:
    return f"{model}-{optimizer}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


def git_commit() -> str | None:
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=config.REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=config.REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() + ("-dirty" if dirty else "")


def cpu_description(cpuinfo: str | None = None) -> str:
    """The CPU's model name with its family and model numbers (a virtual machine may name two
    generations alike: "AMD EPYC (family 26, model 2), 2 cores"), from /proc/cpuinfo by
    default."""
    try:
        text = Path("/proc/cpuinfo").read_text() if cpuinfo is None else cpuinfo
    except OSError:
        text = ""
    fields = {}
    for line in text.split("\n\n")[0].splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    name = fields.get("model name") or platform.processor() or platform.machine()
    if "cpu family" in fields and "model" in fields:
        name += f" (family {fields['cpu family']}, model {fields['model']})"
    return f"{name}, {os.cpu_count()} cores"


def system_info() -> dict:
    """Hardware and software the run used: CPU, GPUs, Python and package versions."""
    import tensorflow as tf

    gpus = []
    for device in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(device)
        gpus.append(details.get("device_name", device.name))
    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "cpu": cpu_description(),
        "gpus": gpus,
        "hardware": ", ".join(gpus) if gpus else cpu_description(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "packages": versions,
        "git_commit": git_commit(),
    }


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
