"""Figures for run records and TensorBoard."""

import io

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402


def confusion_figure(confusion: np.ndarray, class_names, title: str = "Confusion matrix"):
    """Counts large enough to read where TensorBoard shows the image scaled to its card."""
    figure, axis = plt.subplots(figsize=(7, 6.5))
    sns.heatmap(
        confusion,
        annot=True,
        fmt="d",
        cmap="Blues",
        cbar=False,
        square=True,
        xticklabels=class_names,
        yticklabels=class_names,
        annot_kws={"size": 12},
        ax=axis,
    )
    axis.tick_params(labelsize=11)
    axis.set_xlabel("Predicted label", fontsize=12)
    axis.set_ylabel("True label", fontsize=12)
    axis.set_title(title, fontsize=12)
    figure.tight_layout()
    return figure


def figure_to_png(figure) -> bytes:
    """PNG bytes of `figure`, which is closed. Matplotlib's version is left out of the metadata, so
    the same figure gives the same bytes whichever version drew it."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
    plt.close(figure)
    return buffer.getvalue()


def image_grid_figure(images, titles=None, columns: int = 10, cell_inches: float = 1.2):
    """Grayscale images (N x H x W or N x H x W x 1, pixels in [0, 255]) in a grid, row by row."""
    images = np.asarray(images)
    titles = list(titles) if titles is not None else [""] * len(images)
    rows = -(-len(images) // columns)
    figure, axes = plt.subplots(
        rows, columns, figsize=(columns * cell_inches, rows * (cell_inches + 0.25)), squeeze=False
    )
    for axis in axes.flat:
        axis.axis("off")
    for axis, image, title in zip(axes.flat, images, titles):
        axis.imshow(image.reshape(image.shape[:2]), cmap="gray", vmin=0, vmax=255)
        axis.set_title(title, fontsize=8)
    figure.tight_layout()
    return figure


def reconstruction_figure(images, reconstructions):
    """Input images (top row) above their reconstructions in [0, 1] (bottom row)."""
    images = np.asarray(images, dtype=np.float32)
    decoded = np.asarray(reconstructions, dtype=np.float32).reshape(images.shape) * 255.0
    titles = ["input"] * len(images) + ["decoded"] * len(images)
    return image_grid_figure(np.concatenate([images, decoded]), titles, columns=len(images))


def class_examples_figure(images, labels, class_names, per_class: int = 3):
    """The first `per_class` images of every class, one column per class."""
    labels = np.asarray(labels)
    columns = [np.flatnonzero(labels == label)[:per_class] for label in range(len(class_names))]
    # Rows hold the 1st, 2nd, ... example of each class, so each column is one class.
    order = np.stack(columns, axis=1).ravel()
    return image_grid_figure(
        images[order], titles=[class_names[labels[i]] for i in order], columns=len(class_names)
    )


def augmentation_figure(images, augmentation, draws: int = 3):
    """The original images in the first row, then `draws` rows of random augmentations of them."""
    images = np.asarray(images, dtype=np.float32)
    rows = [images, *(np.asarray(augmentation(images, training=True)) for _ in range(draws))]
    titles = ["original"] * len(images) + [
        f"draw {draw}" for draw in range(1, draws + 1) for _ in images
    ]
    return image_grid_figure(np.concatenate(rows), titles, columns=len(images))


def accuracy_curves_figure(records):
    """Validation accuracy per epoch of each run record (dicts with `run_name` and `history`)."""
    rows = [
        {"run": record["run_name"], "epoch": int(epoch), "val_accuracy": logs["val_accuracy"]}
        for record in records
        for epoch, logs in record["history"].items()
        if logs.get("val_accuracy") is not None
    ]
    figure, axis = plt.subplots(figsize=(9, 5))
    sns.lineplot(
        pd.DataFrame(rows, columns=["run", "epoch", "val_accuracy"]),
        x="epoch",
        y="val_accuracy",
        hue="run",
        hue_order=[record["run_name"] for record in records],
        marker="o",
        ax=axis,
    )
    axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    axis.set_xlim(0.5, max((row["epoch"] for row in rows), default=1) + 0.5)
    axis.set_xlabel("Epoch")
    axis.set_ylabel("Validation accuracy")
    axis.grid(alpha=0.3)
    axis.legend(title=None, fontsize=8, loc="best")
    figure.tight_layout()
    return figure


def accuracy_against_time_figure(curves):
    """Validation accuracy after each epoch against the training seconds spent so far, one line
    per (label, run record) in `curves`; the records' histories keep each epoch's seconds."""
    figure, axis = plt.subplots(figsize=(9, 5))
    lowest = 1.0
    for label, record in curves:
        seconds, accuracies, spent = [], [], 0.0
        for _, logs in sorted(record["history"].items(), key=lambda item: int(item[0])):
            spent += logs.get("seconds") or 0.0
            if logs.get("val_accuracy") is not None:
                seconds.append(spent / 60)
                accuracies.append(logs["val_accuracy"])
        axis.plot(seconds, accuracies, marker="o", markersize=3, label=label)
        lowest = min([lowest, *accuracies])
    axis.set_xlabel("Training time (minutes)")
    axis.set_ylabel("Validation accuracy")
    axis.set_ylim(bottom=max(0.0, lowest - 0.01))
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8, loc="lower right")
    figure.tight_layout()
    return figure


def most_confident_mistakes(probabilities, labels, count: int = 24) -> np.ndarray:
    """Indices of the `count` wrong predictions with the highest confidence, most confident
    first; ties in the order of the images."""
    probabilities = np.asarray(probabilities)
    wrong = np.flatnonzero(probabilities.argmax(axis=1) != np.asarray(labels))
    confidence = probabilities[wrong].max(axis=1)
    return wrong[np.argsort(-confidence, kind="stable")][:count]


def mistakes_figure(images, probabilities, labels, class_names, title: str, count: int = 24):
    """The test images a run gets wrong with the highest confidence, each with its true and
    predicted class and the probability it gave the wrong one."""
    probabilities = np.asarray(probabilities)
    indices = most_confident_mistakes(probabilities, labels, count)
    titles = [
        f"{class_names[labels[i]]}\nas {class_names[probabilities[i].argmax()]}"
        f" {probabilities[i].max():.2f}"
        for i in indices
    ]
    figure = image_grid_figure(np.asarray(images)[indices], titles, columns=8, cell_inches=1.3)
    figure.suptitle(f"{title}\n(true class, then predicted class and its probability)",
                    fontsize=10)
    figure.tight_layout()
    return figure


def agreed_mistakes_figure(images, probabilities, labels, indices, class_names, title: str):
    """The test images at `indices`, which an ensemble and all its members get wrong the same
    way, each with its given label, the class they all predict and the ensemble's probability
    for it: the reader, not the report, judges whether the label or the image is at fault."""
    probabilities = np.asarray(probabilities)
    titles = [
        f"{class_names[labels[i]]}\nall: {class_names[probabilities[i].argmax()]}"
        f" {probabilities[i].max():.2f}"
        for i in indices
    ]
    figure = image_grid_figure(np.asarray(images)[indices], titles, columns=8, cell_inches=1.3)
    figure.suptitle(f"{title}\n(given label, then the class every run predicts and the "
                    "ensemble's probability)", fontsize=10)
    figure.tight_layout()
    return figure


def per_class_figure(confusions: dict, class_names):
    """Per-class test accuracy (recall) of each run, from its confusion matrix: one row per run
    (`confusions` maps run names to matrices, top row first), one column per class."""
    accuracy = pd.DataFrame(
        [np.diag(np.asarray(m)) / np.asarray(m).sum(axis=1) for m in confusions.values()],
        index=list(confusions),
        columns=list(class_names),
    )
    figure, axis = plt.subplots(figsize=(11, 1.2 + 0.55 * len(accuracy)))
    sns.heatmap(accuracy, annot=True, fmt=".3f", cmap="viridis", vmin=accuracy.values.min(),
                vmax=1.0, cbar=False, annot_kws={"size": 9}, ax=axis)
    axis.set_xlabel("True class: share of its 1,000 test images classified right")
    axis.set_ylabel("")
    axis.tick_params(axis="x", labelsize=9, rotation=30)
    axis.tick_params(axis="y", labelsize=9, rotation=0)
    axis.set_title("Per-class test accuracy", fontsize=11)
    figure.tight_layout()
    return figure


def reliability_figure(bins, title: str):
    """A reliability diagram (`evaluation.calibration.ReliabilityBins`): each bin's accuracy
    against its mean confidence, the diagonal of perfect calibration, and how many predictions
    each bin holds; the expected calibration error in the title."""
    figure, (top, bottom) = plt.subplots(
        2, 1, figsize=(6, 6.5), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    lower, width = bins.edges[:-1], np.diff(bins.edges)
    filled = bins.counts > 0
    top.bar(lower[filled], bins.accuracy[filled], width=width[filled], align="edge",
            edgecolor="black", color="tab:blue", label="accuracy")
    top.bar(lower[filled], bins.confidence[filled] - bins.accuracy[filled],
            bottom=bins.accuracy[filled], width=width[filled], align="edge", color="none",
            edgecolor="tab:red", hatch="//", label="gap to mean confidence")
    top.plot([0, 1], [0, 1], color="gray", linestyle="--", label="perfect calibration")
    top.set_xlim(0, 1)
    top.set_ylim(0, 1)
    top.set_ylabel("Accuracy")
    top.legend(loc="upper left", fontsize=9)
    top.set_title(f"{title}\nexpected calibration error {bins.expected_calibration_error:.4f} "
                  f"({len(bins.counts)} bins)", fontsize=10)
    bottom.bar(lower, bins.counts, width=width, align="edge", edgecolor="black", color="gray")
    bottom.set_yscale("log")
    bottom.set_xlabel("Confidence (probability of the predicted class)")
    bottom.set_ylabel("Images")
    figure.tight_layout()
    return figure


def before_after_figure(class_names, rows: list[dict]):
    """Per combination (one row of panels each): the recall of `class_names` before and after
    as bars, and the confusion block over those classes before and after. Each of `rows` has a
    `title`, `recall_before`/`recall_after` (one value per class) and `block_before`/
    `block_after` (square count matrices, true classes down)."""
    figure, axes = plt.subplots(len(rows), 3, figsize=(15, 4.2 * len(rows)), squeeze=False)
    positions = np.arange(len(class_names))
    for (bars, before, after), row in zip(axes, rows):
        bars.bar(positions - 0.2, row["recall_before"], 0.4, label="generalist")
        bars.bar(positions + 0.2, row["recall_after"], 0.4, label="with specialist")
        bars.set_xticks(positions, class_names, rotation=15)
        low = min(min(row["recall_before"]), min(row["recall_after"]))
        bars.set_ylim(max(0.0, low - 0.05), 1.0)
        bars.set_ylabel("Test recall")
        bars.legend(fontsize=9)
        bars.set_title(row["title"], fontsize=10)
        for axis, block, name in ((before, row["block_before"], "generalist"),
                                  (after, row["block_after"], "with specialist")):
            sns.heatmap(block, annot=True, fmt="d", cmap="Blues", cbar=False, square=True,
                        xticklabels=class_names, yticklabels=class_names, ax=axis)
            axis.set_xlabel("Predicted")
            axis.set_ylabel("True")
            axis.set_title(f"Confusion block, {name}", fontsize=10)
    figure.tight_layout()
    return figure
