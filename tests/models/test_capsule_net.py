import keras
import numpy as np
import pytest

from models.capsule_net import (
    CapsuleNet,
    ClassCapsules,
    capsule_decoder,
    capsule_lengths,
    margin_loss,
    primary_capsule_block,
    squash,
)

SMALL_CAPSULE_NET = {"conv_filters": 32, "primary_channels": 8, "decoder_units": (64, 128)}


def small_capsule_net(**overrides):
    return CapsuleNet(**{**SMALL_CAPSULE_NET, **overrides})


def test_squash_keeps_direction_and_maps_lengths_below_one():
    vectors = np.array([[0.0, 0.0, 0.0], [0.3, 0.0, 0.4], [300.0, 400.0, 0.0]], np.float32)
    squashed = keras.ops.convert_to_numpy(squash(vectors))
    norms = np.linalg.norm(squashed, axis=-1)
    assert np.isfinite(squashed).all()
    assert (norms < 1.0).all()
    np.testing.assert_allclose(norms, [0.0, 0.25 / 1.25, 250_000 / 250_001], atol=1e-6)
    np.testing.assert_allclose(squashed[1] / norms[1], [0.6, 0.0, 0.8], rtol=1e-5)


def test_margin_loss_matches_hand_computed_values():
    lengths = np.array([[0.95, 0.3, 0.05], [0.2, 0.1, 0.5]], np.float32)
    labels = np.array([0, 2])
    # Example 1: true class above m+ costs nothing; 0.5 * (0.3 - 0.1)^2 for class 1.
    # Example 2: (0.9 - 0.5)^2 for the true class, 0.5 * (0.2 - 0.1)^2 for class 0.
    expected = [0.5 * 0.2**2, 0.4**2 + 0.5 * 0.1**2]
    loss = keras.ops.convert_to_numpy(margin_loss(labels, lengths))
    np.testing.assert_allclose(loss, expected, rtol=1e-5)


def test_default_matches_the_paper(default_model):
    model = default_model("capsnet")
    # conv1 9*9*1*256 + 256 = 20,992; primary_conv 9*9*256*(32*8) + 256 = 5,308,672;
    # class_capsules (6*6*32) * 10 * 16 * 8 = 1,474,560; decoder 160*512 + 512 + 512*1024 + 1024
    # + 1024*784 + 784 = 1,411,344. All trainable.
    assert model.count_params() == 20_992 + 5_308_672 + 1_474_560 + 1_411_344 == 8_215_568
    assert model.decoder.count_params() == 1_411_344
    assert model.get_layer("primary_capsules").output.shape == (None, 6 * 6 * 32, 8)
    assert model.get_layer("class_capsules").output.shape == (None, 10, 16)
    assert model.decoder.compute_output_shape((None, 160)) == (None, 28, 28, 1)
    assert [layer.units for layer in model.decoder.layers[:3]] == [512, 1024, 784]


def test_routing_coefficients_sum_to_one_over_class_capsules(real_batch):
    model = small_capsule_net()
    images, _ = real_batch
    coefficients = model.routing_coefficients(images[:4])
    assert coefficients.shape == (4, 6 * 6 * 8, 10)
    assert (coefficients >= 0).all()
    np.testing.assert_allclose(coefficients.sum(axis=-1), 1.0, atol=1e-5)


def reference_routing(inputs, kernel, iterations):
    """Routing-by-agreement as written in the paper (Procedure 1), in NumPy."""
    predictions = np.einsum("bid,ijkd->bijk", inputs, kernel)
    logits = np.zeros(predictions.shape[:3])
    for iteration in range(iterations):
        coefficients = np.exp(logits) / np.exp(logits).sum(axis=-1, keepdims=True)
        weighted_sum = (coefficients[..., None] * predictions).sum(axis=1)
        squared_norm = (weighted_sum**2).sum(axis=-1, keepdims=True)
        outputs = squared_norm / (1 + squared_norm) * weighted_sum / np.sqrt(squared_norm)
        if iteration < iterations - 1:
            logits = logits + (predictions * outputs[:, None]).sum(axis=-1)
    return outputs, coefficients


@pytest.mark.parametrize("iterations", [1, 3])
def test_class_capsules_route_by_agreement(iterations):
    rng = np.random.default_rng(0)
    inputs = rng.normal(size=(2, 5, 3)).astype(np.float32)
    layer = ClassCapsules(num_capsules=4, capsule_dim=2, routing_iterations=iterations)
    layer.build(inputs.shape)
    kernel = rng.normal(size=(5, 4, 2, 3)).astype(np.float32)
    layer.kernel.assign(kernel)

    outputs, coefficients = (keras.ops.convert_to_numpy(t) for t in layer.route(inputs))

    expected_outputs, expected_coefficients = reference_routing(inputs, kernel, iterations)
    np.testing.assert_allclose(outputs, expected_outputs, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(coefficients, expected_coefficients, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(coefficients.sum(axis=-1), 1.0, atol=1e-6)
    assert (np.linalg.norm(outputs, axis=-1) < 1).all()


def test_capsule_lengths_are_below_one_and_give_the_probabilities(real_batch):
    model = small_capsule_net()
    images, _ = real_batch
    features = model.capsule_features(images[:4])
    lengths = keras.ops.convert_to_numpy(capsule_lengths(features["class_capsules"]))
    assert ((lengths > 0) & (lengths < 1)).all()
    np.testing.assert_allclose(
        model(images[:4]), lengths / lengths.sum(axis=-1, keepdims=True), rtol=1e-5
    )


def test_trains_through_the_standard_compile_and_reports_its_own_loss(real_batch):
    keras.utils.set_random_seed(0)
    model = small_capsule_net()
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    images, labels = real_batch
    history = model.fit(images, labels, batch_size=16, epochs=3, verbose=0).history
    assert history["loss"][-1] < history["loss"][0]

    results = model.evaluate(images, labels, batch_size=64, verbose=0, return_dict=True)
    probabilities = model.predict(images, verbose=0)

    assert probabilities.shape == (64, 10)
    assert results["accuracy"] == pytest.approx(np.mean(probabilities.argmax(-1) == labels))
    lengths = keras.ops.convert_to_numpy(
        capsule_lengths(model.capsule_features(images)["class_capsules"])
    )
    squared_error = np.sum((model.reconstruct(images, labels) - images / 255.0) ** 2, (1, 2, 3))
    expected_loss = np.mean(
        keras.ops.convert_to_numpy(margin_loss(labels, lengths)) + 0.0005 * squared_error
    )
    assert results["loss"] == pytest.approx(expected_loss, rel=1e-4)


def test_reconstruct_masks_by_the_prediction_without_labels(real_batch):
    model = small_capsule_net()
    # Longer class capsules than at initialization, so that the decoder's input matters.
    class_capsules = model.get_layer("class_capsules")
    class_capsules.kernel.assign(class_capsules.kernel * 100.0)
    images, _ = real_batch
    predicted = np.asarray(model(images[:4])).argmax(-1)
    decoded = model.reconstruct(images[:4])
    assert decoded.shape == (4, 28, 28, 1)
    assert ((decoded >= 0) & (decoded <= 1)).all()
    np.testing.assert_allclose(decoded, model.reconstruct(images[:4], predicted), atol=1e-6)
    other_class = model.reconstruct(images[:4], (predicted + 1) % 10)
    assert np.abs(decoded - other_class).max() > 1e-3


def test_decoder_and_routing_survive_a_keras_file_round_trip(real_batch, tmp_path):
    model = small_capsule_net()
    rng = np.random.default_rng(0)
    model.decoder.set_weights(
        [weight + rng.normal(0.0, 0.01, weight.shape) for weight in model.decoder.get_weights()]
    )
    path = tmp_path / "capsnet.keras"
    model.save(path)

    loaded = keras.saving.load_model(path, safe_mode=True)

    images, labels = real_batch
    np.testing.assert_array_equal(
        loaded.reconstruct(images[:4], labels[:4]), model.reconstruct(images[:4], labels[:4])
    )
    np.testing.assert_array_equal(
        loaded.routing_coefficients(images[:4]), model.routing_coefficients(images[:4])
    )


def test_input_size_resizes_images_and_reconstructions(real_batch):
    model = small_capsule_net(input_size=32)
    images, _ = real_batch
    assert model.get_layer("primary_capsules").output.shape == (None, 8 * 8 * 8, 8)
    assert model.reconstruct(images[:2]).shape == (2, 32, 32, 1)


def test_rejects_images_too_small_for_two_9x9_convolutions():
    with pytest.raises(ValueError, match="Received: input_shape="):
        CapsuleNet(input_shape=(16, 16, 1))


@pytest.fixture
def mixed_bfloat16():
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    yield
    keras.mixed_precision.set_global_policy(previous)


def test_routing_and_squash_run_in_float32_under_mixed_precision(mixed_bfloat16, real_batch):
    mixed = small_capsule_net()
    keras.mixed_precision.set_global_policy("float32")
    reference = small_capsule_net()
    reference.set_weights(mixed.get_weights())
    images = real_batch[0][:8]

    assert mixed.get_layer("primary_conv").compute_dtype == "bfloat16"
    assert mixed.get_layer("primary_capsules").compute_dtype == "float32"
    assert mixed.get_layer("class_capsules").compute_dtype == "float32"
    assert mixed.get_layer("class_capsules").kernel.dtype == "float32"
    features = mixed.capsule_features(images)
    assert features["primary_capsules"].dtype == "float32"
    assert features["class_capsules"].dtype == "float32"
    # Given the same primary capsules, routing matches float32 to the last bit (bfloat16 routing
    # is off by about 1%); the whole model differs only through its bfloat16 convolutions.
    primary_capsules = reference.capsule_features(images)["primary_capsules"]
    np.testing.assert_allclose(
        mixed.get_layer("class_capsules")(primary_capsules),
        reference.get_layer("class_capsules")(primary_capsules),
        rtol=1e-6,
        atol=1e-9,
    )
    np.testing.assert_allclose(mixed(images), reference(images), atol=5e-3)


def test_primary_capsule_block_alone_squashes_capsules_of_the_strided_map(real_batch):
    inputs = keras.Input((28, 28, 1))
    block = keras.Model(inputs, primary_capsule_block(inputs, 16, 4, 8))
    # 28 -> 20 (valid 9x9) -> 6 (valid 9x9, stride 2): 6 * 6 positions x 4 capsule types.
    assert block.output.shape == (None, 6 * 6 * 4, 8)
    capsules = np.asarray(block(real_batch[0][:2] / 127.5 - 1.0))
    assert (np.linalg.norm(capsules, axis=-1) < 1).all()


def test_capsule_decoder_alone_outputs_pixels_in_the_image_shape():
    decoder = capsule_decoder(40, (16, 32), (20, 20, 1))
    assert [layer.units for layer in decoder.layers[:3]] == [16, 32, 400]
    pixels = np.asarray(decoder(np.ones((2, 40), np.float32)))
    assert pixels.shape == (2, 20, 20, 1)
    assert ((pixels > 0) & (pixels < 1)).all()
