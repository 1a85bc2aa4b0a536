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


def cpu_description() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()}, {os.cpu_count()} cores"
    except OSError:
        pass
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"


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
