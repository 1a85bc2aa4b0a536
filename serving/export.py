"""Export a run's selected weights for serving and measure every artifact against Keras.

python export.py RUN_NAME_OR_CHECKPOINT

Writes, beside the checkpoint (`DL_MODELS_PATH/<run>/export/`): a TF SavedModel (TF Serving,
signature `serving_default`), an ONNX model (ONNX Runtime) and LiteRT models in float32, float16
and int8 (calibrated on training images; uint8 pixels in, float32 probabilities out). Each is run
on the official test images by its own runtime: test accuracy, agreement with the Keras model,
size on disk, and the median latency of one image and of a batch of 256 on this machine's CPU.
The record goes to `RESULTS_PATH/exports/<run>.json`.
"""

import os
import shlex
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

import config as paths
from outputs.folders import NAME_RULE, check_output_name, is_output_name
from outputs.io import read_json

FORMATS = ("saved_model", "onnx", "tflite_float32", "tflite_float16", "tflite_int8")
LATENCY_BATCH_SIZES = (1, 256)
EVAL_BATCH_SIZE = 256
ARTIFACT_NAMES = {
    "saved_model": "saved_model",
    "onnx": "model.onnx",
    "tflite_float32": "model_float32.tflite",
    "tflite_float16": "model_float16.tflite",
    "tflite_int8": "model_int8.tflite",
}


def resolve_checkpoint(run_or_checkpoint: str) -> tuple[str, Path, str]:
    """(run name, checkpoint path, weights name) of a `.keras` path, or of a run's selected
    weights (`selected_weights` in `RESULTS_PATH/<run>/result.json`).

    Raises:
        FileNotFoundError: no such checkpoint, run record or selected checkpoint.
        ValueError: the run selected no weights (it failed), or the run name, which names the
            export record, is not a plain folder name.
    """
    path = Path(run_or_checkpoint)
    if path.suffix == ".keras":
        if not path.is_file():
            raise FileNotFoundError(f"{path} does not exist.")
        return export_name(path), path, path.stem
    check_output_name(run_or_checkpoint, "run")
    record_path = paths.RESULTS_PATH / run_or_checkpoint / "result.json"
    if not record_path.is_file():
        raise FileNotFoundError(
            f"{run_or_checkpoint} is neither a .keras checkpoint nor a run: {record_path} does "
            "not exist (RESULTS_PATH names the folder of run records)."
        )
    selected = read_json(record_path, "A record").get("selected_weights")
    if selected is None:
        raise ValueError(f"{record_path} selected no weights: the run did not complete.")
    checkpoint = paths.DL_MODELS_PATH / run_or_checkpoint / f"{selected}.keras"
    if not checkpoint.is_file():
        raise FileNotFoundError(
            f"{checkpoint} does not exist: the run selected its {selected} weights, but "
            "DL_MODELS_PATH holds no such checkpoint."
        )
    return run_or_checkpoint, checkpoint, selected


def specialist_classes(run_name: str) -> dict | None:
    """The classes (`names`, original `labels`) of a specialist run's record; None for a
    10-class run or a name with no record (a checkpoint path's)."""
    record_path = paths.RESULTS_PATH / run_name / "result.json"
    if not record_path.is_file():
        return None
    record = read_json(record_path, "A record")
    return record["classes"] if record.get("kind") == "specialist" else None


def export_name(checkpoint: Path) -> str:
    """The run name of a checkpoint given by path: its folder's, as a run keeps its checkpoints in
    `DL_MODELS_PATH/<run>/`. It names the export record, so it must keep that record in
    `RESULTS_PATH/exports/`."""
    name = checkpoint.resolve().parent.name
    if not is_output_name(name):
        raise ValueError(
            f"The export record of {checkpoint} is named after its folder, which must be "
            f"{NAME_RULE}: move the checkpoint into such a folder. Received: folder={name!r}"
        )
    return name


def float32_model(model):
    """`model` itself when it computes in float32, else a float32 copy with its weights: the
    exporters need float32 throughout (a mixed-precision graph would keep its casts)."""
    import keras

    if all(layer.compute_dtype == "float32" for layer in model.layers):
        return model
    previous_policy = keras.mixed_precision.global_policy()
    try:
        keras.mixed_precision.set_global_policy("float32")
        copy = type(model).from_config(model.get_config())
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)
    copy.set_weights(model.get_weights())
    return copy


def export_saved_model(model, path: Path) -> None:
    model.export(str(path), format="tf_saved_model", verbose=False)


def export_onnx(model, path: Path) -> None:
    with warnings.catch_warnings():  # tf2onnx's numpy 2 shim probes `np.object`
        warnings.simplefilter("ignore", FutureWarning)
        model.export(str(path), format="onnx", verbose=False)


def export_tflite(saved_model: Path, path: Path, kind: str, calibration_images=None) -> None:
    """A LiteRT model converted from `saved_model`: `kind` float32, float16 (weights stored in
    float16) or int8 (weights and activations, calibrated on `calibration_images`; uint8 pixels in,
    float32 probabilities out; ops without an int8 kernel stay in float)."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model))
    if kind == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif kind == "int8":
        images = np.asarray(calibration_images, dtype=np.float32)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([image[np.newaxis]] for image in images)
        converter.target_spec.supported_ops = [
            tf.lite.OpsSet.TFLITE_BUILTINS_INT8,
            tf.lite.OpsSet.TFLITE_BUILTINS,
        ]
        # Calibrated on pixels in [0, 255], the input scale is 1: raw uint8 images go straight in.
        converter.inference_input_type = tf.uint8
    elif kind != "float32":
        raise ValueError(f"kind must be float32, float16 or int8. Received: kind={kind!r}")
    path.write_bytes(converter.convert())


def export_all(model, out_dir: Path, calibration_images) -> dict[str, Path]:
    """Writes every format of `FORMATS` under `out_dir`; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    artifacts = {name: out_dir / file_name for name, file_name in ARTIFACT_NAMES.items()}
    export_saved_model(model, artifacts["saved_model"])
    export_onnx(model, artifacts["onnx"])
    for kind in ("float32", "float16", "int8"):
        export_tflite(
            artifacts["saved_model"], artifacts[f"tflite_{kind}"], kind, calibration_images
        )
    return artifacts


def keras_runner(model):
    return lambda images: np.asarray(model.predict_on_batch(images.astype(np.float32)))


def saved_model_runner(path: Path):
    """The `serving_default` signature, what TF Serving calls."""
    import tensorflow as tf

    signature = tf.saved_model.load(str(path)).signatures["serving_default"]
    (input_name,) = signature.structured_input_signature[1]
    (output_name,) = signature.structured_outputs
    return lambda images: signature(**{input_name: tf.constant(images, dtype=tf.float32)})[
        output_name
    ].numpy()


def onnx_runner(path: Path):
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name
    return lambda images: session.run(None, {input_name: images.astype(np.float32)})[0]


def tflite_runner(path: Path):
    """The LiteRT interpreter on all cores; it is resized when the batch size changes, and
    quantizes inputs and dequantizes outputs by the model's own parameters."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path), num_threads=os.cpu_count())
    input_details = interpreter.get_input_details()[0]
    output_details = interpreter.get_output_details()[0]
    shape = []

    def run(images):
        if list(images.shape) != shape:
            interpreter.resize_tensor_input(input_details["index"], images.shape)
            interpreter.allocate_tensors()
            shape[:] = images.shape
        interpreter.set_tensor(input_details["index"], _quantize(images, input_details))
        interpreter.invoke()
        return _dequantize(interpreter.get_tensor(output_details["index"]), output_details)

    return run


def _quantize(images, details) -> np.ndarray:
    dtype = details["dtype"]
    scale, zero_point = details["quantization"]
    if not np.issubdtype(dtype, np.integer):
        return images.astype(dtype)
    limits = np.iinfo(dtype)
    values = np.rint(images.astype(np.float32) / scale + zero_point)
    return np.clip(values, limits.min, limits.max).astype(dtype)


def _dequantize(values, details) -> np.ndarray:
    scale, zero_point = details["quantization"]
    if not np.issubdtype(values.dtype, np.integer):
        return values.astype(np.float32)
    return (values.astype(np.float32) - zero_point) * scale


def predict_in_batches(run, images, batch_size: int = EVAL_BATCH_SIZE) -> np.ndarray:
    return np.concatenate(
        [run(images[start : start + batch_size]) for start in range(0, len(images), batch_size)]
    )


def median_latency_ms(run, images, batch_size: int, repeats: int) -> float:
    """The median wall time of `repeats` calls on one batch, after one call to warm up."""
    batch = images[:batch_size]
    if len(batch) < batch_size:
        batch = np.resize(images, (batch_size, *images.shape[1:]))
    run(batch)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run(batch)
        times.append(time.perf_counter() - started)
    return 1000 * statistics.median(times)


def size_on_disk(path: Path) -> int:
    path = Path(path)
    if path.is_dir():
        return sum(item.stat().st_size for item in path.rglob("*") if item.is_file())
    return path.stat().st_size


RUNNERS = {
    "saved_model": saved_model_runner,
    "onnx": onnx_runner,
    "tflite_float32": tflite_runner,
    "tflite_float16": tflite_runner,
    "tflite_int8": tflite_runner,
}
RUNTIME_PACKAGES = {
    "keras": "keras",
    "saved_model": "tensorflow",
    "onnx": "onnxruntime",
    "tflite_float32": "ai-edge-litert",
    "tflite_float16": "ai-edge-litert",
    "tflite_int8": "ai-edge-litert",
}


def measure(run, images, labels, reference, repeats: int) -> dict:
    """Test accuracy, agreement with the `reference` probabilities, latencies."""
    probabilities = predict_in_batches(run, images)
    predicted = probabilities.argmax(axis=1)
    return {
        "test_accuracy": float(np.mean(predicted == labels)),
        "argmax_agreement": float(np.mean(predicted == reference.argmax(axis=1))),
        "max_abs_difference": float(np.abs(probabilities - reference).max()),
        "latency_ms": {
            str(batch_size): round(median_latency_ms(run, images, batch_size, repeats), 4)
            for batch_size in LATENCY_BATCH_SIZES
        },
    }


def missing_export_packages() -> list[str]:
    """The packages of requirements-export.txt that are not installed."""
    from importlib import util

    modules = {
        "tf2onnx": "tf2onnx",
        "onnx": "onnx",
        "onnxruntime": "onnxruntime",
        "ai-edge-litert": "ai_edge_litert",
    }
    return [package for package, module in modules.items() if util.find_spec(module) is None]


def _runtime(name: str) -> str:
    from importlib import metadata

    package = RUNTIME_PACKAGES[name]
    return f"{package} {metadata.version(package)}"


def measured_test_images(data, classes=None):
    """The test images and labels an export is measured on: all of them, or for a specialist
    (`classes`: the original labels of its outputs, in order) those of its classes, labelled by
    their position among them.

    Example: with classes (6, 0), a Shirt image is labelled 0 and a T-shirt/top image 1.
    """
    if classes is None:
        return data.x_test, data.y_test
    kept = np.isin(data.y_test, classes)
    position = {label: index for index, label in enumerate(classes)}
    return data.x_test[kept], np.array([position[label] for label in data.y_test[kept]])


def export_record(
    model,
    checkpoint: Path,
    out_dir: Path,
    data,
    test_images=None,
    calibration_images=300,
    repeats=50,
    seed=0,
    classes=None,
) -> dict:
    """Exports `model` (loaded from `checkpoint`) in every format under `out_dir` and measures
    each, and the Keras model itself, on the first `test_images` test images (all by default).
    int8 is calibrated on `calibration_images` training images drawn with `seed`. A specialist's
    model (`classes`: the original labels of its outputs, in order) is measured on the test
    images of those classes only."""
    model = float32_model(model)
    draw = np.random.default_rng(seed).choice(len(data.x_train), calibration_images, replace=False)
    images, labels = measured_test_images(data, classes)
    images, labels = images[:test_images], labels[:test_images]
    artifacts = export_all(model, out_dir, data.x_train[np.sort(draw)])
    keras_run = keras_runner(model)
    reference = predict_in_batches(keras_run, images)
    runs = {"keras": (keras_run, checkpoint)}
    runs.update((name, (RUNNERS[name](path), path)) for name, path in artifacts.items())
    formats = [
        {
            "format": name,
            "runtime": _runtime(name),
            "path": _shown(path),
            "size_bytes": size_on_disk(path),
            **measure(run, images, labels, reference, repeats),
        }
        for name, (run, path) in runs.items()
    ]
    return {
        "checkpoint": _shown(checkpoint),
        "test_images": len(images),
        "calibration_images": calibration_images,
        "latency_repeats": repeats,
        "latency": "median wall time of one call on a batch, after one warm-up call",
        "threads": os.cpu_count(),
        "formats": formats,
    }


def _shown(path: Path) -> str:
    """`path` relative to the repository when inside it, so a committed record names no home."""
    try:
        return Path(path).resolve().relative_to(paths.REPO_ROOT).as_posix()
    except ValueError:
        return str(path)


def build_parser():
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="a run name (its selected weights) or a .keras checkpoint")
    parser.add_argument("--out", type=Path, help="artifact folder; default: <checkpoint>/../export")
    parser.add_argument("--test-images", type=int, help="first N test images; default: all")
    parser.add_argument("--calibration-images", type=int, default=300, help="int8 calibration")
    parser.add_argument("--repeats", type=int, default=50, help="timed calls per latency")
    return parser


def checked_checkpoint(args) -> tuple[str, Path, str]:
    """`resolve_checkpoint(args.run)`, after checking the export packages are installed; a
    ValueError or FileNotFoundError names what is missing."""
    run = resolve_checkpoint(args.run)
    missing = missing_export_packages()
    if missing:
        raise ValueError(
            f"export needs {', '.join(missing)}: pip install -r requirements-export.txt")
    return run


def measured_record(args, argv, model, run_name, checkpoint, weights) -> dict:
    """The export record of `model`: what was exported, how it was measured, on what."""
    from data import load_fashion_mnist
    from records.provenance import system_info, utc_now

    classes = specialist_classes(run_name) if Path(args.run).suffix != ".keras" else None
    return {
        "run_name": run_name,
        "weights": weights,
        **({} if classes is None else {"classes": classes["names"]}),
        "command": shlex.join(["python", "export.py", *(sys.argv[1:] if argv is None else argv)]),
        "date": utc_now(),
        **export_record(
            model,
            checkpoint,
            args.out or checkpoint.parent / "export",
            load_fashion_mnist(),
            args.test_images,
            args.calibration_images,
            args.repeats,
            classes=None if classes is None else classes["labels"],
        ),
        "system": system_info(),
    }


def main(argv=None, table=None) -> int:
    """`python export.py`: exports, measures and records; then prints `table(record)`, the
    text of the record (the entry point passes `reporting.exports.export_table`)."""
    args = build_parser().parse_args(argv)
    try:
        run_name, checkpoint, weights = checked_checkpoint(args)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    from quiet_tensorflow import import_tensorflow

    import_tensorflow()
    from outputs.io import atomic_write_json
    from serving.checkpoints import load_checkpoint

    try:
        model = load_checkpoint(checkpoint)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    record = measured_record(args, argv, model, run_name, checkpoint, weights)
    path = paths.RESULTS_PATH / "exports" / f"{run_name}.json"
    atomic_write_json(path, record)
    if table is not None:
        print(table(record))
    print(f"wrote {path}")
    return 0
