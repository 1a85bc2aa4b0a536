"""MirroredStrategy on a CPU split into two logical devices, against a single-device run.

The model has BatchNorm after every convolution, so each replica normalizes with its own batch
statistics, and SWA's BatchNorm recalibration runs under the strategy too. The final, the
averaged and the moving-average weights (on by default) must score like the single-device run's
on the validation split.
"""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.slow  # two subprocesses that train for three epochs

SCRIPT = """
import json, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from training import ExperimentConfig, run_experiment
config = ExperimentConfig().replace(model="simple-cnn-bn", epochs=3, limit_train=2000, val_size=500,
                          batch_size=64, seed=3, swa=True, ema=0.9,
                          distribute=sys.argv[1], run_name=sys.argv[1], precision="float32")
record = run_experiment(config, verbose=0, evaluate_test=False).record.to_json()
print(json.dumps({key: record[key] for key in ("replicas", "status", "best_val_accuracy",
                  "val_accuracy_final", "val_accuracy_swa", "val_accuracy_ema")}))
"""


def run(distribute: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, distribute],
        cwd=REPO_ROOT,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_mirrored_training_matches_single_device_within_noise(run_paths):
    single, mirrored = run("none"), run("mirrored")
    assert single["replicas"] == 1 and mirrored["replicas"] == 2
    assert mirrored["status"] == "completed"
    for weights in ("final", "swa", "ema"):  # scored on validation: the test set adds nothing
        key = f"val_accuracy_{weights}"
        assert mirrored[key] > 0.7, (key, mirrored)
        assert abs(mirrored[key] - single[key]) < 0.04, (key, single, mirrored)
