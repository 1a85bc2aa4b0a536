"""CapsNet: primary and class capsules with dynamic routing, margin loss and a decoder."""

import math

import keras
import tensorflow as tf
from keras import ops

from models.base import ConfigurableModel
from models.layers import check_argument, image_input, validate_common
from models.registry import register_model

# Keeps the squash and the capsule lengths differentiable at the zero vector.
EPSILON = 1e-7
KERNEL_SIZE = 9
# Margin loss constants of the paper: m+, m- and the down-weighting lambda of absent classes.
POSITIVE_MARGIN = 0.9
NEGATIVE_MARGIN = 0.1
ABSENT_CLASS_WEIGHT = 0.5
# The traits of the entry (see models.registry.ModelSpec): its train step adds the margin and
# reconstruction losses, it has no BatchNorm, and it decodes images from its class capsules.
FAMILY_TRAITS = {
    "family": "capsnet",
    "own_loss": True,
    "small_variant": {"conv_filters": 32, "primary_channels": 8, "decoder_units": (64, 128)},
    "reconstructs": True,
}


def squash(vectors, axis=-1):
    """Scales every vector to length |s|^2 / (1 + |s|^2) < 1, keeping its direction."""
    squared_norm = ops.sum(ops.square(vectors), axis=axis, keepdims=True)
    return squared_norm / (1.0 + squared_norm) * vectors / ops.sqrt(squared_norm + EPSILON)


def capsule_lengths(capsules):
    """Lengths of capsule vectors (..., num_capsules, dim) -> (..., num_capsules)."""
    return ops.sqrt(ops.sum(ops.square(capsules), axis=-1) + EPSILON)


def margin_loss(labels, lengths):
    """Per-example margin loss: sum over classes k of
    T_k max(0, m+ - |v_k|)^2 + lambda (1 - T_k) max(0, |v_k| - m-)^2, T_k = 1 for the true class.

    Args:
        labels: integer class labels, shape (batch,) or (batch, 1).
        lengths: capsule lengths, shape (batch, num_classes).
    """
    present = ops.one_hot(ops.reshape(ops.cast(labels, "int32"), (-1,)), ops.shape(lengths)[-1])
    present_loss = ops.square(ops.relu(POSITIVE_MARGIN - lengths))
    absent_loss = ops.square(ops.relu(lengths - NEGATIVE_MARGIN))
    per_class = present * present_loss + ABSENT_CLASS_WEIGHT * (1.0 - present) * absent_loss
    return ops.sum(per_class, axis=-1)


class CapsuleLoss(keras.losses.Loss):
    """The paper's loss per example: margin loss plus `reconstruction_weight` times the sum of
    squared errors of the reconstruction, reduced by `keras.losses.Loss` (in float32).

    `y_true` holds integer labels; `y_pred` is a dict of the capsule "lengths" (batch, classes),
    the decoder's "reconstructions" and their "targets" (batch, height, width, channels).

    Args:
        reconstruction_weight: weight of the sum of squared reconstruction errors.
    """

    def __init__(self, reconstruction_weight=0.0005, name="capsule_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.reconstruction_weight = reconstruction_weight

    def call(self, y_true, y_pred):
        errors = ops.square(y_pred["reconstructions"] - y_pred["targets"])
        squared_error = ops.sum(errors, axis=(1, 2, 3))
        return margin_loss(y_true, y_pred["lengths"]) + self.reconstruction_weight * squared_error

    def get_config(self):
        return {**super().get_config(), "reconstruction_weight": self.reconstruction_weight}


@keras.saving.register_keras_serializable(package="fmlab")
class Squash(keras.layers.Layer):
    """Applies `squash` to the vectors along the last axis, in float32 unless given a `dtype`
    (see `ClassCapsules`)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)

    def call(self, inputs):
        return squash(inputs)

    def compute_output_shape(self, input_shape):
        return input_shape


@keras.saving.register_keras_serializable(package="fmlab")
class ClassCapsules(keras.layers.Layer):
    """Fully connected capsule layer with routing-by-agreement (the paper's DigitCaps).

    Every input capsule i predicts every output capsule j through its own matrix,
    u_j|i = W_ij u_i. Routing starts from zero logits b_ij; each iteration sets the coupling
    coefficients c_ij = softmax_j(b_ij), the outputs v_j = squash(sum_i c_ij u_j|i), and (except
    after the last one) raises b_ij by the agreement u_j|i . v_j.

    The layer computes in float32 unless given a `dtype`, also under a mixed precision policy:
    the agreements accumulate into the routing logits over hundreds of input capsules, which
    bfloat16's 8-bit mantissa would round to a few significant digits.

    Args:
        num_capsules: number of output capsules (one per class).
        capsule_dim: dimension of each output capsule.
        routing_iterations: number of routing iterations, at least 1.

    Input shape: (batch, num_inputs, input_dim). Output shape: (batch, num_capsules, capsule_dim).
    """

    def __init__(self, num_capsules, capsule_dim, routing_iterations=3, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        if routing_iterations < 1:
            raise ValueError(
                f"routing_iterations must be at least 1. "
                f"Received: routing_iterations={routing_iterations}"
            )
        self.num_capsules = num_capsules
        self.capsule_dim = capsule_dim
        self.routing_iterations = routing_iterations

    def build(self, input_shape):
        _, num_inputs, input_dim = input_shape
        # Glorot's limit for this 4-D kernel is about 0.005, which starts the class capsules so
        # short that the margin loss barely moves them; stddev 0.01 is the usual CapsNet choice.
        self.kernel = self.add_weight(
            shape=(num_inputs, self.num_capsules, self.capsule_dim, input_dim),
            initializer=keras.initializers.TruncatedNormal(stddev=0.01),
            name="kernel",
        )

    def route(self, inputs):
        """Returns the output capsules and the final coupling coefficients, which have shape
        (batch, num_inputs, num_capsules) and sum to 1 over the output capsules.

        The predictions are laid out (batch, output capsule, input capsule, dim), so that both
        sums of the routing, over the input capsules and over the dimensions, are batched
        matrix-vector products of contiguous rows; in the (batch, input, output, dim) layout
        each einsum of the routing transposed the whole prediction tensor, forward and
        backward, which cost as much as CapsNet's convolutions on a CPU.
        """
        inputs = ops.cast(inputs, self.compute_dtype)  # also when called without __call__
        kernel = ops.cast(self.kernel, self.compute_dtype)
        predictions = self.predictions(inputs, kernel)
        logits = ops.zeros_like(predictions[..., 0])  # (batch, j, i)
        for iteration in range(self.routing_iterations):
            coefficients = ops.softmax(logits, axis=1)  # over the output capsules
            weighted = ops.matmul(ops.expand_dims(coefficients, 2), predictions)
            outputs = squash(ops.squeeze(weighted, 2))
            if iteration < self.routing_iterations - 1:
                agreement = ops.matmul(predictions, ops.expand_dims(outputs, -1))
                logits = logits + ops.squeeze(agreement, -1)
        return outputs, ops.transpose(coefficients, (0, 2, 1))

    def predictions(self, inputs, kernel):
        """u_j|i = W_ij u_i for every input capsule i and output capsule j, as (batch, j, i,
        dim): one matrix product per input capsule, of its vectors over the batch and its
        matrices to every output capsule."""
        num_inputs, _, _, input_dim = kernel.shape
        per_input = ops.transpose(inputs, (1, 0, 2))  # (i, batch, input_dim)
        matrices = ops.reshape(ops.transpose(kernel, (0, 3, 1, 2)),
                               (num_inputs, input_dim, self.num_capsules * self.capsule_dim))
        products = ops.matmul(per_input, matrices)  # (i, batch, j * dim)
        products = ops.reshape(products, (num_inputs, -1, self.num_capsules, self.capsule_dim))
        return ops.transpose(products, (1, 2, 0, 3))

    def call(self, inputs):
        return self.route(inputs)[0]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_capsules, self.capsule_dim)

    def get_config(self):
        return {
            **super().get_config(),
            "num_capsules": self.num_capsules,
            "capsule_dim": self.capsule_dim,
            "routing_iterations": self.routing_iterations,
        }


@keras.saving.register_keras_serializable(package="fmlab")
class CapsuleProbabilities(keras.layers.Layer):
    """Capsule lengths divided by their sum: a distribution over classes whose argmax is the
    longest capsule. The lengths are independent presence scores, so this is not calibrated."""

    def call(self, inputs):
        lengths = capsule_lengths(inputs)
        return lengths / ops.sum(lengths, axis=-1, keepdims=True)

    def compute_output_shape(self, input_shape):
        return input_shape[:-1]


@keras.saving.register_keras_serializable(package="fmlab")
class CapsuleNet(ConfigurableModel):
    """CapsNet: Conv, primary capsules, class capsules with dynamic routing, and a decoder.

    Layout: Conv 9x9 (`conv_filters`, ReLU; 28 -> 20), PrimaryCaps as a Conv 9x9 stride 2
    (`primary_channels` x `primary_dim` filters; 20 -> 6) whose outputs are grouped into
    6 x 6 x `primary_channels` capsules of `primary_dim` dimensions and squashed, then
    `ClassCapsules` with one `capsule_dim`-dimensional capsule per class and
    `routing_iterations` routing iterations. The decoder (dense `decoder_units`, ReLU, and a
    sigmoid layer with one unit per pixel) reconstructs the image from the class capsules with all
    but one capsule masked out.

    Outputs: `call` returns the capsule lengths normalized to sum to 1 over the classes (see
    `CapsuleProbabilities`), so the model predicts, evaluates and reports accuracy like a softmax
    classifier.

    Training: `train_step` and `test_step` replace the compiled loss (whatever `compile` was given,
    e.g. "sparse_categorical_crossentropy") with the paper's loss: the margin loss (m+ = 0.9,
    m- = 0.1, lambda = 0.5) plus `reconstruction_weight` times the sum of squared errors between
    the decoder's output, masked by the true label, and the input scaled to [0, 1] (0.0005 x SSE
    over 784 pixels = 0.392 x MSE), averaged over the batch (`CapsuleLoss`). Like the built-in
    steps, they divide each replica's loss by the number of replicas under `tf.distribute` and
    report the unscaled loss. Compiled metrics see the normalized lengths, so
    `model.compile(optimizer, loss=..., metrics=["accuracy"])` followed by `fit`, `evaluate` and
    `predict` on (images in [0, 255], integer labels) works unchanged. These steps use
    TensorFlow's GradientTape, so the model needs the TensorFlow backend.

    Inspection: `reconstruct(images, labels=None)` decodes images, masked by the given labels or
    else by the predicted class; `routing_coefficients(images)` returns the coupling coefficients
    of the last routing iteration.

    Adapted for 28x28 inputs: none needed, the paper uses 28x28 MNIST. Inputs are rescaled to
    [-1, 1] for the convolutions like every model here; the decoder's target is the same image
    in [0, 1]. With `input_size`, the decoder reconstructs the resized image.

    Parameters at 28x28x1 with 10 classes: 8,215,568 (6,804,224 without the decoder).

    Reference: Sabour, Frosst & Hinton, "Dynamic Routing Between Capsules", NeurIPS 2017,
    arXiv:1710.09829.

    Args:
        input_shape: (height, width, channels) of the raw images, pixels in [0, 255].
        num_classes: number of output classes (class capsules).
        conv_filters: filters of the first convolution.
        primary_channels: number of primary capsule channels (capsule types).
        primary_dim: dimension of the primary capsules.
        capsule_dim: dimension of the class capsules.
        routing_iterations: dynamic routing iterations.
        decoder_units: widths of the decoder's hidden dense layers.
        reconstruction_weight: weight of the decoder's sum of squared errors in the loss.
        input_size: optional side length the images are resized to inside the model.

    Example:
        >>> model = CapsuleNet(input_shape=(28, 28, 1), num_classes=10)
        >>> model.compile("adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        >>> model.fit(dataset)  # batches of (images in [0, 255], labels)
        >>> decoded = model.reconstruct(images[:8])  # (8, 28, 28, 1) in [0, 1]
    """

    def __init__(
        self,
        input_shape=(28, 28, 1),
        num_classes=10,
        conv_filters=256,
        primary_channels=32,
        primary_dim=8,
        capsule_dim=16,
        routing_iterations=3,
        decoder_units=(512, 1024),
        reconstruction_weight=0.0005,
        input_size=None,
        **kwargs,
    ):
        validate_arguments(**self.arguments)
        inputs, scaled = image_input(input_shape, input_size)
        primary_capsules = primary_capsule_block(
            scaled, conv_filters, primary_channels, primary_dim
        )
        class_capsules = ClassCapsules(
            num_classes, capsule_dim, routing_iterations, name="class_capsules"
        )(primary_capsules)
        outputs = CapsuleProbabilities(dtype="float32", name="predictions")(class_capsules)
        kwargs.setdefault("name", "capsule_net")
        super().__init__(inputs, outputs, **kwargs)
        # The same layers, exposing what the loss and the inspection methods need.
        features = {
            "primary_capsules": primary_capsules,
            "class_capsules": class_capsules,
            "probabilities": outputs,
            "scaled_images": scaled,
        }
        self.capsule_features = keras.Model(inputs, features, name="capsule_features")
        self.decoder = capsule_decoder(
            num_classes * capsule_dim, decoder_units, tuple(scaled.shape[1:])
        )

    def _decode(self, class_capsules, labels, training=False):
        """Decodes the capsules with every capsule but the one of `labels` zeroed."""
        labels = ops.reshape(ops.cast(labels, "int32"), (-1,))
        mask = ops.one_hot(labels, self.arguments["num_classes"], dtype=class_capsules.dtype)
        masked = class_capsules * ops.expand_dims(mask, -1)
        flat = ops.reshape(masked, (-1, math.prod(masked.shape[1:])))
        return self.decoder(flat, training=training)

    def capsule_loss(self, labels, features, sample_weight=None, training=False):
        """Margin loss plus weighted reconstruction error, reduced like every Keras loss.

        Under `tf.distribute` this is one replica's share: the mean over the replica's batch
        divided by the number of replicas in sync, so that the gradients the strategy sums over
        the replicas are those of the global batch's mean loss.

        Args:
            labels: integer class labels, shape (batch,) or (batch, 1).
            features: the `capsule_features` outputs for the batch.
            sample_weight: optional per-example weights, shape (batch,).
            training: whether the decoder runs in training mode.
        """
        class_capsules = ops.cast(features["class_capsules"], "float32")
        predictions = {
            "lengths": capsule_lengths(class_capsules),
            "reconstructions": self._decode(class_capsules, labels, training),
            "targets": (ops.cast(features["scaled_images"], "float32") + 1.0) / 2.0,
        }
        loss = CapsuleLoss(self.arguments["reconstruction_weight"])
        return loss(labels, predictions, sample_weight)

    def _track_loss(self, loss, images):
        # As the built-in steps do: the tracker averages the replicas' unscaled losses.
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        self._loss_tracker.update_state(loss * replicas, sample_weight=ops.shape(images)[0])

    def train_step(self, data):
        images, labels, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        with tf.GradientTape() as tape:
            features = self.capsule_features(images, training=True)
            loss = self.capsule_loss(labels, features, sample_weight, training=True)
            scaled_loss = self.optimizer.scale_loss(loss)
        self._track_loss(loss, images)
        gradients = tape.gradient(scaled_loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_weights))
        return self.compute_metrics(images, labels, features["probabilities"], sample_weight)

    def test_step(self, data):
        images, labels, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        features = self.capsule_features(images, training=False)
        loss = self.capsule_loss(labels, features, sample_weight, training=False)
        self._track_loss(loss, images)
        return self.compute_metrics(images, labels, features["probabilities"], sample_weight)

    def reconstruct(self, images, labels=None):
        """Decoded images in [0, 1], shaped like the (resized) model input, as a NumPy array.

        Each image is decoded from its class capsules masked by `labels`, or by the predicted
        class when `labels` is None (inference).
        """
        class_capsules = self.capsule_features(images, training=False)["class_capsules"]
        if labels is None:
            labels = ops.argmax(capsule_lengths(class_capsules), axis=-1)
        return ops.convert_to_numpy(self._decode(class_capsules, labels))

    def routing_coefficients(self, images):
        """Coupling coefficients of the last routing iteration as a NumPy array of shape
        (batch, num_primary_capsules, num_classes); each row sums to 1 over the classes."""
        primary_capsules = self.capsule_features(images, training=False)["primary_capsules"]
        _, coefficients = self.get_layer("class_capsules").route(primary_capsules)
        return ops.convert_to_numpy(coefficients)


def validate_arguments(
    input_shape,
    num_classes,
    conv_filters,
    primary_channels,
    primary_dim,
    capsule_dim,
    decoder_units,
    reconstruction_weight,
    input_size,
    **_,
):
    validate_common(input_shape, num_classes)
    for arg, value in (
        ("conv_filters", conv_filters),
        ("primary_channels", primary_channels),
        ("primary_dim", primary_dim),
        ("capsule_dim", capsule_dim),
    ):
        check_argument(value >= 1, "positive", **{arg: value})
    check_argument(
        len(decoder_units) >= 1 and min(decoder_units) >= 1,
        "one or more positive widths",
        decoder_units=decoder_units,
    )
    check_argument(
        reconstruction_weight >= 0, "non-negative", reconstruction_weight=reconstruction_weight
    )
    side = input_size if input_size is not None else min(input_shape[:2])
    # Two valid 9x9 convolutions need at least 2 * (9 - 1) + 1 pixels per side.
    if side < 2 * (KERNEL_SIZE - 1) + 1:
        raise ValueError(
            f"CapsuleNet needs images of at least 17x17. Received: "
            f"input_shape={input_shape}, input_size={input_size}"
        )


def primary_capsule_block(x, conv_filters, channels, dim):
    """CapsNet's convolutions up to the primary capsules: Conv 9x9 (`conv_filters`, ReLU) and the
    PrimaryCaps Conv 9x9 with stride 2 (`channels` x `dim` filters), both "valid", whose outputs
    are grouped into `dim`-dimensional capsules (`channels` per position) and squashed.

    Example:
        >>> primary_capsule_block(keras.Input((28, 28, 1)), 256, 32, 8).shape  # (None, 1152, 8)
    """
    x = keras.layers.Conv2D(conv_filters, KERNEL_SIZE, activation="relu", name="conv1")(x)
    x = keras.layers.Conv2D(channels * dim, KERNEL_SIZE, strides=2, name="primary_conv")(x)
    x = keras.layers.Reshape((-1, dim), name="primary_reshape")(x)
    return Squash(name="primary_capsules")(x)


def capsule_decoder(input_dim, units, image_shape):
    """The decoder: dense layers of `units` (ReLU) and a sigmoid layer with one unit per pixel,
    reshaped to `image_shape`; it reconstructs an image from the masked, flattened class
    capsules.

    Example:
        >>> capsule_decoder(160, (512, 1024), (28, 28, 1)).output_shape  # (None, 28, 28, 1)
    """
    layers = [keras.Input(shape=(input_dim,))]
    for index, width in enumerate(units):
        layers.append(keras.layers.Dense(width, activation="relu", name=f"decoder_dense{index}"))
    layers += [
        keras.layers.Dense(math.prod(image_shape), activation="sigmoid", name="decoder_pixels"),
        keras.layers.Reshape(image_shape, name="decoder_image"),
    ]
    return keras.Sequential(layers, name="decoder")


@register_model("capsnet", parameters=8_215_568, **FAMILY_TRAITS)
def capsnet(input_shape=(28, 28, 1), num_classes=10, **kwargs):
    return CapsuleNet(input_shape=input_shape, num_classes=num_classes, **kwargs)
