"""ShuffleNetV2: channel split, two-branch units and channel shuffle, strided for 28x28 inputs."""

import functools

import keras
from keras import ops

from models.base import ConfigurableModel
from models.layers import check_argument, classifier_head, conv_bn, image_input, validate_common
from models.registry import register_model

# PyTorch's default, which the reference code uses.
BN_EPSILON = 1e-5
BN_RELU = {"epsilon": BN_EPSILON, "activation": "relu"}
# The traits every entry shares (see models.registry.ModelSpec): depthwise convolutions train
# faster in float32 than in bfloat16 on a CPU (results/benchmarks/throughput-shufflenet-v2-1.0-*
# .json), and the small variant keeps the stage widths.
FAMILY_TRAITS = {
    "family": "shufflenet-v2",
    "cpu_precision": "float32",
    "batchnorm_epsilon": BN_EPSILON,
    "small_variant": {"stage_repeats": (1, 1, 1)},
}

# Output channels of stages 2-4 and of conv5 per width (the paper's Table 5).
STAGE_CHANNELS = {
    0.5: ((48, 96, 192), 1024),
    1.0: ((116, 232, 464), 1024),
    1.5: ((176, 352, 704), 1024),
    2.0: ((244, 488, 976), 2048),
}


@keras.saving.register_keras_serializable(package="fmlab")
class ChannelSplit(keras.layers.Layer):
    """Splits the last axis into two equal halves, returned as a list of two tensors."""

    def call(self, inputs):
        return ops.split(inputs, 2, axis=-1)

    def compute_output_shape(self, input_shape):
        if input_shape[-1] is not None and input_shape[-1] % 2:
            raise ValueError(
                f"ChannelSplit needs an even number of channels. Received: "
                f"input_shape={input_shape}"
            )
        half = None if input_shape[-1] is None else input_shape[-1] // 2
        return [(*input_shape[:-1], half)] * 2


@keras.saving.register_keras_serializable(package="fmlab")
class ChannelShuffle(keras.layers.Layer):
    """Interleaves the channels of `groups` equal groups: channel g * n + i moves to i * groups + g.

    Reshapes (batch, height, width, groups * n) to (..., groups, n), swaps the last two axes and
    flattens them back, so every group of the next layer sees channels from every input group.

    Args:
        groups: number of channel groups to interleave.
    """

    def __init__(self, groups=2, **kwargs):
        super().__init__(**kwargs)
        if groups < 1:
            raise ValueError(f"groups must be a positive integer. Received: groups={groups}")
        self.groups = groups

    def call(self, inputs):
        batch, height, width, channels = ops.shape(inputs)
        grouped = ops.reshape(inputs, (batch, height, width, self.groups, channels // self.groups))
        shuffled = ops.transpose(grouped, (0, 1, 2, 4, 3))
        return ops.reshape(shuffled, (batch, height, width, channels))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "groups": self.groups}


@keras.saving.register_keras_serializable(package="fmlab")
class ShuffleNetV2(ConfigurableModel):
    """ShuffleNetV2 with configurable stage widths, strided so the last feature map is 4x4 at 28x28.

    Layout: Conv 3x3 (`stem_channels`), three stages of `stage_repeats` units (`shuffle_unit`)
    with `stage_channels` output channels, the first unit of each a downsampling one (stride 2),
    Conv 1x1 (`final_channels`), global average pooling and a dense softmax classifier; every
    convolution is followed by BatchNorm, and by ReLU except the depthwise ones. BatchNorm has
    PyTorch's defaults, as in the reference code: momentum 0.9 in Keras's convention
    (`BN_MOMENTUM`, shared by every family here) and epsilon 1e-5.

    The registered widths follow the paper's Table 5: 0.5x (48, 96, 192), 1.0x (116, 232, 464),
    1.5x (176, 352, 704) with conv5 1024, and 2.0x (244, 488, 976) with conv5 2048.

    Adapted for 28x28 inputs: the paper's stem (stride-2 convolution and stride-2 3x3 max-pooling)
    would leave a 1x1 map after stage 4. Here the stem convolution has stride 1 and there is no
    max-pooling; stages 2-4 keep stride 2, so they run at 14x14, 7x7 and 4x4.

    Parameters at 28x28x1 with 10 classes: 0.5x 359,562, 1.0x 1,279,602, 1.5x 2,511,882,
    2.0x 5,398,770, BatchNorm statistics included (1.0x has 1,263,422 trainable, as torchvision's
    shufflenet_v2_x1_0 with a 1-channel stem and 10 classes).

    Reference: Ma, Zhang, Zheng & Sun, "ShuffleNet V2: Practical Guidelines for Efficient CNN
    Architecture Design", ECCV 2018, arXiv:1807.11164.

    Args:
        input_shape: (height, width, channels) of the raw images, pixels in [0, 255].
        num_classes: number of output classes.
        stage_channels: output channels of the three stages, each even.
        stage_repeats: number of units per stage, the first one strided.
        stem_channels: filters of the stem convolution.
        final_channels: filters of the last 1x1 convolution (conv5).
        input_size: optional side length the images are resized to inside the model.
        fused_batchnorm: train every BatchNorm with one fused kernel on a CPU
            (`models.layers.FusedBatchNormalization`): the same statistics in fewer ops.

    Example:
        >>> model = ShuffleNetV2(input_shape=(28, 28, 1), stage_channels=(116, 232, 464))
        >>> model.predict(images_uint8)  # (N, 10) probabilities
    """

    def __init__(
        self,
        input_shape=(28, 28, 1),
        num_classes=10,
        stage_channels=(116, 232, 464),
        stage_repeats=(4, 8, 4),
        stem_channels=24,
        final_channels=1024,
        input_size=None,
        fused_batchnorm=False,
        **kwargs,
    ):
        validate_arguments(**self.arguments)
        inputs, x = image_input(input_shape, input_size)
        fused = {"fused": fused_batchnorm}
        x = conv_bn(x, stem_channels, 3, "stem_conv", **BN_RELU, **fused)
        for stage, (filters, repeats) in enumerate(zip(stage_channels, stage_repeats), start=2):
            for index in range(repeats):
                strides = 2 if index == 0 else 1
                x = shuffle_unit(x, filters, strides, f"stage{stage}_unit{index}", fused_batchnorm)
        x = conv_bn(x, final_channels, 1, "conv5", **BN_RELU, **fused)
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
        kwargs.setdefault("name", "shufflenet_v2")
        super().__init__(inputs, classifier_head(x, num_classes), **kwargs)


def validate_arguments(
    input_shape, num_classes, stage_channels, stage_repeats, stem_channels, final_channels, **_
):
    validate_common(input_shape, num_classes)
    check_argument(
        len(stage_channels) == 3 and all(c >= 2 and c % 2 == 0 for c in stage_channels),
        "three even channel counts",
        stage_channels=stage_channels,
    )
    check_argument(
        len(stage_repeats) == 3 and min(stage_repeats) >= 1,
        "three positive unit counts",
        stage_repeats=stage_repeats,
    )
    check_argument(stem_channels >= 1, "positive", stem_channels=stem_channels)
    check_argument(final_channels >= 1, "positive", final_channels=final_channels)


def shuffle_unit(x, filters, strides, name, fused=False):
    """ShuffleNetV2's unit: two branches, concatenated, then a channel shuffle.

    With stride 1 (the basic unit) the input's channels are split in halves: one passes
    unchanged, the other through Conv 1x1, DWConv 3x3 and Conv 1x1; `filters` must equal the
    input's channels. With stride 2 (the downsampling unit) both branches see the whole input,
    one through DWConv 3x3 (stride 2) and Conv 1x1, the other through Conv 1x1, DWConv 3x3
    (stride 2) and Conv 1x1, each giving `filters / 2` channels. Every convolution is followed by
    BatchNorm, and by ReLU except the depthwise ones.

    Args:
        x: input feature map, (batch, height, width, channels).
        filters: output channels, even.
        strides: 1 for the basic unit, 2 for the downsampling one.
        name: prefix of the unit's layer names.
        fused: its BatchNorms are `FusedBatchNormalization`s.

    Example:
        >>> x = shuffle_unit(keras.Input((28, 28, 24)), 116, 2, "stage2_unit0")
        >>> x.shape  # (None, 14, 14, 116)
    """
    check_argument(strides in (1, 2), "1 or 2", strides=strides)
    half = filters // 2
    relu_bn = {**BN_RELU, "fused": fused}
    linear_bn = {"epsilon": BN_EPSILON, "fused": fused}  # after the depthwise convolutions
    if strides == 1:
        check_argument(filters == x.shape[-1], f"{x.shape[-1]} at stride 1", filters=filters)
        left, right = ChannelSplit(name=f"{name}_split")(x)
    else:
        left = conv_bn(x, None, 3, f"{name}_left_dw", strides=2, **linear_bn)
        left = conv_bn(left, half, 1, f"{name}_left_pw", **relu_bn)
        right = x
    right = conv_bn(right, half, 1, f"{name}_right_pw1", **relu_bn)
    right = conv_bn(right, None, 3, f"{name}_right_dw", strides=strides, **linear_bn)
    right = conv_bn(right, half, 1, f"{name}_right_pw2", **relu_bn)
    x = keras.layers.Concatenate(name=f"{name}_concat")([left, right])
    return ChannelShuffle(2, name=f"{name}_shuffle")(x)


def shufflenet_v2(width, input_shape=(28, 28, 1), num_classes=10, **kwargs):
    """The paper's ShuffleNetV2 `width`x (0.5, 1.0, 1.5 or 2.0), registered as
    "shufflenet-v2-{width:.1f}"."""
    stage_channels, final_channels = STAGE_CHANNELS[width]
    kwargs.setdefault("name", f"shufflenet_v2_{width:g}".replace(".", "_"))
    return ShuffleNetV2(
        input_shape=input_shape,
        num_classes=num_classes,
        stage_channels=stage_channels,
        final_channels=final_channels,
        **kwargs,
    )


# Parameter counts of the default models, checked by the registry contract test.
PARAMETERS = {0.5: 359_562, 1.0: 1_279_602, 1.5: 2_511_882, 2.0: 5_398_770}
for _width in STAGE_CHANNELS:
    register_model(f"shufflenet-v2-{_width:.1f}", parameters=PARAMETERS[_width], **FAMILY_TRAITS)(
        functools.partial(shufflenet_v2, _width)
    )
