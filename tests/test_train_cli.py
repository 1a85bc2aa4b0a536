import dataclasses
import subprocess
import sys

import pytest

import train
import training.experiment as experiment
from outputs.folders import check_output_name
from records.run_record import RunRecord
from tests.conftest import REPO_ROOT
from tests.fake_records import fake_record
from training.config import ExperimentConfig


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--lr", "-0.1"], "argument --lr: lr must be finite and > 0. Received: lr=-0.1"),
        (["--lr", "inf"], "argument --lr: lr must be finite and > 0. Received: lr=inf"),
        (["--max-lr", "inf"], "argument --max-lr: max_lr must be finite and > 0"),
        (["--swa-lr", "nan"], "argument --swa-lr: swa_lr must be finite and > 0"),
        (["--weight-decay", "inf"], "argument --weight-decay: weight_decay must be finite"),
        (["--cycle-epochs", "inf"], "argument --cycle-epochs: cycle_epochs must be finite"),
        (["--seed", "-1"], "argument --seed: seed must be in [0, 2**32). Received: seed=-1"),
        (
            ["--lr-schedule", "swa", "--no-swa"],
            "argument --lr-schedule: lr_schedule must be other than 'swa' with --no-swa",
        ),
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
        ]
    )
    assert (config.model.name, config.averaging.swa, config.schedule.name) == (
        "simple-cnn-bn", False, "triangular2"
    )
    assert (config.augmentation.horizontal_flip, config.data.limit_train) == (0.25, 500)
    assert not resume


def test_resume_takes_a_name_and_refuses_other_flags(capsys):
    config, resume, _ = train.parse_config(["--resume", "old-run"])
    assert resume and config.run.name == "old-run"
    with pytest.raises(SystemExit):
        train.parse_config(["--resume", "old-run", "--epochs", "9", "--seed", "3"])
    error = capsys.readouterr().err
    assert "keeps the settings it was started with; remove --epochs, --seed" in error


def test_a_resume_dry_run_prints_the_settings_the_run_continues_with(run_paths, tmp_path, capsys):
    stored = ExperimentConfig().replace(epochs=2, rotation_range=7.0, limit_train=2048,
                                        run_name="old").resolved().validate()
    experiment.prepare_run_folders(stored, resume=False)
    before = sorted(path for root in run_paths.values() for path in root.rglob("*"))

    assert train.main(["--resume", "old", "--dry-run"]) == 0

    text = capsys.readouterr().out
    assert text.startswith("# The settings run old was started with and --resume continues it")
    assert "epochs = 2\n" in text and "rotation_range = 7.0\n" in text
    assert "limit_train = 2048\n" in text
    saved = tmp_path / "saved.toml"
    saved.write_text(text)
    again = train.parse_config(["--config", str(saved)])[0].resolved()
    assert again.without_labels() == stored.without_labels()
    assert sorted(path for root in run_paths.values() for path in root.rglob("*")) == before


@pytest.mark.parametrize(
    "name, message",
    [
        ("absent", "Cannot resume 'absent': {results}/absent/config.json does not exist"),
        ("done", "Run 'done' is already complete ({results}/done/result.json)"),
        ("broken", "A run's saved configuration must be a readable UTF-8 JSON file, but it "
         "is not valid JSON"),
    ],
)
def test_a_resume_dry_run_is_refused_as_the_resume_would_be(run_paths, capsys, name, message):
    results = run_paths["RESULTS_PATH"]
    for run in ("done", "broken"):
        (results / run).mkdir(parents=True, exist_ok=True)
        (results / run / "config.json").write_text("{}" if run == "done" else "{")
    (results / "done" / "result.json").write_text("{}")

    assert train.main(["--resume", name, "--dry-run"]) == 2

    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("error: " + message.format(results=results))


def test_the_seeds_of_a_run_name_of_the_maximum_length_get_names_within_it():
    config = train.parse_config(["--run-name", "x" * 128, "--seed", "9"])[0]
    names = [seeded.run.name for seeded in train.seed_configs(config, 2)]
    assert names == ["x" * 122 + "-seed9", "x" * 121 + "-seed10"]
    assert [check_output_name(name, "run_name") for name in names] == names


@pytest.mark.parametrize(
    "argv, swa, schedule, start, freq",
    [
        ([], True, "onecycle", 12, 1),  # 15 epochs: averaged from three quarters in
        (["--epochs", "10"], True, "onecycle", 8, 1),
        (["--no-swa"], False, "onecycle", None, None),
        (["--epochs", "1"], False, "onecycle", None, None),  # too short to average
        (["--epochs", "4"], True, "onecycle", 3, 1),
        (["--lr-schedule", "auto", "--epochs", "7"], True, "swa", 6, 1),
        (["--lr-schedule", "auto", "--no-swa"], False, "cosine", None, None),
        (["--lr-schedule", "auto", "--epochs", "3"], False, "cosine", None, None),
        (["--lr-schedule", "auto", "--epochs", "1", "--swa"], True, "swa", 1, 1),  # asked for
        (["--epochs", "9", "--lr-schedule", "triangular"], True, "triangular", 4, 4),
        (
            ["--epochs", "9", "--lr-schedule", "exp_range", "--cycle-epochs", "1.5"],
            True,
            "exp_range",
            3,
            3,
        ),
    ],
)
def test_swa_and_schedule_defaults(argv, swa, schedule, start, freq):
    resolved = train.parse_config(argv)[0].resolved()
    assert (resolved.averaging.swa, resolved.schedule.name) == (swa, schedule)
    if swa:  # one snapshot per cycle, at its learning-rate minimum, for cyclical schedules
        assert (resolved.averaging.swa_start, resolved.averaging.swa_freq) == (start, freq)


def test_the_default_is_airbench_kept_and_its_parts_follow_the_model():
    default = train.parse_config([])[0].resolved()
    assert (
        default.model.name, default.schedule.epochs, default.optimizer.lr, default.averaging.ema
    ) == (
        "fast-cnn-small", 15, pytest.approx(3e-3), 0.999
    )
    assert (default.loss.label_smoothing, default.augmentation.width_shift_range) == (0.1, 0.1)
    assert default.model.args == {"whitening_patch_size": 3, "dirac_init": True}
    assert (default.optimizer.bias_lr_factor, default.evaluation.tta_shifts) == (8.0, 1)
    assert default.schedule.warmup_epochs == 3  # a fifth of the run
    # Capsule networks have their own loss: no smoothing by default, refused when asked for.
    assert train.parse_config(["--model", "capsnet"])[0].resolved().loss.label_smoothing == 0
    # Other schedules keep the reference rate; 0 turns the moving average off.
    cosine = train.parse_config(["--lr-schedule", "cosine", "--ema", "0"])[0].resolved()
    assert (cosine.optimizer.lr, cosine.averaging.ema) == (pytest.approx(1e-3), None)


def test_a_result_near_chance_gets_a_hint():
    record = RunRecord.from_json({**fake_record("run", [100] * 10, 0.1), "epochs_run": 1,
                                  "train_images": 2000, "config": {"batch_size": 128}})
    assert record.test_accuracy == pytest.approx(0.1)
    assert "16 training steps are too few" in train.near_chance_hint(record)
    assert train.near_chance_hint(dataclasses.replace(record, test_accuracy=0.7)) is None


def test_help_loads_no_tensorflow_and_prints_no_noise():
    code = "import sys, train; train.build_parser(); print('tensorflow' in sys.modules)"
    loaded = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60
    )
    assert loaded.stdout.strip() == "False", loaded.stderr
    shown = subprocess.run(
        [sys.executable, "train.py", "--help"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0 and shown.stderr == ""


def test_help_runs_as_a_script():
    result = subprocess.run(
        [sys.executable, "train.py", "--help"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0 and "--limit-train" in result.stdout


def test_model_arguments_reach_the_model_and_bad_ones_are_refused_before_writing(run_paths):
    import tensorflow as tf

    from training import run_experiment
    from training.experiment import build_compiled_model

    config, _, _ = train.parse_config(
        [
            "--model",
            "simple-cnn",
            "--model-arg",
            "dense_units=50",
            "--model-arg",
            "dropout=(0.1, 0.2)",
        ]
    )
    assert config.model.args == {"dense_units": 50, "dropout": (0.1, 0.2)}
    model = build_compiled_model(config.resolved(), tf.distribute.get_strategy(), 10)
    assert model.get_layer("dense").units == 50
    assert model.get_layer("dropout1").rate == 0.1
    for argument in ("depth=3", "dense_units=0"):  # unknown to SimpleCNN; invalid value
        bad, _, _ = train.parse_config(["--model-arg", argument])
        with pytest.raises(ValueError, match="model_args must be constructor arguments of"):
            run_experiment(bad)
    assert not run_paths["RESULTS_PATH"].exists() or not any(run_paths["RESULTS_PATH"].iterdir())


@pytest.mark.parametrize(
    "model, argument, message",
    [
        (
            "fast-cnn",
            'stem_width="wide"',
            "model_args.stem_width must be an int (the default is 24). Received: 'wide' (str)",
        ),
        (
            "fast-cnn-small",  # the entry's own default, not the family's
            "stem_width=16.0",
            "model_args.stem_width must be an int (the default is 16). Received: 16.0 (float)",
        ),
        (
            "fast-cnn",
            "widths=(32, 'x')",
            "model_args.widths must be a tuple of ints (the default is (48, 96, 192)). "
            "Received: (32, 'x') (tuple)",
        ),
        (
            "simple-cnn",
            "conv_batchnorm=1",
            "model_args.conv_batchnorm must be a bool (the default is False). Received: 1 (int)",
        ),
    ],
    ids=["word-for-int", "float-for-int", "word-in-tuple", "int-for-bool"],
)
def test_a_model_argument_of_another_type_than_its_default_is_named_before_building(
    model, argument, message
):
    from models.arguments import check_model_arguments

    config, _, _ = train.parse_config(["--model", model, "--model-arg", argument])
    with pytest.raises(ValueError) as error:
        check_model_arguments(config.model.name, config.model.args)
    assert str(error.value) == message


def test_model_arguments_of_a_compatible_type_are_taken():
    from models.arguments import check_model_arguments

    # A list for a tuple, an int for a rate, an int for a None default.
    arguments = ["--model-arg", "dropout=[0, 0.5]", "--model-arg", "input_size=32"]
    config = train.parse_config(["--model", "simple-cnn", *arguments])[0]
    check_model_arguments(config.model.name, config.model.args)
