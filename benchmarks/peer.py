"""`train.py --preset default` against the same network and recipe written plainly in PyTorch,
back to back on this machine.

Trains the default preset with the project (`run_experiment`, in this process, as
`train.py --preset default` does), then the PyTorch reference (`benchmarks/peer_torch.py`, in a
process of its own that loads no TensorFlow) with the same settings on the same split, one after
the other, never at once. The record gives, per side, the images/s, the training seconds (epochs
with their validation pass, as the project's history times them), the seconds to validation
0.92, 0.93 and 0.94, the validation accuracy of the weights chosen on validation, the test
accuracy (read once, after that choice), the machine and the load. Nothing else should run on
the machine meanwhile.

    python -m benchmarks.peer
    python -m benchmarks.peer --seed 1 --out /tmp/peer

The record goes to <out>/peer-default-vs-pytorch.json (default RESULTS_PATH/benchmarks), the
project's run to RESULTS_PATH/peer-default-seed<N>, tagged `peer` (no seed group of the
leaderboard). The PyTorch side needs `pip install -r requirements-peer.txt`.
"""

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import config as paths
from benchmarks.common import base_record, default_out_dir, write_record
from benchmarks.race import TARGETS, TIMING, prune_outputs, seconds_to_target
from data.fashion_mnist import ensure_files
from evaluation.seeds import PEER_TAG
from records.machine import cpu_facts, record_machine
from records.reader import selected_val_accuracy
from training.config import ExperimentConfig
from training.presets import compose

PRESET = "default"
RECORD_NAME = f"peer-{PRESET}-vs-pytorch.json"
PEER_TORCH = Path(__file__).with_name("peer_torch.py")
# Runs the PyTorch side by path: `python -m benchmarks.peer_torch` would import the `benchmarks`
# package, which loads TensorFlow into that side's process.
RUN_BY_PATH = "import runpy, sys; runpy.run_path(sys.argv.pop(1), run_name='__main__')"
KERAS_ADAM_EPSILON = 1e-7  # keras.optimizers.Adam's, which the project's Adam keeps
# The settings the PyTorch reference implements, by flat name (`--set` spells them so), where it
# implements some values only; the others it takes as they are.
SUPPORTED = {
    "model": ("fast-cnn", "fast-cnn-small"),
    "input_size": (None,),
    "optimizer": ("adam",),
    "weight_decay": (0.0,),
    "lr_schedule": ("onecycle",),
    "early_stopping": (None,),
    "reduce_lr_patience": (None,),
    "rotation_range": (0.0,),
    "zoom_range": (0.0,),
    "random_erasing": (0.0,),
    "flip_mode": ("random",),
    "classes": ((),),
    "precision": ("mixed_bfloat16", "float32"),
    "distribute": ("none",),
}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0, help="seed of both sides (default 0)")
    parser.add_argument("--epochs", type=int, default=None, help="override the preset's epochs")
    parser.add_argument(
        "--limit-train", type=int, default=None, help="train on a stratified subset (smoke runs)"
    )
    parser.add_argument("--val-size", type=int, default=None, help="override the validation size")
    parser.add_argument("--skip-project", action="store_true",
                        help="train the PyTorch side alone (its record compares no times)")
    parser.add_argument("--out", type=Path, default=None, help="default: RESULTS_PATH/benchmarks")
    args = parser.parse_args(argv)
    if args.out is not None and args.out.exists() and not args.out.is_dir():
        parser.error(f"argument --out: {args.out} is a file; name a folder (it is created when "
                     "missing). Received: --out " + str(args.out))
    return args


def peer_config(args: argparse.Namespace) -> ExperimentConfig:
    """The default preset with `args`' overrides, resolved as a run resolves it (short runs get
    a shorter warm-up and no SWA), which both sides train."""
    overrides = {"seed": args.seed, "limit_train": args.limit_train}
    for name in ("epochs", "val_size"):
        if getattr(args, name) is not None:
            overrides[name] = getattr(args, name)
    config = compose(preset=PRESET).config.replace(
        **overrides, run_name=f"peer-{PRESET}-seed{args.seed}", tags=(PEER_TAG,)
    )
    return config.resolved().validate()


def unsupported_settings(config: ExperimentConfig) -> list[str]:
    """The settings of `config` that the PyTorch reference does not implement, as `name=value`
    with the values it does."""
    flat = config.to_dict()
    return [
        f"{name}={flat[name]!r} (it implements {', '.join(map(repr, allowed))})"
        for name, allowed in SUPPORTED.items()
        if (tuple(flat[name]) if isinstance(flat[name], list) else flat[name]) not in allowed
    ]


def pytorch_recipe(config: ExperimentConfig) -> dict:
    """The settings of `benchmarks.peer_torch.Recipe` for the resolved `config`: the network's
    arguments as the project builds it, BatchNorm's momentum in PyTorch's convention.

    Raises:
        ValueError: `config` holds a setting the PyTorch reference does not implement.
    """
    from models import build_model
    from models.fast_cnn import BN_EPSILON
    from models.whitening import FIT_IMAGES, whitening_layers

    unsupported = unsupported_settings(config)
    if unsupported:
        raise ValueError(
            f"The PyTorch reference implements the recipe of preset {PRESET!r} and cannot train "
            f"{'; '.join(unsupported)}. Set those back, or implement them in "
            f"benchmarks/peer_torch.py. Received: {config.to_dict()}"
        )
    model = build_model(config.model.name, **config.model.args)
    arguments = model.arguments
    whitening = whitening_layers(model)
    averaging, augmentation = config.averaging, config.augmentation
    return {
        "widths": list(arguments["widths"]),
        "stem_width": arguments["stem_width"],
        "whitening_patch_size": arguments["whitening_patch_size"],
        "whitening_epsilon": whitening[0].epsilon if whitening else 0.0,
        "whitening_images": FIT_IMAGES,
        "dirac_init": arguments["dirac_init"],
        # Keras's momentum is the old statistics' weight, PyTorch's the new batch's.
        "batchnorm_momentum": round(1.0 - arguments["batchnorm_momentum"], 12),
        "batchnorm_epsilon": BN_EPSILON,
        "batchnorm_scale": arguments["batchnorm_scale_trainable"],
        "num_classes": arguments["num_classes"],
        "lr": config.optimizer.lr,
        "adam_epsilon": KERAS_ADAM_EPSILON,
        "bias_lr_factor": config.optimizer.bias_lr_factor,
        "warmup_epochs": config.schedule.warmup_epochs,
        "epochs": config.schedule.epochs,
        "batch_size": config.runtime.batch_size,
        "label_smoothing": config.loss.label_smoothing,
        "ema": averaging.ema,
        "swa_start": averaging.swa_start if averaging.swa else None,
        "swa_freq": averaging.swa_freq,
        "horizontal_flip": augmentation.horizontal_flip,
        "height_shift_range": augmentation.height_shift_range,
        "width_shift_range": augmentation.width_shift_range,
        "tta": config.evaluation.tta,
        "tta_shifts": config.evaluation.tta_shifts,
        "bfloat16": config.runtime.precision == "mixed_bfloat16",
        "val_size": config.data.val_size,
        "split_seed": config.data.split_seed,
        "limit_train": config.data.limit_train,
        "seed": config.runtime.seed,
    }


def run_project(config: ExperimentConfig) -> dict:
    """Trains `config` as `train.py` does, in this process; returns its run record."""
    from training.experiment import run_experiment

    record = run_experiment(config, verbose=2).record.to_json()
    prune_outputs(record["run_name"])  # the table reads the record alone
    return record


def run_pytorch(recipe: dict) -> dict:
    """Trains `recipe` with `benchmarks/peer_torch.py` in a process of its own; returns its
    result. The dataset's files are checked (and fetched when missing) here, so that process
    only reads them."""
    ensure_files()
    with tempfile.TemporaryDirectory(prefix="peer-") as folder:
        recipe_path, result_path = Path(folder) / "recipe.json", Path(folder) / "result.json"
        recipe_path.write_text(json.dumps(recipe))
        command = [sys.executable, "-c", RUN_BY_PATH, str(PEER_TORCH),
                   "--recipe", str(recipe_path), "--out", str(result_path)]
        completed = subprocess.run(command, cwd=paths.REPO_ROOT)
        if completed.returncode != 0:
            raise RuntimeError(f"The PyTorch side failed with exit code {completed.returncode} "
                               "(its error is printed above).")
        return json.loads(result_path.read_text())


def seconds_to_val(history: dict) -> dict:
    """Seconds until each of `TARGETS` was first reached (`race.seconds_to_target`), or None."""
    return {str(target): seconds_to_target(history, target) for target in TARGETS}


def project_side(record: dict) -> dict:
    """The project's side of the record, from its run record."""
    packages = record["system"]["packages"]
    return {
        "framework": f"TensorFlow {packages.get('tensorflow')}, Keras {packages.get('keras')}",
        "run_name": record["run_name"],
        "params": record["params"],
        "train_images": record["train_images"],
        "epochs": record["epochs_run"],
        "history": {epoch: {"seconds": logs["seconds"], "val_accuracy": logs.get("val_accuracy")}
                    for epoch, logs in record["history"].items()},
        "train_seconds": record["train_seconds"],
        "images_per_second": record["images_per_second"],
        "seconds_to_val": seconds_to_val(record["history"]),
        "val_accuracy": selected_val_accuracy(record),
        "selected_weights": record["selected_weights"],
        "selected_tta": record.get("selected_tta", False),
        "test_accuracy": record["test_accuracy"],
        "machine": record_machine(record),
        "load": record.get("load"),
    }


def pytorch_side(result: dict) -> dict:
    """The PyTorch side of the record: its result, with the seconds to each target."""
    return {**result, "seconds_to_val": seconds_to_val(result["history"])}


def comparison(project: dict | None, pytorch: dict) -> dict:
    """Whether the two sides' times compare (one machine, neither sharing its cores) and, where
    they do, the project's seconds to each target both reached as a share of PyTorch's (below
    1: the project was faster)."""
    if project is None:
        return {"timing_comparable": False, "shares_of_pytorch_seconds": {},
                "timing_note": "the project side was not run (--skip-project)"}
    machines = sorted({str(project["machine"]), str(pytorch["machine"])})
    sides = {"the project": project, "PyTorch": pytorch}
    shared = [name for name, side in sides.items() if (side["load"] or {}).get("alone") is False]
    unmeasured = [name for name, side in sides.items() if (side["load"] or {}).get("alone") is None]
    if len(machines) > 1:
        note = f"the sides trained on different machines ({'; '.join(machines)})"
    elif shared:
        note = f"{' and '.join(shared)} shared the cores with other processes"
    else:
        note = f"one machine ({machines[0]})" + (
            f"; the load of {' and '.join(unmeasured)} was not measured" if unmeasured else "")
    comparable = len(machines) == 1 and not shared
    shares = {}
    for target, seconds in project["seconds_to_val"].items():
        reference = pytorch["seconds_to_val"][target]
        if comparable and seconds is not None and reference is not None:
            shares[target] = round(seconds / reference, 4)
    return {"timing_comparable": comparable, "timing_note": note,
            "shares_of_pytorch_seconds": shares}


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        config = peer_config(args)
        recipe = pytorch_recipe(config)
    except (KeyError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if importlib.util.find_spec("torch") is None:
        print("error: the PyTorch side needs PyTorch: pip install -r requirements-peer.txt "
              "(CPU wheels: see that file)", file=sys.stderr)
        return 2
    # One side after the other, never both at once: each has the cores to itself.
    project = None if args.skip_project else project_side(run_project(config))
    pytorch = pytorch_side(run_pytorch(recipe))
    record = base_record("benchmarks.peer", argv)
    record.update(
        preset=PRESET,
        smoke_run=config.data.limit_train is not None,
        targets=list(TARGETS),
        timing=TIMING,
        machine=cpu_facts(),
        recipe=recipe,
        project=project,
        pytorch=pytorch,
        **comparison(project, pytorch),
    )
    path = write_record((args.out or default_out_dir()) / RECORD_NAME, record)
    print_outcome(record)
    print(f"record: {path}")
    return 0


def print_outcome(record: dict) -> None:
    for name in ("project", "pytorch"):
        side = record[name]
        if side is None:
            continue
        reached = ", ".join(f"{target}: {'-' if seconds is None else f'{seconds:.0f} s'}"
                            for target, seconds in side["seconds_to_val"].items())
        print(f"{side['framework']}: {side['images_per_second']:,.0f} images/s, training "
              f"{side['train_seconds']:.0f} s, to validation {reached}; selected "
              f"{side['selected_weights']}{'+tta' if side['selected_tta'] else ''}, validation "
              f"{side['val_accuracy']:.4f}, test {side['test_accuracy']:.4f}")
    for target, share in record["shares_of_pytorch_seconds"].items():
        print(f"validation {target}: the project took {share:.2f}x PyTorch's training time")
    if not record["timing_comparable"]:
        print(f"times not compared: {record['timing_note']}")


if __name__ == "__main__":
    sys.exit(main())
