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
    """The real Fashion-MNIST files: DATA_PATH, ../shared/data/fashion-mnist beside the repo, or
    the default data folder (downloaded there with checksums when missing)."""
    import config
    from data import ensure_files

    if os.environ.get("DATA_PATH"):
        path = Path(os.environ["DATA_PATH"])
    elif DEFAULT_DATA_PATH.is_dir():
        path = DEFAULT_DATA_PATH
    else:
        path = config.DATA_PATH
    return ensure_files(path)


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
