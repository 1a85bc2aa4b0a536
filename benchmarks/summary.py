"""The README's benchmark tables, generated from the records under RESULTS_PATH/benchmarks.

python -m benchmarks.summary      # also part of `python report.py`
"""

import json
import sys
from pathlib import Path

import pandas as pd

import config
from evaluation.report import _link, markdown_table, update_readme_section

README_START = "<!-- benchmarks:start -->"
README_END = "<!-- benchmarks:end -->"
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
    "Of the assumed peak",
    "Record",
)


def _records(bench_dir: Path, pattern: str) -> list[tuple[Path, dict]]:
    """Records matching `pattern` in `bench_dir` and its subfolders (variants of a benchmark)."""

    def top_level_first(path: Path):
        parts = path.relative_to(bench_dir).parts
        return len(parts), parts

    paths = sorted(bench_dir.rglob(pattern), key=top_level_first)
    return [(path, json.loads(path.read_text())) for path in paths]


def _record_link(path: Path, bench_dir: Path, base_dir: Path) -> str:
    name = path.relative_to(bench_dir).with_suffix("").as_posix()
    return f"[{name}]({_link(path, base_dir)})"


def _augmentation(approach: str, result: dict) -> str:
    if approach.startswith("legacy"):
        return "ImageDataGenerator"
    # Records from before --augment-on existed augmented in the tf.data map.
    return "in train step" if result.get("augment_on") == "model" else "tf.data map"


def _ratio(rate: float, reference: dict | None) -> str:
    return f"{rate / reference['images_per_second']:.2f}x" if reference else "-"


def throughput_table(bench_dir: Path, base_dir: Path) -> str:
    rows, index = [], []
    for path, record in _records(bench_dir, "throughput-*.json"):
        approaches = record["approaches"]
        legacy = approaches.get("legacy")
        native = approaches.get("legacy_native")
        if native is None and legacy and tuple(legacy["input_shape"]) == NATIVE_SHAPE:
            native = legacy
        for name, result in approaches.items():
            rate = result["images_per_second"]
            utilisation = result.get("utilisation")
            index.append(record["model"])
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
                    _record_link(path, bench_dir, base_dir),
                ]
            )
    if not rows:
        return "No throughput record yet: run `python -m benchmarks.throughput --model simple-cnn`."
    frame = pd.DataFrame(rows, index=pd.Index(index, name="Model"), columns=THROUGHPUT_COLUMNS)
    return markdown_table(frame, right_aligned=THROUGHPUT_COLUMNS[4:9])


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


def update_readme(readme: Path, bench_dir: Path) -> bool:
    """Replaces the README's benchmarks section; False when it has no such markers."""
    tables = "\n\n".join(
        (
            throughput_table(bench_dir, readme.parent),
            time_to_accuracy_table(bench_dir, readme.parent),
        )
    )
    return update_readme_section(readme, tables, README_START, README_END)


def main() -> int:
    readme = config.REPO_ROOT / "README.md"
    if not update_readme(readme, config.RESULTS_PATH / "benchmarks"):
        print(f"error: {readme} has no {README_START} ... {README_END} section", file=sys.stderr)
        return 2
    print(f"wrote the benchmark tables into {readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
