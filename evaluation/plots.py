"""Figures for run records and TensorBoard."""

import io

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import seaborn as sns  # noqa: E402


def confusion_figure(confusion: np.ndarray, class_names, title: str = "Confusion matrix"):
    figure, axis = plt.subplots(figsize=(8, 7))
    sns.heatmap(
        confusion, annot=True, fmt="d", cmap="Blues", cbar=False, square=True,
        xticklabels=class_names, yticklabels=class_names, ax=axis,
    )
    axis.set_xlabel("Predicted label")
    axis.set_ylabel("True label")
    axis.set_title(title)
    figure.tight_layout()
    return figure


def figure_to_png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    return buffer.getvalue()
