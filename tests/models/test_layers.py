import json

import keras
import numpy as np
import pytest

from models.base import ConfigurableModel
from models.layers import BN_MOMENTUM, check_argument, classifier_head, conv_bn, relu

# One input row (-1, 0, 0, 0) and logits (-50, 0, 0) through a 50 x first-feature kernel: the true
# class 0 has probability e^-50 / (2 + e^-50). From the logits the loss is 50 + log(2 + e^-50);
# from probabilities clipped to [1e-7, 1 - 1e-7] it would be -log(1e-7) = 16.12, with no gradient.
LOSS_FROM_LOGITS = 50.0 + np.log(2.0)


def saturated_classifier():
    inputs = keras.Input((4,))
    model = keras.Model(inputs, classifier_head(inputs, num_classes=3))
    kernel = np.zeros((4, 3), np.float32)
    kernel[0, 0] = 50.0
    model.get_layer("logits").set_weights([kernel, np.zeros(3, np.float32)])
    return model


@pytest.mark.parametrize("policy", ["float32", "mixed_bfloat16"])
def test_compiled_crossentropy_of_the_softmax_head_is_computed_from_its_logits(policy):
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(policy)
    try:
        model = saturated_classifier()
    finally:
        keras.mixed_precision.set_global_policy(previous)
    model.compile(keras.optimizers.SGD(0.01), loss="sparse_categorical_crossentropy")
    features = np.tile(np.float32([[-1.0, 0.0, 0.0, 0.0]]), (4, 1))
    labels = np.zeros(4, np.int32)

    loss = model.evaluate(features, labels, verbose=0)
    history = model.fit(features, labels, batch_size=4, epochs=1, shuffle=False, verbose=0)

    assert loss == pytest.approx(LOSS_FROM_LOGITS, rel=1e-5)
    assert history.history["loss"][0] == pytest.approx(LOSS_FROM_LOGITS, rel=1e-5)
    # d loss / d kernel[0, 0] = (p0 - 1) * x0 = 1, so SGD moves it by the learning rate.
    assert model.get_layer("logits").kernel.numpy()[0, 0] == pytest.approx(50.0 - 0.01)


@pytest.mark.parametrize(
    ("filters", "strides", "activation", "output_shape", "names"),
    [
        (32, 2, "relu6", (None, 14, 14, 32), ["c", "c_bn", "c_relu6"]),
        (None, 1, None, (None, 28, 28, 16), ["c", "c_bn"]),  # depthwise, linear
    ],
)
def test_conv_bn_alone(filters, strides, activation, output_shape, names):
    inputs = keras.Input((28, 28, 16))
    outputs = conv_bn(inputs, filters, 3, "c", epsilon=1e-5, strides=strides, activation=activation)
    block = keras.Model(inputs, outputs)
    assert block.output.shape == output_shape
    assert [layer.name for layer in block.layers[1:]] == names
    assert not block.get_layer("c").use_bias
    assert isinstance(block.get_layer("c"), keras.layers.DepthwiseConv2D) == (filters is None)
    batch_norm = block.get_layer("c_bn")
    assert (batch_norm.momentum, batch_norm.epsilon) == (BN_MOMENTUM, 1e-5)


def test_relu6_caps_at_six():
    inputs = keras.Input((3,))
    outputs = keras.Model(inputs, relu(inputs, "relu6", "x"))(np.float32([[-1.0, 3.0, 9.0]]))
    np.testing.assert_array_equal(outputs, [[0.0, 3.0, 6.0]])


def test_check_argument_names_the_argument_and_its_value():
    check_argument(True, "positive", width=0)
    with pytest.raises(ValueError, match=r"^width must be positive\. Received: width=0$"):
        check_argument(False, "positive", width=0)


class Linear(ConfigurableModel):
    def __init__(self, units=3, hidden=(8, 4), **kwargs):
        inputs = keras.Input((2,))
        x = inputs
        for width in hidden:
            x = keras.layers.Dense(width)(x)
        super().__init__(inputs, keras.layers.Dense(units)(x), **kwargs)


def test_configurable_model_config_is_its_arguments_with_defaults():
    model = Linear(units=5, hidden=[6], name="linear")
    assert model.get_config() == {"name": "linear", "trainable": True, "units": 5, "hidden": (6,)}
    assert Linear().arguments == {"units": 3, "hidden": (8, 4)}
    # A JSON config has lists; the rebuilt model's config is the same.
    config = json.loads(json.dumps(model.get_config()))
    assert Linear.from_config(config).get_config() == model.get_config()
    assert Linear.from_config(config).count_params() == model.count_params()


def test_configurable_model_arguments_cannot_be_changed_from_outside():
    model = Linear()
    model.arguments["units"] = 7
    assert model.get_config()["units"] == 3
