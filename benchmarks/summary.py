"""The benchmark tables of docs/benchmarks.md and the model table of docs/models.md, generated
from the records under RESULTS_PATH/benchmarks (and, for parameter counts, the model registry).

python -m benchmarks.summary      # also part of `python report.py`
"""

import sys
from functools import partial
from pathlib import Path

import pandas as pd

import config
from outputs.io import UnreadableFileError, read_json
from records.machine import share_of_peak
from reporting.sections import GeneratedSection, write_sections
from reporting.tables import (
    machine,
    machines_sentence,
    markdown_link,
    markdown_table,
    relative_link,
)

BENCHMARKS_PAGE = Path("docs") / "benchmarks.md"  # relative to the repository root
MODELS_PAGE = Path("docs") / "models.md"
BENCHMARKS = "benchmarks"  # names of the pages' generated sections
MODELS = "models"
RACE = "race"
ABLATION = "ablation"
PROFILE = "profile"
PEER = "peer"
FAMILIES = "families"
LEVERS = "levers"
NATIVE_SHAPE = (28, 28, 1)
APPROACH_NAMES = {
    "project": "this project",
    "project_float32": "this project",
    "legacy": "old: ImageDataGenerator, float64",
    "legacy_native": "old: ImageDataGenerator, float64",
}
THROUGHPUT_COLUMNS = (
    "Approach",
    "Augmentation",
    "Precision",
    "Input",
    "Images/s",
    "vs old (as it was)",
    "vs old at 28x28x1",
    "GFLOP/s",
    "Of the measured peak",
    "Machine",
    "Record",
)


def _records(bench_dir: Path, pattern: str) -> list[tuple[Path, dict]]:
    """Records matching `pattern` in `bench_dir` and its subfolders (variants of a benchmark)."""

    def top_level_first(path: Path):
        parts = path.relative_to(bench_dir).parts
        return len(parts), parts

    paths = sorted(bench_dir.rglob(pattern), key=top_level_first)
    return [(path, record) for path in paths if (record := _read(path)) is not None]


def _read(path: Path) -> dict | None:
    """The benchmark record in `path`, or None, named on stderr, when it cannot be read."""
    try:
        return read_json(path, "A benchmark record")
    except UnreadableFileError as error:
        print(f"warning: skipped {path}: unreadable (it {error.problem})", file=sys.stderr)
        return None


def _record_link(path: Path, bench_dir: Path, base_dir: Path) -> str:
    return markdown_link(path.relative_to(bench_dir).with_suffix("").as_posix(), path, base_dir)


def _augmentation(approach: str, result: dict) -> str:
    if approach.startswith("legacy"):
        return "ImageDataGenerator"
    # Records from before --augment-on existed augmented in the tf.data map.
    return "in train step" if result.get("augment_on") == "model" else "tf.data map"


def _ratio(rate: float, reference: dict | None) -> str:
    return f"{rate / reference['images_per_second']:.2f}x" if reference else "-"


def machine_name(record: dict) -> str:
    """The machine a benchmark record ran on (`reporting.tables.machine`); records from before
    CPU families were recorded say so, since two generations share the name."""
    name = machine(record)
    return name if "family" in name else f"{name} (family not recorded)"


def measured_peaks(bench_dir: Path) -> dict[str, dict]:
    """The matmul-peak records' measured GFLOP/s per dtype, by the machine they ran on."""
    peaks = {}
    for _, record in _records(bench_dir, "matmul-peak*.json"):
        rates = {dtype: result["best_gflops"] for dtype, result in record["dtypes"].items()}
        peaks[machine_name(record)] = {"gflops": rates}
    return peaks


def share_of_measured_peak(gflops: float | None, precision: str, record: dict,
                           peaks: dict[str, dict]) -> float | None:
    """`gflops` against the peak measured on the record's own machine (its `system.peak`, or a
    matmul-peak record of the same machine), for the precision's dtype; None where that
    machine's peak was never measured: a share of another machine's peak means nothing."""
    peak = (record.get("system") or {}).get("peak") or peaks.get(machine_name(record))
    dtype = "bfloat16" if "bfloat16" in precision else "float32"
    return share_of_peak(gflops, peak, dtype)


def throughput_table(bench_dir: Path, base_dir: Path) -> str:
    rows, index = [], []
    peaks = measured_peaks(bench_dir)
    for path, record in _records(bench_dir, "throughput-*.json"):
        approaches = record["approaches"]
        legacy = approaches.get("legacy")
        native = approaches.get("legacy_native")
        if native is None and legacy and tuple(legacy["input_shape"]) == NATIVE_SHAPE:
            native = legacy
        for name, result in approaches.items():
            rate = result["images_per_second"]
            utilisation = share_of_measured_peak(result.get("achieved_gflops"),
                                                 result["precision"], record, peaks)
            variant = record.get("variant")
            index.append(record["model"] + (f" ({variant})" if variant else ""))
            rows.append(
                [
                    APPROACH_NAMES.get(name, name),
                    _augmentation(name, result),
                    result["precision"],
                    "x".join(map(str, result["input_shape"])),
                    f"{rate:,.0f}",
                    _ratio(rate, legacy),
                    _ratio(rate, native),
                    f"{result['achieved_gflops']:.0f}",
                    "-" if utilisation is None else f"{utilisation:.0%}",
                    machine_name(record) + _shared_mark(result),
                    _record_link(path, bench_dir, base_dir),
                ]
            )
    if not rows:
        return "No throughput record yet: run `python -m benchmarks.throughput --model simple-cnn`."
    frame = pd.DataFrame(rows, index=pd.Index(index, name="Model"), columns=THROUGHPUT_COLUMNS)
    return markdown_table(frame, right_aligned=THROUGHPUT_COLUMNS[4:9])


def _shared_mark(result: dict) -> str:
    """', shared' for a measurement taken while other processes used the cores."""
    return ", shared" if (result.get("load") or {}).get("alone") is False else ""


def time_to_accuracy_table(bench_dir: Path, base_dir: Path) -> str:
    rows, index = [], []
    for path, record in _records(bench_dir, "time-to-accuracy-*.json"):
        settings = record["config"]
        reached = record["reached"]
        index.append(record["model"])
        rows.append(
            [
                f"{settings['optimizer']} {settings['lr']:g}, {settings['lr_schedule']}",
                settings["precision"],
                f"{record['target_val_accuracy']:.2f}",
                f"{record['train_seconds_to_target']:.1f} s" if reached else "not reached",
                f"{record['wall_seconds_to_target']:.1f} s" if reached else "-",
                f"{record['epochs_to_target']:.2f}" if reached else "-",
                f"{record['best_val_accuracy']:.4f}",
                f"{record['train_images_per_second']:,.0f}",
                _record_link(path, bench_dir, base_dir),
            ]
        )
    if not rows:
        return "No time-to-accuracy record yet."
    columns = (
        "Optimizer, schedule",
        "Precision",
        "Target val accuracy",
        "Training time to target",
        "With evaluations",
        "Epochs",
        "Best val accuracy",
        "Train images/s",
        "Record",
    )
    frame = pd.DataFrame(rows, index=pd.Index(index, name="Model"), columns=columns)
    return markdown_table(frame, right_aligned=columns[2:8])


def matmul_peak_sentence(bench_dir: Path, base_dir: Path) -> str | None:
    """What large matrix products reach on the machine of each matmul-peak record: the measured
    peak that the table's shares are of; None without a record."""
    sentences = []
    for path, record in _records(bench_dir, "matmul-peak*.json"):
        rates = [f"{result['best_gflops']:.0f} GFLOP/s in {dtype}"
                 for dtype, result in record["dtypes"].items()]
        sentences.append(
            f"On {machine_name(record)}, large matrix products (`{record['command']}`) run at "
            f"{' and '.join(rates)} ({markdown_link('record', path, base_dir)})."
        )
    if not sentences:
        return None
    return (" ".join(sentences) + " That is the measured peak the table's shares are of, for "
            "rows of the same machine only; a row of a machine whose peak was not measured has "
            "none. A model's rate near the products' is as fast as that machine's kernels go.")


def records_machines(bench_dir: Path, pattern: str) -> str | None:
    """Which machine measured each record matching `pattern` (None without one): a table's
    times and rates compare only within one machine."""
    records = _records(bench_dir, pattern)
    if not records:
        return None
    named = [(f"`{path.relative_to(bench_dir).with_suffix('').as_posix()}`", record)
             for path, record in records]
    return machines_sentence(named, verb="Measured")


def benchmark_tables_markdown(bench_dir: Path, base_dir: Path) -> str:
    """The throughput table and its machines, the measured matmul peak, then the
    time-to-accuracy table and its machines."""
    tables = (throughput_table(bench_dir, base_dir),
              records_machines(bench_dir, "throughput-*.json"),
              matmul_peak_sentence(bench_dir, base_dir),
              time_to_accuracy_table(bench_dir, base_dir),
              records_machines(bench_dir, "time-to-accuracy-*.json"))
    return "\n\n".join(table for table in tables if table)


def _spread_cell(summary: dict, digits: int, unit: str = "") -> str:
    """`mean (min-max)`, or the one value of a single run."""
    mean, low, high = (f"{summary[key]:.{digits}f}{unit}" for key in ("mean", "min", "max"))
    return mean if low == high else f"{mean} ({low}-{high})"


def _reached_cell(summary: dict, runs: int) -> str:
    if "mean" in summary:
        return _spread_cell(summary, 0, " s")
    return f"{summary['reached']} of {runs} runs"


def _speedups(record: dict) -> str:
    """The contender's speed-ups to the validation targets that every run of both sides reached:
    '1.5x and 1.7x as fast to validation accuracy 0.92 and 0.93'."""
    if not record["speedup_to_val"]:
        return "not faster to any validation target"
    targets = _and([f"{float(target):.2f}" for target in record["speedup_to_val"]])
    return f"{_listed_ratios(record)} as fast to validation accuracy {targets}"


def race_markdown(bench_dir: Path, base_dir: Path) -> str:
    """Each race record (`benchmarks.race`): the previous default and the default, side by side,
    then the speed-up to each validation target that both reached in every run."""
    races = _records(bench_dir, "race-*.json")
    if not races:
        return "No race record yet: run `python -m benchmarks.race --seeds 5`."
    parts = []
    for path, record in races:
        rows, index = [], []
        for side in ("baseline", "default"):
            summary = record[side]
            runs = len(summary["runs"])
            index.append(f"{_race_label(summary, side)}: {summary['model']}")
            rows.append([
                str(runs),
                _spread_cell(summary["test_accuracy"], 4),
                _spread_cell(summary["train_seconds"], 0, " s"),
                *(_reached_cell(summary["seconds_to_val"][str(target)], runs)
                  for target in record["targets"]),
            ])
        columns = ("Runs", "Test acc", "Training time",
                   *(f"To val {target:.2f}" for target in record["targets"]))
        frame = pd.DataFrame(rows, index=pd.Index(index, name="Configuration"), columns=columns)
        parts.append(
            f"{markdown_table(frame, right_aligned=columns)}\n\n"
            f"Trained one after the other on {race_machine(record)}, with "
            f"`{record['command']}` ({_record_link(path, bench_dir, base_dir)}); means with the "
            f"range over seeds in brackets. {_race_subject(record['default'])} was "
            f"{_speedups(record)}. {race_verdict(record)}"
        )
    return "\n\n".join(parts)


def race_machine(record: dict) -> str:
    """The machine the race's runs trained on, as their records name it."""
    return runs_machine([run for side in ("default", "baseline") for run in record[side]["runs"]],
                        record)


def runs_machine(runs: list[dict], record: dict) -> str:
    """The machine `runs` (summaries with `machine`) trained on; where they name none, the
    machine that wrote `record`."""
    machines = {run.get("machine") for run in runs}
    if len(machines) == 1 and None not in machines:
        return machines.pop()
    if len(machines) > 1:
        return "several machines (" + "; ".join(sorted(map(str, machines))) + ")"
    return record["system"].get("hardware", "one machine")


def race_verdict(record: dict) -> str:
    """The race's outcome by its rule (`benchmarks.race.verdict`: validation decides, the test
    set is reported only), and a warning where its times do not compare."""
    parts = []
    if not record.get("timing_comparable", True):
        parts.append(f"Its times are not compared: {record['timing_note']}.")
    outcome = record.get("verdict")
    if outcome is None:
        return " ".join(parts)
    side = "default" if outcome["winner"] == "contender" else "baseline"
    winner = _race_label(record[side], side)
    how = {"better": "better on validation beyond the seeds' spread",
           "worse": "worse on validation beyond the seeds' spread",
           "tie": "tied with the baseline on validation (within the seeds' spread)"}
    parts.append(
        f"Decided on validation: the contender was {how[outcome['accuracy']]} "
        f"({outcome['val_accuracy_gain']:+.4f} against a spread of "
        f"{outcome['val_accuracy_noise']:.4f})"
        + ("" if outcome["accuracy"] != "tie" else
           f" and {'faster' if outcome['faster'] else 'not faster'} to validation "
           f"{outcome['decided_on_target']}")
        + f", so {winner} wins; test accuracy is reported, never used to choose.")
    return " ".join(parts)


def _race_subject(summary: dict) -> str:
    return f"Preset `{summary['preset']}`" if "preset" in summary else "The default"


def _race_label(summary: dict, side: str) -> str:
    """A race side by its preset, or, in records that name none, as the default and the
    previous default."""
    if "preset" in summary:
        return f"preset `{summary['preset']}`"
    return "previous default" if side == "baseline" else "default"


def race_sentence(bench_dir: Path, base_dir: Path) -> str:
    """One sentence for the README: the newest race's outcome."""
    races = _records(bench_dir, "race-*.json")
    if not races:
        return "No race record yet: run `python -m benchmarks.race --seeds 5`."
    path, record = max(races, key=lambda race: race[1]["date"])
    default, baseline = record["default"], record["baseline"]
    how = (
        f"trained one after the other on the same machine by `{record['command']}` "
        f"({race_machine(record)})"
    )
    link = f"([race record]({relative_link(path, base_dir)}))"
    if "preset" not in default:  # records from before races named their presets
        return (
            f"Against the previous default (`{baseline['model']}`, test accuracy "
            f"{baseline['test_accuracy']['mean']:.4f} in {baseline['train_seconds']['mean']:.0f} s "
            f"of training), {how}, the default's {len(default['runs'])} seeds were "
            f"{_speedups(record)} {link}."
        )
    if not record["speedup_to_val"]:
        return (
            f"Preset `{default['preset']}` ({_race_side(default)}) against preset "
            f"`{baseline['preset']}` ({_race_side(baseline)}): no validation target was reached "
            f"in every run of both; {how} {link}."
        )
    return (
        f"Preset `{default['preset']}` ({_race_side(default)}) reached validation accuracy "
        f"{_listed(record, default)}, against {_listed(record, baseline, units=False)} for "
        f"preset `{baseline['preset']}` ({_race_side(baseline)}): "
        f"{_listed_ratios(record)} as fast; {how} {link}. {race_verdict(record)}"
    ).strip()


def _listed(record: dict, summary: dict, units: bool = True) -> str:
    """'0.92, 0.93 and 0.94 after 57, 76 and 125 s of training on average' (the targets every
    run reached), or with `units=False` '74, 95 and 126 s'."""
    reached = [target for target in record["speedup_to_val"]]
    seconds = _and([f"{summary['seconds_to_val'][target]['mean']:.0f}" for target in reached])
    if not units:
        return f"{seconds} s"
    return f"{_and(reached)} after {seconds} s of training on average"


def _listed_ratios(record: dict) -> str:
    return _and([f"{ratio:.1f}x" for ratio in record["speedup_to_val"].values()])


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def _race_side(summary: dict) -> str:
    return (
        f"`{summary['model']}`, {len(summary['runs'])} seeds, test accuracy "
        f"{summary['test_accuracy']['mean']:.4f} in {summary['train_seconds']['mean']:.0f} s of "
        f"training"
    )


def _seconds_cell(summary: dict, runs: int) -> str:
    """The mean seconds to a target that every run reached, or how many of them did."""
    if "mean" in summary:
        return f"{summary['mean']:.0f} s"
    return f"{summary['reached']}/{runs} reached"


def _change_cell(step: dict) -> str:
    overrides = "; ".join(f"`{text}`" for text in step["overrides"])
    return f"{step['description']} ({overrides})" if overrides else step["description"]


def ablation_markdown(bench_dir: Path, base_dir: Path) -> str:
    """The newest ablation record (`benchmarks.ablation`): one row per step, its change, whether
    it was kept, the mean validation accuracy of the runs' selected weights that decided it, the
    seconds to each validation target, the test accuracy and the training time, then one sentence
    with the command and the hardware.

    Args:
        bench_dir: the folder of the benchmark records (`RESULTS_PATH/benchmarks`).
        base_dir: the folder of the page that shows the table; the record's link is relative to it.
    """
    ablations = _records(bench_dir, "ablation-*.json")
    if not ablations:
        return "No ablation record yet: run `python -m benchmarks.ablation --seeds 3`."
    path, record = max(ablations, key=lambda ablation: ablation[1]["date"])
    rows, index = [], []
    for step in record["steps"]:
        runs = len(step["runs"])
        test = step["test_accuracy"]
        index.append(f"{step['index']} {step['name']}")
        rows.append([
            _change_cell(step),
            _kept_cell(step),
            f"{step['mean_val_accuracy']:.4f}",
            *(_seconds_cell(step["seconds_to_val"][str(target)], runs)
              for target in record["targets"]),
            f"{test['mean']:.4f} ± {test['std']:.4f}",
            f"{step['train_seconds']['mean']:.0f} s",
        ])
    columns = ("Change", "Kept", "Mean val acc",
               *(f"To val {target:.2f}" for target in record["targets"]), "Test acc",
               "Training time")
    frame = pd.DataFrame(rows, index=pd.Index(index, name="Step"), columns=columns)
    kept = " ".join(f"`--set {text}`" for text in record["kept_configuration"])
    return (
        f"{markdown_table(frame, right_aligned=columns[2:])}\n\n"
        f"Trained step after step on "
        f"{runs_machine([run for step in record['steps'] for run in step['runs']], record)}, "
        f"with `{record['command']}` "
        f"({_record_link(path, bench_dir, base_dir)}); each row holds means over "
        f"{record['seeds']} seed(s) of `{record['model']}` (test accuracy: mean ± standard "
        f"deviation). Kept in the end: {kept or 'none of the changes, the default alone'}."
    )


def _kept_cell(step: dict) -> str:
    """'reference', or yes/no with the rule's reason: 'yes (better)', 'yes (free)', 'no (worse)',
    'no (tie)'."""
    if step["index"] == 0:
        return "reference"
    verdict = "yes" if step["kept"] else "no"
    decision = step.get("decision", "")
    reason = decision.split(":")[0] if ":" in decision.split("(")[0] else "tie"
    return f"{verdict} ({reason})" if decision else verdict


def _percent(share: float) -> str:
    return f"{share:.1%}"


def _profile_flops(record: dict, peaks: dict[str, dict]) -> str:
    """`, N GFLOP/s, P of the machine's measured bfloat16 peak` when the record has a FLOP rate
    (and its machine a measured peak)."""
    flops = record.get("flops") or {}
    if flops.get("achieved_gflops") is None:
        return ""
    text = f", {flops['achieved_gflops']:,.0f} GFLOP/s"
    precision = record.get("precision", "mixed_bfloat16")
    share = share_of_measured_peak(flops["achieved_gflops"], precision, record, peaks)
    if share is not None:
        dtype = "bfloat16" if "bfloat16" in precision else "float32"
        text += f", {share:.0%} of the machine's measured {dtype} peak"
    return text


def profile_markdown(bench_dir: Path, base_dir: Path) -> str:
    """The profile records (`benchmarks.profile_step`), newest first: per category of op, its
    self time per training step, its share of the step's wall time and of the summed op time,
    then the step time no op explains and the step itself; one sentence with the command, the
    hardware and the throughput.

    Args:
        bench_dir: the folder of the benchmark records (`RESULTS_PATH/benchmarks`).
        base_dir: the folder of the page that shows the table; the record's link is relative to it.
    """
    profiles = _records(bench_dir, "profile-*.json")
    if not profiles:
        return "No profile record yet: run `python -m benchmarks.profile_step --preset default`."
    parts = []
    peaks = measured_peaks(bench_dir)
    for path, record in sorted(profiles, key=lambda profile: profile[1]["date"], reverse=True):
        rows, index = [], []
        for entry in record["categories"].values():
            index.append(entry["label"])
            rows.append([
                f"{1000 * entry['seconds_per_step']:.1f}",
                _percent(entry["share_of_step"]),
                _percent(entry["share_of_op_time"]),
            ])
        index += ["Not in op time (Python, framework)", "Step (wall clock, profiled)"]
        rows += [
            [f"{1000 * record['unexplained_seconds_per_step']:.1f}",
             _percent(record["unexplained_share"]), "-"],
            [f"{1000 * record['wall_seconds_per_step']:.1f}", _percent(1.0), "-"],
        ]
        columns = ("ms per step", "Share of the step", "Share of op time")
        frame = pd.DataFrame(rows, index=pd.Index(index, name="Ops"), columns=columns)
        overlap = (
            f" Op times are summed over threads: on {record['cores']} cores ops run at once, so "
            "the shares add up past 100% and the time not in ops is negative."
            if record["op_seconds_per_step"] > record["wall_seconds_per_step"]
            else ""
        )
        changed = ", ".join(f"`{text}`" for text in record.get("overrides") or ())
        parts.append(
            f"{markdown_table(frame, right_aligned=columns)}\n\n"
            f"{record['profiled_steps']} steps of the `{record['preset']}` preset "
            f"{f'with {changed} ' if changed else ''}"
            f"(`{record['model']}`, {record['precision']}, batch {record['batch_size']}) "
            f"profiled after {record['warmup_steps']} warm-up steps on "
            f"{machine_name(record)}, with "
            f"`{record['command']}` ({_record_link(path, bench_dir, base_dir)}): "
            f"{1000 * record['wall_seconds_per_step']:.1f} ms per step under the profiler, "
            f"{record['images_per_second']:,.0f} images/s without it"
            f"{_profile_flops(record, peaks)}."
            f"{overlap}"
        )
    return "\n\n".join(parts)


def _peer_row(side: dict, targets: list[float]) -> list[str]:
    seconds = [side["seconds_to_val"][str(target)] for target in targets]
    return [
        f"{side['images_per_second']:,.0f}",
        f"{side['train_seconds']:.0f} s",
        *("not reached" if value is None else f"{value:.0f} s" for value in seconds),
        f"{side['selected_weights']}{' + TTA' if side['selected_tta'] else ''}",
        f"{side['val_accuracy']:.4f}",
        f"{side['test_accuracy']:.4f}",
    ]


def _peer_outcome(record: dict) -> str:
    """The project's training time to each target both sides reached, as a share of PyTorch's;
    or why the times are not compared."""
    shares = record["shares_of_pytorch_seconds"]
    if not record["timing_comparable"]:
        return f"Its times are not compared: {record['timing_note']}."
    if not shares:
        return "No validation target was reached by both sides."
    listed = _and([f"{share:.2f}x" for share in shares.values()])
    return (f"To validation accuracy {_and(list(shares))}, the project took {listed} the "
            "PyTorch reference's training time.")


def peer_markdown(bench_dir: Path, base_dir: Path) -> str:
    """The peer records (`benchmarks.peer`), newest first: the default preset trained by this
    project and by the PyTorch reference, side by side, then one sentence with the machine, the
    command and the project's share of PyTorch's time to each validation target.

    Args:
        bench_dir: the folder of the benchmark records (`RESULTS_PATH/benchmarks`).
        base_dir: the folder of the page that shows the table; the record's link is relative to it.
    """
    peers = _records(bench_dir, "peer-*.json")
    if not peers:
        return "No peer record yet: run `python -m benchmarks.peer`."
    parts = []
    for path, record in sorted(peers, key=lambda peer: peer[1]["date"], reverse=True):
        labels = {"project": f"this project, preset `{record['preset']}`",
                  "pytorch": "PyTorch reference"}
        sides = [(label, record[side]) for side, label in labels.items() if record[side]]
        columns = ("Framework", "Images/s", "Training time",
                   *(f"To val {target:.2f}" for target in record["targets"]),
                   "Selected", "Val acc", "Test acc")
        rows = [[side["framework"], *_peer_row(side, record["targets"])] for _, side in sides]
        index = pd.Index([label for label, _ in sides], name="Side")
        frame = pd.DataFrame(rows, index=index, columns=columns)
        how = "one after the other on" if len(sides) > 1 else "on"
        smoke = (" A smoke run (`--limit-train`): its figures say nothing of a full run."
                 if record.get("smoke_run") else "")
        parts.append(
            f"{markdown_table(frame, right_aligned=columns[1:-3] + columns[-2:])}\n\n"
            f"Trained {how} {record['machine']['key']}, with `{record['command']}` "
            f"({_record_link(path, bench_dir, base_dir)}); the times compare only on that "
            f"machine. {_peer_outcome(record)}{smoke}"
        )
    return "\n\n".join(parts)


def _family_side(side: dict | None) -> list[str]:
    if side is None:
        return ["-"] * 4
    shared = "" if (side.get("load") or {}).get("alone") else " (shared)"
    dtype = "bfloat16" if "bfloat16" in side["precision"] else "float32"
    return [
        f"`{side['preset']}`" if side.get("preset") else side["precision"],
        f"{side['images_per_second']:,.0f}{shared}",
        f"{side['achieved_gflops']:,.0f}",
        "-" if side["utilisation"] is None else f"{side['utilisation']:.0%} ({dtype})",
    ]


def families_markdown(bench_dir: Path, base_dir: Path) -> str:
    """The families record (`benchmarks.families`): per family, its training images/s, GFLOP/s
    and share of the machine's measured peak before the current recipe (the configuration of
    an earlier run) and on it, and the speed-up; one sentence with the command and machine."""
    path = bench_dir / "families-speed.json"
    record = _read(path) if path.exists() else None
    if record is None:
        return "No families record yet: run `python -m benchmarks.families`."
    rows, index = [], []
    for row in record["rows"]:
        index.append(row["model"])
        before = row["before"]
        rows.append([
            "-" if not row["before_run"] else f"`{row['before_run']}` ({before['precision']})",
            *_family_side(before)[1:],
            *_family_side(row["after"]),
            f"{row['speedup']:.2f}x" if "speedup" in row else "-",
            f"{row['after']['flops_per_image_train'] / 1e6:,.0f}",
        ])
    columns = ("Before: configuration of run", "Images/s before", "GFLOP/s before",
               "Share of peak before", "After: preset", "Images/s after", "GFLOP/s after",
               "Share of peak after", "Speed-up", "Training MFLOP per image")
    frame = pd.DataFrame(rows, index=pd.Index(index, name="Family"), columns=columns)
    shared = "" if record["alone"] else (
        " Rows marked shared had other processes on the cores: their speeds are not measurements."
    )
    return (
        f"{markdown_table(frame, right_aligned=columns[1:4] + columns[5:])}\n\n"
        f"Both sides of each row trained one after the other on {machine_name(record)}, with "
        f"`{record['command']}` ({_record_link(path, bench_dir, base_dir)}): "
        f"{record['windows']} windows of about {record['window_seconds']:g} s "
        f"after {record['warmup_steps']} warm-up steps, the median window kept; the share is of "
        f"that machine's measured matrix product peak in the side's dtype.{shared}"
    )


def _lever_share(row: dict, baseline: dict) -> str:
    """The lever's share of the peak, or why it has none comparable: a lever that changed the
    cores the process may use (pinned threads) was held against that smaller machine's peak."""
    if row.get("utilisation") is None:
        return "-"
    machine, usual = (row.get("peak") or {}).get("machine"), (baseline.get("peak") or {}).get(
        "machine")
    if machine != usual:
        return f"- (the process saw {machine})"
    return f"{row['utilisation']:.0%}"


def levers_markdown(bench_dir: Path, base_dir: Path) -> str:
    """Each levers record (`benchmarks.levers`): per lever, its images/s, its share of the
    machine's measured peak and its ratio to the preset as it is; one sentence per record with
    the command, the machine and the baseline's drift between its first and last timing."""
    records = _records(bench_dir, "levers-*.json")
    if not records:
        return "No levers record yet: run `python -m benchmarks.levers`."
    parts = []
    for path, record in records:
        rows, index = [], []
        for position, row in enumerate(record["rows"]):
            last = position == len(record["rows"]) - 1
            index.append(f"{row['lever']}{' (again)' if last else ''}")
            if row.get("images_per_second") is None:
                rows.append([row["description"], f"failed: {row.get('error', '-')}", "-", "-"])
                continue
            shared = "" if (row.get("load") or {}).get("alone") else " (shared)"
            rows.append([
                row["description"],
                f"{row['images_per_second']:,.0f}{shared}",
                _lever_share(row, record["rows"][0]),
                f"{row['against_baseline']:.2f}x",
            ])
        columns = ("Change", "Images/s", "Share of peak", "Against the baseline")
        frame = pd.DataFrame(rows, index=pd.Index(index, name="Lever"), columns=columns)
        parts.append(
            f"{markdown_table(frame, right_aligned=columns[1:])}\n\n"
            f"The `{record['preset']}` preset's training step with each lever, each in a process "
            f"of its own, one after the other on {machine_name(record)}, with "
            f"`{record['command']}` ({_record_link(path, bench_dir, base_dir)}); the share is of "
            "that machine's measured matrix product peak in the step's dtype; the baseline ran "
            f"first and last and drifted by {record['baseline_drift']:+.1%} between the two."
        )
    return "\n\n".join(parts)


def _train_flops_per_image(bench_dir: Path) -> dict[str, tuple[int, Path]]:
    """Per model, the training FLOPs per 28x28x1 image in its first throughput record."""
    flops = {}
    for path, record in _records(bench_dir, "throughput-*.json"):
        for result in record["approaches"].values():
            if tuple(result["input_shape"]) == NATIVE_SHAPE and "flops_per_image_train" in result:
                flops.setdefault(record["model"], (result["flops_per_image_train"], path))
    return flops


def models_table(bench_dir: Path, base_dir: Path) -> str:
    """Every registered model: its class, its parameters (`count_params()`, 28x28x1 input, 10
    classes) and, where a throughput record measured it, the FLOPs of a training step."""
    from models import build_model, list_models

    measured = _train_flops_per_image(bench_dir)
    rows = []
    for name in list_models():
        model = build_model(name)
        flops, path = measured.get(name, (None, None))
        rows.append([
            type(model).__name__,
            f"{model.count_params():,}",
            "-" if flops is None else f"{flops / 1e6:,.0f}",
            "-" if path is None else _record_link(path, bench_dir, base_dir),
        ])
    columns = ("Class", "Parameters", "Training MFLOP per image", "FLOPs record")
    frame = pd.DataFrame(rows, index=pd.Index(list_models(), name="Registry name"), columns=columns)
    return markdown_table(frame, right_aligned=columns[1:3])


def generated_sections(results_dir: Path) -> list[GeneratedSection]:
    """The sections of docs/benchmarks.md and docs/models.md that come from these records."""
    bench_dir = results_dir / "benchmarks"
    tables = partial(benchmark_tables_markdown, bench_dir)
    return [
        GeneratedSection(BENCHMARKS_PAGE, BENCHMARKS, tables),
        GeneratedSection(BENCHMARKS_PAGE, RACE, partial(race_markdown, bench_dir)),
        GeneratedSection(BENCHMARKS_PAGE, ABLATION, partial(ablation_markdown, bench_dir)),
        GeneratedSection(BENCHMARKS_PAGE, PROFILE, partial(profile_markdown, bench_dir)),
        GeneratedSection(BENCHMARKS_PAGE, PEER, partial(peer_markdown, bench_dir)),
        GeneratedSection(BENCHMARKS_PAGE, FAMILIES, partial(families_markdown, bench_dir)),
        GeneratedSection(BENCHMARKS_PAGE, LEVERS, partial(levers_markdown, bench_dir)),
        GeneratedSection(MODELS_PAGE, MODELS, partial(models_table, bench_dir)),
    ]


def main() -> int:
    written = write_sections(generated_sections(config.RESULTS_PATH), config.REPO_ROOT)
    if not written:
        print(f"error: neither {BENCHMARKS_PAGE} nor {MODELS_PAGE} has a generated section",
              file=sys.stderr)
        return 2
    for path in written:
        print(f"wrote the tables of {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
