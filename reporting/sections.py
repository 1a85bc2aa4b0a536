"""Generated sections of markdown files.

The text between `<!-- NAME:start -->` and `<!-- NAME:end -->` in a README or a page of docs/
is written by code from the records; everything around it is prose, left as it is. A file
without the markers is left alone; one whose markers are malformed is named on stderr.
"""

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from outputs.io import atomic_write_text


def section_markers(name: str) -> tuple[str, str]:
    """The HTML comments that open and close the generated section `name`."""
    return f"<!-- {name}:start -->", f"<!-- {name}:end -->"


def replace_marked_section(
    text: str, content: str, start_marker: str, end_marker: str
) -> str | None:
    """`text` with the part between the markers replaced by `content`.

    None when the markers are not there exactly once each, start before end.
    """
    start, end = text.find(start_marker), text.find(end_marker)
    if text.count(start_marker) != 1 or text.count(end_marker) != 1 or end < start:
        return None
    return f"{text[:start + len(start_marker)]}\n{content}\n{text[end:]}"


def update_marked_section(path: Path, content: str, start_marker: str, end_marker: str) -> bool:
    """Writes `content` between the markers in `path` (atomically, only when it changes);
    False, leaving the file alone, when the markers are missing or malformed."""
    text = path.read_text(encoding="utf-8")
    updated = replace_marked_section(text, content, start_marker, end_marker)
    if updated is None:
        return False
    if updated != text:
        atomic_write_text(path, updated)
    return True


@dataclass(frozen=True)
class GeneratedSection:
    """A generated section of a markdown file and the function that writes its content.

    Args:
        path: the markdown file, relative to the documentation root (the README's folder).
        name: the section's name in its markers (see `section_markers`).
        render: the section's markdown, given the folder of the file (links are relative to it).
            Called only for a file that has the markers.

    Example:

    ```python
    section = GeneratedSection(Path("README.md"), "top-runs", lambda folder: "| ... |")
    write_sections([section], root=Path("."))
    ```
    """

    path: Path
    name: str
    render: Callable[[Path], str]


def write_sections(sections, root: Path) -> list[Path]:
    """Writes every section whose file exists under `root` and has the section's markers once
    each, in order; returns the files whose sections were written. A file with only one of the
    markers, or with them in the wrong order, is named on stderr and left alone."""
    written = []
    for section in sections:
        path = Path(root) / section.path
        if not path.exists():
            continue
        start, end = section_markers(section.name)
        text = path.read_text(encoding="utf-8")
        if replace_marked_section(text, "", start, end) is None:
            if start in text or end in text:
                print(f"warning: {path} was not changed: it needs {start} and {end} once each, "
                      "in that order", file=sys.stderr)
            continue
        update_marked_section(path, section.render(path.parent), start, end)
        if path not in written:
            written.append(path)
    return written
