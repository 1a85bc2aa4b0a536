"""`tf.data` input pipelines over in-memory arrays."""

import math

import numpy as np
import tensorflow as tf

from data.alternating_flip import alternating_flip, first_epoch_flips
from data.augmentation import augment_at_step

# Epochs a training dataset can run; `fit` stops it long before.
MAX_EPOCHS = 1_000_000


def make_dataset(images: np.ndarray, labels: np.ndarray, batch_size: int) -> tf.data.Dataset:
    """Batches of (float32 pixels in [0, 255], int32 labels) in order: for evaluation and for
    BatchNorm statistics. Models scale pixels themselves."""
    dataset = tf.data.Dataset.from_tensor_slices((images, labels.astype(np.int32)))
    dataset = dataset.batch(batch_size).map(
        lambda x, y: (tf.cast(x, tf.float32), y), num_parallel_calls=tf.data.AUTOTUNE
    )
    return dataset.prefetch(tf.data.AUTOTUNE)


def make_training_dataset(
    images: np.ndarray,
    labels: np.ndarray,
    batch_size: int,
    seed: int,
    first_step: int = 0,
    augmentation=None,
    alternate_flip: bool = False,
) -> tf.data.Dataset:
    """Endless training batches, pass after pass over the images, from step `first_step`
    (0-based) on; `fit` takes `steps_per_epoch=math.ceil(len(images) / batch_size)` for an epoch
    of one pass, or fewer steps.

    The order of pass p is a permutation drawn from (`seed`, p) alone and, with `augmentation`,
    the transforms of step s from (its seeds, s) alone (`augment_at_step`). A run resumed after
    step s therefore sees exactly the batches that the uninterrupted run saw. With
    `alternate_flip`, each image is mirrored in every other pass (`alternating_flip`), before
    `augmentation`.
    """
    count = len(images)
    steps_per_epoch = math.ceil(count / batch_size)  # of a pass
    first_pass, steps_into_it = divmod(first_step, steps_per_epoch)
    images = tf.constant(images)
    labels = tf.constant(labels.astype(np.int32))

    def epoch_batches(epoch):
        draws = tf.random.stateless_uniform([count], tf.stack([tf.constant(seed, tf.int64), epoch]))
        order = tf.data.Dataset.from_tensor_slices(tf.argsort(draws)).batch(batch_size)
        return order.enumerate(start=epoch * steps_per_epoch)

    flips = first_epoch_flips(count, seed) if alternate_flip else None

    def gather(step, indices):
        batch = tf.cast(tf.gather(images, indices), tf.float32)
        if alternate_flip:
            epoch = step // steps_per_epoch
            batch = alternating_flip(batch, tf.gather(flips, indices), epoch)
        return step, batch, tf.gather(labels, indices)

    dataset = tf.data.Dataset.range(first_pass, MAX_EPOCHS).flat_map(epoch_batches)
    dataset = dataset.skip(steps_into_it)  # index batches only: nothing is gathered or augmented
    dataset = dataset.map(gather, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if augmentation is None:
        dataset = dataset.map(lambda step, x, y: (x, y))
    else:
        dataset = dataset.map(
            lambda step, x, y: (augment_at_step(augmentation, x, step), y),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
    return dataset.prefetch(tf.data.AUTOTUNE)
