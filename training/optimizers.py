"""Optimizers and learning-rate schedules by name; a fresh optimizer for every run."""

import keras

from training.bias_lr import scale_bias_learning_rate
from training.config import ExperimentConfig
from training.schedule_rules import COSINE_WARMUP_START_SHARE, CYCLIC_MODES
from training.schedules import CyclicalLearningRate, OneCycleLearningRate, SWALearningRate


def build_schedule(config: ExperimentConfig, steps_per_epoch: int):
    """The learning rate, or a `LearningRateSchedule`, for `config.schedule`."""
    schedule, lr, averaging = config.schedule, config.optimizer.lr, config.averaging
    total_steps = schedule.epochs * steps_per_epoch
    warmup_steps = round(schedule.warmup_epochs * steps_per_epoch)
    if schedule.name == "constant":
        return lr
    if schedule.name == "cosine":
        if not warmup_steps:
            return keras.optimizers.schedules.CosineDecay(lr, decay_steps=total_steps)
        return keras.optimizers.schedules.CosineDecay(
            lr * COSINE_WARMUP_START_SHARE,
            decay_steps=total_steps - warmup_steps,
            warmup_target=lr,
            warmup_steps=warmup_steps,
        )
    if schedule.name == "onecycle":
        return OneCycleLearningRate(lr, warmup_steps, total_steps)
    if schedule.name == "swa":
        if not averaging.swa:
            raise ValueError("lr_schedule='swa' needs swa on. Received: swa=False")
        return SWALearningRate(
            lr, averaging.swa_lr, (averaging.swa_start - 1) * steps_per_epoch or 1
        )
    if schedule.name in CYCLIC_MODES:
        step_size = max(1, round(schedule.cycle_epochs * steps_per_epoch))
        return CyclicalLearningRate(
            lr, schedule.max_lr, step_size, mode=schedule.name, gamma=schedule.clr_gamma
        )
    raise ValueError(f"Unknown lr_schedule. Received: lr_schedule={schedule.name!r}")


def build_optimizer(config: ExperimentConfig, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    """The optimizer of `config`, keeping an exponential moving average of the weights on the
    device when `config.averaging.ema` is set (Keras writes it into the model at the end of
    `fit`), with `config.optimizer.bias_lr_factor` times the learning rate for vector variables
    when it is not 1."""
    optimizer = _base_optimizer(config, steps_per_epoch)
    if config.optimizer.bias_lr_factor != 1:
        scale_bias_learning_rate(optimizer, config.optimizer.bias_lr_factor)
    return optimizer


def _base_optimizer(config: ExperimentConfig, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    settings, ema = config.optimizer, config.averaging.ema
    common = {
        "learning_rate": build_schedule(config, steps_per_epoch),
        "weight_decay": settings.weight_decay or None,
        "use_ema": ema is not None,
        "ema_momentum": ema or 0.99,
    }
    if settings.name == "adam":
        adam = keras.optimizers.AdamW if common["weight_decay"] else keras.optimizers.Adam
        return adam(**common)
    if settings.name == "rmsprop":
        return keras.optimizers.RMSprop(**common)
    if settings.name == "sgd":
        return keras.optimizers.SGD(
            momentum=settings.momentum, nesterov=settings.nesterov, **common
        )
    raise ValueError(f"Unknown optimizer. Received: optimizer={settings.name!r}")
