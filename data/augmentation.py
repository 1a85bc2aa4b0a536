"""Training-time augmentation built from Keras preprocessing layers."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="fmlab")
class RandomHorizontalFlip(keras.layers.Layer):
    """Mirrors each image left-right with a given probability (Keras' `RandomFlip` fixes it at 0.5).

    Args:
        probability: chance that an image is flipped, in [0, 1].
        seed: optional integer seed.
    """

    def __init__(self, probability=0.5, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= probability <= 1.0:
            raise ValueError(f"probability must be in [0, 1]. Received: probability={probability}")
        self.probability = probability
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, images, training=True):
        if not training or self.probability == 0.0:
            return images
        draw = keras.random.uniform((ops.shape(images)[0], 1, 1, 1), seed=self.seed_generator)
        return ops.where(draw < self.probability, ops.flip(images, axis=2), images)

    def get_config(self):
        return {**super().get_config(), "probability": self.probability, "seed": self.seed}


def build_augmentation(
    rotation_range: float = 0.0,
    zoom_range: float = 0.0,
    width_shift_range: float = 0.0,
    height_shift_range: float = 0.0,
    horizontal_flip: float = 0.0,
    random_erasing: float = 0.0,
    seed: int | None = None,
) -> keras.Sequential | None:
    """Returns a `keras.Sequential` of augmentation layers for NHWC images in [0, 255].

    The knobs keep `ImageDataGenerator`'s meaning: `rotation_range` in degrees (uniform in
    [-r, r]), `zoom_range` and the shift ranges as fractions of the image, `horizontal_flip` and
    `random_erasing` (Zhong et al. 2017, arXiv:1708.04896) as probabilities per image. Returns
    None when every knob is 0. Pixels uncovered by a transform are filled with 0 (the background).
    """
    for name, value, upper in (
        ("rotation_range", rotation_range, 180.0),
        ("zoom_range", zoom_range, 1.0),
        ("width_shift_range", width_shift_range, 1.0),
        ("height_shift_range", height_shift_range, 1.0),
        ("horizontal_flip", horizontal_flip, 1.0),
        ("random_erasing", random_erasing, 1.0),
    ):
        if not 0.0 <= value <= upper:
            raise ValueError(f"{name} must be in [0, {upper:g}]. Received: {name}={value}")
    fill = {"fill_mode": "constant", "fill_value": 0.0, "seed": seed}
    layers = []
    if horizontal_flip:
        layers.append(RandomHorizontalFlip(horizontal_flip, seed=seed))
    if rotation_range:
        layers.append(keras.layers.RandomRotation(rotation_range / 360.0, **fill))
    if zoom_range:
        layers.append(keras.layers.RandomZoom((-zoom_range, zoom_range), **fill))
    if width_shift_range or height_shift_range:
        layers.append(keras.layers.RandomTranslation(height_shift_range, width_shift_range, **fill))
    if random_erasing:
        # A (p, p) factor erases with probability exactly p; a scalar p draws it from [0, p].
        layers.append(
            keras.layers.RandomErasing(
                factor=(random_erasing, random_erasing), value_range=(0, 255), seed=seed
            )
        )
    return keras.Sequential(layers, name="augmentation") if layers else None
