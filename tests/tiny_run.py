"""One tiny training run shared by the tests of what a trained model is used for (prediction,
export, TensorBoard): trained once per test session, on first use."""

import pytest

OUTPUT_VARIABLES = ("RESULTS_PATH", "DL_MODELS_PATH", "TB_LOGS_PATH")
_trained = {}


def tiny_run(tmp_path_factory, fashion_mnist):
    """The `RunResult` of one epoch of the default model on 300 images, its record, checkpoints and
    logs under one temporary folder (`RunResult.run_dir.parent` is its RESULTS_PATH). Shared by
    every test that asks for it: copy what a test changes."""
    if "run" not in _trained:
        from training import ExperimentConfig, run_experiment

        folder = tmp_path_factory.mktemp("tiny-run")
        with pytest.MonkeyPatch.context() as monkeypatch:
            for name in OUTPUT_VARIABLES:
                monkeypatch.setenv(name, str(folder / name.lower()))
            config = ExperimentConfig().replace(
                limit_train=300, val_size=100, epochs=1, batch_size=64, run_name="tiny"
            )
            _trained["run"] = run_experiment(config, data=fashion_mnist, verbose=0)
    return _trained["run"]


def point_outputs_at(run, monkeypatch) -> None:
    """Sets RESULTS_PATH, DL_MODELS_PATH and TB_LOGS_PATH to the folders `run` wrote to."""
    folders = (run.run_dir.parent, run.checkpoint_dir.parent, run.tensorboard_dir.parent)
    for name, folder in zip(OUTPUT_VARIABLES, folders):
        monkeypatch.setenv(name, str(folder))
