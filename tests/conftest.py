import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from quiet_tensorflow import import_tensorflow  # noqa: E402

import_tensorflow()

# Set once per session when the dataset can be neither found nor downloaded.
_missing_data: list[str] = []


def find_dataset() -> Path:
    """The Fashion-MNIST folder exactly as the library finds it: `config.DATA_PATH` (the
    `DATA_PATH` variable, or `~/.keras/datasets/fashion-mnist`), downloading missing files
    with their checksums. Skips the calling test, with one reason for the whole session, when
    the files are missing and cannot be downloaded."""
    import config
    from data import ensure_files

    if _missing_data:
        pytest.skip(_missing_data[0])
    try:
        return ensure_files(config.DATA_PATH)
    except FileNotFoundError as error:
        lines = str(error).splitlines()
        _missing_data.append(
            f"Fashion-MNIST is not in {config.DATA_PATH} and could not be downloaded "
            f"({lines[1].strip() if len(lines) > 1 else lines[0]}). "
            "Put the four official files there or set DATA_PATH to their folder."
        )
        pytest.skip(_missing_data[0])


COLLECTED_TIERS = pytest.StashKey[dict[str, bool]]()


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Keeps each collected test's id and whether it is marked slow, before `-m` or `-k`
    deselects any, for tests/test_tiers.py."""
    config.stash[COLLECTED_TIERS] = {
        item.nodeid: item.get_closest_marker("slow") is not None for item in items
    }


@pytest.fixture(scope="session")
def collected_tiers(pytestconfig) -> dict[str, bool] | None:
    """This session's collection before deselection: each test id and whether it is slow."""
    return pytestconfig.stash.get(COLLECTED_TIERS, None)


def pytest_terminal_summary(terminalreporter):
    if _missing_data:
        terminalreporter.section("dataset missing", sep="!", red=True, bold=True)
        terminalreporter.write_line(_missing_data[0])
        terminalreporter.write_line("Every test that needs the images was skipped.")


@pytest.fixture(scope="session")
def data_path() -> Path:
    return find_dataset()


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
