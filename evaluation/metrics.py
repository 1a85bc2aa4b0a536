"""Test-set metrics: accuracy, per-class report and confusion matrix, via scikit-learn."""

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, classification_report, confusion_matrix


@dataclass
class Evaluation:
    accuracy: float
    report: pd.DataFrame  # rows: classes, accuracy, macro avg, weighted avg
    confusion: np.ndarray  # (num_classes, num_classes), rows are true labels
    predictions: np.ndarray


def classification_report_frame(y_true, y_pred, class_names) -> pd.DataFrame:
    """scikit-learn's classification report as a DataFrame: precision, recall, f1-score, support."""
    report = classification_report(
        y_true,
        y_pred,
        labels=list(range(len(class_names))),
        target_names=list(class_names),
        output_dict=True,
        zero_division=0,
    )
    accuracy = report.pop("accuracy")
    frame = pd.DataFrame(report).T[["precision", "recall", "f1-score", "support"]]
    frame.loc["accuracy"] = [np.nan, np.nan, accuracy, frame.loc["macro avg", "support"]]
    frame = frame.reindex([*class_names, "accuracy", "macro avg", "weighted avg"])
    frame["support"] = frame["support"].astype(int)
    return frame


def evaluate_predictions(y_true, probabilities, class_names) -> Evaluation:
    y_true = np.asarray(y_true)
    y_pred = np.asarray(probabilities).argmax(axis=1)
    return Evaluation(
        accuracy=float(accuracy_score(y_true, y_pred)),
        report=classification_report_frame(y_true, y_pred, class_names),
        confusion=confusion_matrix(y_true, y_pred, labels=list(range(len(class_names)))),
        predictions=y_pred,
    )


def evaluate_model(model, images, labels, class_names, batch_size=512) -> Evaluation:
    """Predicts `images` once and scores the predictions against `labels`."""
    return evaluate_predictions(
        labels, model.predict(images, batch_size=batch_size, verbose=0), class_names
    )
