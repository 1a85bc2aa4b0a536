"""Fashion-MNIST loading, validation split, augmentation and `tf.data` pipelines."""

# ruff: noqa: E402  (TensorFlow is loaded first, without its start-up notices)

from quiet_tensorflow import import_tensorflow

import_tensorflow()

from data.augmentation import (
    RandomAffine,
    RandomErasing,
    RandomHorizontalFlip,
    RandomShift,
    augment_at_step,
    build_augmentation,
)
from data.fashion_mnist import (
    CLASS_NAMES,
    FILES,
    IMAGE_SHAPE,
    NUM_CLASSES,
    DatasetFileError,
    FashionMNIST,
    ensure_files,
    load_fashion_mnist,
    read_idx,
    train_val_split,
)
from data.pipeline import make_dataset, make_training_dataset

__all__ = [
    "CLASS_NAMES",
    "FILES",
    "IMAGE_SHAPE",
    "NUM_CLASSES",
    "DatasetFileError",
    "FashionMNIST",
    "RandomAffine",
    "RandomErasing",
    "RandomHorizontalFlip",
    "RandomShift",
    "augment_at_step",
    "build_augmentation",
    "ensure_files",
    "load_fashion_mnist",
    "make_dataset",
    "make_training_dataset",
    "read_idx",
    "train_val_split",
]
