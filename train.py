"""Train a Fashion-MNIST classifier and evaluate it once on the official test set.

python train.py                        # simple CNN, SWA, augmentation, default paths
python train.py --model wrn-16-4 --epochs 30 --optimizer sgd --lr 0.05
python train.py --resume RUN_NAME      # continue an interrupted run
python train.py --list-models
"""

import argparse
import ast
import dataclasses
import sys
import types
import typing

from training.config import NUM_CLASSES, ExperimentConfig


def _flag_name(field_name: str) -> str:
    return "--" + field_name.replace("_", "-")


def _field_flag(field) -> str:
    return field.metadata.get("flag", _flag_name(field.name))


def _field_default(field):
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return field.default


def model_argument(text: str) -> tuple[str, object]:
    """`NAME=VALUE` with a Python literal VALUE (a number, a string, a tuple, ...)."""
    name, separator, value = text.partition("=")
    if not separator or not name.strip().isidentifier():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE. Received: {text!r}")
    try:
        return name.strip(), ast.literal_eval(value.strip())
    except (ValueError, SyntaxError):
        return name.strip(), value.strip()  # a bare word is a string


def _base_type(annotation):
    """`int | None` -> int; `bool` -> bool."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        return next(arg for arg in typing.get_args(annotation) if arg is not type(None))
    return annotation


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Train a Fashion-MNIST classifier; selection on a validation split, test once.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    hints = typing.get_type_hints(ExperimentConfig)
    for field in dataclasses.fields(ExperimentConfig):
        kind = _base_type(hints[field.name])
        options = {"default": _field_default(field), "help": field.metadata["help"]}
        if kind is bool:
            options["action"] = argparse.BooleanOptionalAction
        elif kind is dict:
            options.update(action="append", type=model_argument, metavar="NAME=VALUE", default=[])
        else:
            options.update(type=kind, metavar=field.name.upper())
            if "choices" in field.metadata:
                options.update(choices=field.metadata["choices"], metavar=None)
        parser.add_argument(_field_flag(field), dest=field.name, **options)
    parser.add_argument(
        "--resume",
        metavar="RUN_NAME",
        nargs="?",
        const=True,
        default=None,
        help="continue an interrupted run (a name, or --run-name NAME --resume)",
    )
    parser.add_argument(
        "--seeds",
        type=int,
        default=1,
        metavar="N",
        help="train N runs of this configuration with seeds --seed, --seed + 1, ... (named "
        "<run>-seed<k>) and print the mean, spread and range of their test accuracy",
    )
    parser.add_argument(
        "--list-models",
        action="store_true",
        help="print the registered models with their parameter counts and exit",
    )
    return parser


def parse_config(argv=None) -> tuple[ExperimentConfig, bool, argparse.Namespace]:
    parser = build_parser()
    args = parser.parse_args(argv)
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(ExperimentConfig)}
    values["model_args"] = dict(values["model_args"])
    if isinstance(args.resume, str):
        values["run_name"] = args.resume
    resume = args.resume is not None
    if resume:
        _check_resume_arguments(parser, values)
        if args.seeds != 1:
            parser.error("argument --seeds: resume one run at a time (--resume NAME-seedK)")
    if args.seeds < 1:
        parser.error(f"argument --seeds: seeds must be >= 1. Received: seeds={args.seeds}")
    config = ExperimentConfig(**values)
    if not args.list_models:
        try:
            config.resolved().validate()
        except ValueError as error:
            field_name = str(error).split(" ", 1)[0]
            flags = {f.name: _field_flag(f) for f in dataclasses.fields(ExperimentConfig)}
            parser.error(f"argument {flags.get(field_name, _flag_name(field_name))}: {error}")
    return config, resume, args


def _check_resume_arguments(parser, values: dict) -> None:
    """A resumed run continues with its stored settings: other flags would be ignored, so they
    are refused."""
    if not values["run_name"]:
        parser.error("argument --resume: name the run to resume (--resume RUN_NAME)")
    changed = [
        _field_flag(field)
        for field in dataclasses.fields(ExperimentConfig)
        if field.name != "run_name" and values[field.name] != _field_default(field)
    ]
    if changed:
        parser.error(
            f"argument --resume: a resumed run keeps the settings it was started with; "
            f"remove {', '.join(changed)}"
        )


def near_chance_hint(record: dict) -> str | None:
    """A line for a test accuracy close to guessing (1/10): what usually causes it."""
    if record["test_accuracy"] >= 2 / NUM_CLASSES:
        return None
    steps = record["epochs_run"] * -(-record["train_images"] // record["config"]["batch_size"])
    return (
        f"hint: {record['test_accuracy']:.2f} is near chance ({1 / NUM_CLASSES:.2f}). "
        f"{steps} training steps are too few for this model: train on more images "
        "(--limit-train) or for more epochs."
    )


WEIGHT_LABELS = {"final": "final weights", "swa": "SWA weights", "ema": "EMA weights"}


def summary(record: dict) -> str:
    """The outcome of a completed run: the selection and every weight set's test accuracy."""
    name = record["selected_weights"] + ("_tta" if record.get("selected_tta") else "")
    chosen = WEIGHT_LABELS[record["selected_weights"]] + (
        " with flip TTA" if record.get("selected_tta") else ""
    )
    lines = [
        f"  val accuracy       {record[f'val_accuracy_{name}']:.4f} ({chosen}; best epoch during "
        f"training: {record['best_val_accuracy']:.4f}, epoch {record['best_epoch']})",
        f"  test accuracy      {record['test_accuracy']:.4f} ({chosen}, chosen on validation)",
    ]
    for weights, label in WEIGHT_LABELS.items():
        if f"test_accuracy_{weights}" in record:
            tta = record.get(f"test_accuracy_{weights}_tta")
            with_tta = "" if tta is None else f" (with flip TTA {tta:.4f})"
            lines.append(f"    {label:<17}{record[f'test_accuracy_{weights}']:.4f}{with_tta}")
    return "\n".join(lines)


def list_models_table() -> str:
    from models import list_models, parameter_count

    rows = [f"{'model':<22}{'parameters':>14}"]
    for name in list_models():
        rows.append(f"{name:<22}{parameter_count(name):>14,}")
    return "\n".join(rows)


def seed_configs(config: ExperimentConfig, seeds: int) -> list[ExperimentConfig]:
    """One configuration per seed, named `<run>-seed<k>` after one shared base name."""
    if seeds == 1:
        return [config]
    from evaluation.records import default_run_name

    smoke = "-smoke" if config.limit_train is not None else ""
    base = config.run_name or default_run_name(config.model, config.optimizer + smoke)
    return [
        dataclasses.replace(config, seed=seed, run_name=f"{base}-seed{seed}")
        for seed in range(config.seed, config.seed + seeds)
    ]


def main(argv=None) -> int:
    config, resume, args = parse_config(argv)
    from quiet_tensorflow import import_tensorflow

    import_tensorflow()
    if args.list_models:
        print(list_models_table())
        return 0
    records = []
    for seed_config in seed_configs(config, args.seeds):
        status, record = train_one(seed_config, resume)
        if status:
            return status
        records.append(record)
    if len(records) > 1:
        from evaluation.seeds import SeedGroup, seed_summary_lines

        print("\n" + "\n".join(seed_summary_lines(SeedGroup(records))))
    return 0


def train_one(config: ExperimentConfig, resume: bool) -> tuple[int, dict | None]:
    """Trains one run and prints its outcome; returns (exit status, 0 when it completed; record)."""
    from training.backup import RunStateError
    from training.experiment import DiskFullError, RunInterrupted, run_experiment

    try:
        result = run_experiment(config, resume=resume, verbose=1)
    except RunInterrupted as interrupt:
        print(
            f"\nInterrupted. The last completed epoch is saved; continue with:\n"
            f"  python train.py --resume {interrupt.run_name}",
            file=sys.stderr,
        )
        return 130, None
    except KeyboardInterrupt:
        print("\nInterrupted before training started; nothing to resume.", file=sys.stderr)
        return 130, None
    except (
        ValueError,
        FileNotFoundError,
        FileExistsError,
        PermissionError,
        RunStateError,
        DiskFullError,
    ) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2, None
    record = result.record
    if record["status"] != "completed":
        print(
            f"Run {result.name} failed: {record['error']}. "
            f"Record: {result.run_dir / 'result.json'}",
            file=sys.stderr,
        )
        return 1, None
    print(f"\nRun {result.name}")
    print(summary(record))
    print(f"  record             {result.run_dir}")
    print(f"  checkpoints        {result.checkpoint_dir}")
    print(f"  TensorBoard        tensorboard --logdir {result.tensorboard_dir.parent}")
    hint = near_chance_hint(record)
    if hint:
        print(hint)
    return 0, record


if __name__ == "__main__":
    sys.exit(main())
