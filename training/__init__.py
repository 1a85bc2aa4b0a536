"""Training: configuration, optimizers and schedules, SWA, and `run_experiment`.

Names are loaded on first use, so `from training.config import ExperimentConfig` (what
`train.py --help` needs) does not load TensorFlow.
"""

from quiet_tensorflow import load_export

_EXPORTS = {
    "ExperimentConfig": "training.config",
    "RunResult": "training.experiment",
    "run_experiment": "training.experiment",
    "CyclicalLearningRate": "training.schedules",
    "SWALearningRate": "training.schedules",
    "SWA": "training.swa",
    "recompute_batchnorm_statistics": "training.swa",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    return load_export(_EXPORTS, "training", name)
