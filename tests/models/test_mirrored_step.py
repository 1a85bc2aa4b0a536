"""Every family's training step under MirroredStrategy against one device.

A strategy sums the replicas' gradients, so each replica's loss must be its share of the global
batch's mean (Keras divides it by the number of replicas in sync). A custom `train_step` that
skips this takes steps N times too long on N replicas.
"""

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT
from tests.models.small_variants import FAMILY_REPRESENTATIVES, small_variant_config


def run_mirrored_steps(variants):
    done = subprocess.run(
        [sys.executable, "-m", "tests.models.mirrored_step"],
        input=json.dumps(variants),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return {result["name"]: result for result in results}


@pytest.mark.slow  # a subprocess that builds and steps every family on two replicas
def test_one_sgd_step_on_two_replicas_matches_one_device(default_model):
    variants = [
        {
            "name": name,
            "family": type(default_model(name)).__name__,
            "config": small_variant_config(name, default_model(name)),
        }
        for name in FAMILY_REPRESENTATIVES
    ]

    results = run_mirrored_steps(variants)

    assert sorted(results) == sorted(FAMILY_REPRESENTATIVES)
    for name, result in results.items():
        # Each replica sees the same images as the single device (see mirrored_step.py), so the
        # steps agree up to rounding; a loss not scaled for the replicas doubles the update.
        assert result["update_norm_ratio"] == pytest.approx(1.0, abs=0.02), (name, result)
        assert result["update_cosine"] > 0.999, (name, result)
        single, mirrored = result["single"], result["mirrored"]
        assert mirrored == pytest.approx(single, rel=1e-4), (name, result)
