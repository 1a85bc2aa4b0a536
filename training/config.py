"""The experiment configuration: frozen dataclasses, one per section (model, optimizer, loss,
schedule, averaging, augmentation, evaluation, data, runtime, run), in one `ExperimentConfig`;
one validation (`ExperimentConfig.validate`) and one pure `resolve(config, hardware)`."""

import copy
import dataclasses
import math
import typing
from dataclasses import dataclass, field
from pathlib import Path

import training.hardware as machine
from data.class_groups import GROUP_RULE, canonical_name, group_problem
from data.knobs import AUGMENTATION_KNOBS, knob_allowed, knob_within
from outputs.folders import NAME_RULE, is_output_name
from outputs.io import read_json
from records.run_record import upgraded_config
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
from training.time_budget import DURATION_RULE, parse_duration

NUM_CLASSES = 10  # Fashion-MNIST; data.NUM_CLASSES, kept here so the CLI loads no TensorFlow
OPTIMIZERS = ("adam", "rmsprop", "sgd")
# How images are mirrored: "random" draws each flip; "alternate" flips each image in every other
# epoch (airbench's alternating flip, data.alternating_flip).
FLIP_MODES = ("random", "alternate")
# Label smoothing of the default run; models with their own loss (`ModelSpec.own_loss`) get none.
DEFAULT_LABEL_SMOOTHING = 0.1


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


def _flag(help_text: str, **extra):
    """A field with its `train.py` flag's help; `flat` names it in the flat layout (records,
    flags) where that differs from its key, `flag` spells its flag where that differs from the
    flat name, `cli=False` keeps it off the command line; `parse` reads the text of its flag
    (and a string in a file or `--set`) into its value, shown as `metavar`."""
    if "default_factory" in extra:
        default = {"default_factory": extra.pop("default_factory")}
    else:
        default = {"default": extra.pop("default")}
    return field(**default, metadata={"help": help_text, **extra})


@dataclass(frozen=True)
class ModelConfig:
    """Which registered model, with which constructor arguments."""

    name: str = _flag("registered model name (see --list-models)", default="fast-cnn-small",
                      flat="model")
    args: dict = _flag(
        "a constructor argument of the model, as NAME=VALUE with a Python literal value, e.g. "
        "--model-arg dropout=0.2 --model-arg 'widths=(32, 64, 128)'; repeatable",
        default_factory=dict, flat="model_args", flag="--model-arg",
    )
    input_size: int | None = _flag("resize images inside the model to this side", default=None)


@dataclass(frozen=True)
class OptimizerConfig:
    name: str = _flag("optimizer", default="adam", choices=OPTIMIZERS, flat="optimizer")
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


@dataclass(frozen=True)
class LossConfig:
    label_smoothing: float | None = _flag(
        "label smoothing of the cross-entropy (Szegedy et al. 2016); 0 disables; default: "
        f"{DEFAULT_LABEL_SMOOTHING}, or 0 for a model whose training step has its own loss",
        default=None,
    )


@dataclass(frozen=True)
class ScheduleConfig:
    """The learning-rate schedule and how long it runs; its formulas are in
    `training.schedule_rules`."""

    name: str = _flag(
        "learning-rate schedule; onecycle: linear warmup to --lr, then linear decay to 0 (Smith & "
        "Topin 2019); triangular, triangular2 and exp_range are cyclical (Smith 2017); "
        "auto: swa with SWA on, cosine with it off",
        default="onecycle",
        choices=LR_SCHEDULES,
        flat="lr_schedule",
    )
    epochs: int = _flag("number of training epochs", default=10)
    steps_per_epoch: int | None = _flag(
        "training steps per epoch; default: one pass over the training images. A time budget "
        "sets it below a pass where whole passes would leave part of the budget unused",
        default=None,
    )
    warmup_epochs: float | None = _flag(
        "epochs of linear warmup for cosine and onecycle; default: 0 for cosine, "
        "a fifth of --epochs for onecycle",
        default=None,
    )
    max_lr: float = _flag("peak learning rate of the cyclical schedules", default=6e-3)
    cycle_epochs: float = _flag("epochs per half cycle of the cyclical schedules", default=2.0)
    clr_gamma: float = _flag("per-step decay of the exp_range schedule", default=0.99994)
    early_stopping: int | None = _flag(
        "stop after this many epochs without val_accuracy gain (off by default)", default=None
    )
    reduce_lr_patience: int | None = _flag(
        "halve the rate after this many epochs without val_loss gain (constant schedule only)",
        default=None,
    )
    time_budget: float | None = _flag(
        "seconds of training (fit: steps, validation, checkpoints), e.g. 600, 10m or 1h30m: "
        "the run measures its speed on its first steps and trains the most epochs that fit, "
        "instead of --epochs, its schedule (one-cycle warm-up, SWA's start) scaled to them; "
        "off by default",
        default=None,
        parse=parse_duration,
        metavar="DURATION",
    )


@dataclass(frozen=True)
class AveragingConfig:
    """Weight averages scored beside the final weights: SWA and an exponential moving average."""

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


@dataclass(frozen=True)
class AugmentationConfig:
    """The training images' random transforms; `data.knobs` holds each knob's bounds."""

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

    def layer_settings(self) -> dict:
        """The knobs of `build_augmentation`: an alternating flip replaces the random one."""
        settings = {name: getattr(self, name) for name in AUGMENTATION_KNOBS}
        if self.flip_mode == "alternate":
            settings["horizontal_flip"] = 0.0
        return settings


@dataclass(frozen=True)
class EvaluationConfig:
    tta: bool = _flag(
        "also score the weight set best on validation with horizontal-flip test-time "
        "augmentation, and keep it where validation prefers it",
        default=True,
    )
    tta_shifts: int = _flag(
        "with --tta, also average the predictions of the images shifted diagonally by 1 to N "
        "pixels, each way, and their mirrors (airbench's translate TTA); 0: flip TTA only",
        default=0,
    )


@dataclass(frozen=True)
class DataConfig:
    """Which images train and validate: the split of the 60k training images, and the classes."""

    val_size: int = _flag("validation images carved from the 60k training set", default=5000)
    split_seed: int = _flag(
        "random seed of the validation split; runs that share it share their validation "
        "images, so they can be compared and ensembled on them",
        default=0,
    )
    limit_train: int | None = _flag(
        "train on a stratified subset of this many images (smoke runs)", default=None
    )
    classes: tuple[str, ...] = _flag(
        "train a specialist on these classes only, comma-separated, matched case-insensitively "
        "(e.g. --classes shirt,t-shirt/top,pullover,coat): the same validation split with the "
        "other classes' images removed, one output per class in this order, tested on these "
        "classes' test images; default: all ten",
        default=(),
        comma_separated=True,
    )


@dataclass(frozen=True)
class RuntimeConfig:
    """How the machine runs it: batch size, precision, compilation, devices and seeds."""

    batch_size: int | None = _flag(
        "global training batch size; default: 128 on a CPU, 512 per GPU", default=None
    )
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
    deterministic: bool = _flag("make TensorFlow ops deterministic (slower)", default=False)


@dataclass(frozen=True)
class RunConfig:
    """What names and labels the run, without changing what it trains."""

    name: str | None = _flag(
        "name of the run folder; default <model>-<optimizer>-<time>", default=None, flat="run_name"
    )
    tags: tuple[str, ...] = _flag(
        "a free-form label of the run (a study, a table that shows it); repeatable",
        default=(),
        flag="--tag",
    )


# The sections of a configuration, each a table of a configuration file (TOML) and a prefix of
# `--set section.key=value`.
SECTION_TYPES = {
    "model": ModelConfig,
    "optimizer": OptimizerConfig,
    "loss": LossConfig,
    "schedule": ScheduleConfig,
    "averaging": AveragingConfig,
    "augmentation": AugmentationConfig,
    "evaluation": EvaluationConfig,
    "data": DataConfig,
    "runtime": RuntimeConfig,
    "run": RunConfig,
}


@dataclass(frozen=True)
class FlatField:
    """One setting in the flat layout: its flat name (the record's key, `train.py`'s flag), its
    `section.key`, and the dataclass field that declares it (help, choices, type)."""

    name: str
    section: str | None  # None: a top-level key (`preset`)
    key: str
    field: dataclasses.Field
    hint: object


@dataclass(frozen=True)
class ExperimentConfig:
    """Everything that defines a run, in sections; frozen: `replace` makes a changed copy.

    The flat layout (`to_dict`, `from_dict`, `replace`) names each setting once, as records and
    `train.py`'s flags do (`epochs`, `lr_schedule`, `model_args`); a configuration file and
    `--set` name it `section.key` (`schedule.epochs`, `schedule.name`, `model.args`).

    Example:

    >>> config = ExperimentConfig().replace(epochs=3, lr=0.01)
    >>> (config.schedule.epochs, config.optimizer.lr, config.model.name)
    (3, 0.01, 'fast-cnn-small')
    """

    model: ModelConfig = field(default_factory=ModelConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    averaging: AveragingConfig = field(default_factory=AveragingConfig)
    augmentation: AugmentationConfig = field(default_factory=AugmentationConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    data: DataConfig = field(default_factory=DataConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    run: RunConfig = field(default_factory=RunConfig)
    preset: str | None = _flag(
        "the preset the configuration started from (set by --preset or a file's `preset`)",
        default=None,
        cli=False,
    )

    def resolved(self, hardware: Hardware | None = None) -> "ExperimentConfig":
        """`resolve(self, hardware)`, on this machine's hardware by default."""
        return resolve(self, machine.probe_hardware() if hardware is None else hardware)

    def validate(self) -> "ExperimentConfig":
        """Raises a ConfigError naming the setting and its allowed values; returns self."""
        Checks(self).run()
        return self

    def to_dict(self) -> dict:
        """The flat layout: `{flat name: value}`, as records and `config.json` keep it (a copy:
        changing it changes no configuration)."""
        return {
            name: copy.deepcopy(getattr(getattr(self, flat.section) if flat.section else self,
                                        flat.key))
            for name, flat in FLAT_FIELDS.items()
        }

    @classmethod
    def from_dict(cls, values: dict) -> "ExperimentConfig":
        """The configuration of a flat layout (`to_dict`); missing settings take their
        defaults, an unknown one is refused."""
        unknown = set(values) - set(FLAT_FIELDS)
        if unknown:
            raise ValueError(f"Unknown config fields: {sorted(unknown)}. Received: {values}")
        sections: dict = {name: {} for name in SECTION_TYPES}
        top = {}
        for name, value in values.items():
            flat = FLAT_FIELDS[name]
            if name in ("tags", "classes"):
                value = tuple(value)
            (sections[flat.section] if flat.section else top)[flat.key] = value
        return cls(**{name: kind(**sections[name]) for name, kind in SECTION_TYPES.items()},
                   **top)

    @classmethod
    def from_json(cls, path: Path) -> "ExperimentConfig":
        """The configuration a run saved in `path` (its `config.json`), the settings added since
        at the values it trained with (`records.run_record.upgraded_config`); a ValueError naming
        the file when it cannot be read or holds no configuration."""
        values = read_json(path, "A run's saved configuration")
        try:
            return cls.from_dict(upgraded_config(values) if isinstance(values, dict) else values)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{path} holds no configuration this version reads: {error}. "
                             f"Received: {path}") from error

    def replace(self, **values) -> "ExperimentConfig":
        """A copy with the settings named by their flat names changed: `replace(epochs=3)`."""
        return ExperimentConfig.from_dict({**self.to_dict(), **values})

    def without_labels(self) -> "ExperimentConfig":
        """What trains: a copy without the run's name, preset and tags (`LABEL_FIELDS`)."""
        return self.replace(run_name=None, preset=None, tags=())


def _flat_fields() -> dict[str, FlatField]:
    flat_fields = {}
    for section, kind in SECTION_TYPES.items():
        hints = typing.get_type_hints(kind)
        for item in dataclasses.fields(kind):
            name = item.metadata.get("flat", item.name)
            flat_fields[name] = FlatField(name, section, item.name, item, hints[item.name])
    preset = next(item for item in dataclasses.fields(ExperimentConfig) if item.name == "preset")
    flat_fields["preset"] = FlatField("preset", None, "preset", preset, str | None)
    return flat_fields


# Every setting by its flat name, in section order.
FLAT_FIELDS = _flat_fields()
# `{section: {key: flat name}}`: the keys of each table of a configuration file.
SECTIONS = {section: {flat.key: name for name, flat in FLAT_FIELDS.items()
                      if flat.section == section} for section in SECTION_TYPES}
# `section.key` of each setting, as a configuration file and `--set` spell it; `preset` is a
# top-level key of the file.
SECTION_KEYS = {name: f"{flat.section}.{flat.key}" if flat.section else name
                for name, flat in FLAT_FIELDS.items()}
# Settings that name or label a run without changing what it trains.
LABEL_FIELDS = ("run_name", "preset", "tags")


def model_spec(name: str):
    """The registry's `ModelSpec` of model `name`; a ConfigError naming the known models if
    none."""
    from models import get_spec, list_models

    if name not in list_models():
        raise ConfigError("model", f"one of {', '.join(list_models())}", name)
    return get_spec(name)


class Checks:
    """The one validation of a configuration: every setting against its one set of allowed
    values, each refusal a ConfigError under the setting's flat name."""

    def __init__(self, config: ExperimentConfig):
        self.config, self.values = config, config.to_dict()

    def require(self, ok: bool, name: str, allowed: str) -> None:
        if not ok:
            raise ConfigError(name, allowed, self.values[name])

    def run(self) -> None:
        self.choices()
        self.optimization()
        self.schedule()
        self.averaging()
        self.augmentation()
        self.data_and_names()

    def choices(self) -> None:
        model = self.config.model
        model_spec(model.name)
        self.require(
            isinstance(model.args, dict) and all(map(str.isidentifier, model.args)),
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
            self.require(self.values[name] in choices, name, f"one of {', '.join(choices)}")

    def optimization(self) -> None:
        require, optimizer = self.require, self.config.optimizer
        for name in ("lr", "max_lr", "swa_lr"):
            value = self.values[name]
            require(value is None or (math.isfinite(value) and value > 0), name, "finite and > 0")
        require(0 <= optimizer.momentum < 1, "momentum", "in [0, 1)")
        require(
            math.isfinite(optimizer.weight_decay) and optimizer.weight_decay >= 0,
            "weight_decay",
            "finite and >= 0",
        )
        require(
            math.isfinite(optimizer.bias_lr_factor) and optimizer.bias_lr_factor > 0,
            "bias_lr_factor",
            "finite and > 0 (1 disables)",
        )
        batch_size = self.config.runtime.batch_size
        require(batch_size is None or batch_size >= 1, "batch_size", ">= 1")
        smoothing = self.config.loss.label_smoothing
        require(smoothing is None or 0 <= smoothing < 1, "label_smoothing", "in [0, 1) or unset")
        if smoothing:
            require(
                not model_spec(self.config.model.name).own_loss,
                "label_smoothing",
                f"0 for {self.config.model.name}, whose margin loss has no smoothing",
            )

    def schedule(self) -> None:
        require, schedule, lr = self.require, self.config.schedule, self.config.optimizer.lr
        require(schedule.epochs >= 1, "epochs", ">= 1")
        require(schedule.steps_per_epoch is None or schedule.steps_per_epoch >= 1,
                "steps_per_epoch", ">= 1, or unset for one pass over the training images")
        if schedule.name in CYCLIC_MODES and lr is not None:
            require(schedule.max_lr >= lr, "max_lr", f">= lr ({lr}) for a cyclical schedule")
        require(0 < schedule.cycle_epochs < math.inf, "cycle_epochs", "finite and > 0")
        require(0 < schedule.clr_gamma <= 1, "clr_gamma", "in (0, 1]")
        if schedule.warmup_epochs is not None:
            require(
                0 <= schedule.warmup_epochs < schedule.epochs,
                "warmup_epochs",
                f"in [0, epochs={schedule.epochs})",
            )
            require(
                not schedule.warmup_epochs or schedule.name in ("auto", *WARMUP_SCHEDULES),
                "warmup_epochs",
                "0 unless --lr-schedule is cosine or onecycle",
            )
        for name in ("early_stopping", "reduce_lr_patience"):
            value = self.values[name]
            require(value is None or value >= 1, name, ">= 1 or unset")
        if schedule.reduce_lr_patience is not None:
            require(
                schedule.name == "constant", "lr_schedule", "'constant' with reduce_lr_patience"
            )
        budget = schedule.time_budget
        require(budget is None or (math.isfinite(budget) and budget > 0), "time_budget",
                f"{DURATION_RULE}, or unset")
        require(budget is None or schedule.steps_per_epoch is None, "steps_per_epoch",
                "unset with a time budget, which sets it")

    def averaging(self) -> None:
        require, averaging = self.require, self.config.averaging
        epochs = self.config.schedule.epochs
        require(averaging.swa_freq is None or averaging.swa_freq >= 1, "swa_freq", ">= 1")
        if averaging.swa and averaging.swa_start is not None:
            require(1 <= averaging.swa_start <= epochs, "swa_start", f"in [1, epochs={epochs}]")
        if self.config.schedule.name == "swa":
            require(averaging.swa is not False, "lr_schedule", "other than 'swa' with --no-swa")
        lr = self.config.optimizer.lr
        if averaging.swa_lr is not None and lr is not None:
            require(averaging.swa_lr <= lr, "swa_lr", f"in (0, lr={lr}]")
        ema = averaging.ema
        require(ema is None or 0 <= ema < 1, "ema", "in [0, 1) (0 disables) or unset")

    def augmentation(self) -> None:
        augmentation, evaluation = self.config.augmentation, self.config.evaluation
        for name in AUGMENTATION_KNOBS:  # the bounds the augmentation layers check too
            self.require(knob_within(name, getattr(augmentation, name)), name, knob_allowed(name))
        if augmentation.flip_mode == "alternate":  # every image is mirrored in half of the epochs
            self.require(augmentation.horizontal_flip == 0.5, "horizontal_flip",
                         "0.5 with flip_mode='alternate'")
        self.require(evaluation.tta_shifts >= 0, "tta_shifts", ">= 0 pixels")

    def data_and_names(self) -> None:
        require, data = self.require, self.config.data
        require(10 <= data.val_size <= 50_000, "val_size", "in [10, 50000]")
        require(0 <= self.config.runtime.seed < 2**32, "seed", "in [0, 2**32)")
        require(0 <= data.split_seed < 2**32, "split_seed", "in [0, 2**32)")
        if data.limit_train is not None:
            available = 60_000 - data.val_size
            require(10 <= data.limit_train <= available, "limit_train", f"in [10, {available}]")
        input_size = self.config.model.input_size
        if input_size is not None:
            require(input_size >= 8, "input_size", ">= 8")
        problem = group_problem(data.classes)
        require(problem is None, "classes", f"{GROUP_RULE} ({problem})")
        run = self.config.run
        if run.name is not None:  # the name of the run's folders (outputs.folders)
            require(is_output_name(run.name), "run_name", NAME_RULE)
        require(all(isinstance(tag, str) and tag.strip() for tag in run.tags), "tags",
                "a list of non-empty strings")


def resolve(config: ExperimentConfig, hardware: Hardware) -> ExperimentConfig:
    """A copy of `config` with the defaults that depend on other fields and on `hardware`
    filled in; the same input always gives the same copy, and a resolved copy resolves to
    itself. The formulas are the schedules' (`training.schedule_rules`) and the hardware's
    (`training.hardware`).

    Example: `resolve(ExperimentConfig(), Hardware(cpu_bf16=True)).optimizer.lr` is 3e-3, the
    one-cycle peak for Adam at batch size 128.

    With a time budget the epochs are not known until the run has measured its speed: the
    defaults that depend on them (SWA, its start and snapshots, `auto`'s schedule and its rate,
    the warm-up) stay unset, for `with_budget_epochs` to resolve them from the epochs it chose.
    """
    values = config.to_dict()
    spec = model_spec(config.model.name)
    if values["batch_size"] is None:
        values["batch_size"] = machine.default_batch_size(values["distribute"], hardware)
    if values["time_budget"] is None:
        _resolve_epoch_defaults(values)
    schedule = values["lr_schedule"]
    if values["lr"] is None and values["batch_size"] >= 1 and schedule != "auto":
        values["lr"] = default_lr(schedule, values["optimizer"], values["batch_size"])
    if values["ema"] == 0:
        values["ema"] = None
    if not values["tta"]:  # the shifts are views of TTA: `--no-tta` turns them off too
        values["tta_shifts"] = 0
    if values["label_smoothing"] is None:
        values["label_smoothing"] = 0.0 if spec.own_loss else DEFAULT_LABEL_SMOOTHING
    if values["swa_lr"] is None and values["lr"] is not None:
        values["swa_lr"] = default_swa_lr(values["lr"])
    values["precision"] = machine.resolve_precision(values["precision"], spec.cpu_precision,
                                                    hardware)
    values["augment_on"] = machine.resolve_augment_on(values["augment_on"], hardware)
    values["classes"] = tuple(map(canonical_name, values["classes"]))  # validate() names others
    values["jit_compile"] = machine.resolve_jit_compile(values["jit_compile"], hardware)
    return ExperimentConfig.from_dict(values)


def _resolve_epoch_defaults(values: dict) -> None:
    """Fills in the defaults that follow from the epochs, in the flat layout `values`."""
    if values["swa"] is None:
        values["swa"] = default_swa(values["epochs"], values["swa_start"])
    if values["lr_schedule"] == "auto":
        values["lr_schedule"] = default_schedule(values["swa"])
    schedule = values["lr_schedule"]
    values["swa_start"], values["swa_freq"] = swa_snapshots(
        schedule, values["epochs"], values["cycle_epochs"], values["swa_start"], values["swa_freq"])
    if values["warmup_epochs"] is None:
        values["warmup_epochs"] = default_warmup_epochs(schedule, values["epochs"])


def with_budget_epochs(config: ExperimentConfig, epochs: int,
                       steps_per_epoch: int | None = None) -> ExperimentConfig:
    """What a run with a time budget trains once the budget chose its `epochs` (and, where they
    are shorter than a pass, their `steps_per_epoch`): `config`, as asked (before `resolve`),
    with those epochs and the budget spent, so that resolving it derives the defaults that
    depend on the epochs from them (the one-cycle warm-up, SWA's start, SWA itself from
    `MIN_SWA_EPOCHS`), as for a run asked for that many epochs; settings given explicitly stay
    as given.

    Example: `resolve(with_budget_epochs(ExperimentConfig(), 20), hardware).averaging.swa_start`
    is 15.
    """
    return config.replace(epochs=epochs, steps_per_epoch=steps_per_epoch, time_budget=None)
