import json
import math

import pytest

import train
from experiments import seed_table


@pytest.fixture
def results(tmp_path, monkeypatch):
    monkeypatch.setenv("RESULTS_PATH", str(tmp_path))
    return tmp_path


def test_every_row_of_the_original_table_is_a_valid_train_command():
    labels = [row.label for row in seed_table.ROWS]
    assert len(labels) == len(set(labels)) == 11
    assert len({row.run_name for row in seed_table.ROWS}) == 11
    for row in seed_table.ROWS:
        argv = seed_table.command(row, epochs_scale=1.0)[2:]  # after python train.py
        config, resume, _ = train.parse_config(argv)
        assert not resume
        assert (config.model, config.optimizer, config.swa) == (row.model, row.optimizer, row.swa)
        assert config.epochs == seed_table.CPU_EPOCHS[row.model]
        assert config.run_name == row.run_name


def test_epochs_scale_multiplies_the_cpu_epochs():
    row = seed_table.ROWS[0]
    argv = seed_table.command(row, epochs_scale=2.5)
    epochs = math.ceil(seed_table.CPU_EPOCHS[row.model] * 2.5)
    assert argv[argv.index("--epochs") + 1] == str(epochs)


def test_dry_run_skips_finished_rows_and_resumes_interrupted_ones(results, capsys):
    finished, interrupted, failed = seed_table.ROWS[:3]
    (results / finished.run_name).mkdir()
    (results / finished.run_name / "result.json").write_text(json.dumps({"status": "completed"}))
    (results / interrupted.run_name).mkdir()
    (results / interrupted.run_name / "config.json").write_text("{}")
    (results / failed.run_name).mkdir()
    (results / failed.run_name / "result.json").write_text(json.dumps({"status": "failed"}))

    assert seed_table.main(["--dry-run"]) == 1  # the failed row is reported, not rerun
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"done     {finished.label}")
    assert lines[1].endswith(f"train.py --resume {interrupted.run_name}")
    assert lines[2].startswith(f"failed   {failed.label}") and "remove the folder" in lines[2]
    # Every row but the finished and the failed one is to run (the interrupted one resumed).
    assert sum(line.startswith("to run") for line in lines) == len(seed_table.ROWS) - 2


def test_only_selects_rows_by_model(results, capsys):
    assert seed_table.main(["--dry-run", "--only", "simple-cnn"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and all("--model simple-cnn " in line for line in lines)


def test_a_non_positive_scale_is_refused(capsys):
    with pytest.raises(SystemExit):
        seed_table.main(["--epochs-scale", "0"])
    assert "--epochs-scale: must be > 0. Received: 0.0" in capsys.readouterr().err


def _completed(results, row, test_accuracy, **extra):
    record = {
        "status": "completed",
        "test_accuracy": test_accuracy,
        "selected_weights": "swa",
        "test_accuracy_final": test_accuracy - 0.001,
        "test_accuracy_swa": test_accuracy,
        "best_val_accuracy": 0.94,
        "epochs_run": seed_table.CPU_EPOCHS[row.model],
        "train_seconds": 3725.0,
        **extra,
    }
    (results / row.run_name).mkdir()
    (results / row.run_name / "result.json").write_text(json.dumps(record))


def test_the_readme_table_puts_records_beside_the_original_numbers(results):
    capsnet, wrn, wrn_noswa = seed_table.ROWS[:3]
    _completed(results, capsnet, 0.9231)
    _completed(results, wrn, 0.9374)
    (results / wrn_noswa.run_name).mkdir()
    (results / wrn_noswa.run_name / "config.json").write_text("{}")
    readme = results / "README.md"
    readme.write_text(f"intro\n{seed_table.README_START}\nold\n{seed_table.README_END}\nend\n")

    assert seed_table.update_readme(readme, results)
    text = readme.read_text()
    assert text.startswith("intro\n<!-- seed-table:start -->\n| Row (original table) |")
    assert text.endswith("<!-- seed-table:end -->\nend\n") and "\nold\n" not in text
    lines = {line.split(" | ")[0].lstrip("| "): line for line in text.splitlines()}
    assert "| 0.9465 | **0.9231** (swa) | 0.9221 / 0.9231 |" in lines["CapsuleNet / Adam"]
    assert "1h 02m" in lines["CapsuleNet / Adam"] and "0.920: met" in lines["CapsuleNet / Adam"]
    assert f"[{capsnet.run_name}]({capsnet.run_name}/result.json)" in lines["CapsuleNet / Adam"]
    assert "0.940: missed by 0.0026" in lines["Wide ResNet / Adam"]
    assert "interrupted" in lines["Wide ResNet / Adam, no SWA"]
    assert "not run yet" in lines["ShuffleNet V2 / Adam"]


def test_a_readme_without_the_markers_is_left_alone(results):
    readme = results / "README.md"
    readme.write_text("no table here\n")
    assert not seed_table.update_readme(readme, results)
    assert readme.read_text() == "no table here\n"


def test_what_swa_bought_compares_both_weights_with_the_no_swa_twin(results):
    rows = {row.label: row for row in seed_table.ROWS}
    _completed(results, rows["Simple CNN / Adam"], 0.9403, test_accuracy_final=0.9398)
    _completed(results, rows["Simple CNN / Adam, no SWA"], 0.9381, test_accuracy_swa=None)
    _completed(results, rows["Wide ResNet / Adam"], 0.9374)  # its twin is not recorded

    lines = seed_table.swa_effect_markdown(results).splitlines()
    assert lines[0] == "What SWA bought (test accuracy):"
    assert lines[4:] == ["| Simple CNN / Adam | 0.9398 | 0.9403 | +0.0005 | 0.9381 | +0.0022 |"]
    readme = results / "README.md"
    readme.write_text(f"{seed_table.README_START}\n{seed_table.README_END}\n")
    assert seed_table.update_readme(readme, results)
    assert lines[-1] in readme.read_text()


def test_what_swa_bought_is_left_out_until_a_pair_is_recorded(results):
    _completed(results, seed_table.ROWS[1], 0.9374)
    assert seed_table.swa_effect_markdown(results) == ""
