"""The seed table, honestly: every row of the original repository's table, trained with SWA,
the default augmentation and the validation-only protocol.

    python -m experiments.seed_table --dry-run          # print the commands
    python -m experiments.seed_table                    # run every row not yet recorded
    python -m experiments.seed_table --epochs-scale 4   # a GPU: four times the epochs
    python -m experiments.seed_table --report           # docs/experiments.md's tables

Each row is a named preset (`PRESETS`): the `ExperimentConfig` field values of one run, under
the run name it trains as; `get_preset(name)` and `preset_config(name)` give one by name, in the
manner of Model Garden's experiment factory. Each preset runs as one `train.py` command in its
own process, so an interrupted suite continues where it stopped: rows with a result.json are
skipped, and a row whose run was interrupted is resumed. Epochs are chosen per model to fit
about an hour of training on 2 CPU cores at the speeds measured by the model's short runs (see
`CPU_EPOCHS`).
"""

import argparse
import json
import math
import subprocess
import sys
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import config

# Epochs that keep each row within about 60 minutes of training on 2 CPU cores (55,000 images
# per epoch), from the images/s in results/benchmarks/ and the families' short runs.
CPU_EPOCHS = {
    "simple-cnn": 40,  # ~1,400 images/s in bfloat16: ~30 minutes
    "wrn-16-4": 6,  # ~137 images/s in bfloat16
    "mobilenet-v2": 6,  # ~108-120 images/s in float32
    "shufflenet-v2-1.0": 9,  # ~246 images/s in float32
    "capsnet": 7,  # ~107 images/s
}


# Test accuracy each family should reach on 2 CPU cores, selection on validation only.
TARGETS = {
    "simple-cnn": 0.930,
    "wrn-16-4": 0.940,
    "mobilenet-v2": 0.930,
    "shufflenet-v2-1.0": 0.920,
    "capsnet": 0.920,
}
# The rows' recipe beyond model, optimizer and schedule: the original repository's, without the
# fast recipe that `train.py` defaults to (label smoothing, shifts, a moving average).
ORIGINAL_RECIPE = {
    "label_smoothing": 0.0,
    "width_shift_range": 0.0,
    "height_shift_range": 0.0,
    "ema": 0.0,
}
DOCS_PAGE = Path("docs") / "experiments.md"  # relative to the repository root
SEED_TABLE = "seed-table"  # names of the page's generated sections
EPOCHS_TABLE = "seed-epochs"


@dataclass(frozen=True)
class Preset:
    """One row of the original table as a named experiment configuration.

    Args:
        label: the original table's row.
        old_accuracy: what the original repository reported (selected on the test set).
        settings: `ExperimentConfig` field values, in the order of the command's flags; its
            `epochs` are those for 2 CPU cores, which `--epochs-scale` multiplies.

    Example:

    ```python
    preset = get_preset("seed-wrn-16-4-adam")
    command(preset, epochs_scale=4)  # [python, "train.py", "--model", "wrn-16-4", ...]
    preset_config("seed-wrn-16-4-adam").validate()
    ```
    """

    label: str
    old_accuracy: float
    settings: dict

    @property
    def name(self) -> str:
        return self.settings["run_name"]

    @property
    def model(self) -> str:
        return self.settings["model"]

    @property
    def swa(self) -> bool:
        return self.settings.get("swa", True)


def seed_preset(label, old_accuracy, model, optimizer, lr_schedule="swa", swa=True) -> Preset:
    """A row trained for `CPU_EPOCHS[model]` epochs as
    `seed-<model>-<optimizer>[-<lr_schedule>][-noswa]` (no schedule suffix for `swa`)."""
    schedule = "" if lr_schedule == "swa" else f"-{lr_schedule}"
    settings = {
        "model": model,
        "optimizer": optimizer,
        "lr_schedule": lr_schedule,
        "epochs": CPU_EPOCHS[model],
        **ORIGINAL_RECIPE,
        "run_name": f"seed-{model}-{optimizer}{schedule}{'' if swa else '-noswa'}",
    }
    return Preset(label, old_accuracy, settings if swa else {**settings, "swa": False})


PRESETS = {
    preset.name: preset
    for preset in (
        seed_preset("CapsuleNet / Adam", 0.9465, "capsnet", "adam"),
        seed_preset("Wide ResNet / Adam", 0.9392, "wrn-16-4", "adam"),
        # Each no-SWA twin follows its SWA run, to measure what averaging buys.
        seed_preset("Wide ResNet / Adam, no SWA", 0.9392, "wrn-16-4", "adam", "cosine", swa=False),
        seed_preset("MobileNetV2 / Adam", 0.9247, "mobilenet-v2", "adam"),
        seed_preset("Simple CNN / Adam", 0.9207, "simple-cnn", "adam"),
        seed_preset("Simple CNN / Adam, no SWA", 0.9207, "simple-cnn", "adam", "cosine", swa=False),
        seed_preset("ShuffleNet V2 / RMSProp", 0.905, "shufflenet-v2-1.0", "rmsprop"),
        seed_preset(
            "ShuffleNet V2 + cyclic LR / RMSProp", 0.906, "shufflenet-v2-1.0", "rmsprop",
            "triangular",
        ),
        seed_preset(
            "ShuffleNet V2 + cyclic LR / Adam", 0.8964, "shufflenet-v2-1.0", "adam", "triangular"
        ),
        seed_preset("Simple CNN / RMSProp", 0.8912, "simple-cnn", "rmsprop"),
        seed_preset("ShuffleNet V2 / Adam", 0.8548, "shufflenet-v2-1.0", "adam"),
    )
}


def get_preset(name: str) -> Preset:
    """The preset that trains as run `name`."""
    if name not in PRESETS:
        raise ValueError(f"Unknown preset; known: {', '.join(PRESETS)}. Received: name={name!r}")
    return PRESETS[name]


def scaled_settings(preset: Preset, epochs_scale: float) -> dict:
    """The preset's settings with its epochs multiplied by `epochs_scale` (rounded up)."""
    epochs = max(1, math.ceil(preset.settings["epochs"] * epochs_scale))
    return {**preset.settings, "epochs": epochs}


def preset_config(name: str, epochs_scale: float = 1.0):
    """The preset `name` as an `ExperimentConfig` (defaults for every field it does not set)."""
    from training.config import ExperimentConfig

    return ExperimentConfig(**scaled_settings(get_preset(name), epochs_scale))


def command(preset: Preset, epochs_scale: float) -> list[str]:
    """The `train.py` command of `preset`: one flag per setting, in the settings' order."""
    args = [sys.executable, "train.py"]
    for field, value in scaled_settings(preset, epochs_scale).items():
        flag = field.replace("_", "-")
        if isinstance(value, bool):
            args.append(f"--{flag}" if value else f"--no-{flag}")
        else:
            args += [f"--{flag}", str(value)]
    return args


def _target_cell(model: str, accuracy: float) -> str:
    target = TARGETS[model]
    if accuracy >= target:
        return f"{target:.3f}: met"
    return f"{target:.3f}: missed by {target - accuracy:.4f}"


def _row_cells(preset: Preset, results_dir: Path, base_dir: Path) -> list[str]:
    """The seed table's cells for one preset: its record's numbers, or the row's state."""
    from evaluation.record_reader import read_run_record
    from evaluation.tables import format_duration, markdown_link

    run_dir = results_dir / preset.name
    record = read_run_record(run_dir)
    cells = [f"{preset.old_accuracy:.4f}"]
    if record and record.get("status") == "completed":
        swa = record.get("test_accuracy_swa")
        return cells + [
            f"**{record['test_accuracy']:.4f}** ({record['selected_weights']})",
            f"{record['test_accuracy_final']:.4f} / {'-' if swa is None else f'{swa:.4f}'}",
            f"{record['best_val_accuracy']:.4f}",
            str(record["epochs_run"]),
            format_duration(record["train_seconds"]),
            _target_cell(preset.model, record["test_accuracy"]),
            markdown_link(preset.name, run_dir / "result.json", base_dir),
        ]
    if record:
        state = f"failed: {record.get('error', 'see the record')}"
    elif (run_dir / "config.json").exists():
        state = "interrupted: rerun the suite to resume it"
    else:
        state = "not run yet"
    return cells + [state, "-", "-", str(preset.settings["epochs"]), "-", "-", "-"]


def table_markdown(results_dir: Path, base_dir: Path) -> str:
    """The seed table: every row's original number beside this repository's record, if any."""
    import pandas as pd

    from evaluation.tables import markdown_table

    columns = (
        "Original (picked on test)",
        "Test accuracy",
        "Final / SWA weights",
        "Best val",
        "Epochs",
        "Training time",
        "Target",
        "Record",
    )
    rows = [_row_cells(preset, results_dir, base_dir) for preset in PRESETS.values()]
    index = pd.Index([preset.label for preset in PRESETS.values()], name="Row (original table)")
    frame = pd.DataFrame(rows, index=index, columns=columns)
    return markdown_table(frame, right_aligned=columns[:-2])


def _completed_record(results_dir: Path, preset: Preset) -> dict:
    from evaluation.record_reader import read_run_record

    record = read_run_record(results_dir / preset.name) or {}
    return record if record.get("status") == "completed" else {}


def swa_effect_markdown(results_dir: Path) -> str:
    """What averaging bought, for each model whose SWA row and no-SWA twin are both recorded.

    Two comparisons, both on the test set and both from the records: SWA weights against the
    same run's final weights, and against the twin trained for the same epochs with a cosine
    schedule instead (the usual way to end a run without averaging).
    """
    import pandas as pd

    from evaluation.tables import markdown_table

    labels, rows = [], []
    for twin in (preset for preset in PRESETS.values() if not preset.swa):
        averaged = next(
            preset for preset in PRESETS.values()
            if preset.swa and preset.settings["model"] == twin.settings["model"]
            and preset.settings["optimizer"] == twin.settings["optimizer"]
        )
        swa_record = _completed_record(results_dir, averaged)
        twin_record = _completed_record(results_dir, twin)
        if not twin_record or swa_record.get("test_accuracy_swa") is None:
            continue  # a run not recorded, or no snapshot averaged
        final, swa = swa_record["test_accuracy_final"], swa_record["test_accuracy_swa"]
        cosine = twin_record["test_accuracy"]
        labels.append(averaged.label)
        rows.append([f"{final:.4f}", f"{swa:.4f}", f"{swa - final:+.4f}", f"{cosine:.4f}",
                     f"{swa - cosine:+.4f}"])
    if not rows:
        return ""
    columns = ("Final weights", "SWA weights", "SWA - final", "No-SWA twin (cosine)", "SWA - twin")
    frame = pd.DataFrame(rows, index=pd.Index(labels, name="SWA row"), columns=columns)
    table = markdown_table(frame, right_aligned=columns)
    return f"What SWA bought (test accuracy):\n\n{table}"


def seed_table_markdown(results_dir: Path, base_dir: Path) -> str:
    """The seed table, then what SWA bought once a pair is recorded."""
    sections = [table_markdown(results_dir, base_dir), swa_effect_markdown(results_dir)]
    return "\n\n".join(section for section in sections if section)


def epochs_markdown(results_dir: Path) -> str:
    """Per family: the epochs of its rows, and the precision and speed its recorded rows had."""
    import pandas as pd

    from evaluation.tables import format_duration, markdown_table

    rows = []
    for model, epochs in CPU_EPOCHS.items():
        presets = [preset for preset in PRESETS.values() if preset.model == model]
        records = [_completed_record(results_dir, preset) for preset in presets]
        records = [record for record in records if record]
        precisions = sorted({str(record["config"].get("precision", "-")) for record in records})
        per_epoch = sorted(record["train_seconds"] / record["epochs_run"] for record in records)
        extremes = dict.fromkeys(format_duration(s) for s in (per_epoch[:1] + per_epoch[-1:]))
        rows.append([
            str(epochs),
            f"{len(records)} of {len(presets)}",
            ", ".join(precisions) or "-",
            " to ".join(extremes) or "-",
        ])
    columns = ("Epochs", "Rows recorded", "Precision", "Training time per epoch")
    frame = pd.DataFrame(rows, index=pd.Index(list(CPU_EPOCHS), name="Model"), columns=columns)
    return markdown_table(frame, right_aligned=columns[:2])


def generated_sections(results_dir: Path) -> list:
    """The sections of docs/experiments.md that come from the seed table's records."""
    from evaluation.sections import GeneratedSection

    return [
        GeneratedSection(DOCS_PAGE, EPOCHS_TABLE, lambda folder: epochs_markdown(results_dir)),
        GeneratedSection(DOCS_PAGE, SEED_TABLE, partial(seed_table_markdown, results_dir)),
    ]


def run_presets(epochs_scale: float, models, dry_run: bool) -> int:
    """Runs (or with `dry_run` prints) every preset of `models` (all when None) that has no
    record; returns the number of failed rows."""
    failures = 0
    for preset in PRESETS.values():
        if models is not None and preset.model not in models:
            continue
        run_dir = config.RESULTS_PATH / preset.name
        record = run_dir / "result.json"
        if record.exists() and json.loads(record.read_text()).get("status") == "completed":
            print(f"done     {preset.label}: {record}")
            continue
        if record.exists():
            print(f"failed   {preset.label}: {record} (remove the folder to retry)")
            failures += 1
            continue
        args_row = command(preset, epochs_scale)
        if (run_dir / "config.json").exists():
            args_row = [sys.executable, "train.py", "--resume", preset.name]
        status = "to run  " if dry_run else "running "
        print(f"{status} {preset.label}: {' '.join(args_row[1:])}", flush=True)
        if not dry_run:
            failures += subprocess.run(args_row, cwd=config.REPO_ROOT).returncode != 0
    return failures


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--epochs-scale",
        type=float,
        default=1.0,
        help="multiply every row's epochs (e.g. 4 on a GPU)",
    )
    parser.add_argument(
        "--only", nargs="*", default=None, metavar="MODEL", help="run only the rows of these models"
    )
    parser.add_argument("--dry-run", action="store_true", help="print the commands and exit")
    parser.add_argument(
        "--report",
        action="store_true",
        help=f"write the tables of records into {DOCS_PAGE} and exit",
    )
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.epochs_scale <= 0:
        parser.error(f"argument --epochs-scale: must be > 0. Received: {args.epochs_scale}")
    if args.report:
        from evaluation.sections import write_sections

        if not write_sections(generated_sections(config.RESULTS_PATH), config.REPO_ROOT):
            print(f"error: {config.REPO_ROOT / DOCS_PAGE} has no seed-table section",
                  file=sys.stderr)
            return 2
        print(f"wrote the seed table into {config.REPO_ROOT / DOCS_PAGE}")
        return 0
    return 1 if run_presets(args.epochs_scale, args.only, args.dry_run) else 0


if __name__ == "__main__":
    sys.exit(main())
