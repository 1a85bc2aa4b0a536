"""MobileNetV2: inverted residual blocks with linear bottlenecks, strided for 28x28 inputs."""

import keras

from models.base import ConfigurableModel
from models.layers import check_argument, classifier_head, conv_bn, image_input, validate_common
from models.registry import register_model

# The reference implementations' epsilon (TensorFlow's, also keras.applications').
BN_EPSILON = 1e-3
BN_RELU6 = {"epsilon": BN_EPSILON, "activation": "relu6"}
# The traits every entry shares (see models.registry.ModelSpec): depthwise convolutions train
# faster in float32 than in bfloat16 on a CPU (results/benchmarks/throughput-mobilenet-v2-*.json),
# the small variant keeps alpha, and the old repository fed these networks 56x56 RGB copies.
FAMILY_TRAITS = {
    "family": "mobilenet-v2",
    "cpu_precision": "float32",
    "batchnorm_epsilon": BN_EPSILON,
    "small_variant": {"stage_repeats": (1, 1, 1, 1, 1, 1, 1)},
    "legacy_input_shape": (56, 56, 3),
}

# (expansion t, output channels c, stride s) of the stages in the paper's Table 2, with the strides
# used at 28x28 (see the MobileNetV2 docstring); the paper's repeats n are STAGE_REPEATS.
STAGE_SETTINGS = (
    (1, 16, 1),
    (6, 24, 1),
    (6, 32, 2),
    (6, 64, 2),
    (6, 96, 1),
    (6, 160, 2),
    (6, 320, 1),
)
STAGE_REPEATS = (1, 2, 3, 4, 3, 3, 1)
STEM_CHANNELS = 32
LAST_CHANNELS = 1280


def make_divisible(value, divisor=8):
    """Rounds a scaled channel count to the nearest multiple of `divisor`, losing at most 10%."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


@keras.saving.register_keras_serializable(package="fmlab")
class MobileNetV2(ConfigurableModel):
    """MobileNetV2 with width multiplier `alpha`, strided so the last feature map is 4x4 at 28x28.

    Layout: Conv 3x3 (32 alpha filters), seven stages of inverted residual blocks
    (`inverted_residual_block`, 17 in all) and Conv 1x1 (1280 filters), each followed by
    BatchNorm and ReLU6 except the blocks' projections, then global average pooling and a dense
    softmax classifier. Channel counts are `alpha` times the paper's, rounded to multiples of 8;
    the last 1x1 convolution keeps 1280 filters for `alpha` <= 1, as in the paper. BatchNorm has
    epsilon 1e-3 as in the reference implementations and momentum 0.9 like every family here
    (`BN_MOMENTUM`; `keras.applications.MobileNetV2` uses 0.999).

    Adapted for 28x28 inputs: the paper's strides (total 32) would leave a 1x1 map. The stem
    convolution uses stride 1 instead of 2 and the first 24-channel block stride 1 instead of 2,
    as in the usual CIFAR ports; the 32-, 64- and 160-channel stages keep stride 2. Feature maps
    are 28x28 (stem, 16- and 24-channel stages), 14x14 (32), 7x7 (64, 96) and 4x4 (160, 320 and
    the final 1x1 convolution).

    Parameters at 28x28x1 with 10 classes: 2,270,218 for `alpha=1.0` (the same as
    `keras.applications.MobileNetV2` with 10 classes) and 718,746 for `alpha=0.5`.

    Reference: Sandler, Howard, Zhu, Zhmoginov & Chen, "MobileNetV2: Inverted Residuals and Linear
    Bottlenecks", CVPR 2018, arXiv:1801.04381.

    Args:
        input_shape: (height, width, channels) of the raw images, pixels in [0, 255].
        num_classes: number of output classes.
        alpha: width multiplier applied to every layer but (for `alpha` <= 1) the last one.
        stage_repeats: number of blocks in each of the seven stages, the first one carrying the
            stage's stride; the paper's (1, 2, 3, 4, 3, 3, 1) by default.
        input_size: optional side length the images are resized to inside the model.
        fused_batchnorm: train every BatchNorm with one fused kernel on a CPU
            (`models.layers.FusedBatchNormalization`): the same statistics in fewer ops.

    Example:
        >>> model = MobileNetV2(input_shape=(28, 28, 1), num_classes=10, alpha=1.0)
        >>> model.predict(images_uint8)  # (N, 10) probabilities
    """

    def __init__(
        self,
        input_shape=(28, 28, 1),
        num_classes=10,
        alpha=1.0,
        stage_repeats=STAGE_REPEATS,
        input_size=None,
        fused_batchnorm=False,
        **kwargs,
    ):
        validate_arguments(**self.arguments)
        inputs, x = image_input(input_shape, input_size)
        fused = {"fused": fused_batchnorm}
        x = conv_bn(x, make_divisible(STEM_CHANNELS * alpha), 3, "stem_conv", **BN_RELU6, **fused)
        blocks = [
            (expansion, make_divisible(channels * alpha), strides if repeat == 0 else 1)
            for (expansion, channels, strides), repeats in zip(STAGE_SETTINGS, stage_repeats)
            for repeat in range(repeats)
        ]
        for index, (expansion, filters, strides) in enumerate(blocks):
            x = inverted_residual_block(x, expansion, filters, strides, f"block{index}",
                                        fused_batchnorm)
        last_channels = make_divisible(LAST_CHANNELS * alpha) if alpha > 1.0 else LAST_CHANNELS
        x = conv_bn(x, last_channels, 1, "last_conv", **BN_RELU6, **fused)
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
        kwargs.setdefault("name", f"mobilenet_v2_{alpha:g}".replace(".", "_"))
        super().__init__(inputs, classifier_head(x, num_classes), **kwargs)


def validate_arguments(input_shape, num_classes, alpha, stage_repeats, **_):
    validate_common(input_shape, num_classes)
    check_argument(alpha > 0, "positive", alpha=alpha)
    check_argument(
        len(stage_repeats) == len(STAGE_SETTINGS) and min(stage_repeats) >= 1,
        f"{len(STAGE_SETTINGS)} positive block counts",
        stage_repeats=stage_repeats,
    )


def inverted_residual_block(x, expansion, filters, strides, name, fused=False):
    """MobileNetV2's inverted residual block with a linear bottleneck.

    Conv 1x1 expanding the channels `expansion` times (left out when it is 1), DWConv 3x3 carrying
    the stride, and a linear Conv 1x1 projection to `filters`, each followed by BatchNorm, the
    first two by ReLU6. The input is added back when the stride is 1 and the channels are kept.

    Args:
        x: input feature map, (batch, height, width, channels).
        expansion: expansion factor t of the paper.
        filters: output channels.
        strides: stride of the depthwise convolution, 1 or 2.
        name: prefix of the block's layer names.
        fused: its BatchNorms are `FusedBatchNormalization`s.

    Example:
        >>> x = inverted_residual_block(keras.Input((28, 28, 16)), 6, 24, 2, "block1")
        >>> x.shape  # (None, 14, 14, 24)
    """
    y = x
    if expansion != 1:
        y = conv_bn(y, x.shape[-1] * expansion, 1, f"{name}_expand", **BN_RELU6, fused=fused)
    y = conv_bn(y, None, 3, f"{name}_depthwise", strides=strides, **BN_RELU6, fused=fused)
    y = conv_bn(y, filters, 1, f"{name}_project", epsilon=BN_EPSILON, fused=fused)
    if strides == 1 and x.shape[-1] == filters:
        y = keras.layers.Add(name=f"{name}_add")([x, y])
    return y


@register_model("mobilenet-v2", parameters=2_270_218, **FAMILY_TRAITS)
def mobilenet_v2(input_shape=(28, 28, 1), num_classes=10, **kwargs):
    return MobileNetV2(input_shape=input_shape, num_classes=num_classes, alpha=1.0, **kwargs)


@register_model("mobilenet-v2-0.5", parameters=718_746, **FAMILY_TRAITS)
def mobilenet_v2_050(input_shape=(28, 28, 1), num_classes=10, **kwargs):
    return MobileNetV2(input_shape=input_shape, num_classes=num_classes, alpha=0.5, **kwargs)
