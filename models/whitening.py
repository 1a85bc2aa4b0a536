"""A frozen first convolution that whitens image patches, fitted on the training images.

Jordan 2024 ("94% on CIFAR-10 in 3.29 Seconds on a Single GPU", arXiv:2404.00498, section 3.2)
initializes airbench's first convolution to whiten 2x2 patches and does not train it: the layers
after it then see decorrelated inputs of unit variance from the first step.
"""

import keras
import numpy as np
from keras import ops

from models.layers import check_argument

# Patches drawn when fitting: airbench fits on 5,000 images; more barely moves the estimate.
FIT_IMAGES = 5000


@keras.saving.register_keras_serializable(package="fmlab")
class PatchWhitening(keras.layers.Layer):
    """A "valid" `patch_size` x `patch_size` convolution whose output channels are the principal
    components of the input patches, each scaled to unit variance: on the images it was fitted
    on, the channels at every position have zero mean and identity covariance.

    Its kernel and bias are weights that `fit_whitening` sets and no optimizer changes (the layer
    is not trainable), so a saved model keeps them and predicts without refitting. Component i is
    the covariance's eigenvector v_i scaled by 1 / sqrt(lambda_i + epsilon); the bias subtracts
    the mean patch. Before fitting, the layer outputs zeros.

    With one input channel, 3x3 patches give 9 components where 2x2 give 4: 3x3 matches the
    receptive field of the convolution it stands in for, and (both signs kept, see `FastCNN`)
    gives 18 channels, the width of a small stem, where 2x2 would give 8.

    Args:
        patch_size: side of the square patches, >= 1.
        epsilon: added to every eigenvalue, so that near-constant directions (the background of
            Fashion-MNIST) are not amplified without bound; airbench's 5e-4 for its unit-variance
            inputs.

    Example:
        >>> whitening = PatchWhitening(3)
        >>> fit_whitening(whitening, images_in_minus_one_to_one)  # (N, 28, 28, 1)
        >>> whitening(images_in_minus_one_to_one).shape  # (N, 26, 26, 9)
    """

    def __init__(self, patch_size=3, epsilon=5e-4, **kwargs):
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)
        check_argument(
            isinstance(patch_size, int) and patch_size >= 1,
            "an integer >= 1",
            patch_size=patch_size,
        )
        check_argument(epsilon >= 0, ">= 0", epsilon=epsilon)
        self.patch_size = patch_size
        self.epsilon = epsilon

    def build(self, input_shape):
        components = self.patch_size**2 * input_shape[-1]
        shape = (self.patch_size, self.patch_size, input_shape[-1], components)
        self.kernel = self.add_weight(shape=shape, initializer="zeros", name="kernel")
        self.bias = self.add_weight(shape=(components,), initializer="zeros", name="bias")

    def call(self, images):
        return ops.conv(images, ops.cast(self.kernel, images.dtype)) + ops.cast(
            self.bias, images.dtype
        )

    def compute_output_shape(self, input_shape):
        side = [None if size is None else size - self.patch_size + 1 for size in input_shape[1:3]]
        return (input_shape[0], *side, self.patch_size**2 * input_shape[-1])

    def fit(self, images):
        """Sets the kernel and bias from `images` (N, H, W, C), as the layer receives them."""
        patches = patch_vectors(np.asarray(images, np.float64), self.patch_size)
        mean = patches.mean(axis=0)
        eigenvalues, eigenvectors = np.linalg.eigh(np.cov(patches, rowvar=False, bias=True))
        # Largest component first, as the channels of a PCA are usually read.
        components = eigenvectors[:, ::-1] / np.sqrt(eigenvalues[::-1] + self.epsilon)
        self.kernel.assign(components.reshape(self.kernel.shape))
        self.bias.assign(-mean @ components)

    def get_config(self):
        return {**super().get_config(), "patch_size": self.patch_size, "epsilon": self.epsilon}


def patch_vectors(images, patch_size):
    """Every `patch_size` x `patch_size` patch of `images` (N, H, W, C) inside the image, as rows
    ordered (row, column, channel) like a convolution kernel's first three axes."""
    windows = np.lib.stride_tricks.sliding_window_view(images, (patch_size, patch_size), (1, 2))
    # windows: (N, H', W', C, row, column) -> (N, H', W', row, column, C)
    return windows.transpose(0, 1, 2, 4, 5, 3).reshape(-1, patch_size**2 * images.shape[-1])


def whitening_layers(model):
    """The `PatchWhitening` layers of `model`, nested ones included."""
    return [
        layer
        for layer in model._flatten_layers(include_self=True, recursive=True)
        if isinstance(layer, PatchWhitening)
    ]


def fit_whitening(layer_or_model, images, max_images=FIT_IMAGES):
    """Fits every `PatchWhitening` layer of a model (or the one layer given) on the first
    `max_images` of `images`. For a model, the images are its raw inputs and each layer is
    fitted on what reaches it (rescaled, resized); a layer is given its own inputs.

    Args:
        layer_or_model: a `PatchWhitening` layer or a functional model that has some.
        images: training images, (N, H, W, C).
        max_images: at most this many images are used (the first ones).

    Example:
        >>> model = build_model("fast-cnn-small", whitening_patch_size=3)
        >>> fit_whitening(model, x_train)
    """
    images = images[:max_images]
    if isinstance(layer_or_model, PatchWhitening):
        layer_or_model.fit(images)
        return
    layers = whitening_layers(layer_or_model)
    if not layers:
        raise ValueError(
            f"layer_or_model must be or contain a PatchWhitening layer. "
            f"Received: layer_or_model={layer_or_model.name}"
        )
    for layer in layers:
        reaching = keras.Model(layer_or_model.inputs, layer.input)
        layer.fit(reaching.predict(images, batch_size=512, verbose=0))
