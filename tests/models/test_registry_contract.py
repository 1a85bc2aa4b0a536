"""What every registered model promises the trainer, and that it is what its spec says.

Each entry is built once with its defaults. Every entry's small variant (its spec's
`small_variant`) trains and goes through a `.keras` file; the longer fit and the other input
shapes run once per family, on its representative entry (see small_variants.py).
"""

import json
import re

import keras
import numpy as np
import pytest

from models import get_spec, list_families, list_models
from tests.models.small_variants import FAMILY_REPRESENTATIVES, small_variant

MAX_OVERFIT_EPOCHS = 25
OVERFIT_ACCURACY = 0.95


class StopAtTrainAccuracy(keras.callbacks.Callback):
    def __init__(self, accuracy):
        super().__init__()
        self.accuracy = accuracy

    def on_epoch_end(self, epoch, logs=None):
        if logs["accuracy"] >= self.accuracy:
            self.model.stop_training = True


def compile_for_training(model, **kwargs):
    """The trainer's compile call."""
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        **kwargs,
    )


def assert_probabilities(probabilities, num_classes):
    probabilities = keras.ops.convert_to_numpy(probabilities)
    assert probabilities.shape == (len(probabilities), num_classes)
    assert probabilities.dtype == np.float32
    assert (probabilities >= 0).all()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)


def assert_depends_on_input(probabilities):
    """Fails for a network that ignores its input (a dead layer, a lost connection)."""
    probabilities = keras.ops.convert_to_numpy(probabilities)
    assert np.abs(probabilities - probabilities[0]).max() > 1e-3


@pytest.mark.parametrize("name", list_models())
def test_name_is_kebab_case(name):
    assert re.fullmatch(r"[a-z0-9.]+(-[a-z0-9.]+)*", name)


def test_a_family_is_one_model_class(default_model):
    classes = {
        family: {type(default_model(name)) for name in list_models(family)}
        for family in list_families()
    }
    assert all(len(found) == 1 for found in classes.values()), classes
    assert len(set.union(*classes.values())) == len(classes), classes


@pytest.mark.parametrize("name", list_models())
def test_default_entry_outputs_class_probabilities(name, default_model, real_batch):
    images, _ = real_batch
    assert_probabilities(default_model(name)(images[:2], training=False), num_classes=10)


def batch_norm_layers(layer):
    if isinstance(layer, keras.layers.BatchNormalization):
        return [layer]
    return [found for inner in getattr(layer, "layers", []) for found in batch_norm_layers(inner)]


@pytest.mark.parametrize("name", list_models())
def test_default_model_is_what_its_spec_says(name, default_model):
    spec, model = get_spec(name), default_model(name)
    assert spec.name == name
    # train.py --list-models prints the registered number without building the model.
    assert spec.parameters == model.count_params()
    # BatchNorm has the shared momentum and the spec's epsilon, or the model has none.
    layers = batch_norm_layers(model)
    assert bool(layers) == (spec.batchnorm_epsilon is not None)
    assert {(layer.momentum, layer.epsilon) for layer in layers} <= {(0.9, spec.batchnorm_epsilon)}
    # A model with its own loss computes it in its own training step.
    assert (type(model).train_step is not keras.Model.train_step) == spec.own_loss
    assert callable(getattr(model, "reconstruct", None)) == spec.reconstructs


@pytest.mark.parametrize(
    "name", [name for name in list_models() if get_spec(name).legacy_input_shape]
)
def test_small_variant_builds_at_the_legacy_input_shape(name, default_model):
    shape = get_spec(name).legacy_input_shape
    model = small_variant(name, default_model(name), input_shape=shape)
    images = np.zeros((2, *shape), dtype=np.float32)
    assert_probabilities(model(images, training=False), num_classes=10)


@pytest.mark.parametrize("name", list_models())
def test_default_entry_config_is_json_serializable(name, default_model):
    model = default_model(name)
    config = json.loads(json.dumps(keras.saving.serialize_keras_object(model)))
    assert config["registered_name"] == f"fmlab>{type(model).__name__}"
    assert config["config"]["input_shape"] == [28, 28, 1]
    assert config["config"]["num_classes"] == 10


@pytest.mark.parametrize("name", list_models())
def test_small_variant_trains_and_reloads_with_identical_predictions(
    name, default_model, real_batch, tmp_path
):
    keras.utils.set_random_seed(0)
    model = small_variant(name, default_model(name))
    # Eager steps: the same train_step without tracing a graph per entry; the compiled step runs
    # once per family in the fit below.
    compile_for_training(model, run_eagerly=True)
    images, labels = real_batch[0][:8], real_batch[1][:8]
    initial = [variable.numpy() for variable in model.weights]

    # Two steps on the same batch: the second's loss is that of the weights after the first.
    losses = model.fit(images, labels, batch_size=8, epochs=2, shuffle=False, verbose=0)
    losses = losses.history["loss"]

    assert np.isfinite(losses).all() and losses[1] < losses[0], losses
    # Every kernel, bias and BatchNorm parameter trained, and every BatchNorm statistic moved.
    unchanged = [
        variable.path
        for variable, value in zip(model.weights, initial, strict=True)
        if np.array_equal(variable.numpy(), value)
    ]
    assert unchanged == []
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert type(loaded) is type(model)
    assert loaded.get_config() == model.get_config()
    for loaded_weight, weight in zip(loaded.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(loaded_weight, weight)
    # At initialization the deeper networks' activations vanish in inference mode (BatchNorm's
    # moving statistics are still those of a fresh layer) and every image gets about the same
    # probabilities; with the batch's statistics, they depend on the image.
    for training in (False, True):
        predictions = model(real_batch[0][:16], training=training)
        assert_probabilities(predictions, num_classes=10)
        np.testing.assert_array_equal(loaded(real_batch[0][:16], training=training), predictions)
    assert_depends_on_input(predictions)


@pytest.mark.slow
@pytest.mark.parametrize("name", FAMILY_REPRESENTATIVES)
def test_family_fits_real_images(name, default_model, real_batch):
    keras.utils.set_random_seed(0)
    model = small_variant(name, default_model(name))
    compile_for_training(model)
    images, labels = real_batch[0][:32], real_batch[1][:32]

    history = model.fit(
        images,
        labels,
        batch_size=16,
        epochs=MAX_OVERFIT_EPOCHS,
        callbacks=[StopAtTrainAccuracy(OVERFIT_ACCURACY)],
        verbose=0,
    ).history

    assert history["accuracy"][-1] >= OVERFIT_ACCURACY, history["accuracy"]
    assert history["loss"][-1] < 0.5 * history["loss"][0], history["loss"]


@pytest.mark.parametrize("name", FAMILY_REPRESENTATIVES)
def test_family_accepts_other_shapes(name, default_model, real_batch):
    model = small_variant(name, default_model(name), num_classes=5, input_size=32)
    images, _ = real_batch
    assert model.get_layer("resize").output.shape == (None, 32, 32, 1)
    assert_probabilities(model(images[:2], training=False), num_classes=5)
