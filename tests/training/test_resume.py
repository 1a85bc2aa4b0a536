"""Real interruptions: a training process stopped at a chosen point, then resumed.

Each run is `train.py` in a subprocess, driven by HARNESS: after the epoch given in STOP_AFTER
is complete (0: at the start), a callback raises KeyboardInterrupt as Python does on a Ctrl-C
(SIGINT) in the main thread (a signal raised from the test reached a native handler instead in
some runs and went unseen), or the next backup is cut off half-written and the process killed,
as a kill during the write would leave it. No test races the clock.
"""

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.slow  # every test trains in subprocesses, several epochs each

# Epochs of 4 steps, shorter than a pass of 6 (as a time budget may choose): a resumed run picks
# up the stream of batches within a pass.
ARGS = [
    "--epochs", "3", "--limit-train", "300", "--val-size", "100", "--batch-size", "50",
    "--steps-per-epoch", "4",
    "--seed", "5", "--deterministic", "--swa", "--swa-start", "2", "--lr-schedule", "cosine",
    "--rotation-range", "10", "--width-shift-range", "0.1", "--random-erasing", "0.5",
]  # fmt: skip
HARNESS = """
import json, os, signal, sys
import keras
import train
from training import backup, experiment

stop_after = int(os.environ.get("STOP_AFTER", "0"))
how = os.environ.get("STOP_HOW", "")


class Stop(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        if stop_after == 0 and how == "cut-next-backup":
            self.cut_next_backup()

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == stop_after:
            if how == "cut-next-backup":
                self.cut_next_backup()
            else:  # what Python's SIGINT handler raises in the main thread on a Ctrl-C
                raise KeyboardInterrupt

    def cut_next_backup(self):
        save = self.model.save_weights
        def cut(path, *args, **kwargs):
            save(path, *args, **kwargs)
            os.truncate(path, 96)
            os.kill(os.getpid(), signal.SIGKILL)
        self.model.save_weights = cut


build_callbacks = experiment.build_callbacks
def with_stop(*args, **kwargs):
    history, swa, callbacks = build_callbacks(*args, **kwargs)
    return history, swa, [*callbacks, Stop()]
experiment.build_callbacks = with_stop
sys.exit(train.main(json.loads(sys.argv[1])))
"""


def train(args, stop_after=0, how="", timeout=300) -> subprocess.CompletedProcess:
    env = {**os.environ, "STOP_AFTER": str(stop_after), "STOP_HOW": how}
    return subprocess.run(
        [sys.executable, "-c", HARNESS, json.dumps(args)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def final_weights(run_paths, name) -> list[np.ndarray]:
    import keras

    import models  # noqa: F401  (registers the model classes)

    path = run_paths["DL_MODELS_PATH"] / name / "final.keras"
    return keras.saving.load_model(path, safe_mode=True).get_weights()


def record(run_paths, name) -> dict:
    return json.loads((run_paths["RESULTS_PATH"] / name / "result.json").read_text())


@pytest.fixture(scope="module")
def reference(tmp_path_factory, data_path):
    """The uninterrupted run that every interrupted one must reproduce exactly."""
    root = tmp_path_factory.mktemp("reference")
    paths = {name: root / name for name in ("RESULTS_PATH", "DL_MODELS_PATH", "TB_LOGS_PATH")}
    with pytest.MonkeyPatch.context() as patch:
        for name, path in paths.items():
            patch.setenv(name, str(path))
        patch.setenv("DATA_PATH", str(data_path))
        done = train([*ARGS, "--run-name", "whole"])
        assert done.returncode == 0, done.stderr[-3000:]
        return record(paths, "whole"), final_weights(paths, "whole")


@pytest.mark.parametrize(
    "stop_after, how, resumes_after",
    [
        (1, "cut-next-backup", 1),  # killed while epoch 2's backup was written
        (2, "SIGINT", 2),  # Ctrl-C
        (0, "cut-next-backup", None),  # killed while the first backup was written
    ],
)
def test_an_interrupted_deterministic_run_resumes_to_the_same_weights(
    run_paths, reference, stop_after, how, resumes_after
):
    stopped = train([*ARGS, "--run-name", "cut"], stop_after, how)
    assert stopped.returncode in (-signal.SIGKILL, 130), stopped.stderr[-3000:]
    if how == "SIGINT":
        assert "continue with:\n  python train.py --resume cut" in stopped.stderr
    assert not (run_paths["RESULTS_PATH"] / "cut" / "result.json").exists()

    resumed = train(["--resume", "cut"])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    if resumes_after:
        assert f"Continuing run cut after epoch {resumes_after}." in resumed.stdout
    else:
        assert "no complete epoch in its backup: training starts from epoch 1" in resumed.stdout
    whole, whole_weights = reference
    resumed_record = record(run_paths, "cut")
    assert resumed_record["history"].keys() == whole["history"].keys()
    for epoch, logs in whole["history"].items():
        assert resumed_record["history"][epoch]["loss"] == logs["loss"], epoch
    assert resumed_record["swa_epochs"] == whole["swa_epochs"] == [2, 3]
    assert resumed_record["test_accuracy"] == whole["test_accuracy"]
    for resumed_array, whole_array in zip(final_weights(run_paths, "cut"), whole_weights):
        np.testing.assert_array_equal(resumed_array, whole_array)
    assert len(resumed_record["attempts"]) == 2  # both attempts' time is counted
    assert resumed_record["fit_seconds"] == pytest.approx(
        sum(attempt["fit_seconds"] for attempt in resumed_record["attempts"])
    )
    assert resumed_record["fit_seconds"] > resumed_record["attempts"][1]["fit_seconds"]
