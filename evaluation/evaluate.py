"""Evaluate a saved checkpoint on the official test set: `python -m evaluation.evaluate PATH`."""

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def load_checkpoint(path: Path, expected_model: str | None = None):
    """Loads a `.keras` file with `safe_mode=True` (no code from the file is executed).

    With `expected_model` (a registry name), a checkpoint of another architecture is refused, so a
    result can never be reported under the wrong model's name.
    """
    import keras

    from models import build_model

    path = Path(path)
    if path.suffix != ".keras" or not path.is_file():
        raise FileNotFoundError(f"{path} is not a .keras checkpoint file.")
    try:
        model = keras.saving.load_model(path, safe_mode=True)
    except Exception as error:
        raise ValueError(
            f"{path} could not be loaded as a Keras model ({type(error).__name__}: {error}). "
            "Checkpoints are loaded with safe_mode=True and must be written by this project."
        ) from error
    if expected_model is not None:
        reference = build_model(expected_model, input_shape=model.input_shape[1:])
        found = (type(model).__name__, model.count_params())
        wanted = (type(reference).__name__, reference.count_params())
        if found != wanted:
            raise ValueError(
                f"{path} holds a {found[0]} with {found[1]:,} parameters, but the model "
                f"{expected_model!r} is a {wanted[0]} with {wanted[1]:,}. Pass that run's "
                "checkpoint, or the model name it was trained as."
            )
    return model


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("checkpoint", type=Path, help="a .keras file written by train.py")
    parser.add_argument("--model", help="registry name the checkpoint must be (refuses others)")
    args = parser.parse_args(argv)

    from data import CLASS_NAMES, load_fashion_mnist
    from evaluation.metrics import evaluate_model

    try:
        model = load_checkpoint(args.checkpoint, args.model)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    data = load_fashion_mnist()
    evaluation = evaluate_model(model, data.x_test, data.y_test, CLASS_NAMES)
    print(evaluation.report.to_string(float_format="%.4f"))
    print(f"\ntest accuracy {evaluation.accuracy:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
