"""Layers and building blocks shared by the model families."""

import keras
import tensorflow as tf

# BatchNorm momentum of every family: Torch's default (0.1 there, the weight of the new batch),
# which the Wide ResNet and ShuffleNetV2 reference code use. The moving statistics average over
# about the last 10 steps instead of the 100 of Keras's default 0.99: at the GPU batch size of
# 512, an epoch of 55,000 images is 108 steps, and validation after each epoch (which picks the
# best checkpoint) would otherwise see statistics that still hold a third of their initial
# values. Each family keeps its reference's epsilon.
BN_MOMENTUM = 0.9


def image_input(input_shape, input_size=None, name="images"):
    """Model input for raw pixels in [0, 255] (uint8 or float) and its rescaling to [-1, 1].

    Keeping the scaling inside the model makes a saved `.keras` file self-contained: it predicts
    on raw images as they come from the dataset. With `input_size`, images are resized on the fly
    to `input_size` x `input_size` (bilinear) so larger-input variants can be compared without a
    resized copy of the dataset.
    """
    inputs = keras.Input(shape=input_shape, name=name)
    x = inputs
    if input_size is not None:
        if input_size < 8:
            raise ValueError(f"input_size must be at least 8. Received: input_size={input_size}")
        x = keras.layers.Resizing(input_size, input_size, name="resize")(x)
    scaled = keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="rescale")(x)
    return inputs, scaled


def classifier_head(features, num_classes, name="predictions"):
    """Dense logits followed by a float32 softmax, so mixed precision keeps probabilities exact.

    The model outputs probabilities; Keras's TensorFlow backend still computes the compiled
    cross-entropy from the logits, which the softmax caches on its output (`_keras_logits`).
    A bfloat16 softmax would lose them: the loss casts its input to float32, and the cast tensor
    has no cached logits, so the loss would take the log of clipped probabilities.
    """
    logits = keras.layers.Dense(num_classes, name="logits")(features)
    return keras.layers.Activation("softmax", dtype="float32", name=name)(logits)


@keras.saving.register_keras_serializable(package="fmlab")
class FusedBatchNormalization(keras.layers.BatchNormalization):
    """Keras's BatchNormalization whose training step normalizes a 4-D channels-last batch with
    one fused TensorFlow kernel (`FusedBatchNormV3`, oneDNN's on a CPU) in the input's dtype.

    Keras 3 computes the batch moments and the normalization with separate element-wise ops, in
    float32 after casting a bfloat16 input, and their gradients likewise: on a 2-core CPU that
    is about a third of a small network's training step (`python -m benchmarks.profile_step`).
    The fused kernel does the same in one pass with float32 statistics. Everything else is the
    parent's: the moving averages (updated with the biased batch variance, as Keras does), the
    inference path, other ranks, masks.

    The kernel needs epsilon >= 1.001e-5 and raises smaller ones to that. With a GPU the layer
    is Keras's throughout: the fused path was measured on CPUs only.

    Example:
        >>> layer = FusedBatchNormalization(momentum=0.6, epsilon=1e-5)
        >>> layer(images, training=True)  # fused; layer(images) uses the moving statistics
    """

    def call(self, inputs, training=None, mask=None):
        fusable = len(inputs.shape) == 4 and self.axis in (-1, 3) and mask is None
        fusable = fusable and not tf.config.list_logical_devices("GPU")
        if not (training and self.trainable and fusable) or self.renorm or self.synchronized:
            return super().call(inputs, training=training, mask=mask)
        channels = inputs.shape[-1]
        gamma = tf.cast(self.gamma, "float32") if self.scale else tf.ones((channels,))
        beta = tf.cast(self.beta, "float32") if self.center else tf.zeros((channels,))
        outputs, mean, variance = tf.compat.v1.nn.fused_batch_norm(
            inputs, gamma, beta, epsilon=self.epsilon, data_format="NHWC", is_training=True
        )
        # The kernel returns the unbiased variance; Keras averages the biased one.
        count = tf.cast(tf.size(inputs) // channels, "float32")
        variance = variance * (count - 1.0) / count
        self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
        self.moving_variance.assign(
            self.moving_variance * self.momentum + variance * (1.0 - self.momentum)
        )
        return tf.cast(outputs, self.compute_dtype)


def batch_norm(x, name, epsilon, *, momentum=BN_MOMENTUM, scale=True, fused=False):
    """BatchNormalization applied to `x`, with the shared `BN_MOMENTUM` unless given; `scale=False`
    leaves out the learned scale (gamma), as if it were frozen at 1; `fused=True` trains it with
    one fused kernel (`FusedBatchNormalization`)."""
    layer = FusedBatchNormalization if fused else keras.layers.BatchNormalization
    return layer(momentum=momentum, epsilon=epsilon, scale=scale, name=name)(x)


def relu(x, activation, name):
    """A layer `{name}_{activation}` for `activation` "relu" or "relu6" (capped at 6), applied
    to `x`; `None` returns `x` unchanged (a linear output)."""
    if activation is None:
        return x
    max_value = {"relu": None, "relu6": 6.0}[activation]
    return keras.layers.ReLU(max_value, name=f"{name}_{activation}")(x)


def conv_bn(
    x,
    filters,
    kernel_size,
    name,
    *,
    epsilon,
    strides=1,
    activation=None,
    kernel_initializer="glorot_uniform",
    **batchnorm,
):
    """Convolution `name` with "same" padding and no bias (BatchNorm's offset replaces it), then
    BatchNorm `{name}_bn` and `relu(x, activation, name)`.

    Args:
        x: input feature map, (batch, height, width, channels).
        filters: output channels, or None for a depthwise convolution.
        kernel_size: side of the square kernel.
        name: name of the convolution; the other layers' names extend it.
        epsilon: BatchNorm epsilon.
        strides: convolution stride.
        activation: None, "relu" or "relu6".
        kernel_initializer: initializer of the convolution's kernel.
        **batchnorm: `momentum`, `scale` and `fused` of `batch_norm`.

    Example:
        >>> x = conv_bn(keras.Input((28, 28, 16)), 32, 3, "stem", epsilon=1e-3, strides=2)
        >>> x.shape  # (None, 14, 14, 32)
    """
    if filters is None:
        conv = keras.layers.DepthwiseConv2D(
            kernel_size, strides=strides, padding="same", use_bias=False, name=name
        )
    else:
        conv = keras.layers.Conv2D(
            filters,
            kernel_size,
            strides=strides,
            padding="same",
            use_bias=False,
            kernel_initializer=kernel_initializer,
            name=name,
        )
    return relu(batch_norm(conv(x), f"{name}_bn", epsilon, **batchnorm), activation, name)


def check_argument(valid, requirement, **argument):
    """Raises `ValueError("{name} must be {requirement}. Received: {name}={value}")` unless
    `valid`, for the one `name=value` in `argument`.

    Example:
        >>> check_argument(depth % 6 == 4, "6n + 4", depth=depth)
    """
    ((name, value),) = argument.items()
    if not valid:
        raise ValueError(f"{name} must be {requirement}. Received: {name}={value}")


def validate_common(input_shape, num_classes):
    """Checks the arguments every family takes."""
    check_argument(
        len(input_shape) == 3 and min(input_shape) >= 1,
        "(height, width, channels)",
        input_shape=input_shape,
    )
    check_argument(num_classes >= 2, "at least 2", num_classes=num_classes)
