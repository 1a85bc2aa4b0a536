"""optuna-dashboard in a real browser, as docs/usage.md's Search section opens it: a tiny study's
page shows the study and its trials."""

import contextlib
import json
import shutil
import urllib.request

import optuna
import pytest

from tests.search.test_search_report import objective
from tests.tensorboard_browser import (
    browser_missing,
    free_port,
    headless_chromium,
    local_server,
    page_text,
    texts_shown,
    wait_for,
)

STUDY = "dashboard-aug"


def dashboard_missing() -> str | None:
    """Why the dashboard cannot be checked here, or None when it can."""
    if shutil.which("optuna-dashboard") is None:
        return "optuna-dashboard not found on PATH (pip install -r requirements.txt)"
    return browser_missing()


pytestmark = [
    pytest.mark.slow,  # a dashboard server and a headless browser
    pytest.mark.skipif(bool(dashboard_missing()), reason=str(dashboard_missing())),
]


def _study_ids(base_url: str) -> dict[str, int]:
    """{study name: the dashboard's study id} from its API; {} while it is not serving."""
    try:
        with urllib.request.urlopen(f"{base_url}/api/studies", timeout=2) as response:
            summaries = json.load(response)["study_summaries"]
    except OSError:
        return {}
    return {summary["study_name"]: summary["study_id"] for summary in summaries}


@contextlib.contextmanager
def dashboard_server(storage: str, expected_study: str, timeout: float = 60):
    """`optuna-dashboard STORAGE` on a free port of 127.0.0.1; yields its URL once its API lists
    `expected_study`, with that study's page, and always stops it."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    command = ["optuna-dashboard", storage, "--host", "127.0.0.1", "--port", str(port)]
    with local_server(command, lambda: expected_study in _study_ids(base_url),
                      f"optuna-dashboard did not list {expected_study}", timeout):
        yield f"{base_url}/dashboard/studies/{_study_ids(base_url)[expected_study]}"


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory):
    """A study of 3 trials (2 complete, 1 pruned) served by optuna-dashboard, and Chromium."""
    database = tmp_path_factory.mktemp("dashboard") / "study.db"
    storage = f"sqlite:///{database}"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name=STUDY, storage=storage, direction="maximize",
                                sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(objective, n_trials=3)
    with dashboard_server(storage, STUDY) as study_url, headless_chromium() as driver:
        yield driver, study_url, study


def test_the_study_page_names_the_study(dashboard):
    driver, study_url, _ = dashboard

    driver.get(study_url)

    wait_for(driver, texts_shown(STUDY), "the study's name")


def test_the_trial_list_shows_every_trial_with_its_state_and_the_best(dashboard):
    driver, study_url, study = dashboard

    driver.get(f"{study_url}/trials")

    wait_for(driver, texts_shown("3 Trials"), "the trial count")
    best = study.best_trial
    text = page_text(driver)
    assert "Trial 0 Complete" in text and "Trial 2 Pruned" in text
    assert f"Trial {best.number} Complete Best Trial" in text
    first = study.trials[0]  # the trial shown in detail at first
    assert f"Value {first.value!r}" in text
