import pytest

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
