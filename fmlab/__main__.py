"""One command for every tool: `python -m fmlab COMMAND [ARGS...]`.

    python -m fmlab train --preset fast-cnn       # = python train.py --preset fast-cnn
    python -m fmlab sweep --study aug --space augmentation
    python -m fmlab report
    python -m fmlab COMMAND --help                # a command's own options

Each command is the `main(argv)` of the module that `python -m MODULE` or the root script runs,
so both spellings behave alike; the table below is the list `python -m fmlab` prints.
"""

import importlib
import sys
from pathlib import Path

# command -> (module whose `main(argv)` runs it, what it does)
COMMANDS = {
    "train": ("train", "train a model, select on validation, test once"),
    "sweep": ("sweep", "search settings with an Optuna study"),
    "report": ("report", "regenerate the leaderboard, README and docs tables"),
    "predict": ("predict", "classify your own images with a checkpoint"),
    "export": ("export", "SavedModel, ONNX and LiteRT exports, measured"),
    "evaluate": ("serving.checkpoints", "test accuracy and report of a checkpoint"),
    "ensemble": ("evaluation.ensemble", "average recorded runs' probabilities"),
    "specialist": ("evaluation.specialist", "combine a generalist with a specialist"),
    "compact-predictions": ("records.predictions", "rewrite older predictions files"),
    "seed-table": ("experiments.seed_table", "train the original repository's table"),
    "family-table": ("experiments.family_table", "every family on the recipe, to a time budget"),
    "race": ("benchmarks.race", "time the default against the previous one"),
    "ablation": ("benchmarks.ablation", "the speed options one at a time, chosen on validation"),
    "peer": ("benchmarks.peer", "the default against the same recipe in PyTorch"),
    "throughput": ("benchmarks.throughput", "training images per second"),
    "time-to-accuracy": ("benchmarks.time_to_accuracy", "seconds to a target accuracy"),
    "flops": ("benchmarks.flops", "FLOPs per image and the CPU's peak"),
    "matmul-peak": ("benchmarks.matmul_peak", "the GFLOP/s that large matrix products reach"),
    "profile": ("benchmarks.profile_step", "where the time of a training step goes"),
    "families": ("benchmarks.families", "every family's images/s, before and after the recipe"),
    "levers": ("benchmarks.levers", "the step around the kernels, one lever at a time"),
}


def program() -> str:
    """How the command was typed: `fmlab` once installed (`pip install -e .`), else
    `python -m fmlab`."""
    return "fmlab" if Path(sys.argv[0]).name == "fmlab" else "python -m fmlab"


def usage() -> str:
    width = max(map(len, COMMANDS))
    rows = [f"  {name:<{width}}  {about}" for name, (_, about) in COMMANDS.items()]
    return f"usage: {program()} COMMAND [ARGS...]\n\ncommands:\n" + "\n".join(rows)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0
    command, *rest = argv
    if command not in COMMANDS:
        print(f"{usage()}\n\nerror: unknown command {command!r}; the commands are listed above.",
              file=sys.stderr)
        return 2
    module, _ = COMMANDS[command]
    sys.argv = [f"{program()} {command}", *rest]  # what the command's --help shows
    return importlib.import_module(module).main(rest)


if __name__ == "__main__":
    sys.exit(main())
