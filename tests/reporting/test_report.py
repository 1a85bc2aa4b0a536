import subprocess
import sys

import pytest

import config
from records.reader import record_problems, selected_val_accuracy
from reporting.leaderboard import README_END, README_START, main
from reporting.tables import leaderboard_frame
from tests.fake_records import fake_failed_record, fake_record, write_json


@pytest.fixture
def layout(tmp_path):
    """Run records of every kind under tmp_path/results, and where the report goes."""
    results = tmp_path / "results"
    # Ranked, best first: cnn-b (0.91), then cnn-c before cnn-a (same test, higher validation).
    write_json(results / "cnn-a" / "result.json", fake_record("cnn-a", [880] * 10, 0.89))
    write_json(results / "cnn-b" / "result.json",
               fake_record("cnn-b", [1000] + [900] * 9, 0.92))
    write_json(results / "cnn-c" / "result.json", fake_record("cnn-c", [880] * 10, 0.90))
    write_json(results / "smoke-run" / "result.json",
               fake_record("smoke-run", [990] * 10, 0.99, limit_train=1000))
    write_json(results / "failed-run" / "result.json", fake_failed_record("failed-run"))
    incomplete = fake_record("incomplete-run", [995] * 10, 0.995)
    del incomplete["test_accuracy"]
    write_json(results / "incomplete-run" / "result.json", incomplete)
    (results / "corrupt-run").mkdir()
    (results / "corrupt-run" / "result.json").write_text('{"run_name": "corrupt-run", "stat')
    write_json(results / "benchmarks" / "throughput.json", {"images_per_second": 1.0})
    write_json(results / "running-run" / "history.json", {})
    readme = tmp_path / "README.md"
    readme.write_text(
        f"# Project\n\nIntro.\n\n{README_START}\nstale table\n{README_END}\n\nMore.\n"
    )
    return {"results": results, "images": tmp_path / "images", "readme": readme}


def run_report(layout) -> int:
    return main(["--results", str(layout["results"]), "--images", str(layout["images"]),
                 "--readme", str(layout["readme"])])


def output_files(layout) -> dict:
    paths = [layout["results"] / "README.md", layout["readme"],
             *(layout["images"] / name for name in ("accuracies.png", "confusion.png",
                                                    "per-class.png"))]
    return {path: path.read_bytes() for path in paths}


def table_run_names(markdown: str) -> list[str]:
    """Run names in the first column of the first leaderboard table in `markdown`."""
    lines = markdown.splitlines()
    first_row = next(i for i, line in enumerate(lines) if line.startswith("| Run |")) + 2
    names = []
    for line in lines[first_row:]:
        if not line.startswith("|"):
            break
        names.append(line.split(" | ")[0].removeprefix("| "))
    return names


def test_ranks_completed_full_runs_best_first_and_lists_the_rest(layout):
    assert run_report(layout) == 0
    results_readme = (layout["results"] / "README.md").read_text()

    assert table_run_names(results_readme) == ["cnn-b", "cnn-c", "cnn-a"]
    not_ranked = results_readme.split("Not ranked:", 1)[1].split("##", 1)[0]
    assert "`failed-run`: failed: loss became NaN or infinite in epoch 2" in not_ranked
    assert "`smoke-run`: smoke run (--limit-train 1000)" in not_ranked
    best_row = next(line for line in results_readme.splitlines() if line.startswith("| cnn-b "))
    assert "| 0.9100 (swa) |" in best_row
    assert "Fixture GPU \\| 2" in best_row  # a pipe in a value must not split the cell
    assert "## Best run: `cnn-b`" in results_readme
    assert "| 0.9100 (swa) | 0.9042-0.9155 |" in best_row  # Wilson 95%, 9,100 of 10,000
    caption = results_readme.split("Sorted by", 1)[1].split("\n", 1)[0]
    assert "two rows whose paired test below has p > 0.05 are not different" in caption
    assert "better" not in caption.replace("does not make either better", "")


def test_unreadable_and_incomplete_records_are_named_on_stderr_and_skipped(layout, capsys):
    assert run_report(layout) == 0
    stderr = capsys.readouterr().err

    corrupt = layout["results"] / "corrupt-run" / "result.json"
    incomplete = layout["results"] / "incomplete-run" / "result.json"
    assert f"warning: skipped {corrupt}: unreadable" in stderr
    assert f"warning: skipped {incomplete}: missing key 'test_accuracy'" in stderr
    assert "benchmarks" not in stderr and "running-run" not in stderr
    results_readme = (layout["results"] / "README.md").read_text()
    for name in ("corrupt-run", "incomplete-run", "benchmarks", "running-run"):
        assert name not in results_readme


def test_records_nested_100000_deep_are_named_skipped_and_left_as_they_are(layout, capsys):
    from benchmarks import summary
    from reporting import exports
    from search.report import read_trial_config

    bomb = ("[" * 100_000 + "]" * 100_000).encode()
    results = layout["results"]
    crafted = [results / "crafted-run" / "result.json", results / "exports" / "crafted.json",
               results / "benchmarks" / "matmul-peak.json",
               results / "study-trial0" / "result.json"]
    for path in crafted:
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(bomb)

    assert run_report(layout) == 0
    assert exports.exports_markdown(results, layout["readme"].parent) == ""
    assert summary.matmul_peak_sentence(results / "benchmarks", layout["readme"].parent) is None
    assert read_trial_config(results, "study", 0) == {}

    stderr = capsys.readouterr().err
    for path in crafted[:3]:
        assert f"warning: skipped {path}: unreadable (it nests values deeper than 32 levels)" in (
            stderr
        )
    assert all(path.read_bytes() == bomb for path in crafted)
    assert "crafted" not in (results / "README.md").read_text()


def test_best_run_classification_report_is_derived_from_its_confusion_matrix(layout):
    run_report(layout)
    results_readme = (layout["results"] / "README.md").read_text()

    # cnn-b: all T-shirts right, 900 of each other class right and 100 predicted as the next
    # class (ankle boots as T-shirt/top), so no T-shirt/top is predicted as Trouser.
    assert "| T-shirt/top | 0.9091 | 1.0000 | 0.9524 | 1000 |" in results_readme
    assert "| Trouser | 1.0000 | 0.9000 | 0.9474 | 1000 |" in results_readme
    assert "| Pullover | 0.9000 | 0.9000 | 0.9000 | 1000 |" in results_readme
    assert "| accuracy | - | - | 0.9100 | 10000 |" in results_readme
    for image in ("accuracies.png", "confusion.png"):
        assert (layout["images"] / image).read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
        assert f"](../images/{image})" in results_readme


def test_regenerating_from_the_same_records_writes_identical_bytes(layout):
    run_report(layout)
    first = output_files(layout)

    # The script entry point in a fresh process: no state shared with the first run.
    subprocess.run(
        [sys.executable, "report.py", "--results", str(layout["results"]),
         "--images", str(layout["images"]), "--readme", str(layout["readme"])],
        cwd=config.REPO_ROOT, check=True, capture_output=True,
    )
    assert output_files(layout) == first
    for name in ("accuracies.png", "confusion.png", "per-class.png"):
        assert b"Matplotlib" not in first[layout["images"] / name]


def test_replaces_only_the_readme_section_between_the_markers(layout):
    run_report(layout)
    readme = layout["readme"].read_text()

    before, rest = readme.split(README_START)
    section, after = rest.split(README_END)
    assert before == "# Project\n\nIntro.\n\n"
    assert after == "\n\nMore.\n"
    assert "stale table" not in section
    assert table_run_names(section) == ["cnn-b", "cnn-c", "cnn-a"]
    assert "](images/accuracies.png)" in section


@pytest.mark.parametrize(
    "text, warned",
    [("# Project\n\nNo leaderboard here.\n", False),
     (f"# Project\n\n{README_END}\nkept\n{README_START}\n", True),
     (f"# Project\n\n{README_START}\nkept\n", True)],
    ids=["no-markers", "end-before-start", "start-only"],
)
def test_readme_without_a_well_formed_section_is_left_alone(layout, capsys, text, warned):
    layout["readme"].write_text(text)
    run_report(layout)

    assert layout["readme"].read_text() == text
    assert (str(layout["readme"]) in capsys.readouterr().err) == warned


def test_without_ranked_runs_the_readme_says_so_and_no_figure_is_drawn(tmp_path):
    results = tmp_path / "results"
    write_json(results / "smoke" / "result.json",
               fake_record("smoke", [900] * 10, 0.9, limit_train=1000))
    images = tmp_path / "images"

    assert main(["--results", str(results), "--images", str(images),
                 "--readme", str(tmp_path / "README.md")]) == 0
    assert "No completed full run yet" in (results / "README.md").read_text()
    assert not images.exists()


def test_comparison_table_shows_failed_runs_without_test_accuracy():
    row = leaderboard_frame([fake_failed_record("failed-run")]).loc["failed-run"]
    assert (row["Test acc (final)"], row["Test acc (selected)"]) == ("-", "-")
    assert row["Val acc (best)"] == "0.1000"


def _set(path, value):
    """A change to a fake record: `path` is a dotted key, `value` the new value (DELETE removes)."""

    def change(record):
        *parents, key = path.split(".")
        container = record
        for parent in parents:
            container = container[parent]
        if value is DELETE:
            del container[key]
        else:
            container[key] = value

    return change


DELETE = object()
# The bad records seen in result.json files, and the reason the report gives for skipping each.
BAD_RECORDS = {
    "lr-null": (_set("config.lr", None), "'config.lr' is null, expected int or float"),
    "string-lr": (_set("config.lr", "0.001"), "'config.lr' is str, expected int or float"),
    "null-history-entry": (_set("history.2", None), "'history.2' is null, expected dict"),
    "without-train-seconds": (_set("train_seconds", DELETE), "missing key 'train_seconds'"),
    "nan-test-accuracy": (_set("test_accuracy", float("nan")), "'test_accuracy' is NaN"),
    "string-val-accuracy": (
        _set("history.3.val_accuracy", "0.9"),
        "'history.3.val_accuracy' is str, expected int or float or null",
    ),
    "unknown-weights": (
        _set("selected_weights", "best"),
        "'selected_weights' is 'best', expected 'final', 'swa' or 'ema'",
    ),
    "short-confusion-matrix": (
        _set("confusion_matrix", [[1000] * 10] * 9), "'confusion_matrix' is not 10 rows of 10"
    ),
    "string-epochs": (_set("config.epochs", "3"), "'config.epochs' is str, expected int"),
    "null-hardware": (_set("system.hardware", None), "'system.hardware' is null, expected str"),
    "infinite-swa": (_set("test_accuracy_swa", float("inf")), "'test_accuracy_swa' is infinite"),
}


@pytest.mark.parametrize("kind", BAD_RECORDS)
def test_records_with_bad_fields_are_named_on_stderr_and_skipped(tmp_path, capsys, kind):
    change, reason = BAD_RECORDS[kind]
    results = tmp_path / "results"
    write_json(results / "good-run" / "result.json", fake_record("good-run", [900] * 10, 0.9))
    bad = fake_record(f"seed-{kind}", [950] * 10, 0.95)
    change(bad)
    write_json(results / f"seed-{kind}" / "result.json", bad)

    assert main(["--results", str(results), "--images", str(tmp_path / "images"),
                 "--readme", str(tmp_path / "README.md")]) == 0
    assert f"warning: skipped {results / f'seed-{kind}' / 'result.json'}: {reason}" in (
        capsys.readouterr().err
    )
    results_readme = (results / "README.md").read_text()
    assert table_run_names(results_readme) == ["good-run"] and f"seed-{kind}" not in results_readme


@pytest.mark.parametrize(
    "record, reason",
    [
        (fake_record("smoke", [900] * 10, 0.9, limit_train=100, config=None),
         "'config' is null, expected dict"),
        (fake_failed_record("failed") | {"error": {"epoch": 2}}, "'error' is dict, expected str"),
        (fake_record("no-status", [900] * 10, 0.9, status=None), "'status' is null, expected str"),
    ],
    ids=["smoke-without-config", "failed-error-not-text", "null-status"],
)
def test_unranked_records_are_checked_for_the_fields_the_report_reads(record, reason):
    assert record_problems(record) == [reason]


def test_the_best_run_is_chosen_on_validation_accuracy_not_on_the_test_set(tmp_path):
    results = tmp_path / "results"
    # Higher test accuracy, but its selected (SWA) weights are worse on validation.
    write_json(results / "test-best" / "result.json",
               fake_record("test-best", [920] * 10, 0.95, val_accuracy_swa=0.90))
    write_json(results / "val-best" / "result.json",
               fake_record("val-best", [1000] + [900] * 9, 0.93))
    assert main(["--results", str(results), "--images", str(tmp_path / "images"),
                 "--readme", str(tmp_path / "README.md")]) == 0

    results_readme = (results / "README.md").read_text()
    assert table_run_names(results_readme) == ["test-best", "val-best"]  # sorted by test
    assert "## Best run: `val-best`" in results_readme
    assert "Chosen by validation accuracy (0.9300, swa weights)" in results_readme
    assert "| T-shirt/top | 0.9091 | 1.0000 | 0.9524 | 1000 |" in results_readme  # val-best's
    assert "never on the test set" in results_readme
    best_row = next(line for line in results_readme.splitlines() if line.startswith("| test-best"))
    assert "| 0.9500 | 0.9000 |" in best_row  # Val acc (best), Val acc (selected)


def test_the_selected_weights_validation_accuracy_falls_back_to_the_best_epoch():
    record = fake_record("old-record", [900] * 10, 0.91, selected_weights="final")
    assert selected_val_accuracy(record) == pytest.approx(0.908)
    del record["val_accuracy_final"]
    assert selected_val_accuracy(record) == 0.91
