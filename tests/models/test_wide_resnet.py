import keras
import numpy as np
import pytest

from models.wide_resnet import WideResNet, wide_basic_block

# name: (depth, width, all parameters at 28x28x1 with 10 classes, the paper's rounded count).
PARAMETERS = {
    "wrn-16-4": (16, 4, 2_752_218, 2.7e6),
    "wrn-28-10": (28, 10, 36_496_858, 36.5e6),
    "wrn-40-4": (40, 4, 8_959_706, 8.9e6),
}


def layer_names(model):
    return {layer.name for layer in model.layers}


def wrn_parameter_count(depth, width, channels=1, classes=10):
    """Counted by hand: a BatchNorm has 4 parameters per channel, convolutions have no bias."""
    total = 3 * 3 * channels * 16  # stem
    in_filters = 16
    for group, filters in enumerate((16 * width, 32 * width, 64 * width)):
        for index in range((depth - 4) // 6):
            # BN, Conv 3x3, BN, Conv 3x3, and a 1x1 shortcut where the shape changes.
            total += 4 * in_filters + 9 * in_filters * filters + 4 * filters + 9 * filters**2
            if in_filters != filters or (index == 0 and group > 0):
                total += in_filters * filters
            in_filters = filters
    return total + 4 * in_filters + in_filters * classes + classes  # final BN and classifier


@pytest.mark.parametrize(("name", "expected"), PARAMETERS.items())
def test_parameter_count(name, expected, default_model):
    depth, width, parameters, paper_parameters = expected
    count = default_model(name).count_params()
    assert count == wrn_parameter_count(depth, width) == parameters
    assert count == pytest.approx(paper_parameters, rel=0.02)


@pytest.mark.parametrize(("name", "blocks_per_group"), [("wrn-16-4", 2), ("wrn-40-4", 6)])
def test_depth_is_six_blocks_per_group_plus_four(name, blocks_per_group, default_model):
    names = layer_names(default_model(name))
    assert f"group3_block{blocks_per_group - 1}_conv2" in names
    assert f"group3_block{blocks_per_group}_conv2" not in names


def test_groups_widen_and_downsample():
    model = WideResNet(depth=10, width=2)
    shapes = [model.get_layer(f"group{group}_block0_add").output.shape for group in (1, 2, 3)]
    assert shapes == [(None, 28, 28, 32), (None, 14, 14, 64), (None, 7, 7, 128)]


def test_projection_shortcut_only_where_shape_changes():
    names = layer_names(WideResNet(depth=16, width=1))
    assert "group1_block0_shortcut" not in names  # 16 -> 16 filters, stride 1
    assert {"group2_block0_shortcut", "group3_block0_shortcut"} <= names
    assert "group2_block1_shortcut" not in names
    shortcut = WideResNet(depth=10, width=2).get_layer("group2_block0_shortcut")
    assert shortcut.kernel_size == (1, 1)
    assert shortcut.strides == (2, 2)


def test_dropout_sits_between_the_two_convolutions():
    model = WideResNet(depth=10, width=1, dropout=0.3)
    dropout = model.get_layer("group1_block0_dropout")
    assert dropout.rate == 0.3
    assert dropout.input is model.get_layer("group1_block0_mid_relu").output
    assert model.get_layer("group1_block0_conv2").input is dropout.output
    plain = WideResNet(depth=10, width=1, dropout=0.0)
    assert not any(isinstance(layer, keras.layers.Dropout) for layer in plain.layers)


@pytest.mark.parametrize("depth", [4, 12, 27])
def test_rejects_depth_that_is_not_6n_plus_4(depth):
    with pytest.raises(ValueError, match="Received: depth="):
        WideResNet(depth=depth, width=1)


def test_rejects_invalid_dropout():
    with pytest.raises(ValueError, match="Received: dropout="):
        WideResNet(depth=10, width=1, dropout=1.0)


def test_wide_basic_block_alone_widens_and_halves_the_side_through_a_projection():
    inputs = keras.Input((28, 28, 64))
    block = keras.Model(inputs, wide_basic_block(inputs, 128, 2, 0.3, "b"))
    assert block.output.shape == (None, 14, 14, 128)
    shortcut = block.get_layer("b_shortcut")
    assert (shortcut.kernel_size, shortcut.strides) == ((1, 1), (2, 2))
    assert shortcut.input is block.get_layer("b_preact_relu").output
    assert block.get_layer("b_conv1").strides == (2, 2)
    assert block.get_layer("b_dropout").rate == 0.3


def test_wide_basic_block_alone_adds_its_input_where_the_shape_is_kept():
    inputs = keras.Input((7, 7, 16))
    block = keras.Model(inputs, wide_basic_block(inputs, 16, 1, 0.0, "b"))
    names = layer_names(block)
    assert "b_shortcut" not in names and "b_dropout" not in names
    conv2 = block.get_layer("b_conv2")
    conv2.kernel.assign(np.zeros(conv2.kernel.shape, np.float32))
    features = np.random.default_rng(0).normal(size=(2, 7, 7, 16)).astype(np.float32)
    np.testing.assert_array_equal(block(features, training=False), features)
