"""benchmarks/gpu_check.sh on a machine without a GPU: it stops at once, loudly, with its step
table written, instead of training on the CPU for ten minutes."""

import os
import shutil
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT


@pytest.mark.skipif(shutil.which("nvidia-smi") is not None,
                    reason="a GPU driver is here: the check would run for ten minutes")
def test_without_a_gpu_the_check_fails_at_its_first_step(tmp_path):
    env = {**os.environ, "SKIP_INSTALL": "1", "PYTHON": sys.executable, "BUDGET_S": "120"}
    done = subprocess.run(["bash", "benchmarks/gpu_check.sh", str(tmp_path / "out")],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 1, done.stdout + done.stderr
    steps = (tmp_path / "out" / "steps.tsv").read_text().splitlines()
    assert steps[0] == "step\texit_status\tseconds"
    assert steps[1].startswith("gpu_visible\t1\t") and len(steps) == 2
    log = (tmp_path / "out" / "logs" / "gpu_visible.log").read_text()
    assert "no GPU visible to TensorFlow" in log
