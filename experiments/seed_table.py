"""The seed table, honestly: every row of the original repository's table, trained with SWA,
the default augmentation and the validation-only protocol.

    python -m experiments.seed_table --dry-run          # print the commands
    python -m experiments.seed_table                    # run every row not yet recorded
    python -m experiments.seed_table --epochs-scale 4   # a GPU: four times the epochs
    python -m experiments.seed_table --report           # docs/experiments.md's tables

Each row (`ROWS`) is a preset of `presets/` that trains under its own name as run name
(`python train.py --preset seed-wrn-16-4-adam --run-name seed-wrn-16-4-adam`); `get_row(name)`
and `row_config(name)` give one by name. Each row runs as one `train.py` command in its own
process (`experiments.runner`), so an interrupted suite continues where it stopped. Each preset's
epochs fit about an hour of training on 2 CPU cores at the speeds measured by the family's short
runs (~1,400 images/s for the simple CNN in bfloat16, ~137 for WRN-16-4, ~110 for MobileNetV2
and CapsuleNet, ~246 for ShuffleNetV2 in float32).
"""

import argparse
import math
import sys
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import config
from experiments.runner import train_each

# The rows' families, in the epochs table's order, and the test accuracy each should reach on 2
# CPU cores, selection on validation only.
TARGETS = {
    "simple-cnn": 0.930,
    "wrn-16-4": 0.940,
    "mobilenet-v2": 0.930,
    "shufflenet-v2-1.0": 0.920,
    "capsnet": 0.920,
}
DOCS_PAGE = Path("docs") / "experiments.md"  # relative to the repository root
SEED_TABLE = "seed-table"  # names of the page's generated sections
EPOCHS_TABLE = "seed-epochs"


@dataclass(frozen=True)
class Row:
    """One row of the original table, trained as the preset of the same name.

    Args:
        label: the original table's row.
        old_accuracy: what the original repository reported (selected on the test set).
        name: the preset (`presets/<name>.toml`), which is also the run's name.

    Example:

    ```python
    row = get_row("seed-wrn-16-4-adam")
    command(row, epochs_scale=4)  # [python, "train.py", "--preset", "seed-wrn-16-4-adam", ...]
    row_config("seed-wrn-16-4-adam").validate()
    ```
    """

    label: str
    old_accuracy: float
    name: str

    @property
    def config(self):
        """The preset as an `ExperimentConfig`, unresolved."""
        from training.presets import compose

        return compose(preset=self.name).config

    @property
    def model(self) -> str:
        return self.config.model.name

    @property
    def swa(self) -> bool:
        return self.config.averaging.swa is not False


ROWS = {
    row.name: row
    for row in (
        Row("CapsuleNet / Adam", 0.9465, "seed-capsnet-adam"),
        Row("Wide ResNet / Adam", 0.9392, "seed-wrn-16-4-adam"),
        # Each no-SWA twin follows its SWA run, to measure what averaging buys.
        Row("Wide ResNet / Adam, no SWA", 0.9392, "seed-wrn-16-4-adam-cosine-noswa"),
        Row("MobileNetV2 / Adam", 0.9247, "seed-mobilenet-v2-adam"),
        Row("Simple CNN / Adam", 0.9207, "seed-simple-cnn-adam"),
        Row("Simple CNN / Adam, no SWA", 0.9207, "seed-simple-cnn-adam-cosine-noswa"),
        Row("ShuffleNet V2 / RMSProp", 0.905, "seed-shufflenet-v2-1.0-rmsprop"),
        Row(
            "ShuffleNet V2 + cyclic LR / RMSProp", 0.906,
            "seed-shufflenet-v2-1.0-rmsprop-triangular",
        ),
        Row("ShuffleNet V2 + cyclic LR / Adam", 0.8964, "seed-shufflenet-v2-1.0-adam-triangular"),
        Row("Simple CNN / RMSProp", 0.8912, "seed-simple-cnn-rmsprop"),
        Row("ShuffleNet V2 / Adam", 0.8548, "seed-shufflenet-v2-1.0-adam"),
    )
}


def get_row(name: str) -> Row:
    """The row that trains as run `name`."""
    if name not in ROWS:
        raise ValueError(f"Unknown row; known: {', '.join(ROWS)}. Received: name={name!r}")
    return ROWS[name]


def scaled_epochs(row: Row, epochs_scale: float) -> int:
    """The row's epochs multiplied by `epochs_scale`, rounded up."""
    return max(1, math.ceil(row.config.schedule.epochs * epochs_scale))


def row_config(name: str, epochs_scale: float = 1.0):
    """The row `name` as an `ExperimentConfig` with its run name and scaled epochs."""
    row = get_row(name)
    return row.config.replace(epochs=scaled_epochs(row, epochs_scale), run_name=row.name)


def command(row: Row, epochs_scale: float) -> list[str]:
    """The `train.py` arguments of `row` (the script first): its preset under its own name, the
    epochs scaled."""
    args = ["train.py", "--preset", row.name, "--run-name", row.name]
    if epochs_scale != 1:
        args += ["--epochs", str(scaled_epochs(row, epochs_scale))]
    return args


def _target_cell(model: str, accuracy: float) -> str:
    target = TARGETS[model]
    if accuracy >= target:
        return f"{target:.3f}: met"
    return f"{target:.3f}: missed by {target - accuracy:.4f}"


def _row_cells(row: Row, results_dir: Path, base_dir: Path) -> list[str]:
    """The seed table's cells for one row: its record's numbers, or the row's state."""
    from records.reader import read_run_record
    from reporting.tables import format_duration, markdown_link

    run_dir = results_dir / row.name
    record = read_run_record(run_dir)
    cells = [f"{row.old_accuracy:.4f}"]
    if record and record.get("status") == "completed":
        swa = record.get("test_accuracy_swa")
        return cells + [
            f"**{record['test_accuracy']:.4f}** ({record['selected_weights']})",
            f"{record['test_accuracy_final']:.4f} / {'-' if swa is None else f'{swa:.4f}'}",
            f"{record['best_val_accuracy']:.4f}",
            str(record["epochs_run"]),
            format_duration(record["train_seconds"]),
            _target_cell(row.model, record["test_accuracy"]),
            markdown_link(row.name, run_dir / "result.json", base_dir),
        ]
    if record:
        state = f"failed: {record.get('error', 'see the record')}"
    elif (run_dir / "config.json").exists():
        state = "interrupted: rerun the suite to resume it"
    else:
        state = "not run yet"
    return cells + [state, "-", "-", str(row.config.schedule.epochs), "-", "-", "-"]


def table_markdown(results_dir: Path, base_dir: Path) -> str:
    """The seed table: every row's original number beside this repository's record, if any."""
    import pandas as pd

    from reporting.tables import markdown_table

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
    rows = [_row_cells(row, results_dir, base_dir) for row in ROWS.values()]
    index = pd.Index([row.label for row in ROWS.values()], name="Row (original table)")
    frame = pd.DataFrame(rows, index=index, columns=columns)
    return markdown_table(frame, right_aligned=columns[:-2])


def _completed_record(results_dir: Path, row: Row) -> dict:
    from records.reader import read_run_record

    record = read_run_record(results_dir / row.name) or {}
    return record if record.get("status") == "completed" else {}


def swa_effect_markdown(results_dir: Path) -> str:
    """What averaging bought, for each model whose SWA row and no-SWA twin are both recorded.

    Two comparisons, both on the test set and both from the records: SWA weights against the
    same run's final weights, and against the twin trained for the same epochs with a cosine
    schedule instead (the usual way to end a run without averaging).
    """
    import pandas as pd

    from reporting.tables import markdown_table

    labels, rows = [], []
    for twin in (row for row in ROWS.values() if not row.swa):
        averaged = next(
            row for row in ROWS.values()
            if row.swa and row.model == twin.model
            and row.config.optimizer.name == twin.config.optimizer.name
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

    from reporting.tables import format_duration, markdown_table

    table = []
    for model in TARGETS:
        family = [row for row in ROWS.values() if row.model == model]
        records = [_completed_record(results_dir, row) for row in family]
        records = [record for record in records if record]
        precisions = sorted({str(record["config"].get("precision", "-")) for record in records})
        per_epoch = sorted(record["train_seconds"] / record["epochs_run"] for record in records)
        extremes = dict.fromkeys(format_duration(s) for s in (per_epoch[:1] + per_epoch[-1:]))
        table.append([
            ", ".join(map(str, sorted({row.config.schedule.epochs for row in family}))),
            f"{len(records)} of {len(family)}",
            ", ".join(precisions) or "-",
            " to ".join(extremes) or "-",
        ])
    columns = ("Epochs", "Rows recorded", "Precision", "Training time per epoch")
    frame = pd.DataFrame(table, index=pd.Index(list(TARGETS), name="Model"), columns=columns)
    return markdown_table(frame, right_aligned=columns[:2])


def generated_sections(results_dir: Path) -> list:
    """The sections of docs/experiments.md that come from the seed table's records."""
    from reporting.sections import GeneratedSection

    return [
        GeneratedSection(DOCS_PAGE, EPOCHS_TABLE, lambda folder: epochs_markdown(results_dir)),
        GeneratedSection(DOCS_PAGE, SEED_TABLE, partial(seed_table_markdown, results_dir)),
    ]


def run_presets(epochs_scale: float, models, dry_run: bool) -> int:
    """Runs (or with `dry_run` prints) every row of `models` (all when None) that has no
    record (`runner.train_each`); returns the number of failed rows."""
    rows = [row for row in ROWS.values() if models is None or row.model in models]
    return train_each([(row.name, row.label, command(row, epochs_scale)) for row in rows],
                      dry_run)


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
        from reporting.sections import write_sections

        if not write_sections(generated_sections(config.RESULTS_PATH), config.REPO_ROOT):
            print(f"error: {config.REPO_ROOT / DOCS_PAGE} has no seed-table section",
                  file=sys.stderr)
            return 2
        print(f"wrote the seed table into {config.REPO_ROOT / DOCS_PAGE}")
        return 0
    return 1 if run_presets(args.epochs_scale, args.only, args.dry_run) else 0


if __name__ == "__main__":
    sys.exit(main())
