import json
import random

import keras
import numpy as np
import pytest

from training.callbacks import BestModelCheckpoint, HistoryRecorder, save_model_atomically


def tiny_model():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy")
    return model


def test_best_checkpoint_saves_only_improvements_and_leaves_no_temporary(tmp_path):
    model = tiny_model()
    checkpoint = BestModelCheckpoint(tmp_path / "best.keras", "val_accuracy", best=0.5)
    checkpoint.set_model(model)
    checkpoint.on_epoch_end(0, {"val_accuracy": 0.4})  # below the resumed best: not saved
    assert not (tmp_path / "best.keras").exists()
    checkpoint.on_epoch_end(1, {"val_accuracy": 0.7})
    saved = keras.saving.load_model(tmp_path / "best.keras", safe_mode=True).get_weights()
    model.layers[0].kernel.assign(np.zeros((3, 2)))
    checkpoint.on_epoch_end(2, {"val_accuracy": float("nan")})
    checkpoint.on_epoch_end(3, {"val_accuracy": 0.6})
    still = keras.saving.load_model(tmp_path / "best.keras", safe_mode=True).get_weights()
    for first, second in zip(saved, still):
        np.testing.assert_array_equal(first, second)
    assert checkpoint.best == 0.7
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.keras"]


def test_history_keeps_one_entry_per_epoch_across_restarts(tmp_path):
    path = tmp_path / "history.json"
    model = tiny_model()
    for run in range(2):  # the second run re-trains epoch 2, as after a kill before its backup
        recorder = HistoryRecorder(path)
        recorder.set_model(model)
        for epoch in ([0, 1] if run == 0 else [1, 2]):
            recorder.on_epoch_begin(epoch)
            recorder.on_epoch_end(epoch, {"loss": 1.0 + run, "val_accuracy": 0.5 + epoch / 10})
    saved = json.loads(path.read_text())
    assert sorted(saved) == ["1", "2", "3"]
    assert saved["2"]["loss"] == 2.0 and saved["1"]["loss"] == 1.0
    assert recorder.best("val_accuracy") == (0.7, 3)


class DiskFullModel(keras.Sequential):
    """Writes part of its file, then fails as a full disk would."""

    def save(self, filepath, *args, **kwargs):
        with open(filepath, "wb") as file:
            file.write(b"PK\x03\x04 partial")
        raise OSError(28, "No space left on device")


def test_a_failed_save_leaves_the_old_checkpoint_and_no_temporary(tmp_path):
    path = tmp_path / "final.keras"
    path.write_bytes(b"the previous checkpoint")
    model = DiskFullModel([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile("sgd", "mse")
    with pytest.raises(OSError, match="No space left"):
        save_model_atomically(model, path)
    assert [p.name for p in tmp_path.iterdir()] == ["final.keras"]
    assert path.read_bytes() == b"the previous checkpoint"


def test_saving_leaves_the_python_random_state_alone(tmp_path):
    model = tiny_model()
    state = random.getstate()
    save_model_atomically(model, tmp_path / "best.keras")
    assert random.getstate() == state  # later draws do not depend on how often a run saved
    loaded = keras.saving.load_model(tmp_path / "best.keras", safe_mode=True)
    assert not loaded.compiled  # an inference checkpoint: no optimizer, no loss
