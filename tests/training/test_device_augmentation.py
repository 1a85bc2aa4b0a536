import keras
import numpy as np
import pytest

from data import build_augmentation, make_dataset
from models import build_model
from training.device_augmentation import augment_in_train_step


def _tiny_model(seed=0):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Conv2D(4, 3, activation="relu")(x)
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(10, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    model.compile(keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy")
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
    batches = make_dataset(fashion_mnist.x_train[:256], fashion_mnist.y_train[:256], 64, True)
    history = model.fit(batches, epochs=3, verbose=0)
    losses = history.history["loss"]
    assert np.isfinite(losses).all() and losses[-1] < losses[0]
