"""Run records on disk: unique run folders, atomic writes, environment description."""

import json
import os
import platform
import subprocess
import tempfile
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import config

PACKAGES = ("tensorflow", "keras", "numpy", "scikit-learn", "pandas")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Writes `data` to a temporary file beside `path`, then renames it over `path`.

    A crash leaves either the old file or the new one, never a partial file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, value) -> None:
    atomic_write_text(path, json.dumps(value, indent=2, sort_keys=False, allow_nan=False) + "\n")


def create_run_dir(root: Path, base_name: str) -> Path:
    """Creates and returns a new folder `root/base_name`, or `base_name-2`, `-3`, ... if taken.

    `mkdir` fails when the folder exists, so two runs started at the same moment never share one.
    """
    root = Path(root)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise PermissionError(
            f"Cannot create the results folder {root} ({error}). "
            "Set RESULTS_PATH to a writable folder."
        ) from error
    if not os.access(root, os.W_OK):
        raise PermissionError(
            f"The results folder {root} is not writable. Set RESULTS_PATH to a writable folder."
        )
    for attempt in range(1, 1000):
        path = root / (base_name if attempt == 1 else f"{base_name}-{attempt}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise FileExistsError(f"Could not find a free run folder name for {base_name} in {root}.")


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
