"""Checkpoints load where users load them: in a fresh interpreter, after `import models` only."""

import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest

from models import build_model
from serving.checkpoints import load_checkpoint
from tests.conftest import REPO_ROOT
from training.callbacks import save_model_atomically
from training.config import ExperimentConfig
from training.optimizers import build_optimizer

SCHEDULES = ("constant", "cosine", "swa", "triangular")


def saved_checkpoint(path, lr_schedule="swa", **model_kwargs):
    """A simple CNN compiled as train.py compiles it, its optimizer built, saved to `path`."""
    model = build_model("simple-cnn", **model_kwargs)
    settings = ExperimentConfig().replace(model="simple-cnn", lr_schedule=lr_schedule, epochs=4)
    settings = settings.resolved()
    model.compile(build_optimizer(settings, steps_per_epoch=5), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.optimizer.build(model.trainable_variables)
    save_model_atomically(model, path)
    return model


def run_python(*args, timeout=300):
    result = subprocess.run([sys.executable, *args], cwd=REPO_ROOT, capture_output=True,
                            text=True, timeout=timeout)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).integers(0, 256, (8, 28, 28, 1)).astype("float32")


def test_checkpoints_of_every_schedule_load_in_a_fresh_process(tmp_path, images):
    np.save(tmp_path / "images.npy", images)
    for schedule in SCHEDULES:
        model = saved_checkpoint(tmp_path / f"{schedule}.keras", schedule)
        np.save(tmp_path / f"{schedule}.npy", model.predict(images, verbose=0))

    # The documented way to load a checkpoint: nothing of the project but `models` imported.
    script = textwrap.dedent(f"""
        import sys
        from pathlib import Path

        import keras
        import numpy as np

        import models

        folder = Path({str(tmp_path)!r})
        images = np.load(folder / "images.npy")
        for schedule in {SCHEDULES!r}:
            model = keras.saving.load_model(folder / f"{{schedule}}.keras", safe_mode=True)
            np.testing.assert_allclose(
                model.predict(images, verbose=0), np.load(folder / f"{{schedule}}.npy"), rtol=1e-6
            )
        assert "training" not in sys.modules, "loading imported the training package"
        print("loaded", *{SCHEDULES!r})
    """)
    assert run_python("-c", script).split() == ["loaded", *SCHEDULES]


def test_the_evaluate_command_reads_the_architecture_from_the_checkpoint(tmp_path, data_path):
    path = tmp_path / "best.keras"
    saved_checkpoint(path, "swa", input_size=32)

    output = run_python("-m", "serving.checkpoints", str(path), "--model", "simple-cnn")
    assert "SimpleCNN (" in output and "input_size=32" in output
    assert "test accuracy 0." in output


def test_the_model_name_is_checked_against_the_checkpoints_own_config(tmp_path):
    path = tmp_path / "resized.keras"
    saved_checkpoint(path, "cosine", input_size=32)

    assert load_checkpoint(path, "simple-cnn").get_config()["input_size"] == 32
    with pytest.raises(ValueError, match=r"'simple-cnn-bn' is a SimpleCNN .* differ in: "
                                         r"conv_batchnorm\)"):
        load_checkpoint(path, "simple-cnn-bn")
    with pytest.raises(ValueError, match=r"resized\.keras holds a SimpleCNN .*input_size=32.*"
                                         r"'wrn-16-4' is a WideResNet"):
        load_checkpoint(path, "wrn-16-4")


@pytest.mark.parametrize("damage", ["truncated", "corrupt-weights"])
def test_a_damaged_checkpoint_is_named_as_such_not_as_missing(tmp_path, damage):
    path = tmp_path / "final.keras"
    saved_checkpoint(path, "constant")
    if damage == "truncated":  # cut off while being copied
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    else:  # a complete archive whose weights file is damaged
        with zipfile.ZipFile(path) as archive:
            members = {name: archive.read(name) for name in archive.namelist()}
        with zipfile.ZipFile(path, "w") as archive:
            for name, content in members.items():
                archive.writestr(name, content[:200] if name.endswith(".h5") else content)

    with pytest.raises(ValueError) as error:
        load_checkpoint(path)
    message = str(error.value)
    assert str(path) in message and "not a valid checkpoint" in message
    assert "truncated or corrupt" in message and "File not found" not in message
    with pytest.raises(FileNotFoundError, match=r"missing\.keras does not exist"):
        load_checkpoint(tmp_path / "missing.keras")
