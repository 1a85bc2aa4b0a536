import json
import os
import stat

import keras
import pytest

from models import build_model
from outputs.io import atomic_write_json, atomic_write_text
from serving.checkpoints import load_checkpoint


def test_atomic_write_replaces_whole_files_and_leaves_no_temporaries(tmp_path):
    path = tmp_path / "result.json"
    atomic_write_json(path, {"accuracy": 0.5})
    with pytest.raises(ValueError):  # NaN is refused before anything replaces the file
        atomic_write_json(path, {"accuracy": float("nan")})
    assert path.read_text() == '{\n  "accuracy": 0.5\n}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]


@pytest.mark.parametrize("umask", [0o022, 0o002], ids=["umask-022", "umask-002"])
def test_new_files_follow_the_umask(tmp_path, umask):
    previous = os.umask(umask)
    try:
        atomic_write_text(tmp_path / "README.md", "new\n")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "README.md").stat().st_mode) == 0o666 & ~umask


def test_replaced_files_keep_their_mode(tmp_path):
    record = tmp_path / "result.json"
    atomic_write_json(record, {"accuracy": 0.5})
    record.chmod(0o640)
    atomic_write_json(record, {"accuracy": 0.6})
    assert stat.S_IMODE(record.stat().st_mode) == 0o640
    assert json.loads(record.read_text()) == {"accuracy": 0.6}
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]


def test_checkpoint_of_another_architecture_is_refused(tmp_path):
    path = tmp_path / "cnn.keras"
    build_model("simple-cnn").save(path)
    assert isinstance(load_checkpoint(path, "simple-cnn"), keras.Model)
    with pytest.raises(
        ValueError,
        match=r"holds a SimpleCNN \(.*\), 749,026 parameters, but the model 'simple-cnn-bn'",
    ):
        load_checkpoint(path, "simple-cnn-bn")


def test_files_that_are_not_checkpoints_get_a_clear_error(tmp_path):
    bogus = tmp_path / "model.keras"
    bogus.write_bytes(b"not a zip archive")
    with pytest.raises(ValueError, match=r"model\.keras is not a valid checkpoint"):
        load_checkpoint(bogus)
    with pytest.raises(ValueError, match="is not a .keras checkpoint file"):
        load_checkpoint(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"missing\.keras does not exist"):
        load_checkpoint(tmp_path / "missing.keras")
    # Code in a file is never run: safe_mode refuses the lambda.
    unsafe = tmp_path / "lambda.keras"
    keras.Sequential([keras.Input((2,)), keras.layers.Lambda(lambda x: x * 2)]).save(unsafe)
    with pytest.raises(ValueError, match=r"lambda\.keras could not be loaded.*safe_mode=True"):
        load_checkpoint(unsafe)
