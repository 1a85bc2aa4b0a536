import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.util.tensor_util import make_ndarray

from tests.tiny_run import tiny_run as shared_tiny_run

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def read_events(folder) -> EventAccumulator:
    """TensorBoard's own reader; Keras and tf.summary write v2 summaries, stored as tensors."""
    events = EventAccumulator(str(folder), size_guidance={"tensors": 0, "images": 0})
    events.Reload()
    return events


def png_size(png: bytes) -> tuple[int, int]:
    assert png.startswith(PNG_SIGNATURE)
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, fashion_mnist):
    """The session's one-epoch smoke run (tests/tiny_run.py), shared with the prediction and
    export tests; its logs are only read here."""
    return shared_tiny_run(tmp_path_factory, fashion_mnist)


def test_epoch_scalars_match_the_run_record(tiny_run):
    epoch = tiny_run.record.to_json()["history"]["1"]
    train = read_events(tiny_run.tensorboard_dir / "train")
    validation = read_events(tiny_run.tensorboard_dir / "validation")

    assert {"epoch_loss", "epoch_accuracy", "epoch_learning_rate"} <= set(train.Tags()["tensors"])
    for events, tag, expected in ((train, "epoch_loss", epoch["loss"]),
                                  (train, "epoch_accuracy", epoch["accuracy"]),
                                  (validation, "epoch_accuracy", epoch["val_accuracy"])):
        (event,) = events.Tensors(tag)
        assert event.step == 0  # Keras counts epochs from 0
        assert make_ndarray(event.tensor_proto).item() == pytest.approx(expected, rel=1e-5)
    (learning_rate,) = train.Tensors("epoch_learning_rate")
    assert make_ndarray(learning_rate.tensor_proto).item() == pytest.approx(
        epoch["learning_rate"], abs=1e-9
    )


def test_the_outcome_is_logged_as_scalars_and_text(tiny_run):
    record = tiny_run.record.to_json()
    test = read_events(tiny_run.tensorboard_dir / "test")
    tags = set(test.Tags()["tensors"])

    for key in ("val_accuracy_final", "test_accuracy_final", "test_accuracy"):
        (event,) = test.Tensors(f"outcome/{key}")
        assert event.step == record["epochs_run"]
        assert make_ndarray(event.tensor_proto).item() == pytest.approx(record[key], rel=1e-6)
    assert "outcome/test_accuracy_swa" not in tags  # this one-epoch run had no SWA
    (selected,) = test.Tensors("outcome/selected_weights")
    assert make_ndarray(selected.tensor_proto).item() == record["selected_weights"].encode()
    (kind,) = test.Tensors("outcome/run_kind")
    assert make_ndarray(kind.tensor_proto).item().startswith(b"smoke run")


def test_test_set_confusion_matrix_is_logged_as_an_image(tiny_run):
    test = read_events(tiny_run.tensorboard_dir / "test")

    (event,) = test.Tensors("confusion_matrix")
    assert test.SummaryMetadata("confusion_matrix").plugin_data.plugin_name == "images"
    assert event.step == tiny_run.record.to_json()["epochs_run"]
    width, height, png = event.tensor_proto.string_val
    assert png_size(png) == (int(width), int(height))
    assert png_size(png) == png_size((tiny_run.run_dir / "confusion.png").read_bytes())
