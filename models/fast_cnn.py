"""A network built for speed at 28x28: airbench's layout (Jordan 2024) for Fashion-MNIST."""

import keras

from models.base import ConfigurableModel
from models.layers import (
    batch_norm,
    check_argument,
    classifier_head,
    conv_bn,
    image_input,
    validate_common,
)
from models.registry import register_model

BN_EPSILON = 1e-5  # airbench's (Torch's) default
# The traits every entry shares (see models.registry.ModelSpec); the default widths are small.
FAMILY_TRAITS = {"family": "fast-cnn", "batchnorm_epsilon": BN_EPSILON}


@keras.saving.register_keras_serializable(package="fmlab")
class FastCNN(ConfigurableModel):
    """A stem convolution, then per stage a convolution, 2x2 max-pooling and a second
    convolution, each followed by BatchNorm and ReLU; a global max-pool and a linear classifier.

    The layout of airbench (Jordan 2024, "94% on CIFAR-10 in 3.29 Seconds on a Single GPU",
    arXiv:2404.00498), sized for 28x28 images: pooling inside each stage (28 -> 14 -> 7 -> 3)
    puts most convolutions at low resolution, so a forward pass of the default widths costs about
    as much as the simple CNN's while the network is twice as deep and wider where it is cheap.
    The first convolution's output is not pooled, so fine stroke detail survives; no dropout.

    Args:
        input_shape: (height, width, channels) of the raw images, pixels in [0, 255].
        num_classes: number of output classes.
        stem_width: channels of the stem convolution.
        widths: channels of each stage; each stage halves the side.
        input_size: optional side length the images are resized to inside the model.

    Example:
        >>> model = FastCNN(widths=(32, 64, 128))
        >>> model.predict(images_uint8)  # (N, 10) probabilities
    """

    def __init__(
        self,
        input_shape=(28, 28, 1),
        num_classes=10,
        stem_width=24,
        widths=(48, 96, 192),
        input_size=None,
        **kwargs,
    ):
        validate_arguments(**self.arguments)
        inputs, x = image_input(input_shape, input_size)
        x = conv_bn(x, stem_width, 3, "stem", epsilon=BN_EPSILON, activation="relu")
        for index, width in enumerate(widths, start=1):
            x = pooled_stage(x, width, f"stage{index}")
        x = keras.layers.GlobalMaxPooling2D(name="pool")(x)
        kwargs.setdefault("name", "fast_cnn")
        super().__init__(inputs, classifier_head(x, num_classes), **kwargs)


def validate_arguments(input_shape, num_classes, stem_width, widths, **_):
    validate_common(input_shape, num_classes)
    check_argument(stem_width >= 1, "positive", stem_width=stem_width)
    check_argument(
        len(widths) >= 1 and all(width >= 1 for width in widths),
        "one or more positive channel counts",
        widths=widths,
    )
    check_argument(
        min(input_shape[:2]) >= 2 ** len(widths),
        f"at least {2 ** len(widths)} pixels for {len(widths)} stages",
        input_shape=input_shape,
    )


def pooled_stage(x, width, name):
    """Convolution, 2x2 max-pooling, BatchNorm and ReLU, then convolution, BatchNorm and ReLU:
    airbench's block, which pools before normalizing so BatchNorm sees the pooled statistics.

    Example:
        >>> pooled_stage(keras.Input((28, 28, 24)), 48, "stage1").shape  # (None, 14, 14, 48)
    """
    x = keras.layers.Conv2D(width, 3, padding="same", use_bias=False, name=f"{name}_conv1")(x)
    x = keras.layers.MaxPooling2D(name=f"{name}_pool")(x)
    x = batch_norm(x, f"{name}_conv1_bn", BN_EPSILON)
    x = keras.layers.ReLU(name=f"{name}_conv1_relu")(x)
    return conv_bn(x, width, 3, f"{name}_conv2", epsilon=BN_EPSILON, activation="relu")


@register_model("fast-cnn", parameters=658_114, **FAMILY_TRAITS)
def fast_cnn(input_shape=(28, 28, 1), num_classes=10, **kwargs):
    return FastCNN(input_shape=input_shape, num_classes=num_classes, **kwargs)


@register_model("fast-cnn-small", parameters=293_594, **FAMILY_TRAITS)
def fast_cnn_small(input_shape=(28, 28, 1), num_classes=10, **kwargs):
    kwargs.setdefault("name", "fast_cnn_small")
    kwargs.setdefault("stem_width", 16)
    kwargs.setdefault("widths", (32, 64, 128))
    return FastCNN(input_shape=input_shape, num_classes=num_classes, **kwargs)
