"""Wide residual networks (WRN-d-k) with pre-activation blocks."""

import keras

from models.base import ConfigurableModel
from models.layers import (
    batch_norm,
    check_argument,
    classifier_head,
    image_input,
    relu,
    validate_common,
)
from models.registry import register_model

# Torch's default, which the paper's code uses.
BN_EPSILON = 1e-5
# The traits every entry shares (see models.registry.ModelSpec): the small variant keeps the
# depth, and the old repository fed these networks 56x56 RGB copies of the images.
FAMILY_TRAITS = {
    "family": "wide-resnet",
    "batchnorm_epsilon": BN_EPSILON,
    "small_variant": {"width": 1, "dropout": 0.0},
    "legacy_input_shape": (56, 56, 3),
}


@keras.saving.register_keras_serializable(package="fmlab")
class WideResNet(ConfigurableModel):
    """WRN-`depth`-`width`: three groups of pre-activation residual blocks, widened `width` times.

    Layout: Conv16 3x3, then three groups of n = (depth - 4) / 6 blocks with 16k, 32k and 64k
    filters (k = `width`); the first block of the second and third group convolves with stride 2.
    A block (`wide_basic_block`) is BN-ReLU-Conv3x3-BN-ReLU-Dropout-Conv3x3 added to its input or
    to a 1x1 convolution of it. The network ends with BN-ReLU, global average pooling and
    a dense softmax classifier. Convolutions have no bias and He-normal initialization.
    BatchNorm has Torch's defaults, as in the paper's code: momentum 0.9 in Keras's convention
    (`BN_MOMENTUM`, shared by every family here) and epsilon 1e-5.

    Adapted for 28x28 inputs: nothing structural; the groups run at 28x28, 14x14 and 7x7 (32, 16
    and 8 on CIFAR). The default `dropout` is 0.3, the rate the paper uses on CIFAR; 0.0 gives the
    plain wide network. Weight decay (5e-4 in the paper) belongs to the optimizer.

    Parameters at 28x28x1 with 10 classes, BatchNorm statistics included (trainable only in
    brackets): WRN-16-4 2,752,218 (2,748,602), WRN-28-10 36,496,858 (36,478,906), WRN-40-4
    8,959,706 (8,948,922); the paper reports 2.7M, 36.5M and 8.9M.

    Reference: Zagoruyko & Komodakis, "Wide Residual Networks", BMVC 2016, arXiv:1605.07146.

    Args:
        input_shape: (height, width, channels) of the raw images, pixels in [0, 255].
        num_classes: number of output classes.
        depth: total number of weighted layers, 6n + 4 with n >= 1 blocks per group.
        width: widening factor k.
        dropout: dropout rate between the two convolutions of every block.
        input_size: optional side length the images are resized to inside the model.
        fused_batchnorm: train every BatchNorm with one fused kernel on a CPU
            (`models.layers.FusedBatchNormalization`): the same statistics in fewer ops.

    Example:
        >>> model = WideResNet(input_shape=(28, 28, 1), num_classes=10, depth=16, width=4)
        >>> model.predict(images_uint8)  # (N, 10) probabilities
    """

    def __init__(
        self,
        input_shape=(28, 28, 1),
        num_classes=10,
        depth=28,
        width=10,
        dropout=0.3,
        input_size=None,
        fused_batchnorm=False,
        **kwargs,
    ):
        validate_arguments(**self.arguments)
        inputs, x = image_input(input_shape, input_size)
        x = he_conv(x, 16, 3, 1, "stem_conv")
        for group, (filters, strides) in enumerate(zip((16, 32, 64), (1, 2, 2)), start=1):
            for index in range((depth - 4) // 6):
                name = f"group{group}_block{index}"
                stride = strides if index == 0 else 1
                x = wide_basic_block(x, filters * width, stride, dropout, name, fused_batchnorm)
        x = bn_relu(x, "final", fused_batchnorm)
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
        kwargs.setdefault("name", f"wrn_{depth}_{width}")
        super().__init__(inputs, classifier_head(x, num_classes), **kwargs)


def validate_arguments(input_shape, num_classes, depth, width, dropout, **_):
    validate_common(input_shape, num_classes)
    check_argument(depth >= 10 and (depth - 4) % 6 == 0, "6n + 4 with n >= 1", depth=depth)
    check_argument(width >= 1, "a positive integer", width=width)
    check_argument(0.0 <= dropout < 1.0, "in [0, 1)", dropout=dropout)


def bn_relu(x, name, fused=False):
    return relu(batch_norm(x, f"{name}_bn", BN_EPSILON, fused=fused), "relu", name)


def he_conv(x, filters, kernel_size, strides, name):
    """Convolution without bias ("same" padding) with He-normal initialization."""
    return keras.layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding="same",
        use_bias=False,
        kernel_initializer="he_normal",
        name=name,
    )(x)


def wide_basic_block(x, filters, strides, dropout, name, fused=False):
    """The pre-activation residual block of Wide ResNets.

    BN-ReLU-Conv3x3-BN-ReLU-Dropout-Conv3x3, the first convolution carrying the stride, added to
    the input; where the stride or the number of channels changes, the shortcut is a 1x1
    convolution (with the block's stride) of the pre-activated input.

    Args:
        x: input feature map, (batch, height, width, channels).
        filters: output channels.
        strides: stride of the first convolution and of the shortcut.
        dropout: dropout rate between the convolutions; 0 leaves the Dropout layer out.
        name: prefix of the block's layer names.
        fused: its BatchNorms are `FusedBatchNormalization`s.

    Example:
        >>> x = wide_basic_block(keras.Input((28, 28, 64)), 128, 2, 0.3, "group2_block0")
        >>> x.shape  # (None, 14, 14, 128)
    """
    preactivated = bn_relu(x, f"{name}_preact", fused)
    shortcut = x
    if strides != 1 or x.shape[-1] != filters:
        shortcut = he_conv(preactivated, filters, 1, strides, f"{name}_shortcut")
    y = he_conv(preactivated, filters, 3, strides, f"{name}_conv1")
    y = bn_relu(y, f"{name}_mid", fused)
    if dropout > 0.0:
        y = keras.layers.Dropout(dropout, name=f"{name}_dropout")(y)
    y = he_conv(y, filters, 3, 1, f"{name}_conv2")
    return keras.layers.Add(name=f"{name}_add")([shortcut, y])


@register_model("wrn-16-4", parameters=2_752_218, **FAMILY_TRAITS)
def wrn_16_4(input_shape=(28, 28, 1), num_classes=10, **kwargs):
    return WideResNet(input_shape, num_classes, depth=16, width=4, **kwargs)


@register_model("wrn-28-10", parameters=36_496_858, **FAMILY_TRAITS)
def wrn_28_10(input_shape=(28, 28, 1), num_classes=10, **kwargs):
    return WideResNet(input_shape, num_classes, depth=28, width=10, **kwargs)


@register_model("wrn-40-4", parameters=8_959_706, **FAMILY_TRAITS)
def wrn_40_4(input_shape=(28, 28, 1), num_classes=10, **kwargs):
    return WideResNet(input_shape, num_classes, depth=40, width=4, **kwargs)
