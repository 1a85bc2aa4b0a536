import keras
import numpy as np
import pytest
import tensorflow as tf

from models.shufflenet_v2 import (
    STAGE_CHANNELS,
    ChannelShuffle,
    ChannelSplit,
    ShuffleNetV2,
    shuffle_unit,
)

# (all, trainable) at 28x28x1 with 10 classes; the difference is BatchNorm's moving means and
# variances. 1.0x's 1,263,422 trainable is torchvision's shufflenet_v2_x1_0 with a 1-channel stem
# and 10 classes.
PARAMETERS = {
    "shufflenet-v2-0.5": (359_562, 351_610),
    "shufflenet-v2-1.0": (1_279_602, 1_263_422),
    "shufflenet-v2-1.5": (2_511_882, 2_488_442),
    "shufflenet-v2-2.0": (5_398_770, 5_365_054),
}
ENTRY_WIDTHS = {
    "shufflenet-v2-0.5": 0.5,
    "shufflenet-v2-1.0": 1.0,
    "shufflenet-v2-1.5": 1.5,
    "shufflenet-v2-2.0": 2.0,
}


@pytest.mark.parametrize(("groups", "expected"), [(2, [0, 3, 1, 4, 2, 5]), (3, [0, 2, 4, 1, 3, 5])])
def test_channel_shuffle_interleaves_groups(groups, expected):
    channels = np.broadcast_to(np.arange(6, dtype=np.float32), (2, 3, 3, 6))
    shuffled = np.asarray(ChannelShuffle(groups)(channels))
    np.testing.assert_array_equal(shuffled, np.broadcast_to(np.float32(expected), (2, 3, 3, 6)))


def test_channel_shuffle_handles_an_unknown_batch_size_in_graphs():
    shuffle = ChannelShuffle(2)
    traced = tf.function(shuffle, input_signature=[tf.TensorSpec((None, 2, 2, 4), tf.float32)])
    channels = np.broadcast_to(np.arange(4, dtype=np.float32), (5, 2, 2, 4))
    np.testing.assert_array_equal(np.asarray(traced(channels))[0, 0, 0], [0, 2, 1, 3])


def test_channel_shuffle_config_round_trip():
    restored = ChannelShuffle.from_config(ChannelShuffle(3, name="shuffle").get_config())
    assert (restored.groups, restored.name) == (3, "shuffle")
    with pytest.raises(ValueError, match="Received: groups="):
        ChannelShuffle(0)


def test_channel_split_halves_the_channels():
    channels = np.broadcast_to(np.arange(6, dtype=np.float32), (1, 2, 2, 6))
    first, second = ChannelSplit()(channels)
    np.testing.assert_array_equal(np.asarray(first)[0, 0, 0], [0, 1, 2])
    np.testing.assert_array_equal(np.asarray(second)[0, 0, 0], [3, 4, 5])


@pytest.mark.parametrize(("name", "expected"), PARAMETERS.items())
def test_parameter_count(name, expected, default_model):
    model = default_model(name)
    trainable = sum(int(np.prod(weight.shape)) for weight in model.trainable_weights)
    assert (model.count_params(), trainable) == expected


@pytest.mark.parametrize("name", ENTRY_WIDTHS)
def test_stages_follow_the_paper_and_end_at_4x4(name, default_model):
    model = default_model(name)
    (stage2, stage3, stage4), final_channels = STAGE_CHANNELS[ENTRY_WIDTHS[name]]
    shapes = [
        model.get_layer(layer).output.shape
        for layer in ("stem_conv", "stage2_unit3_shuffle", "stage3_unit7_shuffle", "conv5")
    ]
    assert shapes == [
        (None, 28, 28, 24),
        (None, 14, 14, stage2),
        (None, 7, 7, stage3),
        (None, 4, 4, final_channels),
    ]
    assert model.get_layer("stage4_unit3_shuffle").output.shape == (None, 4, 4, stage4)
    names = {layer.name for layer in model.layers}
    assert "stage4_unit4_shuffle" not in names
    assert not any("pool" in name and name != "avg_pool" for name in names)


def test_downsampling_unit_feeds_the_whole_input_to_both_branches(default_model):
    model = default_model("shufflenet-v2-1.0")
    stem = model.get_layer("stem_conv_relu").output
    assert model.get_layer("stage2_unit0_left_dw").input is stem
    assert model.get_layer("stage2_unit0_right_pw1").input is stem
    assert model.get_layer("stage2_unit0_left_pw").filters == 58
    assert model.get_layer("stage2_unit0_right_pw2").filters == 58
    assert model.get_layer("stage2_unit1_right_pw1").filters == 58


def test_rejects_odd_stage_channels():
    with pytest.raises(ValueError, match="Received: stage_channels="):
        ShuffleNetV2(stage_channels=(48, 95, 192))


def test_downsampling_unit_alone_halves_the_side_and_feeds_both_branches_the_input():
    inputs = keras.Input((28, 28, 24))
    unit = keras.Model(inputs, shuffle_unit(inputs, 116, 2, "u"))
    assert unit.output.shape == (None, 14, 14, 116)
    assert unit.get_layer("u_left_dw").input is inputs
    assert unit.get_layer("u_right_pw1").input is inputs
    assert unit.get_layer("u_left_dw").strides == unit.get_layer("u_right_dw").strides == (2, 2)
    assert unit.get_layer("u_left_pw").filters == unit.get_layer("u_right_pw2").filters == 58


def test_basic_unit_alone_passes_half_of_its_channels_through():
    inputs = keras.Input((7, 7, 8))
    unit = keras.Model(inputs, shuffle_unit(inputs, 8, 1, "u"))
    features = np.random.default_rng(0).normal(size=(2, 7, 7, 8)).astype(np.float32)
    outputs = np.asarray(unit(features, training=False))
    assert outputs.shape == (2, 7, 7, 8)
    # The shuffle puts the untouched first half on the even channels.
    np.testing.assert_array_equal(outputs[..., 0::2], features[..., :4])


def test_shuffle_unit_rejects_other_strides_and_a_channel_change_at_stride_1():
    inputs = keras.Input((8, 8, 16))
    with pytest.raises(ValueError, match="Received: strides=3"):
        shuffle_unit(inputs, 16, 3, "u")
    with pytest.raises(ValueError, match="Received: filters=32"):
        shuffle_unit(inputs, 32, 1, "u")
