import keras
import numpy as np
import pytest

from models.mobilenet_v2 import MobileNetV2, inverted_residual_block, make_divisible

# (all, trainable) at 28x28x1 with 10 classes; the difference is BatchNorm's moving means and
# variances. Both totals are also what keras.applications.MobileNetV2(weights=None, classes=10,
# alpha=...) counts with a 1-channel input.
PARAMETERS = {"mobilenet-v2": (2_270_218, 2_236_106), "mobilenet-v2-0.5": (718_746, 700_202)}


@pytest.mark.parametrize(("name", "expected"), PARAMETERS.items())
def test_parameter_count(name, expected, default_model):
    model = default_model(name)
    trainable = sum(int(np.prod(weight.shape)) for weight in model.trainable_weights)
    assert (model.count_params(), trainable) == expected


@pytest.mark.parametrize(
    ("value", "expected"), [(16.0, 16), (4.0, 8), (18.0, 24), (20.0, 24), (1792.0, 1792)]
)
def test_make_divisible_rounds_to_multiples_of_8_losing_at_most_10_percent(value, expected):
    assert make_divisible(value) == expected


def test_feature_maps_end_at_4x4(default_model):
    model = default_model("mobilenet-v2")
    spatial = {
        layer: model.get_layer(layer).output.shape[1:3]
        for layer in (
            "stem_conv",
            "block2_project",
            "block3_project",
            "block6_project",
            "block12_project",
            "block13_project",
            "last_conv",
        )
    }
    assert spatial == {
        "stem_conv": (28, 28),
        "block2_project": (28, 28),  # 24 channels
        "block3_project": (14, 14),  # 32
        "block6_project": (7, 7),  # 64
        "block12_project": (7, 7),  # 96
        "block13_project": (4, 4),  # 160
        "last_conv": (4, 4),
    }


def test_residual_connections_only_where_stride_and_channels_are_kept(default_model):
    names = {layer.name for layer in default_model("mobilenet-v2").layers}
    assert "block0_add" not in names  # 32 -> 16 channels
    assert "block1_add" not in names  # 16 -> 24 channels
    assert "block2_add" in names
    assert "block3_add" not in names  # stride 2
    assert "block16_add" not in names  # 160 -> 320 channels
    assert sum(name.endswith("_add") for name in names) == 10


def test_first_block_has_no_expansion_and_projections_are_linear(default_model):
    model = default_model("mobilenet-v2")
    names = {layer.name for layer in model.layers}
    assert "block0_expand" not in names
    assert model.get_layer("block1_expand").filters == 16 * 6
    assert not any(name.startswith("block1_project_relu") for name in names)


def test_width_multiplier_scales_all_but_the_last_convolution(default_model):
    half = default_model("mobilenet-v2-0.5")
    assert half.get_layer("stem_conv").filters == 16
    assert half.get_layer("block16_project").filters == 160
    assert half.get_layer("last_conv").filters == 1280
    wide = MobileNetV2(alpha=1.4, stage_repeats=(1,) * 7)
    assert wide.get_layer("last_conv").filters == 1792


def test_rejects_invalid_arguments():
    with pytest.raises(ValueError, match="Received: alpha="):
        MobileNetV2(alpha=0.0)
    with pytest.raises(ValueError, match="Received: stage_repeats="):
        MobileNetV2(stage_repeats=(1, 2, 3))


@pytest.mark.parametrize(
    ("input_shape", "expansion", "filters", "strides", "output_shape"),
    [
        ((28, 28, 16), 6, 24, 2, (None, 14, 14, 24)),  # stride 2 halves the side
        ((14, 14, 24), 6, 24, 1, (None, 14, 14, 24)),  # residual
        ((28, 28, 32), 1, 16, 1, (None, 28, 28, 16)),  # no expansion, channels change
    ],
)
def test_inverted_residual_block_alone(input_shape, expansion, filters, strides, output_shape):
    inputs = keras.Input(input_shape)
    block = keras.Model(inputs, inverted_residual_block(inputs, expansion, filters, strides, "b"))
    names = {layer.name for layer in block.layers}

    assert block.output.shape == output_shape
    assert block.get_layer("b_depthwise").strides == (strides, strides)
    assert ("b_expand" in names) == (expansion != 1)
    if expansion != 1:
        assert block.get_layer("b_expand").filters == input_shape[-1] * expansion
    assert ("b_add" in names) == (strides == 1 and input_shape[-1] == filters)
    assert "b_project_relu6" not in names


def test_inverted_residual_block_adds_its_input_back():
    inputs = keras.Input((7, 7, 8))
    block = keras.Model(inputs, inverted_residual_block(inputs, 6, 8, 1, "b"))
    projection = block.get_layer("b_project")
    projection.kernel.assign(np.zeros(projection.kernel.shape, np.float32))
    images = np.random.default_rng(0).normal(size=(2, 7, 7, 8)).astype(np.float32)
    # A zero projection leaves only the shortcut (BatchNorm maps 0 to its offset, 0 when fresh).
    np.testing.assert_array_equal(block(images, training=False), images)
