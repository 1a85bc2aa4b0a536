"""Fixtures shared by the model tests: real Fashion-MNIST images and cached default models."""

import numpy as np
import pytest

NUM_REAL_IMAGES = 64


@pytest.fixture(scope="session")
def real_batch(fashion_mnist):
    """The first 64 training images (float32 in [0, 255], NHWC) and their int32 labels."""
    images = fashion_mnist.x_train[:NUM_REAL_IMAGES].astype(np.float32)
    return images, fashion_mnist.y_train[:NUM_REAL_IMAGES].astype(np.int32)


@pytest.fixture(scope="session")
def default_model():
    """Returns the registry entry `name` with default arguments, built once per test session."""
    from models import build_model

    built = {}

    def get(name):
        if name not in built:
            built[name] = build_model(name)
        return built[name]

    return get
