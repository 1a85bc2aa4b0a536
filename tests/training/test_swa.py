import keras
import numpy as np
import pytest

from training.swa import SWA, recompute_batchnorm_statistics


def tiny_model():
    inputs = keras.Input((4,))
    x = keras.layers.Dense(3, name="dense")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    outputs = keras.layers.Dense(2, activation="softmax", name="out")(x)
    model = keras.Model(inputs, outputs)
    model.compile(keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy")
    return model


class Snapshots(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.weights = []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append([w.numpy().copy() for w in self.model.trainable_weights])


def test_swa_equals_mean_of_snapshot_weights_and_recomputes_batchnorm():
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(3.0, 2.0, (64, 4)).astype("float32")
    y = (x[:, 0] > 3).astype("int32")
    model = tiny_model()
    snapshots = Snapshots()
    swa = SWA(start_epoch=3, frequency=2)
    model.fit(x, y, batch_size=16, epochs=7, verbose=0, callbacks=[snapshots, swa])
    assert swa.snapshot_epochs == [3, 5, 7]
    expected = [
        np.mean([snapshots.weights[e - 1][i] for e in (3, 5, 7)], axis=0)
        for i in range(len(model.trainable_weights))
    ]
    assert not np.allclose(model.trainable_weights[0].numpy(), expected[0])

    assert swa.apply([(x, y)])  # one batch holding all 64 rows
    for variable, mean in zip(model.trainable_weights, expected):
        np.testing.assert_allclose(variable.numpy(), mean, rtol=1e-5, atol=1e-6)
    # BN statistics now equal the batch statistics of the averaged first layer's outputs.
    features = x @ expected[0] + expected[1]
    bn = model.get_layer("bn")
    np.testing.assert_allclose(bn.moving_mean.numpy(), features.mean(0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(bn.moving_variance.numpy(), features.var(0), rtol=1e-3, atol=1e-4)
    assert bn.momentum == pytest.approx(0.99)


def test_batchnorm_recalibration_averages_over_batches():
    model = tiny_model()
    x = np.random.default_rng(1).normal(0, 1, (40, 4)).astype("float32")
    batches = [(x[i : i + 10],) for i in range(0, 40, 10)]
    assert recompute_batchnorm_statistics(model, batches) == 4
    dense = model.get_layer("dense")
    features = x @ dense.kernel.numpy() + dense.bias.numpy()
    expected_mean = np.mean([features[i : i + 10].mean(0) for i in range(0, 40, 10)], axis=0)
    expected_variance = np.mean([features[i : i + 10].var(0) for i in range(0, 40, 10)], axis=0)
    bn = model.get_layer("bn")
    np.testing.assert_allclose(bn.moving_mean.numpy(), expected_mean, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(bn.moving_variance.numpy(), expected_variance, rtol=1e-4, atol=1e-5)
    assert bn.momentum == pytest.approx(0.99)


def test_a_run_resumed_after_its_last_epoch_still_applies_its_average(tmp_path):
    x = np.random.default_rng(2).normal(0, 1, (32, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int32")
    model = tiny_model()
    first = SWA(start_epoch=2, state_dir=tmp_path)
    model.fit(x, y, batch_size=8, epochs=3, verbose=0, callbacks=[first])
    assert first.snapshot_epochs == [2, 3]

    # The process died after epoch 3 was saved, before the record: a resumed fit trains no epoch.
    model._initial_epoch = 3  # what BackupAndRestore restores
    resumed = SWA(start_epoch=2, state_dir=tmp_path)
    model.fit(x, y, batch_size=8, epochs=3, initial_epoch=3, verbose=0, callbacks=[resumed])
    assert resumed.snapshot_epochs == [2, 3] and resumed.count == 2
    for restored, expected in zip(resumed.average, first.average):
        np.testing.assert_allclose(restored, expected)


def test_swa_without_snapshots_leaves_the_model_unchanged():
    model = tiny_model()
    swa = SWA(start_epoch=5)
    model.fit(np.zeros((8, 4)), np.zeros(8), epochs=2, verbose=0, callbacks=[swa])
    before = [w.numpy().copy() for w in model.weights]
    assert not swa.apply()
    for variable, value in zip(model.weights, before):
        np.testing.assert_array_equal(variable.numpy(), value)


def test_swa_rejects_impossible_settings():
    with pytest.raises(ValueError, match="Received: start_epoch=0"):
        SWA(start_epoch=0)
    with pytest.raises(ValueError, match="Received: frequency=0"):
        SWA(start_epoch=1, frequency=0)
