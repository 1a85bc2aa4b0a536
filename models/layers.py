"""Layers shared by the model families."""

import keras

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
    """Dense logits followed by a float32 softmax, so mixed precision keeps probabilities exact."""
    logits = keras.layers.Dense(num_classes, name="logits")(features)
    return keras.layers.Activation("softmax", dtype="float32", name=name)(logits)


def validate_common(input_shape, num_classes):
    if len(input_shape) != 3 or min(input_shape) < 1:
        raise ValueError(
            f"input_shape must be (height, width, channels). Received: input_shape={input_shape}"
        )
    if num_classes < 2:
        raise ValueError(f"num_classes must be at least 2. Received: num_classes={num_classes}")
