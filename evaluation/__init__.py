"""Test-set evaluation, figures and run records."""

from evaluation.metrics import (
    Evaluation,
    classification_report_frame,
    evaluate_model,
    evaluate_predictions,
)
from evaluation.records import atomic_write_json, atomic_write_text, create_run_dir, system_info

__all__ = [
    "Evaluation",
    "atomic_write_json",
    "atomic_write_text",
    "classification_report_frame",
    "create_run_dir",
    "evaluate_model",
    "evaluate_predictions",
    "system_info",
]
