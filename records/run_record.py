"""The record of one training run (`RESULTS_PATH/<run>/result.json`) as a typed, versioned
dataclass: `training.experiment` fills it in and writes `to_json()`; `from_json` reads any
committed version (older ones upgraded by `records.reader.upgraded`), and `train.py`'s summary
and the HParams dashboard read its attributes. The file's layout is unchanged: each weight set's
accuracies are top-level keys (`val_accuracy_swa_tta`), as the report and older tools read them.
"""

import dataclasses
import math
import typing
from dataclasses import dataclass, field

# A training run's record carries `record_version`; 2 added the configuration's `preset` and
# `tags`, by which the docs' tables find their runs.
RECORD_VERSION = 2
# Settings that older records lack, with the value that trains as those runs did (the
# configuration's defaults), so that seed groups and reruns compare old and new configurations.
FIELDS_ADDED = {
    "preset": None,
    "tags": [],
    "classes": [],
    "bias_lr_factor": 1.0,
    "tta_shifts": 0,
    "flip_mode": "random",
    "time_budget": None,
    "steps_per_epoch": None,
}
# Settings that the records written before the fast recipe lack, at what those runs trained with,
# which is not today's default: no moving average, label smoothing or test-time augmentation, no
# model arguments, augmentation in the tf.data map, one device. Their validation split was drawn
# with the run's seed (`split_seed` came later; `upgraded_config` fills it in).
FIELDS_BEFORE_RECIPE = {
    "augment_on": "dataset",
    "distribute": "none",
    "ema": 0.0,
    "label_smoothing": 0.0,
    "model_args": {},
    "tta": False,
    "warmup_epochs": None,
}
# The tags of the runs recorded before version 2, by run name: the docs tables they appear in.
TAGS_BEFORE_VERSION_2 = {
    **{f"default-seed{seed}": ("default-seeds",) for seed in range(1, 5)},
    "default-seed0": ("default-seeds", "default-runs", "fast-recipe"),
    "previous-default": ("default-runs", "fast-recipe", "race-baseline"),
    "default-run": ("default-runs",),
    "simple-cnn-bn-adam-20261128-122416": ("default-runs",),
    "simple-cnn-bn-adam-20261128-114906": ("default-runs",),
    "capsnet-adam-20261128-125818": ("short-runs",),
    "mobilenet-v2-adam-20261128-124422": ("short-runs",),
    "shufflenet-v2-1.0-adam-20261128-125443": ("short-runs",),
    "wrn-16-4-adam-20261128-123523": ("short-runs",),
    "fast-cnn-recipe": ("fast-recipe",),
    "seed-simple-cnn-adam-cosine-noswa": ("fast-recipe",),
    "fast-cnn-small-2-epochs": ("short-default-runs",),
    "precision-fast-cnn-small-float32": ("precision", "precision-default"),
    "precision-fast-cnn-small-mixed_bfloat16": (
        "precision", "precision-default", "short-default-runs"
    ),
    "precision-simple-cnn-bn-float32": ("precision",),
    "precision-simple-cnn-bn-mixed_bfloat16": ("precision",),
    "resolution-mobilenet-v2-28": ("resolution",),
    "resolution-mobilenet-v2-56": ("resolution",),
    "resolution-mobilenet-v2-28-8-epochs": ("resolution",),
}
# The weight sets a run scores and chooses from, in the order a tie of validation accuracy
# prefers them (the simplest first), and their names in sentences.
WEIGHT_SETS = ("final", "swa", "ema")
WEIGHT_LABELS = {"final": "final weights", "swa": "SWA weights", "ema": "EMA weights"}
SPLITS = ("val", "test")


def tta_words(config: dict) -> str:
    """The test-time augmentation of a run's configuration, as sentences name it: "flip TTA",
    or "flip and 1-pixel shift TTA" with `tta_shifts` (the shifted views average in too)."""
    shifts = config.get("tta_shifts") or 0
    if not shifts:
        return "flip TTA"
    return f"flip and {'1' if shifts == 1 else f'1-{shifts}'}-pixel shift TTA"


def accuracy_key(split: str, weights: str, tta: bool) -> str:
    """The record's key of one candidate's accuracy, e.g. `val_accuracy_swa_tta`."""
    return f"{split}_accuracy_{weights}{'_tta' if tta else ''}"


ACCURACY_KEYS = tuple(accuracy_key(split, weights, tta) for weights in WEIGHT_SETS
                      for tta in (False, True) for split in SPLITS)


@dataclass
class RunRecord:
    """One run: its settings, sizes, per-epoch history and, once evaluated, every candidate's
    accuracy and the one chosen on validation.

    Args:
        run_name, status: the run's folder name; "completed" or "failed".
        model, optimizer, seed, config: what trained (`config`: the resolved configuration,
            `ExperimentConfig.to_dict()`).
        smoke_run: trained on a subset (`--limit-train`): listed, never ranked.
        params, replicas, train_images, val_images: sizes.
        epochs_run, best_val_accuracy, best_epoch, history: per-epoch logs by epoch number
            (strings, as JSON keys), each with `seconds`.
        train_seconds, images_per_second, fit_seconds, wall_seconds: timing (training epochs;
            `fit` with its callbacks; the whole run).
        finished, system: when and where it ended (`records.provenance`: the machine, its
            measured peak, the commit and whether the tree was clean).
        load: what else used the cores while it trained (`records.machine.summarize_load`),
            from the epochs' `load_other_share` and `load_steal_share`; `alone` says whether
            its times are a measurement of the machine.
        preset_chain: the presets its configuration came from, the named one first.
        accuracies: every candidate's accuracy by `accuracy_key` (test keys absent for a
            search trial, which never reads the test set).
        selected_weights, selected_tta: the candidate chosen on validation.
        test_accuracy, confusion_matrix: the selected candidate's, on the test set.
        swa_epochs: the epochs SWA averaged.
        attempts: each start of the run (a resumed run has several).
        kind, classes, test_images, evaluated_on: a specialist's group (`"kind": "specialist"`).
        trial: a search trial's study, number, state, value and settings.
        failed_epoch, error: why a failed run stopped.
        final_batchnorm_recomputed: the final weights' BatchNorm statistics were recomputed.
        time_budget: a run trained within a time budget: the budget (`seconds`), the speed it
            measured before training (`images_per_second`, `epoch_seconds` with validation and
            checkpoints, `setup_seconds` of building the steps, `measure_seconds` it took),
            the `epochs` it chose, their `steps_per_epoch` (fewer than a pass where whole
            passes would leave part of the budget unused) and the `passes` over the training
            images in all, and, where training stopped before them to stay within the budget,
            `stopped_after` (the last epoch trained; else null).

    Example:
        >>> record = RunRecord.from_json(json.loads(path.read_text()))
        >>> record.selected_accuracy("test")  # the test accuracy of the weights kept
    """

    run_name: str
    status: str
    model: str
    optimizer: str
    config: dict
    seed: int
    smoke_run: bool
    params: int
    train_images: int
    val_images: int
    epochs_run: int
    best_val_accuracy: float | None
    best_epoch: int | None
    history: dict
    train_seconds: float
    images_per_second: float | None
    finished: str
    system: dict
    replicas: int | None = None
    record_version: int = RECORD_VERSION
    accuracies: dict = field(default_factory=dict)
    selected_weights: str | None = None
    selected_tta: bool | None = None
    test_accuracy: float | None = None
    confusion_matrix: list | None = None
    swa_epochs: list | None = None
    fit_seconds: float | None = None
    wall_seconds: float | None = None
    attempts: list | None = None
    kind: str | None = None
    classes: dict | None = None
    test_images: int | None = None
    evaluated_on: str | None = None
    trial: dict | None = None
    failed_epoch: int | None = None
    error: str | None = None
    final_batchnorm_recomputed: bool | None = None
    load: dict | None = None
    preset_chain: list | None = None
    time_budget: dict | None = None

    def selected_accuracy(self, split: str) -> float | None:
        """The accuracy on `split` ("val" or "test") of the candidate chosen on validation."""
        if self.selected_weights is None:
            return None
        return self.accuracies.get(accuracy_key(split, self.selected_weights,
                                                bool(self.selected_tta)))

    def to_json(self) -> dict:
        """The record as `result.json` holds it: accuracies as top-level keys, fields never set
        (None) left out, so a record reads as before."""
        values = {key: value for key, value in dataclasses.asdict(self).items()
                  if value is not None and key != "accuracies"}
        return {**values, **self.accuracies}

    @classmethod
    def from_json(cls, data: dict) -> "RunRecord":
        """A record from `result.json`'s object, any version; a ValueError naming every field
        that is missing, unknown or of the wrong type."""
        data = upgraded(data)
        if not isinstance(data, dict):
            raise ValueError(f"A run record must be a JSON object. Received: {type(data).__name__}")
        problems = run_record_problems(data)
        if problems:
            raise ValueError(f"Run record {data.get('run_name')!r}: {'; '.join(problems)}. "
                             f"Received: the keys {sorted(data)}")
        accuracies = {key: data[key] for key in ACCURACY_KEYS if key in data}
        values = {key: value for key, value in data.items() if key not in accuracies}
        return cls(**values, accuracies=accuracies)


FIELD_TYPES = {item.name: item.type for item in dataclasses.fields(RunRecord)
               if item.name != "accuracies"}


def _accepts(annotation, value) -> bool:
    """Whether `value` (parsed JSON) fits the field's annotation, e.g. `float | None`: an int
    is a float too, a bool only a bool, and no number is NaN or infinite."""
    kinds = typing.get_args(annotation) or (annotation,)
    if isinstance(value, bool):  # JSON true/false are Python ints too
        return bool in kinds
    if isinstance(value, float) and not math.isfinite(value):
        return False
    if float in kinds:
        kinds = (*kinds, int)
    return isinstance(value, kinds)


def _type_name(annotation) -> str:
    """The JSON types a field takes, e.g. 'int or float or null' for `float | None`."""
    kinds = typing.get_args(annotation) or (annotation,)
    names = ["null" if kind is type(None) else kind.__name__ for kind in kinds]
    return " or ".join(["int", *names] if "float" in names else names)


def _problem(key: str, value, annotation) -> str | None:
    """What is wrong with one field's value, in the words of the report's warnings."""
    if isinstance(value, float) and not math.isfinite(value):
        return f"{key!r} is {'NaN' if math.isnan(value) else 'infinite'}"
    if _accepts(annotation, value):
        return None
    found = "null" if value is None else type(value).__name__
    return f"{key!r} is {found}, expected {_type_name(annotation)}"


def run_record_problems(data: dict) -> list[str]:
    """The keys of `data` (a run's `result.json` object) that are unknown, missing (without a
    default) or of the wrong JSON type for `RunRecord`; every accuracy is a number or null."""
    required = {item.name for item in dataclasses.fields(RunRecord)
                if item.default is dataclasses.MISSING
                and item.default_factory is dataclasses.MISSING}
    annotations = {**FIELD_TYPES, **dict.fromkeys(ACCURACY_KEYS, float | None)}
    problems = [f"unknown key {key!r}" for key in data if key not in annotations]
    problems += [f"missing key {key!r}" for key in sorted(required - set(data))]
    problems += [problem for key, value in data.items() if key in annotations
                 and (problem := _problem(key, value, annotations[key])) is not None]
    return problems


def upgraded_config(config: dict) -> dict:
    """A saved configuration (a record's `config`, a run's `config.json`) with every setting
    added since it was saved, at the value that trains as that run did; `config` itself when it
    lacks none."""
    added = {**FIELDS_BEFORE_RECIPE, "split_seed": config.get("seed", 0), **FIELDS_ADDED}
    missing = {name: value for name, value in added.items() if name not in config}
    return {**missing, **config} if missing else config


def upgraded(record):
    """`record` as the current version reads it: its configuration with the settings added
    since it was written (`upgraded_config`). Version 1 (no `record_version`) predates the preset
    and tags of a run's configuration: its tags are those of `TAGS_BEFORE_VERSION_2`."""
    version = record.get("record_version", 1) if isinstance(record, dict) else None
    if not isinstance(version, int):  # not a record: the checks name it
        return record
    config = record.get("config")
    if not isinstance(config, dict):  # an ensemble's record, or one the checks will name
        return record
    if version >= RECORD_VERSION:
        filled = upgraded_config(config)
        return record if filled is config else {**record, "config": filled}
    tags = TAGS_BEFORE_VERSION_2.get(record.get("run_name"), ())
    config = {**upgraded_config(config), "tags": [*config.get("tags", ()), *tags]}
    return {**record, "record_version": RECORD_VERSION, "config": config}
