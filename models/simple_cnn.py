"""A small VGG-style convolutional network, the repository's baseline."""

import keras

from models.layers import BN_MOMENTUM, classifier_head, image_input, validate_common
from models.registry import register_model


@keras.saving.register_keras_serializable(package="fmlab")
class SimpleCNN(keras.Model):
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
        **kwargs,
    ):
        input_shape = tuple(input_shape)
        validate_common(input_shape, num_classes)
        dropout = tuple(dropout)
        if len(dropout) != 2 or not all(0.0 <= rate < 1.0 for rate in dropout):
            raise ValueError(f"dropout must be two rates in [0, 1). Received: dropout={dropout}")
        if dense_units < 1:
            raise ValueError(f"dense_units must be positive. Received: dense_units={dense_units}")

        def conv(x, filters, size, name):
            x = keras.layers.Conv2D(
                filters, size, padding="same", use_bias=not conv_batchnorm, name=name
            )(x)
            if conv_batchnorm:
                x = keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
            return keras.layers.ReLU(name=f"{name}_relu")(x)

        inputs, x = image_input(input_shape, input_size)
        x = conv(x, 32, 5, "conv1")
        x = conv(x, 32, 5, "conv2")
        x = keras.layers.MaxPooling2D(name="pool1")(x)
        x = keras.layers.Dropout(dropout[0], name="dropout1")(x)
        for index in range(3):
            x = conv(x, 64, 3, f"conv{index + 3}")
        x = keras.layers.MaxPooling2D(name="pool2")(x)
        x = keras.layers.Dropout(dropout[1], name="dropout2")(x)
        x = keras.layers.Flatten(name="flatten")(x)
        x = keras.layers.Dense(dense_units, activation="relu", name="dense")(x)
        x = keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name="dense_bn")(x)
        outputs = classifier_head(x, num_classes)
        kwargs.setdefault("name", "simple_cnn")
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self.input_shape_ = input_shape
        self.num_classes = num_classes
        self.dropout = dropout
        self.dense_units = dense_units
        self.conv_batchnorm = conv_batchnorm
        self.input_size = input_size

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "input_shape": self.input_shape_,
            "num_classes": self.num_classes,
            "dropout": self.dropout,
            "dense_units": self.dense_units,
            "conv_batchnorm": self.conv_batchnorm,
            "input_size": self.input_size,
        }


@register_model("simple-cnn")
def simple_cnn(input_shape=(28, 28, 1), num_classes=10, **kwargs):
    return SimpleCNN(input_shape=input_shape, num_classes=num_classes, **kwargs)


@register_model("simple-cnn-bn")
def simple_cnn_bn(input_shape=(28, 28, 1), num_classes=10, **kwargs):
    kwargs.setdefault("name", "simple_cnn_bn")
    return SimpleCNN(
        input_shape=input_shape, num_classes=num_classes, conv_batchnorm=True, **kwargs
    )
