"""Test-set evaluation, figures and run records."""

from evaluation.metrics import (
    Evaluation,
    classification_report_frame,
    evaluate_model,
    evaluate_predictions,
)
from evaluation.records import system_info

__all__ = [
    "Evaluation",
    "classification_report_frame",
    "evaluate_model",
    "evaluate_predictions",
    "system_info",
]
