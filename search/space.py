"""Search spaces: which settings a study varies and over what values, read from a TOML file.

A space file is in the family of presets: one table per searched setting, named by its
`section.key` (`training.config.SECTIONS`), plus an optional top-level `description`:

```toml
description = "Rotations and erasing"

[augmentation.rotation_range]
type = "float"    # float | int | categorical | bool
low = 0.0
high = 20.0       # optional: log = true (low > 0), step = 2.0

[runtime.batch_size]
type = "categorical"
choices = [64, 128, 256]
```

Example:

```python
space = read_space(space_path("augmentation"))
check_space(space, preset="default", fixed={"schedule.epochs": 1})
overrides = sample(space, trial)   # {"augmentation.rotation_range": 7.3, ...}
```

A knob that is unknown, of an unknown type, with an empty or reversed range, a missing bound, a
log scale over values <= 0, values of the wrong type, or values the base preset cannot take (its
model's arguments included) is refused naming the knob and the file, before any trial starts.
A `[model.args]` knob's choices are tables of constructor arguments, each merged into the base's
own (`trial_layers`):

```toml
[model.args]
type = "categorical"
choices = [{dirac_init = false}, {dirac_init = true}]
```

Knobs are checked one at a time; a combination they cannot take together (a warm-up as long as
the epochs) is found when a trial draws it, which then does not train (`validated`).
"""

import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import config as paths
from models.arguments import check_model_arguments
from outputs.io import read_toml
from training.config import SECTION_KEYS, ConfigError, ExperimentConfig
from training.presets import Layers, checked, checked_value, compose, field_of

SPACES_DIR = paths.REPO_ROOT / "spaces"
ARGS_KEY = "model.args"  # a knob over constructor arguments, merged into the base's
MODEL_KEY = "model.name"
KNOB_TYPES = ("float", "int", "categorical", "bool")
# The entries a knob's table may hold, by its type (`type` itself aside).
KNOB_ENTRIES = {
    "float": ("low", "high", "log", "step"),
    "int": ("low", "high", "log", "step"),
    "categorical": ("choices",),
    "bool": (),
}


@dataclass(frozen=True)
class Knob:
    """One searched setting: its `section.key`, its type and its range or choices."""

    key: str
    type: str
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    step: float | int | None = None
    choices: tuple = ()

    def values(self) -> tuple:
        """The values that bound what a trial may get: low and high, every choice, or both
        booleans; checking these checks the whole range of a setting checked by its bounds."""
        if self.type == "categorical":
            return self.choices
        if self.type == "bool":
            return (False, True)
        return (self.low, self.high)

    def contains(self, value) -> bool:
        """Whether the knob can give `value`: one of its choices, or a number of its type
        within its range and on its step."""
        if self.type in ("categorical", "bool"):
            return any(_same(value, choice) for choice in self.values())
        number = int if self.type == "int" else (int, float)
        if isinstance(value, bool) or not isinstance(value, number):
            return False
        if not self.low <= value <= self.high:
            return False
        steps = (value - self.low) / (self.step or 1) if self.type == "int" or self.step else 0
        return math.isclose(steps, round(steps), abs_tol=1e-9)

    def suggest(self, trial):
        """The trial's value of this knob, drawn by the study's sampler."""
        if self.type == "float":
            return trial.suggest_float(self.key, self.low, self.high, log=self.log, step=self.step)
        if self.type == "int":
            return trial.suggest_int(self.key, self.low, self.high, log=self.log,
                                     step=self.step or 1)
        with warnings.catch_warnings():
            # Optuna warns of choices other than numbers and strings (a `model.args` table);
            # its storages keep them as JSON, which such a table is.
            warnings.filterwarnings("ignore", "Choices for a categorical distribution")
            return trial.suggest_categorical(self.key, list(self.values()))

    def describe(self) -> str:
        """One line: `augmentation.rotation_range  float in [0.0, 20.0]`."""
        if self.type in ("categorical", "bool"):
            return f"{self.key:<32} {self.type} of {list(self.values())}"
        scale = ", log scale" if self.log else ""
        step = f", step {self.step}" if self.step is not None else ""
        return f"{self.key:<32} {self.type} in [{self.low}, {self.high}]{scale}{step}"


@dataclass(frozen=True)
class SearchSpace:
    """The knobs of a space file, in the file's order, and where they were read."""

    knobs: tuple[Knob, ...]
    source: str
    description: str | None = None

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(knob.key for knob in self.knobs)

    def describe(self) -> str:
        head = f"# {self.source}" + (f": {self.description}" if self.description else "")
        return "\n".join([head, *(knob.describe() for knob in self.knobs)])


def space_path(name: str) -> Path:
    """A space file: the path given, or a shipped space's name (`augmentation`, `recipe`,
    `speed`).

    Example: `space_path("recipe")` is `<repo>/spaces/recipe.toml`."""
    shipped = SPACES_DIR / f"{name}.toml"
    if shipped.is_file():
        return shipped
    if Path(name).is_file():
        return Path(name)
    known = ", ".join(sorted(path.stem for path in SPACES_DIR.glob("*.toml")))
    raise ValueError(
        f"--space must be a space file or a shipped space ({known}, in {SPACES_DIR}). "
        f"Received: --space {name}"
    )


def read_space(path: Path) -> SearchSpace:
    """The space of a file, every knob checked alone (see the module's docstring).

    Example: `read_space(Path("spaces/recipe.toml")).keys` starts with `"optimizer.lr"`."""
    source = str(path)
    tables = read_toml(path, "A search space")
    description = tables.pop("description", None)
    if description is not None and not isinstance(description, str):
        raise ValueError(f"description must be a string in {source}. Received: {description!r}")
    knobs = []
    for section, keys in tables.items():
        if not isinstance(keys, dict) or not all(isinstance(t, dict) for t in keys.values()):
            raise ValueError(
                f"{source} holds one table per searched setting, [section.key], e.g. "
                f"[augmentation.rotation_range], and a top-level description. "
                f"Received: {section} = {keys!r}"
            )
        knobs += [parse_knob(f"{section}.{key}", table, source)
                  for key, table in keys.items()]
    if not knobs:
        raise ValueError(f"{source} searches nothing: add a [section.key] table. Received: none")
    return SearchSpace(tuple(knobs), source, description)


def parse_knob(key: str, table: dict, source: str) -> Knob:
    """The knob of table `[key]`; a ValueError naming `[key]` and `source` when it is not a
    valid knob of its setting."""
    where = f"[{key}] in {source}"
    field_of(key, source)  # refuses an unknown section.key, listing the section's keys
    kind = table.get("type")
    if kind not in KNOB_TYPES:
        raise ValueError(f"{where}: type must be one of {', '.join(KNOB_TYPES)}. "
                         f"Received: type={kind!r}")
    unknown = sorted(set(table) - {"type", *KNOB_ENTRIES[kind]})
    if unknown:
        allowed = ", ".join(KNOB_ENTRIES[kind]) or "nothing"
        raise ValueError(f"{where}: a {kind} knob takes {allowed} besides its type. "
                         f"Received: {', '.join(unknown)}")
    if kind == "categorical":
        knob = Knob(key, kind, choices=_choices(table.get("choices"), where))
    elif kind == "bool":
        knob = Knob(key, kind)
    else:
        knob = _range_knob(key, kind, table, where)
    for value in knob.values():
        checked_value(key, value, source)  # the setting's own type
    return knob


def _choices(choices, where: str) -> tuple:
    if not isinstance(choices, list) or not choices:
        raise ValueError(f"{where}: a categorical knob needs choices, a non-empty list, e.g. "
                         f"choices = [64, 128]. Received: choices={choices!r}")
    if len(set(map(repr, choices))) < len(choices):
        raise ValueError(f"{where}: choices must differ. Received: choices={choices!r}")
    return tuple(choices)


def _range_knob(key: str, kind: str, table: dict, where: str) -> Knob:
    """A float or int knob: low < high, both numbers (integers for int), log only over
    positive values."""
    number = int if kind == "int" else (int, float)
    bounds = {name: table.get(name) for name in ("low", "high")}
    for name, value in bounds.items():
        if not isinstance(value, number) or isinstance(value, bool) or not math.isfinite(value):
            raise ValueError(f"{where}: a {kind} knob needs {name}, a finite "
                             f"{'integer' if kind == 'int' else 'number'}. "
                             f"Received: {name}={value!r}")
    low, high = (float(v) if kind == "float" else v for v in bounds.values())
    if low >= high:
        problem = "an empty range" if low == high else "low > high"
        raise ValueError(f"{where}: low must be < high ({problem}); to fix a setting, use "
                         f"--set {key}=VALUE. Received: low={low!r}, high={high!r}")
    log, step = table.get("log", False), table.get("step")
    if not isinstance(log, bool):
        raise ValueError(f"{where}: log must be true or false. Received: log={log!r}")
    if log and low <= 0:
        raise ValueError(f"{where}: a log scale needs low > 0. Received: low={low!r}, log=true")
    if step is not None and (log or not isinstance(step, number) or step <= 0):
        raise ValueError(f"{where}: step must be a number > 0, without log. "
                         f"Received: step={step!r}, log={str(log).lower()}")
    return Knob(key, kind, low, high, log, step)


def trial_layers(preset: str, fixed: dict, drawn: dict) -> Layers:
    """A trial's configuration: `preset` with the `fixed` overrides and the `drawn` values
    over them. A `model.args` value is merged into the argument table the rest gives the
    model (a searched `dirac_init` keeps the base's whitening stem), rather than replacing it.

    Example: `trial_layers("default", {}, {"model.args": {"dirac_init": False}})` keeps the
    default's `whitening_patch_size = 3`."""
    plain = {key: value for key, value in drawn.items() if key != ARGS_KEY}
    layers = compose(preset=preset, overrides={**fixed, **plain})
    if ARGS_KEY not in drawn:
        return layers
    arguments = {**layers.config.model.args, **drawn[ARGS_KEY]}
    return compose(preset=preset, overrides={**fixed, **plain, ARGS_KEY: arguments})


def validated(layers: Layers, arguments: bool = True) -> ExperimentConfig:
    """The configuration of `layers` resolved and validated as a whole, and with `arguments`
    its model arguments checked against its model (built once with them), as a run checks them
    before writing anything; a ValueError names the first problem."""
    config = checked(layers)
    if arguments and config.model.args:
        check_model_arguments(config.model.name, config.model.args)
    return config


def problem_of(error: ValueError) -> str:
    """What `validated` refused, in the words of the setting (`schedule.warmup_epochs must be
    ...`) rather than of the layer that set it, for a value the sampler drew."""
    cause = error.__cause__
    if isinstance(cause, ConfigError):
        return cause.describe(SECTION_KEYS.get(cause.field, cause.field))
    return str(error)


def check_space(space: SearchSpace, preset: str, fixed: dict) -> None:
    """Refuses a knob whose values the configuration cannot take: the base `preset` with the
    `fixed` overrides and each of the knob's bounding values (`Knob.values`) is validated as a
    trial's would be (`validated`), model arguments against the base's model included.

    Example: `check_space(space, "default", {"model.name": "capsnet"})` refuses a
    `loss.label_smoothing` knob, as CapsuleNet's margin loss has no smoothing."""
    both = sorted(set(fixed) & set(space.keys))
    if both:
        raise ValueError(f"{', '.join(both)} is searched by {space.source} and fixed by --set: "
                         f"remove one. Received: --set {both[0]}={fixed[both[0]]!r}")
    validated(compose(preset=preset, overrides=fixed))
    for knob in space.knobs:
        # Only these knobs change the model's arguments, whose check builds the model.
        arguments = knob.key in (ARGS_KEY, MODEL_KEY)
        for value in knob.values():
            try:
                validated(trial_layers(preset, fixed, {knob.key: value}), arguments)
            except ValueError as error:
                fix = ("; search only arguments the base's model takes, or name another model "
                       "with --set model.name=NAME" if knob.key == ARGS_KEY else "")
                raise ValueError(f"[{knob.key}] in {space.source} reaches a value preset "
                                 f"{preset!r} cannot take{fix}: {error}") from error


def _same(value, choice) -> bool:
    """`value == choice`, with a bool never equal to a number."""
    return value == choice and isinstance(value, bool) == isinstance(choice, bool)


def base_params(space: SearchSpace, config: ExperimentConfig) -> dict:
    """The values of `config` (the base configuration, resolved) that the space's knobs can
    give, `{section.key: value}`: a study's first trial. A `model.args` knob gives the choice
    that leaves the base's arguments as they are; a value out of a knob's range is left to the
    sampler.

    Example: `base_params(space, config)` -> `{"optimizer.lr": 0.003}` when the space searches
    `optimizer.lr` from 1e-3 to 1e-2 and `runtime.batch_size` over 256 and 512 for a base of
    batch size 128."""
    values = config.to_dict()
    params = {}
    for knob in space.knobs:
        value = values[field_of(knob.key, space.source)]
        if knob.key == ARGS_KEY:
            value = next((choice for choice in knob.choices
                          if {**value, **choice} == value), None)
        if value is not None and knob.contains(value):
            params[knob.key] = value
    return params


def sample(space: SearchSpace, trial) -> dict:
    """The trial's `{section.key: value}` for every knob of `space`.

    Example: `sample(space, trial)` -> `{"optimizer.lr": 0.0021, "runtime.batch_size": 256}`."""
    return {knob.key: knob.suggest(trial) for knob in space.knobs}
