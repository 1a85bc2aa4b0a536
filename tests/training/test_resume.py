"""A real interruption: a training process killed with SIGKILL mid-run, then resumed."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np

from tests.conftest import REPO_ROOT
from training.schedules import CyclicalLearningRate

EPOCHS, LIMIT, BATCH = 5, 2000, 100


def wait_for(predicate, process, timeout=300):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        assert process.poll() is None, process.stderr.read().decode()[-3000:]
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_sigkilled_run_resumes_from_its_last_completed_epoch(run_paths):
    args = [
        sys.executable,
        "train.py",
        "--epochs",
        str(EPOCHS),
        "--limit-train",
        str(LIMIT),
        "--val-size",
        "200",
        "--batch-size",
        str(BATCH),
        "--lr",
        "0.001",
        "--swa-start",
        "2",
        "--lr-schedule",
        "triangular",
        "--cycle-epochs",
        "1",
        "--run-name",
        "killed",
    ]
    run_dir = run_paths["RESULTS_PATH"] / "killed"
    metadata = run_paths["DL_MODELS_PATH"] / "killed" / "backup" / "training_metadata.json"

    def completed_epochs():
        try:
            return json.loads(metadata.read_text())["epoch"]
        except (OSError, ValueError):
            return 0

    process = subprocess.Popen(
        args,
        cwd=REPO_ROOT,
        env=os.environ.copy(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for(lambda: completed_epochs() >= 2, process)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        process.kill()
    done = completed_epochs()
    assert 2 <= done < EPOCHS and not (run_dir / "result.json").exists()

    resumed = subprocess.run(
        [sys.executable, "train.py", "--resume", "killed"],
        cwd=REPO_ROOT,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"Epoch {done + 1}/{EPOCHS}" in resumed.stdout
    assert "Epoch 1/" not in resumed.stdout

    record = json.loads((run_dir / "result.json").read_text())
    assert record["status"] == "completed"
    assert sorted(record["history"], key=int) == [str(e) for e in range(1, EPOCHS + 1)]
    assert record["swa_epochs"] == [2, 3, 4, 5]
    # The schedule continued from the restored optimizer step, not from step 0.
    steps = LIMIT // BATCH
    schedule = CyclicalLearningRate(1e-3, 6e-3, step_size=steps, mode="triangular")
    logged = [record["history"][str(e)]["learning_rate"] for e in range(1, EPOCHS + 1)]
    expected = [float(schedule(e * steps)) for e in range(1, EPOCHS + 1)]
    np.testing.assert_allclose(logged, expected, rtol=1e-5)
