"""Fashion-MNIST from the official IDX files: verify, download when missing, parse, split."""

import gzip
import hashlib
from pathlib import Path
from typing import NamedTuple

import numpy as np

import config

CLASS_NAMES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
NUM_CLASSES = len(CLASS_NAMES)
IMAGE_SHAPE = (28, 28, 1)

# Official md5 sums (README of zalandoresearch/fashion-mnist).
FILES = {
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
}
TEST_PREFIX = "t10k"  # the test set's files
MIRRORS = (
    "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
)
_IDX_MAGIC = {1: 0x00000801, 3: 0x00000803}  # unsigned bytes, by number of dimensions


class DatasetFileError(ValueError):
    """A dataset file exists but is corrupt, truncated or not the official file."""


class FashionMNIST(NamedTuple):
    x_train: np.ndarray  # (60000, 28, 28, 1) uint8
    y_train: np.ndarray  # (60000,) uint8
    x_test: np.ndarray  # (10000, 28, 28, 1) uint8
    y_test: np.ndarray  # (10000,) uint8


def md5sum(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """Parses a gzip-compressed IDX file of unsigned bytes with `ndim` dimensions.

    Raises `DatasetFileError` naming the file when it is not valid gzip, has the wrong magic
    number, or holds fewer or more bytes than its header announces.
    """
    path = Path(path)
    try:
        with gzip.open(path, "rb") as file:
            raw = file.read()
    except (OSError, EOFError) as error:
        raise DatasetFileError(
            f"{path} is not a readable gzip file ({error}). It is truncated or corrupt: "
            "delete it so that it is downloaded again, or replace it with the official file."
        ) from error
    header_size = 4 * (ndim + 1)
    if len(raw) < header_size:
        raise DatasetFileError(f"{path} is too short to hold an IDX header ({len(raw)} bytes).")
    magic = int.from_bytes(raw[:4], "big")
    if magic != _IDX_MAGIC[ndim]:
        raise DatasetFileError(
            f"{path} has magic number {magic:#010x}, expected {_IDX_MAGIC[ndim]:#010x} "
            f"(IDX, unsigned bytes, {ndim} dimension(s)). Is it the right file?"
        )
    dims = tuple(int.from_bytes(raw[4 * (i + 1) : 4 * (i + 2)], "big") for i in range(ndim))
    expected = int(np.prod(dims)) + header_size
    if len(raw) != expected:
        raise DatasetFileError(
            f"{path} holds {len(raw)} bytes but its header {dims} announces {expected}. "
            "The file is truncated or corrupt: delete it and download it again."
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header_size).reshape(dims)


def _download(name: str, directory: Path) -> None:
    import keras  # deferred: reading local files must not need Keras

    errors = []
    for mirror in MIRRORS:
        try:
            keras.utils.get_file(
                fname=name,
                origin=mirror + name,
                file_hash=FILES[name],
                hash_algorithm="md5",
                cache_dir=str(directory),
                cache_subdir="",
            )
            return
        except Exception as error:  # get_file raises bare Exception on network failure
            errors.append(f"{mirror}: {error}")
    raise FileNotFoundError(
        f"{directory / name} is missing and could not be downloaded:\n  "
        + "\n  ".join(errors)
        + f"\nPut the four official Fashion-MNIST files ({', '.join(FILES)}) in {directory}, "
        "or set DATA_PATH to the folder that holds them."
    )


def ensure_files(directory: Path | None = None, download: bool = True,
                 with_test: bool = True) -> Path:
    """Checks the four official files in `directory` (default `config.DATA_PATH`), or the two
    of the training set without `with_test`.

    Missing files are downloaded from the official mirrors when `download` is true. A file whose
    md5 differs from the official sum is never used: the error says how to get a fresh copy.
    """
    directory = Path(directory or config.DATA_PATH)
    if directory.exists() and not directory.is_dir():
        raise FileNotFoundError(
            f"The dataset path {directory} is a file, but it must be a folder: the one that holds "
            f"(or will receive) the four Fashion-MNIST files ({', '.join(FILES)}). Set DATA_PATH "
            "to that folder."
        )
    for name, md5 in FILES.items():
        if not with_test and name.startswith(TEST_PREFIX):
            continue
        path = directory / name
        if not path.exists():
            if not download:
                raise FileNotFoundError(
                    f"{path} is missing. Put the official Fashion-MNIST files in {directory} "
                    "or set DATA_PATH to the folder that holds them."
                )
            _download(name, directory)
        actual = md5sum(path)
        if actual != md5:
            raise DatasetFileError(
                f"{path} has md5 {actual}, but the official file has {md5}. Delete it and run "
                "again to download a fresh copy, or copy the official file there."
            )
    return directory


def load_fashion_mnist(directory: Path | None = None, download: bool = True,
                       with_test: bool = True) -> FashionMNIST:
    """Loads the official train (60,000) and test (10,000) sets as uint8 arrays, images NHWC.
    Without `with_test` (a search, which never reads the test set), the test files are neither
    needed, read nor downloaded, and the test arrays are empty."""
    directory = ensure_files(directory, download, with_test=with_test)
    arrays = {TEST_PREFIX: (np.empty((0, *IMAGE_SHAPE), np.uint8), np.empty(0, np.uint8))}
    for split in ("train", TEST_PREFIX) if with_test else ("train",):
        images = read_idx(directory / f"{split}-images-idx3-ubyte.gz", ndim=3)
        labels = read_idx(directory / f"{split}-labels-idx1-ubyte.gz", ndim=1)
        if len(images) != len(labels) or images.shape[1:] != IMAGE_SHAPE[:2]:
            raise DatasetFileError(
                f"{directory}: {split} images have shape {images.shape} but labels have "
                f"{len(labels)} entries; expected N x 28 x 28 images and N labels."
            )
        arrays[split] = (images[..., np.newaxis], labels)
    return FashionMNIST(*arrays["train"], *arrays[TEST_PREFIX])


def train_val_split(
    labels: np.ndarray, val_size: int, seed: int = 0, limit_train: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Stratified, seeded split of training indices into (train, validation).

    `limit_train` keeps a stratified subset of that many training images (smoke runs).
    """
    from sklearn.model_selection import train_test_split

    num_train = len(labels) - val_size
    if not NUM_CLASSES <= val_size < len(labels) - NUM_CLASSES:
        raise ValueError(
            f"val_size must be between {NUM_CLASSES} and {len(labels) - NUM_CLASSES - 1} "
            f"for a training set of {len(labels)} images. Received: val_size={val_size}"
        )
    if limit_train is not None and not NUM_CLASSES <= limit_train <= num_train:
        raise ValueError(
            f"limit_train must be between {NUM_CLASSES} and {num_train} (training images left "
            f"after the validation split). Received: limit_train={limit_train}"
        )
    indices = np.arange(len(labels))
    train_idx, val_idx = train_test_split(
        indices, test_size=val_size, stratify=labels, random_state=seed
    )
    if limit_train is not None and limit_train < len(train_idx):
        train_idx, _ = train_test_split(
            train_idx, train_size=limit_train, stratify=labels[train_idx], random_state=seed
        )
    return np.sort(train_idx), np.sort(val_idx)
