"""One SGD step of each given model on one device and under MirroredStrategy on two logical CPUs.

Run from the repository root as `python -m tests.models.mirrored_step < variants.json`, in a
process of its own: the CPU must be split into logical devices before TensorFlow initialises.
Reads a JSON list of {"name", "family", "config"} (a registered `fmlab>` class and its config)
and prints one JSON line per model: the norm of the mirrored weight update over the single-device
one, the cosine between the two updates, and the loss and accuracy that `fit` and `evaluate`
report on each.

The batch is eight random images repeated twice: each replica gets one copy, so its BatchNorm
batch statistics are those of the whole batch and the two runs compute the same gradients up to
rounding. What is left is how the loss is scaled across replicas. The steps run eagerly: the
same `train_step` code, without seconds of graph tracing per model and strategy.
"""

import json
import sys

import numpy as np

LEARNING_RATE = 0.01


def tiled_batch():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (8, 28, 28, 1)).astype("float32")
    labels = np.arange(8, dtype="int32")
    return np.concatenate([images, images]), np.concatenate([labels, labels])


def one_step(build, weights, strategy, images, labels):
    """Weight update, `fit` logs and `evaluate` results of one SGD step from `weights`."""
    import keras

    with strategy.scope():
        model = build()
        model.set_weights(weights)
        model.compile(
            keras.optimizers.SGD(LEARNING_RATE),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
            run_eagerly=True,
        )
    before = [variable.numpy() for variable in model.trainable_variables]
    history = model.fit(
        images, labels, batch_size=len(images), epochs=1, shuffle=False, verbose=0
    ).history
    after = [variable.numpy() for variable in model.trainable_variables]
    update = np.concatenate([(new - old).ravel() for new, old in zip(after, before)])
    evaluated = model.evaluate(images, labels, batch_size=len(images), verbose=0, return_dict=True)
    logs = {f"fit_{key}": float(values[0]) for key, values in history.items()}
    return update, {**logs, **{f"evaluate_{key}": float(value) for key, value in evaluated.items()}}


def main():
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras

    import models  # noqa: F401  (registers the families)

    # One strategy for the whole process: a second one would reuse its collective op keys.
    mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    images, labels = tiled_batch()
    for variant in json.load(sys.stdin):
        family = keras.saving.get_registered_object(f"fmlab>{variant['family']}")

        def build(family=family, config=variant["config"]):
            return family.from_config(config)

        keras.utils.set_random_seed(0)
        weights = build().get_weights()
        default = tf.distribute.get_strategy()
        single, single_logs = one_step(build, weights, default, images, labels)
        split, mirrored_logs = one_step(build, weights, mirrored, images, labels)
        cosine = split @ single / (np.linalg.norm(split) * np.linalg.norm(single))
        result = {
            "name": variant["name"],
            "update_norm_ratio": float(np.linalg.norm(split) / np.linalg.norm(single)),
            "update_cosine": float(cosine),
            "single": single_logs,
            "mirrored": mirrored_logs,
        }
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
