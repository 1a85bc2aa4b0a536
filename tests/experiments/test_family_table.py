import pytest

import train
from experiments import family_report, family_table
from experiments.family_table import ROWS
from models import list_models
from reporting.sections import write_sections
from tests.fake_records import fake_record, write_json


@pytest.fixture
def results(tmp_path, monkeypatch):
    monkeypatch.setenv("RESULTS_PATH", str(tmp_path))
    return tmp_path


def budget_record(row, seed, correct, budget=600.0, epochs=4, val=0.93, **overrides):
    """A completed run of `row`'s preset with a time budget (every number is a fixture)."""
    record = fake_record(row.run_name(budget, seed), [correct] * 10, val, seed=seed,
                         model=row.model, epochs_run=epochs, preset_chain=[row.preset, "default"],
                         time_budget={"seconds": budget, "epochs": epochs}, **overrides)
    record["config"].update(seed=seed, preset=row.preset, epochs=epochs)
    return record


def test_every_family_is_a_recipe_preset_of_a_registered_model():
    assert len({row.model for row in ROWS}) == len(ROWS) == 7
    for row in ROWS:
        assert row.model in list_models()
        name = row.run_name(600.0, 2)
        assert name == f"{row.preset}-10m-seed2"
        argv = ["--preset", row.preset, "--time-budget", "10m", "--seed", "2", "--run-name", name]
        config, resume, _ = train.parse_config(argv)
        assert not resume and config.schedule.time_budget == 600 and config.runtime.seed == 2
        assert config.model.name == row.model


def test_the_dry_run_lists_every_seed_skips_done_runs_and_resumes_interrupted_ones(results,
                                                                                      capsys):
    wrn = family_table.get_rows(["wrn-16-4"])[0]
    write_json(results / wrn.run_name(600.0, 0) / "result.json", {"status": "completed"})
    write_json(results / wrn.run_name(600.0, 1) / "config.json", {})
    assert family_table.main(["--families", "wrn-16-4", "--seeds", "3", "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "done     wrn-16-4-recipe-10m-seed0",
        "to run   train.py --resume wrn-16-4-recipe-10m-seed1",
        "to run   train.py --preset wrn-16-4-recipe --time-budget 10m --seed 2 "
        "--run-name wrn-16-4-recipe-10m-seed2",
    ]


def test_a_failed_run_is_named_and_counted_not_trained_again(results, capsys):
    simple = family_table.get_rows(["simple-cnn"])[0]
    write_json(results / simple.run_name(3600.0, 0) / "result.json", {"status": "failed"})
    argv = ["--families", "simple-cnn", "--budget", "1h", "--seeds", "1", "--dry-run"]
    assert family_table.main(argv) == 1
    assert "failed   simple-cnn-recipe-1h-seed0: remove" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--budget", "ten"], "argument --budget: --budget must be a duration"),
        (["--seeds", "0"], "argument --seeds: must be >= 1"),
        (["--families", "resnet"], "argument --families: No row trains resnet"),
    ],
)
def test_bad_arguments_exit_2_naming_the_flag(argv, message, results, capsys):
    with pytest.raises(SystemExit) as stopped:
        family_table.main([*argv, "--dry-run"])
    assert stopped.value.code == 2
    assert message in capsys.readouterr().err
    assert not any(results.iterdir())


def test_the_equal_cost_table_gives_each_family_its_mean_and_interval(results):
    wrn, simple = family_table.get_rows(["wrn-16-4", "simple-cnn"])
    records = [budget_record(wrn, seed, correct, epochs=3 + seed % 2)
               for seed, correct in enumerate((930, 940, 935))]
    records += [budget_record(simple, 0, 920),  # one seed: a mean without an interval
                budget_record(simple, 1, 990, budget=1200.0),  # another budget: not here
                {**budget_record(wrn, 3, 990), "smoke_run": True}]  # a smoke run: left out
    table = family_report.equal_cost_markdown(records, results, results)
    lines = {line.split(" | ")[0].strip("| "): line for line in table.splitlines()}
    # 0.935 +- t(0.975, 2) * 0.005 / sqrt(3) = 0.935 +- 0.0124
    assert "| 0.9392 | 0.9350 ± 0.0124 | 3 | 1m 00s | 3-4 |" in lines["Wide ResNet 16-4 / Adam"]
    assert "| 0.9207 | 0.9200 | 1 |" in lines["Simple CNN / Adam"]
    assert "| - | not run yet |" in lines["fast-cnn"]
    assert "--time-budget 10m" in table


def test_the_original_rows_show_every_budget_and_whether_it_passes(results):
    wrn, mobilenet = family_table.get_rows(["wrn-16-4", "mobilenet-v2"])
    records = [budget_record(wrn, 0, 930, budget=1080.0), budget_record(wrn, 0, 945, 3600.0),
               budget_record(mobilenet, 0, 926, budget=1800.0)]
    table = family_report.original_rows_markdown(records)
    wrn_lines = [line for line in table.splitlines() if line.startswith("| Wide ResNet")]
    assert len(wrn_lines) == 2 and "| 18m |" in wrn_lines[0] and "| 1h |" in wrn_lines[1]
    assert wrn_lines[0].endswith("| below by 0.0092 |")
    assert wrn_lines[1].endswith("| passes by 0.0058 |")
    [mobilenet_line] = [line for line in table.splitlines() if line.startswith("| MobileNetV2")]
    assert mobilenet_line.endswith("within 0.003, needs 3 seeds |")
    assert "| CapsuleNet / Adam | 0.9465 | not run yet |" in table


def test_the_curves_figure_is_written_for_each_familys_longest_budget(results, tmp_path):
    wrn = family_table.get_rows(["wrn-16-4"])[0]
    records = [budget_record(wrn, 0, 930, budget=600.0), budget_record(wrn, 0, 945, 3600.0)]
    [(label, run)] = family_report.curve_runs(records)
    assert label == "Wide ResNet 16-4 / Adam, 1h" and run["time_budget"]["seconds"] == 3600.0
    images = tmp_path / "images"
    text = family_report.curves_markdown(records, images, tmp_path)
    assert (images / family_table.CURVES_FIGURE).read_bytes().startswith(b"\x89PNG")
    assert f"(images/{family_table.CURVES_FIGURE})" in text


def test_the_sections_are_written_into_the_docs_page(results, tmp_path):
    page = tmp_path / family_table.DOCS_PAGE
    page.parent.mkdir()
    page.write_text("".join(f"<!-- {name}:start -->\n<!-- {name}:end -->\n" for name in (
        family_table.EQUAL_COST, family_table.ORIGINAL_ROWS, family_table.CURVES)))
    wrn = family_table.get_rows(["wrn-16-4"])[0]
    sections = family_report.generated_sections([budget_record(wrn, 0, 945)], results,
                                                tmp_path / "images")
    assert write_sections(sections, tmp_path) == [page]
    text = page.read_text()
    assert "0.9450" in text and "passes by 0.0058" in text and "![Validation accuracy" in text


def test_epochs_shorter_than_a_pass_are_shown_with_the_passes_they_made():
    wrn = family_table.get_rows(["wrn-16-4"])[0]
    whole = [budget_record(wrn, seed, 930, epochs=4) for seed in range(2)]
    assert family_report.epochs_cell(whole) == "4"
    shorter = [budget_record(wrn, seed, 930, epochs=2) for seed in range(2)]
    for record, steps in zip(shorter, (353, 360)):
        record["time_budget"].update(steps_per_epoch=steps, passes=round(2 * steps / 430, 4))
    assert family_report.epochs_cell(shorter) == "2 (1.64-1.67 passes)"
