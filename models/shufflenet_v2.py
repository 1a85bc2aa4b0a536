"""ShuffleNetV2: channel split, two-branch units and channel shuffle, strided for 28x28 inputs."""

import keras
from keras import ops

from models.layers import BN_MOMENTUM, classifier_head, image_input, validate_common
from models.registry import register_model

# PyTorch's default, which the reference code uses.
BN_EPSILON = 1e-5

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
class ShuffleNetV2(keras.Model):
    """ShuffleNetV2 with configurable stage widths, strided so the last feature map is 4x4 at 28x28.

    Layout: Conv 3x3 (`stem_channels`), three stages of `stage_repeats` units with
    `stage_channels` output channels, Conv 1x1 (`final_channels`), global average pooling and a
    dense softmax classifier; every convolution is followed by BatchNorm, and by ReLU except the
    depthwise ones. A basic unit splits its channels in two halves, passes one through unchanged
    and the other through Conv 1x1, DWConv 3x3 and Conv 1x1, concatenates them and shuffles the
    channels. The first unit of a stage has stride 2 and no split: both branches see the whole
    input, one through DWConv 3x3 (stride 2) and Conv 1x1, the other through Conv 1x1, DWConv 3x3
    (stride 2) and Conv 1x1, each giving half of the output channels. BatchNorm has PyTorch's
    defaults, as in the reference code: momentum 0.9 in Keras's convention (`BN_MOMENTUM`, shared
    by every family here) and epsilon 1e-5.

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
        **kwargs,
    ):
        input_shape = tuple(input_shape)
        validate_common(input_shape, num_classes)
        stage_channels = tuple(stage_channels)
        stage_repeats = tuple(stage_repeats)
        if len(stage_channels) != 3 or any(c < 2 or c % 2 for c in stage_channels):
            raise ValueError(
                f"stage_channels must be three even channel counts. "
                f"Received: stage_channels={stage_channels}"
            )
        if len(stage_repeats) != 3 or min(stage_repeats) < 1:
            raise ValueError(
                f"stage_repeats must be three positive unit counts. "
                f"Received: stage_repeats={stage_repeats}"
            )
        if stem_channels < 1 or final_channels < 1:
            raise ValueError(
                f"stem_channels and final_channels must be positive. Received: "
                f"stem_channels={stem_channels}, final_channels={final_channels}"
            )

        def batch_norm(x, name):
            return keras.layers.BatchNormalization(
                momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name=f"{name}_bn"
            )(x)

        def conv_bn_relu(x, filters, name, size=1):
            x = keras.layers.Conv2D(filters, size, padding="same", use_bias=False, name=name)(x)
            return keras.layers.ReLU(name=f"{name}_relu")(batch_norm(x, name))

        def depthwise_bn(x, strides, name):
            x = keras.layers.DepthwiseConv2D(
                3, strides=strides, padding="same", use_bias=False, name=name
            )(x)
            return batch_norm(x, name)

        def branch(x, filters, strides, name):
            x = conv_bn_relu(x, filters, f"{name}_pw1")
            x = depthwise_bn(x, strides, f"{name}_dw")
            return conv_bn_relu(x, filters, f"{name}_pw2")

        def downsampling_unit(x, filters, name):
            half = filters // 2
            left = depthwise_bn(x, 2, f"{name}_left_dw")
            left = conv_bn_relu(left, half, f"{name}_left_pw")
            right = branch(x, half, 2, f"{name}_right")
            x = keras.layers.Concatenate(name=f"{name}_concat")([left, right])
            return ChannelShuffle(2, name=f"{name}_shuffle")(x)

        def basic_unit(x, name):
            left, right = ChannelSplit(name=f"{name}_split")(x)
            right = branch(right, x.shape[-1] // 2, 1, f"{name}_right")
            x = keras.layers.Concatenate(name=f"{name}_concat")([left, right])
            return ChannelShuffle(2, name=f"{name}_shuffle")(x)

        inputs, x = image_input(input_shape, input_size)
        x = conv_bn_relu(x, stem_channels, "stem_conv", size=3)
        for stage, (filters, repeats) in enumerate(zip(stage_channels, stage_repeats), start=2):
            x = downsampling_unit(x, filters, f"stage{stage}_unit0")
            for index in range(1, repeats):
                x = basic_unit(x, f"stage{stage}_unit{index}")
        x = conv_bn_relu(x, final_channels, "conv5")
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
        outputs = classifier_head(x, num_classes)
        kwargs.setdefault("name", "shufflenet_v2")
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self.input_shape_ = input_shape
        self.num_classes = num_classes
        self.stage_channels = stage_channels
        self.stage_repeats = stage_repeats
        self.stem_channels = stem_channels
        self.final_channels = final_channels
        self.input_size = input_size

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "input_shape": self.input_shape_,
            "num_classes": self.num_classes,
            "stage_channels": self.stage_channels,
            "stage_repeats": self.stage_repeats,
            "stem_channels": self.stem_channels,
            "final_channels": self.final_channels,
            "input_size": self.input_size,
        }


def _shufflenet_v2(width, input_shape, num_classes, **kwargs):
    stage_channels, final_channels = STAGE_CHANNELS[width]
    kwargs.setdefault("name", f"shufflenet_v2_{width:g}".replace(".", "_"))
    return ShuffleNetV2(
        input_shape=input_shape,
        num_classes=num_classes,
        stage_channels=stage_channels,
        final_channels=final_channels,
        **kwargs,
    )


@register_model("shufflenet-v2-0.5")
def shufflenet_v2_050(input_shape=(28, 28, 1), num_classes=10, **kwargs):
    return _shufflenet_v2(0.5, input_shape, num_classes, **kwargs)


@register_model("shufflenet-v2-1.0")
def shufflenet_v2_100(input_shape=(28, 28, 1), num_classes=10, **kwargs):
    return _shufflenet_v2(1.0, input_shape, num_classes, **kwargs)


@register_model("shufflenet-v2-1.5")
def shufflenet_v2_150(input_shape=(28, 28, 1), num_classes=10, **kwargs):
    return _shufflenet_v2(1.5, input_shape, num_classes, **kwargs)


@register_model("shufflenet-v2-2.0")
def shufflenet_v2_200(input_shape=(28, 28, 1), num_classes=10, **kwargs):
    return _shufflenet_v2(2.0, input_shape, num_classes, **kwargs)
