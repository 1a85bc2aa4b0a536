"""Output names and folders: one check for every name a command writes under, one claim for every
folder, and every writing command refusing a name that would leave its root."""

import json
import subprocess
import sys
import time

import pytest

import export
import sweep
import train
import training.experiment as experiment
from evaluation.ensemble import main as ensemble_main
from evaluation.specialist import main as specialist_main
from outputs.folders import check_output_name, check_output_roots, claim_output_dir
from serving.export import resolve_checkpoint
from tests.conftest import REPO_ROOT
from tests.records.fake_predictions import write_run_with_predictions

RULE = "must be a plain folder name of at most 128 characters"
OUTSIDE_NAMES = ["../x", "/abs", ".hidden", "a/b", "a\\b", "", "..", "a..b", "x" * 129, "a b"]


@pytest.mark.parametrize("name", OUTSIDE_NAMES)
def test_a_name_that_is_not_one_plain_folder_is_refused_with_the_rule(name):
    with pytest.raises(ValueError) as error:
        check_output_name(name, "--name")
    assert str(error.value) == (
        "--name must be a plain folder name of at most 128 characters: letters, digits, '-', '_' "
        f"and '.', not starting with '.' nor holding '..'. Received: name={name!r}"
    )


@pytest.mark.parametrize("name", ["default-seed2", "fast-cnn_0.5", "x" * 128, "-2"])
def test_plain_names_are_kept(name):
    assert check_output_name(name, "run_name") == name


def test_a_name_taken_under_one_root_is_taken_under_all_and_says_which_folder_exists(tmp_path):
    roots = {"RESULTS_PATH": tmp_path / "results", "DL_MODELS_PATH": tmp_path / "checkpoints"}
    record = roots["DL_MODELS_PATH"] / "same" / "best.keras"
    record.parent.mkdir(parents=True)
    record.write_bytes(b"another run's checkpoint")
    said = []

    folders = claim_output_dir(roots, "same", what="run_name", say=said.append)

    assert folders == {label: root / "same-2" for label, root in roots.items()}
    assert said == [
        f"run_name 'same' is taken ({roots['DL_MODELS_PATH'] / 'same'} exists): "
        "writing same-2 instead."
    ]
    assert record.read_bytes() == b"another run's checkpoint"
    assert sorted(p.name for p in roots["RESULTS_PATH"].iterdir()) == ["same-2"]


def test_refusing_a_taken_name_names_the_folder_and_creates_nothing(tmp_path):
    roots = {"RESULTS_PATH": tmp_path / "results"}
    (roots["RESULTS_PATH"] / "same").mkdir(parents=True)

    with pytest.raises(FileExistsError, match=r"--name 'same' is taken: .*results/same exists"):
        claim_output_dir(roots, "same", what="--name", if_taken="refuse")

    assert [p.name for p in roots["RESULTS_PATH"].iterdir()] == ["same"]
    with pytest.raises(ValueError, match="if_taken must be one of suffix, refuse"):
        claim_output_dir(roots, "other", what="--name", if_taken="overwrite")


def test_an_unusable_root_is_named_with_its_variable(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(PermissionError, match="Set RESULTS_PATH to a writable folder"):
        check_output_roots({"RESULTS_PATH": blocker / "inside"})


CLAIM = """
import sys, time
from pathlib import Path
from outputs.folders import claim_output_dir
roots = {"RESULTS_PATH": Path(sys.argv[2]), "DL_MODELS_PATH": Path(sys.argv[3])}
time.sleep(max(0.0, float(sys.argv[1]) - time.time()))
print(sorted({folder.name for folder in claim_output_dir(roots, "same", what="--name").values()}))
"""


def test_processes_claiming_one_name_at_once_get_different_folders(tmp_path):
    start = time.time() + 3  # every process is waiting by then
    roots = [str(tmp_path / "results"), str(tmp_path / "checkpoints")]
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", CLAIM, str(start), *roots],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    claimed = [process.communicate(timeout=60)[0].strip() for process in processes]

    assert all(process.returncode == 0 for process in processes)
    assert sorted(claimed) == [repr([name]) for name in ("same", "same-2", "same-3", "same-4")]


def exit_status(main, argv) -> int:
    """What the command's process would exit with: argparse exits, the others return."""
    try:
        return main(argv)
    except SystemExit as exit_info:
        return exit_info.code


ENTRY_POINTS = {
    "train": lambda name: exit_status(train.main, ["--run-name", name]),
    "resume": lambda name: exit_status(train.main, ["--resume", name]),
    "ensemble": lambda name: exit_status(ensemble_main, ["--runs", "a", "b", "--name", name]),
    "export": lambda name: exit_status(export.main, [name]),
    "specialist": lambda name: exit_status(
        specialist_main, ["--generalist", "a", "--specialist", "b", "--name", name]
    ),
    "sweep": lambda name: exit_status(sweep.main, ["--study", name, "--trials", "1"]),
    "export-preset": lambda name: exit_status(
        sweep.main, ["--study", "s", "--trials", "0", "--export-preset", name]
    ),
}

# `--resume ""` names no run at all, which is refused before the name is checked.
EARLIER_REFUSALS = {("resume", ""): "argument --resume: name the run to resume"}


def listing(folder):
    return sorted(str(path) for path in folder.rglob("*"))


@pytest.fixture
def roots(tmp_path, monkeypatch):
    """Every output variable pointed at a folder of its own under `tmp_path`."""
    folders = {name: tmp_path / name.lower() for name in ("RESULTS_PATH", "DL_MODELS_PATH",
                                                          "TB_LOGS_PATH")}
    for name, folder in folders.items():
        monkeypatch.setenv(name, str(folder))
    return folders


@pytest.mark.parametrize("entry_point", ENTRY_POINTS)
@pytest.mark.parametrize("name", ["../x", "/abs", ".hidden", "a/b", ""])
def test_every_writing_command_refuses_a_name_outside_its_root(
    entry_point, name, roots, tmp_path, capsys
):
    if name == "/abs":
        name = str(tmp_path.parent / "abs")
    before = listing(tmp_path.parent)

    assert ENTRY_POINTS[entry_point](name) == 2

    expected = EARLIER_REFUSALS.get((entry_point, name), f"{RULE}: letters, digits")
    assert expected in capsys.readouterr().err
    assert listing(tmp_path.parent) == before


def test_a_taken_ensemble_name_gets_a_suffix_and_the_record_is_left_alone(
    run_paths, fashion_mnist, capsys
):
    results = run_paths["RESULTS_PATH"]
    for name in ("a", "b"):
        write_run_with_predictions(results, name, fashion_mnist.y_test, [0, 1], 0.9)
    taken = results / "taken" / "result.json"
    taken.parent.mkdir()
    taken.write_bytes(b'{"run_name": "taken"}\n')

    assert ensemble_main(["--runs", "a", "b", "--average", "--name", "taken"]) == 0

    output = capsys.readouterr().out
    assert taken.read_bytes() == b'{"run_name": "taken"}\n'
    assert f"--name 'taken' is taken ({taken.parent} exists): writing taken-2 instead." in output
    assert f"wrote {results / 'taken-2'}\n" in output
    record = json.loads((results / "taken-2" / "result.json").read_text())
    assert record["run_name"] == "taken-2"


@pytest.mark.parametrize(
    "name, written", [("busy", "busy-2"), ("x" * 128, "x" * 126 + "-2")], ids=["short", "longest"]
)
def test_a_taken_run_name_gets_a_suffix_that_resumes_and_train_says_so(
    run_paths, monkeypatch, capsys, name, written
):
    taken = run_paths["RESULTS_PATH"] / name / "result.json"
    taken.parent.mkdir(parents=True)
    taken.write_bytes(b'{"run_name": "busy"}\n')

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(experiment, "train", interrupted)  # the folders are made; nothing trains
    argv = ["--epochs", "2", "--limit-train", "200", "--val-size", "100", "--run-name", name]
    assert train.main(argv) == 130

    captured = capsys.readouterr()
    assert taken.read_bytes() == b'{"run_name": "busy"}\n'
    assert f"run_name {name!r} is taken ({taken.parent} exists): writing {written} instead." in (
        captured.out
    )
    assert f"python train.py --resume {written}\n" in captured.err
    for root in run_paths.values():
        assert (root / written).is_dir()
    # The name printed is one that the commands taking a run's name accept.
    assert train.main(["--resume", written, "--dry-run"]) == 0
    with pytest.raises(FileNotFoundError, match=f"{written} is neither a .keras checkpoint"):
        resolve_checkpoint(written)


def test_suffixes_keep_a_name_of_the_maximum_length_within_it(tmp_path):
    roots = {"RESULTS_PATH": tmp_path / "results"}
    names = [claim_output_dir(roots, "x" * 128, what="run_name")["RESULTS_PATH"].name
             for _ in range(11)]
    assert names == ["x" * 128] + ["x" * 126 + f"-{k}" for k in range(2, 10)] + [
        "x" * 125 + "-10", "x" * 125 + "-11"]
    assert [check_output_name(name, "run_name") for name in names] == names


def test_a_checkpoint_names_its_export_record_after_a_plain_folder(tmp_path, roots, capsys):
    for folder in ("my-run", ".hidden"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "best.keras").write_bytes(b"a checkpoint")

    assert resolve_checkpoint(str(tmp_path / "my-run" / "best.keras"))[0] == "my-run"
    assert export.main([str(tmp_path / ".hidden" / "best.keras")]) == 2
    assert "is named after its folder, which must be a plain folder name" in (
        capsys.readouterr().err
    )
    assert not roots["RESULTS_PATH"].exists()
