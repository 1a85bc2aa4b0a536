"""A new family needs its model file and nothing else: a toy family, registered here with its
traits as a model file would register it, trains through `run_experiment`, the path of
`train.py`, and the trainer reads its traits from the spec."""

import json

import keras
import numpy as np
import pytest

from models import build_model, get_spec, list_families, list_models, registry
from models.base import ConfigurableModel
from models.layers import classifier_head, conv_bn, image_input
from training import ExperimentConfig, hardware, run_experiment

BN_EPSILON = 1e-3
# What a model file keeps once and spreads into each registration.
FAMILY_TRAITS = {
    "family": "toy-cnn",
    "cpu_precision": "float32",
    "batchnorm_epsilon": BN_EPSILON,
    "small_variant": {"width": 2},
    "reconstructs": True,
}
# 3x3x1x4 convolution kernel, 4 x 4 BatchNorm values, 4x10 dense kernel and 10 biases.
PARAMETERS = 36 + 16 + 50


class ToyCNN(ConfigurableModel):
    """One 3x3 convolution with BatchNorm and ReLU, global average pooling and a classifier;
    its `reconstruct` returns the images themselves, a stand-in for a decoder.

    Args:
        input_shape: (height, width, channels) of the raw images, pixels in [0, 255].
        num_classes: number of output classes.
        width: channels of the convolution.
        input_size: optional side length the images are resized to inside the model.
    """

    def __init__(self, input_shape=(28, 28, 1), num_classes=10, width=4, input_size=None, **kwargs):
        inputs, x = image_input(input_shape, input_size)
        x = conv_bn(x, width, 3, "conv", epsilon=BN_EPSILON, activation="relu")
        x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
        super().__init__(inputs, classifier_head(x, num_classes), **kwargs)

    def reconstruct(self, images):
        return np.asarray(images, dtype=np.float32) / 255.0


def toy_cnn(input_shape=(28, 28, 1), num_classes=10, **kwargs):
    return ToyCNN(input_shape=input_shape, num_classes=num_classes, **kwargs)


@pytest.fixture
def bf16_cpu(monkeypatch):
    """A CPU with bfloat16 instructions, where the spec's `cpu_precision` decides."""
    monkeypatch.setattr(hardware, "probe_hardware", lambda: hardware.Hardware(cpu_bf16=True))


def test_a_family_registered_with_its_traits_trains_through_the_experiment(
    run_paths, bf16_cpu, fashion_mnist
):
    config = ExperimentConfig().replace(
        model="toy-cnn", epochs=1, limit_train=64, batch_size=64, val_size=100, run_name="toy"
    )
    with pytest.MonkeyPatch.context() as registration:
        registration.setattr(registry, "_SPECS", dict(registry._SPECS))
        registry.register_model("toy-cnn", parameters=PARAMETERS, **FAMILY_TRAITS)(toy_cnn)
        assert "toy-cnn" in list_families() and list_models("toy-cnn") == ["toy-cnn"]
        assert build_model("toy-cnn").count_params() == get_spec("toy-cnn").parameters

        result = run_experiment(config, data=fashion_mnist, verbose=0)

    assert "toy-cnn" not in list_models()  # the registry is restored
    record = json.loads((result.run_dir / "result.json").read_text())
    assert record["status"] == "completed" and record["epochs_run"] == 1
    assert record["params"] == PARAMETERS
    # The trainer asked the spec: its CPU precision, label smoothing (no loss of its own) and
    # whether to draw reconstructions.
    assert record["config"]["precision"] == "float32"
    assert record["config"]["label_smoothing"] == 0.1
    assert (result.run_dir / "reconstructions.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (result.checkpoint_dir / "final.keras").exists()
