"""The seed table, honestly: every row of the original repository's table, trained with SWA,
the default augmentation and the validation-only protocol.

    python -m experiments.seed_table --dry-run          # print the commands
    python -m experiments.seed_table                    # run every row not yet recorded
    python -m experiments.seed_table --epochs-scale 4   # a GPU: four times the epochs

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

import config

# Epochs that fit about 60 minutes of training on 2 CPU cores (55,000 images per epoch), from the
# training images/s of each family's short run under results/ (simple CNN: the default run).
CPU_EPOCHS = {
    "simple-cnn": 40,  # ~740-980 images/s
    "wrn-16-4": 6,  # >= 55 images/s, measured on a shared CPU
    "mobilenet-v2": 6,  # >= 50 images/s, measured on a shared CPU
    "shufflenet-v2-1.0": 9,  # ~150 images/s
    "capsnet": 7,  # ~107 images/s
}


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
    args = parser.parse_args(argv)
    if args.epochs_scale <= 0:
        parser.error(f"argument --epochs-scale: must be > 0. Received: {args.epochs_scale}")

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
