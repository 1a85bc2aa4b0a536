"""Train a Fashion-MNIST classifier and evaluate it once on the official test set.

python train.py                        # the default preset: fast-cnn-small, the fast recipe
python train.py --preset fast-cnn --set schedule.epochs=20
python train.py --config my.toml --set augmentation.rotation_range=10 --dry-run
python train.py --model wrn-16-4 --epochs 30 --optimizer sgd --lr 0.05
python train.py --resume RUN_NAME      # continue an interrupted run
python train.py --list-models          # or --list-presets
"""

import argparse
import sys
from pathlib import Path

from quiet_tensorflow import import_tensorflow
from records.run_record import WEIGHT_LABELS, RunRecord, accuracy_key, tta_words
from training.config import FLAT_FIELDS, NUM_CLASSES, SECTION_KEYS, ExperimentConfig
from training.presets import (
    DEFAULT_PRESET,
    FLAGS,
    base_type,
    checked,
    compose,
    describe,
    list_presets,
    load_preset,
    model_argument,
    preset_path,
    to_toml,
)

# What a command refuses with a message of its own, printed without a traceback.
REFUSALS = (ValueError, FileNotFoundError, FileExistsError, PermissionError)


def comma_separated(text: str) -> tuple[str, ...]:
    """`a,b,c` as ("a", "b", "c"), spaces around each name removed.

    Args:
        text: the flag's value.

    Example: `comma_separated("shirt, coat")` is ("shirt", "coat").
    """
    return tuple(name.strip() for name in text.split(","))


def config_file(text: str) -> Path:
    """A `--config` value: the path of a file (an empty value would name the current folder)."""
    if not text.strip():
        raise argparse.ArgumentTypeError(
            f"expected the path of a TOML configuration file. Received: {text!r}"
        )
    return Path(text)


def flag_type(parse):
    """A field's `parse` as an argparse type: its ValueError becomes the flag's error."""

    def convert(text: str):
        try:
            return parse(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    return convert


def _help_default(value) -> str:
    return "unset" if value is None else repr(value) if isinstance(value, str) else str(value)


def build_parser() -> argparse.ArgumentParser:
    """The command line: the layers of `training.presets` (--preset, --config, --set) and one
    flag per field as a shortcut. A flag's default is the default preset's value; flags that are
    not given leave the preset's and the file's values alone."""
    parser = argparse.ArgumentParser(
        description="Train a Fashion-MNIST classifier; selection on a validation split, test once. "
        "Settings come from a preset (--preset), a configuration file (--config), flags, then "
        "--set overrides, each over the one before.",
    )
    add_layer_arguments(parser.add_argument_group("configuration"))
    add_setting_flags(parser.add_argument_group("settings (shortcuts for --set)"))
    add_run_arguments(parser.add_argument_group("runs"))
    return parser


def add_layer_arguments(group) -> None:
    group.add_argument("--preset", metavar="NAME", default=None,
                       help="a named configuration from presets/ (see --list-presets); "
                       f"default: {DEFAULT_PRESET}, or the one the --config file names")
    group.add_argument("--config", metavar="FILE", type=config_file, default=None,
                       help="a TOML configuration file: one table per section, as --dry-run "
                       "prints it")
    group.add_argument("--set", metavar="SECTION.KEY=VALUE", action="append", default=[],
                       dest="overrides", help="override one setting, e.g. --set "
                       "augmentation.rotation_range=10; repeatable, applied last")
    group.add_argument("--dry-run", action="store_true",
                       help="print the resolved configuration, as it would be saved, and exit")


def _default_preset_settings() -> dict:
    """The default preset's settings, for the help; the configuration's own defaults where the
    preset cannot be read, so that the commands needing no preset still run (those that compose
    one name the problem)."""
    try:
        return compose().config.to_dict()
    except ValueError:
        return ExperimentConfig().to_dict()


def add_setting_flags(group) -> None:
    """One flag per field (but those set by the layers alone), its default the default
    preset's; unset unless given, so it overrides only what the command line says."""
    defaults = _default_preset_settings()
    for name, flat in FLAT_FIELDS.items():
        field = flat.field
        if not field.metadata.get("cli", True):
            continue
        kind = base_type(flat.hint)
        default = _help_default(defaults[name] or None if kind is dict else defaults[name])
        options = {"default": argparse.SUPPRESS,
                   "help": f"{field.metadata['help']} [{SECTION_KEYS[name]}; default: "
                   f"{default}]".replace("%", "%%")}
        if kind is bool:
            options["action"] = argparse.BooleanOptionalAction
        elif kind is dict:
            options.update(action="append", type=model_argument, metavar="NAME=VALUE")
        elif field.metadata.get("comma_separated"):
            options.update(type=comma_separated, metavar="NAME,NAME,...")
        elif kind is tuple:
            options.update(action="append", metavar=name.upper().rstrip("S"))
        else:
            parse = field.metadata.get("parse")
            options.update(type=flag_type(parse) if parse else kind,
                           metavar=field.metadata.get("metavar", name.upper()))
            if "choices" in field.metadata:
                options.update(choices=field.metadata["choices"], metavar=None)
        group.add_argument(FLAGS[name], dest=name, **options)


def add_run_arguments(group) -> None:
    group.add_argument("--resume", metavar="RUN_NAME", nargs="?", const=True, default=None,
                       help="continue an interrupted run (a name, or --run-name NAME --resume)")
    group.add_argument("--seeds", type=int, default=1, metavar="N",
                       help="train N runs of this configuration with seeds --seed, --seed + 1, "
                       "... (named <run>-seed<k>) and print the mean, spread and range of their "
                       "test accuracy")
    group.add_argument("--list-models", action="store_true",
                       help="print the registered models with their parameter counts and exit")
    group.add_argument("--list-presets", action="store_true",
                       help="print the presets with their descriptions")


def given_flags(args: argparse.Namespace) -> dict:
    """The settings given as flags on the command line, by field name."""
    values = {
        name: getattr(args, name)
        for name, flat in FLAT_FIELDS.items()
        if flat.field.metadata.get("cli", True) and hasattr(args, name)
    }
    if "model_args" in values:
        values["model_args"] = dict(values["model_args"])
    if "tags" in values:
        values["tags"] = tuple(values["tags"])
    return values


def parse_config(argv=None) -> tuple[ExperimentConfig, bool, argparse.Namespace]:
    """The configuration the command line asks for, checked (a bad value exits with status 2
    naming the flag, the file or the `--set` that wrote it), whether to resume, and the
    parsed arguments."""
    parser = build_parser()
    args = parser.parse_args(argv)
    flags = given_flags(args)
    if isinstance(args.resume, str):
        flags["run_name"] = args.resume
    resume = args.resume is not None
    if resume:
        _check_resume_arguments(parser, args, flags)
    if args.seeds < 1:
        parser.error(f"argument --seeds: seeds must be >= 1. Received: seeds={args.seeds}")
    if args.list_models or args.list_presets or resume:
        # A listing reads no configuration, and a resume its run's own: no preset can stop them.
        return ExperimentConfig().replace(run_name=flags.get("run_name")), resume, args
    try:
        layers = compose(args.preset, args.config, flags, args.overrides)
        args.layers = layers
        import_tensorflow()  # resolving probes the hardware: without TensorFlow's notices
        checked(layers)
    except ValueError as error:
        parser.error(str(error))
    return layers.config, resume, args


def _check_resume_arguments(parser, args, flags: dict) -> None:
    """A resumed run continues with its stored settings: other settings would be ignored, so
    they are refused."""
    if not flags.get("run_name"):
        parser.error("argument --resume: name the run to resume (--resume RUN_NAME)")
    changed = [FLAGS[name] for name in FLAT_FIELDS if name != "run_name" and name in flags]
    changed += [flag for flag, value in (("--preset", args.preset), ("--config", args.config),
                                          ("--set", args.overrides)) if value]
    if changed:
        parser.error(
            f"argument --resume: a resumed run keeps the settings it was started with; "
            f"remove {', '.join(changed)}"
        )
    if args.seeds != 1:
        parser.error("argument --seeds: resume one run at a time (--resume NAME-seedK)")


def near_chance_hint(record: RunRecord) -> str | None:
    """A line for a test accuracy close to guessing (1/10): what usually causes it."""
    if record.test_accuracy >= 2 / NUM_CLASSES:
        return None
    steps = record.epochs_run * -(-record.train_images // record.config["batch_size"])
    return (
        f"hint: {record.test_accuracy:.2f} is near chance ({1 / NUM_CLASSES:.2f}). "
        f"{steps} training steps are too few for this model: train on more images "
        "(--limit-train) or for more epochs."
    )


def summary(record: RunRecord) -> str:
    """The outcome of a completed run: the selection and every weight set's test accuracy."""
    chosen = WEIGHT_LABELS[record.selected_weights] + (
        f" with {tta_words(record.config)}" if record.selected_tta else ""
    )
    lines = [
        f"  val accuracy       {record.selected_accuracy('val'):.4f} ({chosen}; best epoch "
        f"during training: {record.best_val_accuracy:.4f}, epoch {record.best_epoch})",
        f"  test accuracy      {record.test_accuracy:.4f} ({chosen}, chosen on validation)",
    ]
    for weights, label in WEIGHT_LABELS.items():
        test = record.accuracies.get(accuracy_key("test", weights, tta=False))
        if test is not None:
            tta = record.accuracies.get(accuracy_key("test", weights, tta=True))
            with_tta = "" if tta is None else f" (with {tta_words(record.config)} {tta:.4f})"
            lines.append(f"    {label:<17}{test:.4f}{with_tta}")
    return "\n".join(lines)


def timing_lines(record: RunRecord) -> str:
    """Where and how fast it trained: seconds and images/s, the machine with its measured peak,
    and whether the run had the cores alone (a time taken beside other work measures nothing)."""
    machine = record.system.get("machine", {}).get("key", record.system.get("hardware"))
    measured = record.system.get("peak", {})
    peak = ", ".join(f"{dtype} {rate:,.0f}" for dtype, rate in measured.get("gflops", {}).items())
    if peak and not measured.get("alone"):
        peak += ", taken while other processes ran"
    lines = [
        f"  training time      {record.train_seconds:,.0f} s, {record.images_per_second:,.0f} "
        "images/s",
        f"  machine            {machine}" + (f" (measured peak GFLOP/s: {peak})" if peak else ""),
    ]
    load = record.load
    if load is not None:
        other = f"other processes took up to {load['other_share_max']:.0%} of the cores"
        verdict = ("alone: these times measure this machine" if load["alone"] else
                   "shared: these times do not measure this machine")
        lines.append(f"  load               {other}, {verdict}")
    return "\n".join(lines)


def list_models_table() -> str:
    from models import list_models, parameter_count

    rows = [f"{'model':<22}{'parameters':>14}"]
    for name in list_models():
        rows.append(f"{name:<22}{parameter_count(name):>14,}")
    return "\n".join(rows)


def list_presets_table() -> str:
    """Each preset's name, the preset it starts from and its description; a preset that
    `--preset` would refuse is named on stderr and left out, so one broken file does not hide
    the others."""
    rows = []
    for name in list_presets():
        try:
            load_preset(name)
        except ValueError as error:
            print(f"warning: skipped {preset_path(name)}: {error}", file=sys.stderr)
            continue
        about = describe(preset_path(name))
        base = f" (from {about['preset']})" if about["preset"] else ""
        rows.append(f"{name}{base}\n    {about['description'] or ''}")
    return "\n".join(rows)


def dry_run_text(layers) -> str:
    """The resolved configuration as a configuration file, headed by where it came from."""
    resolved = checked(layers)
    chain = " -> ".join(layers.presets)
    then = f"; then {' '.join(layers.applied)}" if layers.applied else ""
    lines = [
        f"# The resolved configuration (preset {chain}{then}), as the run would save it.",
        "# Run it with: python train.py --config FILE, after saving this text as FILE.",
    ]
    if resolved.schedule.time_budget is not None:
        lines.append("# schedule.time_budget: the run measures its speed first, then trains the "
                     "epochs that fit instead of schedule.epochs; the settings that follow from "
                     "the epochs (warm-up, SWA) are left unset until then.")
    return "\n".join(lines) + "\n" + to_toml(resolved)


def print_resumed_settings(config: ExperimentConfig) -> int:
    """Prints the settings `--resume` continues the run with, read from the run as the resume
    reads them; returns the exit status (2 where the resume would be refused)."""
    from training.experiment import resolve_config

    try:
        stored = resolve_config(config, resume=True)
    except REFUSALS as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(
        f"# The settings run {stored.run.name} was started with and --resume continues it with "
        "(its config.json).\n"
        "# Train them as a new run with: python train.py --config FILE, after saving this text "
        f"as FILE.\n{to_toml(stored)}"
    )
    return 0


def seed_configs(config: ExperimentConfig, seeds: int) -> list[ExperimentConfig]:
    """One configuration per seed, named `<run>-seed<k>` after one shared base name (shortened
    where the whole would be longer than a name may be)."""
    if seeds == 1:
        return [config]
    from outputs.folders import suffixed
    from records.provenance import default_run_name

    smoke = "-smoke" if config.data.limit_train is not None else ""
    base = config.run.name or default_run_name(config.model.name, config.optimizer.name + smoke)
    return [
        config.replace(seed=seed, run_name=suffixed(base, f"-seed{seed}"))
        for seed in range(config.runtime.seed, config.runtime.seed + seeds)
    ]


def main(argv=None) -> int:
    config, resume, args = parse_config(argv)
    import_tensorflow()
    if args.list_models:
        print(list_models_table())
        return 0
    if args.list_presets:
        print(list_presets_table())
        return 0
    if args.dry_run and resume:
        return print_resumed_settings(config)
    if args.dry_run:
        print(dry_run_text(args.layers))
        return 0
    records = []
    for seed_config in seed_configs(config, args.seeds):
        status, record = train_one(seed_config, resume)
        if status:
            return status
        records.append(record.to_json())
    if len(records) > 1:
        from evaluation.seeds import SeedGroup, seed_summary_lines

        print("\n" + "\n".join(seed_summary_lines(SeedGroup(records))))
    return 0


def train_one(config: ExperimentConfig, resume: bool) -> tuple[int, RunRecord | None]:
    """Trains one run and prints its outcome; returns (exit status, 0 when it completed; record)."""
    from training.backup import RunStateError
    from training.experiment import DiskFullError, RunInterrupted, run_experiment

    try:
        # A progress bar on a terminal; one line per epoch in a log file or a pipe, which would
        # otherwise collect every redraw of the bar.
        result = run_experiment(config, resume=resume, verbose=1 if sys.stdout.isatty() else 2)
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
    except (*REFUSALS, RunStateError, DiskFullError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2, None
    record = result.record
    if record.status != "completed":
        print(
            f"Run {result.name} failed: {record.error}. "
            f"Record: {result.run_dir / 'result.json'}",
            file=sys.stderr,
        )
        return 1, None
    print(f"\nRun {result.name}")
    print(summary(record))
    print(timing_lines(record))
    print(f"  record             {result.run_dir}")
    print(f"  checkpoints        {result.checkpoint_dir}")
    print(f"  TensorBoard        tensorboard --logdir {result.tensorboard_dir.parent}")
    hint = near_chance_hint(record)
    if hint:
        print(hint)
    return 0, record


if __name__ == "__main__":
    sys.exit(main())
