"""Fixtures shared by the model tests: real Fashion-MNIST images and cached default models."""

import gzip
import os
from pathlib import Path

import numpy as np
import pytest

# Set before any test module imports TensorFlow (through keras or models).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

NUM_REAL_IMAGES = 64
IMAGE_BYTES = 28 * 28
# ../shared/data/fashion-mnist seen from the repository root, wherever pytest runs from.
SHARED_DATA_PATH = Path(__file__).resolve().parents[3] / "shared" / "data" / "fashion-mnist"


@pytest.fixture(scope="session")
def real_batch():
    """The first 64 training images (float32 in [0, 255], NHWC) and their int32 labels."""
    data_path = Path(os.environ.get("DATA_PATH", SHARED_DATA_PATH))
    with gzip.open(data_path / "train-images-idx3-ubyte.gz", "rb") as file:
        file.read(16)  # IDX header: magic, count, rows, columns
        pixels = file.read(NUM_REAL_IMAGES * IMAGE_BYTES)
    with gzip.open(data_path / "train-labels-idx1-ubyte.gz", "rb") as file:
        file.read(8)  # IDX header: magic, count
        labels = file.read(NUM_REAL_IMAGES)
    images = np.frombuffer(pixels, np.uint8).reshape(NUM_REAL_IMAGES, 28, 28, 1)
    return images.astype(np.float32), np.frombuffer(labels, np.uint8).astype(np.int32)


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
