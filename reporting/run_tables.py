"""Tables and sentences about chosen runs, for the README and docs/: the top of the leaderboard,
what the default run printed and took, and comparisons of named runs.

Every number comes from a record (`RESULTS_PATH/<run>/result.json`) read and checked by
`records.reader`; a run without a usable record is named in the text instead.
"""

import sys
from pathlib import Path

import pandas as pd

from records.machine import record_alone
from records.reader import (
    NUMBER,
    best_run,
    completed_run_problems,
    field_problems,
    from_clean_commit,
    is_combined,
    is_ensemble,
    rank_records,
    read_records,
    record_tags,
    runs_only,
    selected_val_accuracy,
)
from reporting.tables import (
    epochs_description,
    format_accuracy,
    format_duration,
    interval_description,
    machine,
    machines_sentence,
    markdown_link,
    markdown_table,
    model_description,
    relative_link,
    selected_description,
    weights_description,
)

TOP_RUNS = 5
# Read by the comparison tables beyond the fields every completed run has.
COMPARISON_FIELDS = {
    "train_images": int,
    "images_per_second": NUMBER,
    "config.precision": str,
    "config.input_size": (int, type(None)),
}
NATIVE_SIDE = 28


def record_link(record: dict, results_dir: Path, base_dir: Path, text: str | None = None) -> str:
    """A link to the run's result.json, relative to `base_dir`; the run name by default."""
    target = results_dir / record["run_name"] / "result.json"
    return markdown_link(text or record["run_name"], target, base_dir)


def tagged_runs(results_dir: Path, tag: str) -> list[dict]:
    """The completed runs tagged `tag` (`train.py --tag`) that hold every field the comparison
    tables read, best test accuracy first (a record with bad fields is named on stderr)."""
    records, _ = read_records(results_dir)
    found = []
    for record in records:
        if tag not in record_tags(record) or record["status"] != "completed":
            continue
        problems = completed_run_problems(record)
        problems += field_problems(record, COMPARISON_FIELDS, True)
        if problems:
            print(f"warning: skipped {results_dir / record['run_name'] / 'result.json'}: "
                  f"{'; '.join(problems)}", file=sys.stderr)
        else:
            found.append(record)
    return sorted(found, key=lambda record: (-record["test_accuracy"], record["run_name"]))


def top_runs_markdown(results_dir: Path, base_dir: Path, count: int = TOP_RUNS,
                      clean_only: bool = False) -> str:
    """The first `count` rows of the leaderboard, then the best run, chosen on validation; with
    `clean_only`, of the records of committed code alone (`records.reader.from_clean_commit`)."""
    records, _ = read_records(results_dir)
    left_out = ""
    if clean_only:
        by_name = {record["run_name"]: record for record in records}
        clean = [record for record in records if from_clean_commit(record, by_name)]
        left_out = clean_commits_note(len(records) - len(clean), relative_link(
            results_dir / "README.md", base_dir))
        records = clean
    ranked, _ = rank_records(records)
    if not runs_only(ranked):
        return "No completed full run yet: train one with `python train.py`."
    rows = [
        [
            model_description(record),
            "-" if is_combined(record) else epochs_description(record),
            "-" if is_combined(record) else format_duration(record["train_seconds"]),
            format_accuracy(selected_val_accuracy(record)),
            selected_description(record),
            interval_description(record["test_accuracy"]),
        ]
        for record in ranked[:count]
    ]
    columns = ("Model", "Epochs", "Training time", "Val acc (selected)", "Test acc (selected)",
               "95% CI")
    index = pd.Index([record_link(r, results_dir, base_dir) for r in ranked[:count]], name="Run")
    frame = pd.DataFrame(rows, columns=columns, index=index)
    best = best_run(runs_only(ranked))
    leaderboard = relative_link(results_dir / "README.md", base_dir)
    ensembles, combinations = sum(map(is_ensemble, ranked)), sum(map(is_combined, ranked))
    combinations -= ensembles
    repeats = len(repeated_runs(runs_only(ranked)))
    entries = f"{len(ranked) - ensembles - combinations} full runs" + (
        f" ({repeats} of them repeat{'s' if repeats == 1 else ''} an earlier run's accuracies "
        "and confusion matrix exactly)"
        if repeats else ""
    ) + (
        f" and {ensembles} ensemble{'s' if ensembles != 1 else ''}" if ensembles else ""
    ) + (
        f" and {combinations} combination{'s' if combinations != 1 else ''} with a specialist"
        if combinations else ""
    )
    return (
        f"{markdown_table(frame, right_aligned=columns[1:])}\n\n"
        f"The first {len(rows)} of {entries} by test accuracy, with its 95% interval on the "
        f"10,000 test images: two rows whose paired test finds no difference (p > 0.05) are "
        f"not different, whatever their order, and rows without predictions cannot be tested "
        f"([paired tests]({leaderboard}#paired-tests)). The best run, chosen on validation "
        f"accuracy and never on the test set, is {record_link(best, results_dir, base_dir)} "
        f"({weights_description(best)}: validation {selected_val_accuracy(best):.4f}, "
        f"test {best['test_accuracy']:.4f}). "
        f"Every run: [the leaderboard]({leaderboard}).{left_out}"
    )


def clean_commits_note(left_out: int, leaderboard: str) -> str:
    """' Only records of committed code are here: N records of runs on uncommitted changes are
    in the leaderboard.' (empty when none was left out)."""
    if not left_out:
        return ""
    return (f" Only records that trace to a commit are here: {left_out} record"
            f"{'s' if left_out != 1 else ''} of runs on uncommitted changes (or naming no "
            f"commit) are in [the leaderboard]({leaderboard}) alone.")


def repeated_runs(records: list[dict]) -> list[dict]:
    """The runs whose outcome, every accuracy they recorded and their confusion matrix, equals
    that of a run finished before them: a configuration trained again (a race or an ablation
    reusing a seed), which is one measurement, not two."""
    seen, repeats = set(), []
    for record in sorted(records, key=lambda record: (record.get("finished") or "",
                                                      record["run_name"])):
        outcome = (record["model"], repr(record.get("confusion_matrix")),
                   *sorted((key, value) for key, value in record.items()
                           if key.startswith(("val_accuracy", "test_accuracy"))))
        if outcome in seen:
            repeats.append(record)
        seen.add(outcome)
    return repeats


def default_run_markdown(results_dir: Path, base_dir: Path, seeds_tag: str,
                         precision_tag: str) -> str:
    """What `python train.py` printed and how long it took, over the runs tagged `seeds_tag`
    (the default's seeds), and what `--precision auto` picks, with the float32 and the
    mixed_bfloat16 run tagged `precision_tag`: their training times on the machine that ran
    both."""
    defaults = sorted(tagged_runs(results_dir, seeds_tag), key=lambda record: record["seed"])
    by_precision = {r["config"]["precision"]: r for r in tagged_runs(results_dir, precision_tag)}
    float32, bfloat16 = by_precision.get("float32"), by_precision.get("mixed_bfloat16")
    if not defaults or float32 is None or bfloat16 is None:
        return (f"No usable records tagged `{seeds_tag}` (the default's seeds) and "
                f"`{precision_tag}` (one float32 and one mixed_bfloat16 run) yet.")
    first, config = defaults[0], defaults[0]["config"]
    ratio = _seconds_per_epoch(float32) / _seconds_per_epoch(bfloat16)
    return (
        f"`python train.py` trains `{first['model']}` for {first['epochs_run']} epochs with the "
        f"`{config['lr_schedule']}` schedule{' and SWA' if config['swa'] else ''}, shows a "
        f"progress bar per epoch (a line per epoch when its output goes to a file), then prints "
        f"the validation and test accuracy of the weights chosen on validation and where it "
        f"wrote the record, the checkpoints and the TensorBoard logs. "
        f"{_seeds_sentence(defaults, results_dir, base_dir)}\n\n"
        f"`--precision auto` picks `mixed_bfloat16` on a CPU with bfloat16 instructions "
        f"(AVX512-BF16, AMX) and `float32` on one without them. "
        f"{_precision_pair(float32, bfloat16)} "
        f"({record_link(float32, results_dir, base_dir, 'float32')}, "
        f"{record_link(bfloat16, results_dir, base_dir, 'mixed_bfloat16')}): each epoch took "
        f"{ratio:.1f}x as long in `float32`."
    )


def _precision_pair(float32: dict, bfloat16: dict) -> str:
    """What the two runs trained, for how long, on which machine (or machines)."""
    what = f"{float32['epochs_run']} epochs of `{float32['model']}`"
    seconds = (f"{float32['train_seconds']:.0f} s in `float32` against "
               f"{bfloat16['train_seconds']:.0f} s in `mixed_bfloat16`")
    if machine(float32) == machine(bfloat16):
        return f"On {machine(float32)}, {what} took {seconds}"
    return (f"{what} took {seconds}, on two machines ({machine(float32)}; "
            f"{machine(bfloat16)})")


def _seeds_sentence(records: list[dict], results_dir: Path, base_dir: Path) -> str:
    """The recorded runs' hardware, times and printed test accuracies, one link per run."""
    first = records[0]
    machines = sorted({machine(record) for record in records})
    hardware = f"{'; '.join(machines)}; `{first['config']['precision']}`"
    accuracies = [record["test_accuracy"] for record in records]
    links = ", ".join(
        record_link(record, results_dir, base_dir, f"seed {record['seed']}") for record in records
    )
    if len(records) == 1:
        train, wall = [first["train_seconds"]], [first["wall_seconds"]]
        return (
            f"The recorded run ({hardware}) took {train[0]:.0f} s of training, {wall[0]:.0f} s "
            f"from start to record, and printed test accuracy **{accuracies[0]:.4f}** "
            f"({first['selected_weights']} weights; {links})."
        )
    timed = [record for record in records if record_alone(record) is not False]
    printed = (f"printed test accuracy **{sum(accuracies) / len(records):.4f}** on average, "
               f"{min(accuracies):.4f}-{max(accuracies):.4f} ({links})")
    if not timed:
        return (f"{len(records)} recorded runs with different seeds ({hardware}) shared the "
                f"cores with other processes, so their times measure nothing; they {printed}.")
    train = [record["train_seconds"] for record in timed]
    wall = [record["wall_seconds"] for record in timed]
    shared = len(records) - len(timed)
    return (
        f"{len(records)} recorded runs with different seeds ({hardware}) took "
        f"{min(train):.0f}-{max(train):.0f} s of training, {min(wall):.0f}-{max(wall):.0f} s "
        f"from start to record{f' ({shared} that shared the cores left out)' if shared else ''}"
        f", and {printed}."
    )


def _seconds_per_epoch(record: dict) -> float:
    return record["train_seconds"] / record["epochs_run"]


def comparison_table(results_dir: Path, base_dir: Path, tag: str) -> str:
    """One row per run tagged `tag`, best test accuracy first: what it trained, how long it
    took, how accurate it was."""
    rows, index, records = [], [], tagged_runs(results_dir, tag)
    for record in records:
        side = record["config"]["input_size"] or NATIVE_SIDE
        index.append(record_link(record, results_dir, base_dir))
        rows.append([
            record["model"],
            record["config"]["precision"],
            f"{side}x{side}",
            f"{record['epochs_run']} x {record['train_images']:,}",
            format_duration(record["train_seconds"]),
            f"{_seconds_per_epoch(record):.0f} s",
            f"{record['images_per_second']:,.0f}",
            format_accuracy(selected_val_accuracy(record)),
            selected_description(record),
        ])
    columns = ("Model", "Precision", "Input", "Epochs x images", "Training time", "Per epoch",
               "Images/s", "Val acc (selected)", "Test acc (selected)")
    if not rows:
        return f"No usable record tagged `{tag}` yet (`python train.py --tag {tag}`)."
    frame = pd.DataFrame(rows, index=pd.Index(index, name="Run"), columns=columns)
    named = [(f"`{record['run_name']}`", record) for record in records]
    return f"{markdown_table(frame, right_aligned=columns[4:])}\n\n{machines_sentence(named)}"
