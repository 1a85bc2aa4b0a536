import json

import keras
import numpy as np
import pytest

from training import ExperimentConfig, run_experiment
from training.presets import compose

pytestmark = pytest.mark.slow  # every test trains or reads a run of two epochs

SMOKE = dict(epochs=2, limit_train=400, val_size=200, batch_size=64, seed=1, swa=True)


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory, fashion_mnist):
    root = tmp_path_factory.mktemp("run")
    with pytest.MonkeyPatch.context() as patch:
        for name in ("RESULTS_PATH", "DL_MODELS_PATH", "TB_LOGS_PATH"):
            patch.setenv(name, str(root / name))
        # Augmentation in the tf.data map here; inside the train step (the default) below.
        config = ExperimentConfig().replace(**SMOKE, run_name="smoke", augment_on="dataset")
        result = run_experiment(config, data=fashion_mnist, verbose=0)
    return result


def test_a_run_writes_its_record_checkpoints_and_logs(smoke_run):
    assert smoke_run.name == "smoke"
    assert smoke_run.record.to_json()["config"]["precision"] in ("float32", "mixed_bfloat16")
    assert keras.mixed_precision.global_policy().name == "float32"  # restored after the build
    record = json.loads((smoke_run.run_dir / "result.json").read_text())
    assert record["status"] == "completed"
    assert record["epochs_run"] == 2 and sorted(record["history"]) == ["1", "2"]
    assert record["smoke_run"] is True and record["train_images"] == 400
    assert record["config"]["swa_start"] == 2 and record["swa_epochs"] == [2]
    assert record["selected_weights"] in ("final", "swa", "ema")
    assert record["test_accuracy"] > 0.45  # measured 0.63 for 2 epochs of 400 images; chance 0.1
    selected = record["selected_weights"] + ("_tta" if record["selected_tta"] else "")
    assert record["test_accuracy"] == record[f"test_accuracy_{selected}"]
    assert record["system"]["packages"]["tensorflow"].startswith("2.")
    assert json.loads((smoke_run.run_dir / "config.json").read_text())["run_name"] == "smoke"
    # The settings as a configuration file train the same configuration again.
    # (a configuration made in Python, without a preset, reads back as the default preset's)
    again = compose(config_file=smoke_run.run_dir / "config.toml").config
    saved = ExperimentConfig.from_json(smoke_run.run_dir / "config.json")
    assert again == saved.replace(preset="default")
    report = (smoke_run.run_dir / "report.csv").read_text().splitlines()
    assert report[0] == ",precision,recall,f1-score,support" and report[1].startswith(
        "T-shirt/top,"
    )
    assert (smoke_run.run_dir / "confusion.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert np.sum(record["confusion_matrix"]) == 10000
    assert list(smoke_run.tensorboard_dir.rglob("events.out.tfevents.*"))


def test_the_record_names_its_machine_its_peak_its_load_and_its_commit(smoke_run):
    record = json.loads((smoke_run.run_dir / "result.json").read_text())
    system = record["system"]
    assert system["machine"]["cores"] >= 1 and system["machine"]["key"]
    assert system["peak"]["machine"] == system["machine"]["key"]
    assert system["peak"]["gflops"]["bfloat16"] > 0 and system["peak"]["gflops"]["float32"] > 0
    assert isinstance(system["git_clean"], bool)
    assert system["git_commit"].endswith("-dirty") is not system["git_clean"]
    for epoch in record["history"].values():  # each epoch's load, beside its seconds
        assert 0 <= epoch["load_other_share"] <= 1 and epoch["own_cpu_seconds"] > 0
        assert 0 < epoch["validation_seconds"] < epoch["seconds"]
    load = record["load"]
    assert load["epochs_measured"] == 2
    assert load["alone"] == (load["other_share_max"] <= 0.05 and load["steal_share_max"] <= 0.05)
    assert "preset_chain" not in record  # a configuration made in Python names no preset


def test_saved_checkpoints_load_safely_and_predict_raw_images(smoke_run, fashion_mnist):
    images = fashion_mnist.x_test[:32]
    for name in ("best.keras", "final.keras", "swa.keras"):
        model = keras.saving.load_model(smoke_run.checkpoint_dir / name, safe_mode=True)
        probabilities = model.predict(images, verbose=0)
        assert probabilities.shape == (32, 10)
        np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-3)
    swa = keras.saving.load_model(smoke_run.checkpoint_dir / "swa.keras", safe_mode=True)
    accuracy = np.mean(
        swa.predict(fashion_mnist.x_test, verbose=0).argmax(1) == fashion_mnist.y_test
    )
    assert accuracy == pytest.approx(smoke_run.record.to_json()["test_accuracy_swa"], abs=1e-4)
    # The returned model holds the weights that validation selected.
    selected = smoke_run.record.to_json()["selected_weights"]
    saved = keras.saving.load_model(smoke_run.checkpoint_dir / f"{selected}.keras", safe_mode=True)
    for returned, kept in zip(smoke_run.model.get_weights(), saved.get_weights()):
        np.testing.assert_array_equal(returned, kept)


def test_a_second_run_with_the_same_name_gets_its_own_folder(smoke_run, fashion_mnist, monkeypatch):
    root = smoke_run.run_dir.parent
    monkeypatch.setenv("RESULTS_PATH", str(root))
    monkeypatch.setenv("DL_MODELS_PATH", str(smoke_run.checkpoint_dir.parent))
    monkeypatch.setenv("TB_LOGS_PATH", str(smoke_run.tensorboard_dir.parent))
    first_record = (smoke_run.run_dir / "result.json").read_bytes()
    again = run_experiment(
        ExperimentConfig().replace(**{**SMOKE, "epochs": 1}, run_name="smoke"),
        data=fashion_mnist,
        verbose=0,
    )
    assert again.name == "smoke-2" and again.run_dir != smoke_run.run_dir
    assert (smoke_run.run_dir / "result.json").read_bytes() == first_record


def test_resuming_a_finished_run_is_refused(smoke_run, monkeypatch):
    monkeypatch.setenv("RESULTS_PATH", str(smoke_run.run_dir.parent))
    with pytest.raises(FileExistsError, match="already complete"):
        run_experiment(ExperimentConfig().replace(run_name="smoke"), resume=True)


def test_default_augmentation_inside_the_train_step_runs_end_to_end(
    fashion_mnist, tmp_path, monkeypatch
):
    for name in ("RESULTS_PATH", "DL_MODELS_PATH", "TB_LOGS_PATH"):
        monkeypatch.setenv(name, str(tmp_path / name))
    config = ExperimentConfig().replace(**{**SMOKE, "epochs": 1}, width_shift_range=0.1)
    result = run_experiment(config, data=fashion_mnist, verbose=0)
    assert result.record.to_json()["config"]["augment_on"] == "model"
    assert result.record.to_json()["swa_epochs"] == [1]
    assert result.test_accuracy > 0.2  # measured 0.31 for 7 steps; chance 0.1
    saved = keras.saving.load_model(result.checkpoint_dir / "swa.keras", safe_mode=True)
    assert not any("random" in type(layer).__name__.lower() for layer in saved.layers)


def test_a_short_run_says_what_it_does_and_settles_batchnorm(fashion_mnist, run_paths, capsys):
    config = ExperimentConfig().replace(epochs=1, limit_train=2000, val_size=500, seed=2)
    result = run_experiment(config, data=fashion_mnist, verbose=2)
    record = result.record.to_json()
    printed = capsys.readouterr().out

    assert record["config"]["swa"] is False and record["config"]["lr_schedule"] == "onecycle"
    assert "SWA is off: 1 epoch(s) leave no room to train before averaging" in printed
    assert "Recomputing BatchNorm statistics of the final weights: 16 steps" in printed
    assert "Evaluating the final weights on the validation and test sets." in printed
    assert record["final_batchnorm_recomputed"] is True
    # 16 steps leave BatchNorm's moving averages near their initial values; recomputed
    # statistics let the same weights classify far better than during training.
    assert record["val_accuracy_final"] > record["best_val_accuracy"] + 0.15
    assert record["test_accuracy"] > 0.5
