"""Training: configuration, optimizers and schedules, SWA, and `run_experiment`."""

from training.config import ExperimentConfig
from training.experiment import RunResult, run_experiment
from training.schedules import CyclicalLearningRate, SWALearningRate
from training.swa import SWA, recompute_batchnorm_statistics

__all__ = [
    "SWA",
    "CyclicalLearningRate",
    "ExperimentConfig",
    "RunResult",
    "SWALearningRate",
    "recompute_batchnorm_statistics",
    "run_experiment",
]
