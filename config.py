"""Filesystem locations used by fashion-mnist-lab, read from the environment.

Each name is looked up when it is accessed, so changing an environment variable takes effect without
re-importing. Importing this module creates no directory and prints nothing.

| variable         | meaning                                   | default                           |
| ---------------- | ----------------------------------------- | --------------------------------- |
| `DATA_PATH`      | the four Fashion-MNIST `.gz` files        | `~/.keras/datasets/fashion-mnist` |
| `DL_MODELS_PATH` | checkpoints, one folder per run           | `<repo>/runs/checkpoints`         |
| `TB_LOGS_PATH`   | TensorBoard logs, one folder per run      | `<repo>/runs/tb`                  |
| `RESULTS_PATH`   | run records (`result.json`, report, PNGs) | `<repo>/results`                  |
"""

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent

# Same folder as `keras.datasets.fashion_mnist.load_data()`, so an existing Keras cache is reused.
_DEFAULTS = {
    "DATA_PATH": Path("~/.keras/datasets/fashion-mnist"),
    "DL_MODELS_PATH": REPO_ROOT / "runs" / "checkpoints",
    "TB_LOGS_PATH": REPO_ROOT / "runs" / "tb",
    "RESULTS_PATH": REPO_ROOT / "results",
}

__all__ = ["REPO_ROOT", *_DEFAULTS]


def __getattr__(name: str) -> Path:
    if name not in _DEFAULTS:
        raise AttributeError(f"module 'config' has no attribute {name!r}")
    value = os.environ.get(name)
    return Path(value).expanduser() if value else _DEFAULTS[name].expanduser()
