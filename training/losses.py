"""Losses that Keras does not ship."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="fmlab")
class SparseCategoricalCrossentropyWithSmoothing(keras.losses.Loss):
    """Cross-entropy of integer labels smoothed towards the uniform distribution (Szegedy et al.
    2016, "Rethinking the Inception Architecture", arXiv:1512.00567): the target of the true
    class is `1 - label_smoothing + label_smoothing / num_classes`, every other class
    `label_smoothing / num_classes`. Keras' sparse cross-entropy has no smoothing, so the labels
    are one-hot encoded here. A softmax output is turned back into its logits by Keras, so the
    loss is computed from logits.

    Args:
        label_smoothing: the smoothing in [0, 1).

    Example:
        >>> model.compile("adam", SparseCategoricalCrossentropyWithSmoothing(0.1))
    """

    def __init__(self, label_smoothing=0.1, name="smoothed_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)
        if not 0 <= label_smoothing < 1:
            raise ValueError(
                f"label_smoothing must be in [0, 1). Received: label_smoothing={label_smoothing}"
            )
        self.label_smoothing = float(label_smoothing)

    def call(self, y_true, y_pred):
        labels = ops.cast(ops.reshape(y_true, (-1,)), "int32")
        one_hot = ops.one_hot(labels, ops.shape(y_pred)[-1], dtype=y_pred.dtype)
        return keras.losses.categorical_crossentropy(
            one_hot, y_pred, label_smoothing=self.label_smoothing
        )

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing}
