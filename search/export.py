"""A trial of a study (its best on validation, or one named, such as a point of a Pareto
front) as a preset, `presets/<name>.toml`, read from the study alone: its
base preset, fixed settings and space as its contract stored them (`search.contract`), and the
configuration the trial trained. `train.py --preset NAME` trains it.

While the base preset, the fixed settings and the trial's values still compose what the trial
trained, the preset starts from the base (`preset = "default"`) with a table for each fixed and
each searched setting; once the base preset has changed, it holds the whole configuration the
trial kept instead, so a changed `default` never changes what a study exports.

Example:

```python
path = export_preset(study, name="default-tuned")
# python train.py --preset default-tuned --seeds 5
```
"""

from pathlib import Path

import optuna
import tomli_w

from outputs.folders import check_output_name
from search.contract import plain
from search.space import trial_layers
from search.study import scores_text
from training import presets
from training.config import ExperimentConfig


def export_path(name: str) -> Path:
    """`presets/<name>.toml`, refused when `name` is not a plain file name or the preset
    exists (an export never overwrites a preset).

    Example: `export_path("default-tuned")` -> `<repo>/presets/default-tuned.toml`."""
    check_output_name(name, "--export-preset")
    path = presets.PRESETS_DIR / f"{name}.toml"
    if path.exists():
        raise ValueError(f"--export-preset {name}: preset {path} exists and is never "
                         f"overwritten; choose another name. Received: --export-preset {name}")
    return path


def shown_source(source: str) -> str:
    """A space file's path relative to the repository when it is inside it, so that a preset
    written here reads the same on every machine; other paths as given."""
    path = Path(source).resolve()
    root = presets.PRESETS_DIR.parent.resolve()
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else source


def chosen_trial(study: optuna.Study, number: int | None = None) -> optuna.trial.FrozenTrial:
    """Completed trial `number` (`--trial`), or the best on validation; a study of several
    objectives has no one best, so there it must be named (its Pareto front is listed).

    Example: `chosen_trial(study, 12).number` -> `12`."""
    completed = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not completed:
        raise ValueError(f"Study {study.study_name!r} has no completed trial to export yet: run "
                         f"trials first. Received: {len(study.trials)} trials, none completed")
    if number is not None:
        found = [trial for trial in completed if trial.number == number]
        if not found:
            numbers = ", ".join(str(trial.number) for trial in completed)
            raise ValueError(f"--trial must be a completed trial of study {study.study_name!r}: "
                             f"{numbers}. Received: --trial {number}")
        return found[0]
    if len(study.directions) > 1:
        front = ", ".join(f"{trial.number} ({scores_text(trial)})"
                          for trial in sorted(study.best_trials, key=lambda t: t.number))
        raise ValueError(f"Study {study.study_name!r} weighs validation accuracy against "
                         f"training seconds: name the point of its Pareto front to export with "
                         f"--trial N; the front: {front}. Received: no --trial")
    return study.best_trial


def composed_now(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> dict | None:
    """The configuration the study's preset, fixed settings and `trial`'s values compose with
    today's presets (`to_dict`, without labels); None where they no longer compose."""
    attrs = study.user_attrs
    try:
        layers = trial_layers(attrs["preset"], attrs.get("fixed", {}), trial.params)
    except ValueError:  # the preset is gone, or no longer takes a setting
        return None
    return plain(layers.config.without_labels().to_dict())


def preset_tables(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> dict:
    """The tables of a preset that trains `trial`'s configuration (see the module's
    docstring), its description aside. The configuration is the one the trial kept; a trial
    of a study older than that is composed again."""
    attrs = study.user_attrs
    now = composed_now(study, trial)
    config = trial.user_attrs.get("config", now)
    if config is None or config != now:  # the base preset has changed since the trial
        return presets.to_tables(ExperimentConfig.from_dict(config))
    tables = {"preset": attrs["preset"]}
    for key in [*attrs.get("fixed", {}), *trial.params]:
        section, _, name = key.partition(".")
        value = config[presets.FIELDS_BY_KEY[key]]
        if value is not None:  # TOML has no null: the preset leaves it to its rule
            tables.setdefault(section, {})[name] = presets.tomlable(value)
    return tables


def preset_text(study: optuna.Study, trial: optuna.trial.FrozenTrial | None = None) -> str:
    """`trial` (the best completed one by default) as a preset over the study's base."""
    trial = trial or chosen_trial(study)
    tables = preset_tables(study, trial)
    attrs = study.user_attrs
    completed = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    space = f" over {shown_source(attrs['space'])}" if "space" in attrs else ""
    over = (f"preset {attrs['preset']!r} with the study's fixed settings" if "preset" in tables
            else f"the whole configuration the trial kept (preset {attrs['preset']!r} has "
            f"changed since)")
    value = f", validation accuracy {scores_text(trial)}"
    description = (f"Trial {trial.number} of study {study.study_name!r} ({len(completed)} "
                   f"completed trials{value}){space}: {over}")
    return tomli_w.dumps({"description": description, **tables})


def export_preset(study: optuna.Study, name: str,
                  trial: optuna.trial.FrozenTrial | None = None) -> Path:
    """Writes `trial` (the best completed one by default) as preset `name` (see
    `preset_text`); refuses an existing one."""
    path = export_path(name)
    text = preset_text(study, trial)
    with open(path, "x", encoding="utf-8") as file:  # "x": never over a preset written since
        file.write(text)
    return path
