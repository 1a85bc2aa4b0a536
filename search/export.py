"""The best trial of a study as a preset: `presets/<name>.toml`, starting from the study's base
preset, with a table for each searched setting only, so `train.py --preset NAME` trains it.

Example:

```python
path = export_preset(study, space, base="default", name="default-tuned")
# python train.py --preset default-tuned --seeds 5
```
"""

from pathlib import Path

import optuna
import tomli_w

from outputs.folders import check_output_name
from search.space import SearchSpace
from training import presets


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


def preset_text(study: optuna.Study, space: SearchSpace, base: str) -> str:
    """The best completed trial's values of the searched settings as a preset over `base`."""
    completed = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not completed:
        raise ValueError(f"Study {study.study_name!r} has no completed trial to export yet: run "
                         f"trials first. Received: {len(study.trials)} trials, none completed")
    best = study.best_trial
    tables = {}
    for key in space.keys:
        section, _, name = key.partition(".")
        tables.setdefault(section, {})[name] = best.params[key]
    description = (f"The best of {len(completed)} completed trials of study "
                   f"{study.study_name!r} (trial {best.number}, validation accuracy "
                   f"{best.value:.4f}) over {shown_source(space.source)}")
    return tomli_w.dumps({"description": description, "preset": base, **tables})


def export_preset(study: optuna.Study, space: SearchSpace, base: str, name: str) -> Path:
    """Writes the best trial as preset `name` (see `preset_text`); refuses an existing one."""
    path = export_path(name)
    text = preset_text(study, space, base)
    with open(path, "x", encoding="utf-8") as file:  # "x": never over a preset written since
        file.write(text)
    return path
