"""airbench's training options, each alone: the learning-rate factor of biases, alternating
flips, translate TTA, their configuration keys and the `airbench` preset."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from data.alternating_flip import alternating_flip, first_epoch_flips
from data.pipeline import make_training_dataset
from training import ExperimentConfig, run_experiment
from training.bias_lr import scale_bias_learning_rate
from training.config import ConfigError
from training.optimizers import build_optimizer
from training.presets import compose
from training.selection import score_weight_set


def one_step(optimizer, kernel_gradient=0.5, bias_gradient=0.5):
    """How far one step moves a kernel (2-D) and a bias (1-D) from 1."""
    kernel, bias = keras.Variable(np.ones((2, 3))), keras.Variable(np.ones(3))
    gradients = [np.full((2, 3), kernel_gradient), np.full(3, bias_gradient)]
    optimizer.apply([tf.constant(g, tf.float32) for g in gradients], [kernel, bias])
    return float(np.abs(kernel.numpy() - 1).max()), float(np.abs(bias.numpy() - 1).max())


@pytest.mark.parametrize(
    "make", [lambda: keras.optimizers.SGD(0.1, momentum=0.9), lambda: keras.optimizers.Adam(0.01)]
)
def test_a_bias_moves_factor_times_as_far_and_a_kernel_as_far(make):
    kernel_plain, bias_plain = one_step(make())
    kernel_scaled, bias_scaled = one_step(scale_bias_learning_rate(make(), 8.0))
    assert kernel_scaled == pytest.approx(kernel_plain)
    assert bias_scaled == pytest.approx(8 * bias_plain, rel=1e-5)


def test_weight_decay_of_biases_keeps_the_plain_rate():
    def decay_only(factor):
        optimizer = scale_bias_learning_rate(keras.optimizers.SGD(0.1, weight_decay=0.5), factor)
        return one_step(optimizer, 0.0, 0.0)

    assert decay_only(8.0) == pytest.approx(decay_only(1.0))
    assert decay_only(1.0) == pytest.approx((0.05, 0.05))  # lr * weight_decay * 1
    with pytest.raises(ValueError, match="Received: factor=0"):
        scale_bias_learning_rate(keras.optimizers.SGD(), 0)


def test_build_optimizer_applies_the_configured_factor():
    def steps(factor):
        config = ExperimentConfig().replace(
            optimizer="sgd", lr=0.1, lr_schedule="constant", ema=0, bias_lr_factor=factor
        ).resolved()
        return one_step(build_optimizer(config, steps_per_epoch=10))

    (kernel_plain, bias_plain), (kernel_scaled, bias_scaled) = steps(1.0), steps(4.0)
    assert kernel_scaled == pytest.approx(kernel_plain)
    assert bias_scaled == pytest.approx(4 * bias_plain, rel=1e-5)


def asymmetric_images(count):
    """Images whose mirror differs from them and from every other image."""
    ramp = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)
    return ramp + 100 * np.arange(count, dtype=np.float32).reshape(-1, 1, 1, 1)


def test_alternating_flip_mirrors_each_image_in_every_other_epoch():
    images = asymmetric_images(200)
    flips = first_epoch_flips(200, seed=3)
    assert 60 < int(tf.reduce_sum(tf.cast(flips, tf.int32))) < 140  # about half
    mirrored = []
    for epoch in range(4):
        out = alternating_flip(images, flips, epoch).numpy()
        mirrored.append(np.all(out == images[:, :, ::-1], axis=(1, 2, 3)))
        assert np.all(mirrored[-1] | np.all(out == images, axis=(1, 2, 3)))
    mirrored = np.array(mirrored)
    np.testing.assert_array_equal(mirrored[0], flips.numpy())
    np.testing.assert_array_equal(mirrored[1:], ~mirrored[:-1])


def test_the_training_batches_alternate_the_flip_of_every_image():
    images = asymmetric_images(30)
    dataset = make_training_dataset(images, np.arange(30), 8, seed=1, alternate_flip=True)
    steps_per_epoch = 4
    mirrored = np.zeros((3, 30), bool)
    for step, (batch, labels) in enumerate(dataset.take(3 * steps_per_epoch)):
        for image, index in zip(batch.numpy(), labels.numpy()):
            mirrored[step // steps_per_epoch, index] = np.array_equal(
                image, images[index, :, ::-1]
            )
    assert 0 < mirrored[0].sum() < 30
    np.testing.assert_array_equal(mirrored[1], ~mirrored[0])
    np.testing.assert_array_equal(mirrored[2], mirrored[0])


def test_alternating_flip_replaces_the_random_one_and_needs_half_the_images_mirrored():
    config = ExperimentConfig().replace(flip_mode="alternate")
    assert config.validate().augmentation.layer_settings()["horizontal_flip"] == 0.0
    assert ExperimentConfig().augmentation.layer_settings()["horizontal_flip"] == 0.5
    with pytest.raises(ConfigError, match="horizontal_flip must be 0.5 with flip_mode"):
        ExperimentConfig().replace(flip_mode="alternate", horizontal_flip=0.0).validate()
    with pytest.raises(ConfigError, match="flip_mode must be one of random, alternate"):
        ExperimentConfig().replace(flip_mode="sometimes").validate()


class PositionModel:
    """Predicts from where the ink is: a fixed linear map of the pixels, normalized."""

    def __init__(self, shape):
        self.weights = np.random.default_rng(0).uniform(size=(int(np.prod(shape)), 3))

    def predict(self, images, batch_size=None, verbose=0):
        scores = np.asarray(images, np.float64).reshape(len(images), -1) @ self.weights
        return scores / scores.sum(axis=1, keepdims=True)


def test_translate_tta_averages_exactly_the_listed_views():
    images = np.random.default_rng(1).uniform(size=(5, 6, 6, 1)).astype(np.float32)
    model = PositionModel(images.shape[1:])
    padded = np.pad(images, ((0, 0), (1, 1), (1, 1), (0, 0)))  # zeros, the background
    views = [images, padded[:, :6, :6], padded[:, 2:, 2:]]  # moved by (0, 0), (1, 1), (-1, -1)
    views += [view[:, :, ::-1] for view in views]
    expected = np.mean([model.predict(view) for view in views], axis=0)
    plain, tta = score_weight_set(model, "final", images, images, True, tta_shifts=1)
    np.testing.assert_allclose(tta.val_probabilities, expected, rtol=1e-6)
    np.testing.assert_allclose(tta.test_probabilities, expected, rtol=1e-6)
    np.testing.assert_allclose(plain.val_probabilities, model.predict(images), rtol=1e-6)
    _, flip_only = score_weight_set(model, "final", images, images, True)
    flip_expected = (model.predict(images) + model.predict(images[:, :, ::-1])) / 2
    np.testing.assert_allclose(flip_only.val_probabilities, flip_expected, rtol=1e-6)


def test_turning_tta_off_turns_the_translate_views_off():
    assert ExperimentConfig().replace(tta_shifts=1).resolved().evaluation.tta_shifts == 1
    resolved = compose(overrides=["evaluation.tta=false"]).config.resolved().validate()
    assert (resolved.evaluation.tta, resolved.evaluation.tta_shifts) == (False, 0)


def test_every_option_has_a_section_key_and_the_preset_turns_them_on():
    layers = compose(
        overrides=[
            "optimizer.bias_lr_factor=64",
            "augmentation.flip_mode=alternate",
            "evaluation.tta_shifts=2",
            "model.args={batchnorm_momentum = 0.6}",
        ]
    )
    config = layers.config.resolved().validate()
    assert config.optimizer.bias_lr_factor == 64.0 and config.augmentation.flip_mode == "alternate"
    assert config.evaluation.tta_shifts == 2
    preset = compose(preset="airbench").config.resolved().validate()
    assert preset.model.args == {
        "whitening_patch_size": 3,
        "dirac_init": True,
        "batchnorm_momentum": 0.6,
        "batchnorm_scale_trainable": False,
    }
    assert preset.optimizer.bias_lr_factor == 8.0 and preset.augmentation.flip_mode == "alternate"
    assert preset.evaluation.tta_shifts == 1
    assert (preset.loss.label_smoothing, preset.schedule.name) == (0.2, "onecycle")
    defaults = ExperimentConfig()
    assert defaults.optimizer.bias_lr_factor == 1.0 and defaults.augmentation.flip_mode == "random"
    assert defaults.evaluation.tta_shifts == 0


AIRBENCH_MODEL = {
    "whitening_patch_size": 3,
    "dirac_init": True,
    "batchnorm_momentum": 0.6,
    "batchnorm_scale_trainable": False,
}
AIRBENCH_OPTIONS = {
    "model_args": AIRBENCH_MODEL,
    "bias_lr_factor": 8.0,
    "flip_mode": "alternate",
    "tta_shifts": 1,
    "label_smoothing": 0.2,
}


@pytest.mark.slow
def test_every_option_together_trains_an_epoch_end_to_end(run_paths, fashion_mnist):
    # Each option is tested alone above; one run with all of them goes through every path a
    # run takes with them (the whitening fit, the alternating flips, the bias rates, translate
    # TTA), which is cheaper than one run per option and misses none.
    config = ExperimentConfig().replace(epochs=1, limit_train=500, val_size=500,
                                        run_name="airbench", **AIRBENCH_OPTIONS)
    result = run_experiment(config, data=fashion_mnist, verbose=0)
    assert result.record.to_json()["status"] == "completed"
    # Above chance (0.1) after 4 steps; how well each option does is the ablation's question.
    assert result.test_accuracy > 0.15
    assert np.abs(result.model.get_layer("whitening").kernel.numpy()).max() > 0
    assert result.record.to_json()["val_accuracy_final_tta"] is not None  # translate TTA scored
