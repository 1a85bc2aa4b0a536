import subprocess
import sys

import pytest

import train
from tests.conftest import REPO_ROOT


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--lr", "-0.1"], "argument --lr: lr must be > 0. Received: lr=-0.1"),
        (["--batch-size", "0"], "argument --batch-size: batch_size must be >= 1"),
        (
            ["--epochs", "5", "--swa-start", "9"],
            "argument --swa-start: swa_start must be in [1, epochs=5]",
        ),
        (["--val-size", "70000"], "argument --val-size: val_size must be in [10, 50000]"),
        (
            ["--random-erasing", "1.2"],
            "argument --random-erasing: random_erasing must be a probability",
        ),
        (["--model", "resnet-9000"], "argument --model: model must be one of"),
        (["--optimizer", "adagrad"], "argument --optimizer: invalid choice: 'adagrad'"),
        (["--epochs", "ten"], "argument --epochs: invalid int value: 'ten'"),
    ],
)
def test_bad_values_exit_non_zero_naming_the_flag(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        train.main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_unknown_model_lists_the_known_ones(capsys):
    with pytest.raises(SystemExit):
        train.main(["--model", "nope"])
    assert "simple-cnn" in capsys.readouterr().err


def test_list_models_prints_names_and_parameter_counts(capsys):
    assert train.main(["--list-models"]) == 0
    output = capsys.readouterr().out
    assert "simple-cnn" in output and "749,026" in output


def test_flags_map_onto_the_config():
    config, resume, _ = train.parse_config(
        [
            "--model",
            "simple-cnn-bn",
            "--no-swa",
            "--lr-schedule",
            "triangular2",
            "--horizontal-flip",
            "0.25",
            "--limit-train",
            "500",
            "--resume",
            "old-run",
        ]
    )
    assert (config.model, config.swa, config.lr_schedule) == ("simple-cnn-bn", False, "triangular2")
    assert (config.horizontal_flip, config.limit_train) == (0.25, 500)
    assert resume and config.run_name == "old-run"


def test_help_runs_as_a_script():
    result = subprocess.run(
        [sys.executable, "train.py", "--help"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0 and "--limit-train" in result.stdout
