"""What a newcomer meets first: the test command without the dataset, and quiet start-up."""

import os
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT

UNREACHABLE_PROXY = "http://127.0.0.1:9"  # the discard port: every download fails at once


@pytest.mark.slow
def test_tests_without_dataset_or_network_say_so_once(tmp_path):
    env = {
        **os.environ,
        "DATA_PATH": str(tmp_path / "empty"),
        "HTTP_PROXY": UNREACHABLE_PROXY,
        "HTTPS_PROXY": UNREACHABLE_PROXY,
        "http_proxy": UNREACHABLE_PROXY,
        "https_proxy": UNREACHABLE_PROXY,
    }
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/data/test_split_and_pipeline.py",
            "tests/models/test_wide_resnet.py",
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    assert output.count("could not be downloaded") == 1, output[-3000:]
    assert "dataset missing" in output and " skipped" in output
    assert "Traceback" not in output and "gzip" not in output


def test_tensorflow_start_up_notices_are_filtered_and_other_lines_kept():
    code = (
        "import os, quiet_tensorflow as q\n"
        "with q.filtered_stderr():\n"
        "    os.write(2, b'I0000 cudart_stub.cc:31] Could not find cuda drivers\\n')\n"
        "    os.write(2, b'E0000 cuda_platform.cc:52] failed call to cuInit: (303)\\n')\n"
        "    os.write(2, b'a real problem\\n')\n"
        "q.import_tensorflow()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and done.stderr == "a real problem\n", done.stderr
