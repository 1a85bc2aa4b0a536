"""Optimizers and learning-rate schedules by name; a fresh optimizer for every run."""

import keras

from training.bias_lr import scale_bias_learning_rate
from training.config import ExperimentConfig
from training.schedule_rules import COSINE_WARMUP_START_SHARE, CYCLIC_MODES
from training.schedules import CyclicalLearningRate, OneCycleLearningRate, SWALearningRate


def build_schedule(config: ExperimentConfig, steps_per_epoch: int):
    """The learning rate, or a `LearningRateSchedule`, for `config.lr_schedule`."""
    total_steps = config.epochs * steps_per_epoch
    warmup_steps = round(config.warmup_epochs * steps_per_epoch)
    if config.lr_schedule == "constant":
        return config.lr
    if config.lr_schedule == "cosine":
        if not warmup_steps:
            return keras.optimizers.schedules.CosineDecay(config.lr, decay_steps=total_steps)
        return keras.optimizers.schedules.CosineDecay(
            config.lr * COSINE_WARMUP_START_SHARE,
            decay_steps=total_steps - warmup_steps,
            warmup_target=config.lr,
            warmup_steps=warmup_steps,
        )
    if config.lr_schedule == "onecycle":
        return OneCycleLearningRate(config.lr, warmup_steps, total_steps)
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
    """The optimizer of `config`, keeping an exponential moving average of the weights on the
    device when `config.ema` is set (Keras writes it into the model at the end of `fit`), with
    `config.bias_lr_factor` times the learning rate for vector variables when it is not 1."""
    optimizer = _base_optimizer(config, steps_per_epoch)
    if config.bias_lr_factor != 1:
        scale_bias_learning_rate(optimizer, config.bias_lr_factor)
    return optimizer


def _base_optimizer(config: ExperimentConfig, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    common = {
        "learning_rate": build_schedule(config, steps_per_epoch),
        "weight_decay": config.weight_decay or None,
        "use_ema": config.ema is not None,
        "ema_momentum": config.ema or 0.99,
    }
    if config.optimizer == "adam":
        adam = keras.optimizers.AdamW if common["weight_decay"] else keras.optimizers.Adam
        return adam(**common)
    if config.optimizer == "rmsprop":
        return keras.optimizers.RMSprop(**common)
    if config.optimizer == "sgd":
        return keras.optimizers.SGD(momentum=config.momentum, nesterov=config.nesterov, **common)
    raise ValueError(f"Unknown optimizer. Received: optimizer={config.optimizer!r}")
