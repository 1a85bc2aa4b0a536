"""Fashion-MNIST loading, validation split, augmentation and `tf.data` pipelines."""

from data.augmentation import (
    RandomAffine,
    RandomErasing,
    RandomHorizontalFlip,
    RandomShift,
    augmentation_seed_state,
    build_augmentation,
    restore_augmentation_seed_state,
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
from data.pipeline import make_dataset

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
    "augmentation_seed_state",
    "build_augmentation",
    "ensure_files",
    "load_fashion_mnist",
    "make_dataset",
    "read_idx",
    "restore_augmentation_seed_state",
    "train_val_split",
]
