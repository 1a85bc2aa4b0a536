import keras
import pytest

from models.fast_cnn import FastCNN, pooled_stage


def conv_bn_parameters(inputs, outputs, kernel=3):
    # A bias-free convolution, then BatchNorm's gamma, beta, moving mean and variance.
    return kernel * kernel * inputs * outputs + 4 * outputs


def test_parameter_count_of_the_default_widths():
    stem, widths = 24, (48, 96, 192)
    expected = conv_bn_parameters(1, stem)
    previous = stem
    for width in widths:
        expected += conv_bn_parameters(previous, width) + conv_bn_parameters(width, width)
        previous = width
    expected += 192 * 10 + 10  # the classifier
    assert FastCNN().count_params() == expected == 658_114


def test_each_stage_halves_the_side_and_sets_the_width():
    x = keras.Input((28, 28, 24))
    assert pooled_stage(x, 48, "a").shape == (None, 14, 14, 48)
    model = FastCNN(widths=(8, 16, 32), stem_width=4)
    sides = [model.get_layer(f"stage{i}_conv2").output.shape[1] for i in (1, 2, 3)]
    assert sides == [14, 7, 3]


def test_config_round_trip_and_argument_checks():
    model = FastCNN(stem_width=8, widths=(16, 32))
    again = FastCNN.from_config(model.get_config())
    assert again.count_params() == model.count_params() and again.output_shape == (None, 10)
    with pytest.raises(ValueError, match="widths must be one or more positive channel counts"):
        FastCNN(widths=())
    with pytest.raises(ValueError, match="at least 16 pixels for 4 stages"):
        FastCNN(input_shape=(8, 8, 1), widths=(8, 8, 8, 8))
