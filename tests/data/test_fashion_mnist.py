import gzip
import shutil

import numpy as np
import pytest

import data.fashion_mnist as fm
from data import CLASS_NAMES, DatasetFileError, ensure_files, load_fashion_mnist, read_idx


def write_idx(path, array, magic=None):
    ndim = array.ndim
    header = (magic if magic is not None else 0x800 + ndim).to_bytes(4, "big")
    header += b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as file:
        file.write(header + array.astype(np.uint8).tobytes())


def test_read_idx_round_trips_synthetic_images(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    write_idx(tmp_path / "x.gz", images)
    np.testing.assert_array_equal(read_idx(tmp_path / "x.gz", ndim=3), images)


def test_read_idx_rejects_wrong_magic_naming_the_file(tmp_path):
    write_idx(tmp_path / "labels.gz", np.zeros(4), magic=0x803)
    with pytest.raises(DatasetFileError, match=r"labels\.gz has magic number 0x00000803"):
        read_idx(tmp_path / "labels.gz", ndim=1)


def test_read_idx_rejects_truncated_payload(tmp_path):
    path = tmp_path / "short.gz"
    images = np.zeros((3, 28, 28))
    write_idx(path, images)
    raw = gzip.decompress(path.read_bytes())[:-100]
    path.write_bytes(gzip.compress(raw))
    with pytest.raises(DatasetFileError, match=r"short\.gz holds .* truncated"):
        read_idx(path, ndim=3)


def test_read_idx_rejects_truncated_gzip_stream(tmp_path):
    path = tmp_path / "cut.gz"
    write_idx(path, np.random.default_rng(0).integers(0, 256, (50, 28, 28)))
    path.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(DatasetFileError, match=r"cut\.gz is not a readable gzip file"):
        read_idx(path, ndim=3)


def test_checksum_mismatch_is_never_used(tmp_path, data_path):
    for name in fm.FILES:
        shutil.copy(data_path / name, tmp_path / name)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.zeros(10000))
    with pytest.raises(DatasetFileError, match=r"t10k-labels-idx1-ubyte\.gz has md5 .*Delete it"):
        load_fashion_mnist(tmp_path, download=False)


def test_missing_files_offline_say_where_to_put_them(tmp_path):
    with pytest.raises(FileNotFoundError, match=rf"{tmp_path}.*DATA_PATH"):
        ensure_files(tmp_path, download=False)


def test_failed_download_says_where_to_put_the_files(tmp_path, monkeypatch):
    monkeypatch.setattr(fm, "MIRRORS", ("http://127.0.0.1:9/",))  # closed port: fails at once
    with pytest.raises(FileNotFoundError, match=r"could not be downloaded[\s\S]*Put the four"):
        ensure_files(tmp_path, download=True)
    assert not list(tmp_path.glob("*.gz"))


def test_data_path_pointing_to_a_file_says_it_must_be_a_folder(tmp_path, monkeypatch):
    archive = tmp_path / "fashion-mnist.tar.gz"
    archive.write_bytes(b"not a folder")
    monkeypatch.setenv("DATA_PATH", str(archive))
    monkeypatch.setattr(fm, "MIRRORS", ("http://127.0.0.1:9/",))  # never reached
    for download in (True, False):
        with pytest.raises(FileNotFoundError, match=rf"{archive} is a file, but it must be a fold"):
            load_fashion_mnist(download=download)
    assert archive.read_bytes() == b"not a folder"


def test_the_training_set_alone_needs_neither_the_test_files_nor_a_download(
        tmp_path, data_path, monkeypatch):
    for name in fm.FILES:
        if name.startswith("train"):
            shutil.copy(data_path / name, tmp_path / name)
    monkeypatch.setattr(fm, "MIRRORS", ("http://127.0.0.1:9/",))  # a download would fail
    loaded = load_fashion_mnist(tmp_path, download=True, with_test=False)
    assert loaded.x_train.shape == (60000, 28, 28, 1) and len(loaded.y_train) == 60000
    assert loaded.x_test.shape == (0, 28, 28, 1) and loaded.y_test.shape == (0,)
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"]
    with pytest.raises(FileNotFoundError, match="t10k-images-idx3-ubyte.gz is missing"):
        load_fashion_mnist(tmp_path, download=False)  # the test set is still checked by default


def test_image_label_count_mismatch_is_reported(tmp_path, monkeypatch):
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", np.zeros((4, 28, 28)))
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(3))
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", np.zeros((2, 28, 28)))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.zeros(2))
    monkeypatch.setattr(fm, "ensure_files", lambda directory, download, **kwargs: directory)
    with pytest.raises(
        DatasetFileError, match=r"train images have shape \(4, 28, 28\) but labels have 3"
    ):
        load_fashion_mnist(tmp_path)


def test_real_files_have_official_shapes_and_balance(fashion_mnist):
    assert fashion_mnist.x_train.shape == (60000, 28, 28, 1)
    assert fashion_mnist.x_test.shape == (10000, 28, 28, 1)
    assert fashion_mnist.x_train.dtype == np.uint8
    assert np.bincount(fashion_mnist.y_train).tolist() == [6000] * 10
    assert np.bincount(fashion_mnist.y_test).tolist() == [1000] * 10
    assert len(CLASS_NAMES) == 10 and CLASS_NAMES[9] == "Ankle boot"
    assert abs(fashion_mnist.x_train.mean() / 255 - 0.28604) < 1e-4
