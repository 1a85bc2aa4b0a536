from pathlib import Path

import pytest

from reporting.sections import (
    GeneratedSection,
    replace_marked_section,
    section_markers,
    write_sections,
)

START, END = section_markers("runs")


def test_markers_are_html_comments_named_after_the_section():
    assert (START, END) == ("<!-- runs:start -->", "<!-- runs:end -->")


def test_only_the_text_between_the_markers_is_replaced():
    text = f"# Title\n\nProse.\n\n{START}\nold\n{END}\n\nMore prose.\n"
    assert replace_marked_section(text, "| new |", START, END) == (
        f"# Title\n\nProse.\n\n{START}\n| new |\n{END}\n\nMore prose.\n"
    )


def test_sections_are_rendered_for_their_files_with_links_from_the_files_folder(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "page.md").write_text(f"a\n{START}\n{END}\nb\n")
    (tmp_path / "README.md").write_text(f"{START}\n{END}\n")
    folders = []

    def render(folder):
        folders.append(folder)
        return f"rendered in {folder.name}"

    sections = [GeneratedSection(Path("docs/page.md"), "runs", render),
                GeneratedSection(Path("README.md"), "runs", render)]
    assert write_sections(sections, tmp_path) == [tmp_path / "docs" / "page.md",
                                                  tmp_path / "README.md"]
    assert folders == [tmp_path / "docs", tmp_path]
    page = (tmp_path / "docs" / "page.md").read_text()
    assert page == f"a\n{START}\nrendered in docs\n{END}\nb\n"


@pytest.mark.parametrize(
    "text, warned",
    [(None, False), ("no markers\n", False), (f"{END}\nkept\n{START}\n", True),
     (f"{START}\nkept\n", True), (f"{START}\n{END}\n{START}\n{END}\n", True)],
    ids=["no-file", "no-markers", "end-before-start", "start-only", "twice"],
)
def test_a_file_without_a_well_formed_section_is_left_alone(tmp_path, capsys, text, warned):
    page = tmp_path / "page.md"
    if text is not None:
        page.write_text(text)

    def render(folder):
        raise AssertionError("rendered for a file that cannot take it")

    assert write_sections([GeneratedSection(Path("page.md"), "runs", render)], tmp_path) == []
    assert (page.read_text() if text is not None else None) == text
    assert (str(page) in capsys.readouterr().err) == warned


def test_an_unchanged_section_is_not_rewritten(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(f"{START}\nsame\n{END}\n")
    before = page.stat().st_mtime_ns, page.stat().st_ino
    write_sections([GeneratedSection(Path("page.md"), "runs", lambda folder: "same")], tmp_path)
    assert (page.stat().st_mtime_ns, page.stat().st_ino) == before


def test_every_marked_section_of_the_readme_and_docs_is_one_report_py_writes():
    """A pair of markers that no code writes would hide hand-typed text from
    tests/test_docs_figures.py; a listed section without its markers would never be written."""
    import importlib
    import re
    from types import SimpleNamespace

    root = Path(__file__).resolve().parents[2]
    report = importlib.import_module("report")
    inputs = SimpleNamespace(records=[], predicted=None, ranked=[])
    listed = {(section.path.as_posix(), section.name) for section in report.generated_sections(
        root / "results", Path("README.md"), inputs, root / "images")}
    marked = {
        (path.relative_to(root).as_posix(), name)
        for path in (root / "README.md", *sorted((root / "docs").glob("*.md")))
        for name in re.findall(r"<!-- ([\w.-]+):start -->",
                               _without_code(path.read_text(encoding="utf-8")))
    }
    assert marked - listed == set(), "markers that report.py's generated_sections does not write"
    assert listed - marked == set(), "sections report.py lists whose markers are missing"


def _without_code(markdown: str) -> str:
    """`markdown` without fenced code and code spans, which may show markers as examples."""
    import re

    fenced = re.sub(r"^ {0,3}```.*?^ {0,3}```", "", markdown, flags=re.S | re.M)
    return re.sub(r"`[^`]+`", "", fenced)
