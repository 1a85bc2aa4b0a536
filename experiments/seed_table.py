"""The seed table, honestly: every row of the original repository's table, trained with SWA,
the default augmentation and the validation-only protocol.

    python -m experiments.seed_table --dry-run          # print the commands
    python -m experiments.seed_table                    # run every row not yet recorded
    python -m experiments.seed_table --epochs-scale 4   # a GPU: four times the epochs
    python -m experiments.seed_table --report           # the README table from the records

Each row is one `train.py` command in its own process, under a fixed run name, so an interrupted
suite continues where it stopped: rows with a result.json are skipped, and a row whose run was
interrupted is resumed. Epochs are chosen per model to fit about an hour of training on 2 CPU
cores at the speeds measured by the model's short runs (see `CPU_EPOCHS`).
"""

import argparse
import json
import math
import subprocess
import sys
from dataclasses import dataclass
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
README_START = "<!-- seed-table:start -->"
README_END = "<!-- seed-table:end -->"


@dataclass(frozen=True)
class Row:
    label: str  # the original table's row
    old_accuracy: float  # what the original repository reported (selected on the test set)
    model: str
    optimizer: str
    lr_schedule: str = "swa"
    swa: bool = True

    @property
    def run_name(self) -> str:
        schedule = "" if self.lr_schedule == "swa" else f"-{self.lr_schedule}"
        return f"seed-{self.model}-{self.optimizer}{schedule}{'' if self.swa else '-noswa'}"


ROWS = (
    Row("CapsuleNet / Adam", 0.9465, "capsnet", "adam"),
    Row("Wide ResNet / Adam", 0.9392, "wrn-16-4", "adam"),
    # Each no-SWA twin follows its SWA run, to measure what averaging buys.
    Row("Wide ResNet / Adam, no SWA", 0.9392, "wrn-16-4", "adam", "cosine", swa=False),
    Row("MobileNetV2 / Adam", 0.9247, "mobilenet-v2", "adam"),
    Row("Simple CNN / Adam", 0.9207, "simple-cnn", "adam"),
    Row("Simple CNN / Adam, no SWA", 0.9207, "simple-cnn", "adam", "cosine", swa=False),
    Row("ShuffleNet V2 / RMSProp", 0.905, "shufflenet-v2-1.0", "rmsprop"),
    Row("ShuffleNet V2 + cyclic LR / RMSProp", 0.906, "shufflenet-v2-1.0", "rmsprop", "triangular"),
    Row("ShuffleNet V2 + cyclic LR / Adam", 0.8964, "shufflenet-v2-1.0", "adam", "triangular"),
    Row("Simple CNN / RMSProp", 0.8912, "simple-cnn", "rmsprop"),
    Row("ShuffleNet V2 / Adam", 0.8548, "shufflenet-v2-1.0", "adam"),
)


def command(row: Row, epochs_scale: float) -> list[str]:
    epochs = max(1, math.ceil(CPU_EPOCHS[row.model] * epochs_scale))
    args = [
        sys.executable,
        "train.py",
        "--model",
        row.model,
        "--optimizer",
        row.optimizer,
        "--lr-schedule",
        row.lr_schedule,
        "--epochs",
        str(epochs),
        "--run-name",
        row.run_name,
    ]
    return args if row.swa else [*args, "--no-swa"]


def _read_record(run_dir: Path) -> dict | None:
    """The run's record, or None when it has none; a record with bad fields is named and
    skipped, as by the report."""
    from evaluation.report import read_record

    path = run_dir / "result.json"
    if not path.exists():
        return None
    record, problem = read_record(path)
    if problem:
        print(f"warning: skipped {path}: {problem}", file=sys.stderr)
    return record


def _target_cell(model: str, accuracy: float) -> str:
    target = TARGETS[model]
    if accuracy >= target:
        return f"{target:.3f}: met"
    return f"{target:.3f}: missed by {target - accuracy:.4f}"


def table_markdown(results_dir: Path, base_dir: Path) -> str:
    """The seed table: every row's original number beside this repository's record, if any."""
    import pandas as pd

    from evaluation.report import _duration, _link, markdown_table

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
    rows = []
    for row in ROWS:
        run_dir = results_dir / row.run_name
        record = _read_record(run_dir)
        cells = [f"{row.old_accuracy:.4f}"]
        if record and record.get("status") == "completed":
            swa = record.get("test_accuracy_swa")
            cells += [
                f"**{record['test_accuracy']:.4f}** ({record['selected_weights']})",
                f"{record['test_accuracy_final']:.4f} / {'-' if swa is None else f'{swa:.4f}'}",
                f"{record['best_val_accuracy']:.4f}",
                str(record["epochs_run"]),
                _duration(record["train_seconds"]),
                _target_cell(row.model, record["test_accuracy"]),
                f"[{row.run_name}]({_link(run_dir / 'result.json', base_dir)})",
            ]
        else:
            if record:
                state = f"failed: {record.get('error', 'see the record')}"
            elif (run_dir / "config.json").exists():
                state = "interrupted: rerun the suite to resume it"
            else:
                state = "not run yet"
            cells += [state, "-", "-", str(CPU_EPOCHS[row.model]), "-", "-", "-"]
        rows.append(cells)
    index = pd.Index([row.label for row in ROWS], name="Row (original table)")
    frame = pd.DataFrame(rows, index=index, columns=columns)
    return markdown_table(frame, right_aligned=columns[:-2])


def swa_effect_markdown(results_dir: Path) -> str:
    """What averaging bought, for each model whose SWA row and no-SWA twin are both recorded.

    Two comparisons, both on the test set and both from the records: SWA weights against the
    same run's final weights, and against the twin trained for the same epochs with a cosine
    schedule instead (the usual way to end a run without averaging).
    """
    import pandas as pd

    from evaluation.report import markdown_table

    labels, rows = [], []
    for twin in (row for row in ROWS if not row.swa):
        pair = (twin.model, twin.optimizer)
        averaged = next(row for row in ROWS if row.swa and (row.model, row.optimizer) == pair)
        swa_record = _read_record(results_dir / averaged.run_name) or {}
        twin_record = _read_record(results_dir / twin.run_name) or {}
        if {swa_record.get("status"), twin_record.get("status")} != {"completed"}:
            continue
        if swa_record.get("test_accuracy_swa") is None:  # no snapshot was averaged
            continue
        final, swa = swa_record["test_accuracy_final"], swa_record["test_accuracy_swa"]
        cosine = twin_record["test_accuracy"]
        labels.append(averaged.label)
        rows.append(
            [
                f"{final:.4f}",
                f"{swa:.4f}",
                f"{swa - final:+.4f}",
                f"{cosine:.4f}",
                f"{swa - cosine:+.4f}",
            ]
        )
    if not rows:
        return ""
    columns = ("Final weights", "SWA weights", "SWA - final", "No-SWA twin (cosine)", "SWA - twin")
    frame = pd.DataFrame(rows, index=pd.Index(labels, name="SWA row"), columns=columns)
    table = markdown_table(frame, right_aligned=columns)
    return f"What SWA bought (test accuracy):\n\n{table}"


def update_readme(readme: Path, results_dir: Path) -> bool:
    """Replaces the README's seed-table section; False when it has no such markers."""
    from evaluation.report import update_readme_section

    sections = [table_markdown(results_dir, readme.parent), swa_effect_markdown(results_dir)]
    text = "\n\n".join(section for section in sections if section)
    return update_readme_section(readme, text, README_START, README_END)


def main(argv=None) -> int:
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
        help="write the table of records into README.md's seed-table section and exit",
    )
    args = parser.parse_args(argv)
    if args.epochs_scale <= 0:
        parser.error(f"argument --epochs-scale: must be > 0. Received: {args.epochs_scale}")
    if args.report:
        readme = config.REPO_ROOT / "README.md"
        if not update_readme(readme, config.RESULTS_PATH):
            print(
                f"error: {readme} has no {README_START} ... {README_END} section", file=sys.stderr
            )
            return 2
        print(f"wrote the seed table into {readme}")
        return 0

    failures = 0
    for row in ROWS:
        if args.only is not None and row.model not in args.only:
            continue
        run_dir = config.RESULTS_PATH / row.run_name
        record = run_dir / "result.json"
        if record.exists() and json.loads(record.read_text()).get("status") == "completed":
            print(f"done     {row.label}: {record}")
            continue
        if record.exists():
            print(f"failed   {row.label}: {record} (remove the folder to retry)")
            failures += 1
            continue
        args_row = command(row, args.epochs_scale)
        if (run_dir / "config.json").exists():
            args_row = [sys.executable, "train.py", "--resume", row.run_name]
        status = "to run  " if args.dry_run else "running "
        print(f"{status} {row.label}: {' '.join(args_row[1:])}", flush=True)
        if not args.dry_run:
            failures += subprocess.run(args_row, cwd=config.REPO_ROOT).returncode != 0
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
