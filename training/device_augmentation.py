"""Augmentation inside the compiled training step, on the device that trains."""

import keras

from data.augmentation import augment_at_step


def augment_in_train_step(model: keras.Model, augmentation: keras.Layer) -> keras.Model:
    """Makes `model.fit` augment every training batch inside its compiled train step.

    The augmentation then runs on the training device (on a GPU, each replica augments its own
    shard) instead of in a `tf.data` map on the host CPU. Its layers stay outside `model`: saved
    models, SWA averages and BatchNorm recalibration see only the network, and `predict` and
    `evaluate` never augment. Models with their own `train_step` (CapsuleNet) receive the
    augmented images. The layers of `build_augmentation` compile with XLA (`jit_compile=True`)
    and each replica draws its own transforms. The draws of a step depend on the seeds and the
    optimizer's step counter alone (`augment_at_step`), which the model's checkpoint restores:
    a resumed run augments as the uninterrupted one did. Call after `compile` and before the
    first `fit`; returns `model`.

    Example:
        >>> model.compile(...)
        >>> augment_in_train_step(model, build_augmentation(horizontal_flip=0.5, seed=0))
        >>> model.fit(batches_without_augmentation)
    """
    train_step = model.train_step

    def augmented_train_step(data):
        images, *targets = data
        step = model.optimizer.iterations  # this step's index: incremented when it applies
        return train_step((augment_at_step(augmentation, images, step), *targets))

    model.train_step = augmented_train_step
    return model
