"""Augmentation inside the compiled training step, on the device that trains."""

import keras


def augment_in_train_step(model: keras.Model, augmentation: keras.Layer) -> keras.Model:
    """Makes `model.fit` augment every training batch inside its compiled train step.

    The augmentation then runs on the training device (on a GPU, each replica augments its own
    shard) instead of in a `tf.data` map on the host CPU. Its layers stay outside `model`: saved
    models, SWA averages and BatchNorm recalibration see only the network, and `predict` and
    `evaluate` never augment. Models with their own `train_step` (CapsuleNet) receive the
    augmented images. The layers of `build_augmentation` compile with XLA (`jit_compile=True`)
    and each replica draws its own transforms. Their random state is not part of `model`'s
    weights: `augmentation_seed_state` reads it for an exact resume. Call before the first `fit`;
    returns `model`.

    Example:
        >>> augment_in_train_step(model, build_augmentation(horizontal_flip=0.5))
        >>> model.compile(...); model.fit(batches_without_augmentation)
    """
    train_step = model.train_step

    def augmented_train_step(data):
        images, *targets = data
        return train_step((augmentation(images, training=True), *targets))

    model.train_step = augmented_train_step
    return model
