"""Runs one experiment from an `ExperimentConfig`: what `train.py` and the notebook both call."""

import math
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

import config as paths
from data import (
    CLASS_NAMES,
    IMAGE_SHAPE,
    NUM_CLASSES,
    FashionMNIST,
    build_augmentation,
    load_fashion_mnist,
    make_dataset,
    train_val_split,
)
from evaluation.metrics import Evaluation, evaluate_model
from evaluation.plots import confusion_figure, figure_to_png, reconstruction_figure
from evaluation.records import (
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    create_run_dir,
    default_run_name,
    system_info,
    utc_now,
)
from models import build_model
from training.callbacks import BestModelCheckpoint, HistoryRecorder, save_model_atomically
from training.config import ExperimentConfig
from training.device_augmentation import augment_in_train_step
from training.hardware import make_strategy
from training.optimizers import build_optimizer
from training.swa import SWA

EVAL_BATCH_SIZE = 512


@dataclass
class RunResult:
    """What a run produced: its record (as written to result.json), folders and trained model."""

    record: dict
    run_dir: Path
    checkpoint_dir: Path
    tensorboard_dir: Path
    model: keras.Model
    evaluation: Evaluation | None

    @property
    def name(self) -> str:
        return self.record["run_name"]

    @property
    def test_accuracy(self) -> float | None:
        return self.record["test_accuracy"]

    @property
    def history(self) -> pd.DataFrame:
        return pd.DataFrame.from_dict(self.record["history"], orient="index")


def _prepare_run_dir(config: ExperimentConfig, resume: bool) -> Path:
    root = paths.RESULTS_PATH
    if not resume:
        name = config.run_name or default_run_name(config.model, config.optimizer)
        return create_run_dir(root, name)
    if not config.run_name:
        raise ValueError("resume needs the name of the run to continue. Received: run_name=None")
    run_dir = root / config.run_name
    if not (run_dir / "config.json").exists():
        raise FileNotFoundError(
            f"Cannot resume {config.run_name!r}: {run_dir / 'config.json'} does not exist. "
            f"Runs that can be resumed are folders under RESULTS_PATH={root}."
        )
    if (run_dir / "result.json").exists():
        raise FileExistsError(
            f"Run {config.run_name!r} is already complete ({run_dir / 'result.json'}); "
            "start a new run instead of resuming it."
        )
    return run_dir


def _evaluate(model, split: tuple[np.ndarray, np.ndarray]) -> Evaluation:
    return evaluate_model(model, split[0], split[1], CLASS_NAMES, batch_size=EVAL_BATCH_SIZE)


def _log_confusion_to_tensorboard(tensorboard_dir: Path, png: bytes, step: int):
    writer = tf.summary.create_file_writer(str(tensorboard_dir / "test"))
    with writer.as_default():
        tf.summary.image(
            "confusion_matrix", tf.expand_dims(tf.image.decode_png(png, 4), 0), step=step
        )
    writer.close()


def build_compiled_model(config: ExperimentConfig, strategy, steps_per_epoch: int):
    """The model in `config.precision`, compiled under `strategy`, augmenting inside its train
    step when `config.augment_on` is "model"; the global dtype policy is restored afterwards, so
    models built later in the same process are unaffected."""
    previous_policy = keras.mixed_precision.global_policy()
    try:
        model_kwargs = {"input_size": config.input_size} if config.input_size else {}
        with strategy.scope():
            # Built before the mixed policy is set, so augmentation computes in float32.
            augmentation = (
                build_augmentation(**config.augmentation_settings(), seed=config.seed)
                if config.augment_on == "model"
                else None
            )
            keras.mixed_precision.set_global_policy(config.precision)
            model = build_model(
                config.model, input_shape=IMAGE_SHAPE, num_classes=NUM_CLASSES, **model_kwargs
            )
            if augmentation is not None:
                augment_in_train_step(model, augmentation)
            model.compile(
                optimizer=build_optimizer(config, steps_per_epoch),
                loss="sparse_categorical_crossentropy",
                metrics=["accuracy"],
                jit_compile=config.jit_compile,
            )
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)
    return model


def run_experiment(
    config: ExperimentConfig,
    resume: bool = False,
    data: FashionMNIST | None = None,
    verbose: int | str = "auto",
) -> RunResult:
    """Trains `config.model`, selects on the validation split and evaluates the test set once.

    Writes `RESULTS_PATH/<run>/` (config.json, history.json, result.json, report.csv,
    confusion.png), `DL_MODELS_PATH/<run>/` (best.keras by validation accuracy, final.keras,
    swa.keras, and the resumable backup while training) and `TB_LOGS_PATH/<run>/`.
    With `resume=True`, `config.run_name` names an interrupted run, which continues from its last
    completed epoch.
    """
    run_started = time.perf_counter()
    config = config.resolved().validate()
    strategy = make_strategy(config.distribute)  # first: collective ops need a fresh runtime
    keras.utils.set_random_seed(config.seed)
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()

    data = data if data is not None else load_fashion_mnist()
    run_dir = _prepare_run_dir(config, resume)
    run_name = run_dir.name
    if resume:
        config = ExperimentConfig.from_json(run_dir / "config.json")
    else:
        config.run_name = run_name
        atomic_write_json(run_dir / "config.json", config.to_dict())
    checkpoint_dir = paths.DL_MODELS_PATH / run_name
    tensorboard_dir = paths.TB_LOGS_PATH / run_name
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    backup_dir = checkpoint_dir / "backup"

    train_idx, val_idx = train_val_split(
        data.y_train, config.val_size, config.seed, config.limit_train
    )
    train = (data.x_train[train_idx], data.y_train[train_idx])
    val = (data.x_train[val_idx], data.y_train[val_idx])
    test = (data.x_test, data.y_test)
    augmentation = (
        build_augmentation(**config.augmentation_settings(), seed=config.seed)
        if config.augment_on == "dataset"
        else None
    )
    train_ds = make_dataset(
        *train, config.batch_size, training=True, augmentation=augmentation, seed=config.seed
    )
    val_ds = make_dataset(*val, EVAL_BATCH_SIZE)
    steps_per_epoch = math.ceil(len(train[0]) / config.batch_size)

    model = build_compiled_model(config, strategy, steps_per_epoch)

    history = HistoryRecorder(run_dir / "history.json")
    best_so_far, _ = history.best("val_accuracy")
    swa = SWA(config.swa_start, config.swa_freq, state_dir=backup_dir) if config.swa else None
    callbacks = [
        keras.callbacks.TerminateOnNaN(),
        *([swa] if swa else []),
        history,  # before the backup, so a re-run epoch overwrites its entry
        # Kept until the record is written, so a run that dies while being evaluated resumes
        # without training again.
        keras.callbacks.BackupAndRestore(
            str(backup_dir), double_checkpoint=True, delete_checkpoint=False
        ),
        BestModelCheckpoint(checkpoint_dir / "best.keras", "val_accuracy", best=best_so_far),
        keras.callbacks.TensorBoard(str(tensorboard_dir)),
    ]
    if config.early_stopping:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor="val_accuracy", mode="max", patience=config.early_stopping
            )
        )
    if config.reduce_lr_patience:
        callbacks.append(
            keras.callbacks.ReduceLROnPlateau(
                monitor="val_loss", factor=0.5, patience=config.reduce_lr_patience
            )
        )

    started = time.perf_counter()
    model.fit(
        train_ds, validation_data=val_ds, epochs=config.epochs, callbacks=callbacks, verbose=verbose
    )
    fit_seconds = time.perf_counter() - started

    epochs = history.epochs
    losses = [epochs[e].get("loss") for e in sorted(epochs)]
    failed_epoch = next((e for e, loss in zip(sorted(epochs), losses) if loss is None), None)
    best_val, best_epoch = history.best("val_accuracy")
    train_seconds = sum(logs["seconds"] for logs in epochs.values())
    record = {
        "run_name": run_name,
        "status": "failed" if failed_epoch else "completed",
        "model": config.model,
        "optimizer": config.optimizer,
        "config": config.to_dict(),
        "seed": config.seed,
        "smoke_run": config.limit_train is not None,
        "params": int(model.count_params()),
        "replicas": strategy.num_replicas_in_sync,
        "train_images": len(train[0]),
        "val_images": len(val[0]),
        "epochs_run": len(epochs),
        "best_val_accuracy": best_val,
        "best_epoch": best_epoch,
        "history": {str(e): epochs[e] for e in sorted(epochs)},
        "train_seconds": train_seconds,
        "images_per_second": len(train[0]) * len(epochs) / train_seconds if train_seconds else None,
        "finished": utc_now(),
        "system": system_info(),
    }
    evaluation = None
    if failed_epoch:
        record.update(
            failed_epoch=failed_epoch,
            test_accuracy=None,
            error=f"loss became NaN or infinite in epoch {failed_epoch}",
        )
    else:
        final_eval = _evaluate(model, test)
        record["val_accuracy_final"] = _evaluate(model, val).accuracy
        record["test_accuracy_final"] = final_eval.accuracy
        save_model_atomically(model, checkpoint_dir / "final.keras")
        evaluation, selected = final_eval, "final"
        final_weights = model.get_weights()
        if swa is not None and swa.apply(make_dataset(*train, EVAL_BATCH_SIZE)):
            swa_eval = _evaluate(model, test)
            record["val_accuracy_swa"] = _evaluate(model, val).accuracy
            record["test_accuracy_swa"] = swa_eval.accuracy
            record["swa_epochs"] = swa.snapshot_epochs
            save_model_atomically(model, checkpoint_dir / "swa.keras")
            if record["val_accuracy_swa"] >= record["val_accuracy_final"]:
                evaluation, selected = swa_eval, "swa"
            else:  # the returned model holds the selected weights
                model.set_weights(final_weights)
        record["selected_weights"] = selected  # chosen on validation accuracy, never on test
        record["test_accuracy"] = evaluation.accuracy
        atomic_write_text(run_dir / "report.csv", evaluation.report.to_csv(float_format="%.4f"))
        png = figure_to_png(
            confusion_figure(
                evaluation.confusion, CLASS_NAMES, f"{run_name} ({selected} weights), test set"
            )
        )
        atomic_write_bytes(run_dir / "confusion.png", png)
        _log_confusion_to_tensorboard(tensorboard_dir, png, step=len(epochs))
        record["confusion_matrix"] = evaluation.confusion.tolist()
        if hasattr(model, "reconstruct"):  # capsule networks decode their class capsules
            images = test[0][:10]
            atomic_write_bytes(
                run_dir / "reconstructions.png",
                figure_to_png(reconstruction_figure(images, model.reconstruct(images))),
            )
    record["fit_seconds"] = fit_seconds
    # From the call to the record: data loading, model building, training and evaluation.
    record["wall_seconds"] = time.perf_counter() - run_started
    atomic_write_json(run_dir / "result.json", record)
    shutil.rmtree(backup_dir, ignore_errors=True)
    return RunResult(record, run_dir, checkpoint_dir, tensorboard_dir, model, evaluation)
