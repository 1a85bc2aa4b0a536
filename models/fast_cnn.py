"""A network built for speed at 28x28: airbench's layout (Jordan 2024) for Fashion-MNIST."""

import keras

from models.base import ConfigurableModel
from models.initializers import DiracInit
from models.layers import (
    BN_MOMENTUM,
    batch_norm,
    check_argument,
    classifier_head,
    conv_bn,
    image_input,
    validate_common,
)
from models.registry import register_model
from models.whitening import PatchWhitening

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
        whitening_patch_size: 0 for a trained stem convolution; k > 0 replaces it with airbench's
            frozen k x k patch whitening ("valid", so the side shrinks by k - 1), both signs of
            each component, and ReLU; `stem_width` is then unused. The training code fits it on
            the training images (`models.whitening.fit_whitening`).
        dirac_init: start every convolution as the identity on its first channels (`DiracInit`),
            as airbench does.
        batchnorm_momentum: momentum of every BatchNorm (Keras's convention: the weight of the
            old statistics); airbench's 0.6.
        batchnorm_scale_trainable: False leaves out BatchNorm's scale (gamma stays 1), as
            airbench freezes it.
        fused_batchnorm: train every BatchNorm with one fused kernel on a CPU
            (`models.layers.FusedBatchNormalization`): the same statistics in fewer ops, 1.36x
            the images/s of `fast-cnn-small` in bfloat16 on 2 cores (docs/benchmarks.md).

    Example:
        >>> model = FastCNN(widths=(32, 64, 128))
        >>> model.predict(images_uint8)  # (N, 10) probabilities
        >>> airbench_like = FastCNN(whitening_patch_size=3, dirac_init=True,
        ...                         batchnorm_momentum=0.6, batchnorm_scale_trainable=False)
    """

    def __init__(
        self,
        input_shape=(28, 28, 1),
        num_classes=10,
        stem_width=24,
        widths=(48, 96, 192),
        input_size=None,
        whitening_patch_size=0,
        dirac_init=False,
        batchnorm_momentum=BN_MOMENTUM,
        batchnorm_scale_trainable=True,
        fused_batchnorm=True,
        **kwargs,
    ):
        validate_arguments(**self.arguments)
        inputs, x = image_input(input_shape, input_size)
        options = {
            "kernel_initializer": DiracInit() if dirac_init else "glorot_uniform",
            "momentum": batchnorm_momentum,
            "scale": batchnorm_scale_trainable,
            "fused": fused_batchnorm,
        }
        if whitening_patch_size:
            x = whitening_stem(x, whitening_patch_size)
        else:
            x = conv_bn(x, stem_width, 3, "stem", epsilon=BN_EPSILON, activation="relu", **options)
        for index, width in enumerate(widths, start=1):
            x = pooled_stage(x, width, f"stage{index}", **options)
        x = keras.layers.GlobalMaxPooling2D(name="pool")(x)
        kwargs.setdefault("name", "fast_cnn")
        super().__init__(inputs, classifier_head(x, num_classes), **kwargs)


def validate_arguments(
    input_shape, num_classes, stem_width, widths, whitening_patch_size, batchnorm_momentum, **_
):
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
    # A "valid" whitening patch shrinks the side the stages pool by its size minus one.
    check_argument(
        whitening_patch_size == 0
        or 1 <= whitening_patch_size <= min(input_shape[:2]) + 1 - 2 ** len(widths),
        f"0 (off) or a patch side that leaves {2 ** len(widths)} pixels for {len(widths)} stages",
        whitening_patch_size=whitening_patch_size,
    )
    check_argument(0 <= batchnorm_momentum < 1, "in [0, 1)", batchnorm_momentum=batchnorm_momentum)


def whitening_stem(x, patch_size):
    """Frozen patch whitening, each component with both signs, then ReLU: airbench's first layer,
    which keeps both signs so that the ReLU discards no component.

    Example:
        >>> whitening_stem(keras.Input((28, 28, 1)), 3).shape  # (None, 26, 26, 18)
    """
    x = PatchWhitening(patch_size, name="whitening")(x)
    negated = keras.layers.Rescaling(-1.0, name="whitening_negated")(x)
    x = keras.layers.Concatenate(name="whitening_signs")([x, negated])
    return keras.layers.ReLU(name="whitening_relu")(x)


def pooled_stage(x, width, name, kernel_initializer="glorot_uniform", **batchnorm):
    """Convolution, 2x2 max-pooling, BatchNorm and ReLU, then convolution, BatchNorm and ReLU:
    airbench's block, which pools before normalizing so BatchNorm sees the pooled statistics.
    `kernel_initializer` initializes both convolutions; `batchnorm` holds `batch_norm`'s
    `momentum`, `scale` and `fused`.

    Example:
        >>> pooled_stage(keras.Input((28, 28, 24)), 48, "stage1").shape  # (None, 14, 14, 48)
    """
    x = keras.layers.Conv2D(
        width,
        3,
        padding="same",
        use_bias=False,
        kernel_initializer=kernel_initializer,
        name=f"{name}_conv1",
    )(x)
    x = keras.layers.MaxPooling2D(name=f"{name}_pool")(x)
    x = batch_norm(x, f"{name}_conv1_bn", BN_EPSILON, **batchnorm)
    x = keras.layers.ReLU(name=f"{name}_conv1_relu")(x)
    return conv_bn(
        x,
        width,
        3,
        f"{name}_conv2",
        epsilon=BN_EPSILON,
        activation="relu",
        kernel_initializer=kernel_initializer,
        **batchnorm,
    )


@register_model("fast-cnn", parameters=658_114, **FAMILY_TRAITS)
def fast_cnn(input_shape=(28, 28, 1), num_classes=10, **kwargs):
    return FastCNN(input_shape=input_shape, num_classes=num_classes, **kwargs)


@register_model("fast-cnn-small", parameters=293_594, **FAMILY_TRAITS)
def fast_cnn_small(input_shape=(28, 28, 1), num_classes=10, **kwargs):
    kwargs.setdefault("name", "fast_cnn_small")
    kwargs.setdefault("stem_width", 16)
    kwargs.setdefault("widths", (32, 64, 128))
    return FastCNN(input_shape=input_shape, num_classes=num_classes, **kwargs)
