"""No result figure is typed by hand into README.md or docs/*.md.

Accuracies, training times, speeds, speed ratios and shares of a peak go out of date the moment a
run is added or a machine changes, so they appear only between `<!-- NAME:start -->` and
`<!-- NAME:end -->`, where `python report.py` writes them from the records. This test blanks
those sections, fenced code, code spans and link targets (commands, flags, file names), and
looks for result figures in the prose that remains. Settings are not results: "15 epochs",
"8x the learning rate", "shifts of up to 10%", "95% interval", "10,000 test images" do not
match the patterns below; the few legitimate exceptions are in `ALLOWED`, each with its reason.
"""

import re
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
PAGES = (REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md")))

GENERATED = re.compile(r"<!-- (?P<name>[\w.-]+):start -->.*?<!-- (?P=name):end -->", re.S)
NOT_PROSE = (
    GENERATED,
    re.compile(r"^ {0,3}```.*?^ {0,3}```", re.S | re.M),  # fenced code
    re.compile(r"`[^`]+`"),  # code spans: commands, flags, run and preset names
    re.compile(r"(?<=\])\([^)\s]*\)"),  # link targets: record paths
    re.compile(r"<!--.*?-->", re.S),
)

_NUMBER = r"(?<![\w.,])\d[\d,]*(?:\.\d+)?"
_DURATION_UNIT = r"(?:ms|s|sec|seconds?|min|minutes?|h|hours?)"
# What makes a number a result, by kind. A number after "every", "budget of" or "decay" is a
# setting (a heartbeat, a time budget, a moving average's decay), not something a run measured.
RESULT_FIGURES = {
    "accuracy": r"(?<![\w.])(?<!decay )(?<!momentum )0\.[5-9]\d{2,}(?!\d)",
    "accuracy_difference": (
        r"(?:(?<![\w.])[+−-]|\bby |\bgap of (?:about )?)0\.0\d{2,}(?!\d)"
        r"|(?<![\w.])0\.0\d{2,}(?= gap)"
    ),
    "p_value": r"\bp = 0\.\d+",
    "duration": (
        r"\b\d+h\s\d+m\b|\b\d+m\s\d+s\b"
        rf"|(?<!every )(?<!budget of ){_NUMBER}(?:-{_NUMBER})?\s?{_DURATION_UNIT}\b"
    ),
    "speed": rf"{_NUMBER}\s?(?:images/s|img/s|[GMT]FLOP/s)",
    "speed_ratio": (
        r"(?<![\w.])\d+\.\d+x\b"
        r"|(?<![\w.])\d+x\s(?:as fast|faster|slower|as long|longer|the time|the throughput)"
    ),
    # A percentage is a result where a peak, an accuracy or a share of the test images is
    # named beside it in the same clause (see _is_result_share); "95% interval" never is.
    "share": r"(?<![\w.])\d+(?:\.\d+)?\s?%(?! (?:Wilson )?(?:interval|CI|confidence))",
}
FIGURE = re.compile(
    "|".join(f"(?P<{kind}>{pattern})" for kind, pattern in RESULT_FIGURES.items()), re.I
)
SHARE_BEFORE = re.compile(r"(?:peak|utilisation|accuracy)[^.;:]{0,40}$", re.I)
SHARE_AFTER = re.compile(r"^[^.;:]{0,60}\b(?:peak|accura|utilis|busy|test images)", re.I)


def _is_result_share(text: str, start: int, end: int) -> bool:
    return bool(SHARE_BEFORE.search(text[max(0, start - 40):start])
                or SHARE_AFTER.search(text[end:end + 80]))


# (page relative to the repository, the figure as found, why it may stay)
ALLOWED = (
    ("docs/usage.md", "3.29 Seconds",
     "the title of airbench's paper, a citation of another project's result"),
)


@dataclass(frozen=True)
class Figure:
    page: str
    line: int
    text: str
    kind: str

    def __str__(self):
        return f"{self.page}:{self.line}: {self.text!r} ({self.kind})"


def prose(text: str) -> str:
    """`text` with everything that is not hand-written prose replaced by spaces, newlines kept,
    so that offsets and line numbers are those of the file."""
    for pattern in NOT_PROSE:
        text = pattern.sub(lambda match: re.sub(r"[^\n]", " ", match.group()), text)
    return text


def result_figures(text: str, page: str = "page.md") -> list[Figure]:
    """The result figures in the prose of a markdown text, with their lines and kinds."""
    text = prose(text)
    found = []
    for match in FIGURE.finditer(text):
        kind = match.lastgroup
        if kind == "share" and not _is_result_share(text, match.start(), match.end()):
            continue
        found.append(Figure(page, text.count("\n", 0, match.start()) + 1,
                            re.sub(r"\s+", " ", match.group()), kind.replace("_", " ")))
    return found


def hand_typed_figures() -> list[Figure]:
    found = []
    for path in PAGES:
        page = path.relative_to(REPO_ROOT).as_posix()
        found += result_figures(path.read_text(encoding="utf-8"), page)
    return found


def _allowed(figure: Figure) -> bool:
    return any((figure.page, figure.text) == (page, text) for page, text, _ in ALLOWED)


def test_readme_and_docs_hold_no_hand_typed_result_figure():
    typed = [figure for figure in hand_typed_figures() if not _allowed(figure)]
    assert not typed, (
        f"{len(typed)} result figure(s) typed by hand outside the generated sections:\n"
        + "\n".join(f"  {figure}" for figure in typed)
        + "\nA figure typed by hand goes stale with the next run or machine. Fix: say it "
        "without the number and point to the generated table, or move it into a generated "
        "section (a render function in reporting/ or benchmarks/summary.py that writes the "
        "sentence from the records, a GeneratedSection in report.py's generated_sections, and "
        "`<!-- NAME:start -->`/`<!-- NAME:end -->` in the page), then run `python report.py`. "
        "A legitimate exception goes in ALLOWED in tests/test_docs_figures.py, with its reason."
    )


def test_every_allowed_figure_is_still_in_its_page():
    found = {(figure.page, figure.text) for figure in hand_typed_figures()}
    stale = [(page, text) for page, text, _ in ALLOWED if (page, text) not in found]
    assert not stale, f"ALLOWED entries that match nothing any more, remove them: {stale}"


@pytest.mark.parametrize(("sentence", "figure"), [
    ("The default reached 0.9440 on average.", "0.9440"),
    ("a test accuracy of 0.8912 in the original table", "0.8912"),
    ("raised the mean validation accuracy by 0.0029", "by 0.0029"),
    ("label smoothing 0.2 (-0.0033) was dropped", "-0.0033"),
    ("the greedy choice fits the validation split (a 0.0125 gap)", "0.0125"),
    ("from its best member (75 images against 52, p = 0.051)", "p = 0.051"),
    ("took 157-173 s of training", "157-173 s"),
    ("expect about 4 minutes of training", "4 minutes"),
    ("so their 17 minutes do not compare with these 9", "17 minutes"),
    ("the mean training time is 2m 45s", "2m 45s"),
    ("a study of 2h 53m", "2h 53m"),
    ("a target of 0.92 within 60 s", "60 s"),
    ("it trains at 5,696 images/s", "5,696 images/s"),
    ("they reach 330 and 248 GFLOP/s in bfloat16", "248 GFLOP/s"),
    ("each epoch takes about 1.3x as long", "1.3x"),
    ("4,722 against 3,313 in the profiles (1.44x)", "1.44x"),
    ("each of its epochs costs about 4x the time", "4x the time"),
    ("reaches 69.9% of the assumed\nbfloat16 peak", "69.9%"),
    ("against the measured peak the default model runs at 49%", "49%"),
    ("it asks the specialist about 98% of the test images", "98%"),
])
def test_a_result_figure_is_found_with_its_line(sentence, figure):
    text = f"# Page\n\n{sentence}\n"
    found = result_figures(text)
    assert [(item.line, item.text) for item in found][:1] == [(3, figure.replace("\n", " "))]


@pytest.mark.parametrize("sentence", [
    "a one-cycle schedule with 8x the learning rate for biases",
    "each test accuracy with its 95% interval and its 95% Wilson interval (95% CI)",
    "TTA over flips and 1-pixel shifts, shifts of up to 10% (3 pixels) each way",
    "`fast-cnn-small` for 15 epochs, batch size 128, 512 per GPU",
    "every trial within `--trial-budget 180`, a budget of 180 s of training each",
    "a heartbeat every 60 seconds",
    "the 10,000 test images, 5,000 validation images of the 60,000 training images",
    "SWA from 75% of the epochs; random erasing of 2-40% of the image",
    "an EMA of the weights (decay 0.999), a decoder weighted 0.0005",
    "a 3x3 stem at 28x28, 56x56x3 copies, 2x2 max-pool, 3x the forward pass",
    "a difference of 10 images is 0.001 of test accuracy; p > 0.05 is no difference",
    "validation accuracy 0.92, 0.93 and 0.94 as targets, `python train.py --epochs 3`",
    "the run `ablation-6-label-smoothing-0.2-seed0` [record](results/a-0.9440-2s/result.json)",
])
def test_a_setting_is_not_a_result_figure(sentence):
    assert result_figures(f"{sentence}\n") == []


def test_generated_sections_code_and_comments_are_not_read_and_lines_stay_exact():
    text = (
        "Prose.\n<!-- runs:start -->\n| run | 0.9440 | 157 s |\n<!-- runs:end -->\n"
        "```bash\npython train.py  # 9 minutes, 0.9509\n```\n"
        "<!-- a comment: 1.3x -->\nThen `0.9516` and, by hand, 0.9509.\n"
    )
    assert [(figure.line, figure.text) for figure in result_figures(text)] == [(9, "0.9509")]


def test_an_unclosed_section_does_not_hide_the_prose_after_it():
    text = "<!-- runs:start -->\n| 0.9440 |\nno end marker, then 0.9509 by hand\n"
    assert [figure.text for figure in result_figures(text)] == ["0.9440", "0.9509"]


def test_the_failure_names_the_page_the_line_the_figure_and_the_fix(monkeypatch, tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "README.md").write_text("# Lab\n\nIt reaches 0.9440 in 157 s.\n")
    module = sys.modules[__name__]
    monkeypatch.setattr(module, "REPO_ROOT", tmp_path)
    monkeypatch.setattr(module, "PAGES", (tmp_path / "README.md",))
    monkeypatch.setattr(module, "ALLOWED", ())
    with pytest.raises(AssertionError) as failure:
        test_readme_and_docs_hold_no_hand_typed_result_figure()
    message = str(failure.value)
    assert "README.md:3: '0.9440' (accuracy)" in message
    assert "README.md:3: '157 s' (duration)" in message
    assert "generated section" in message and "python report.py" in message
