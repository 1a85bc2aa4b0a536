"""What the study tests share: a two-knob space, the settings that make a trial a few seconds
long, and `sweep.py` run in this process or as a worker process."""

import os
import signal
import subprocess
import sys

import optuna

import sweep
from tests.conftest import REPO_ROOT

TINY_SPACE = """
description = "Two knobs for the tests"

[augmentation.rotation_range]
type = "float"
low = 0.0
high = 10.0

[optimizer.lr]
type = "float"
low = 1e-3
high = 1e-2
log = true
"""
# One epoch on 2,000 images, scored on 500, without flip TTA: a few seconds a trial.
TINY_SETTINGS = ("data.limit_train=2000", "data.val_size=500", "schedule.epochs=1",
                 "evaluation.tta=false")
OUTPUT_VARIABLES = ("RESULTS_PATH", "DL_MODELS_PATH", "TB_LOGS_PATH")


def sweep_args(study: str, space, *extra: str) -> list[str]:
    """`sweep.py`'s arguments for a tiny study over `space` (a file)."""
    sets = [arg for setting in TINY_SETTINGS for arg in ("--set", setting)]
    return ["--study", study, "--space", str(space), *sets, *extra]


def worker(args: list[str], outputs) -> subprocess.Popen:
    """`python sweep.py ARGS` as a separate process writing under `outputs` (a folder)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.update({name: str(outputs / name.lower()) for name in OUTPUT_VARIABLES})
    return subprocess.Popen([sys.executable, "sweep.py", *args], cwd=REPO_ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=answer_ctrl_c)


def answer_ctrl_c() -> None:
    """Ctrl-C as a terminal delivers it: tests started in the background inherit SIGINT
    ignored, and Python then never raises KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run_sweep(args: list[str]) -> int:
    """`sweep.main(args)` in this process: its exit status (argparse's errors included)."""
    try:
        return sweep.main(args)
    except SystemExit as exit_:
        return exit_.code


def trials(study: str, storage: str) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=study, storage=storage).trials
