"""The learning-rate schedules by name, and the defaults each one derives from the other
settings: the learning rate for a batch size, a one-cycle peak and warm-up, SWA's rate and
snapshots. No TensorFlow here, so the command line and the configuration can read it;
`training.schedules` and `training.optimizers` build the schedules themselves.
"""

import math

CYCLIC_MODES = ("triangular", "triangular2", "exp_range")
LR_SCHEDULES = ("auto", "constant", "cosine", "onecycle", "swa", *CYCLIC_MODES)
WARMUP_SCHEDULES = ("cosine", "onecycle")  # the schedules that take a linear warm-up
# The default learning rate is tuned for Adam at this batch size; other batch sizes scale it.
REFERENCE_LR = 1e-3
REFERENCE_BATCH_SIZE = 128
# A one-cycle schedule is near its peak only mid-run, so its default peak is this multiple of the
# reference rate (the fast recipe's 3e-3 for Adam at batch size 128).
ONECYCLE_LR_FACTOR = 3
# A one-cycle schedule warms up over this share of the epochs by default.
ONECYCLE_WARMUP_SHARE = 1 / 5
# A cosine schedule's linear warm-up starts at this share of its peak.
COSINE_WARMUP_START_SHARE = 1 / 10
# SWA's constant rate is this share of the peak learning rate by default.
SWA_LR_SHARE = 1 / 10
# SWA's default start is epoch ceil(3/4 * epochs): from 4 epochs on, at least two epochs train
# before averaging and at least two snapshots are averaged. Shorter runs turn it off by default.
MIN_SWA_EPOCHS = 4


def scaled_learning_rate(optimizer: str, batch_size: int) -> float:
    """`REFERENCE_LR` scaled from `REFERENCE_BATCH_SIZE` to `batch_size`: linearly for SGD (Goyal
    et al. 2017, arXiv:1706.02677), by the square root for Adam and RMSprop (Malladi et al. 2022,
    arXiv:2205.10287)."""
    ratio = batch_size / REFERENCE_BATCH_SIZE
    return REFERENCE_LR * (ratio if optimizer == "sgd" else ratio**0.5)


def default_lr(schedule: str, optimizer: str, batch_size: int) -> float:
    """The peak learning rate of `schedule` (a resolved name, not `auto`) when none is given:
    the scaled reference rate, times `ONECYCLE_LR_FACTOR` for one-cycle.

    Example: `default_lr("onecycle", "adam", 128)` is 3e-3.
    """
    factor = ONECYCLE_LR_FACTOR if schedule == "onecycle" else 1
    return factor * scaled_learning_rate(optimizer, batch_size)


def default_swa(epochs: int, swa_start: int | None) -> bool:
    """SWA is on by default from `MIN_SWA_EPOCHS` epochs, or whenever a start is given."""
    return epochs >= MIN_SWA_EPOCHS or swa_start is not None


def default_schedule(swa: bool) -> str:
    """What `auto` means: SWA's schedule with SWA, else cosine decay."""
    return "swa" if swa else "cosine"


def default_warmup_epochs(schedule: str, epochs: int) -> float:
    """A fifth of the epochs for one-cycle, none for the others."""
    return epochs * ONECYCLE_WARMUP_SHARE if schedule == "onecycle" else 0


def default_swa_lr(lr: float) -> float:
    """SWA's constant rate: a tenth of the peak rate."""
    return lr * SWA_LR_SHARE


def swa_snapshots(schedule: str, epochs: int, cycle_epochs: float, swa_start: int | None,
                  swa_freq: int | None) -> tuple[int, int]:
    """SWA's (start epoch, epochs between snapshots), each given value kept. With a cyclical
    schedule, Izmailov et al. take one snapshot per cycle at its learning-rate minimum: every
    2 x `cycle_epochs`; otherwise from epoch ceil(3/4 x epochs), every epoch.

    Example: `swa_snapshots("cosine", 10, 2.0, None, None)` is (8, 1).
    """
    cyclical = schedule in CYCLIC_MODES and 0 < cycle_epochs < math.inf
    cycle = max(1, round(2 * cycle_epochs)) if cyclical else None
    start = swa_start
    if start is None:
        start = min(cycle, epochs) if cycle else max(1, -(-3 * epochs // 4))
    return start, swa_freq or cycle or 1
