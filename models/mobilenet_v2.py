"""MobileNetV2: inverted residual blocks with linear bottlenecks, strided for 28x28 inputs."""

import keras

from models.layers import BN_MOMENTUM, classifier_head, image_input, validate_common
from models.registry import register_model

# The reference implementations' epsilon (TensorFlow's, also keras.applications').
BN_EPSILON = 1e-3

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
class MobileNetV2(keras.Model):
    """MobileNetV2 with width multiplier `alpha`, strided so the last feature map is 4x4 at 28x28.

    Layout: Conv 3x3 (32 alpha filters), seven stages of inverted residual blocks (17 blocks in
    all) and Conv 1x1 (1280 filters), each followed by BatchNorm and ReLU6 except the blocks'
    projections, then global average pooling and a dense softmax classifier. A block expands its
    input t times with a 1x1 convolution (ReLU6), filters it with a 3x3 depthwise convolution
    (ReLU6, carrying the block's stride) and projects it with a linear 1x1 convolution; the input
    is added back when stride and channels are unchanged. Channel counts are `alpha` times the
    paper's, rounded to multiples of 8; the last 1x1 convolution keeps 1280 filters for
    `alpha` <= 1, as in the paper. BatchNorm has epsilon 1e-3 as in the reference
    implementations and momentum 0.9 like every family here (`BN_MOMENTUM`;
    `keras.applications.MobileNetV2` uses 0.999).

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
        **kwargs,
    ):
        input_shape = tuple(input_shape)
        validate_common(input_shape, num_classes)
        if alpha <= 0:
            raise ValueError(f"alpha must be positive. Received: alpha={alpha}")
        stage_repeats = tuple(stage_repeats)
        if len(stage_repeats) != len(STAGE_SETTINGS) or min(stage_repeats) < 1:
            raise ValueError(
                f"stage_repeats must be {len(STAGE_SETTINGS)} positive block counts. "
                f"Received: stage_repeats={stage_repeats}"
            )

        def conv_bn(x, filters, name, activation=True):
            x = keras.layers.Conv2D(filters, 1, use_bias=False, name=name)(x)
            x = keras.layers.BatchNormalization(
                momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name=f"{name}_bn"
            )(x)
            return keras.layers.ReLU(6.0, name=f"{name}_relu6")(x) if activation else x

        def inverted_residual(x, expansion, filters, strides, name):
            in_channels = x.shape[-1]
            y = x
            if expansion != 1:
                y = conv_bn(y, in_channels * expansion, f"{name}_expand")
            y = keras.layers.DepthwiseConv2D(
                3, strides=strides, padding="same", use_bias=False, name=f"{name}_depthwise"
            )(y)
            y = keras.layers.BatchNormalization(
                momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name=f"{name}_depthwise_bn"
            )(y)
            y = keras.layers.ReLU(6.0, name=f"{name}_depthwise_relu6")(y)
            y = conv_bn(y, filters, f"{name}_project", activation=False)
            if strides == 1 and in_channels == filters:
                y = keras.layers.Add(name=f"{name}_add")([x, y])
            return y

        inputs, x = image_input(input_shape, input_size)
        x = keras.layers.Conv2D(
            make_divisible(STEM_CHANNELS * alpha),
            3,
            padding="same",
            use_bias=False,
            name="stem_conv",
        )(x)
        x = keras.layers.BatchNormalization(
            momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name="stem_conv_bn"
        )(x)
        x = keras.layers.ReLU(6.0, name="stem_conv_relu6")(x)
        block_index = 0
        for (expansion, channels, strides), repeats in zip(STAGE_SETTINGS, stage_repeats):
            for repeat in range(repeats):
                x = inverted_residual(
                    x,
                    expansion,
                    make_divisible(channels * alpha),
                    strides if repeat == 0 else 1,
                    f"block{block_index}",
                )
                block_index += 1
        last_channels = make_divisible(LAST_CHANNELS * alpha) if alpha > 1.0 else LAST_CHANNELS
        x = conv_bn(x, last_channels, "last_conv")
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
        outputs = classifier_head(x, num_classes)
        kwargs.setdefault("name", f"mobilenet_v2_{alpha:g}".replace(".", "_"))
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self.input_shape_ = input_shape
        self.num_classes = num_classes
        self.alpha = alpha
        self.stage_repeats = stage_repeats
        self.input_size = input_size

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "input_shape": self.input_shape_,
            "num_classes": self.num_classes,
            "alpha": self.alpha,
            "stage_repeats": self.stage_repeats,
            "input_size": self.input_size,
        }


@register_model("mobilenet-v2")
def mobilenet_v2(input_shape=(28, 28, 1), num_classes=10, **kwargs):
    return MobileNetV2(input_shape=input_shape, num_classes=num_classes, alpha=1.0, **kwargs)


@register_model("mobilenet-v2-0.5")
def mobilenet_v2_050(input_shape=(28, 28, 1), num_classes=10, **kwargs):
    return MobileNetV2(input_shape=input_shape, num_classes=num_classes, alpha=0.5, **kwargs)
