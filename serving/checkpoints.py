"""Evaluate a saved checkpoint on the official test set: `python -m serving.checkpoints PATH`.

The architecture (family, input size, widths) is read from the checkpoint itself; `--model NAME`
additionally refuses a checkpoint that is not the registry model NAME.
"""

import argparse
import json
import os
import sys
import zipfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# Constructor arguments that train.py may set and the checkpoint's config records: the reference
# model that `--model` names is built with the checkpoint's values of these.
BUILD_ARGUMENTS = ("input_shape", "num_classes", "input_size")
# Config entries that name an instance rather than describe its architecture.
INSTANCE_KEYS = ("name", "trainable")


def load_checkpoint(path: Path, expected_model: str | None = None):
    """Loads a `.keras` checkpoint with `safe_mode=True` (no code from the file is executed).

    Imports `models` first, which registers every model class, so this works in a process that
    has imported nothing of the project. The compile state is not restored: checkpoints written
    before they became inference-only also load, whatever learning-rate schedule they were
    trained with.

    With `expected_model` (a registry name), a checkpoint of another architecture is refused, so a
    result can never be reported under the wrong model's name.

    Raises:
        FileNotFoundError: `path` does not exist.
        ValueError: `path` is not a `.keras` file, is truncated or corrupt, cannot be loaded, or
            is not `expected_model`.
    """
    import keras

    import models  # noqa: F401  (registers the model classes the checkpoint names)

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist.")
    if path.suffix != ".keras" or not path.is_file():
        raise ValueError(f"{path} is not a .keras checkpoint file.")
    if not zipfile.is_zipfile(path):
        raise ValueError(_corrupt_message(path, "it is not a complete .keras (zip) archive"))
    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except (zipfile.BadZipFile, EOFError, OSError) as error:
        raise ValueError(_corrupt_message(path, f"{type(error).__name__}: {error}")) from error
    except Exception as error:
        raise ValueError(
            f"{path} could not be loaded as a Keras model ({type(error).__name__}: {error}). "
            "Checkpoints are loaded with safe_mode=True and must be written by this project."
        ) from error
    if expected_model is not None:
        check_architecture(model, expected_model, path)
    return model


def _corrupt_message(path: Path, detail: str) -> str:
    return (
        f"{path} is not a valid checkpoint: the file is truncated or corrupt ({detail}). "
        "It was probably cut off while being copied or written: copy it again, or evaluate "
        "another checkpoint of the run (best.keras, final.keras or swa.keras)."
    )


def architecture(model) -> dict:
    """The class and the config of `model`, without the entries that name the instance."""
    config = {k: v for k, v in model.get_config().items() if k not in INSTANCE_KEYS}
    # Through JSON, so the tuples of a built model compare equal to the lists of a loaded one.
    return {"class": type(model).__name__, **json.loads(json.dumps(config, default=repr))}


def describe(model) -> str:
    """One line naming the checkpoint's architecture, e.g. 'SimpleCNN (input_size=32, ...)'."""
    details = architecture(model)
    kind = details.pop("class")
    settings = ", ".join(f"{key}={value}" for key, value in details.items())
    return f"{kind} ({settings}), {model.count_params():,} parameters"


def check_architecture(model, expected_model: str, path: Path) -> None:
    """Raises ValueError unless `model` is the registry model `expected_model`, built with the
    checkpoint's own input shape, class count and input size."""
    from models import build_model

    config = model.get_config()
    build_kwargs = {key: config[key] for key in BUILD_ARGUMENTS if config.get(key) is not None}
    try:
        reference = build_model(expected_model, **build_kwargs)
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"{path} holds a {describe(model)}, which the model {expected_model!r} cannot be "
            f"built as ({error})."
        ) from error
    found, wanted = architecture(model), architecture(reference)
    if found != wanted or model.count_params() != reference.count_params():
        differences = sorted(key for key in found.keys() | wanted.keys()
                             if found.get(key) != wanted.get(key))
        raise ValueError(
            f"{path} holds a {describe(model)}, but the model {expected_model!r} is a "
            f"{describe(reference)} (they differ in: {', '.join(differences) or 'parameters'}). "
            "Pass that run's checkpoint, or the model name it was trained as, or leave out "
            "--model: the architecture is read from the checkpoint."
        )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path, help="a .keras file written by train.py")
    parser.add_argument(
        "--model",
        help="optional: the registry name the checkpoint must be (its input size and class "
        "count are read from the checkpoint); a checkpoint of another architecture is refused",
    )
    args = parser.parse_args(argv)

    from data import CLASS_NAMES, load_fashion_mnist
    from evaluation.metrics import evaluate_model

    try:
        model = load_checkpoint(args.checkpoint, args.model)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"{args.checkpoint}: {describe(model)}")
    data = load_fashion_mnist()
    evaluation = evaluate_model(model, data.x_test, data.y_test, CLASS_NAMES)
    print(evaluation.report.to_string(float_format="%.4f"))
    print(f"\ntest accuracy {evaluation.accuracy:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
