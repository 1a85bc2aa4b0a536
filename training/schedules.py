"""Learning-rate schedules that Keras does not ship."""

import keras
from keras import ops

from training.schedule_rules import CYCLIC_MODES


@keras.saving.register_keras_serializable(package="fmlab")
class CyclicalLearningRate(keras.optimizers.schedules.LearningRateSchedule):
    """Cyclical learning rate (Smith 2017, "Cyclical Learning Rates for Training Neural Networks").

    The rate goes linearly from `base_lr` to `max_lr` in `step_size` steps and back in as many.
    `triangular` keeps the amplitude, `triangular2` halves it every cycle, `exp_range` scales it
    by `gamma ** step`.

    Args:
        base_lr: lowest learning rate, reached at steps 0, 2*step_size, 4*step_size, ...
        max_lr: highest learning rate, reached at steps step_size, 3*step_size, ...
        step_size: optimizer steps in half a cycle (Smith suggests 2-10 epochs' worth).
        mode: one of "triangular", "triangular2", "exp_range".
        gamma: decay per step for "exp_range".

    Example:
        >>> schedule = CyclicalLearningRate(1e-4, 6e-3, step_size=860, mode="triangular2")
        >>> keras.optimizers.Adam(learning_rate=schedule)
    """

    def __init__(self, base_lr, max_lr, step_size, mode="triangular", gamma=1.0):
        if not 0 < base_lr <= max_lr:
            raise ValueError(
                f"Need 0 < base_lr <= max_lr. Received: base_lr={base_lr}, max_lr={max_lr}"
            )
        if step_size < 1:
            raise ValueError(f"step_size must be at least 1. Received: step_size={step_size}")
        if mode not in CYCLIC_MODES:
            raise ValueError(f"mode must be one of {CYCLIC_MODES}. Received: mode={mode!r}")
        if not 0 < gamma <= 1:
            raise ValueError(f"gamma must be in (0, 1]. Received: gamma={gamma}")
        self.base_lr = float(base_lr)
        self.max_lr = float(max_lr)
        self.step_size = int(step_size)
        self.mode = mode
        self.gamma = float(gamma)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        cycle = ops.floor(1.0 + step / (2.0 * self.step_size))
        position = ops.abs(step / self.step_size - 2.0 * cycle + 1.0)
        amplitude = (self.max_lr - self.base_lr) * ops.maximum(0.0, 1.0 - position)
        if self.mode == "triangular2":
            amplitude = amplitude / ops.power(2.0, cycle - 1.0)
        elif self.mode == "exp_range":
            amplitude = amplitude * ops.power(self.gamma, step)
        return self.base_lr + amplitude

    def get_config(self):
        return {
            "base_lr": self.base_lr,
            "max_lr": self.max_lr,
            "step_size": self.step_size,
            "mode": self.mode,
            "gamma": self.gamma,
        }


@keras.saving.register_keras_serializable(package="fmlab")
class SWALearningRate(keras.optimizers.schedules.LearningRateSchedule):
    """The schedule of Izmailov et al. 2018 ("Averaging Weights Leads to Wider Optima...").

    Constant `initial_lr` for the first half of the steps before averaging starts, then a linear
    decay that reaches `swa_lr` at `swa_start_step`, then constant `swa_lr` while weights are
    averaged.

    Args:
        initial_lr: learning rate at the start.
        swa_lr: learning rate while averaging.
        swa_start_step: optimizer step at which averaging starts.
    """

    def __init__(self, initial_lr, swa_lr, swa_start_step):
        if not 0 < swa_lr <= initial_lr:
            raise ValueError(
                f"Need 0 < swa_lr <= initial_lr. Received: swa_lr={swa_lr}, initial_lr={initial_lr}"
            )
        if swa_start_step < 1:
            raise ValueError(
                f"swa_start_step must be >= 1. Received: swa_start_step={swa_start_step}"
            )
        self.initial_lr = float(initial_lr)
        self.swa_lr = float(swa_lr)
        self.swa_start_step = int(swa_start_step)

    def __call__(self, step):
        progress = ops.cast(step, "float32") / float(self.swa_start_step)
        decay = ops.clip((progress - 0.5) / 0.5, 0.0, 1.0)
        return self.initial_lr + (self.swa_lr - self.initial_lr) * decay

    def get_config(self):
        return {
            "initial_lr": self.initial_lr,
            "swa_lr": self.swa_lr,
            "swa_start_step": self.swa_start_step,
        }


@keras.saving.register_keras_serializable(package="fmlab")
class OneCycleLearningRate(keras.optimizers.schedules.LearningRateSchedule):
    """One cycle (Smith & Topin 2019, "Super-Convergence", arXiv:1708.07120): the rate rises
    linearly from `peak_lr * start_fraction` to `peak_lr` over `warmup_steps`, then falls linearly
    to 0 at `total_steps`, the triangular shape of airbench (Jordan 2024, arXiv:2404.00498).

    Args:
        peak_lr: the highest learning rate, reached after `warmup_steps`.
        warmup_steps: steps of the rise; 0 starts at the peak.
        total_steps: steps of the whole schedule; the rate is 0 from there on.
        start_fraction: the first rate as a fraction of `peak_lr`.

    Example:
        >>> schedule = OneCycleLearningRate(4e-3, warmup_steps=430, total_steps=2150)
        >>> keras.optimizers.Adam(learning_rate=schedule)
    """

    def __init__(self, peak_lr, warmup_steps, total_steps, start_fraction=0.1):
        if not peak_lr > 0:
            raise ValueError(f"peak_lr must be > 0. Received: peak_lr={peak_lr}")
        if not 0 <= warmup_steps < total_steps:
            raise ValueError(
                "Need 0 <= warmup_steps < total_steps. Received: "
                f"warmup_steps={warmup_steps}, total_steps={total_steps}"
            )
        if not 0 <= start_fraction <= 1:
            raise ValueError(f"start_fraction must be in [0, 1]. Received: {start_fraction}")
        self.peak_lr = float(peak_lr)
        self.warmup_steps = int(warmup_steps)
        self.total_steps = int(total_steps)
        self.start_fraction = float(start_fraction)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        rise = step / max(self.warmup_steps, 1)
        warming = self.start_fraction + (1.0 - self.start_fraction) * ops.minimum(rise, 1.0)
        decay_steps = float(self.total_steps - self.warmup_steps)
        falling = ops.clip((self.total_steps - step) / decay_steps, 0.0, 1.0)
        factor = ops.where(step < self.warmup_steps, warming, falling)
        return self.peak_lr * factor

    def get_config(self):
        return {
            "peak_lr": self.peak_lr,
            "warmup_steps": self.warmup_steps,
            "total_steps": self.total_steps,
            "start_fraction": self.start_fraction,
        }
