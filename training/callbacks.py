"""Callbacks that keep the run record complete across interruptions."""

import json
import math
import os
import random
import shutil
import time
from pathlib import Path

import keras
from keras import ops

from outputs.io import atomic_write_json
from records.machine import LoadMeter


def current_learning_rate(optimizer) -> float:
    optimizer = getattr(optimizer, "inner_optimizer", optimizer)  # unwrap LossScaleOptimizer
    return float(ops.convert_to_numpy(optimizer.learning_rate))


class TerminateOnInvalidValidationLoss(keras.callbacks.Callback):
    """Stops training after an epoch whose validation loss is NaN or infinite: the weights have
    diverged, even where the training loss averaged over the epoch stayed finite (Keras's
    `TerminateOnNaN` watches the training loss only)."""

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get("val_loss")
        if value is not None and not math.isfinite(value):
            print(f"Epoch {epoch + 1}: invalid validation loss, terminating training")
            self.model.stop_training = True


def diverged(logs: dict) -> bool:
    """Whether an epoch's recorded logs (`HistoryRecorder`: None for a value that was not
    finite) show a diverged run: no training loss, or a validation loss that was not finite."""
    return logs.get("loss") is None or ("val_loss" in logs and logs["val_loss"] is None)


# An epoch's load in its history (`records.machine.load_between`'s names -> history keys).
LOAD_KEYS = {"other_share": "load_other_share", "steal_share": "load_steal_share",
             "own_cpu_seconds": "own_cpu_seconds"}


def epoch_loads(epochs: dict[int, dict]) -> list[dict]:
    """The loads that `HistoryRecorder` kept in a run's history, in `load_between`'s names;
    epochs recorded without them (older records) are left out."""
    names = {key: name for name, key in LOAD_KEYS.items()}
    return [{names[key]: logs[key] for key in names}
            for _, logs in sorted(epochs.items())
            if all(logs.get(key) is not None for key in names)]


class HistoryRecorder(keras.callbacks.Callback):
    """Writes every epoch's logs, learning rate, duration (`seconds`, of which
    `validation_seconds` went to the validation pass) and load to a JSON file, keyed by epoch.

    The load (`LOAD_KEYS`) is the share of the machine's cores that other processes and the
    hypervisor took while the epoch trained and validated, and this process's CPU seconds: it
    says whether the epoch's `seconds` measure the machine or a machine shared.

    Keras' `History` only holds the epochs of the current `fit` call; this file survives a resumed
    run, and an epoch trained twice (killed before its backup was saved) is stored once.
    """

    def __init__(self, path: Path, keep_epochs: int | None = None):
        super().__init__()
        self.path = Path(path)
        # A resumed run keeps the epochs its backup holds; later ones are trained again.
        self.epochs = {
            epoch: logs
            for epoch, logs in self.load(self.path).items()
            if keep_epochs is None or epoch <= keep_epochs
        }
        self._started = 0.0
        self._validation_started = None
        self._validation_seconds = None
        self._load = LoadMeter()

    @staticmethod
    def load(path: Path) -> dict[int, dict]:
        path = Path(path)
        if not path.exists():
            return {}
        return {int(epoch): logs for epoch, logs in json.loads(path.read_text()).items()}

    def on_epoch_begin(self, epoch, logs=None):
        self._started = time.perf_counter()
        self._validation_seconds = None
        self._load.start()

    # `fit` calls these around each epoch's validation pass.
    def on_test_begin(self, logs=None):
        self._validation_started = time.perf_counter()

    def on_test_end(self, logs=None):
        self._validation_seconds = time.perf_counter() - self._validation_started

    def on_epoch_end(self, epoch, logs=None):
        entry = {key: float(value) for key, value in (logs or {}).items()}
        entry = {key: (value if math.isfinite(value) else None) for key, value in entry.items()}
        entry["learning_rate"] = current_learning_rate(self.model.optimizer)
        entry["seconds"] = time.perf_counter() - self._started
        if self._validation_seconds is not None:
            entry["validation_seconds"] = self._validation_seconds
        load = self._load.stop()
        if load is not None:
            entry.update({key: load[name] for name, key in LOAD_KEYS.items()})
        self.epochs[epoch + 1] = entry
        atomic_write_json(self.path, {str(k): v for k, v in sorted(self.epochs.items())})

    def best(self, key: str = "val_accuracy") -> tuple[float | None, int | None]:
        scored = [
            (logs[key], epoch) for epoch, logs in self.epochs.items() if logs.get(key) is not None
        ]
        if not scored:
            return None, None
        value, epoch = max(scored, key=lambda pair: (pair[0], -pair[1]))
        return value, epoch


def inference_copy(model: keras.Model) -> keras.Model:
    """An uncompiled copy of `model` with its weights, for saving.

    A compiled model's `.keras` file holds its optimizer, whose learning-rate schedule is a class
    of `training` that a process loading the checkpoint for inference has no reason to import;
    the copy holds only the architecture and the weights.
    """
    # Building draws initializer seeds from Python's `random`: restore its state, so a run's
    # later random draws do not depend on how many checkpoints it saved.
    random_state = random.getstate()
    try:
        copy = type(model).from_config(model.get_config())
    finally:
        random.setstate(random_state)
    copy.set_weights(model.get_weights())
    return copy


def save_model_atomically(model: keras.Model, path: Path) -> None:
    """Saves an inference checkpoint of `model` (architecture and weights, no optimizer) to a
    temporary `.keras` file beside `path`, then renames it over `path`.

    A failed save removes the temporary file and leaves `path` as it was; a replaced checkpoint
    keeps its file mode. Load it with `import models` then
    `keras.saving.load_model(path, safe_mode=True)`.
    """
    path = Path(path)
    temporary = path.with_name(f".{path.stem}.tmp.keras")
    try:
        inference_copy(model).save(temporary)
        if path.exists():
            shutil.copymode(path, temporary)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


class BestModelCheckpoint(keras.callbacks.Callback):
    """Saves the model whenever `monitor` improves, atomically, so a crash never leaves a partial
    checkpoint. `best` starts from an earlier value when a run is resumed.
    """

    def __init__(self, path: Path, monitor: str = "val_accuracy", best: float | None = None):
        super().__init__()
        self.path = Path(path)
        self.monitor = monitor
        self.best = -math.inf if best is None else best

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is not None and math.isfinite(value) and value > self.best:
            self.best = float(value)
            save_model_atomically(self.model, self.path)


class LastEpochWeights(keras.callbacks.Callback):
    """The model's weights at the end of the last epoch (or as restored when training starts),
    kept before `fit` replaces them with the optimizer's moving average (`use_ema`). Place it
    after the callback that restores a backup."""

    def __init__(self):
        super().__init__()
        self.weights = None

    def on_train_begin(self, logs=None):
        self.weights = self.model.get_weights()

    def on_epoch_end(self, epoch, logs=None):
        self.weights = self.model.get_weights()
