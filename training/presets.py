"""Named configurations (presets), configuration files and `section.key=value` overrides.

A configuration is layered, each layer over the one before:

1. the defaults of `ExperimentConfig`;
2. a preset: `presets/<name>.toml` (`--preset NAME`; `default` when none is named);
3. a configuration file (`--config FILE.toml`);
4. flags of `train.py` given on its command line;
5. `--set section.key=value` overrides, in their order.

Presets and configuration files share one format: TOML, one table per section of
`training.config.SECTIONS`, plus two optional top-level keys, `description` and `preset` (the
preset a file starts from, instead of `default`):

```toml
description = "The default recipe with rotations"
preset = "default"

[schedule]
epochs = 20

[augmentation]
rotation_range = 10.0
```

Example:

```python
layers = compose(preset="fast-cnn", overrides=["schedule.epochs=3"])
layers.config.schedule.epochs  # 3
print(to_toml(layers.config.resolved()))
```

A preset's `model.args` belong to its model's family: where a later layer names a model of
another family (`--preset default --model wrn-16-4`) and sets no arguments of its own, the
preset's are left out, as that model would refuse them.

An unknown section or key, or a value of the wrong type, is refused naming the key, what it takes
and where it was written, before anything else happens.
"""

import argparse
import ast
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

import tomli_w

import config as paths
from outputs.folders import is_output_name
from outputs.io import read_toml
from training.config import (
    FLAT_FIELDS,
    SECTION_KEYS,
    SECTIONS,
    ConfigError,
    ExperimentConfig,
    model_spec,
)

PRESETS_DIR = paths.REPO_ROOT / "presets"
DEFAULT_PRESET = "default"
TOP_LEVEL_KEYS = ("description", "preset")
FIELDS_BY_KEY = {key: name for name, key in SECTION_KEYS.items()}


@dataclass
class Layers:
    """A composed configuration and, for each field set by a layer, which layer set it last
    (`preset default`, `presets/x.toml`, `my.toml`, `--epochs`, `--set schedule.epochs=3`)."""

    config: ExperimentConfig
    sources: dict[str, str] = field(default_factory=dict)
    presets: list[str] = field(default_factory=list)  # the preset chain, base first
    applied: list[str] = field(default_factory=list)  # the layers over the preset, in order

    @property
    def preset(self) -> str:
        """The preset named on the command line or by the file: the last of the chain."""
        return self.presets[-1]


def list_presets() -> list[str]:
    """The names of the presets in `presets/`, sorted: the files `--preset` can name."""
    return sorted(path.stem for path in PRESETS_DIR.glob("*.toml") if is_output_name(path.stem))


def preset_path(name: str) -> Path:
    """`presets/<name>.toml`; a name that is not one plain file name in `presets/` (a path, an
    empty name) is refused, as a file elsewhere goes through `--config`, and so is an unknown
    name."""
    if not is_output_name(name):
        raise ValueError(
            f"A preset is named by its file in {PRESETS_DIR}, without a path or '.toml' (see "
            "--list-presets); a configuration file elsewhere goes through --config FILE. "
            f"Received: preset={name!r}"
        )
    path = PRESETS_DIR / f"{name}.toml"
    if not path.exists():
        raise ValueError(
            f"Unknown preset {name!r}; known presets: {', '.join(list_presets())} "
            f"(files in {PRESETS_DIR}). Received: preset={name!r}"
        )
    return path


def describe(path: Path) -> dict:
    """The top-level `description` and `preset` of a configuration file."""
    tables = read_toml(path)
    return {key: tables.get(key) for key in TOP_LEVEL_KEYS}


def settings_from_tables(tables: dict, source: str) -> dict:
    """`{field: value}` from a file's tables; unknown sections and keys and values of the wrong
    type are refused, naming them, what is allowed and `source`."""
    settings = {}
    for section, keys in tables.items():
        if section in TOP_LEVEL_KEYS:
            if not isinstance(keys, str):
                raise ValueError(f"{section} must be a string in {source}. Received: {keys!r}")
            continue
        if section not in SECTIONS or not isinstance(keys, dict):
            raise ValueError(
                f"Unknown section [{section}] in {source}; sections: "
                f"{', '.join(SECTIONS)}, and the top-level keys {', '.join(TOP_LEVEL_KEYS)}. "
                f"Received: {section} = {keys!r}"
            )
        for key, value in keys.items():
            name = field_of(f"{section}.{key}", source)
            settings[name] = checked_value(f"{section}.{key}", value, source)
    return settings


def field_of(key: str, source: str) -> str:
    """The field that `section.key` sets, or a ValueError listing the section's keys."""
    if key in FIELDS_BY_KEY:
        return FIELDS_BY_KEY[key]
    section = key.partition(".")[0]
    if section in SECTIONS:
        known = f"keys of [{section}]: {', '.join(SECTIONS[section])}"
    else:
        known = f"sections: {', '.join(SECTIONS)}"
    raise ValueError(f"Unknown key {key!r} in {source}; {known}. Received: {key}")


def base_type(annotation) -> type:
    """The type a field holds when set: `int | None` -> int, `tuple[str, ...]` -> tuple."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        return next(kind for kind in typing.get_args(annotation) if kind is not type(None))
    return typing.get_origin(annotation) or annotation


FLAGS = {  # the flag of each setting on train.py's command line
    name: flat.field.metadata.get("flag", "--" + name.replace("_", "-"))
    for name, flat in FLAT_FIELDS.items()
}
FIELD_TYPES = {name: base_type(flat.hint) for name, flat in FLAT_FIELDS.items()}
OPTIONAL_FIELDS = {
    name for name, flat in FLAT_FIELDS.items() if type(None) in typing.get_args(flat.hint)
}
TYPE_WORDS = {bool: "true or false", int: "an integer", float: "a number", str: "a string",
              dict: "a table of NAME = VALUE", tuple: "a list of strings"}


def checked_value(key: str, value, source: str):
    """`value` as the field of `key` takes it (an integer where a number is expected becomes a
    float, a list of tags a tuple, a string the field's `parse` reads, such as a duration, its
    value); a ValueError naming the key, the type and `source` otherwise."""
    kind = FIELD_TYPES[FIELDS_BY_KEY[key]]
    if value is None and FIELDS_BY_KEY[key] in OPTIONAL_FIELDS:
        return None
    parse = FLAT_FIELDS[FIELDS_BY_KEY[key]].field.metadata.get("parse")
    if parse is not None and isinstance(value, str):  # a duration: `time_budget = "10m"`
        try:
            return parse(value, key)
        except ValueError as error:
            raise ValueError(f"{error} in {source}") from None
    if kind is float and type(value) is int:
        return float(value)
    if kind is tuple and isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    if type(value) is kind or (kind is dict and isinstance(value, dict)):
        return dict(value) if kind is dict else value
    raise ValueError(
        f"{key} must be {TYPE_WORDS[kind]}. Received: {key}={value!r} "
        f"({type(value).__name__}) in {source}"
    )


def parse_override(text: str) -> tuple[str, object]:
    """`section.key=value` with a TOML value (`3`, `0.1`, `true`, `[32, 64]`, `"adam"`); a bare
    word is a string, so `model.name=fast-cnn` needs no quotes."""
    key, separator, value = text.partition("=")
    key = key.strip()
    if not separator or "." not in key:
        raise ValueError(
            "--set takes section.key=value, e.g. --set schedule.epochs=20. "
            f"Received: --set {text!r}"
        )
    try:
        return key, tomllib.loads(f"value = {value.strip()}")["value"]
    except tomllib.TOMLDecodeError:
        return key, value.strip()


def model_argument(text: str) -> tuple[str, object]:
    """A `--model-arg NAME=VALUE` flag's value: NAME and the Python literal VALUE (a number, a
    string, a tuple, ...); a bare word is a string."""
    name, separator, value = text.partition("=")
    if not separator or not name.strip().isidentifier():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE. Received: {text!r}")
    try:
        return name.strip(), ast.literal_eval(value.strip())
    except (ValueError, SyntaxError):
        return name.strip(), value.strip()  # a bare word is a string


def load_preset(name: str, seen: tuple = ()) -> tuple[dict, dict, list[str]]:
    """The settings of preset `name` over those of the preset it starts from, their sources, and
    the chain of presets (base first). A preset that starts from itself is refused."""
    if name in seen:
        raise ValueError(f"Preset {name!r} starts from itself: {' -> '.join((*seen, name))}.")
    path = preset_path(name)
    tables = read_toml(path, f"Preset {name!r}")
    source = f"presets/{path.name}"
    own = settings_from_tables(tables, source)  # first: it checks that `preset` is a string
    settings, sources, chain = {}, {}, []
    if "preset" in tables:  # an empty name is refused, not taken for none
        settings, sources, chain = load_preset(tables["preset"], (*seen, name))
    return {**settings, **own}, {**sources, **dict.fromkeys(own, source)}, [*chain, name]


def preset_chain(name: str | None) -> list[str] | None:
    """The presets a configuration came from, the named one first and the base last (`default`
    -> `airbench-kept` -> `fast-recipe`): a record keeps what a name like `default` meant when
    it ran. None without a preset; `[name]` alone where the preset can no longer be read."""
    if not name:
        return None
    try:
        return load_preset(name)[2][::-1]
    except (ValueError, OSError):
        return [name]


def compose(
    preset: str | None = None,
    config_file: Path | None = None,
    flags: dict | None = None,
    overrides=(),
) -> Layers:
    """The configuration from its layers (see the module's docstring); `flags` are the flag
    values given on the command line (`{field: value}`), named in `sources` by their flag;
    `overrides` are `section.key=value` texts or a `{section.key: value}` mapping (None sets an
    optional field to its default rule)."""
    file_tables = read_toml(config_file, "The --config file") if config_file else {}
    # An empty name is refused, not taken for the default.
    base = preset if preset is not None else file_tables.get("preset", DEFAULT_PRESET)
    settings, sources, chain = load_preset(base)
    preset_model = settings.get("model", ExperimentConfig().model.name)
    if config_file:
        own = settings_from_tables(file_tables, str(config_file))
        settings.update(own)
        sources.update(dict.fromkeys(own, str(config_file)))
    for name, value in (flags or {}).items():
        settings[name] = value
        sources[name] = FLAGS[name]
    pairs = overrides.items() if isinstance(overrides, dict) else map(parse_override, overrides)
    for key, value in pairs:
        name = field_of(key, "--set")
        settings[name] = checked_value(key, value, "--set")
        sources[name] = f"--set {key}"
    _leave_out_foreign_model_args(settings, sources, preset_model)
    applied = [str(config_file)] if config_file else []
    applied += [sources[name] for name in flags or {}]
    applied += [f"--set {key}={value}" for key, value in _as_texts(overrides)]
    config = ExperimentConfig().replace(**settings, preset=chain[-1])
    return Layers(config, sources, chain, applied)


def _leave_out_foreign_model_args(settings: dict, sources: dict, preset_model: str) -> None:
    """Drops the preset's `model.args` where a later layer named a model of another family (see
    the module's docstring); an unknown model is left for validation to name."""
    model = settings.get("model", preset_model)
    if model == preset_model or not sources.get("model_args", "").startswith("presets/"):
        return
    try:
        foreign = model_spec(model).family != model_spec(preset_model).family
    except ConfigError:
        return
    if foreign:
        del settings["model_args"], sources["model_args"]


def _as_texts(overrides) -> list[tuple[str, str]]:
    if isinstance(overrides, dict):
        return [(key, repr(value)) for key, value in overrides.items()]
    return [tuple(text.partition("=")[::2]) for text in overrides]


def where(error: ConfigError, sources: dict) -> str:
    """`error` worded by the layer that set its field: the flag, or the `section.key` and the
    file or `--set` that wrote it, with the fix."""
    source = sources.get(error.field)
    key = SECTION_KEYS.get(error.field, error.field)
    if source is None:
        return f"{error.describe(key)} (a default: set it with --set {key}=VALUE)"
    if source.startswith("--set"):
        return f"{error.describe(key)} (from {source}): fix the value"
    if source.startswith("--"):
        return f"argument {source}: {error}"
    fix = f"fix it there or override it with --set {key}=VALUE"
    return f"{error.describe(key)} (in {source}): {fix}"


def to_tables(config: ExperimentConfig) -> dict:
    """`config` as configuration-file tables; unset (None) fields are left out, as TOML has no
    null: they take their default when read back."""
    values = config.to_dict()
    tables = {}
    for section, keys in SECTIONS.items():
        table = {key: tomlable(values[name]) for key, name in keys.items()
                 if values[name] is not None}
        if table:
            tables[section] = table
    return tables


def tomlable(value):
    """A setting's value as TOML writes it: tuples as lists, within tables too."""
    if isinstance(value, tuple | list):
        return [tomlable(item) for item in value]
    if isinstance(value, dict):
        return {key: tomlable(item) for key, item in value.items()}
    return value


def to_toml(config: ExperimentConfig, description: str | None = None) -> str:
    """`config` as a configuration file that `compose(config_file=...)` reads back equal: its
    preset is the file's `preset`."""
    head = {key: value for key, value in (("description", description),
                                          ("preset", config.preset)) if value is not None}
    return tomli_w.dumps({**head, **to_tables(config)})


def checked(layers: Layers) -> ExperimentConfig:
    """The configuration resolved for this machine and validated; a bad value raises a
    ValueError worded by the layer that set it (see `where`)."""
    try:
        return layers.config.resolved().validate()
    except ConfigError as error:
        raise ValueError(where(error, layers.sources)) from error
