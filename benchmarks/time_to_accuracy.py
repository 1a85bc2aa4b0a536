"""Wall time until a model first reaches a target validation accuracy with this project's pipeline.

Trains like `train.py` (the stratified 5,000-image validation split, the default augmentation,
batch size and precision, Adam) and measures the live weights' validation accuracy every
--eval-every-steps steps. The clock for training time stops during evaluations; the record keeps
training time, evaluation time and wall time to the first evaluation at or above --target, and
the whole curve.

The learning rate is a constant 1e-3 by default, so the time to the target does not depend on a
run length chosen in advance. `--lr-schedule swa --epochs 8` is `train.py`'s default instead: its
rate decays to a tenth between epochs 2.5 and 5 of the 8, so it measures that planned run. SWA
weight averaging itself is not evaluated: its weights exist only at the end of a run.

Training stops at the target, after --max-minutes of training time, or after --epochs epochs.
The record goes to <out>/time-to-accuracy-<model>.json (-<schedule> appended for a schedule other
than constant).

    python -m benchmarks.time_to_accuracy --model simple-cnn --target 0.92 --max-minutes 20
"""

import argparse
import math
import sys
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from benchmarks.common import (
    base_record,
    default_out_dir,
    load_train_split,
    write_record,
)
from data import build_augmentation, make_dataset, make_training_dataset
from models.whitening import fit_whitening, whitening_layers
from training.config import ExperimentConfig
from training.experiment import build_compiled_model
from training.hardware import AUGMENT_ON, PRECISIONS
from training.schedule_rules import LR_SCHEDULES

EVAL_BATCH_SIZE = 512
DEFAULT_SCHEDULE = "constant"


class ValidationCurve(keras.callbacks.Callback):
    """Evaluates validation accuracy every `every_steps` steps, with the training clock paused.

    Stops training when the accuracy reaches `target` or the training time exceeds
    `max_train_seconds`; evaluates once more at the end when the last step was not evaluated.
    """

    def __init__(self, val_dataset, every_steps, target, max_train_seconds, steps_per_epoch):
        super().__init__()
        self.val_dataset = val_dataset
        self.every_steps = every_steps
        self.target = target
        self.max_train_seconds = max_train_seconds
        self.steps_per_epoch = steps_per_epoch
        self.curve: list[dict] = []
        self.reached: dict | None = None
        self.stopped_by = "epochs"
        self.steps = 0
        self.eval_seconds = 0.0

    def on_train_begin(self, logs=None):
        self.started = time.perf_counter()
        self.predict = tf.function(
            lambda images: self.model(images, training=False), reduce_retracing=True
        )

    def train_seconds(self) -> float:
        return time.perf_counter() - self.started - self.eval_seconds

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        out_of_time = self.train_seconds() >= self.max_train_seconds
        if self.steps % self.every_steps == 0 or out_of_time:
            self._evaluate()
        if out_of_time and self.reached is None:
            self.stopped_by = "max_minutes"
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if not self.curve or self.curve[-1]["step"] != self.steps:
            self._evaluate()

    def _accuracy(self) -> float:
        correct = 0
        total = 0
        for images, labels in self.val_dataset:
            predicted = np.argmax(self.predict(images), axis=-1)
            correct += int(np.sum(predicted == labels.numpy()))
            total += len(predicted)
        return correct / total

    def _evaluate(self):
        train_seconds = self.train_seconds()
        eval_started = time.perf_counter()
        accuracy = self._accuracy()
        self.eval_seconds += time.perf_counter() - eval_started
        point = {
            "step": self.steps,
            "epoch": round(self.steps / self.steps_per_epoch, 3),
            "train_seconds": round(train_seconds, 2),
            "eval_seconds": round(self.eval_seconds, 2),
            "wall_seconds": round(time.perf_counter() - self.started, 2),
            "val_accuracy": round(accuracy, 4),
        }
        self.curve.append(point)
        print(
            f"step {point['step']:>6}  epoch {point['epoch']:6.2f}  "
            f"train {point['train_seconds']:8.1f} s  val_accuracy {accuracy:.4f}",
            flush=True,
        )
        if self.reached is None and accuracy >= self.target:
            self.reached = point
            self.stopped_by = "target"
            self.model.stop_training = True


def parse_args(argv=None) -> argparse.Namespace:
    defaults = ExperimentConfig()
    parser = argparse.ArgumentParser(
        description="Wall time until the project pipeline first reaches a validation accuracy.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--model", default=defaults.model.name, help="registered model name")
    parser.add_argument("--target", type=float, default=0.92, help="validation accuracy to reach")
    parser.add_argument("--max-minutes", type=float, default=10.0, help="cap on training time")
    parser.add_argument("--eval-every-steps", type=int, default=100)
    parser.add_argument(
        "--epochs",
        type=int,
        default=30,
        help="cap on epochs; also times the decay of --lr-schedule",
    )
    parser.add_argument("--batch-size", type=int, default=defaults.runtime.batch_size)
    parser.add_argument("--lr", type=float, default=defaults.optimizer.lr)
    parser.add_argument("--lr-schedule", default=DEFAULT_SCHEDULE, choices=LR_SCHEDULES)
    parser.add_argument("--precision", default=defaults.runtime.precision, choices=PRECISIONS)
    parser.add_argument("--augment-on", default=defaults.runtime.augment_on, choices=AUGMENT_ON)
    parser.add_argument(
        "--jit-compile",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="XLA; default: on with a GPU only",
    )
    parser.add_argument("--val-size", type=int, default=defaults.data.val_size)
    parser.add_argument(
        "--limit-train", type=int, default=None, help="train on a stratified subset (smoke runs)"
    )
    parser.add_argument("--seed", type=int, default=defaults.runtime.seed)
    parser.add_argument("--out", type=Path, default=None, help="default: RESULTS_PATH/benchmarks")
    args = parser.parse_args(argv)
    if not 0.0 < args.target <= 1.0:
        parser.error("argument --target: must be in (0, 1]")
    if args.max_minutes <= 0:
        parser.error("argument --max-minutes: must be positive")
    if args.eval_every_steps < 1:
        parser.error("argument --eval-every-steps: must be at least 1")
    args.config = ExperimentConfig().replace(
        model=args.model,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        lr_schedule=args.lr_schedule,
        precision=args.precision,
        augment_on=args.augment_on,
        jit_compile=args.jit_compile,
        val_size=args.val_size,
        limit_train=args.limit_train,
        seed=args.seed,
    ).resolved()
    try:
        args.config.validate()
    except ValueError as error:
        parser.error(str(error))
    args.out = args.out or default_out_dir()
    return args


def main(argv=None, data=None) -> int:
    """Runs the benchmark; `data` (a `FashionMNIST`) skips loading the dataset again."""
    args = parse_args(argv)
    config = args.config
    started = time.perf_counter()
    keras.utils.set_random_seed(config.runtime.seed)
    split = config.data
    train, val = load_train_split(data, split.val_size, split.split_seed, split.limit_train)
    augmentation = (
        build_augmentation(**config.augmentation.layer_settings(), seed=config.runtime.seed)
        if config.runtime.augment_on == "dataset"
        else None  # build_compiled_model puts it in the train step
    )
    train_dataset = make_training_dataset(
        *train,
        config.runtime.batch_size,
        config.runtime.seed,
        augmentation=augmentation,
        alternate_flip=config.augmentation.flip_mode == "alternate",
    )
    steps_per_epoch = math.ceil(len(train[0]) / config.runtime.batch_size)
    curve = ValidationCurve(
        make_dataset(*val, EVAL_BATCH_SIZE),
        args.eval_every_steps,
        args.target,
        args.max_minutes * 60,
        steps_per_epoch,
    )
    model = build_compiled_model(config, tf.distribute.get_strategy(), steps_per_epoch)
    if whitening_layers(model):
        fit_whitening(model, train[0])
    setup_seconds = time.perf_counter() - started
    model.fit(
        train_dataset,
        epochs=config.schedule.epochs,
        steps_per_epoch=steps_per_epoch,
        callbacks=[curve],
        verbose=0,
        shuffle=False,
    )

    record = time_to_accuracy_record(args, argv, model, curve, setup_seconds, (train, val))
    suffix = "" if config.schedule.name == DEFAULT_SCHEDULE else f"-{config.schedule.name}"
    path = write_record(args.out / f"time-to-accuracy-{config.model.name}{suffix}.json", record)
    print_outcome(config.model.name, args.target, curve, record)
    print(f"record: {path}")
    return 0


def time_to_accuracy_record(args, argv, model, curve, setup_seconds, splits) -> dict:
    config, reached = args.config, curve.reached
    train, val = splits
    record = base_record("benchmarks.time_to_accuracy", argv)
    record.update(
        model=config.model.name,
        params=int(model.count_params()),
        target_val_accuracy=args.target,
        reached=reached is not None,
        stopped_by=curve.stopped_by,
        train_seconds_to_target=reached["train_seconds"] if reached else None,
        eval_seconds_to_target=reached["eval_seconds"] if reached else None,
        wall_seconds_to_target=reached["wall_seconds"] if reached else None,
        total_seconds_to_target=(
            round(setup_seconds + reached["wall_seconds"], 2) if reached else None
        ),
        steps_to_target=reached["step"] if reached else None,
        epochs_to_target=reached["epoch"] if reached else None,
        setup_seconds=round(setup_seconds, 2),
        best_val_accuracy=max(point["val_accuracy"] for point in curve.curve),
        train_images_per_second=round(
            curve.steps * config.runtime.batch_size / curve.curve[-1]["train_seconds"], 2
        ),
        timing=(
            "train_seconds: from the start of fit, evaluations excluded (tracing and the first "
            "shuffle-buffer fill included); wall_seconds: the same with evaluations; "
            "total_seconds: wall_seconds plus setup (data loading, split, model build)"
        ),
        eval_every_steps=args.eval_every_steps,
        max_minutes=args.max_minutes,
        train_images=len(train[0]),
        val_images=len(val[0]),
        config=config.to_dict(),
        curve=curve.curve,
    )
    return record


def print_outcome(model_name: str, target: float, curve, record: dict) -> None:
    reached = curve.reached
    if reached:
        print(
            f"\n{model_name} reached val_accuracy {reached['val_accuracy']:.4f} >= "
            f"{target} after {reached['train_seconds']:.1f} s of training "
            f"({reached['wall_seconds']:.1f} s with evaluations, "
            f"{record['total_seconds_to_target']:.1f} s with setup), "
            f"step {reached['step']}, epoch {reached['epoch']:.2f}"
        )
    else:
        print(
            f"\n{model_name} did not reach {target} (best {record['best_val_accuracy']:.4f},"
            f" stopped by {curve.stopped_by})"
        )


if __name__ == "__main__":
    sys.exit(main())
