"""What a person reads about a search study: docs/search.md's section, written by
`python report.py` from every study under `RESULTS_PATH/sweeps/<study>/study.db`.

Per study: a summary (trials by state, the base preset, the space, the fixed settings, the wall
time and whether workers ran trials side by side), the best trials on validation (for a study
that weighs validation accuracy against training seconds, its Pareto front), the settings'
importances as a sentence against the base preset's values, and figures in images/ (the
optimization history, the importances, a slice plot per setting, and the Pareto front). Studies are
only read. Like the rest of the report, the text and the PNGs depend on the studies alone:
trials are sorted, numbers have fixed formats, importances use a seeded fANOVA, so the same
studies rewrite identical bytes.

Example:

```python
write_sections(generated_sections(Path("results"), Path("images")), Path("."))
```
"""

import warnings
from pathlib import Path

from outputs.io import UnreadableFileError, atomic_write_bytes, read_json
from reporting.plots import figure_to_png
from reporting.sections import GeneratedSection
from reporting.tables import format_duration, markdown_link, markdown_table, relative_link
from search.objective import trial_name
from search.study import STUDIES_FOLDER
from training.config import resolve
from training.hardware import Hardware
from training.presets import compose, field_of

SEARCH_PAGE = Path("docs") / "search.md"
STUDIES = "studies"  # the section's name in its markers
TOP_TRIALS = 10
IMPORTANCE_SEED = 0  # fANOVA's forest is random: seeded, the same study gives the same numbers
TOP_IMPORTANCES = 3  # settings named in the importance sentence
FEW_TRIALS = 10  # under this many completed trials, importances are called rough
SLICE_INCHES = 3.5  # the slice plot's width per searched setting
STATES = ("complete", "pruned", "fail", "running", "waiting")
# Trials further apart than this ran in separate runs of the command (or a worker was down).
STRETCH_GAP_SECONDS = 120


def study_files(results_dir: Path) -> list[Path]:
    """Every study's SQLite file under `results_dir/sweeps/`, by study name."""
    return sorted(Path(results_dir).glob(f"{STUDIES_FOLDER}/*/study.db"))


def load_saved_study(path: Path):
    """The study kept in `path` (its folder names it), for reading."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.load_study(study_name=path.parent.name, storage=f"sqlite:///{path}")


def state_counts(trials) -> str:
    """'3 trials: 2 complete, 1 pruned, 0 failed' (running or waiting trials when any, and
    how many of the pruned were invalid configurations, `search.objective`)."""
    counts = {state: 0 for state in STATES}
    for trial in trials:
        counts[trial.state.name.lower()] += 1
    invalid = sum("invalid" in trial.user_attrs for trial in trials)
    pruned = f"{counts['pruned']} pruned" + (f" ({invalid} invalid)" if invalid else "")
    shown = [f"{counts['complete']} complete", pruned, f"{counts['fail']} failed"]
    shown += [f"{counts[state]} {state}" for state in ("running", "waiting") if counts[state]]
    return f"{len(trials)} trials: {', '.join(shown)}"


def most_at_once(trials) -> int:
    """The most trials that ran at the same time: above 1, workers ran in parallel."""
    events = sorted(
        [(trial.datetime_start, 1) for trial in trials if trial.datetime_complete] +
        [(trial.datetime_complete, -1) for trial in trials if trial.datetime_complete],
        key=lambda event: (event[0], event[1]),  # an end before a start at the same instant
    )
    running = most = 0
    for _, change in events:
        running += change
        most = max(most, running)
    return most


def busy_stretches(trials, gap_seconds: float = STRETCH_GAP_SECONDS) -> list[tuple]:
    """The (start, end) stretches in which some trial ran, joined across gaps of at most
    `gap_seconds` (a worker choosing its next trial); a longer gap (no worker running) splits
    them."""
    stretches = []
    for trial in sorted(trials, key=lambda trial: trial.datetime_start):
        start, end = trial.datetime_start, trial.datetime_complete
        if stretches and (start - stretches[-1][1]).total_seconds() <= gap_seconds:
            stretches[-1] = (stretches[-1][0], max(stretches[-1][1], end))
        else:
            stretches.append((start, end))
    return stretches


def wall_time(trials) -> str:
    """How long some trial was running, the gaps between runs of the command left out, and
    whether trials overlapped."""
    finished = [trial for trial in trials if trial.datetime_complete and trial.datetime_start]
    if not finished:
        return "no trial has finished yet"
    stretches = busy_stretches(finished)
    seconds = sum((end - start).total_seconds() for start, end in stretches)
    at_once = most_at_once(finished)
    how = (f"up to {at_once} trials ran at once, in parallel workers" if at_once > 1
           else "one trial at a time")
    apart = (f"; {len(stretches)} stretches, the time between them, when no worker ran, "
             "left out" if len(stretches) > 1 else "")
    return f"{format_duration(seconds)} with a trial running ({how}{apart})"


def read_trial_record(results_dir: Path, study: str, number: int) -> dict:
    """A trial's record, or {} when it is not there or cannot be read (the leaderboard, written
    from the same records, names it)."""
    return _trial_record(results_dir / trial_name(study, number) / "result.json")


def read_trial_config(results_dir: Path, study: str, number: int) -> dict:
    """The configuration in a trial's record, or {} when the record is not there."""
    config = read_trial_record(results_dir, study, number).get("config")
    return config if isinstance(config, dict) else {}


def _trial_record(path: Path) -> dict:
    """The record in `path`, or {} when there is none or it cannot be read."""
    try:
        record = read_json(path, "A record") if path.exists() else {}
    except UnreadableFileError:
        return {}
    return record if isinstance(record, dict) else {}


def study_settings(study, results_dir: Path) -> dict:
    """What the trials started from: the study's user attrs (`search.contract`), else the base
    preset in the first trial's record; the searched settings from the trials; the GPUs the
    first trial ran on (`gpus`), which the base's batch size depends on."""
    settings = dict(study.user_attrs)
    first = read_trial_record(results_dir, study.study_name, 0) if study.trials else {}
    config = first.get("config") if isinstance(first.get("config"), dict) else {}
    if "preset" not in settings and config.get("preset"):
        settings["preset"] = config["preset"]
    settings["gpus"] = len((first.get("system") or {}).get("gpus") or ())
    settings["keys"] = sorted({key for trial in study.trials for key in trial.params})
    return settings


def several_objectives(study) -> bool:
    """Whether the study weighs validation accuracy against training seconds."""
    return len(study.directions) > 1


def accuracy(trial) -> float | None:
    """A trial's validation accuracy, its first objective (None without a value)."""
    return trial.values[0] if trial.values else None


def accuracy_target(study) -> dict:
    """What Optuna's plots and importances take to read the validation accuracy of a study of
    several objectives; nothing for a study of one."""
    if not several_objectives(study):
        return {}
    return {"target": accuracy, "target_name": "Validation accuracy"}


def summary_line(study, settings: dict) -> str:
    """Trials by state, the base preset, the space, the fixed settings, the objectives and the
    wall time."""
    space = f"space `{settings['space']}`" if "space" in settings else "a space not recorded"
    keys = ", ".join(f"`{key}`" for key in settings["keys"]) or "nothing yet"
    fixed = ", ".join(f"`{key}={value!r}`" for key, value in sorted(settings.get("fixed", {})
                                                                   .items()))
    parts = [
        f"{state_counts(study.trials)}.",
        f"Base preset `{settings.get('preset', 'not recorded')}`, {space} ({keys})",
        f"with {fixed} fixed." if fixed else "with nothing else fixed.",
        f"Wall time: {wall_time(study.trials)}.",
    ]
    if several_objectives(study):
        parts.insert(3, "Objectives: validation accuracy, maximized, against training seconds, "
                        "minimized (no pruner).")
    if settings.get("trial_budget_seconds") is not None:
        parts.insert(3, f"Budget: {settings['trial_budget_seconds']:g} s of training per trial "
                        "(a trial whose epochs say it would take longer stops, as pruned).")
    if "command" in settings:
        parts.append(f"Command: `{settings['command']}`.")
    return " ".join(parts)


def format_value(value) -> str:
    """A setting's value in a table or a sentence: floats to 3 significant digits."""
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def ranked_trials(study) -> list:
    """Trials with a value (complete, or pruned at their last epoch), best first; ties go to
    the earlier trial."""
    scored = [trial for trial in study.trials if accuracy(trial) is not None]
    return sorted(scored, key=lambda trial: (-accuracy(trial), trial.number))


def best_trials_table(study, keys: list[str], results_dir: Path, folder: Path) -> str:
    """The best `TOP_TRIALS` trials on validation: their settings, value, epochs and record;
    for a study of several objectives, its Pareto front instead (`pareto_trials`)."""
    if several_objectives(study):
        trials = pareto_trials(study)
        head = ("Its Pareto front, fastest first: the trials no other beats on both validation "
                "accuracy and training seconds.\n\n")
    else:
        trials, head = ranked_trials(study)[:TOP_TRIALS], ""
    rows = {str(trial.number): trial_row(trial, study.study_name, keys, results_dir, folder)
            for trial in trials}
    if not rows:
        return "No trial has a validation accuracy yet."
    return head + trials_table(rows, keys)


def pareto_trials(study) -> list:
    """The completed trials of a study of several objectives that no other beats on both,
    fastest first (ties to the earlier)."""
    return sorted(study.best_trials, key=lambda trial: (trial.values[1], trial.number))


def trial_row(trial, study: str, keys: list[str], results_dir: Path, folder: Path) -> dict:
    """A trial's row: its settings, validation accuracy, epochs, training seconds, state and
    record."""
    record = results_dir / trial_name(study, trial.number) / "result.json"
    return {
        **{f"`{key}`": format_value(trial.params.get(key, "-")) for key in keys},
        "Val acc": f"{accuracy(trial):.4f}",
        "Epochs": str(trial.user_attrs.get("epochs_run", "-")),
        "Training": (f"{trial.values[1]:.0f} s" if len(trial.values) > 1
                     else _training_seconds(record)),
        "State": trial.state.name.lower(),
        "Record": markdown_link("result.json", record, folder) if record.is_file() else "-",
    }


def trials_table(rows: dict, keys: list[str]) -> str:
    """Rows of `trial_row` by trial number as a markdown table."""
    import pandas as pd

    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "Trial"
    return markdown_table(frame, right_aligned=[*(f"`{key}`" for key in keys), "Val acc",
                                                "Epochs", "Training"])


def _training_seconds(record: Path) -> str:
    """A trial's training seconds, from its record ("-" where there is none)."""
    seconds = _trial_record(record).get("train_seconds")
    return f"{seconds:.0f} s" if isinstance(seconds, int | float) else "-"


def importance_evaluator():
    import optuna

    return optuna.importance.FanovaImportanceEvaluator(seed=IMPORTANCE_SEED)


def completed_trials(study) -> list:
    import optuna

    return study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))


def base_values(settings: dict) -> dict:
    """The base preset's value (with the fixed settings) of each searched setting: as the study
    stored its base, resolved on its first machine; else as its preset composes now, resolved as
    a run resolves it on the trials' hardware (a batch size the preset leaves unset is the
    machine's default); {} when the preset is not recorded or no longer composes."""
    if "base_resolved" in settings:  # as the study's first machine trained it
        values = settings["base_resolved"]
        return {key: values[field_of(key, "the study")] for key in settings["keys"]}
    if "preset" not in settings:
        return {}
    try:
        config = compose(preset=settings["preset"], overrides=settings.get("fixed", {})).config
        values = resolve(config, Hardware(gpus=settings.get("gpus", 0))).to_dict()
        return {key: values[field_of(key, "the study")] for key in settings["keys"]}
    except ValueError:
        return {}


def importance_sentence(study, settings: dict, importances: dict | None) -> str:
    """Which settings the completed trials say matter, by fANOVA importance, and the best
    trial's values of them against the base preset's."""
    completed = completed_trials(study)
    if importances is None:
        return f"Importances need 2 completed trials; this study has {len(completed)}."
    top = list(importances.items())[:TOP_IMPORTANCES]
    named = ", ".join(f"`{key}` {share:.2f}" for key, share in top)
    best = max(completed, key=lambda trial: (accuracy(trial), -trial.number))
    which = "most accurate" if several_objectives(study) else "best"
    base = base_values(settings)
    preset = settings.get("preset")
    against = ", ".join(
        f"`{key}` {format_value(best.params[key])}"
        + (f" (`{preset}`: {format_value(base[key])})" if key in base else "")
        for key, _ in top if key in best.params
    )
    rough = (f" With fewer than {FEW_TRIALS} completed trials these shares are rough."
             if len(completed) < FEW_TRIALS else "")
    return (f"Over the {len(completed)} completed trials, the settings that explain most of the "
            f"variation in validation accuracy (fANOVA importance, summing to 1, seed "
            f"{IMPORTANCE_SEED}) are {named}. The {which} trial, {best.number} (validation "
            f"accuracy {accuracy(best):.4f}), has {against}.{rough} Importances say how much a "
            f"setting moves the accuracy across the space, not in which direction: the table "
            f"and the slice plot show that.")


def param_importances(study) -> dict | None:
    """The settings' fANOVA importances, largest first (ties by name); None under 2 completed
    trials, which cannot tell settings apart."""
    import optuna

    if len(completed_trials(study)) < 2:
        return None
    target = accuracy_target(study).get("target")
    found = optuna.importance.get_param_importances(study, evaluator=importance_evaluator(),
                                                    target=target)
    return dict(sorted(found.items(), key=lambda item: (-item[1], item[0])))


def figure_of(axes):
    """The figure of what an optuna.visualization.matplotlib plot returns (Axes or an array)."""
    import numpy as np

    return np.ravel(axes)[0].figure


def study_figures(study, importances: dict | None) -> dict:
    """{name: figure}: the optimization history and slice plots once a trial completed (of the
    validation accuracy), the importances with 2 completed trials, and the Pareto front of a
    study of several objectives."""
    import optuna
    from optuna.visualization import matplotlib as plots

    if not completed_trials(study):
        return {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        target = accuracy_target(study)
        figures = {"history": figure_of(plots.plot_optimization_history(study, **target)),
                   "slice": figure_of(plots.plot_slice(study, **target))}
        if importances is not None:
            figures["importances"] = figure_of(plots.plot_param_importances(
                study, evaluator=importance_evaluator(), **target))
        if several_objectives(study):
            figures["pareto"] = figure_of(plots.plot_pareto_front(
                study, target_names=["Validation accuracy", "Training seconds"]))
    settings = len({key for trial in study.trials for key in trial.params})
    figures["slice"].set_size_inches(SLICE_INCHES * settings + 1.5, 4.8)  # labels apart
    return figures


def figure_path(images_dir: Path, study: str, name: str) -> Path:
    """`images/search-<study>-<name>.png`."""
    return Path(images_dir) / f"search-{study}-{name}.png"


def study_markdown(path: Path, results_dir: Path, images_dir: Path, folder: Path) -> str:
    """One study's part of the section; writes its figures into `images_dir`."""
    study = load_saved_study(path)
    settings = study_settings(study, results_dir)
    importances = param_importances(study)
    links = []
    for name, figure in study_figures(study, importances).items():
        target = figure_path(images_dir, study.study_name, name)
        atomic_write_bytes(target, figure_to_png(figure))
        links.append(f"![{name} of {study.study_name}]({relative_link(target, folder)})")
    return "\n\n".join([
        f"### Study `{study.study_name}`",
        summary_line(study, settings),
        best_trials_table(study, settings["keys"], results_dir, folder),
        importance_sentence(study, settings, importances),
        *sorted(links),
    ])


def studies_markdown(results_dir: Path, images_dir: Path, folder: Path) -> str:
    """Every study under `results_dir/sweeps/`, by name; a line when there is none."""
    files = study_files(results_dir)
    if not files:
        return ("No study yet: run `python sweep.py --study NAME --space augmentation` "
                "(see [usage](usage.md#search)).")
    return "\n\n".join(study_markdown(path, Path(results_dir), Path(images_dir), folder)
                       for path in files)


def generated_sections(results_dir: Path, images_dir: Path) -> list[GeneratedSection]:
    """docs/search.md's section (see `reporting.sections`)."""
    from functools import partial

    return [GeneratedSection(SEARCH_PAGE, STUDIES,
                             partial(studies_markdown, results_dir, images_dir))]

