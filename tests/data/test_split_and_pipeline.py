import numpy as np
import pytest

from data import build_augmentation, make_dataset, make_training_dataset, train_val_split
from training.config import ConfigError, ExperimentConfig


def test_split_is_stratified_disjoint_and_reproducible(fashion_mnist):
    labels = fashion_mnist.y_train
    train, val = train_val_split(labels, val_size=5000, seed=3)
    assert len(train) == 55000 and len(val) == 5000
    assert not set(train) & set(val)
    assert np.bincount(labels[val]).tolist() == [500] * 10
    again_train, again_val = train_val_split(labels, val_size=5000, seed=3)
    np.testing.assert_array_equal(val, again_val)
    np.testing.assert_array_equal(train, again_train)
    _, other_val = train_val_split(labels, val_size=5000, seed=4)
    assert set(other_val) != set(val)


def test_limit_train_keeps_a_stratified_subset(fashion_mnist):
    train, val = train_val_split(fashion_mnist.y_train, val_size=500, seed=0, limit_train=1000)
    assert len(train) == 1000 and not set(train) & set(val)
    assert np.bincount(fashion_mnist.y_train[train]).tolist() == [100] * 10


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"val_size": 60000}, "val_size must be between"),
        ({"val_size": 100, "limit_train": 59950}, "limit_train must be between"),
    ],
)
def test_impossible_split_sizes_are_rejected(fashion_mnist, kwargs, message):
    with pytest.raises(ValueError, match=message):
        train_val_split(fashion_mnist.y_train, **kwargs)


def test_augmentation_changes_training_batches_only(fashion_mnist):
    # 64 copies of one image, so the training shuffle cannot be mistaken for augmentation.
    images = np.repeat(fashion_mnist.x_train[:1], 64, axis=0)
    labels = np.repeat(fashion_mnist.y_train[:1], 64)
    augmentation = build_augmentation(
        rotation_range=15, width_shift_range=0.1, height_shift_range=0.1, random_erasing=0.5, seed=1
    )
    train_x, _ = next(
        iter(make_training_dataset(images, labels, 64, seed=1, augmentation=augmentation))
    )
    eval_x, eval_y = next(iter(make_dataset(images, labels, 64)))
    original = images.astype("float32")
    np.testing.assert_array_equal(eval_x.numpy(), original)
    np.testing.assert_array_equal(eval_y.numpy(), labels)
    changed = [not np.array_equal(x, y) for x, y in zip(train_x.numpy(), original)]
    assert sum(changed) >= 60
    assert len({x.tobytes() for x in train_x.numpy()}) >= 60  # each image drew its own transform


def test_flip_probability_is_respected():
    images = np.arange(2 * 28 * 28, dtype="float32").reshape(2, 28, 28, 1)
    always = build_augmentation(horizontal_flip=1.0, seed=0)
    np.testing.assert_array_equal(always(images, training=True).numpy(), images[:, :, ::-1])
    np.testing.assert_array_equal(always(images, training=False).numpy(), images)
    assert build_augmentation() is None


@pytest.mark.parametrize(
    "knobs, message",
    [
        ({"random_erasing": 1.5}, r"random_erasing must be a probability in \[0, 1\]. Received"),
        ({"zoom_range": 1.0}, r"zoom_range must be a fraction in \[0, 1\)"),
        ({"width_shift_range": 1.0}, r"width_shift_range must be a fraction in \[0, 1\)"),
        ({"rotation_range": 181.0}, r"rotation_range must be in \[0, 180\] degrees"),
    ],
)
def test_augmentation_knobs_are_validated_with_the_configurations_bounds(knobs, message):
    with pytest.raises(ValueError, match=message):
        build_augmentation(**knobs)
    with pytest.raises(ConfigError, match=message):  # one set of bounds: the config's the same
        ExperimentConfig().replace(**knobs).validate()


def test_each_epoch_is_a_permutation_drawn_from_the_seed_and_epoch_alone():
    images = np.arange(10, dtype=np.uint8).reshape(10, 1, 1, 1)
    labels = np.arange(10)

    def batches(first_step, count, seed=3):
        dataset = make_training_dataset(images, labels, 4, seed, first_step=first_step)
        return [y.numpy() for _, y in dataset.take(count)]

    def epochs(first_epoch, count, seed=3):  # 3 steps a pass
        steps = batches(3 * first_epoch, 3 * count, seed)
        return [np.concatenate(steps[3 * e : 3 * e + 3]) for e in range(count)]

    whole = epochs(0, 3)
    assert all(sorted(epoch) == list(range(10)) for epoch in whole)  # every image once
    assert not np.array_equal(whole[0], whole[1])  # reshuffled every epoch
    np.testing.assert_array_equal(epochs(1, 2), whole[1:])  # as after a resume at epoch 1
    assert not np.array_equal(epochs(0, 1, seed=4)[0], whole[0])
    # Epochs shorter than a pass: a resume after step 4, within the second pass, goes on there.
    stream = batches(0, 9)
    for expected, resumed in zip(stream[4:], batches(4, 5), strict=True):
        np.testing.assert_array_equal(resumed, expected)
