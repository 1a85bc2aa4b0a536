"""TensorBoard in a real browser: a tiny run's scalars, confusion matrix and HParams row."""

import shutil

import pytest

from tests.tensorboard_browser import (
    browser_missing,
    headless_chromium,
    open_dashboard,
    page_images,
    page_text,
    tensorboard_server,
    texts_shown,
    wait_for,
)
from tests.tiny_run import tiny_run

pytestmark = [
    pytest.mark.slow,  # a TensorBoard server and a headless browser
    pytest.mark.skipif(bool(browser_missing()), reason=str(browser_missing())),
]


@pytest.fixture(scope="module")
def run(tmp_path_factory, fashion_mnist):
    return tiny_run(tmp_path_factory, fashion_mnist)


@pytest.fixture(scope="module")
def browser(run, tmp_path_factory):
    """TensorBoard on a copy of the tiny run's logs with its HParams, and Chromium; both are
    stopped when the module's tests end, whatever happened."""
    from training.hparams import log_hparams

    logs = tmp_path_factory.mktemp("logs")
    shutil.copytree(run.tensorboard_dir, logs / "tiny")
    log_hparams(logs / "tiny", run.record)
    with tensorboard_server(logs, "tiny/test") as base_url, headless_chromium() as driver:
        yield driver, base_url


def test_the_scalars_dashboard_shows_the_epoch_and_outcome_tags(browser):
    driver, base_url = browser

    open_dashboard(driver, base_url, "scalars&tagFilter=accuracy")

    wait_for(driver, texts_shown("epoch_accuracy", "outcome/test_accuracy"), "accuracy tags")
    text = page_text(driver)
    assert "tiny/train" in text and "tiny/validation" in text and "tiny/test" in text


def test_the_images_dashboard_shows_the_confusion_matrix(browser):
    driver, base_url = browser

    open_dashboard(driver, base_url, "images")

    loaded = wait_for(
        driver,
        lambda driver: [
            src for src, width in page_images(driver) if "individualImage" in src and width > 0
        ],
        "a loaded image",
    )
    assert len(loaded) == 1
    assert "confusion_matrix" in page_text(driver)


def test_the_hparams_table_has_the_run_with_its_settings_and_accuracy(browser, run):
    driver, base_url = browser
    record = run.record.to_json()

    open_dashboard(driver, base_url, "hparams")

    wait_for(driver, texts_shown("Trial ID", "test accuracy (selected weights)"), "the table")
    row = wait_for(
        driver, lambda driver: page_text(driver).partition("Trial ID")[2], "the table's rows"
    )
    assert " tiny " in row
    # The settings shown at first, and the accuracy, printed with five significant digits.
    config = record["config"]
    for value in (config["model"], config["optimizer"], config["lr_schedule"],
                  f"{config['lr']:#.5g}", f"{record['test_accuracy']:#.5g}"):  # fmt: skip
        assert f" {value} " in row, value
