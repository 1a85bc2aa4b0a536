"""What a run record says besides its results: its default name, when it finished, and the
hardware and software it ran on. Files and folders are written by `outputs`."""

import os
import platform
import subprocess
from datetime import UTC, datetime
from importlib import metadata

import config
from records.machine import cpu_facts, measured_peak

PACKAGES = ("tensorflow", "keras", "numpy", "scikit-learn", "pandas")


def default_run_name(model: str, optimizer: str) -> str:
    return f"{model}-{optimizer}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


def git_state() -> tuple[str | None, bool | None]:
    """The checkout's commit and whether its tracked files match it (a run on an uncommitted
    change cannot be traced to a commit); (None, None) outside a git checkout."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=config.REPO_ROOT, capture_output=True, text=True,
            timeout=10, check=True,
        ).stdout.strip()
        changes = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=config.REPO_ROOT,
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None, None
    return commit, not changes


def cpu_description(cpuinfo: str | None = None) -> str:
    """The CPU's model name with its family and model numbers (a virtual machine may name two
    generations alike: "AMD EPYC (family 26, model 2), 2 cores"), from /proc/cpuinfo by
    default."""
    facts = cpu_facts(cpuinfo, cores=os.cpu_count())
    name = facts["name"]
    if facts["family"] is not None and facts["model"] is not None:
        name += f" (family {facts['family']}, model {facts['model']})"
    return f"{name}, {facts['cores']} cores"


def system_info(with_peak: bool = True) -> dict:
    """Hardware and software the run used: the CPU (`records.machine.cpu_facts`: family, model,
    instruction sets, cores) and GPUs, the machine's measured matrix-product peak (`with_peak`;
    cached per machine), Python and package versions, the commit and whether the tree was
    clean."""
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
    facts = cpu_facts()
    commit, clean = git_state()
    info = {
        "cpu": cpu_description(),
        "machine": facts,
        "gpus": gpus,
        "hardware": ", ".join(gpus) if gpus else cpu_description(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "packages": versions,
        # `-dirty` kept in the commit too: records before `git_clean` say it that way.
        "git_commit": None if commit is None else commit + ("" if clean else "-dirty"),
        "git_clean": clean,
    }
    if with_peak:
        # The default device runs the products: the first GPU where there is one.
        key = f"{gpus[0]} on {facts['key']}" if gpus else facts["key"]
        info["peak"] = {"device": "GPU:0" if gpus else "CPU", **measured_peak(key)}
    return info


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
