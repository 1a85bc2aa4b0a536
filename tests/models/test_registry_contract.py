"""What every registered model promises the trainer.

Each entry is built once with its defaults. Training and saving run on a small variant of the
entry's family (the entry's config with the overrides below), once per distinct variant.
"""

import json
import re

import keras
import numpy as np
import pytest

from models import list_models
from models.capsule_net import CapsuleNet
from models.mobilenet_v2 import MobileNetV2
from models.shufflenet_v2 import ShuffleNetV2
from models.wide_resnet import WideResNet

SMALL_VARIANT_OVERRIDES = {
    WideResNet: {"depth": 10, "width": 1, "dropout": 0.0},
    MobileNetV2: {"alpha": 0.25, "stage_repeats": (1, 1, 1, 1, 1, 1, 1)},
    ShuffleNetV2: {
        "stage_channels": (48, 96, 192),
        "stage_repeats": (1, 2, 1),
        "final_channels": 256,
    },
    CapsuleNet: {"conv_filters": 32, "primary_channels": 8, "decoder_units": (64, 128)},
}
MAX_OVERFIT_EPOCHS = 25

# (test, family, variant config) -> the registry name whose small variant ran that test first.
_first_name_per_variant = {}


def small_variant_or_skip(request, name, default_model, **overrides):
    """A fresh small variant of `name`'s family; skips if an earlier entry tested the same one."""
    default = default_model(name)
    family = type(default)
    config = {**default.get_config(), **SMALL_VARIANT_OVERRIDES.get(family, {}), **overrides}
    key = (
        request.node.originalname,
        family.__name__,
        repr(sorted((arg, value) for arg, value in config.items() if arg != "name")),
    )
    first_name = _first_name_per_variant.setdefault(key, name)
    if first_name != name:
        pytest.skip(f"same small variant as {first_name}")
    return family.from_config(config)


class StopAtTrainAccuracy(keras.callbacks.Callback):
    def __init__(self, accuracy):
        super().__init__()
        self.accuracy = accuracy

    def on_epoch_end(self, epoch, logs=None):
        if logs["accuracy"] >= self.accuracy:
            self.model.stop_training = True


def compile_for_training(model):
    """The trainer's compile call."""
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )


@pytest.mark.parametrize("name", list_models())
def test_name_is_kebab_case(name):
    assert re.fullmatch(r"[a-z0-9.]+(-[a-z0-9.]+)*", name)


@pytest.mark.parametrize("name", list_models())
def test_default_entry_outputs_class_probabilities(name, default_model, real_batch):
    images, _ = real_batch
    probabilities = keras.ops.convert_to_numpy(default_model(name)(images[:2], training=False))
    assert probabilities.shape == (2, 10)
    assert probabilities.dtype == np.float32
    assert (probabilities >= 0).all()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize("name", list_models())
def test_default_entry_config_is_json_serializable(name, default_model):
    model = default_model(name)
    config = json.loads(json.dumps(keras.saving.serialize_keras_object(model)))
    assert config["registered_name"].startswith("fmlab>")
    assert config["config"]["input_shape"] == [28, 28, 1]
    assert config["config"]["num_classes"] == 10


@pytest.mark.parametrize("name", list_models())
def test_small_variant_fit_lowers_loss_and_overfits_real_images(
    request, name, default_model, real_batch
):
    keras.utils.set_random_seed(0)
    model = small_variant_or_skip(request, name, default_model)
    compile_for_training(model)
    images, labels = real_batch

    history = model.fit(
        images,
        labels,
        batch_size=16,
        epochs=MAX_OVERFIT_EPOCHS,
        callbacks=[StopAtTrainAccuracy(0.95)],
        verbose=0,
    ).history

    assert history["loss"][-1] < history["loss"][0]
    assert history["accuracy"][-1] >= 0.9


@pytest.mark.parametrize("name", list_models())
def test_small_variant_keras_file_round_trip(request, name, default_model, real_batch, tmp_path):
    model = small_variant_or_skip(request, name, default_model)
    # Moves every weight, BatchNorm statistics included, away from what a fresh build holds.
    rng = np.random.default_rng(0)
    model.set_weights(
        [
            weight * rng.uniform(0.9, 1.1, weight.shape) + rng.normal(0.0, 0.01, weight.shape)
            for weight in model.get_weights()
        ]
    )
    path = tmp_path / "model.keras"
    model.save(path)

    loaded = keras.saving.load_model(path, safe_mode=True)

    images, _ = real_batch
    assert type(loaded) is type(model)
    assert loaded.get_config() == model.get_config()
    for loaded_weight, weight in zip(loaded.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(loaded_weight, weight)
    np.testing.assert_array_equal(loaded(images, training=False), model(images, training=False))


@pytest.mark.parametrize("name", list_models())
def test_small_variant_accepts_other_shapes(request, name, default_model, real_batch):
    model = small_variant_or_skip(request, name, default_model, num_classes=5, input_size=32)
    images, _ = real_batch
    probabilities = keras.ops.convert_to_numpy(model(images[:2], training=False))
    assert probabilities.shape == (2, 5)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
