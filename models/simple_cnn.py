"""A small VGG-style convolutional network, the repository's baseline."""

import keras

from models.base import ConfigurableModel
from models.layers import (
    batch_norm,
    check_argument,
    classifier_head,
    conv_bn,
    image_input,
    relu,
    validate_common,
)
from models.registry import register_model

# Keras's default, which the original model used.
BN_EPSILON = 1e-3
# The traits every entry shares (see models.registry.ModelSpec).
FAMILY_TRAITS = {
    "family": "simple-cnn",
    "batchnorm_epsilon": BN_EPSILON,
    "small_variant": {"dropout": (0.0, 0.0)},
}


@keras.saving.register_keras_serializable(package="fmlab")
class SimpleCNN(ConfigurableModel):
    """Two 5x5 and three 3x3 convolutions with max-pooling, dropout and a dense head.

    Layout: Conv32 5x5 x2, MaxPool, Dropout, Conv64 3x3 x3, MaxPool, Dropout, Dense 200 (ReLU),
    BatchNorm, Dense `num_classes` (softmax). About 0.75M parameters at 28x28x1. With
    `conv_batchnorm=True` every convolution is followed by BatchNorm (the `simple-cnn-bn` entry).
    BatchNorm has momentum 0.9 like every family here (`BN_MOMENTUM`; the original model used
    Keras's default 0.99) and Keras's default epsilon 1e-3.

    Args:
        input_shape: (height, width, channels) of the raw images, pixels in [0, 255].
        num_classes: number of output classes.
        dropout: dropout rates after the first and the second convolution block.
        dense_units: width of the hidden dense layer.
        conv_batchnorm: add BatchNorm after each convolution.
        input_size: optional side length the images are resized to inside the model.
        fused_batchnorm: train the convolutions' BatchNorms with one fused kernel on a CPU
            (`models.layers.FusedBatchNormalization`): the same statistics in fewer ops. The
            dense layer's BatchNorm normalizes vectors, which the fused kernel does not take.

    Example:
        >>> model = SimpleCNN(input_shape=(28, 28, 1), num_classes=10)
        >>> model.predict(images_uint8)  # (N, 10) probabilities
    """

    def __init__(
        self,
        input_shape=(28, 28, 1),
        num_classes=10,
        dropout=(0.25, 0.35),
        dense_units=200,
        conv_batchnorm=False,
        input_size=None,
        fused_batchnorm=False,
        **kwargs,
    ):
        validate_arguments(**self.arguments)
        inputs, x = image_input(input_shape, input_size)
        batchnorm = {"with_batchnorm": conv_batchnorm, "fused": fused_batchnorm}
        x = conv_relu(x, 32, 5, "conv1", **batchnorm)
        x = conv_relu(x, 32, 5, "conv2", **batchnorm)
        x = keras.layers.MaxPooling2D(name="pool1")(x)
        x = keras.layers.Dropout(dropout[0], name="dropout1")(x)
        for index in range(3, 6):
            x = conv_relu(x, 64, 3, f"conv{index}", **batchnorm)
        x = keras.layers.MaxPooling2D(name="pool2")(x)
        x = keras.layers.Dropout(dropout[1], name="dropout2")(x)
        x = keras.layers.Flatten(name="flatten")(x)
        x = keras.layers.Dense(dense_units, activation="relu", name="dense")(x)
        x = batch_norm(x, "dense_bn", BN_EPSILON)
        kwargs.setdefault("name", "simple_cnn")
        super().__init__(inputs, classifier_head(x, num_classes), **kwargs)


def validate_arguments(input_shape, num_classes, dropout, dense_units, **_):
    validate_common(input_shape, num_classes)
    check_argument(
        len(dropout) == 2 and all(0.0 <= rate < 1.0 for rate in dropout),
        "two rates in [0, 1)",
        dropout=dropout,
    )
    check_argument(dense_units >= 1, "positive", dense_units=dense_units)


def conv_relu(x, filters, kernel_size, name, with_batchnorm, fused=False):
    """Convolution `name` ("same" padding) and ReLU `{name}_relu`, with BatchNorm `{name}_bn`
    between them (and no convolution bias) when `with_batchnorm`, fused when `fused`.

    Example:
        >>> conv_relu(keras.Input((28, 28, 1)), 32, 5, "conv1", True).shape  # (None, 28, 28, 32)
    """
    if with_batchnorm:
        return conv_bn(x, filters, kernel_size, name, epsilon=BN_EPSILON, activation="relu",
                       fused=fused)
    x = keras.layers.Conv2D(filters, kernel_size, padding="same", name=name)(x)
    return relu(x, "relu", name)


@register_model("simple-cnn", parameters=749_026, **FAMILY_TRAITS)
def simple_cnn(input_shape=(28, 28, 1), num_classes=10, **kwargs):
    return SimpleCNN(input_shape=input_shape, num_classes=num_classes, **kwargs)


@register_model("simple-cnn-bn", parameters=749_794, **FAMILY_TRAITS)
def simple_cnn_bn(input_shape=(28, 28, 1), num_classes=10, **kwargs):
    kwargs.setdefault("name", "simple_cnn_bn")
    return SimpleCNN(
        input_shape=input_shape, num_classes=num_classes, conv_batchnorm=True, **kwargs
    )
