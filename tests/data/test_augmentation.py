import keras
import numpy as np
import pytest
import tensorflow as tf

from data.augmentation import (
    RandomAffine,
    RandomErasing,
    RandomHorizontalFlip,
    RandomShift,
    augment_at_step,
    build_augmentation,
    rotate_and_zoom,
    shift_images,
)

SIDE = 29  # odd, so the centre is a pixel
CENTER = SIDE // 2
ALL_KNOBS = dict(
    rotation_range=30,
    zoom_range=0.2,
    width_shift_range=0.15,
    height_shift_range=0.15,
    horizontal_flip=0.5,
    random_erasing=0.5,
)


def bright_pixel(count, row=CENTER, col=CENTER + 8):
    images = np.zeros((count, SIDE, SIDE, 1), "float32")
    images[:, row, col] = 255.0
    return images


def centroids(images):
    """Intensity-weighted (row, col) of each image, as offsets from the centre."""
    images = np.asarray(images)[..., 0]
    rows, cols = np.mgrid[: images.shape[1], : images.shape[2]]
    total = images.sum(axis=(1, 2))
    row = (images * rows).sum(axis=(1, 2)) / total - CENTER
    col = (images * cols).sum(axis=(1, 2)) / total - CENTER
    return row, col


def transform_statistics(probes, augmented):
    """Per image: the fraction of pixels changed and the centroid's row, column and radius."""
    augmented = np.asarray(augmented)
    row, col = centroids(augmented)
    changed = (augmented != probes).mean(axis=(1, 2, 3))
    return np.stack([changed, row, col, np.hypot(row, col)])


def assert_uncorrelated(**draws):
    names = list(draws)
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            correlation = np.corrcoef(draws[first], draws[second])[0, 1]
            assert abs(correlation) < 0.1, (first, second, correlation)


def test_flip_rotation_and_zoom_draw_independently():
    augmentation = build_augmentation(
        horizontal_flip=0.5, rotation_range=40, zoom_range=0.3, seed=0
    )
    row, col = centroids(augmentation(bright_pixel(3000), training=True))
    direction = np.degrees(np.arctan2(-row, col))  # counter-clockwise from the right
    flipped = np.abs(direction) > 90
    angle = np.where(flipped, (direction % 360) - 180, direction)
    radius = np.hypot(row, col)
    assert 0.45 < flipped.mean() < 0.55
    assert np.abs(angle).max() < 41 and angle.std() > 20
    assert_uncorrelated(flipped=flipped, angle=angle, radius=radius)


def test_flip_and_shifts_draw_independently():
    augmentation = build_augmentation(
        horizontal_flip=0.5, width_shift_range=0.2, height_shift_range=0.2, seed=0
    )
    row, col = centroids(augmentation(bright_pixel(3000), training=True))
    flipped = col < 0  # the shift (at most 6 pixels) cannot carry the pixel across the centre
    assert_uncorrelated(flipped=flipped, down=row, right=col - np.where(flipped, -8, 8))


def test_flip_and_erasing_draw_independently():
    augmentation = build_augmentation(horizontal_flip=0.5, random_erasing=0.5, seed=0)
    images = np.asarray(augmentation(bright_pixel(3000), training=True))[..., 0]
    erased = ((images > 0) & (images < 255)).any(axis=(1, 2))
    on_right, on_left = images[:, CENTER, CENTER + 8] == 255, images[:, CENTER, CENTER - 8] == 255
    visible = on_right | on_left  # unless the rectangle covers the pixel
    agreement = (erased == on_left)[visible].mean()
    assert 0.45 < agreement < 0.55, agreement
    assert_uncorrelated(flipped=on_left[visible], erased=erased[visible])


def test_a_seed_reproduces_the_augmentation_and_another_seed_changes_it(fashion_mnist):
    images = fashion_mnist.x_train[:64].astype("float32")
    first, again, other = (
        build_augmentation(**ALL_KNOBS, seed=seed)(images, training=True) for seed in (1, 1, 2)
    )
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)


def test_draws_at_a_step_depend_on_the_seed_and_step_alone(fashion_mnist):
    images = fashion_mnist.x_train[:32].astype("float32")
    augmentation = build_augmentation(**ALL_KNOBS, seed=5)
    at_three = augment_at_step(augmentation, images, 3)
    augmentation(images, training=True)  # stateful calls in between change nothing
    np.testing.assert_array_equal(augment_at_step(augmentation, images, 3), at_three)
    fresh = build_augmentation(**ALL_KNOBS, seed=5)  # as after a restart
    np.testing.assert_array_equal(augment_at_step(fresh, images, 3), at_three)
    assert not np.allclose(augment_at_step(fresh, images, 4), at_three)
    other_seed = build_augmentation(**ALL_KNOBS, seed=6)
    assert not np.allclose(augment_at_step(other_seed, images, 3), at_three)


@pytest.mark.parametrize(
    "angle, expected",
    [(90, (CENTER - 8, CENTER)), (-90, (CENTER + 8, CENTER)), (180, (CENTER, CENTER - 8))],
)
def test_rotation_turns_the_content_counter_clockwise(angle, expected):
    rotated = np.asarray(rotate_and_zoom(bright_pixel(1), [angle], [1.0]))[0, ..., 0]
    assert np.unravel_index(rotated.argmax(), rotated.shape) == expected
    assert rotated.max() == pytest.approx(255.0, abs=1e-3)
    assert rotated.sum() == pytest.approx(255.0, abs=1e-2)


def test_rotation_by_an_arbitrary_angle_and_zoom_move_the_centroid_where_expected():
    row, col = centroids(rotate_and_zoom(bright_pixel(1), [30.0], [1.0]))
    np.testing.assert_allclose([row[0], col[0]], [-8 * 0.5, 8 * np.sqrt(3) / 2], atol=0.1)
    # A factor of 0.5 samples half the field: the content doubles in size around the centre.
    row, col = centroids(rotate_and_zoom(bright_pixel(1, col=CENTER + 4), [0.0], [0.5]))
    np.testing.assert_allclose([row[0], col[0]], [0.0, 8.0], atol=0.1)


def test_shift_moves_the_content_by_whole_pixels_and_fills_zero():
    shifted = np.asarray(shift_images(bright_pixel(1), [2], [-3]))[0, ..., 0]
    assert np.argwhere(shifted).tolist() == [[CENTER + 2, CENTER + 8 - 3]]
    ones = np.asarray(shift_images(np.ones((1, SIDE, SIDE, 1), "float32"), [2], [-3]))[0, ..., 0]
    assert not ones[:2].any() and not ones[:, -3:].any() and ones[2:, :-3].all()


def test_random_shift_draws_whole_pixels_within_the_range():
    row, col = centroids(RandomShift(0.1, 0.1, seed=0)(bright_pixel(2000), training=True))
    assert np.array_equal(row, np.round(row)) and np.array_equal(col, np.round(col))
    assert set(np.unique(row)) == set(range(-3, 4))  # round(0.1 * 29) = 3
    assert set(np.unique(col - 8)) == set(range(-3, 4))


def test_random_erasing_follows_zhong_et_al():
    images = np.asarray(RandomErasing(0.5, seed=0)(np.zeros((2000, 32, 32, 1)), training=True))
    changed = images[..., 0] > 0
    erased = changed.any(axis=(1, 2))
    assert 0.45 < erased.mean() < 0.55
    assert images.min() >= 0.0 and images.max() <= 255.0 and images[changed].std() > 60
    for mask in changed[erased][:200]:
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        box = mask[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
        assert box.all()  # a rectangle
        assert 0.015 <= box.size / mask.size <= 0.42
        assert 0.2 <= box.shape[0] / box.shape[1] <= 4.0
    always = RandomErasing(1.0, seed=0)(np.zeros((500, 32, 32, 1)), training=True)
    assert np.asarray(always).any(axis=(1, 2, 3)).mean() > 0.99


@pytest.mark.parametrize(
    "knob, value",
    [
        ("horizontal_flip", 0.4),
        ("rotation_range", 30),
        ("zoom_range", 0.3),
        ("width_shift_range", 0.2),
        ("height_shift_range", 0.2),
        ("random_erasing", 0.5),
    ],
)
def test_xla_draws_the_same_distribution_as_eager(knob, value):
    probes = bright_pixel(2000)
    eager = build_augmentation(**{knob: value}, seed=0)
    compiled = build_augmentation(**{knob: value}, seed=0)
    under_xla = tf.function(lambda x: compiled(x, training=True), jit_compile=True)
    reference = transform_statistics(probes, eager(probes, training=True))
    stats = transform_statistics(probes, under_xla(probes))
    assert not np.array_equal(stats, reference)  # XLA draws other numbers, from the same law
    standard_error = reference.std(axis=1) / np.sqrt(len(probes))
    np.testing.assert_array_less(
        np.abs(stats.mean(axis=1) - reference.mean(axis=1)), 5 * standard_error + 1e-3
    )
    np.testing.assert_allclose(stats.std(axis=1), reference.std(axis=1), rtol=0.1, atol=1e-3)


def test_layers_do_nothing_unless_training():
    images = np.random.default_rng(0).uniform(0, 255, (4, SIDE, SIDE, 1)).astype("float32")
    augmentation = build_augmentation(**ALL_KNOBS, seed=0)
    before = [np.array(variable) for variable in augmentation.variables]
    np.testing.assert_array_equal(augmentation(images, training=False), images)
    for old, new in zip(before, augmentation.variables):
        np.testing.assert_array_equal(old, new)


def test_augmentation_stays_float32_under_a_mixed_policy():
    images = np.full((4, SIDE, SIDE, 1), 100.3, "float32")
    images[:, :, 0] = 0.0
    try:
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
        augmentation = build_augmentation(horizontal_flip=1.0)
        flipped = augmentation(images, training=True)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert flipped.dtype == tf.float32
    np.testing.assert_array_equal(flipped, images[:, :, ::-1])


@pytest.mark.parametrize(
    "layer",
    [
        RandomHorizontalFlip(0.3, seed=1),
        RandomAffine(12.0, 0.1, seed=2),
        RandomShift(0.1, 0.2, seed=3),
        RandomErasing(0.4, area_range=(0.05, 0.2), aspect_ratio_range=(0.5, 2.0), seed=4),
    ],
    ids=lambda layer: type(layer).__name__,
)
def test_layers_round_trip_through_their_config(layer):
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(restored) is type(layer)
    assert restored.get_config() == layer.get_config()
    images = bright_pixel(8)
    np.testing.assert_array_equal(restored(images, training=True), layer(images, training=True))


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: RandomHorizontalFlip(1.5), "Received: probability=1.5"),
        (lambda: RandomAffine(rotation_range=-1), "Received: rotation_range=-1"),
        (lambda: RandomAffine(zoom_range=1.5), "Received: zoom_range=1.5"),
        (lambda: RandomShift(width_shift_range=2), "Received: width_shift_range=2"),
        (lambda: RandomErasing(area_range=(0.5, 0.1)), r"Received: area_range=\(0.5, 0.1\)"),
        (lambda: RandomErasing(aspect_ratio_range=(0, 1)), "Received: aspect_ratio_range"),
        (lambda: RandomErasing(seed=1.5), "Received: seed=1.5"),
        (lambda: build_augmentation(rotation_range=200), "Received: rotation_range=200"),
    ],
)
def test_invalid_arguments_are_rejected(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_no_knob_means_no_augmentation():
    assert build_augmentation() is None
