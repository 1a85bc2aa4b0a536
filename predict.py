"""Classify your own images with a trained checkpoint.

python predict.py runs/checkpoints/<run>/best.keras shirt.jpg photos/ [--show predictions.png]

Each image (PNG, JPEG, ... of any size and colour) is converted the way Fashion-MNIST was made
(`serving.images.to_fashion_mnist`: grayscale, a light object on black, cropped to the object,
longest side 28 pixels, centred), and the three most probable classes are printed. `--show` writes
a figure of every converted image beside its class probabilities.
"""

import argparse
import sys
from pathlib import Path

import numpy as np

from outputs.folders import check_output_file
from serving.images import convert_image, find_images

TOP_CLASSES = 3


def load_classifier(path: Path):
    """The checkpoint at `path`, checked to map 28x28x1 images to 10 class probabilities.

    Raises:
        FileNotFoundError: `path` does not exist.
        ValueError: `path` cannot be loaded, or holds another kind of model.
    """
    from data import CLASS_NAMES, IMAGE_SHAPE
    from serving.checkpoints import load_checkpoint

    model = load_checkpoint(path)
    inputs, outputs = getattr(model, "inputs", None), getattr(model, "outputs", None)
    if inputs is None or outputs is None:
        found = "has no fixed input and output shapes"
    else:
        found = f"maps {_shapes(inputs)} to {_shapes(outputs)}"
        if _shapes(inputs) == [IMAGE_SHAPE] and _shapes(outputs) == [(len(CLASS_NAMES),)]:
            return model
    raise ValueError(
        f"{path} is not a Fashion-MNIST classifier: the model {found}, expected "
        f"{IMAGE_SHAPE} images to {len(CLASS_NAMES)} class probabilities."
    )


def _shapes(tensors) -> list[tuple]:
    return [tuple(tensor.shape[1:]) for tensor in tensors]


def convert_files(inputs) -> tuple[list[Path], np.ndarray]:
    """The image files named by `inputs` (files or folders) and their converted (N, 28, 28, 1)
    uint8 images.

    Raises:
        ImageError: an input is missing, an empty folder, or not a readable image.
    """
    paths = find_images(inputs)
    return paths, np.stack([convert_image(path) for path in paths])


def classify_files(model, inputs) -> tuple[list[Path], np.ndarray, np.ndarray]:
    """`convert_files(inputs)` and the model's (N, 10) class probabilities of the images."""
    paths, images = convert_files(inputs)
    return paths, images, np.asarray(model.predict(images, verbose=0))


def top_classes(probabilities: np.ndarray, k: int = TOP_CLASSES) -> list[tuple[str, float]]:
    """The `k` most probable (class name, probability) pairs, most probable first."""
    from data import CLASS_NAMES

    order = np.argsort(probabilities)[::-1][:k]
    return [(CLASS_NAMES[index], float(probabilities[index])) for index in order]


def prediction_figure(images, probabilities, titles):
    """One row per image: the converted 28x28 image beside a bar chart of its class
    probabilities, the most probable class highlighted."""
    from data import CLASS_NAMES
    from reporting.plots import plt  # with the file-only backend

    figure, axes = plt.subplots(
        len(images),
        2,
        figsize=(7, 2.2 * len(images)),
        squeeze=False,
        gridspec_kw={"width_ratios": [1, 2.2]},
    )
    for (image_axis, bar_axis), image, probs, title in zip(axes, images, probabilities, titles):
        image_axis.imshow(np.asarray(image).reshape(28, 28), cmap="gray", vmin=0, vmax=255)
        image_axis.set_title(title, fontsize=8)
        image_axis.axis("off")
        colours = ["tab:blue" if i == np.argmax(probs) else "lightgray" for i in range(len(probs))]
        bar_axis.barh(range(len(CLASS_NAMES)), probs, color=colours)
        bar_axis.set_yticks(range(len(CLASS_NAMES)), CLASS_NAMES, fontsize=8)
        bar_axis.invert_yaxis()
        bar_axis.set_xlim(0, 1)
        name, probability = top_classes(probs, 1)[0]
        bar_axis.set_title(f"{name} {probability:.1%}", fontsize=9)
    figure.tight_layout()
    return figure


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path, help="a .keras file written by train.py")
    parser.add_argument("inputs", nargs="+", metavar="IMAGE_OR_FOLDER", help="images or folders")
    parser.add_argument("--show", type=Path, metavar="OUT.png", help="write a figure of the inputs")
    args = parser.parse_args(argv)

    try:  # the inputs and the output are checked before TensorFlow loads: a typo fails at once
        if args.show:
            check_output_file(args.show, "--show")
        paths, images = convert_files(args.inputs)
    except ValueError as error:  # an ImageError, or a --show path that cannot be written
        print(f"error: {error}", file=sys.stderr)
        return 2
    from quiet_tensorflow import import_tensorflow

    import_tensorflow()
    try:
        model = load_classifier(args.checkpoint)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    probabilities = np.asarray(model.predict(images, verbose=0))
    for path, probs in zip(paths, probabilities):
        ranked = ", ".join(f"{name} {probability:.1%}" for name, probability in top_classes(probs))
        print(f"{path}: {ranked}")
    if args.show:
        from outputs.io import atomic_write_bytes
        from reporting.plots import figure_to_png

        figure = prediction_figure(images, probabilities, [path.name for path in paths])
        atomic_write_bytes(args.show, figure_to_png(figure))
        print(f"wrote {args.show}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
