"""Training: configuration, optimizers and schedules, SWA, and `run_experiment`.

Names are loaded on first use, so `from training.config import ExperimentConfig` (what
`train.py --help` needs) does not load TensorFlow.
"""

import importlib

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
    if name not in _EXPORTS:
        raise AttributeError(f"module 'training' has no attribute {name!r}")
    from quiet_tensorflow import import_tensorflow

    import_tensorflow()
    return getattr(importlib.import_module(_EXPORTS[name]), name)
