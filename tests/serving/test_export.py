import json
import os

import keras
import numpy as np
import pytest

import export as export_command
from reporting import exports
from serving import export
from tests.tiny_run import point_outputs_at, tiny_run

TEST_IMAGES = 500
FLOAT_FORMATS = ("saved_model", "onnx", "tflite_float32", "tflite_float16")


@pytest.fixture(scope="module")
def run(tmp_path_factory, fashion_mnist):
    return tiny_run(tmp_path_factory, fashion_mnist)


@pytest.fixture(scope="module")
def exported(run):
    """`python export.py tiny` on 500 test images, int8 calibrated on 50 training images; returns
    the record as read back from RESULTS_PATH/exports/tiny.json and the command's output."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        point_outputs_at(run, monkeypatch)
        argv = [
            "tiny",
            "--test-images",
            str(TEST_IMAGES),
            "--calibration-images",
            "50",
            "--repeats",
            "2",
        ]
        assert export_command.main(argv) == 0
    path = run.run_dir.parent / "exports" / "tiny.json"
    return json.loads(path.read_text())


@pytest.mark.slow
def test_the_record_names_the_selected_weights_and_every_format(exported, run):
    assert exported["run_name"] == "tiny"
    assert exported["weights"] == run.record.to_json()["selected_weights"]
    assert exported["checkpoint"].endswith(f"tiny/{run.record.to_json()['selected_weights']}.keras")
    assert exported["command"] == (
        "python export.py tiny --test-images 500 --calibration-images 50 --repeats 2"
    )
    assert exported["test_images"] == TEST_IMAGES and exported["calibration_images"] == 50
    assert [entry["format"] for entry in exported["formats"]] == ["keras", *export.FORMATS]
    for entry in exported["formats"]:
        assert entry["size_bytes"] > 100_000, entry
        assert all(entry["latency_ms"][size] > 0 for size in ("1", "256")), entry
    assert exported["system"]["packages"]["tensorflow"]


@pytest.mark.slow
def test_float_formats_agree_with_keras_and_int8_is_reported(exported):
    by_format = {entry["format"]: entry for entry in exported["formats"]}
    keras_accuracy = by_format["keras"]["test_accuracy"]
    for name in FLOAT_FORMATS:
        assert by_format[name]["argmax_agreement"] >= 0.99, by_format[name]
        assert by_format[name]["test_accuracy"] == pytest.approx(keras_accuracy, abs=0.01)
    assert by_format["tflite_float32"]["max_abs_difference"] < 1e-4
    int8 = by_format["tflite_int8"]
    assert 0.5 <= int8["argmax_agreement"] <= 1.0  # reported: an int8 model may differ
    assert int8["size_bytes"] < by_format["tflite_float32"]["size_bytes"] / 3


@pytest.mark.slow
def test_every_artifact_loads_in_its_own_runtime(exported, run, fashion_mnist):
    """Each file as a user would open it, without this project's runners."""
    import onnxruntime
    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter

    folder = run.checkpoint_dir / "export"
    images = fashion_mnist.x_test[:16]
    expected = run.model.predict(images, verbose=0).argmax(axis=1)

    serving = tf.saved_model.load(str(folder / "saved_model")).signatures["serving_default"]
    (served,) = serving(images=tf.constant(images, tf.float32)).values()
    session = onnxruntime.InferenceSession(str(folder / "model.onnx"))
    (onnx_output,) = session.run(None, {session.get_inputs()[0].name: images.astype(np.float32)})
    predictions = {"saved_model": served.numpy(), "onnx": onnx_output}
    for kind in ("float32", "float16", "int8"):
        interpreter = Interpreter(model_path=str(folder / f"model_{kind}.tflite"))
        details = interpreter.get_input_details()[0]
        assert details["dtype"] == (np.uint8 if kind == "int8" else np.float32)
        interpreter.resize_tensor_input(details["index"], images.shape)
        interpreter.allocate_tensors()
        interpreter.set_tensor(details["index"], images.astype(details["dtype"]))
        interpreter.invoke()
        predictions[kind] = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    for name, probabilities in predictions.items():
        assert probabilities.shape == (16, 10), name
        assert np.allclose(probabilities.sum(axis=1), 1, atol=0.02), name
        if name != "int8":
            assert np.mean(probabilities.argmax(axis=1) == expected) >= 15 / 16, name


@pytest.mark.slow
def test_the_markdown_table_has_a_row_per_format(exported):
    lines = exports.export_table(exported).splitlines()

    assert lines[0].startswith("| format | runtime | size | test accuracy | same class as Keras")
    assert [line.split(" | ")[0] for line in lines[2:]] == [
        f"| {name}" for name in ("keras", *export.FORMATS)
    ]


def test_a_mixed_precision_model_is_exported_in_float32():
    from models import build_model

    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = build_model("simple-cnn", dense_units=8)
    finally:
        keras.mixed_precision.set_global_policy(previous)

    copy = export.float32_model(model)

    assert {layer.compute_dtype for layer in copy.layers} == {"float32"}
    for original, copied in zip(model.get_weights(), copy.get_weights()):
        np.testing.assert_array_equal(original, copied)


def test_a_run_or_checkpoint_that_does_not_exist_is_refused(run, monkeypatch, capsys, tmp_path):
    point_outputs_at(run, monkeypatch)
    failed = tmp_path / "results" / "failed"
    failed.mkdir(parents=True)
    (failed / "result.json").write_text(json.dumps({"status": "failed"}))

    assert export_command.main(["no-such-run"]) == 2
    assert "no-such-run is neither a .keras checkpoint nor a run" in capsys.readouterr().err
    assert export_command.main([str(tmp_path / "missing.keras")]) == 2
    assert f"{tmp_path / 'missing.keras'} does not exist" in capsys.readouterr().err
    monkeypatch.setenv("RESULTS_PATH", str(tmp_path / "results"))
    with pytest.raises(ValueError, match="selected no weights"):
        export.resolve_checkpoint("failed")


@pytest.mark.slow
def test_the_readme_section_is_written_from_the_records(exported, run, tmp_path):
    from reporting.sections import section_markers, write_sections

    start, end = section_markers(exports.EXPORTS_SECTION)
    (tmp_path / "README.md").write_text(f"# Lab\n\n{start}\nold\n{end}\n\nprose\n")
    results = run.run_dir.parent

    assert write_sections(exports.generated_sections(results), tmp_path) == [tmp_path / "README.md"]

    text = (tmp_path / "README.md").read_text()
    link = f"[tiny]({os.path.relpath(results / 'exports' / 'tiny.json', tmp_path)})"
    assert f"{link} ({exported['weights']} weights), `{exported['command']}`" in text
    assert exports.export_table(exported) in text and "old" not in text and text.endswith("prose\n")
    assert exports.exports_markdown(tmp_path, tmp_path).startswith("No export record yet")


def test_export_without_its_packages_names_the_install_command(monkeypatch, capsys):
    from importlib import util

    find_spec = util.find_spec
    monkeypatch.setattr(util, "find_spec", lambda name: None if name == "onnx" else find_spec(name))
    monkeypatch.setattr(export, "resolve_checkpoint", lambda run: ("run", "x.keras", "final"))
    assert export_command.main(["run"]) == 2
    assert "export needs onnx: pip install -r requirements-export.txt" in capsys.readouterr().err


def test_a_specialist_is_measured_on_its_classes_labelled_by_their_position():
    class Data:
        x_test = np.arange(6).reshape(6, 1)
        y_test = np.array([6, 1, 0, 6, 2, 0])

    images, labels = export.measured_test_images(Data, classes=[6, 0])
    assert images.ravel().tolist() == [0, 2, 3, 5] and labels.tolist() == [0, 1, 0, 1]
    assert export.measured_test_images(Data)[1].tolist() == Data.y_test.tolist()
