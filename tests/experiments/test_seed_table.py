import json
import math
from pathlib import Path

import pytest

import train
from experiments import seed_table
from reporting.sections import section_markers, write_sections
from tests.fake_records import fake_record, write_json
from training.config import LABEL_FIELDS
from training.schedule_rules import CYCLIC_MODES

ROWS = list(seed_table.ROWS.values())
DOCS_PAGE = seed_table.DOCS_PAGE
REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def results(tmp_path, monkeypatch):
    monkeypatch.setenv("RESULTS_PATH", str(tmp_path))
    return tmp_path


def test_every_row_is_a_preset_trained_under_its_own_name():
    labels = [row.label for row in ROWS]
    assert len(labels) == len(set(labels)) == 11
    for name, row in seed_table.ROWS.items():
        argv = seed_table.command(row, epochs_scale=1.0)[1:]  # after train.py
        assert argv == ["--preset", name, "--run-name", name]
        config, resume, _ = train.parse_config(argv)
        assert not resume and config.run.name == name and config.preset == name
        assert config.model.name in seed_table.TARGETS and config.model.name in name
        assert config == seed_table.row_config(name)
        assert seed_table.row_config(name).resolved().validate()


def test_the_presets_are_the_configurations_the_recorded_runs_trained_with():
    # Run records (results/seed-*/config.json) match the rows: changing one would start a
    # new run instead of skipping the recorded one.
    # Hardware-dependent fields resolve per machine, labels name runs; every other field the
    # record has (older records lack the newer ones) is the recorded run's.
    ignored = {"precision", "augment_on", "jit_compile", *LABEL_FIELDS}
    recorded = 0
    for row in ROWS:
        path = REPO_ROOT / "results" / row.name / "config.json"
        if path.exists():
            stored = json.loads(path.read_text())
            resolved = seed_table.row_config(row.name).resolved().to_dict()
            fields = stored.keys() - ignored
            if row.config.schedule.name in CYCLIC_MODES:
                # Recorded when SWA snapshots were taken every epoch, not once per cycle.
                fields -= {"swa_start", "swa_freq"}
            if row.name.startswith("seed-wrn-16-4-adam"):
                fields -= {"ema"}  # trained before the original recipe turned EMA off
            assert {k: resolved[k] for k in fields} == {k: stored[k] for k in fields}, row.name
            recorded += 1
    assert recorded >= 5


def test_an_unknown_row_is_named_with_the_known_ones():
    with pytest.raises(ValueError, match="known: seed-capsnet-adam, .*Received: name='seed-x'"):
        seed_table.get_row("seed-x")


def test_epochs_scale_multiplies_the_presets_epochs():
    row = ROWS[0]
    argv = seed_table.command(row, epochs_scale=2.5)
    epochs = math.ceil(row.config.schedule.epochs * 2.5)
    assert argv[argv.index("--epochs") + 1] == str(epochs)
    assert seed_table.row_config(row.name, epochs_scale=2.5).schedule.epochs == epochs
    assert train.parse_config(argv[1:])[0] == seed_table.row_config(row.name, epochs_scale=2.5)


def test_dry_run_skips_finished_rows_and_resumes_interrupted_ones(results, capsys):
    finished, interrupted, failed = ROWS[:3]
    (results / finished.name).mkdir()
    (results / finished.name / "result.json").write_text(json.dumps({"status": "completed"}))
    (results / interrupted.name).mkdir()
    (results / interrupted.name / "config.json").write_text("{}")
    (results / failed.name).mkdir()
    (results / failed.name / "result.json").write_text(json.dumps({"status": "failed"}))

    assert seed_table.main(["--dry-run"]) == 1  # the failed row is reported, not rerun
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"done     {finished.label}")
    assert lines[1].endswith(f"train.py --resume {interrupted.name}")
    assert lines[2].startswith(f"failed   {failed.label}: remove ")
    # Every row but the finished and the failed one is to run (the interrupted one resumed).
    assert sum(line.startswith("to run") for line in lines) == len(ROWS) - 2


def test_only_selects_rows_by_model(results, capsys):
    assert seed_table.main(["--dry-run", "--only", "simple-cnn"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and all("--preset seed-simple-cnn-" in line for line in lines)


def test_a_non_positive_scale_is_refused(capsys):
    with pytest.raises(SystemExit):
        seed_table.main(["--epochs-scale", "0"])
    assert "--epochs-scale: must be > 0. Received: 0.0" in capsys.readouterr().err


def _completed(results, row, test_accuracy, **extra):
    """A full record of `row`'s run: its model, 3,725 s of training, its CPU epochs."""
    epochs = row.config.schedule.epochs
    record = fake_record(row.name, [900] * 10, 0.94, model=row.model, epochs_run=epochs,
                         train_seconds=3725.0, test_accuracy=test_accuracy,
                         test_accuracy_final=test_accuracy - 0.001,
                         test_accuracy_swa=test_accuracy)
    record.update(extra)
    write_json(results / row.name / "result.json", record)


def _docs_page(root: Path, *names) -> Path:
    page = root / DOCS_PAGE
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text("intro\n" + "".join("{}\nold\n{}\n".format(*section_markers(name))
                                        for name in names) + "end\n")
    return page


def test_the_docs_table_puts_records_beside_the_original_numbers(results):
    capsnet, wrn, wrn_noswa = ROWS[:3]
    _completed(results, capsnet, 0.9231)
    _completed(results, wrn, 0.9374)
    (results / wrn_noswa.name).mkdir()
    (results / wrn_noswa.name / "config.json").write_text("{}")
    page = _docs_page(results, seed_table.SEED_TABLE)

    assert write_sections(seed_table.generated_sections(results), results) == [page]
    text = page.read_text()
    assert text.startswith("intro\n<!-- seed-table:start -->\n| Row (original table) |")
    assert text.endswith("<!-- seed-table:end -->\nend\n") and "\nold\n" not in text
    lines = {line.split(" | ")[0].lstrip("| "): line for line in text.splitlines()}
    assert "| 0.9465 | **0.9231** (swa) | 0.9221 / 0.9231 |" in lines["CapsuleNet / Adam"]
    assert "1h 02m" in lines["CapsuleNet / Adam"] and "0.920: met" in lines["CapsuleNet / Adam"]
    link = f"[{capsnet.name}](../{capsnet.name}/result.json)"  # from docs/ to the record
    assert link in lines["CapsuleNet / Adam"]
    assert "0.940: missed by 0.0026" in lines["Wide ResNet / Adam"]
    assert "interrupted" in lines["Wide ResNet / Adam, no SWA"]
    assert "not run yet" in lines["ShuffleNet V2 / Adam"]


def test_a_record_with_bad_fields_is_named_and_its_row_not_run_yet(results, capsys):
    capsnet = ROWS[0]
    _completed(results, capsnet, 0.9231, train_seconds="an hour")
    row = seed_table.table_markdown(results, results).splitlines()[2]
    assert row.startswith("| CapsuleNet / Adam | 0.9465 | not run yet |")
    assert "'train_seconds' is str, expected int or float" in capsys.readouterr().err


def test_the_epochs_table_gives_each_family_its_recorded_time_per_epoch(results):
    rows = {row.label: row for row in ROWS}
    _completed(results, rows["Simple CNN / Adam"], 0.94, train_seconds=40 * 45.0)
    _completed(results, rows["Simple CNN / RMSProp"], 0.94, train_seconds=40 * 58.0)
    lines = seed_table.epochs_markdown(results).splitlines()
    assert lines[2] == "| simple-cnn | 40 | 2 of 3 | mixed_bfloat16 | 45s to 58s |"
    assert lines[3] == "| wrn-16-4 | 6 | 0 of 2 | - | - |"


def test_what_swa_bought_compares_both_weights_with_the_no_swa_twin(results):
    rows = {row.label: row for row in ROWS}
    _completed(results, rows["Simple CNN / Adam"], 0.9403, test_accuracy_final=0.9398)
    _completed(results, rows["Simple CNN / Adam, no SWA"], 0.9381, test_accuracy_swa=None)
    _completed(results, rows["Wide ResNet / Adam"], 0.9374)  # its twin is not recorded

    lines = seed_table.swa_effect_markdown(results).splitlines()
    assert lines[0] == "What SWA bought (test accuracy):"
    assert lines[4:] == ["| Simple CNN / Adam | 0.9398 | 0.9403 | +0.0005 | 0.9381 | +0.0022 |"]
    page = _docs_page(results, seed_table.SEED_TABLE)
    write_sections(seed_table.generated_sections(results), results)
    assert lines[-1] in page.read_text()


def test_what_swa_bought_is_left_out_until_a_pair_is_recorded(results):
    _completed(results, ROWS[1], 0.9374)
    assert seed_table.swa_effect_markdown(results) == ""


def test_report_writes_the_docs_page_and_fails_without_its_markers(results, monkeypatch, capsys):
    monkeypatch.setattr(seed_table.config, "REPO_ROOT", results)
    _completed(results, ROWS[0], 0.9231)
    (results / "docs").mkdir()
    (results / DOCS_PAGE).write_text("no tables here\n")
    assert seed_table.main(["--report"]) == 2
    assert (results / DOCS_PAGE).read_text() == "no tables here\n"

    page = _docs_page(results, seed_table.EPOCHS_TABLE, seed_table.SEED_TABLE)
    assert seed_table.main(["--report"]) == 0
    assert "| capsnet | 7 | 1 of 1 | mixed_bfloat16 | 8m 52s |" in page.read_text()
    assert "**0.9231** (swa)" in page.read_text()
