import keras
import pytest

from models.simple_cnn import conv_relu

# At 28x28x1 with 10 classes: conv1 5*5*1*32 + 32 = 832, conv2 5*5*32*32 + 32 = 25,632,
# conv3 3*3*32*64 + 64 = 18,496, conv4 and conv5 3*3*64*64 + 64 = 36,928 each, two poolings
# leave 7*7*64 = 3,136 features, dense 3,136*200 + 200 = 627,400, dense_bn 4*200 = 800 and
# logits 200*10 + 10 = 2,010. With BatchNorm after the convolutions (simple-cnn-bn), they lose
# their 256 biases and gain 4 * 256 BatchNorm parameters.
SIMPLE_CNN_PARAMETERS = 832 + 25_632 + 18_496 + 2 * 36_928 + 627_400 + 800 + 2_010
PARAMETERS = {
    "simple-cnn": SIMPLE_CNN_PARAMETERS,
    "simple-cnn-bn": SIMPLE_CNN_PARAMETERS - 256 + 4 * 256,
}


@pytest.mark.parametrize(("name", "expected"), PARAMETERS.items())
def test_parameter_count(name, expected, default_model):
    assert default_model(name).count_params() == expected


def test_parameter_counts_are_the_documented_ones():
    assert PARAMETERS == {"simple-cnn": 749_026, "simple-cnn-bn": 749_794}


@pytest.mark.parametrize("with_batchnorm", [False, True])
def test_conv_relu_alone(with_batchnorm):
    inputs = keras.Input((28, 28, 1))
    block = keras.Model(inputs, conv_relu(inputs, 32, 5, "c", with_batchnorm))
    names = [layer.name for layer in block.layers[1:]]
    assert block.output.shape == (None, 28, 28, 32)
    assert names == (["c", "c_bn", "c_relu"] if with_batchnorm else ["c", "c_relu"])
    # A bias before BatchNorm would only duplicate its offset.
    assert block.get_layer("c").use_bias is not with_batchnorm
