"""Optimizers and learning-rate schedules by name; a fresh optimizer for every run."""

import keras

from training.config import CYCLIC_MODES, ExperimentConfig
from training.schedules import CyclicalLearningRate, SWALearningRate


def build_schedule(config: ExperimentConfig, steps_per_epoch: int):
    """The learning rate, or a `LearningRateSchedule`, for `config.lr_schedule`."""
    total_steps = config.epochs * steps_per_epoch
    if config.lr_schedule == "constant":
        return config.lr
    if config.lr_schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(config.lr, decay_steps=total_steps)
    if config.lr_schedule == "swa":
        if not config.swa:
            raise ValueError("lr_schedule='swa' needs swa on. Received: swa=False")
        return SWALearningRate(
            config.lr, config.swa_lr, (config.swa_start - 1) * steps_per_epoch or 1
        )
    if config.lr_schedule in CYCLIC_MODES:
        step_size = max(1, round(config.cycle_epochs * steps_per_epoch))
        return CyclicalLearningRate(
            config.lr, config.max_lr, step_size, mode=config.lr_schedule, gamma=config.clr_gamma
        )
    raise ValueError(f"Unknown lr_schedule. Received: lr_schedule={config.lr_schedule!r}")


def build_optimizer(config: ExperimentConfig, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    learning_rate = build_schedule(config, steps_per_epoch)
    decay = config.weight_decay or None
    if config.optimizer == "adam":
        if decay:
            return keras.optimizers.AdamW(learning_rate=learning_rate, weight_decay=decay)
        return keras.optimizers.Adam(learning_rate=learning_rate)
    if config.optimizer == "rmsprop":
        return keras.optimizers.RMSprop(learning_rate=learning_rate, weight_decay=decay)
    if config.optimizer == "sgd":
        return keras.optimizers.SGD(
            learning_rate=learning_rate,
            momentum=config.momentum,
            nesterov=config.nesterov,
            weight_decay=decay,
        )
    raise ValueError(f"Unknown optimizer. Received: optimizer={config.optimizer!r}")
