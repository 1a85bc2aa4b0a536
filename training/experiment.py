"""Runs one experiment from an `ExperimentConfig`: what `train.py` and the notebook both call.

`run_experiment` reads as its stages: resolve the configuration and the runtime, prepare the run's
folders, build the data, build and compile the model, make the callbacks, train, evaluate and
select the weights on validation, and write the record.
"""

import errno
import json
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
    IMAGE_SHAPE,
    NUM_CLASSES,
    FashionMNIST,
    build_augmentation,
    load_fashion_mnist,
    make_dataset,
    make_training_dataset,
    train_val_split,
)
from evaluation.metrics import Evaluation, evaluate_predictions
from models import build_model, get_spec
from models.arguments import check_model_arguments
from models.whitening import fit_whitening, whitening_layers
from outputs.folders import (
    RUN_ROOTS,
    check_output_name,
    check_output_roots,
    claim_output_dir,
    output_roots,
)
from outputs.io import atomic_write_bytes, atomic_write_json, atomic_write_text
from records.machine import summarize_load
from records.predictions import PREDICTIONS_FILE, write_predictions
from records.provenance import default_run_name, system_info, utc_now
from records.run_record import RunRecord
from reporting.plots import confusion_figure, figure_to_png, reconstruction_figure
from training.backup import (
    ATTEMPTS_FILE,
    LOCK_FILE,
    AttemptClock,
    EpochBackup,
    RunLock,
    check_identity,
    read_backup_state,
    write_identity,
)
from training.callbacks import (
    BestModelCheckpoint,
    HistoryRecorder,
    LastEpochWeights,
    TerminateOnInvalidValidationLoss,
    diverged,
    epoch_loads,
    inference_copy,
    save_model_atomically,
)
from training.config import ConfigError, ExperimentConfig, with_budget_epochs
from training.device_augmentation import augment_in_train_step
from training.hardware import make_strategy
from training.hparams import log_hparams
from training.losses import SparseCategoricalCrossentropyWithSmoothing
from training.optimizers import build_optimizer
from training.presets import preset_chain, to_toml
from training.schedule_rules import MIN_SWA_EPOCHS
from training.selection import (
    BATCHNORM_IMAGES,
    EVAL_BATCH_SIZE,
    Candidate,
    score_weight_set,
    scores,
    select,
    with_tta,
)
from training.specialists import (
    GroupSplit,
    class_names,
    group_data,
    group_fields,
    kept_predictions,
)
from training.speed_probe import BudgetStop, measure_epoch_cost
from training.swa import SWA, batchnorm_statistics_settled, recompute_batchnorm_statistics
from training.time_budget import budget_plan, format_duration

# What a run with a time budget measured and chose (`plan_time_budget`), kept beside its
# configuration until the record holds it, so a resumed run keeps it too.
BUDGET_FILE = "time_budget.json"


@dataclass
class RunResult:
    """What a run produced: its record (written to result.json as `record.to_json()`), folders
    and trained model."""

    record: RunRecord
    run_dir: Path
    checkpoint_dir: Path
    tensorboard_dir: Path
    model: keras.Model
    evaluation: Evaluation | None

    @property
    def name(self) -> str:
        return self.record.run_name

    @property
    def test_accuracy(self) -> float | None:
        return self.record.test_accuracy

    @property
    def history(self) -> pd.DataFrame:
        return pd.DataFrame.from_dict(self.record.history, orient="index")


def log_outcome_to_tensorboard(tensorboard_dir: Path, record: RunRecord, confusion_png: bytes):
    """The run's outcome at its last epoch, under the `test` run: the accuracies of the final, SWA
    and EMA weights, with and without flip TTA (`outcome/...`), which weights were selected, a
    smoke-run mark, and the selected weights' confusion matrix."""
    step = record.epochs_run
    writer = tf.summary.create_file_writer(str(tensorboard_dir / "test"))
    with writer.as_default():
        for key, value in [*record.accuracies.items(), ("test_accuracy", record.test_accuracy)]:
            if value is not None:
                tf.summary.scalar(f"outcome/{key}", value, step=step)
        kind = "smoke run (--limit-train): not comparable" if record.smoke_run else "full run"
        tf.summary.text("outcome/selected_weights", record.selected_weights, step=step)
        tf.summary.text("outcome/run_kind", kind, step=step)
        image = tf.expand_dims(tf.image.decode_png(confusion_png, 4), 0)
        tf.summary.image("confusion_matrix", image, step=step)
    writer.close()


def build_compiled_model(config: ExperimentConfig, strategy, steps_per_epoch: int,
                         steps_per_execution: int = 1):
    """The model in `config.runtime.precision`, compiled under `strategy`, augmenting inside its
    train step when `config.runtime.augment_on` is "model", running `steps_per_execution`
    training steps per call of its compiled function; the global dtype policy is restored
    afterwards, so models built later in the same process are unaffected."""
    previous_policy = keras.mixed_precision.global_policy()
    try:
        model_kwargs = {"input_size": config.model.input_size} if config.model.input_size else {}
        with strategy.scope():
            # Built before the mixed policy is set, so augmentation computes in float32.
            augmentation = (
                build_augmentation(**config.augmentation.layer_settings(), seed=config.runtime.seed)
                if config.runtime.augment_on == "model"
                else None
            )
            keras.mixed_precision.set_global_policy(config.runtime.precision)
            model = build_model(
                config.model.name,
                input_shape=IMAGE_SHAPE,
                num_classes=len(config.data.classes) or NUM_CLASSES,
                **model_kwargs,
                **config.model.args,
            )
            if augmentation is not None:
                augment_in_train_step(model, augmentation)
            model.compile(
                optimizer=build_optimizer(config, steps_per_epoch),
                loss=SparseCategoricalCrossentropyWithSmoothing(config.loss.label_smoothing)
                if config.loss.label_smoothing
                else "sparse_categorical_crossentropy",
                metrics=["accuracy"],
                jit_compile=config.runtime.jit_compile,
                steps_per_execution=steps_per_execution,
            )
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)
    return model


class DiskFullError(OSError):
    """A write failed for lack of space; says which file, and that the backup is intact."""

    def __init__(self, folders: "RunFolders", error: OSError):
        target = error.filename or "a file of the run"
        super().__init__(
            error.errno,
            f"Could not write {target}: {error.strerror}. The backup of the last complete epoch "
            f"in {folders.backup_dir} is intact: free some space, then continue with "
            f"python train.py --resume {folders.name}",
        )

    def __str__(self):
        return self.strerror


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C during training; `run_name` is the name to pass to `--resume`."""

    def __init__(self, run_name: str):
        super().__init__(run_name)
        self.run_name = run_name


@dataclass
class RunFolders:
    """Where one run writes: its record, its checkpoints and its TensorBoard logs."""

    run_dir: Path
    checkpoint_dir: Path
    tensorboard_dir: Path
    run_id: str | None = None

    @property
    def name(self) -> str:
        return self.run_dir.name

    @property
    def backup_dir(self) -> Path:
        return self.checkpoint_dir / "backup"


@dataclass
class RunData:
    """The run's splits as arrays, and the batched datasets that `fit` reads."""

    train: tuple[np.ndarray, np.ndarray]
    val: tuple[np.ndarray, np.ndarray]
    test: tuple[np.ndarray, np.ndarray] | None  # None: the run never reads the test set
    val_indices: np.ndarray  # rows of the 60,000 training images
    train_ds: tf.data.Dataset
    val_ds: tf.data.Dataset
    steps_per_epoch: int
    group: GroupSplit | None = None  # a specialist's classes (`training.specialists`)

    def batches_without_augmentation(self) -> tf.data.Dataset:
        """The first `BATCHNORM_IMAGES` training images in order, unaugmented: what BatchNorm
        statistics are taken on."""
        images, labels = self.train
        return make_dataset(images[:BATCHNORM_IMAGES], labels[:BATCHNORM_IMAGES], EVAL_BATCH_SIZE)


def _interrupted_run_dir(run_name: str | None) -> Path:
    root = paths.RESULTS_PATH
    if not run_name:
        raise ValueError("resume needs the name of the run to continue. Received: run_name=None")
    run_dir = root / check_output_name(run_name, "run_name")
    if not (run_dir / "config.json").exists():
        raise FileNotFoundError(
            f"Cannot resume {run_name!r}: {run_dir / 'config.json'} does not exist. "
            f"Runs that can be resumed are folders under RESULTS_PATH={root}."
        )
    if (run_dir / "result.json").exists():
        raise FileExistsError(
            f"Run {run_name!r} is already complete ({run_dir / 'result.json'}); "
            "start a new run instead of resuming it."
        )
    return run_dir


def resolve_config(config: ExperimentConfig, resume: bool) -> ExperimentConfig:
    """The settings the run trains with. A resumed run takes those stored when it started, so its
    strategy, seed and determinism are the interrupted run's, not the command line's."""
    if resume:
        run_dir = _interrupted_run_dir(config.run.name)
        return ExperimentConfig.from_json(run_dir / "config.json").validate()
    config = config.resolved().validate()
    if config.model.args:
        check_model_arguments(config.model.name, config.model.args, IMAGE_SHAPE, NUM_CLASSES)
    return config


def set_up_runtime(config: ExperimentConfig):
    """The distribution strategy, then seeds and determinism; returns the strategy."""
    # First: collective ops need a fresh runtime.
    strategy = make_strategy(config.runtime.distribute)
    keras.utils.set_random_seed(config.runtime.seed)
    if config.runtime.deterministic:
        tf.config.experimental.enable_op_determinism()
    return strategy


def prepare_run_folders(config: ExperimentConfig, resume: bool, say=None) -> RunFolders:
    """A new run gets a free name (its own, or with a suffix `say` tells of when taken), its
    identity and its settings (`config.json`, and `config.toml` for `--config`); a resumed run
    keeps its folders after its identity is checked, and nothing in them changes: another
    process may be training it until the run's lock is taken."""
    roots = output_roots()
    if resume:
        check_output_roots(roots)
        run_dir = _interrupted_run_dir(config.run.name)
        folders = RunFolders(*(roots[label] / run_dir.name for label in RUN_ROOTS))
        folders.run_id = check_identity(folders.run_dir, folders.checkpoint_dir)
        return folders
    smoke = "-smoke" if config.data.limit_train is not None else ""
    name = config.run.name or default_run_name(config.model.name, config.optimizer.name + smoke)
    claimed = claim_output_dir(roots, name, what="run_name", say=say)
    folders = RunFolders(*(claimed[label] for label in RUN_ROOTS))
    folders.run_id = write_identity(folders.run_dir, folders.checkpoint_dir)
    config = config.replace(run_name=folders.name)
    atomic_write_json(folders.run_dir / "config.json", config.to_dict())
    # The same settings as a configuration file: `train.py --config` trains them again.
    atomic_write_text(folders.run_dir / "config.toml", to_toml(config))
    return folders


def continue_from(folders: RunFolders, say) -> dict | None:
    """The backup state a resumed run continues from, once it holds the run's lock: the
    temporary files of the killed attempt are removed, and without a complete epoch it starts
    again from epoch 1, the records of the killed attempt's epochs removed."""
    for folder in (folders.run_dir, folders.checkpoint_dir, folders.backup_dir):
        for temporary in folder.glob(".*tmp*"):
            temporary.unlink()
    state = read_backup_state(folders.backup_dir, folders.run_id)
    if state is not None:
        say(f"Continuing run {folders.name} after epoch {state['epoch']}.")
        return state
    say(f"Run {folders.name} has no complete epoch in its backup: training starts from epoch 1.")
    (folders.run_dir / "history.json").unlink(missing_ok=True)
    shutil.rmtree(folders.backup_dir, ignore_errors=True)
    return None


def build_data(
    config: ExperimentConfig, data: FashionMNIST, first_epoch: int = 0, with_test: bool = True
) -> RunData:
    """The seeded, stratified split and its datasets, the training batches from epoch
    `first_epoch` (0-based) on, an epoch `config.schedule.steps_per_epoch` steps or one pass;
    augmentation in the `tf.data` map only when `config.runtime.augment_on` is "dataset"
    (otherwise the train step augments). Without `with_test`, `data.x_test` is never read."""
    if not with_test:  # a view without the test set, so nothing below can read it
        data = FashionMNIST(data.x_train, data.y_train, np.empty((0, *IMAGE_SHAPE), np.uint8),
                            np.empty(0, np.uint8))
    train_idx, val_idx = train_val_split(
        data.y_train, config.data.val_size, config.data.split_seed, config.data.limit_train
    )
    train, val, test, val_idx, group = group_data(data, config.data.classes, train_idx, val_idx)
    augmentation = (
        build_augmentation(**config.augmentation.layer_settings(), seed=config.runtime.seed)
        if config.runtime.augment_on == "dataset"
        else None
    )
    steps_per_epoch = (config.schedule.steps_per_epoch
                       or math.ceil(len(train[0]) / config.runtime.batch_size))
    train_ds = make_training_dataset(
        *train,
        config.runtime.batch_size,
        config.runtime.seed,
        first_step=first_epoch * steps_per_epoch,
        augmentation=augmentation,
        alternate_flip=config.augmentation.flip_mode == "alternate",
    )
    return RunData(
        train=train,
        val=val,
        test=test if with_test else None,
        val_indices=val_idx,
        train_ds=train_ds,
        val_ds=make_dataset(*val, EVAL_BATCH_SIZE),
        steps_per_epoch=steps_per_epoch,
        group=group,
    )


def plan_time_budget(config: ExperimentConfig, strategy, data: FashionMNIST, say):
    """The configuration a run with `config.schedule.time_budget` trains, and what its record
    keeps of the plan. A copy of its model, thrown away, trains a few steps on the run's own
    batches and validates a few (`training.speed_probe`); the budget then gives the epochs and
    their length (`training.time_budget.budget_plan`) and the configuration resolves the
    settings that follow from them (`with_budget_epochs`). Raises `TimeBudgetTooSmall`, naming
    the minimum, before anything is written; the seeds are set again, so the run trains as one
    asked for those epochs."""
    started = time.perf_counter()
    budget = config.schedule.time_budget
    probe_config = resolve_config(with_budget_epochs(config, config.schedule.epochs), False)
    probe_data = build_data(probe_config, data, with_test=False)
    say(f"Time budget {format_duration(budget)}: measuring the speed of {config.model.name}.")
    cost = measure_epoch_cost(
        build_compiled_model(probe_config, strategy, probe_data.steps_per_epoch),
        probe_data.train_ds, probe_data.val_ds, probe_data.steps_per_epoch,
        len(probe_data.val[0]), probe_config.runtime.batch_size, EVAL_BATCH_SIZE,
    )
    plan = budget_plan(budget, cost, config.model.name)
    partial = plan.steps_per_epoch < plan.full_steps
    keras.utils.set_random_seed(config.runtime.seed)
    try:
        planned = resolve_config(
            with_budget_epochs(config, plan.epochs, plan.steps_per_epoch if partial else None),
            False)
    except ConfigError as error:
        raise ValueError(f"The time budget fits {plan.epochs} epoch(s): {error}") from error
    length = (f" of {plan.steps_per_epoch} of a pass's {plan.full_steps} steps" if partial
              else "")
    say(f"{cost.images_per_second:.0f} training images/s measured; an epoch with its validation "
        f"and checkpoints takes about {cost.epoch_seconds:.1f} s after "
        f"{cost.setup_seconds:.1f} s of building the steps: {plan.epochs} epoch(s){length}, "
        f"{plan.passes:.2f} passes over the training images, the schedule scaled to them.")
    return planned, {
        "seconds": budget,
        "images_per_second": cost.images_per_second,
        "epoch_seconds": plan.epoch_seconds,
        "setup_seconds": cost.setup_seconds,
        "epochs": plan.epochs,
        "steps_per_epoch": plan.steps_per_epoch,
        "passes": round(plan.passes, 4),
        "measure_seconds": time.perf_counter() - started,
    }


def build_callbacks(config: ExperimentConfig, folders: RunFolders, state, clock):
    """Returns (history recorder, SWA or None, every callback in the order `fit` runs them)."""
    done = state["epoch"] if state else 0
    history = HistoryRecorder(folders.run_dir / "history.json", keep_epochs=done)
    best_so_far, _ = history.best("val_accuracy")
    swa = None
    averaging = config.averaging
    if averaging.swa:
        swa = SWA(averaging.swa_start, averaging.swa_freq, state_dir=folders.backup_dir)
    callbacks = [
        keras.callbacks.TerminateOnNaN(),
        TerminateOnInvalidValidationLoss(),
        *([swa] if swa else []),
        history,  # before the backup, so a re-run epoch overwrites its entry
        BestModelCheckpoint(folders.checkpoint_dir / "best.keras", "val_accuracy", best_so_far),
        clock,  # before the backup: a kill while it is written still counts the epoch's time
        # Last of the epoch's writers: an epoch counts as complete once everything is saved.
        # Kept until the record is written, so a run that dies while being evaluated resumes
        # without training again.
        EpochBackup(folders.backup_dir, folders.run_id, state),
        keras.callbacks.TensorBoard(str(folders.tensorboard_dir)),
    ]
    if config.schedule.early_stopping:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor="val_accuracy", mode="max", patience=config.schedule.early_stopping
            )
        )
    if config.schedule.reduce_lr_patience:
        callbacks.append(
            keras.callbacks.ReduceLROnPlateau(
                monitor="val_loss", factor=0.5, patience=config.schedule.reduce_lr_patience
            )
        )
    return history, swa, callbacks


def train(model, run_data: RunData, config: ExperimentConfig, callbacks, verbose) -> None:
    """`model.fit` over the run's epochs, from the first that is not complete."""
    model.fit(
        run_data.train_ds,
        validation_data=run_data.val_ds,
        epochs=config.schedule.epochs,
        steps_per_epoch=run_data.steps_per_epoch,  # the training dataset is endless
        callbacks=callbacks,
        verbose=verbose,
        shuffle=False,  # each epoch's order is drawn by the dataset itself
    )


def training_record(config, folders, model, strategy, run_data, history) -> RunRecord:
    """The record's fields known when training ends: settings, sizes, per-epoch history."""
    epochs = history.epochs
    failed_epoch = next((e for e in sorted(epochs) if diverged(epochs[e])), None)
    best_val, best_epoch = history.best("val_accuracy")
    train_seconds = sum(logs["seconds"] for logs in epochs.values())
    train_images = len(run_data.train[0])
    record = RunRecord(
        run_name=folders.name,
        status="failed" if failed_epoch else "completed",
        model=config.model.name,
        optimizer=config.optimizer.name,
        config=config.to_dict(),
        seed=config.runtime.seed,
        smoke_run=config.data.limit_train is not None,
        params=int(model.count_params()),
        replicas=strategy.num_replicas_in_sync,
        train_images=train_images,
        val_images=len(run_data.val[0]),
        epochs_run=len(epochs),
        best_val_accuracy=best_val,
        best_epoch=best_epoch,
        history={str(e): epochs[e] for e in sorted(epochs)},
        train_seconds=train_seconds,
        images_per_second=(min(train_images, run_data.steps_per_epoch * config.runtime.batch_size)
                           * len(epochs) / train_seconds if train_seconds else None),
        finished=utc_now(),
        system=system_info(),
        load=summarize_load(epoch_loads(epochs)),
        preset_chain=preset_chain(config.preset),
        **group_fields(run_data.group, run_data.test),
    )
    if failed_epoch:
        record.failed_epoch = failed_epoch
        record.error = f"the loss became NaN or infinite in epoch {failed_epoch}"
    return record


def _settle_batchnorm(model, run_data: RunData, record: RunRecord, say) -> None:
    """Short runs end before BatchNorm's moving averages forget their initial values (momentum m
    keeps m**steps of them): their statistics are recomputed on the training set."""
    steps = record.epochs_run * run_data.steps_per_epoch
    if batchnorm_statistics_settled(model, steps):
        return
    say(f"Recomputing BatchNorm statistics of the final weights: {steps} steps are too few.")
    recompute_batchnorm_statistics(model, run_data.batches_without_augmentation())
    record.final_batchnorm_recomputed = True


def _score(model, weights: str, run_data: RunData) -> Candidate:
    """Scores the model its checkpoint holds (`inference_copy`: float32, as it loads), so the
    record's accuracies are those of the saved file, whatever precision trained it."""
    test_images = run_data.test[0] if run_data.test else None
    (plain,) = score_weight_set(inference_copy(model), weights, run_data.val[0], test_images, False)
    return plain


def _score_with_tta(model, plain: Candidate, run_data: RunData, config) -> Candidate:
    """`plain`'s weights (now in `model`) scored with the run's test-time augmentation."""
    test_images = run_data.test[0] if run_data.test else None
    return with_tta(inference_copy(model), plain, run_data.val[0], test_images,
                    config.evaluation.tta_shifts)


def _averages(model, swa, ema_weights, config, record) -> list:
    """(name, description, load) of each averaged weight set the run kept."""
    averages = []
    if swa is not None and swa.count:
        averages.append(("swa", f"the SWA average of epochs {swa.snapshot_epochs}", swa.apply))
        record.swa_epochs = swa.snapshot_epochs
    if ema_weights is not None:
        description = f"the moving average (decay {config.averaging.ema})"
        averages.append(("ema", description, lambda: model.set_weights(ema_weights)))
    return averages


def evaluate_and_select(model, run_data, swa, final_weights, folders, record, config, say):
    """Scores each weight set (final; SWA and EMA averages where the run kept them) on validation
    and test; with `config.evaluation.tta`, the set best on validation is scored again with
    test-time augmentation (its views cost as many passes again, so only the one set that can be
    chosen with them pays for them). Keeps the best candidate on validation (never on test) in
    `model`; saves each set as a checkpoint and the selected candidate's probabilities in
    `predictions.npz` (the record keeps every candidate's accuracies). Returns the selected
    candidate's test evaluation; a run without a test set (`run_data.test` is None) writes no
    predictions and returns None."""
    # `fit` ends with the EMA loaded.
    ema_weights = model.get_weights() if config.averaging.ema else None
    model.set_weights(final_weights)
    _settle_batchnorm(model, run_data, record, say)
    sets = "validation and test sets" if run_data.test else "validation set"
    say(f"Evaluating the final weights on the {sets}.")
    candidates = [_score(model, "final", run_data)]
    weight_values = {"final": model.get_weights()}
    save_model_atomically(model, folders.checkpoint_dir / "final.keras")
    for name, description, load in _averages(model, swa, ema_weights, config, record):
        say(f"Loading {description}, recomputing BatchNorm statistics, evaluating it.")
        load()
        recompute_batchnorm_statistics(model, run_data.batches_without_augmentation())
        candidates.append(_score(model, name, run_data))
        weight_values[name] = model.get_weights()
        save_model_atomically(model, folders.checkpoint_dir / f"{name}.keras")
    val_labels = run_data.val[1]
    if config.evaluation.tta:
        best = select(candidates, val_labels)
        say(f"Evaluating the {best.weights} weights, the best on validation, with test-time "
            "augmentation.")
        model.set_weights(weight_values[best.weights])
        candidates.append(_score_with_tta(model, best, run_data, config))
    test_labels = run_data.test[1] if run_data.test else None
    selected = select(candidates, val_labels)
    model.set_weights(weight_values[selected.weights])  # the returned model holds the selection
    record.accuracies.update(scores(candidates, val_labels, test_labels))
    record.selected_weights = selected.weights  # chosen on validation accuracy, never on test
    record.selected_tta = selected.tta
    if test_labels is None:
        return None
    write_predictions(folders.run_dir / PREDICTIONS_FILE, selected.name,
                      **kept_predictions(model, selected, run_data, config.evaluation.tta_shifts))
    evaluation = evaluate_predictions(test_labels, selected.test_probabilities,
                                      class_names(run_data.group))
    record.test_accuracy = evaluation.accuracy
    record.confusion_matrix = evaluation.confusion.tolist()
    return evaluation


def write_test_outputs(model, evaluation, run_data, folders, record) -> None:
    """The selected weights' report, confusion matrix (file and TensorBoard), the outcome
    scalars in TensorBoard, and reconstructions for the models whose spec `reconstructs`."""
    atomic_write_text(folders.run_dir / "report.csv", evaluation.report.to_csv(float_format="%.4f"))
    title = f"{folders.name} ({record.selected_weights} weights), test set"
    png = figure_to_png(confusion_figure(evaluation.confusion, class_names(run_data.group), title))
    atomic_write_bytes(folders.run_dir / "confusion.png", png)
    log_outcome_to_tensorboard(folders.tensorboard_dir, record, png)
    if get_spec(record.model).reconstructs:
        images = run_data.test[0][:10]
        atomic_write_bytes(
            folders.run_dir / "reconstructions.png",
            figure_to_png(reconstruction_figure(images, model.reconstruct(images))),
        )


def run_experiment(
    config: ExperimentConfig,
    resume: bool = False,
    data: FashionMNIST | None = None,
    verbose: int | str = "auto",
    evaluate_test: bool = True,
    callbacks=(),
) -> RunResult:
    """Trains `config.model.name`, selects on the validation split and evaluates the test set once.

    Writes `RESULTS_PATH/<run>/` (config.json and config.toml, history.json, result.json,
    report.csv, confusion.png, predictions.npz), `DL_MODELS_PATH/<run>/` (best.keras by
    validation accuracy, final.keras, swa.keras with SWA, ema.keras with the moving average, and
    the resumable backup while training) and `TB_LOGS_PATH/<run>/`.
    With `resume=True`, `config.run.name` names an interrupted run, which continues from its last
    completed epoch with the settings it was started with, and ends as it would have uninterrupted.
    With `evaluate_test=False` (a search trial) the test set is never read: the record has no
    test accuracies, and report.csv, confusion.png and predictions.npz are not written.
    `callbacks` are Keras callbacks added to `fit`'s, after the run's own.
    With `config.schedule.time_budget`, the run first measures its speed and trains the epochs
    that fit (`plan_time_budget`; the plan is kept in `time_budget.json` and the record), and
    stops early where another epoch would pass the budget (`BudgetStop`); a budget too small for
    one epoch is refused, with the minimum, before anything is written.
    """
    run_started = time.perf_counter()
    say = print if verbose else _silent
    requested = config
    config = resolve_config(config, resume)
    strategy = set_up_runtime(config)
    data = data if data is not None else load_fashion_mnist()
    budget = None
    if config.schedule.time_budget is not None:  # a stored configuration has spent its budget
        config, budget = plan_time_budget(config, strategy, data, say)
    folders = prepare_run_folders(config, resume, say)
    config = config.replace(run_name=folders.name)  # with the suffix a taken name got
    # Taken before anything in the folders changes: a refused resume leaves a running run alone.
    lock = RunLock(folders.checkpoint_dir / LOCK_FILE).acquire()
    try:
        _explain_defaults(requested, config, resume, say)
        budget = _keep_budget(folders, budget)
        state = continue_from(folders, say) if resume else None
        return _train_and_record(
            config, strategy, data, folders, state, run_started, verbose, evaluate_test,
            callbacks, budget,
        )
    except KeyboardInterrupt as interrupt:
        raise RunInterrupted(folders.name) from interrupt
    except OSError as error:
        if error.errno in (errno.ENOSPC, errno.EDQUOT):
            raise DiskFullError(folders, error) from error
        raise
    finally:
        lock.release()


def _keep_budget(folders: RunFolders, budget: dict | None) -> dict | None:
    """A new run's time-budget plan, written beside its configuration; a resumed run's, read
    back (None for a run without a budget)."""
    path = folders.run_dir / BUDGET_FILE
    if budget is not None:
        atomic_write_json(path, budget)
        return budget
    return json.loads(path.read_text()) if path.exists() else None


def _train_and_record(
    config, strategy, data, folders, state, run_started, verbose, evaluate_test, extra_callbacks,
    budget=None,
) -> RunResult:
    say = print if verbose else _silent
    first_epoch = state["epoch"] if state else 0
    run_data = build_data(config, data, first_epoch, with_test=evaluate_test)
    model = build_compiled_model(config, strategy, run_data.steps_per_epoch)
    if whitening_layers(model):  # fitted before training; a resumed run restores the same values
        fit_whitening(model, run_data.train[0])
    clock = AttemptClock(folders.run_dir / ATTEMPTS_FILE, run_started)
    history, swa, callbacks = build_callbacks(config, folders, state, clock)
    last_weights = LastEpochWeights()
    stop = None
    if budget is not None:  # last: an epoch's time includes every callback's writes
        spent = sum(attempt["fit_seconds"] for attempt in clock.attempts[:-1])
        stop = BudgetStop(budget["seconds"], budget["epoch_seconds"], spent, say)
    train(model, run_data, config,
          [*callbacks, *extra_callbacks, last_weights, *([stop] if stop else [])], verbose)

    record = training_record(config, folders, model, strategy, run_data, history)
    if budget is not None:
        record.time_budget = {**budget, "stopped_after": stop.stopped_after}
    evaluation = None
    if record.status == "completed":
        evaluation = evaluate_and_select(
            model, run_data, swa, last_weights.weights, folders, record, config, say
        )
        if evaluation is not None:
            write_test_outputs(model, evaluation, run_data, folders, record)
    # Every attempt counts: wall time from each call to its record, training time within fit.
    for name, value in clock.totals().items():
        setattr(record, name, value)
    log_hparams(folders.tensorboard_dir, record)  # the HParams dashboard
    atomic_write_json(folders.run_dir / "result.json", record.to_json())
    shutil.rmtree(folders.backup_dir, ignore_errors=True)
    return RunResult(
        record, folders.run_dir, folders.checkpoint_dir, folders.tensorboard_dir, model, evaluation
    )


def _silent(*args, **kwargs) -> None:
    pass


def _explain_defaults(requested: ExperimentConfig, config: ExperimentConfig, resume, say) -> None:
    """Says which default a short run changed, so a 1-epoch result is not mistaken for SWA's."""
    if not resume and requested.averaging.swa is None and not config.averaging.swa:
        say(
            f"SWA is off: {config.schedule.epochs} epoch(s) leave no room to train before "
            "averaging "
            f"(it is on by default from {MIN_SWA_EPOCHS} epochs; --swa turns it on)."
        )
