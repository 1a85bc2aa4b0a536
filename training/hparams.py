"""A run's settings and outcome in TensorBoard's HParams dashboard: one row per run, one column
per setting and per metric, with parallel coordinates across the runs of a logs folder.

`log_hparams` writes the run's settings as an HParams session in `TB_LOGS_PATH/<run>/` and the
experiment description (which settings and metrics the dashboard shows) in `TB_LOGS_PATH/`. The
metrics are scalars the run already logged: the outcome under `test/` and the last epoch under
`train/` and `validation/`.

python -m training.hparams [RUN ...]   # logs recorded runs, all by default (again: harmless)
"""

import argparse
import sys
from pathlib import Path

from tensorboard.plugins.hparams import api as hp
from tensorboard.plugins.hparams import api_pb2, plugin_data_pb2, summary_v2

import config as paths
from outputs.io import read_json
from quiet_tensorflow import import_tensorflow
from records.run_record import RunRecord
from training.config import AUGMENTATION_KNOBS, OPTIMIZERS
from training.hardware import PRECISIONS
from training.schedule_rules import LR_SCHEDULES

# Fields of the run's configuration shown as settings; `smoke_run` comes from the record.
CONFIG_HPARAMS = (
    "model",
    "optimizer",
    "lr",
    "lr_schedule",
    "epochs",
    "batch_size",
    "swa",
    "swa_start",
    "weight_decay",
    *AUGMENTATION_KNOBS,
    "label_smoothing",
    "ema",
    "tta",
    "precision",
    "seed",
)
# (scalar tag, subfolder of the run, column title); the dashboard shows the first five at first.
METRICS = (
    ("outcome/test_accuracy", "test", "test accuracy (selected weights)"),
    ("outcome/val_accuracy", "test", "val accuracy (selected weights)"),
    ("outcome/test_accuracy_final", "test", "test accuracy, final weights"),
    ("outcome/test_accuracy_swa", "test", "test accuracy, SWA weights"),
    ("epoch_accuracy", "validation", "val accuracy, last epoch"),
    ("outcome/val_accuracy_final", "test", "val accuracy, final weights"),
    ("outcome/val_accuracy_swa", "test", "val accuracy, SWA weights"),
    ("outcome/test_accuracy_ema", "test", "test accuracy, EMA weights"),
    ("outcome/val_accuracy_ema", "test", "val accuracy, EMA weights"),
    ("epoch_accuracy", "train", "train accuracy, last epoch"),
)
# The dashboard shows five settings at first, those marked as differing between runs first, then
# by name: these are marked, whatever the runs hold.
SHOWN_FIRST = ("model", "optimizer", "lr", "lr_schedule", "swa")
# The experiment description's event files in the logs folder; a new one replaces the others.
EXPERIMENT_FILE_SUFFIX = ".hparams-experiment"


def hparams_domains() -> dict[str, hp.HParam]:
    """Every logged setting by name, with its possible values where the CLI restricts them."""
    from models import list_models

    choices = {
        "model": list_models(),
        "optimizer": list(OPTIMIZERS),
        "lr_schedule": [name for name in LR_SCHEDULES if name != "auto"],
        "precision": [name for name in PRECISIONS if name != "auto"],
        "swa": [False, True],
        "tta": [False, True],
        "smoke_run": [False, True],
    }
    return {
        name: hp.HParam(name, hp.Discrete(choices[name]) if name in choices else None)
        for name in (*CONFIG_HPARAMS, "smoke_run")
    }


def run_hparams(record: RunRecord) -> dict[str, bool | int | float | str]:
    """The run's settings: the `CONFIG_HPARAMS` fields of its configuration that are set
    (`swa_start` only with SWA on) and whether it is a smoke run."""
    config = record.config
    values = {name: config[name] for name in CONFIG_HPARAMS if config.get(name) is not None}
    if not config.get("swa"):
        values.pop("swa_start", None)
    values["smoke_run"] = record.smoke_run
    return values


def log_hparams(tensorboard_dir: Path, record: RunRecord) -> None:
    """Logs the run's settings and its selected weights' validation accuracy to
    `tensorboard_dir` (`TB_LOGS_PATH/<run>`), and the experiment description to its parent.

    Args:
        tensorboard_dir: the run's TensorBoard folder.
        record: the run's record: its resolved configuration, and for a completed run the
            weights selected on validation with the accuracy they were chosen on.
    """
    tf = import_tensorflow()
    tensorboard_dir = Path(tensorboard_dir)
    accuracy = record.selected_accuracy("val")
    if accuracy is not None:  # the only metric the outcome scalars lack
        writer = tf.summary.create_file_writer(str(tensorboard_dir / "test"))
        with writer.as_default():
            tf.summary.scalar("outcome/val_accuracy", accuracy, step=record.epochs_run)
        writer.close()
    domains = hparams_domains()
    values = {domains[name]: value for name, value in run_hparams(record).items()}
    writer = tf.summary.create_file_writer(str(tensorboard_dir))
    with writer.as_default():
        hp.hparams(values, trial_id=record.run_name)
    writer.close()
    write_experiment(tensorboard_dir.parent)


def experiment_summary():
    """The experiment description: every setting (numbers filtered by a range, the others by
    their values) and every metric of `METRICS`."""
    metrics = [hp.Metric(tag, group=group, display_name=title) for tag, group, title in METRICS]
    summary = summary_v2.hparams_config_pb(list(hparams_domains().values()), metrics)
    (value,) = summary.value
    data = plugin_data_pb2.HParamsPluginData.FromString(value.metadata.plugin_data.content)
    for info in data.experiment.hparam_infos:
        info.differs = info.name in SHOWN_FIRST
        if not info.HasField("domain_discrete"):
            info.type = api_pb2.DATA_TYPE_FLOAT64
    value.metadata.plugin_data.content = data.SerializeToString()
    return summary


def write_experiment(logs_dir: Path) -> None:
    """Writes the experiment description to `logs_dir` and removes the ones written before: the
    dashboard reads one, and the newest lists every setting and metric of the current code."""
    tf = import_tensorflow()
    logs_dir = Path(logs_dir)
    previous = list(logs_dir.glob(f"events.out.tfevents.*{EXPERIMENT_FILE_SUFFIX}"))
    writer = tf.summary.create_file_writer(str(logs_dir), filename_suffix=EXPERIMENT_FILE_SUFFIX)
    with writer.as_default():
        tf.summary.experimental.write_raw_pb(experiment_summary().SerializeToString(), step=0)
    writer.close()
    for path in previous:
        path.unlink(missing_ok=True)


def main(argv=None) -> int:
    """Logs the HParams of recorded runs, e.g. of runs trained before they were logged."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("runs", nargs="*", help="run names; default: every run in RESULTS_PATH")
    args = parser.parse_args(argv)
    names = args.runs or [
        path.parent.name for path in sorted(paths.RESULTS_PATH.glob("*/result.json"))
    ]
    for name in names:
        record_path, logs = paths.RESULTS_PATH / name / "result.json", paths.TB_LOGS_PATH / name
        missing = next((path for path in (record_path, logs) if not path.exists()), None)
        if missing:
            print(f"skipped {name}: {missing} does not exist")
            continue
        try:
            record = RunRecord.from_json(read_json(record_path, "A record"))
        except ValueError as error:  # an ensemble's or combination's record: no run to log
            print(f"skipped {name}: {error}")
            continue
        log_hparams(logs, record)
        print(f"logged {name} in {logs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
