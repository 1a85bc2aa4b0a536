"""Stochastic Weight Averaging (Izmailov et al. 2018, arXiv:1803.05407)."""

import os
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

# Below this fraction of their initial values, moving averages count as forgotten.
SETTLED_INITIAL_WEIGHT = 0.01


def batchnorm_layers(model: keras.Model) -> list:
    # _flatten_layers also reaches BatchNorm inside nested models and custom blocks.
    return [
        layer
        for layer in model._flatten_layers(include_self=False, recursive=True)
        if isinstance(layer, keras.layers.BatchNormalization)
    ]


def batchnorm_statistics_settled(model: keras.Model, steps: int) -> bool:
    """Whether `steps` training steps have moved every BatchNorm layer's moving statistics away
    from their initial values (mean 0, variance 1): momentum**steps below 1%."""
    return all(layer.momentum**steps < SETTLED_INITIAL_WEIGHT for layer in batchnorm_layers(model))


def recompute_batchnorm_statistics(model: keras.Model, dataset, max_batches: int | None = None):
    """Recomputes every BatchNorm layer's moving statistics with one pass over `dataset`.

    Averaged weights never produced the stored running statistics, so they are rebuilt as the
    exact average of the per-batch statistics in training mode, as
    `torch.optim.swa_utils.update_bn` does. The forward pass is a compiled function (an eager
    functional model keeps every activation of the batch alive until its call returns); with
    momentum 0 it leaves each batch's statistics in the moving variables, which are averaged
    here. Returns the number of batches used.
    """
    layers = batchnorm_layers(model)
    if not layers:
        return 0
    momenta = [layer.momentum for layer in layers]
    means = [np.zeros(layer.moving_mean.shape) for layer in layers]
    variances = [np.zeros(layer.moving_variance.shape) for layer in layers]
    batches = 0
    try:
        for layer in layers:
            layer.momentum = 0.0
        forward = tf.function(lambda images: model(images, training=True))
        for images, *_ in dataset:
            forward(images)
            batches += 1
            for layer, mean, variance in zip(layers, means, variances):
                mean += (layer.moving_mean.numpy() - mean) / batches
                variance += (layer.moving_variance.numpy() - variance) / batches
            if max_batches is not None and batches >= max_batches:
                break
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum
    if batches:
        for layer, mean, variance in zip(layers, means, variances):
            layer.moving_mean.assign(mean.astype("float32"))
            layer.moving_variance.assign(variance.astype("float32"))
    return batches


class SWA(keras.callbacks.Callback):
    """Keeps an equal-weight running average of the model's weights during training.

    A snapshot is added at the end of epoch `start_epoch` (1-based) and then every `frequency`
    epochs. Training itself is unchanged and works with any Keras optimizer; after `fit`, call
    `apply(bn_dataset)` to load the average and recompute BatchNorm statistics. With `state_dir`,
    the average is saved after every epoch so a run resumed by `BackupAndRestore` continues it.

    Args:
        start_epoch: first epoch (1-based) whose final weights enter the average.
        frequency: epochs between snapshots.
        state_dir: optional folder for the resumable state.

    Example:
        >>> swa = SWA(start_epoch=8)
        >>> model.fit(train, epochs=10, callbacks=[swa])
        >>> swa.apply(train_without_augmentation)
    """

    def __init__(self, start_epoch: int, frequency: int = 1, state_dir: str | Path | None = None):
        super().__init__()
        if start_epoch < 1:
            raise ValueError(f"start_epoch must be >= 1. Received: start_epoch={start_epoch}")
        if frequency < 1:
            raise ValueError(f"frequency must be >= 1. Received: frequency={frequency}")
        self.start_epoch = start_epoch
        self.frequency = frequency
        self.state_dir = Path(state_dir) if state_dir else None
        self.average: list[np.ndarray] | None = None
        self.count = 0
        self.snapshot_epochs: list[int] = []
        self._restored = False

    def _averaged_variables(self):
        return [v for v in self.model.weights if "float" in str(v.dtype)]

    def is_snapshot_epoch(self, epoch: int) -> bool:
        """Whether the weights after `epoch` (1-based) enter the average."""
        return epoch >= self.start_epoch and (epoch - self.start_epoch) % self.frequency == 0

    def add_snapshot(self, epoch: int):
        values = [np.asarray(v.numpy(), dtype=np.float64) for v in self._averaged_variables()]
        self.count += 1
        if self.average is None:
            self.average = values
        else:
            for mean, value in zip(self.average, values):
                mean += (value - mean) / self.count
        self.snapshot_epochs.append(epoch)

    def on_epoch_begin(self, epoch, logs=None):
        if not self._restored:
            self._restored = True
            if epoch > 0 and self.state_dir is not None:
                self._load_state(epoch)

    def on_train_end(self, logs=None):
        # A run resumed after its last epoch trains no epoch: load its average here.
        # BackupAndRestore stores the epochs already done in `_initial_epoch`.
        if not self._restored:
            self._restored = True
            done = getattr(self.model, "_initial_epoch", 0)
            if done and self.state_dir is not None:
                self._load_state(done)

    def on_epoch_end(self, epoch, logs=None):
        if self.is_snapshot_epoch(epoch + 1):
            self.add_snapshot(epoch + 1)
            if self.state_dir is not None:
                self._save_state(epoch + 1)

    def apply(self, bn_dataset=None, max_bn_batches: int | None = None) -> bool:
        """Loads the averaged weights and recomputes BatchNorm statistics on `bn_dataset`.

        Returns False, leaving the model unchanged, when no snapshot was taken.
        """
        if not self.count:
            return False
        for variable, mean in zip(self._averaged_variables(), self.average):
            variable.assign(mean.astype(variable.dtype))
        if bn_dataset is not None:
            recompute_batchnorm_statistics(self.model, bn_dataset, max_bn_batches)
        return True

    # Resumable state: one file per snapshot epoch, written atomically; the newest two are kept.
    def _state_path(self, epoch: int) -> Path:
        return self.state_dir / f"swa-epoch{epoch:04d}.npz"

    def _save_state(self, epoch: int):
        self.state_dir.mkdir(parents=True, exist_ok=True)
        path = self._state_path(epoch)
        temporary = path.with_suffix(".tmp.npz")
        arrays = {f"w{i}": value for i, value in enumerate(self.average)}
        np.savez(temporary, count=self.count, epochs=np.array(self.snapshot_epochs), **arrays)
        os.replace(temporary, path)
        for old in sorted(self.state_dir.glob("swa-epoch*.npz"))[:-2]:
            if ".tmp" not in old.name:
                old.unlink()

    def _load_state(self, next_epoch_index: int):
        # BackupAndRestore resumes at 0-based epoch `next_epoch_index`, so epochs 1..that are done.
        done = next_epoch_index
        expected = [e for e in range(1, done + 1) if self.is_snapshot_epoch(e)]
        if not expected:
            return
        path = self._state_path(expected[-1])
        if not path.exists():
            raise FileNotFoundError(
                f"Cannot resume SWA: {path} is missing, so the average over epochs {expected} "
                "is lost. Start the run again without --resume."
            )
        with np.load(path, allow_pickle=False) as state:
            self.count = int(state["count"])
            self.snapshot_epochs = [int(e) for e in state["epochs"]]
            self.average = [state[f"w{i}"] for i in range(len(state.files) - 2)]
