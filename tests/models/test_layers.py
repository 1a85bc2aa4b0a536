import keras
import numpy as np
import pytest

from models.layers import classifier_head

# One input row (-1, 0, 0, 0) and logits (-50, 0, 0) through a 50 x first-feature kernel: the true
# class 0 has probability e^-50 / (2 + e^-50). From the logits the loss is 50 + log(2 + e^-50);
# from probabilities clipped to [1e-7, 1 - 1e-7] it would be -log(1e-7) = 16.12, with no gradient.
LOSS_FROM_LOGITS = 50.0 + np.log(2.0)


def saturated_classifier():
    inputs = keras.Input((4,))
    model = keras.Model(inputs, classifier_head(inputs, num_classes=3))
    kernel = np.zeros((4, 3), np.float32)
    kernel[0, 0] = 50.0
    model.get_layer("logits").set_weights([kernel, np.zeros(3, np.float32)])
    return model


@pytest.mark.parametrize("policy", ["float32", "mixed_bfloat16"])
def test_compiled_crossentropy_of_the_softmax_head_is_computed_from_its_logits(policy):
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(policy)
    try:
        model = saturated_classifier()
    finally:
        keras.mixed_precision.set_global_policy(previous)
    model.compile(keras.optimizers.SGD(0.01), loss="sparse_categorical_crossentropy")
    features = np.tile(np.float32([[-1.0, 0.0, 0.0, 0.0]]), (4, 1))
    labels = np.zeros(4, np.int32)

    loss = model.evaluate(features, labels, verbose=0)
    history = model.fit(features, labels, batch_size=4, epochs=1, shuffle=False, verbose=0)

    assert loss == pytest.approx(LOSS_FROM_LOGITS, rel=1e-5)
    assert history.history["loss"][0] == pytest.approx(LOSS_FROM_LOGITS, rel=1e-5)
    # d loss / d kernel[0, 0] = (p0 - 1) * x0 = 1, so SGD moves it by the learning rate.
    assert model.get_layer("logits").kernel.numpy()[0, 0] == pytest.approx(50.0 - 0.01)
