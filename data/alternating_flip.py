"""Alternating flip (Jordan 2024, "94% on CIFAR-10 in 3.29 Seconds on a Single GPU",
arXiv:2404.00498, section 3.6): each image is mirrored in every other epoch instead of at random.

A random flip with probability 0.5 shows some images the same way several epochs in a row; an
alternating flip shows every image both ways within any two consecutive epochs. Which images
start mirrored is drawn once, from the seed; epoch e then mirrors exactly the images that epoch
e + 1 does not. The choice depends on the seed, the image's index and the epoch alone, so a
resumed run mirrors as the uninterrupted one did.
"""

import tensorflow as tf

# Second word of the seed of the first epoch's flips, apart from the shuffling's draws.
FLIP_STREAM = 0xF11B


def first_epoch_flips(count: int, seed: int) -> tf.Tensor:
    """Which of `count` images are mirrored in epoch 0: (count,) booleans, half of them True on
    average, drawn from `seed` alone.

    Example:
        >>> flips = first_epoch_flips(55_000, seed=0)
    """
    draws = tf.random.stateless_uniform([count], tf.constant([seed, FLIP_STREAM], tf.int64))
    return draws < 0.5


def alternating_flip(images, flipped_first, epoch):
    """`images` (B, H, W, C) mirrored left-right where `flipped_first` (B,) differs from whether
    `epoch` (0-based) is odd: image i is mirrored in epoch e exactly when
    `flipped_first[i] != (e % 2 == 1)`.

    Args:
        images: a batch of images, NHWC.
        flipped_first: the batch's entries of `first_epoch_flips`.
        epoch: the 0-based epoch of the batch, an integer or an integer tensor.

    Example:
        >>> flips = first_epoch_flips(len(x_train), seed=0)
        >>> batch = alternating_flip(x_train[indices], tf.gather(flips, indices), epoch=3)
    """
    odd = tf.math.floormod(tf.cast(epoch, tf.int64), 2) == 1
    mirrored = tf.math.not_equal(flipped_first, odd)
    return tf.where(mirrored[:, None, None, None], tf.reverse(images, axis=[2]), images)
