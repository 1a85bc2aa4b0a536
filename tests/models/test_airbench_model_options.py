"""airbench's model options, each alone: patch whitening, Dirac initialization, BatchNorm with
low momentum and no scale."""

import keras
import numpy as np
import pytest

from models.fast_cnn import FastCNN
from models.initializers import DiracInit
from models.whitening import PatchWhitening, fit_whitening

SMALL = {"stem_width": 8, "widths": (8, 16)}


def stroke_images(count=64, seed=0):
    """Images with correlated neighbouring pixels, like strokes: smoothed noise."""
    noise = np.random.default_rng(seed).normal(size=(count, 12, 12, 1))
    return noise + np.roll(noise, 1, axis=1) + 0.5 * np.roll(noise, 1, axis=2)


@pytest.mark.parametrize("patch_size", [2, 3])
def test_whitening_decorrelates_the_patches_it_was_fitted_on(patch_size):
    images = stroke_images()
    layer = PatchWhitening(patch_size, epsilon=1e-9)
    layer.build(images.shape)
    fit_whitening(layer, images)
    outputs = np.asarray(layer(images.astype("float32")), np.float64)
    assert outputs.shape == (64, 13 - patch_size, 13 - patch_size, patch_size**2)
    channels = outputs.reshape(-1, patch_size**2)
    np.testing.assert_allclose(channels.mean(axis=0), 0, atol=1e-3)
    np.testing.assert_allclose(np.cov(channels, rowvar=False), np.eye(patch_size**2), atol=1e-3)
    # Component i is v_i / sqrt(lambda_i): the largest variance first has the shortest column.
    norms = np.linalg.norm(layer.kernel.numpy().reshape(patch_size**2, -1), axis=0)
    assert np.all(np.diff(norms) >= 0)


def test_whitening_is_frozen_and_saved_with_the_model(tmp_path):
    model = FastCNN(whitening_patch_size=3, **SMALL)
    images = np.random.default_rng(0).integers(0, 256, (32, 28, 28, 1)).astype("uint8")
    fit_whitening(model, images)
    layer = model.get_layer("whitening")
    assert not layer.trainable and not layer.trainable_weights
    assert np.abs(layer.kernel.numpy()).max() > 0
    assert model.get_layer("whitening_relu").output.shape == (None, 26, 26, 18)
    kernel = layer.kernel.numpy()
    model.compile("sgd", "sparse_categorical_crossentropy")
    model.train_on_batch(images, np.arange(32) % 10)
    np.testing.assert_array_equal(layer.kernel.numpy(), kernel)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(loaded.get_layer("whitening").kernel.numpy(), kernel)
    np.testing.assert_allclose(loaded.predict(images, verbose=0), model.predict(images, verbose=0))


def test_whitening_refuses_a_model_without_it_and_a_patch_too_large():
    with pytest.raises(ValueError, match="must be or contain a PatchWhitening layer"):
        fit_whitening(FastCNN(**SMALL), np.zeros((2, 28, 28, 1)))
    with pytest.raises(ValueError, match="leaves 4 pixels for 2 stages. Received: whitening_patch"):
        FastCNN(whitening_patch_size=26, **SMALL)


def test_a_dirac_initialized_convolution_starts_as_the_identity():
    conv = keras.layers.Conv2D(6, 3, padding="same", use_bias=False, kernel_initializer=DiracInit())
    images = np.random.default_rng(0).normal(size=(2, 9, 9, 6)).astype("float32")
    np.testing.assert_allclose(conv(images), images, atol=1e-6)
    # With more outputs than inputs, the first copy the inputs and the rest keep `base`'s values.
    wider = DiracInit()((3, 3, 2, 5))
    assert np.asarray(wider)[1, 1, :, :2].tolist() == [[1, 0], [0, 1]]
    assert np.abs(np.asarray(wider)[..., 2:]).sum() > 0
    restored = DiracInit.from_config(DiracInit("he_normal").get_config())
    assert isinstance(restored.base, keras.initializers.HeNormal)


def test_fast_cnn_dirac_init_sets_every_convolution():
    model = FastCNN(dirac_init=True, **SMALL)
    kernel = model.get_layer("stage2_conv2").kernel.numpy()
    np.testing.assert_array_equal(kernel[1, 1], np.eye(16))
    assert np.abs(FastCNN(**SMALL).get_layer("stage2_conv2").kernel.numpy()[1, 1]).sum() > 16


def test_batchnorm_momentum_and_frozen_scale():
    model = FastCNN(batchnorm_momentum=0.6, batchnorm_scale_trainable=False, **SMALL)
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(norms) == 5 and all(n.momentum == 0.6 and not n.scale for n in norms)
    assert all(n.gamma is None and [w.name for w in n.trainable_weights] == ["beta"] for n in norms)
    images = np.random.default_rng(0).integers(0, 256, (16, 28, 28, 1)).astype("float32")
    before = norms[0](np.ones((4, 3, 3, 8), "float32") * 5.0, training=True)
    np.testing.assert_allclose(before, 0.0, atol=1e-3)  # no scale: (x - mean) / std + beta
    model.compile("sgd", "sparse_categorical_crossentropy")
    betas = [n.beta.numpy() for n in norms]
    model.train_on_batch(images, np.arange(16) % 10)
    assert any(np.abs(n.beta.numpy() - b).max() > 0 for n, b in zip(norms, betas))
    default = FastCNN(**SMALL).get_layer("stem_bn")
    assert default.momentum == 0.9 and default.scale
    with pytest.raises(ValueError, match="batchnorm_momentum must be in"):
        FastCNN(batchnorm_momentum=1.0, **SMALL)
