"""Run records on disk: unique run folders, atomic writes, environment description."""

import io
import json
import os
import platform
import secrets
import stat
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import numpy as np

import config

PACKAGES = ("tensorflow", "keras", "numpy", "scikit-learn", "pandas")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Writes `data` to a temporary file beside `path`, then renames it over `path`.

    A crash leaves either the old file or the new one, never a partial file. A new file gets the
    mode any new file gets (0o666 less the umask), so results in a shared or bind-mounted folder
    are as readable as files written any other way; a replaced file keeps its mode.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary, descriptor = _create_temporary(path)
    try:
        with os.fdopen(descriptor, "wb") as file:
            if path.exists():
                os.fchmod(file.fileno(), stat.S_IMODE(path.stat().st_mode))
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def atomic_write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """`arrays` in one compressed `.npz`, written atomically."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    atomic_write_bytes(path, buffer.getvalue())


def _create_temporary(path: Path) -> tuple[Path, int]:
    """A new, empty file beside `path` and its descriptor, opened for writing.

    Unlike `tempfile.mkstemp` (always mode 0o600), the file is created with mode 0o666 so that the
    kernel applies the umask and any default ACL of the folder.
    """
    for _ in range(100):
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            return temporary, os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
    raise FileExistsError(f"Could not create a temporary file beside {path}.")


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
