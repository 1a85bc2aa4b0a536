import subprocess
import sys

from tests.conftest import REPO_ROOT


def test_paths_come_from_the_environment_when_read(monkeypatch, tmp_path):
    import config

    monkeypatch.setenv("DL_MODELS_PATH", str(tmp_path / "ckpt"))
    monkeypatch.delenv("RESULTS_PATH", raising=False)
    assert config.DL_MODELS_PATH == tmp_path / "ckpt"
    assert config.RESULTS_PATH == REPO_ROOT / "results"


def test_default_data_path_is_the_keras_cache(monkeypatch):
    import config

    monkeypatch.delenv("DATA_PATH", raising=False)
    assert str(config.DATA_PATH).endswith(".keras/datasets/fashion-mnist")


def test_import_creates_nothing_and_prints_nothing(tmp_path):
    env = {
        "PATH": "",
        "DATA_PATH": str(tmp_path / "d"),
        "DL_MODELS_PATH": str(tmp_path / "m"),
        "TB_LOGS_PATH": str(tmp_path / "t"),
        "RESULTS_PATH": str(tmp_path / "r"),
    }
    result = subprocess.run(
        [sys.executable, "-c", "import config; [getattr(config, n) for n in config.__all__]"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and result.stderr == ""
    assert list(tmp_path.iterdir()) == []
