import dataclasses
import json
import math
from pathlib import Path

import pytest

import train
from evaluation.sections import section_markers, write_sections
from experiments import seed_table
from tests.fake_records import fake_record, write_json
from training.config import CYCLIC_MODES

PRESETS = list(seed_table.PRESETS.values())
DOCS_PAGE = seed_table.DOCS_PAGE
REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def results(tmp_path, monkeypatch):
    monkeypatch.setenv("RESULTS_PATH", str(tmp_path))
    return tmp_path


def test_every_preset_is_a_valid_train_command_under_its_own_name():
    labels = [preset.label for preset in PRESETS]
    assert len(labels) == len(set(labels)) == 11
    for name, preset in seed_table.PRESETS.items():
        argv = seed_table.command(preset, epochs_scale=1.0)[2:]  # after python train.py
        config, resume, _ = train.parse_config(argv)
        assert not resume
        resolved = config.resolved()
        assert (resolved.model, resolved.optimizer, resolved.swa) == (
            preset.model, preset.settings["optimizer"], preset.swa
        )
        assert config.epochs == seed_table.CPU_EPOCHS[preset.model]
        assert config.run_name == name == preset.name
        # The preset as a configuration: the same values the command sets.
        preset_config = seed_table.preset_config(name)
        assert preset_config == config and preset_config.validate() is preset_config


def test_the_commands_are_those_the_recorded_runs_were_started_with():
    # Run records (results/seed-*/config.json) match these commands: changing one would start
    # a new run instead of skipping the recorded one.
    commands = {
        preset.name: " ".join(seed_table.command(preset, epochs_scale=1.0)[1:])
        for preset in PRESETS
    }
    original = "--label-smoothing 0.0 --width-shift-range 0.0 --height-shift-range 0.0 --ema 0.0"
    assert commands["seed-capsnet-adam"] == (
        f"train.py --model capsnet --optimizer adam --lr-schedule swa --epochs 7 {original} "
        "--run-name seed-capsnet-adam"
    )
    # Hardware-dependent fields resolve per machine; every other field the record has (older
    # records lack the newer ones) is the recorded run's.
    machine = {"precision", "augment_on", "jit_compile"}
    recorded = 0
    for preset in PRESETS:
        path = REPO_ROOT / "results" / preset.name / "config.json"
        if path.exists():
            stored = json.loads(path.read_text())
            resolved = dataclasses.asdict(seed_table.preset_config(preset.name).resolved())
            fields = stored.keys() - machine
            if preset.settings["lr_schedule"] in CYCLIC_MODES:
                # Recorded when SWA snapshots were taken every epoch, not once per cycle.
                fields -= {"swa_start", "swa_freq"}
            assert {k: resolved[k] for k in fields} == {k: stored[k] for k in fields}, preset.name
            recorded += 1
    assert recorded >= 5


def test_an_unknown_preset_is_named_with_the_known_ones():
    with pytest.raises(ValueError, match="known: seed-capsnet-adam, .*Received: name='seed-x'"):
        seed_table.get_preset("seed-x")


def test_epochs_scale_multiplies_the_cpu_epochs():
    preset = PRESETS[0]
    argv = seed_table.command(preset, epochs_scale=2.5)
    epochs = math.ceil(seed_table.CPU_EPOCHS[preset.model] * 2.5)
    assert argv[argv.index("--epochs") + 1] == str(epochs)
    assert seed_table.preset_config(preset.name, epochs_scale=2.5).epochs == epochs


def test_dry_run_skips_finished_rows_and_resumes_interrupted_ones(results, capsys):
    finished, interrupted, failed = PRESETS[:3]
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
    assert lines[2].startswith(f"failed   {failed.label}") and "remove the folder" in lines[2]
    # Every row but the finished and the failed one is to run (the interrupted one resumed).
    assert sum(line.startswith("to run") for line in lines) == len(PRESETS) - 2


def test_only_selects_rows_by_model(results, capsys):
    assert seed_table.main(["--dry-run", "--only", "simple-cnn"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and all("--model simple-cnn " in line for line in lines)


def test_a_non_positive_scale_is_refused(capsys):
    with pytest.raises(SystemExit):
        seed_table.main(["--epochs-scale", "0"])
    assert "--epochs-scale: must be > 0. Received: 0.0" in capsys.readouterr().err


def _completed(results, preset, test_accuracy, **extra):
    """A full record of `preset`'s run: its model, 3,725 s of training, its CPU epochs."""
    epochs = seed_table.CPU_EPOCHS[preset.model]
    record = fake_record(preset.name, [900] * 10, 0.94, model=preset.model, epochs_run=epochs,
                         train_seconds=3725.0, test_accuracy=test_accuracy,
                         test_accuracy_final=test_accuracy - 0.001,
                         test_accuracy_swa=test_accuracy)
    record.update(extra)
    write_json(results / preset.name / "result.json", record)


def _docs_page(root: Path, *names) -> Path:
    page = root / DOCS_PAGE
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text("intro\n" + "".join("{}\nold\n{}\n".format(*section_markers(name))
                                        for name in names) + "end\n")
    return page


def test_the_docs_table_puts_records_beside_the_original_numbers(results):
    capsnet, wrn, wrn_noswa = PRESETS[:3]
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
    capsnet = PRESETS[0]
    _completed(results, capsnet, 0.9231, train_seconds="an hour")
    row = seed_table.table_markdown(results, results).splitlines()[2]
    assert row.startswith("| CapsuleNet / Adam | 0.9465 | not run yet |")
    assert "'train_seconds' is str, expected int or float" in capsys.readouterr().err


def test_the_epochs_table_gives_each_family_its_recorded_time_per_epoch(results):
    rows = {preset.label: preset for preset in PRESETS}
    _completed(results, rows["Simple CNN / Adam"], 0.94, train_seconds=40 * 45.0)
    _completed(results, rows["Simple CNN / RMSProp"], 0.94, train_seconds=40 * 58.0)
    lines = seed_table.epochs_markdown(results).splitlines()
    assert lines[2] == "| simple-cnn | 40 | 2 of 3 | mixed_bfloat16 | 45s to 58s |"
    assert lines[3] == "| wrn-16-4 | 6 | 0 of 2 | - | - |"


def test_what_swa_bought_compares_both_weights_with_the_no_swa_twin(results):
    rows = {preset.label: preset for preset in PRESETS}
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
    _completed(results, PRESETS[1], 0.9374)
    assert seed_table.swa_effect_markdown(results) == ""


def test_report_writes_the_docs_page_and_fails_without_its_markers(results, monkeypatch, capsys):
    monkeypatch.setattr(seed_table.config, "REPO_ROOT", results)
    _completed(results, PRESETS[0], 0.9231)
    (results / "docs").mkdir()
    (results / DOCS_PAGE).write_text("no tables here\n")
    assert seed_table.main(["--report"]) == 2
    assert (results / DOCS_PAGE).read_text() == "no tables here\n"

    page = _docs_page(results, seed_table.EPOCHS_TABLE, seed_table.SEED_TABLE)
    assert seed_table.main(["--report"]) == 0
    assert "| capsnet | 7 | 1 of 1 | mixed_bfloat16 | 8m 52s |" in page.read_text()
    assert "**0.9231** (swa)" in page.read_text()
