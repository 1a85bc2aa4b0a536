"""The export records as text: a table per record (`serving.export` writes the records to
`RESULTS_PATH/exports/<run>.json`) and README.md's section of them."""

import sys
from pathlib import Path

from outputs.io import UnreadableFileError, read_json


def export_table(record: dict) -> str:
    """A markdown table of an export record: one row per format."""
    import pandas as pd

    from reporting.tables import markdown_table

    rows = {
        entry["format"]: {
            "runtime": entry["runtime"],
            "size": f"{entry['size_bytes'] / 1e6:.2f} MB",
            "test accuracy": f"{entry['test_accuracy']:.4f}",
            "same class as Keras": f"{entry['argmax_agreement']:.2%}",
            "1 image": f"{entry['latency_ms']['1']:.2f} ms",
            "batch of 256": f"{entry['latency_ms']['256']:.1f} ms",
        }
        for entry in record["formats"]
    }
    frame = pd.DataFrame.from_dict(rows, orient="index").rename_axis("format")
    right = ("size", "test accuracy", "same class as Keras", "1 image", "batch of 256")
    return markdown_table(frame, right_aligned=right)


EXPORTS_SECTION = "exports"  # the README section's name in its markers


def _of_classes(record: dict) -> str:
    """' of Shirt, Coat' for a specialist's export record, else ''."""
    return f" of {', '.join(record['classes'])}" if "classes" in record else ""


def exports_markdown(results_dir: Path, base_dir: Path) -> str:
    """A table per export record in `results_dir/exports/`, each under the command that wrote
    it; links are relative to the folder `base_dir`. A record that cannot be read or lacks a
    field is named on stderr and left out."""
    records = sorted((Path(results_dir) / "exports").glob("*.json"))
    if not records:
        return "No export record yet: `python export.py <run>` writes one."
    parts = []
    for path in records:
        try:
            parts.append(_export_part(read_json(path, "An export record"), path, base_dir))
        except UnreadableFileError as error:
            print(f"warning: skipped {path}: unreadable (it {error.problem})", file=sys.stderr)
        except (KeyError, TypeError) as error:
            print(f"warning: skipped {path}: a missing or malformed field "
                  f"({type(error).__name__}: {error})", file=sys.stderr)
    return "\n\n".join(parts)


def _export_part(record: dict, path: Path, base_dir: Path) -> str:
    from reporting.tables import markdown_link

    return (
        f"{markdown_link(record['run_name'], path, base_dir)} ({record['weights']} weights), "
        f"`{record['command']}`: {record['test_images']:,} test images"
        f"{_of_classes(record)}; latency on "
        f"{record['system']['cpu']}, median of {record['latency_repeats']} calls.\n\n"
        f"{export_table(record)}"
    )


def generated_sections(results_dir: Path) -> list:
    """The README section written from the export records (see `reporting.sections`)."""
    from functools import partial

    from reporting.sections import GeneratedSection

    return [
        GeneratedSection(Path("README.md"), EXPORTS_SECTION, partial(exports_markdown, results_dir))
    ]
