"""`tf.data` input pipelines over in-memory arrays."""

import numpy as np
import tensorflow as tf


def make_dataset(
    images: np.ndarray,
    labels: np.ndarray,
    batch_size: int,
    training: bool = False,
    augmentation=None,
    seed: int | None = None,
) -> tf.data.Dataset:
    """Batches of (float32 pixels in [0, 255], int labels); models scale pixels themselves.

    The arrays are decoded once and held in memory; a training dataset reshuffles every epoch and,
    when `augmentation` is given, augments whole batches in a parallel map.
    """
    dataset = tf.data.Dataset.from_tensor_slices((images, labels.astype(np.int32)))
    if training:
        dataset = dataset.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size).map(
        lambda x, y: (tf.cast(x, tf.float32), y), num_parallel_calls=tf.data.AUTOTUNE
    )
    if training and augmentation is not None:
        # Sequential: parallel calls would advance the augmentation's seed generator in a
        # different order every run, and no run would repeat.
        dataset = dataset.map(lambda x, y: (augmentation(x, training=True), y))
    return dataset.prefetch(tf.data.AUTOTUNE)
