"""TensorBoard served on a free local port and driven by headless Chromium: what the browser test
checks, and what draws the README's TensorBoard screenshots.

python -m tests.tensorboard_browser --logdir runs/tb   # screenshots of these logs
python -m tests.tensorboard_browser --demo             # of three short runs trained for the purpose

Both write images/tensorboard-scalars.png and images/tensorboard-hparams.png (`--images` moves
them). Needs Chromium and its driver (Debian: apt-get install chromium chromium-driver) and
Selenium.
"""

import argparse
import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
WINDOW_SIZE = "1400,900"
HPARAMS_WINDOW_SIZE = (2500, 750)
# Text of the page, shadow roots included (the dashboards are web components), without the
# contents of style and script elements.
PAGE_TEXT_SCRIPT = """
const skipped = new Set(['STYLE', 'SCRIPT', 'TEMPLATE']);
const parts = [];
function walk(node) {
  if (node.nodeType === Node.TEXT_NODE) { parts.push(node.textContent); return; }
  if (node.nodeType === Node.ELEMENT_NODE && skipped.has(node.tagName)) return;
  if (node.shadowRoot) walk(node.shadowRoot);
  for (const child of node.childNodes) walk(child);
}
walk(document.documentElement);
return parts.join(' ');
"""
# [src, naturalWidth] of every <img>, shadow roots included.
PAGE_IMAGES_SCRIPT = """
const found = [];
function walk(node) {
  if (node.tagName === 'IMG') found.push([node.src, node.naturalWidth]);
  if (node.shadowRoot) walk(node.shadowRoot);
  for (const child of node.children || []) walk(child);
}
walk(document.documentElement);
return found;
"""


def browser_missing() -> str | None:
    """Why the browser cannot be driven here, or None when it can."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -r requirements-dev.txt)"
    missing = [name for name in ("chromium", "chromedriver") if shutil.which(name) is None]
    if missing:
        return (
            f"{' and '.join(missing)} not found on PATH "
            "(Debian: apt-get install chromium chromium-driver; CI installs them in .ci/run)"
        )
    return None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _runs(base_url: str) -> list[str]:
    try:
        with urllib.request.urlopen(f"{base_url}/data/runs", timeout=2) as response:
            return json.load(response)
    except OSError:
        return []


@contextlib.contextmanager
def local_server(command: list[str], ready, what: str, timeout: float, env=None):
    """Runs `command` (a server on 127.0.0.1) until `ready()` is true, then yields; always stops
    it. A server that exits or is not ready within `timeout` seconds raises with its last
    output, named by `what`."""
    with tempfile.TemporaryFile() as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            deadline = time.monotonic() + timeout
            while not ready():
                if server.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    output = log.read().decode(errors="replace")[-2000:]
                    raise RuntimeError(f"{what}:\n{output}")
                time.sleep(0.5)
            yield
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


@contextlib.contextmanager
def tensorboard_server(logdir: Path, expected_run: str, timeout: float = 90):
    """`tensorboard --logdir logdir` on a free port of 127.0.0.1; yields its URL once it lists
    `expected_run`, and always stops it."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "tensorboard.main", "--logdir", str(logdir), "--host",
               "127.0.0.1", "--port", str(port), "--load_fast", "false"]
    with local_server(command, lambda: expected_run in _runs(base_url),
                      f"TensorBoard did not list {expected_run}", timeout,
                      env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}):
        yield base_url


@contextlib.contextmanager
def headless_chromium():
    """Chromium through its WebDriver, with a fresh profile that is removed afterwards."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    with tempfile.TemporaryDirectory() as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = shutil.which("chromium")
        for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={WINDOW_SIZE}"):
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
        try:
            yield driver
        finally:
            driver.quit()


def page_text(driver) -> str:
    return re.sub(r"\s+", " ", driver.execute_script(PAGE_TEXT_SCRIPT))


def page_images(driver) -> list[tuple[str, int]]:
    return [tuple(image) for image in driver.execute_script(PAGE_IMAGES_SCRIPT)]


def open_dashboard(driver, base_url: str, fragment: str) -> None:
    """Loads TensorBoard afresh at `#fragment`, so no other dashboard's elements linger."""
    driver.get("about:blank")
    driver.get(f"{base_url}/#{fragment}")


def wait_for(driver, condition, what: str, timeout: float = 30):
    """Polls `condition(driver)` until it returns something true, and returns that."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition(driver)
        if result or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    if not result:
        raise AssertionError(
            f"{what} not shown within {timeout} s; the page read:\n{page_text(driver)[-3000:]}"
        )
    return result


def texts_shown(*texts):
    """A condition: every text in `texts` is on the page."""
    return lambda driver: all(text in page_text(driver) for text in texts)


def save_screenshots(logdir: Path, run_name: str, images_dir: Path) -> list[Path]:
    """The scalars dashboard (accuracy tags) and the HParams table of `logdir`, as PNGs."""
    images_dir.mkdir(parents=True, exist_ok=True)
    scalars, hparams = (
        images_dir / "tensorboard-scalars.png",
        images_dir / "tensorboard-hparams.png",
    )
    with tensorboard_server(logdir, f"{run_name}/test") as base_url, headless_chromium() as driver:
        open_dashboard(
            driver, base_url, "scalars&tagFilter=accuracy&_smoothingWeight=0&_ignoreYOutliers=false"
        )
        wait_for(driver, texts_shown("epoch_accuracy", "outcome/test_accuracy"), "the scalars")
        time.sleep(2)  # the charts draw after their tags appear
        driver.save_screenshot(str(scalars))
        driver.set_window_size(*HPARAMS_WINDOW_SIZE)  # wide enough for every default column
        open_dashboard(driver, base_url, "hparams")
        wait_for(driver, texts_shown("Trial ID", run_name), "the HParams table")
        time.sleep(1)
        driver.save_screenshot(str(hparams))
    return [scalars, hparams]


def train_demo_runs(folder: Path) -> str:
    """Three short runs (simple CNN with Adam, RMSprop and SGD, 3 epochs on 1,000 images) with
    their HParams, logged under `folder/tb`; returns the last run's name."""
    from quiet_tensorflow import import_tensorflow

    import_tensorflow()
    from training import ExperimentConfig, run_experiment
    from training.hparams import log_hparams

    for name in ("RESULTS_PATH", "DL_MODELS_PATH", "TB_LOGS_PATH"):
        os.environ[name] = str(folder / name.lower())
    for optimizer in ("adam", "rmsprop", "sgd"):
        config = ExperimentConfig().replace(
            optimizer=optimizer,
            epochs=3,
            limit_train=1000,
            val_size=500,
            run_name=f"demo-{optimizer}",
        )
        result = run_experiment(config, verbose=0)
        log_hparams(result.tensorboard_dir, result.record)
    return result.name


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--logdir", type=Path, help="TensorBoard logs, one folder per run")
    source.add_argument("--demo", action="store_true", help="train three short runs first")
    parser.add_argument("--run", help="a run the pages must show; default: the newest")
    parser.add_argument("--images", type=Path, default=REPO_ROOT / "images")
    args = parser.parse_args(argv)
    reason = browser_missing()
    if reason:
        print(f"error: {reason}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as scratch:
        if args.demo:
            run_name, logdir = train_demo_runs(Path(scratch)), Path(scratch) / "tb_logs_path"
        else:
            logdir = args.logdir
            runs = sorted(logdir.glob("*/test"), key=lambda path: path.stat().st_mtime)
            if not runs and not args.run:
                print(f"error: {logdir} holds no run with a test/ folder", file=sys.stderr)
                return 2
            run_name = args.run or runs[-1].parent.name
        for path in save_screenshots(logdir, run_name, args.images):
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
