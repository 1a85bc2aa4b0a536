"""The two test tiers: `python -m pytest -m "not slow"` between two edits, the full suite in CI."""

import os
import re
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT

KNOWN_SLOW = (
    "tests/training/test_resume.py::test_an_interrupted_deterministic_run_resumes_to_the_same_"
    "weights[2-SIGINT-2]",
    "tests/test_notebook.py::test_notebook_draws_its_figures",
    "tests/test_notebook.py::test_notebook_runs_in_this_interpreter_and_prints_a_line_per_epoch",
    "tests/serving/test_export.py::test_every_artifact_loads_in_its_own_runtime",
    "tests/test_tensorboard_browser.py::test_the_images_dashboard_shows_the_confusion_matrix",
    "tests/training/test_distribute.py::test_mirrored_training_matches_single_device_within_noise",
    "tests/training/test_experiment.py::test_a_run_writes_its_record_checkpoints_and_logs",
    "tests/models/test_registry_contract.py::test_family_fits_real_images[fast-cnn-small]",
)
KNOWN_FAST = (
    "tests/test_tiers.py::test_the_fast_and_slow_tiers_split_the_whole_suite",
    "tests/test_notebook.py::test_committed_notebook_has_no_outputs",
    "tests/serving/test_export.py::test_a_run_or_checkpoint_that_does_not_exist_is_refused",
    "tests/models/test_registry_contract.py::test_small_variant_trains_and_reloads_with_identical_"
    "predictions[fast-cnn-small]",
    "tests/training/test_failures.py::test_nan_loss_stops_the_run_and_records_it_as_failed",
)


def test_the_slow_marker_is_registered(pytestconfig):
    assert any(line.startswith("slow:") for line in pytestconfig.getini("markers"))


def collect(*selections: str) -> list[tuple[set[str], int]]:
    """For each `-m` expression, the test ids it selects and the size of the whole collection,
    collected as a user would type it, in subprocesses that run at once."""
    command = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"]
    processes = [
        subprocess.Popen(
            [*command, "-m", selection],
            cwd=REPO_ROOT,
            env=os.environ.copy(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for selection in selections
    ]
    collected = []
    for process in processes:
        output = process.communicate(timeout=300)[0]
        assert process.returncode == 0, output[-3000:]
        ids = {line for line in output.splitlines() if "::" in line}
        summary = re.search(r"(\d+)/(\d+) tests collected \(\d+ deselected\)", output)
        assert summary and len(ids) == int(summary[1]), output[-3000:]
        collected.append((ids, int(summary[2])))
    return collected


def tiers(config, collected) -> tuple[set[str], set[str], int]:
    """The fast and the slow tier's test ids and the size of the whole suite. Read from this
    session's own collection (tests/conftest.py keeps it) where it is the whole suite, as in
    `python -m pytest` and `python -m pytest -m "not slow"`; otherwise collected afresh."""
    whole_suite = config.args_source == pytest.Config.ArgsSource.TESTPATHS and not (
        config.getoption("lf", False) or config.getoption("ignore") or config.getoption("deselect")
    )
    if whole_suite and collected:
        fast = {test for test, slow in collected.items() if not slow}
        return fast, set(collected) - fast, len(collected)
    (fast, total), (slow, total_again) = collect("not slow", "slow")
    assert total == total_again
    return fast, slow, total


def test_the_fast_and_slow_tiers_split_the_whole_suite(pytestconfig, collected_tiers):
    fast, slow, total = tiers(pytestconfig, collected_tiers)

    assert fast and slow and not fast & slow
    assert len(fast) + len(slow) == total  # together, the whole collection
    assert len(fast) >= 0.75 * total, (len(fast), total)  # most tests run between two edits
    assert set(KNOWN_SLOW) <= slow, set(KNOWN_SLOW) - slow
    assert set(KNOWN_FAST) <= fast, set(KNOWN_FAST) - fast
