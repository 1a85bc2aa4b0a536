"""Training-time augmentation: Keras layers that compile with XLA and draw per replica.

Every layer draws with stateless TensorFlow random ops from a seed that its own `SeedGenerator`
advances on each call, folded with the replica id of a distribution strategy. So the layers of one
`build_augmentation` draw independent streams, each replica of a `MirroredStrategy` augments its
shard differently, and one seed reproduces a run. Geometric transforms resample with gathers:
Keras' `RandomRotation`, `RandomZoom` and `RandomTranslation` lower to `ImageProjectiveTransformV3`,
which XLA cannot compile. The layers compute in float32 on NHWC images in [0, 255] whatever the
global dtype policy, and return their input unchanged unless `training`.
"""

import math

import keras
import tensorflow as tf
from keras import ops

from data.knobs import check_knob

# Second word of the seeds that `augment_at_step` derives, apart from any `SeedGenerator` state.
STEP_STREAM = 0x5EED
# Distance between the seeds of the layers of one `build_augmentation`: SeedGenerators that start
# from the same seed advance in lockstep and would hand every layer the same draws.
LAYER_SEED_STRIDE = 1_000_003


def _check_range(name, value, low, high, high_inclusive=True):
    within = low <= value <= high if high_inclusive else low <= value < high
    if not within:
        bracket = "]" if high_inclusive else ")"
        raise ValueError(f"{name} must be in [{low:g}, {high:g}{bracket}. Received: {name}={value}")


def gather_pixels(images, rows, cols):
    """The pixels of `images` (B, H, W, C) at integer `rows`, `cols` (B, H, W); 0 outside."""
    shape = ops.shape(images)
    height, width, channels = shape[1], shape[2], shape[3]
    inside = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)
    index = ops.clip(rows, 0, height - 1) * width + ops.clip(cols, 0, width - 1)
    flat_images = ops.reshape(images, (shape[0], height * width, channels))
    pixels = tf.gather(flat_images, ops.reshape(index, (shape[0], -1)), batch_dims=1)
    return ops.where(inside[..., None], ops.reshape(pixels, shape), 0.0)


def bilinear_sample(images, rows, cols):
    """`images` (B, H, W, C) interpolated bilinearly at float `rows`, `cols` (B, H, W); the
    area outside the image reads as 0."""
    top, left = ops.floor(rows), ops.floor(cols)
    down, right = (rows - top)[..., None], (cols - left)[..., None]
    top, left = ops.cast(top, "int32"), ops.cast(left, "int32")
    return (
        (1.0 - down) * (1.0 - right) * gather_pixels(images, top, left)
        + (1.0 - down) * right * gather_pixels(images, top, left + 1)
        + down * (1.0 - right) * gather_pixels(images, top + 1, left)
        + down * right * gather_pixels(images, top + 1, left + 1)
    )


def rotate_and_zoom(images, angles, zooms):
    """Rotates and zooms each image of `images` (B, H, W, C) about its centre.

    Args:
        images: float images, NHWC.
        angles: (B,) angles in degrees; positive turns the content counter-clockwise.
        zooms: (B,) zoom factors in `ImageDataGenerator`'s sense: each output pixel samples the
            input at its offset from the centre times the factor, so a factor below 1 enlarges
            the content and one above 1 shrinks it, leaving a border of 0.
    """
    shape = ops.shape(images)
    center_row = (ops.cast(shape[1], "float32") - 1.0) / 2.0
    center_col = (ops.cast(shape[2], "float32") - 1.0) / 2.0
    below = ops.arange(shape[1], dtype="float32")[None, :, None] - center_row
    right = ops.arange(shape[2], dtype="float32")[None, None, :] - center_col
    radians = ops.cast(angles, "float32") * (math.pi / 180.0)
    zooms = ops.cast(zooms, "float32")
    cos = (ops.cos(radians) * zooms)[:, None, None]
    sin = (ops.sin(radians) * zooms)[:, None, None]
    # Output -> input: turn the offset back by the angle (rows point down), then scale it.
    rows = center_row + sin * right + cos * below
    cols = center_col + cos * right - sin * below
    return bilinear_sample(images, rows, cols)


def shift_images(images, rows, cols):
    """Moves the content of each image of `images` (B, H, W, C) down by `rows` and right by `cols`
    whole pixels ((B,) integers; negative moves up or left), filling the uncovered area with 0."""
    shape = ops.shape(images)
    rows = ops.cast(rows, "int32")[:, None, None]
    cols = ops.cast(cols, "int32")[:, None, None]
    source_rows = ops.arange(shape[1], dtype="int32")[None, :, None] - rows
    source_cols = ops.arange(shape[2], dtype="int32")[None, None, :] - cols
    grid = (shape[0], shape[1], shape[2])
    return gather_pixels(
        images, ops.broadcast_to(source_rows, grid), ops.broadcast_to(source_cols, grid)
    )


class RandomImageLayer(keras.layers.Layer):
    """Base of the augmentation layers: float32 NHWC images in [0, 255], identity unless training.

    Subclasses implement `augment(images, seed)` with stateless random ops on `seed`, a fresh
    int32 pair per call and per replica of a distribution strategy.

    Args:
        seed: optional integer seed of the layer's `SeedGenerator`.
    """

    def __init__(self, seed=None, **kwargs):
        # float32 even under a mixed global policy: pixel values up to 255 need the mantissa.
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        if seed is not None and not isinstance(seed, int):
            raise ValueError(f"seed must be an integer or None. Received: seed={seed}")
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, images, training=True):
        if not training:
            return images
        return self.augment(ops.cast(images, self.compute_dtype), self._next_replica_seed())

    def augment(self, images, seed):
        raise NotImplementedError

    def augment_at_step(self, images, step):
        """The transform of training step `step` (0-based). Its draws depend on the layer's seed,
        the step and the replica alone, not on the calls before it: a run resumed at any step
        repeats what the uninterrupted run drew, with no random state saved."""
        seed = tf.constant([0 if self.seed is None else self.seed, STEP_STREAM], tf.int64)
        seed = tf.random.experimental.stateless_fold_in(seed, tf.cast(step, tf.int64))
        return self.augment(ops.cast(images, self.compute_dtype), self._for_this_replica(seed))

    def _next_replica_seed(self):
        return self._for_this_replica(self.seed_generator.next())

    @staticmethod
    def _for_this_replica(seed):
        seed = tf.cast(tf.math.floormod(tf.cast(seed, tf.int64), tf.int32.max), tf.int32)
        # A generator's state is mirrored, and a step is the same on every replica: without the
        # replica id every replica would draw the same numbers.
        context = tf.distribute.get_replica_context()
        replica = 0 if context is None else context.replica_id_in_sync_group
        return tf.random.experimental.stateless_fold_in(seed, tf.cast(replica, tf.int32))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


@keras.saving.register_keras_serializable(package="fmlab")
class RandomHorizontalFlip(RandomImageLayer):
    """Mirrors each image left-right with a given probability (Keras' `RandomFlip` fixes it at 0.5).

    Args:
        probability: chance that an image is flipped, in [0, 1].
        seed: optional integer seed.

    Example:
        >>> flipped = RandomHorizontalFlip(1.0)(np.zeros((2, 28, 28, 1)))
    """

    def __init__(self, probability=0.5, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        _check_range("probability", probability, 0.0, 1.0)
        self.probability = probability

    def augment(self, images, seed):
        draws = tf.random.stateless_uniform((ops.shape(images)[0], 1, 1, 1), seed)
        return ops.where(draws < self.probability, ops.flip(images, axis=2), images)

    def get_config(self):
        return {**super().get_config(), "probability": self.probability}


@keras.saving.register_keras_serializable(package="fmlab")
class RandomAffine(RandomImageLayer):
    """Rotates and zooms each image about its centre in one bilinear resampling, filling 0 outside.

    Args:
        rotation_range: largest angle in degrees, in [0, 180]; angles are uniform in [-r, r],
            positive counter-clockwise.
        zoom_range: zoom factors are uniform in [1 - z, 1 + z], z in [0, 1), the same for both
            axes; as in `ImageDataGenerator`, a factor below 1 enlarges the content
            (see `rotate_and_zoom`).
        seed: optional integer seed.

    Example:
        >>> turned = RandomAffine(rotation_range=10, zoom_range=0.1)(np.zeros((2, 28, 28, 1)))
    """

    def __init__(self, rotation_range=0.0, zoom_range=0.0, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        check_knob("rotation_range", rotation_range)
        check_knob("zoom_range", zoom_range)
        self.rotation_range = rotation_range
        self.zoom_range = zoom_range

    def augment(self, images, seed):
        draws = tf.random.stateless_uniform((2, ops.shape(images)[0]), seed, -1.0, 1.0)
        angles = draws[0] * self.rotation_range
        return rotate_and_zoom(images, angles, 1.0 + draws[1] * self.zoom_range)

    def get_config(self):
        return {
            **super().get_config(),
            "rotation_range": self.rotation_range,
            "zoom_range": self.zoom_range,
        }


@keras.saving.register_keras_serializable(package="fmlab")
class RandomShift(RandomImageLayer):
    """Moves each image by whole pixels, filling the uncovered border with 0.

    Shifts in whole pixels keep strokes sharp (no interpolation), like padding and cropping.

    Args:
        height_shift_range: largest vertical shift as a fraction of the height, in [0, 1); the
            shift is uniform in [-f, f] times the height, rounded to whole pixels.
        width_shift_range: the same horizontally.
        seed: optional integer seed.

    Example:
        >>> moved = RandomShift(0.1, 0.1)(np.zeros((2, 28, 28, 1)))
    """

    def __init__(self, height_shift_range=0.0, width_shift_range=0.0, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        check_knob("height_shift_range", height_shift_range)
        check_knob("width_shift_range", width_shift_range)
        self.height_shift_range = height_shift_range
        self.width_shift_range = width_shift_range

    def augment(self, images, seed):
        shape = ops.shape(images)
        draws = tf.random.stateless_uniform((2, shape[0]), seed, -1.0, 1.0)
        rows = ops.round(draws[0] * self.height_shift_range * ops.cast(shape[1], "float32"))
        cols = ops.round(draws[1] * self.width_shift_range * ops.cast(shape[2], "float32"))
        return shift_images(images, rows, cols)

    def get_config(self):
        return {
            **super().get_config(),
            "height_shift_range": self.height_shift_range,
            "width_shift_range": self.width_shift_range,
        }


@keras.saving.register_keras_serializable(package="fmlab")
class RandomErasing(RandomImageLayer):
    """Random erasing (Zhong et al. 2017, "Random Erasing Data Augmentation", arXiv:1708.04896).

    With probability `probability`, a rectangle of each image is replaced by random values,
    uniform in [0, 255] for every pixel and channel. As in the paper's Algorithm 1, the rectangle
    has an area fraction uniform in `area_range` and an aspect ratio (height / width) drawn from
    `aspect_ratio_range` (log-uniformly, so tall and wide are equally likely), and a top-left
    corner uniform over the image; a draw that does not fit inside the image is drawn again, up
    to `ATTEMPTS` times, after which the image stays as it is.

    Args:
        probability: chance that an image is erased, in [0, 1].
        area_range: (low, high) fraction of the image area erased, 0 < low <= high <= 1.
        aspect_ratio_range: (low, high) aspect ratio of the rectangle, 0 < low <= high.
        seed: optional integer seed.

    Example:
        >>> erased = RandomErasing(0.5)(np.zeros((2, 28, 28, 1)))
    """

    ATTEMPTS = 32

    def __init__(
        self,
        probability=0.5,
        area_range=(0.02, 0.4),
        aspect_ratio_range=(0.3, 3.3),
        seed=None,
        **kwargs,
    ):
        super().__init__(seed=seed, **kwargs)
        _check_range("probability", probability, 0.0, 1.0)
        area_range, aspect_ratio_range = tuple(area_range), tuple(aspect_ratio_range)
        if len(area_range) != 2 or not 0.0 < area_range[0] <= area_range[1] <= 1.0:
            raise ValueError(
                f"area_range must be (low, high) with 0 < low <= high <= 1. "
                f"Received: area_range={area_range}"
            )
        if len(aspect_ratio_range) != 2 or not 0.0 < aspect_ratio_range[0] <= aspect_ratio_range[1]:
            raise ValueError(
                f"aspect_ratio_range must be (low, high) with 0 < low <= high. "
                f"Received: aspect_ratio_range={aspect_ratio_range}"
            )
        self.probability = probability
        self.area_range = area_range
        self.aspect_ratio_range = aspect_ratio_range

    def augment(self, images, seed):
        shape = ops.shape(images)
        apply_seed, box_seed, fill_seed = tf.unstack(
            tf.random.experimental.stateless_split(seed, 3)
        )
        top, left, height, width, found = self._rectangles(shape[0], shape[1], shape[2], box_seed)
        erase = found & (tf.random.stateless_uniform((shape[0],), apply_seed) < self.probability)
        rows = ops.arange(shape[1], dtype="int32")[None, :, None]
        cols = ops.arange(shape[2], dtype="int32")[None, None, :]
        inside = (
            erase[:, None, None]
            & (rows >= top[:, None, None])
            & (rows < (top + height)[:, None, None])
            & (cols >= left[:, None, None])
            & (cols < (left + width)[:, None, None])
        )
        noise = tf.random.stateless_uniform(shape, fill_seed, 0.0, 255.0)
        return ops.where(inside[..., None], noise, images)

    def _rectangles(self, batch, image_height, image_width, seed):
        """(top, left, height, width, found) per image: the first of `ATTEMPTS` draws that fits."""
        image_height = ops.cast(image_height, "float32")
        image_width = ops.cast(image_width, "float32")
        draws = tf.random.stateless_uniform((4, batch, self.ATTEMPTS), seed)
        low_area, high_area = self.area_range
        area = (low_area + (high_area - low_area) * draws[0]) * image_height * image_width
        low_ratio, high_ratio = (math.log(bound) for bound in self.aspect_ratio_range)
        ratio = ops.exp(low_ratio + (high_ratio - low_ratio) * draws[1])
        height = ops.round(ops.sqrt(area * ratio))
        width = ops.round(ops.sqrt(area / ratio))
        top = ops.floor(draws[2] * image_height)
        left = ops.floor(draws[3] * image_width)
        fits = (top + height <= image_height) & (left + width <= image_width)
        first_fit = ops.one_hot(ops.argmax(ops.cast(fits, "int32"), axis=1), self.ATTEMPTS)

        def chosen(values):
            return ops.cast(ops.sum(values * first_fit, axis=1), "int32")

        return chosen(top), chosen(left), chosen(height), chosen(width), ops.any(fits, axis=1)

    def get_config(self):
        return {
            **super().get_config(),
            "probability": self.probability,
            "area_range": self.area_range,
            "aspect_ratio_range": self.aspect_ratio_range,
        }


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
    [-r, r]), `zoom_range` (factors uniform in [1 - z, 1 + z]) and the shift ranges as fractions
    of the image, `horizontal_flip` and `random_erasing` (Zhong et al. 2017, arXiv:1708.04896) as
    probabilities per image. Returns None when every knob is 0. Pixels uncovered by a transform
    are filled with 0 (the background). Every layer compiles with XLA and computes in float32.

    Each layer draws from its own stream, derived from `seed` and the layer's place in the
    pipeline, so switching one knob on or off leaves the other layers' draws unchanged.
    """
    knobs = dict(rotation_range=rotation_range, zoom_range=zoom_range,
                 width_shift_range=width_shift_range, height_shift_range=height_shift_range,
                 horizontal_flip=horizontal_flip, random_erasing=random_erasing)
    for name, value in knobs.items():
        check_knob(name, value)

    def layer_seed(place):
        return None if seed is None else seed + LAYER_SEED_STRIDE * place

    layers = []
    if horizontal_flip:
        layers.append(RandomHorizontalFlip(horizontal_flip, seed=layer_seed(0)))
    if rotation_range or zoom_range:
        layers.append(RandomAffine(rotation_range, zoom_range, seed=layer_seed(1)))
    if width_shift_range or height_shift_range:
        layers.append(RandomShift(height_shift_range, width_shift_range, seed=layer_seed(2)))
    if random_erasing:
        layers.append(RandomErasing(random_erasing, seed=layer_seed(3)))
    if not layers:
        return None
    # A float32 input keeps a mixed global policy from casting the images on the way in.
    images = keras.Input((None, None, None), dtype="float32")
    return keras.Sequential([images, *layers], name="augmentation")


def augment_at_step(augmentation: keras.Sequential, images, step):
    """`augmentation`'s transform of training step `step`: the same for a given seed and step,
    whether the run was interrupted or not, and whether it runs in `tf.data` or in the train step.
    """
    # Name scopes put the pipeline's and each layer's name in the names of their ops, so that a
    # profile of the train step (benchmarks/profile_step.py) can tell the augmentation's time.
    with tf.name_scope(augmentation.name):
        for layer in augmentation.layers:
            with tf.name_scope(layer.name):
                images = layer.augment_at_step(images, step)
    return images
