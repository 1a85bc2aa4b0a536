"""The fused BatchNorm trains as Keras's does: same outputs, gradients and moving statistics."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from models import build_model, get_spec
from models.layers import FusedBatchNormalization
from tests.models.small_variants import FAMILY_REPRESENTATIVES, small_variant


def twin_layers(policy: str, **options):
    """Keras's BatchNormalization and the fused one, built alike with the same random weights."""
    layers = [kind(dtype=policy, **options) for kind in (keras.layers.BatchNormalization,
                                                        FusedBatchNormalization)]
    rng = np.random.default_rng(0)
    for layer in layers:
        layer.build((None, 6, 6, 8))
    weights = [rng.normal(size=w.shape).astype("float32") for w in layers[0].get_weights()]
    weights[-1] = np.abs(weights[-1]) + 0.5  # a moving variance is positive
    for layer in layers:
        layer.set_weights(weights)
    return layers


# Upstream gradients that vary within a channel: a constant one would make the input's zero.
UPSTREAM = tf.constant(np.random.default_rng(5).normal(size=(16, 6, 6, 8)), "float32")


def step(layer, images):
    with tf.GradientTape() as tape:
        tape.watch(images)
        outputs = layer(images, training=True)
        loss = tf.reduce_sum(tf.cast(outputs, "float32") * UPSTREAM)
    gradients = tape.gradient(loss, [images, *layer.trainable_variables])
    return outputs, gradients


@pytest.mark.parametrize(
    "policy, tolerance", [("float32", 1e-4), ("mixed_bfloat16", 3e-2)]
)
@pytest.mark.parametrize("scale", [True, False])
def test_a_training_step_matches_keras_batchnorm(policy, tolerance, scale):
    keras_layer, fused = twin_layers(policy, momentum=0.6, epsilon=1e-3, scale=scale)
    images = tf.cast(np.random.default_rng(1).normal(2.0, 3.0, (16, 6, 6, 8)),
                     keras_layer.compute_dtype)
    expected, expected_gradients = step(keras_layer, images)
    outputs, gradients = step(fused, images)
    assert outputs.dtype == expected.dtype
    np.testing.assert_allclose(np.float32(outputs), np.float32(expected), atol=tolerance,
                               rtol=tolerance)
    for got, want in zip(gradients, expected_gradients, strict=True):
        scale_of = float(np.abs(np.float32(want)).max()) or 1.0
        np.testing.assert_allclose(np.float32(got) / scale_of, np.float32(want) / scale_of,
                                   atol=tolerance)
    for got, want in zip(fused.non_trainable_weights, keras_layer.non_trainable_weights,
                         strict=True):  # the moving mean and variance
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-3, atol=1e-4)


def test_inference_and_other_ranks_take_the_keras_path():
    keras_layer, fused = twin_layers("float32", epsilon=1e-3)
    images = tf.constant(np.random.default_rng(2).normal(size=(4, 6, 6, 8)), "float32")
    np.testing.assert_allclose(fused(images).numpy(), keras_layer(images).numpy(), atol=1e-6)
    flat = keras.layers.BatchNormalization(), FusedBatchNormalization()
    vectors = tf.constant(np.random.default_rng(3).normal(size=(8, 5)), "float32")
    np.testing.assert_allclose(flat[1](vectors, training=True).numpy(),
                               flat[0](vectors, training=True).numpy(), atol=1e-5)


def test_a_fused_fast_cnn_saves_and_loads_with_its_layers(tmp_path):
    model = build_model("fast-cnn-small", widths=(8, 8), stem_width=8, fused_batchnorm=True)
    fused = [layer for layer in model.layers if isinstance(layer, FusedBatchNormalization)]
    assert len(fused) == 5  # the stem and two per stage
    model.save(tmp_path / "fused.keras")
    loaded = keras.saving.load_model(tmp_path / "fused.keras")
    images = np.random.default_rng(4).integers(0, 256, (2, 28, 28, 1)).astype("uint8")
    np.testing.assert_allclose(loaded.predict(images, verbose=0), model.predict(images, verbose=0),
                               atol=1e-6)
    assert sum(isinstance(layer, FusedBatchNormalization) for layer in loaded.layers) == 5


# The representative entry of every family with BatchNorm: each takes `fused_batchnorm`.
FUSABLE = [name for name in FAMILY_REPRESENTATIVES if get_spec(name).batchnorm_epsilon is not None]


def image_batchnorms(model) -> list:
    """The model's BatchNorm layers over feature maps, the ones the fused kernel takes."""
    return [layer for layer in model.layers
            if isinstance(layer, keras.layers.BatchNormalization) and len(layer.input.shape) == 4]


def training_step(model, images, labels):
    """One training-mode pass: the probabilities and the loss's gradients of every trainable
    weight; the BatchNorms' moving statistics move as a step would move them."""
    with tf.GradientTape() as tape:
        probabilities = model(images, training=True)
        loss = keras.losses.sparse_categorical_crossentropy(labels, probabilities)
    return probabilities, tape.gradient(loss, model.trainable_weights)


def test_every_family_with_batchnorm_is_listed():
    assert {get_spec(name).family for name in FUSABLE} == {
        "fast-cnn", "mobilenet-v2", "shufflenet-v2", "simple-cnn", "wide-resnet"}


@pytest.mark.parametrize("name", FUSABLE)
def test_a_family_trains_with_the_fused_batchnorm_as_with_keras(name, default_model, real_batch):
    base = default_model(name)
    if name == "simple-cnn":  # its convolutions' BatchNorms are those of simple-cnn-bn
        base = default_model("simple-cnn-bn")
    keras.utils.set_random_seed(0)
    plain = small_variant(name, base, fused_batchnorm=False)
    fused = small_variant(name, base, fused_batchnorm=True)
    fused.set_weights(plain.get_weights())
    assert image_batchnorms(fused)
    assert all(isinstance(layer, FusedBatchNormalization) for layer in image_batchnorms(fused))
    assert not any(isinstance(layer, FusedBatchNormalization) for layer in plain.layers)

    images, labels = real_batch[0][:16], real_batch[1][:16]
    expected, expected_gradients = training_step(plain, images, labels)
    probabilities, gradients = training_step(fused, images, labels)
    np.testing.assert_allclose(probabilities.numpy(), expected.numpy(), atol=1e-4)
    # Each gradient relative to its size, as rounding differences grow through the layers
    # (and move a max-pooling's maximum now and then); left out, the gradients that are zero but
    # for rounding: an offset followed by another BatchNorm, which removes it.
    norms = [float(np.linalg.norm(want)) for want in expected_gradients]
    errors = {variable.path: float(np.linalg.norm(got - want)) / norm
              for variable, got, want, norm in zip(fused.trainable_weights, gradients,
                                                   expected_gradients, norms, strict=True)
              if norm > 1e-4 * max(norms)}
    assert len(errors) > len(norms) / 2 and max(errors.values()) < 0.05, errors
    for got, want in zip(fused.non_trainable_weights, plain.non_trainable_weights, strict=True):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-3, atol=1e-4)
    rebuilt = type(fused).from_config(fused.get_config())  # as a .keras file rebuilds it
    assert len(image_batchnorms(rebuilt)) == len(image_batchnorms(fused))
    assert all(isinstance(layer, FusedBatchNormalization) for layer in image_batchnorms(rebuilt))
