import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from data import build_augmentation, make_training_dataset
from models import build_model
from tests.conftest import REPO_ROOT
from training.device_augmentation import augment_in_train_step

EVERY_KNOB = dict(
    rotation_range=15,
    zoom_range=0.1,
    width_shift_range=0.1,
    height_shift_range=0.1,
    horizontal_flip=0.5,
    random_erasing=0.5,
)


def _tiny_model(seed=0, jit_compile="auto"):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Conv2D(4, 3, activation="relu")(x)
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(10, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    model.compile(
        keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy", jit_compile=jit_compile
    )
    return model


def test_the_train_step_sees_augmented_images(fashion_mnist):
    images = fashion_mnist.x_train[:64].astype("float32")
    labels = fashion_mnist.y_train[:64]
    always_flip = build_augmentation(horizontal_flip=1.0)

    on_device = augment_in_train_step(_tiny_model(), always_flip)
    on_device.fit(images, labels, batch_size=64, epochs=1, shuffle=False, verbose=0)
    reference = _tiny_model()
    reference.fit(images[:, :, ::-1], labels, batch_size=64, epochs=1, shuffle=False, verbose=0)

    for got, expected in zip(on_device.get_weights(), reference.get_weights()):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    untrained = _tiny_model()
    assert not np.allclose(on_device.get_weights()[0], untrained.get_weights()[0])


def test_inference_and_saved_models_stay_free_of_augmentation(fashion_mnist, tmp_path):
    model = augment_in_train_step(_tiny_model(), build_augmentation(horizontal_flip=1.0))
    images = fashion_mnist.x_test[:16].astype("float32")
    plain = _tiny_model()
    plain.set_weights(model.get_weights())
    np.testing.assert_allclose(model.predict(images, verbose=0), plain.predict(images, verbose=0))
    assert len(model.weights) == len(plain.weights)  # the augmentation is not tracked
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras", safe_mode=True)
    kinds = [type(layer).__name__ for layer in loaded.layers]
    assert kinds == ["InputLayer", "Rescaling", "Conv2D", "Flatten", "Dense"]


@pytest.mark.parametrize("name", ["capsnet", "simple-cnn-bn"])
def test_models_train_with_augmentation_in_the_step(name, fashion_mnist):
    keras.utils.set_random_seed(0)
    small = dict(conv_filters=32, primary_channels=4, decoder_units=(32, 64), routing_iterations=1)
    kwargs = small if name == "capsnet" else {}
    model = build_model(name, input_shape=(28, 28, 1), num_classes=10, **kwargs)
    augment_in_train_step(
        model, build_augmentation(horizontal_flip=0.5, width_shift_range=0.1, seed=0)
    )
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy")
    batches = make_training_dataset(fashion_mnist.x_train[:256], fashion_mnist.y_train[:256], 64, 0)
    history = model.fit(batches, epochs=3, steps_per_epoch=4, verbose=0)
    losses = history.history["loss"]
    assert np.isfinite(losses).all() and losses[-1] < losses[0]


def test_every_knob_trains_in_an_xla_compiled_step(fashion_mnist):
    model = _tiny_model(jit_compile=True)
    augment_in_train_step(model, build_augmentation(**EVERY_KNOB, seed=0))
    images, labels = fashion_mnist.x_train[:96].astype("float32"), fashion_mnist.y_train[:96]
    history = model.fit(images, labels, batch_size=32, epochs=1, verbose=0)
    assert model.jit_compile
    assert np.isfinite(history.history["loss"]).all()


# Each replica of a MirroredStrategy augments the same images in a compiled step; two fresh
# augmentations with one seed must agree. Not under XLA: on logical CPUs it cannot reach the
# second replica's variables (plain Keras layers fail there alike).
REPLICA_SCRIPT = """
import json, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import numpy as np
from data import build_augmentation

strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])

def two_steps(seed):
    with strategy.scope():
        augmentation = build_augmentation(**json.loads(sys.argv[1]), seed=seed)

    @tf.function
    def step():
        images = tf.random.stateless_uniform((64, 28, 28, 1), (0, 0), 0.0, 255.0)
        return augmentation(images, training=True)

    replicated = tf.function(lambda: strategy.run(step))
    return np.stack(
        [np.stack(strategy.experimental_local_results(replicated())) for _ in range(2)]
    )

first, again = two_steps(7), two_steps(7)
print(json.dumps({
    "replicas_differ": bool((first[:, 0] != first[:, 1]).any(axis=(1, 2, 3, 4)).all()),
    "steps_differ": bool((first[0] != first[1]).any()),
    "reproducible": bool(np.array_equal(first, again)),
}))
"""


def test_each_replica_draws_its_own_augmentation_reproducibly():
    done = subprocess.run(
        [sys.executable, "-c", REPLICA_SCRIPT, json.dumps(EVERY_KNOB)],
        cwd=REPO_ROOT,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"replicas_differ": True, "steps_differ": True, "reproducible": True}
