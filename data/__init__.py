"""Fashion-MNIST loading, validation split, augmentation and `tf.data` pipelines.

Names are loaded on first use (TensorFlow first, without its start-up notices), so
`from data.fashion_mnist import CLASS_NAMES` loads no TensorFlow.
"""

from quiet_tensorflow import load_export

_EXPORTS = {
    **dict.fromkeys(
        ("RandomAffine", "RandomErasing", "RandomHorizontalFlip", "RandomShift",
         "augment_at_step", "build_augmentation"),
        "data.augmentation",
    ),
    **dict.fromkeys(
        ("CLASS_NAMES", "FILES", "IMAGE_SHAPE", "NUM_CLASSES", "DatasetFileError",
         "FashionMNIST", "ensure_files", "load_fashion_mnist", "read_idx", "train_val_split"),
        "data.fashion_mnist",
    ),
    **dict.fromkeys(("make_dataset", "make_training_dataset"), "data.pipeline"),
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    return load_export(_EXPORTS, "data", name)
