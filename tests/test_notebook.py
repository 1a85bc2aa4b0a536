import json
import sys

import nbformat
import papermill
import pytest

import config
from training.config import AUGMENTATION_KNOBS
from training.presets import compose

NOTEBOOK = config.REPO_ROOT / "experiment.ipynb"
FIGURE_CELLS = ("sample-images", "augmentation-preview", "accuracy-curves", "confusion-matrix")


def cells_by_tag(notebook) -> dict:
    return {tag: cell for cell in notebook.cells for tag in cell.metadata.get("tags", [])}


def output_types(cell) -> set[str]:
    return {mime for output in cell.outputs for mime in output.get("data", {})}


def test_committed_notebook_has_no_outputs():
    notebook = nbformat.read(NOTEBOOK, as_version=4)

    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(not cell.outputs and cell.execution_count is None for cell in code_cells)
    assert "parameters" in code_cells[0].metadata.get("tags", [])


def parameters_cell() -> dict:
    """The variables the committed parameters cell defines, with their values."""
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    namespace = {}
    exec(notebook.cells[1].source, namespace)  # the parameters cell holds literals only
    return {name: value for name, value in namespace.items() if name.isupper()}


def test_the_parameters_are_a_preset_and_overrides_that_spell_out_the_augmentation():
    parameters = parameters_cell()
    assert set(parameters) == {"MODELS", "PRESET", "OVERRIDES", "TIME_BUDGET", "SEARCH_TRIALS"}
    assert parameters["SEARCH_TRIALS"] == 0  # off: the notebook stays fast
    assert parameters["TIME_BUDGET"] is None  # the epochs are the preset's
    layers = compose(preset=parameters["PRESET"], overrides=parameters["OVERRIDES"])
    default = compose(preset=parameters["PRESET"]).config
    assert parameters["MODELS"] == [default.model.name]
    assert layers.config == default  # the cell's values are the preset's: editing starts there
    knobs = {key for key in parameters["OVERRIDES"] if key.startswith("augmentation.")}
    assert knobs == {f"augmentation.{knob}" for knob in AUGMENTATION_KNOBS}


def test_the_time_budget_of_the_first_cell_reaches_every_models_configuration(capsys):
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    namespace = {**parameters_cell(), "MODELS": ["fast-cnn-small", "wrn-16-4"],
                 "TIME_BUDGET": "1h30m"}
    exec(cells_by_tag(notebook)["setup"].source, namespace)  # composes, checks, prints paths
    budgets = {name: config.schedule.time_budget for name, config in namespace["CONFIGS"].items()}
    assert budgets == {"fast-cnn-small": 5400.0, "wrn-16-4": 5400.0}
    namespace["TIME_BUDGET"] = "soon"
    with pytest.raises(ValueError, match="schedule.time_budget must be a duration"):
        exec(cells_by_tag(notebook)["setup"].source, namespace)


def current_interpreter_kernel(folder) -> str:
    """A kernelspec that runs this very interpreter, found through JUPYTER_PATH, so the
    notebook never runs in another environment's `python3` kernel."""
    name = "fashion-mnist-lab-test"
    spec = folder / "jupyter" / "kernels" / name
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    spec.joinpath("kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": name, "language": "python"})
    )
    return name


@pytest.fixture(scope="module")
def executed(tmp_path_factory, data_path):
    """The notebook run top to bottom on 1,000 training images for one epoch."""
    folder = tmp_path_factory.mktemp("notebook")
    kernel = current_interpreter_kernel(folder)
    monkeypatch = pytest.MonkeyPatch()
    for name, path in {"RESULTS_PATH": folder / "results", "DL_MODELS_PATH": folder / "ckpt",
                       "TB_LOGS_PATH": folder / "tb", "DATA_PATH": data_path,
                       "JUPYTER_PATH": folder / "jupyter"}.items():
        monkeypatch.setenv(name, str(path))  # the kernel inherits this environment
    try:
        notebook = papermill.execute_notebook(
            str(NOTEBOOK), str(folder / "executed.ipynb"), kernel_name=kernel,
            parameters={"MODELS": ["simple-cnn"], "OVERRIDES": {
                "schedule.epochs": 1, "data.limit_train": 1000, "data.val_size": 500}},
            cwd=str(config.REPO_ROOT), progress_bar=False,
        )
    finally:
        monkeypatch.undo()
    return notebook, folder


@pytest.mark.slow
def test_notebook_draws_its_figures(executed):
    notebook, _ = executed
    cells = cells_by_tag(notebook)

    for tag in FIGURE_CELLS:
        assert "image/png" in output_types(cells[tag]), f"cell {tag!r} drew no figure"


@pytest.mark.slow
def test_notebook_compares_runs_and_reports_the_best(executed):
    notebook, folder = executed
    cells = cells_by_tag(notebook)
    (record_path,) = (folder / "results").glob("*/result.json")
    record = json.loads(record_path.read_text())

    assert record["model"] == "simple-cnn" and record["epochs_run"] == 1
    assert record["train_images"] == 1000 and record["val_images"] == 500
    comparison = cells["comparison"].outputs[-1]["data"]["text/html"]
    assert record["run_name"] in comparison and "Test acc (selected)" in comparison
    report = cells["best-report"].outputs[-1]["data"]["text/html"]
    assert "Ankle boot" in report and "weighted avg" in report and "NaN" not in report


@pytest.mark.slow
def test_notebook_runs_in_this_interpreter_and_prints_a_line_per_epoch(executed):
    notebook, _ = executed
    setup = "".join(output.get("text", "") for output in cells_by_tag(notebook)["setup"].outputs)
    assert f"Python          {sys.executable}\n" in setup
    training = next(cell for cell in notebook.cells if "run_experiment(config" in cell.source)
    text = "".join(output.get("text", "") for output in training.outputs)
    assert text.count("val_accuracy") == 1  # one line for the one epoch
    assert "━" not in text  # no progress bar redrawn into the output


def cell_text(cell) -> str:
    """What a cell printed and the plain text of what it displayed."""
    return "".join(
        output.get("text", "") + output.get("data", {}).get("text/plain", "")
        for output in cell.outputs
    )


@pytest.mark.slow
def test_notebook_gives_intervals_and_says_a_paired_test_and_an_ensemble_need_two_runs(executed):
    notebook, folder = executed
    cells = cells_by_tag(notebook)
    (record_path,) = (folder / "results").glob("*/result.json")
    record = json.loads(record_path.read_text())

    statistics = cells["statistics"].outputs[0]["data"]["text/html"]
    assert record["run_name"] in statistics and "95% CI" in statistics
    assert f"{record['test_accuracy']:.4f}" in statistics
    assert "McNemar's paired test needs two runs" in cell_text(cells["statistics"])
    ensemble = cell_text(cells["ensemble"])
    assert f"{record['run_name']} cannot be a member: not a completed full run" in ensemble
    assert "An ensemble needs two runs with predictions; this notebook has 0." in ensemble
    assert all(output["output_type"] != "error" for output in cells["ensemble"].outputs)


@pytest.mark.slow
def test_notebook_draws_the_best_runs_most_confident_mistakes(executed):
    notebook, _ = executed
    assert "image/png" in output_types(cells_by_tag(notebook)["mistakes"])


@pytest.mark.slow
def test_notebook_search_cell_says_no_study_is_committed_without_error(executed):
    notebook, folder = executed
    search = cells_by_tag(notebook)["search"]

    assert all(output["output_type"] != "error" for output in search.outputs)
    assert f"No study is committed yet under {folder / 'results' / 'sweeps'}" in cell_text(search)
