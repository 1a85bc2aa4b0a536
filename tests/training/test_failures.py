"""Bad settings and failing runs: clear errors, failed records, nothing lost."""

import json

import pytest

from training import ExperimentConfig, run_experiment

TINY = dict(epochs=2, limit_train=200, val_size=100, batch_size=50)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"lr": 0.0}, "lr must be finite and > 0. Received: lr=0.0"),
        ({"batch_size": 0}, "batch_size must be >= 1. Received: batch_size=0"),
        (
            {"epochs": 4, "swa_start": 5},
            "swa_start must be in [1, epochs=4]. Received: swa_start=5",
        ),
        ({"val_size": 60000}, "val_size must be in [10, 50000]"),
        ({"horizontal_flip": -0.1}, "horizontal_flip must be a probability in [0, 1]"),
        ({"random_erasing": 1.5}, "random_erasing must be a probability in [0, 1]"),
        ({"model": "vgg-99"}, "model must be one of"),
        ({"run_name": "../escape"}, "run_name must be a plain folder name"),
    ],
)
def test_impossible_settings_are_rejected_before_anything_is_written(changes, message, run_paths):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        run_experiment(ExperimentConfig().replace(**{**TINY, **changes}))
    assert not run_paths["RESULTS_PATH"].exists()


def test_nan_loss_stops_the_run_and_records_it_as_failed(run_paths, fashion_mnist):
    config = ExperimentConfig().replace(
        **TINY, optimizer="sgd", lr=1e12, lr_schedule="constant", run_name="diverged"
    )
    result = run_experiment(config, data=fashion_mnist, verbose=0)
    record = json.loads((result.run_dir / "result.json").read_text())
    assert record["status"] == "failed" and record["failed_epoch"] == 1
    assert record.get("test_accuracy") is None and "NaN" in record["error"]
    assert not (result.run_dir / "report.csv").exists()


@pytest.mark.slow
def test_a_run_that_dies_while_being_evaluated_resumes_without_training_again(
    run_paths, fashion_mnist, monkeypatch
):
    import training.experiment as experiment

    score = experiment._score

    def crash(*args):
        raise MemoryError("killed while evaluating")

    monkeypatch.setattr(experiment, "_score", crash)
    config = ExperimentConfig().replace(**TINY, run_name="evaluating", swa_start=1)
    with pytest.raises(MemoryError):
        run_experiment(config, data=fashion_mnist, verbose=0)
    run_dir = run_paths["RESULTS_PATH"] / "evaluating"
    trained = json.loads((run_dir / "history.json").read_text())
    assert sorted(trained) == ["1", "2"] and not (run_dir / "result.json").exists()

    monkeypatch.setattr(experiment, "_score", score)
    result = run_experiment(
        ExperimentConfig().replace(run_name="evaluating"), resume=True, data=fashion_mnist,
        verbose=0,
    )
    assert result.record.to_json()["status"] == "completed"
    assert result.record.to_json()["history"] == trained  # no epoch was trained again
    assert result.record.to_json()["swa_epochs"] == [1, 2]  # the average survived the crash
    assert not (result.checkpoint_dir / "backup").exists()  # removed once the record exists


def test_unwritable_results_folder_is_named(run_paths, monkeypatch, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("RESULTS_PATH", str(blocker / "results"))
    with pytest.raises(PermissionError, match="Set RESULTS_PATH to a writable folder"):
        run_experiment(ExperimentConfig().replace(**TINY))
