"""The experiment configuration: one dataclass whose fields are the CLI flags of `train.py`."""

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import training.hardware as machine
from data.class_groups import GROUP_RULE, canonical_name, group_problem
from data.knobs import AUGMENTATION_KNOBS, knob_allowed, knob_within
from outputs.folders import NAME_RULE, is_output_name
from training.hardware import AUGMENT_ON, DISTRIBUTE, PRECISIONS, Hardware
from training.schedule_rules import (
    CYCLIC_MODES,
    LR_SCHEDULES,
    MIN_SWA_EPOCHS,
    ONECYCLE_LR_FACTOR,
    WARMUP_SCHEDULES,
    default_lr,
    default_schedule,
    default_swa,
    default_swa_lr,
    default_warmup_epochs,
    swa_snapshots,
)

NUM_CLASSES = 10  # Fashion-MNIST; data.NUM_CLASSES, kept here so the CLI loads no TensorFlow
OPTIMIZERS = ("adam", "rmsprop", "sgd")
# How images are mirrored: "random" draws each flip; "alternate" flips each image in every other
# epoch (airbench's alternating flip, data.alternating_flip).
FLIP_MODES = ("random", "alternate")
# Label smoothing of the default run; models with their own loss (`ModelSpec.own_loss`) get none.
DEFAULT_LABEL_SMOOTHING = 0.1


# The sections of a configuration file (TOML, one table per section), each mapping its keys to
# the fields they set: `[schedule] epochs = 20` sets `epochs`. Every field is in one section.
SECTIONS = {
    "model": {"name": "model", "args": "model_args", "input_size": "input_size"},
    "optimizer": {
        "name": "optimizer",
        "lr": "lr",
        "momentum": "momentum",
        "nesterov": "nesterov",
        "weight_decay": "weight_decay",
        "bias_lr_factor": "bias_lr_factor",
    },
    "loss": {"label_smoothing": "label_smoothing"},
    "schedule": {
        "name": "lr_schedule",
        "epochs": "epochs",
        "warmup_epochs": "warmup_epochs",
        "max_lr": "max_lr",
        "cycle_epochs": "cycle_epochs",
        "clr_gamma": "clr_gamma",
        "early_stopping": "early_stopping",
        "reduce_lr_patience": "reduce_lr_patience",
    },
    "averaging": {key: key for key in ("swa", "swa_start", "swa_freq", "swa_lr", "ema")},
    "augmentation": {knob: knob for knob in (*AUGMENTATION_KNOBS, "flip_mode")},
    "evaluation": {"tta": "tta", "tta_shifts": "tta_shifts"},
    "data": {key: key for key in ("val_size", "split_seed", "limit_train", "classes")},
    "runtime": {
        key: key
        for key in (
            "batch_size",
            "precision",
            "jit_compile",
            "augment_on",
            "distribute",
            "seed",
            "deterministic",
        )
    },
    "run": {"name": "run_name", "tags": "tags"},
}
# `section.key` of each field, as a configuration file and `--set` spell it; `preset` is a
# top-level key of the file.
SECTION_KEYS = {field: f"{section}.{key}" for section, keys in SECTIONS.items()
                for key, field in keys.items()} | {"preset": "preset"}
# Fields that name or label a run without changing what it trains.
LABEL_FIELDS = ("run_name", "preset", "tags")


class ConfigError(ValueError):
    """A setting outside its allowed values: names the field, what it allows and what it got.

    `describe(name)` words the same problem under another name (a flag, a `section.key`)."""

    def __init__(self, field: str, allowed: str, value):
        self.field, self.allowed, self.value = field, allowed, value
        super().__init__(self.describe(field))

    def describe(self, name: str) -> str:
        return f"{name} must be {self.allowed}. Received: {name}={self.value!r}"


def _flag(help_text: str, **extra):
    return field(default=extra.pop("default"), metadata={"help": help_text, **extra})


@dataclass
class ExperimentConfig:
    """Everything that defines a run. Resolved values are saved beside every run."""

    model: str = _flag("registered model name (see --list-models)", default="fast-cnn-small")
    model_args: dict = field(
        default_factory=dict,
        metadata={
            "help": "a constructor argument of the model, as NAME=VALUE with a Python literal "
            "value, e.g. --model-arg dropout=0.2 --model-arg 'widths=(32, 64, 128)'; repeatable",
            "flag": "--model-arg",
        },
    )
    optimizer: str = _flag("optimizer", default="adam", choices=OPTIMIZERS)
    lr: float | None = _flag(
        "initial learning rate (peak for onecycle, base rate for cyclical modes); default: 1e-3 "
        f"at batch size 128 ({ONECYCLE_LR_FACTOR}e-3 for onecycle), scaled with the batch size "
        "(square root for adam/rmsprop, linear for sgd)",
        default=None,
    )
    momentum: float = _flag("momentum for sgd", default=0.9)
    nesterov: bool = _flag("Nesterov momentum for sgd", default=True)
    weight_decay: float = _flag(
        "decoupled weight decay, w -= lr * weight_decay * w each step (Loshchilov & Hutter 2019); "
        "0 disables. For SGD with momentum m it matches an L2 penalty of "
        "weight_decay * (1 - m), e.g. the WRN paper's 5e-4 at m=0.9 is 5e-3 here",
        default=0.0,
    )
    bias_lr_factor: float = _flag(
        "learning rate of biases and BatchNorm offsets and scales as a multiple of --lr "
        "(airbench's parameter group; training.bias_lr); 1 disables",
        default=1.0,
    )
    epochs: int = _flag("number of training epochs", default=10)
    batch_size: int | None = _flag(
        "global training batch size; default: 128 on a CPU, 512 per GPU", default=None
    )
    lr_schedule: str = _flag(
        "learning-rate schedule; onecycle: linear warmup to --lr, then linear decay to 0 (Smith & "
        "Topin 2019); triangular, triangular2 and exp_range are cyclical (Smith 2017); "
        "auto: swa with SWA on, cosine with it off",
        default="onecycle",
        choices=LR_SCHEDULES,
    )
    warmup_epochs: float | None = _flag(
        "epochs of linear warmup for cosine and onecycle; default: 0 for cosine, "
        "a fifth of --epochs for onecycle",
        default=None,
    )
    max_lr: float = _flag("peak learning rate of the cyclical schedules", default=6e-3)
    cycle_epochs: float = _flag("epochs per half cycle of the cyclical schedules", default=2.0)
    clr_gamma: float = _flag("per-step decay of the exp_range schedule", default=0.99994)
    swa: bool | None = _flag(
        "average weights from --swa-start on (Izmailov et al. 2018); default: on from "
        f"{MIN_SWA_EPOCHS} epochs",
        default=None,
    )
    swa_start: int | None = _flag(
        "first epoch (1-based) averaged; default: 75%% of --epochs, rounded up, or the end of "
        "the first cycle of a cyclical schedule",
        default=None,
    )
    swa_freq: int | None = _flag(
        "epochs between SWA snapshots; default: 1, or one cycle (2 x --cycle-epochs) with a "
        "cyclical schedule, so every snapshot is taken at the learning-rate minimum",
        default=None,
    )
    swa_lr: float | None = _flag(
        "learning rate while averaging (swa schedule); default: --lr / 10", default=None
    )
    ema: float | None = _flag(
        "decay of an exponential moving average of the weights, updated every step (e.g. 0.999); "
        "its weights are evaluated beside the final and SWA ones and chosen on validation; "
        "0 disables",
        default=0.999,
    )
    label_smoothing: float | None = _flag(
        "label smoothing of the cross-entropy (Szegedy et al. 2016); 0 disables; default: "
        f"{DEFAULT_LABEL_SMOOTHING}, or 0 for a model whose training step has its own loss",
        default=None,
    )
    tta: bool = _flag(
        "also score every weight set with horizontal-flip test-time augmentation, and keep it "
        "where validation prefers it",
        default=True,
    )
    tta_shifts: int = _flag(
        "with --tta, also average the predictions of the images shifted diagonally by 1 to N "
        "pixels, each way, and their mirrors (airbench's translate TTA); 0: flip TTA only",
        default=0,
    )
    early_stopping: int | None = _flag(
        "stop after this many epochs without val_accuracy gain (off by default)", default=None
    )
    reduce_lr_patience: int | None = _flag(
        "halve the rate after this many epochs without val_loss gain (constant schedule only)",
        default=None,
    )
    rotation_range: float = _flag("augmentation: max rotation in degrees", default=0.0)
    zoom_range: float = _flag("augmentation: max zoom as a fraction", default=0.0)
    width_shift_range: float = _flag("augmentation: max horizontal shift fraction", default=0.1)
    height_shift_range: float = _flag("augmentation: max vertical shift fraction", default=0.1)
    horizontal_flip: float = _flag("augmentation: probability of a mirror image", default=0.5)
    random_erasing: float = _flag(
        "augmentation: probability of random erasing (Zhong et al. 2017)", default=0.0
    )
    flip_mode: str = _flag(
        "augmentation: random (each flip drawn with --horizontal-flip's probability), or "
        "alternate (each image mirrored in every other epoch, airbench's alternating flip; "
        "needs --horizontal-flip 0.5)",
        default="random",
        choices=FLIP_MODES,
    )
    val_size: int = _flag("validation images carved from the 60k training set", default=5000)
    limit_train: int | None = _flag(
        "train on a stratified subset of this many images (smoke runs)", default=None
    )
    classes: tuple[str, ...] = field(
        default=(),
        metadata={
            "help": "train a specialist on these classes only, comma-separated, matched "
            "case-insensitively (e.g. --classes shirt,t-shirt/top,pullover,coat): the same "
            "validation split with the other classes' images removed, one output per class in "
            "this order, tested on these classes' test images; default: all ten",
            "flag": "--classes",
            "comma_separated": True,
        },
    )
    input_size: int | None = _flag("resize images inside the model to this side", default=None)
    precision: str = _flag(
        "dtype policy; auto: mixed_bfloat16 on a GPU or a CPU with bfloat16 instructions",
        default="auto",
        choices=PRECISIONS,
    )
    jit_compile: bool | None = _flag("XLA compilation; default: on with a GPU only", default=None)
    augment_on: str = _flag(
        "where augmentation runs: dataset (a parallel tf.data map on the host), model (inside "
        "the compiled training step, on the training device); auto: model (on a GPU it keeps "
        "the host free; on a 2-core CPU it was measured as fast or faster)",
        default="auto",
        choices=AUGMENT_ON,
    )
    distribute: str = _flag(
        "none, or mirrored (all local GPUs); --batch-size is the global batch, split across "
        "replicas",
        default="none",
        choices=DISTRIBUTE,
    )
    seed: int = _flag(
        "random seed of initialization, shuffling, augmentation and dropout", default=0
    )
    split_seed: int = _flag(
        "random seed of the validation split; runs that share it share their validation "
        "images, so they can be compared and ensembled on them",
        default=0,
    )
    deterministic: bool = _flag("make TensorFlow ops deterministic (slower)", default=False)
    run_name: str | None = _flag(
        "name of the run folder; default <model>-<optimizer>-<time>", default=None
    )
    preset: str | None = _flag(
        "the preset the configuration started from (set by --preset or a file's `preset`)",
        default=None,
        cli=False,
    )
    tags: tuple[str, ...] = field(
        default=(),
        metadata={
            "help": "a free-form label of the run (a study, a table that shows it); repeatable",
            "flag": "--tag",
        },
    )

    def resolved(self, hardware: Hardware | None = None) -> "ExperimentConfig":
        """`resolve(self, hardware)`, on this machine's hardware by default."""
        return resolve(self, machine.probe_hardware() if hardware is None else hardware)

    def validate(self) -> "ExperimentConfig":
        """Raises ValueError naming the field and its allowed range; returns self."""
        self._check_choices()
        self._check_optimization()
        self._check_averaging()
        self._check_augmentation()
        self._check_data_and_names()
        self._require(
            all(isinstance(tag, str) and tag.strip() for tag in self.tags),
            "tags",
            "a list of non-empty strings",
        )
        return self

    def _require(self, ok: bool, name: str, allowed: str) -> None:
        if not ok:
            raise ConfigError(name, allowed, getattr(self, name))

    def _model_spec(self):
        """The registry's `ModelSpec` of `model`; a ConfigError naming the known models if none."""
        from models import get_spec, list_models

        self._require(self.model in list_models(), "model", f"one of {', '.join(list_models())}")
        return get_spec(self.model)

    def _check_choices(self) -> None:
        self._model_spec()  # refuses an unknown model
        self._require(
            isinstance(self.model_args, dict) and all(map(str.isidentifier, self.model_args)),
            "model_args",
            "a mapping of argument names to values",
        )
        for name, choices in (
            ("optimizer", OPTIMIZERS),
            ("lr_schedule", LR_SCHEDULES),
            ("precision", PRECISIONS),
            ("distribute", DISTRIBUTE),
            ("augment_on", AUGMENT_ON),
            ("flip_mode", FLIP_MODES),
        ):
            self._require(getattr(self, name) in choices, name, f"one of {', '.join(choices)}")

    def _check_optimization(self) -> None:
        require = self._require
        for name in ("lr", "max_lr", "swa_lr"):
            value = getattr(self, name)
            require(value is None or (math.isfinite(value) and value > 0), name, "finite and > 0")
        require(0 <= self.momentum < 1, "momentum", "in [0, 1)")
        require(
            math.isfinite(self.weight_decay) and self.weight_decay >= 0,
            "weight_decay",
            "finite and >= 0",
        )
        require(
            math.isfinite(self.bias_lr_factor) and self.bias_lr_factor > 0,
            "bias_lr_factor",
            "finite and > 0 (1 disables)",
        )
        require(self.epochs >= 1, "epochs", ">= 1")
        require(self.batch_size is None or self.batch_size >= 1, "batch_size", ">= 1")
        if self.lr_schedule in CYCLIC_MODES and self.lr is not None:
            require(self.max_lr >= self.lr, "max_lr", f">= lr ({self.lr}) for a cyclical schedule")
        require(0 < self.cycle_epochs < math.inf, "cycle_epochs", "finite and > 0")
        require(0 < self.clr_gamma <= 1, "clr_gamma", "in (0, 1]")
        if self.warmup_epochs is not None:
            require(
                0 <= self.warmup_epochs < self.epochs,
                "warmup_epochs",
                f"in [0, epochs={self.epochs})",
            )
            require(
                not self.warmup_epochs or self.lr_schedule in ("auto", *WARMUP_SCHEDULES),
                "warmup_epochs",
                "0 unless --lr-schedule is cosine or onecycle",
            )
        for name in ("early_stopping", "reduce_lr_patience"):
            value = getattr(self, name)
            require(value is None or value >= 1, name, ">= 1 or unset")
        if self.reduce_lr_patience is not None:
            require(
                self.lr_schedule == "constant", "lr_schedule", "'constant' with reduce_lr_patience"
            )
        smoothing = self.label_smoothing
        require(smoothing is None or 0 <= smoothing < 1, "label_smoothing", "in [0, 1) or unset")
        if smoothing:
            require(
                not self._model_spec().own_loss,
                "label_smoothing",
                f"0 for {self.model}, whose margin loss has no smoothing",
            )

    def _check_averaging(self) -> None:
        require = self._require
        require(self.swa_freq is None or self.swa_freq >= 1, "swa_freq", ">= 1")
        if self.swa and self.swa_start is not None:
            require(
                1 <= self.swa_start <= self.epochs, "swa_start", f"in [1, epochs={self.epochs}]"
            )
        if self.lr_schedule == "swa":
            require(self.swa is not False, "lr_schedule", "other than 'swa' with --no-swa")
        if self.swa_lr is not None and self.lr is not None:
            require(self.swa_lr <= self.lr, "swa_lr", f"in (0, lr={self.lr}]")
        require(self.ema is None or 0 <= self.ema < 1, "ema", "in [0, 1) (0 disables) or unset")

    def _check_augmentation(self) -> None:
        for name in AUGMENTATION_KNOBS:  # the bounds the augmentation layers check too
            self._require(knob_within(name, getattr(self, name)), name, knob_allowed(name))
        if self.flip_mode == "alternate":  # every image is mirrored in half of the epochs
            self._require(
                self.horizontal_flip == 0.5, "horizontal_flip", "0.5 with flip_mode='alternate'"
            )
        self._require(self.tta_shifts >= 0, "tta_shifts", ">= 0 pixels")
        if self.tta_shifts:
            self._require(self.tta, "tta_shifts", "0 without tta")

    def _check_data_and_names(self) -> None:
        require = self._require
        require(10 <= self.val_size <= 50_000, "val_size", "in [10, 50000]")
        require(0 <= self.seed < 2**32, "seed", "in [0, 2**32)")
        require(0 <= self.split_seed < 2**32, "split_seed", "in [0, 2**32)")
        if self.limit_train is not None:
            available = 60_000 - self.val_size
            require(10 <= self.limit_train <= available, "limit_train", f"in [10, {available}]")
        if self.input_size is not None:
            require(self.input_size >= 8, "input_size", ">= 8")
        problem = group_problem(self.classes)
        require(problem is None, "classes", f"{GROUP_RULE} ({problem})")
        if self.run_name is not None:  # the name of the run's folders (outputs.folders)
            require(is_output_name(self.run_name), "run_name", NAME_RULE)

    def augmentation_settings(self) -> dict:
        """The knobs of `build_augmentation`: an alternating flip replaces the random one."""
        settings = {name: getattr(self, name) for name in AUGMENTATION_KNOBS}
        if self.flip_mode == "alternate":
            settings["horizontal_flip"] = 0.0
        return settings

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "ExperimentConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"Unknown config fields: {sorted(unknown)}. Received: {values}")
        return cls(**{**values, "tags": tuple(values.get("tags", ())),
                      "classes": tuple(values.get("classes", ()))})

    @classmethod
    def from_json(cls, path: Path) -> "ExperimentConfig":
        return cls.from_dict(json.loads(Path(path).read_text()))


def resolve(config: ExperimentConfig, hardware: Hardware) -> ExperimentConfig:
    """A copy of `config` with the defaults that depend on other fields and on `hardware`
    filled in; the same input always gives the same copy, and a resolved copy resolves to
    itself. The formulas are the schedules' (`training.schedule_rules`) and the hardware's
    (`training.hardware`).

    Example: `resolve(ExperimentConfig(), Hardware(cpu_bf16=True)).lr` is 3e-3, the one-cycle
    peak for Adam at batch size 128.
    """
    values = dataclasses.asdict(config)
    spec = config._model_spec()
    if values["batch_size"] is None:
        values["batch_size"] = machine.default_batch_size(config.distribute, hardware)
    if values["swa"] is None:
        values["swa"] = default_swa(config.epochs, config.swa_start)
    if values["lr_schedule"] == "auto":
        values["lr_schedule"] = default_schedule(values["swa"])
    schedule = values["lr_schedule"]
    if values["lr"] is None and values["batch_size"] >= 1:  # validate() names a bad batch
        values["lr"] = default_lr(schedule, config.optimizer, values["batch_size"])
    if values["ema"] == 0:
        values["ema"] = None
    if values["label_smoothing"] is None:
        values["label_smoothing"] = 0.0 if spec.own_loss else DEFAULT_LABEL_SMOOTHING
    values["swa_start"], values["swa_freq"] = swa_snapshots(
        schedule, config.epochs, config.cycle_epochs, config.swa_start, config.swa_freq)
    if values["warmup_epochs"] is None:
        values["warmup_epochs"] = default_warmup_epochs(schedule, config.epochs)
    if values["swa_lr"] is None and values["lr"] is not None:
        values["swa_lr"] = default_swa_lr(values["lr"])
    values["precision"] = machine.resolve_precision(config.precision, spec.cpu_precision,
                                                    hardware)
    values["augment_on"] = machine.resolve_augment_on(config.augment_on, hardware)
    values["classes"] = tuple(map(canonical_name, config.classes))  # validate() names others
    values["jit_compile"] = machine.resolve_jit_compile(config.jit_compile, hardware)
    return ExperimentConfig(**values)
