import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
DEFAULT_DATA_PATH = REPO_ROOT.parent / "shared" / "data" / "fashion-mnist"


@pytest.fixture(scope="session")
def data_path() -> Path:
    """The real Fashion-MNIST files: DATA_PATH, or ../shared/data/fashion-mnist beside the repo."""
    path = Path(os.environ.get("DATA_PATH") or DEFAULT_DATA_PATH)
    if not (path / "train-images-idx3-ubyte.gz").exists():
        pytest.fail(f"Fashion-MNIST files not found in {path}; set DATA_PATH.")
    return path


@pytest.fixture(scope="session")
def fashion_mnist(data_path):
    from data import load_fashion_mnist

    return load_fashion_mnist(data_path, download=False)


@pytest.fixture
def run_paths(tmp_path, monkeypatch, data_path):
    """Points every output folder of config.py at a fresh temporary folder."""
    paths = {
        "RESULTS_PATH": tmp_path / "results",
        "DL_MODELS_PATH": tmp_path / "checkpoints",
        "TB_LOGS_PATH": tmp_path / "tb",
    }
    for name, value in paths.items():
        monkeypatch.setenv(name, str(value))
    monkeypatch.setenv("DATA_PATH", str(data_path))
    return paths
