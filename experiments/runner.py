"""A batch of `train.py` runs, each in its own process, that continues where it stopped: a run
with a completed record is skipped, an interrupted one (a `config.json` without a record)
resumed, and a failed one named, not trained again."""

import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import config
from outputs.io import UnreadableFileError, read_json


def record_state(record: Path) -> str:
    """"completed" or "failed" as a run's record says, or "unreadable" (named on stderr)."""
    try:
        status = read_json(record, "A record").get("status")
    except UnreadableFileError as error:
        print(f"warning: {error}", file=sys.stderr)
        return "unreadable"
    return "completed" if status == "completed" else "failed"


def train_each(runs: Iterable[tuple[str, str, list[str]]], dry_run: bool) -> int:
    """Trains (or with `dry_run` prints) each run not yet recorded, one after the other; returns
    the number that failed or were found failed.

    Args:
        runs: (run name, label, `train.py` arguments of a fresh start, the script first) of
            each run, in the order to train them.
        dry_run: print what each run would do, train nothing.
    """
    failures = 0
    for name, label, argv in runs:
        run_dir = config.RESULTS_PATH / name
        record = run_dir / "result.json"
        state = record_state(record) if record.exists() else None
        if state == "completed":
            print(f"done     {label}")
            continue
        if state is not None:
            print(f"{state:<8} {label}: remove {run_dir} to train it again")
            failures += 1
            continue
        if (run_dir / "config.json").exists():
            argv = ["train.py", "--resume", name]
        print(f"{'to run' if dry_run else 'running':<8} {' '.join(argv)}", flush=True)
        if not dry_run:
            done = subprocess.run([sys.executable, *argv], cwd=config.REPO_ROOT)
            failures += done.returncode != 0
    return failures
