"""Pieces shared by the benchmark scripts: step-window timing, data and JSON records."""

import contextlib
import shlex
import statistics
import sys
import time
from pathlib import Path

import keras

import config
from data import FashionMNIST, load_fashion_mnist, train_val_split
from outputs.folders import check_output_name
from outputs.io import atomic_write_json
from records.provenance import system_info, utc_now


def check_variant(parser, changed: bool, variant: str | None, how: str) -> None:
    """Exits naming --variant unless a variant is named exactly when `how` (the flag and an
    example, e.g. "--set 'schedule.epochs=2'") changes what is measured, and its name is one
    plain folder name (it goes into the record's file name)."""
    if changed != bool(variant):
        parser.error(f"argument --variant: name the variant that {how.split()[0]} makes, and "
                     f"only then (e.g. {how} --variant NAME)")
    if variant:
        try:
            check_output_name(variant, "--variant")
        except ValueError as error:
            parser.error(f"argument --variant: {error}")


def default_out_dir() -> Path:
    return config.RESULTS_PATH / "benchmarks"


def load_train_split(
    data: FashionMNIST | None, val_size: int, seed: int, limit_train: int | None = None
):
    """(train images, train labels), (val images, val labels): the split `train.py` uses."""
    data = data if data is not None else load_fashion_mnist()
    train_idx, val_idx = train_val_split(data.y_train, val_size, seed, limit_train)
    return (
        (data.x_train[train_idx], data.y_train[train_idx]),
        (data.x_train[val_idx], data.y_train[val_idx]),
    )


class WindowTimer(keras.callbacks.Callback):
    """Timestamps the ends of steps W, W + S, W + 2S, ... W + K*S and then stops training.

    Steps are counted across epochs. Keras converts each step's logs to Python numbers before
    calling `on_train_batch_end`, which waits for the step to finish, so a timestamp marks a
    completed step on an accelerator too.

    Args:
        warmup_steps: W >= 1 steps before the first timestamp (tracing, compilation, caches).
        window_steps: S steps per timed window.
        windows: K timed windows.
    """

    def __init__(self, warmup_steps: int, window_steps: int, windows: int):
        super().__init__()
        if warmup_steps < 1 or window_steps < 1 or windows < 1:
            raise ValueError(
                "warmup_steps, window_steps and windows must be >= 1. Received: "
                f"{warmup_steps}, {window_steps}, {windows}"
            )
        self.window_steps = window_steps
        self.boundaries = {warmup_steps + index * window_steps for index in range(windows + 1)}
        self.last_step = max(self.boundaries)
        self.steps_done = 0
        self.timestamps: list[float] = []

    def on_train_batch_end(self, batch, logs=None):
        self.steps_done += 1
        if self.steps_done in self.boundaries:
            self.timestamps.append(time.perf_counter())
            if self.steps_done == self.last_step:
                self.model.stop_training = True

    def window_seconds(self) -> list[float]:
        if len(self.timestamps) != len(self.boundaries):
            raise RuntimeError(
                f"Training stopped after {self.steps_done} of {self.last_step} steps: "
                "the input ran out or training was interrupted."
            )
        return [end - start for start, end in zip(self.timestamps, self.timestamps[1:])]


def window_rates(window_seconds: list[float], images_per_window: int) -> dict:
    """Images/s of every window and their median, which ignores a window hit by a hiccup."""
    rates = [images_per_window / seconds for seconds in window_seconds]
    return {
        "images_per_second": round(statistics.median(rates), 2),
        "window_images_per_second": [round(rate, 2) for rate in rates],
    }


def base_record(module: str, argv: list[str] | None) -> dict:
    """The start of a record: which benchmark ran, the command that reproduces it, when."""
    arguments = sys.argv[1:] if argv is None else argv
    return {
        "benchmark": module.rsplit(".", 1)[-1],
        "command": shlex.join(["python", "-m", module, *arguments]),
        "date": utc_now(),
    }


def write_record(path: Path, record: dict) -> Path:
    """Adds the system description and writes `record` atomically as JSON."""
    record["system"] = system_info()
    atomic_write_json(path, record)
    return path


@contextlib.contextmanager
def restore_dtype_policy():
    """Puts back the global Keras dtype policy that the benchmark changes per approach."""
    policy = keras.mixed_precision.global_policy()
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(policy)
