import json

import numpy as np
import pytest

from evaluation.ensemble import Member, build_ensemble, greedy_selection, selection_trace
from evaluation.ensemble import main as ensemble_main
from evaluation.statistics import mcnemar, wilson_interval


def test_wilson_interval_matches_a_hand_computed_case():
    # p = 0.8, n = 10: centre (0.8 + 1.96^2/20) / (1 + 1.96^2/10), half-width from the formula.
    low, high = wilson_interval(8, 10)
    assert (low, high) == pytest.approx((0.4902, 0.9433), abs=1e-4)
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="Received: correct=11"):
        wilson_interval(11, 10)


def outcomes(b, c, both=50, neither=5):
    first = [True] * b + [False] * c + [True] * both + [False] * neither
    second = [False] * b + [True] * c + [True] * both + [False] * neither
    return np.array(first), np.array(second)


def test_mcnemar_exact_and_chi_square_against_hand_computed_cases():
    exact = mcnemar(*outcomes(10, 2))  # 2 * P(X <= 2), X ~ Binomial(12, 1/2) = 2 * 79 / 4096
    assert exact.exact and (exact.only_first_right, exact.only_second_right) == (10, 2)
    assert exact.p_value == pytest.approx(2 * 79 / 4096)
    approximate = mcnemar(*outcomes(40, 20))  # (|40 - 20| - 1)^2 / 60 = 6.0167, 1 dof
    assert not approximate.exact and approximate.p_value == pytest.approx(0.014171, abs=1e-5)
    assert mcnemar(*outcomes(0, 0)).p_value == 1.0
    with pytest.raises(ValueError, match="same images"):
        mcnemar(np.ones(3, bool), np.ones(4, bool))


def one_hot(predicted, classes=3):
    return np.eye(classes, dtype=np.float32)[predicted]


def test_greedy_selection_combines_complementary_members():
    labels = np.array([0, 1, 2, 0])
    # Each is sure where it is right and unsure where it is wrong: together they get all four.
    first = np.array([[0.9, 0.05, 0.05], [0.05, 0.9, 0.05], [0.4, 0.3, 0.3], [0.3, 0.4, 0.3]])
    second = np.array([[0.3, 0.4, 0.3], [0.4, 0.3, 0.3], [0.05, 0.05, 0.9], [0.9, 0.05, 0.05]])
    noise = np.array([[0, 0, 1], [0, 0, 1], [0, 1, 0], [0, 1, 0]], np.float32)
    members = [
        Member(name, "final", probabilities, None)
        for name, probabilities in (("first", first), ("second", second), ("noise", noise))
    ]
    picks = greedy_selection(members, labels, steps=5)
    assert {members[index].run_name for index in picks} == {"first", "second"}
    trace = selection_trace(members, picks, labels)
    assert [step["val_accuracy"] for step in trace][-1] == 1.0
    assert trace[0]["val_accuracy"] == 0.5  # the first member alone gets two of four


def write_run(folder, name, val, test, val_indices):
    run = folder / name
    run.mkdir(parents=True)
    record = {
        "run_name": name,
        "status": "completed",
        "smoke_run": False,
        "selected_weights": "final",
        "selected_tta": False,
    }
    (run / "result.json").write_text(json.dumps(record))
    np.savez(
        run / "predictions.npz",
        val_indices=val_indices,
        val_final=val.astype(np.float16),
        test_final=test.astype(np.float16),
    )


def test_an_ensemble_of_two_identical_runs_equals_the_run(tmp_path):
    rng = np.random.default_rng(0)
    val, test = rng.dirichlet(np.ones(3), 40), rng.dirichlet(np.ones(3), 60)
    train_labels, test_labels = rng.integers(0, 3, 100), rng.integers(0, 3, 60)
    rows = np.arange(0, 80, 2)
    for name in ("twin-a", "twin-b"):
        write_run(tmp_path, name, val, test, rows)
    write_run(tmp_path, "other-split", val, test, rows + 1)

    record = build_ensemble(tmp_path, None, "pair", 5, (train_labels, test_labels))

    alone = np.mean(test.astype(np.float16).argmax(1) == test_labels)
    assert record["test_accuracy"] == pytest.approx(alone)
    assert record["library"] == ["twin-a", "twin-b"]  # another validation split is left out
    assert json.loads((tmp_path / "pair" / "result.json").read_text())["kind"] == "ensemble"
    with pytest.raises(ValueError, match="other-split cannot be a member"):
        build_ensemble(tmp_path, ["twin-a", "other-split"], "bad", 5, (train_labels, test_labels))


def test_a_damaged_predictions_file_is_left_out_with_its_reason(tmp_path, capsys):
    rng = np.random.default_rng(1)
    val, test = rng.dirichlet(np.ones(3), 40), rng.dirichlet(np.ones(3), 60)
    rows = np.arange(40)
    for name in ("good-a", "good-b", "broken"):
        write_run(tmp_path, name, val, test, rows)
    (tmp_path / "broken" / "predictions.npz").write_bytes(b"PK\x03\x04 not a zip archive")
    record = build_ensemble(
        tmp_path, None, "pair", 3, (rng.integers(0, 3, 40), rng.integers(0, 3, 60))
    )
    assert record["library"] == ["good-a", "good-b"]
    assert "left out broken: no readable record and predictions" in capsys.readouterr().err


def test_a_plain_average_weighs_each_named_run_once_and_needs_the_runs(tmp_path):
    rng = np.random.default_rng(2)
    rows = np.arange(30)
    val_labels, test_labels = rng.integers(0, 3, 30), rng.integers(0, 3, 50)
    runs = {}
    for name in ("a", "b", "c"):
        runs[name] = rng.dirichlet(np.ones(3), 30), rng.dirichlet(np.ones(3), 50)
        write_run(tmp_path, name, *runs[name], rows)

    record = build_ensemble(
        tmp_path, ["a", "c"], "mean", 5, (val_labels, test_labels), average=True
    )

    mean = (runs["a"][1].astype(np.float16) + runs["c"][1].astype(np.float16)).astype(np.float32)
    assert record["test_accuracy"] == pytest.approx(np.mean(mean.argmax(1) == test_labels))
    assert record["members"] == {"a": 0.5, "c": 0.5}
    assert [step["member"] for step in record["selection"]] == ["a", "c"]
    assert record["method"] == "plain average of the named runs"
    with pytest.raises(ValueError, match="Received: no --runs"):
        build_ensemble(tmp_path, None, "all", 5, (val_labels, test_labels), average=True)
    assert not (tmp_path / "all").exists()


def test_the_command_refuses_no_rounds_of_selection_naming_the_flag(capsys):
    with pytest.raises(SystemExit) as exit_info:
        ensemble_main(["--steps", "0"])
    assert exit_info.value.code == 2
    assert "argument --steps: at least one round. Received: steps=0" in capsys.readouterr().err


def test_an_ensemble_keeps_its_probabilities_and_is_never_a_member(tmp_path, capsys):
    rng = np.random.default_rng(3)
    rows = np.arange(30)
    labels = rng.integers(0, 3, 30), rng.integers(0, 3, 50)
    for name in ("a", "b"):
        write_run(
            tmp_path, name, rng.dirichlet(np.ones(3), 30), rng.dirichlet(np.ones(3), 50), rows
        )
    first = build_ensemble(tmp_path, None, "first", 3, labels)

    with np.load(tmp_path / "first" / "predictions.npz") as predictions:
        assert predictions["val_indices"].tolist() == rows.tolist()
        test = predictions["test_ensemble"].astype(np.float32)
    assert np.mean(test.argmax(1) == labels[1]) == pytest.approx(first["test_accuracy"])
    again = build_ensemble(tmp_path, None, "again", 3, labels)
    assert again["library"] == ["a", "b"]  # the first ensemble is not a member
    assert "first" not in capsys.readouterr().err
    nested = "first cannot be a member: an ensemble, specialist or combination, not a 10-class"
    with pytest.raises(ValueError, match=nested):
        build_ensemble(tmp_path, ["a", "first"], "nested", 3, labels)


def test_the_command_writes_a_record_that_names_the_command(run_paths, fashion_mnist, capsys):
    rng = np.random.default_rng(4)
    rows = np.arange(100, 140)
    for name in ("a", "b"):
        val, test = rng.dirichlet(np.ones(10), 40), rng.dirichlet(np.ones(10), 10_000)
        write_run(run_paths["RESULTS_PATH"], name, val, test, rows)
    argv = ["--runs", "a", "b", "--average", "--name", "mean"]

    assert ensemble_main(argv) == 0

    record = json.loads((run_paths["RESULTS_PATH"] / "mean" / "result.json").read_text())
    assert record["command"] == "python -m evaluation.ensemble --runs a b --average --name mean"
    assert f"test accuracy {record['test_accuracy']:.4f} (the plain average)" in (
        capsys.readouterr().out
    )
    assert ensemble_main(["--average", "--name", "none"]) == 2
    assert "A plain average needs the runs to average" in capsys.readouterr().err
