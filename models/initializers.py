"""Weight initializers that Keras does not ship."""

import keras
import numpy as np


@keras.saving.register_keras_serializable(package="fmlab")
class DiracInit(keras.initializers.Initializer):
    """Identity ("Dirac") initialization of a convolution kernel (kh, kw, in, out): output
    channel i < in copies input channel i (a 1 at the kernel's centre, 0 elsewhere); the other
    output channels keep `base`'s values. A convolution with as many outputs as inputs and
    "same" padding then starts as the identity, so a deep stack starts as a shallow one.

    airbench (Jordan 2024, arXiv:2404.00498) initializes the first `in` filters of each of its
    convolutions so, as `torch.nn.init.dirac_` does for the whole kernel.

    Args:
        base: the initializer of the channels that are not identities (Keras's default for
            convolutions, "glorot_uniform").

    Example:
        >>> conv = keras.layers.Conv2D(16, 3, padding="same", kernel_initializer=DiracInit())
    """

    def __init__(self, base="glorot_uniform"):
        self.base = keras.initializers.get(base)

    def __call__(self, shape, dtype=None):
        if len(shape) != 4 or shape[0] % 2 == 0 or shape[1] % 2 == 0:
            raise ValueError(
                f"shape must be (height, width, in, out) with odd height and width. "
                f"Received: shape={shape}"
            )
        kernel = np.array(keras.ops.convert_to_numpy(self.base(shape, "float32")))
        identities = min(shape[2], shape[3])
        kernel[..., :identities] = 0.0
        channels = np.arange(identities)
        kernel[shape[0] // 2, shape[1] // 2, channels, channels] = 1.0
        return keras.ops.convert_to_tensor(kernel, dtype=dtype or "float32")

    def get_config(self):
        return {"base": keras.initializers.serialize(self.base)}

    @classmethod
    def from_config(cls, config):
        return cls(keras.initializers.deserialize(config["base"]))
