import json

import pytest

from benchmarks import ablation, summary
from benchmarks.summary import ablation_markdown
from evaluation.seeds import spread
from reporting.sections import section_markers
from tests.conftest import REPO_ROOT
from training.presets import compose, parse_override

ALL_ON = ablation.combined(*(overrides for _, _, overrides in ablation.STEPS))


def _history(*epochs):
    """result.json's history from (seconds, val_accuracy) per epoch."""
    return {
        str(number): {"seconds": seconds, "val_accuracy": accuracy}
        for number, (seconds, accuracy) in enumerate(epochs, start=1)
    }


def _record(name, seed, val_accuracy, test_accuracy, history):
    """A run's result.json, as far as the ablation reads it: the selected weights (SWA with
    TTA), their validation accuracy, the test accuracy and the history."""
    return {
        "run_name": name, "seed": seed, "model": "fast-cnn-small",
        "train_seconds": sum(entry["seconds"] for entry in history.values()),
        "test_accuracy": test_accuracy, "selected_weights": "swa", "selected_tta": True,
        "val_accuracy_swa_tta": val_accuracy, "best_val_accuracy": 0.5, "history": history,
    }  # fmt: skip


def test_every_step_composes_onto_the_fast_recipe_and_validates():
    assert [name for name, _, _ in ablation.STEPS] == [
        "default", "whitening", "dirac", "bias-lr", "batchnorm", "alternating-flip",
        "label-smoothing-0.2", "translate-tta",
    ]  # fmt: skip
    assert ablation.STEPS[0][2] == ()
    for _, description, overrides in ablation.STEPS:
        assert description and all(parse_override(text) for text in overrides)
        compose(preset=ablation.PRESET, overrides=overrides).config.resolved().validate()
    every = compose(preset=ablation.PRESET, overrides=ALL_ON).config
    every.resolved().validate()
    assert every.model.args == {
        "whitening_patch_size": 3, "dirac_init": True, "batchnorm_momentum": 0.6,
        "batchnorm_scale_trainable": False,
    }  # fmt: skip
    # Every option on is the airbench preset, nothing more and nothing less.
    assert every.replace(preset=None) == compose(preset="airbench").config.replace(preset=None)


def test_overrides_of_a_table_are_merged_and_read_back():
    merged = ablation.combined(
        ["model.args={dirac_init = true}", "loss.label_smoothing=0.2"],
        ['model.args={batchnorm_momentum = 0.6, name = "a \\"b\\""}', "loss.label_smoothing=0.1"],
    )
    assert merged == [
        'model.args={dirac_init = true, batchnorm_momentum = 0.6, name = "a \\"b\\""}',
        "loss.label_smoothing=0.1",
    ]
    assert parse_override(merged[0])[1] == {
        "dirac_init": True, "batchnorm_momentum": 0.6, "name": 'a "b"'
    }  # fmt: skip


def test_a_change_that_lowers_validation_accuracy_is_dropped_and_the_next_builds_on_the_kept():
    whitening, dirac = ablation.STEPS[1][2][0], ablation.STEPS[2][2][0]
    bias_lr = ablation.STEPS[3][2][0]
    # Mean selected validation accuracy of each configuration the protocol should try; dirac
    # lowers it (with a higher test accuracy, which must not count), bias-lr ties and is kept.
    scores = {
        (): ((0.930, 0.932), 0.91),
        (whitening,): ((0.935, 0.935), 0.90),
        ("model.args={whitening_patch_size = 3, dirac_init = true}",): ((0.934, 0.934), 0.99),
        (whitening, bias_lr): ((0.935, 0.935), 0.90),
        ("model.args={whitening_patch_size = 3, batchnorm_momentum = 0.6, "
         "batchnorm_scale_trainable = false}", bias_lr): ((0.933, 0.9), 0.90),
    }  # fmt: skip
    tried = []

    def measure(index, name, configuration):
        tried.append(configuration)
        val, test = scores[tuple(configuration)]
        records = [
            _record(f"ablation-{index}-{name}-seed{seed}", seed, accuracy, test,
                    _history((10.0, accuracy)))
            for seed, accuracy in enumerate(val)
        ]  # fmt: skip
        return ablation.step_summary(records)

    steps = ablation.greedy([(index, *ablation.STEPS[index]) for index in range(5)], measure)
    assert tried == [list(key) for key in scores]
    assert [step["kept"] for step in steps] == [True, True, False, True, False]
    assert [step["mean_val_accuracy"] for step in steps] == pytest.approx(
        [0.931, 0.935, 0.934, 0.935, 0.9165]
    )
    assert steps[2]["overrides"] == [dirac]
    assert steps[2]["configuration"] == [
        "model.args={whitening_patch_size = 3, dirac_init = true}"
    ]
    assert steps[3]["runs"][1]["selected_val_accuracy"] == 0.935
    assert steps[1]["val_accuracy"]["min"] == 0.935
    assert [step["decision"].split(" ")[0].strip(":") for step in steps] == [
        "the", "better", "worse", "free", "a"]  # the last: a tie with a lower mean


def _summary(val_accuracies, seconds):
    return {"mean_val_accuracy": sum(val_accuracies) / len(val_accuracies),
            "val_accuracy": spread(val_accuracies), "train_seconds": spread(seconds)}


def test_a_change_is_kept_only_when_it_beats_the_seeds_spread_or_is_free():
    kept = _summary([0.940, 0.942], [100.0, 102.0])  # std 0.0014 and 1.4 s
    better = ablation.keep_decision(_summary([0.945, 0.946], [150.0, 150.0]), kept)
    assert better[0] and better[1].startswith("better: +0.0045 beyond the seeds' spread")
    # A tie on validation is kept only at no training cost beyond the seeds' spread.
    free = ablation.keep_decision(_summary([0.941, 0.942], [90.0, 91.0]), kept)
    assert free[0] and free[1].startswith("free: a tie")
    costly = ablation.keep_decision(_summary([0.941, 0.942], [110.0, 111.0]), kept)
    assert not costly[0] and "s of training beyond" in costly[1]
    # A tie with a lower mean is dropped however cheap; so is a loss beyond the spread.
    lower = ablation.keep_decision(_summary([0.9405, 0.9410], [50.0, 50.0]), kept)
    assert not lower[0] and "a lower mean" in lower[1]
    worse = ablation.keep_decision(_summary([0.930, 0.931], [50.0, 50.0]), kept)
    assert not worse[0] and worse[1].startswith("worse")


def test_an_unknown_step_is_refused_naming_the_steps_and_nothing_is_written(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("RESULTS_PATH", str(tmp_path / "results"))
    with pytest.raises(SystemExit) as exit_info:
        ablation.main(["--steps", "default,whitenning", "--out", str(tmp_path / "out")])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert "argument --steps: unknown step 'whitenning'; the steps are " in error
    assert ", ".join(name for name, _, _ in ablation.STEPS) in error
    assert "Received: --steps default,whitenning" in error
    assert list(tmp_path.iterdir()) == []


def test_a_bad_setting_is_refused_by_its_flag_and_a_dry_run_trains_nothing(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        ablation.main(["--seeds", "0"])
    assert exit_info.value.code == 2
    assert "argument --seeds: must be >= 1. Received: --seeds 0" in capsys.readouterr().err
    assert ablation.main(["--epochs", "0", "--out", str(tmp_path)]) == 2
    assert "argument --epochs: epochs must be >= 1. Received: epochs=0" in capsys.readouterr().err

    assert ablation.main(["--steps", "dirac,whitening", "--dry-run", "--out", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[:2] for line in lines[1:4]] == [
        ["0", "default"], ["1", "whitening"], ["2", "dirac"]
    ]  # fmt: skip
    assert "--set 'model.args={whitening_patch_size = 3}'" in lines[2]
    assert lines[4] == (
        "every change kept: --set 'model.args={whitening_patch_size = 3, dirac_init = true}'"
    )
    assert list(tmp_path.iterdir()) == []


def _fake_ablation_record() -> dict:
    """A two-seed ablation of three steps, built by the same functions as a real one."""
    scores = {0: ((0.930, 0.932), (0.925, 0.927)), 1: ((0.936, 0.938), (0.931, 0.935)),
              2: ((0.930, 0.931), (0.940, 0.940))}  # fmt: skip
    histories = {
        0: (_history((30.0, 0.921), (30.0, 0.932)), _history((30.0, 0.915), (30.0, 0.931))),
        1: (_history((20.0, 0.925), (20.0, 0.941)), _history((20.0, 0.926), (20.0, 0.939))),
        2: (_history((25.0, 0.91), (25.0, 0.931)), _history((25.0, 0.90), (25.0, 0.929))),
    }

    def measure(index, name, configuration):
        (val, test), history = scores[index], histories[index]
        return ablation.step_summary([
            _record(f"ablation-{index}-{name}-seed{seed}", seed, val[seed], test[seed],
                    history[seed]) for seed in range(2)
        ])  # fmt: skip

    steps = ablation.greedy([(index, *ablation.STEPS[index]) for index in range(3)], measure)
    return {
        "benchmark": "ablation", "command": "python -m benchmarks.ablation --seeds 2",
        "date": "2026-12-01T09:00:00+00:00", "system": {"hardware": "AMD EPYC, 2 cores"},
        "model": "fast-cnn-small", "seeds": 2, "targets": [0.92, 0.93, 0.94], "steps": steps,
        "kept_configuration": steps[1]["configuration"],
    }  # fmt: skip


def test_the_ablation_table_shows_each_step_and_its_verdict(tmp_path):
    bench = tmp_path / "results" / "benchmarks"
    bench.mkdir(parents=True)
    older = {**_fake_ablation_record(), "date": "2026-11-01T09:00:00+00:00", "steps": []}
    (bench / "ablation-old-model.json").write_text(json.dumps(older))
    (bench / "ablation-fast-cnn-small.json").write_text(json.dumps(_fake_ablation_record()))
    docs = tmp_path / "docs"

    text = ablation_markdown(bench, docs)
    lines = text.splitlines()
    assert lines[0] == (
        "| Step | Change | Kept | Mean val acc | To val 0.92 | To val 0.93 | To val 0.94 "
        "| Test acc | Training time |"
    )
    assert lines[1] == "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
    assert lines[2] == (
        "| 0 default | the fast recipe, no speed option | reference | 0.9310 | 45 s | 60 s "
        "| 0/2 reached | 0.9260 ± 0.0014 | 60 s |"
    )
    assert lines[3] == (
        "| 1 whitening | frozen 3x3 patch-whitening stem (`model.args={whitening_patch_size = 3}`)"
        " | yes (better) | 0.9370 | 20 s | 40 s | 1/2 reached | 0.9330 ± 0.0028 | 40 s |"
    )
    # Lower on validation, higher on test: dropped all the same.
    assert lines[4] == (
        "| 2 dirac | identity-initialized convolutions (`model.args={dirac_init = true}`) "
        "| no (worse) "
        "| 0.9305 | 50 s | 1/2 reached | 0/2 reached "
        "| 0.9400 ± 0.0000 | 50 s |"
    )
    assert len(lines) == 7 and lines[5] == ""
    assert lines[6].startswith(
        "Trained step after step on AMD EPYC, 2 cores, with "
        "`python -m benchmarks.ablation --seeds 2` ([ablation-fast-cnn-small]"
        "(../results/benchmarks/ablation-fast-cnn-small.json)); each row holds means over 2 "
        "seed(s) of `fast-cnn-small`"
    )
    assert lines[6].endswith("Kept in the end: `--set model.args={whitening_patch_size = 3}`.")
    assert ablation_markdown(tmp_path / "none", docs) == (
        "No ablation record yet: run `python -m benchmarks.ablation --seeds 3`."
    )


def test_the_ablation_table_is_a_generated_section_of_the_benchmarks_page(tmp_path):
    sections = {(section.path, section.name) for section in summary.generated_sections(tmp_path)}
    assert (summary.BENCHMARKS_PAGE, summary.ABLATION) in sections
    page = (REPO_ROOT / summary.BENCHMARKS_PAGE).read_text()
    start, end = section_markers(summary.ABLATION)
    assert page.count(start) == page.count(end) == 1
    assert page.index("## Ablation of the speed options") < page.index(start) < page.index(end)


@pytest.mark.slow  # trains two runs of one epoch on 500 images
def test_a_tiny_ablation_trains_each_step_writes_its_record_and_reuses_completed_runs(
    fashion_mnist, run_paths, tmp_path, capsys
):
    argv = ["--seeds", "1", "--steps", "default,whitening", "--epochs", "1",
            "--limit-train", "500", "--val-size", "200", "--out", str(tmp_path)]  # fmt: skip
    assert ablation.main(argv, data=fashion_mnist) == 0

    record = json.loads((tmp_path / "ablation-fast-cnn-small.json").read_text())
    assert record["command"] == "python -m benchmarks.ablation " + " ".join(argv)
    assert record["targets"] == [0.92, 0.93, 0.94] and record["seeds"] == 1
    assert record["system"]["packages"]["tensorflow"]
    default, whitening = record["steps"]
    assert (default["index"], default["name"], default["kept"]) == (0, "default", True)
    assert default["configuration"] == [] and default["overrides"] == []
    assert whitening["configuration"] == ["model.args={whitening_patch_size = 3}"]
    assert whitening["kept"] == (whitening["mean_val_accuracy"] >= default["mean_val_accuracy"])
    for step in record["steps"]:
        (run,) = step["runs"]
        assert run["run_name"] == f"ablation-{step['index']}-{step['name']}-seed0"
        assert step["mean_val_accuracy"] == run["selected_val_accuracy"]
        assert set(step["seconds_to_val"]) == {"0.92", "0.93", "0.94"}
        run_dir = run_paths["RESULTS_PATH"] / run["run_name"]
        stored = json.loads((run_dir / "result.json").read_text())
        assert stored["status"] == "completed" and stored["config"]["limit_train"] == 500
        config = json.loads((run_dir / "config.json").read_text())
        assert config["tags"] == ["ablation"] and config["val_size"] == 200
        assert (run_dir / "report.csv").exists()  # the record stays, the large outputs go
        assert not any((run_dir / name).exists() for name in ablation.PRUNED_OUTPUTS)
    whitened = json.loads(
        (run_paths["RESULTS_PATH"] / "ablation-1-whitening-seed0/config.json").read_text()
    )
    assert whitened["model_args"] == {"whitening_patch_size": 3}
    assert "1 whitening: mean val accuracy" in capsys.readouterr().out

    # Run again, the completed runs with the same configuration are reused, not trained again.
    assert ablation.main(argv, data=fashion_mnist) == 0
    assert capsys.readouterr().out.count("reusing its completed record") == 2
    again = json.loads((tmp_path / "ablation-fast-cnn-small.json").read_text())
    assert [step["runs"] for step in again["steps"]] == [step["runs"] for step in record["steps"]]
