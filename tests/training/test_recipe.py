"""Recipe flags: label smoothing, one-cycle and warmup schedules, EMA weights, flip TTA, and the
predictions every run keeps."""

import json

import keras
import numpy as np
import pytest

from data import train_val_split
from records.predictions import PROBABILITY_LEVELS, decode_probabilities
from training import ExperimentConfig, run_experiment
from training.config import ExperimentConfig as Config
from training.losses import SparseCategoricalCrossentropyWithSmoothing
from training.optimizers import build_optimizer, build_schedule
from training.schedules import OneCycleLearningRate
from training.selection import Candidate, score_weight_set, select


def test_one_cycle_rises_linearly_then_falls_to_zero():
    schedule = OneCycleLearningRate(1.0, warmup_steps=10, total_steps=50, start_fraction=0.1)
    rates = [float(schedule(step)) for step in (0, 5, 10, 30, 50, 60)]
    np.testing.assert_allclose(rates, [0.1, 0.55, 1.0, 0.5, 0.0, 0.0], atol=1e-6)
    with pytest.raises(ValueError, match="Received: warmup_steps=50, total_steps=50"):
        OneCycleLearningRate(1.0, warmup_steps=50, total_steps=50)


def test_onecycle_and_cosine_warm_up_over_the_warmup_epochs():
    config = Config().replace(lr=0.01, epochs=10, lr_schedule="onecycle").resolved()
    assert config.schedule.warmup_epochs == 2  # a fifth of the epochs by default
    schedule = build_schedule(config, steps_per_epoch=10)
    assert float(schedule(20)) == pytest.approx(0.01) and float(schedule(100)) == 0.0
    cosine = build_schedule(
        Config().replace(lr=0.01, epochs=10, lr_schedule="cosine", warmup_epochs=1).resolved(),
        steps_per_epoch=10,
    )
    assert float(cosine(0)) == pytest.approx(0.001) and float(cosine(10)) == pytest.approx(0.01)
    assert float(cosine(100)) == pytest.approx(0.0, abs=1e-7)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"ema": 1.0}, "ema must be in [0, 1) (0 disables) or unset"),
        ({"label_smoothing": 1.0}, "label_smoothing must be in [0, 1)"),
        ({"model": "capsnet", "label_smoothing": 0.1}, "0 for capsnet, whose margin loss"),
        ({"warmup_epochs": 10}, "warmup_epochs must be in [0, epochs=10)"),
        ({"lr_schedule": "constant", "warmup_epochs": 1}, "0 unless --lr-schedule is cosine"),
    ],
)
def test_impossible_recipe_settings_are_refused(changes, message):
    with pytest.raises(
        ValueError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")
    ):
        Config().replace(**changes).resolved().validate()


def test_label_smoothing_mixes_the_target_with_the_uniform_distribution():
    logits = np.array([[2.0, 0.5, -1.0], [0.0, 1.0, 3.0]], np.float32)
    probabilities = keras.ops.softmax(logits)
    labels = np.array([0, 2])
    loss = SparseCategoricalCrossentropyWithSmoothing(0.3)(labels, probabilities)
    targets = np.full((2, 3), 0.1) + 0.7 * np.eye(3)[labels]
    log_probabilities = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    expected = -(targets * log_probabilities).sum(axis=1).mean()
    assert float(loss) == pytest.approx(expected, rel=1e-5)


def test_ema_is_kept_by_the_optimizer_with_the_given_decay():
    optimizer = build_optimizer(Config().replace(ema=0.995).resolved(), steps_per_epoch=10)
    assert optimizer.use_ema and optimizer.ema_momentum == 0.995
    assert build_optimizer(Config().resolved(), steps_per_epoch=10).ema_momentum == 0.999
    assert not build_optimizer(Config().replace(ema=0).resolved(), steps_per_epoch=10).use_ema


def test_tta_averages_the_prediction_on_mirrored_images():
    # A "model" that only looks at the left half: mirroring changes its answer.
    model = keras.Sequential(
        [
            keras.Input((2, 2, 1)),
            keras.layers.Cropping2D(((0, 0), (0, 1))),
            keras.layers.Flatten(),
            keras.layers.Dense(2, activation="softmax"),
        ]
    )
    images = np.random.default_rng(0).uniform(0, 1, (8, 2, 2, 1)).astype(np.float32)
    plain, flipped = score_weight_set(model, "final", images, images, tta=True)
    mirrored = model.predict(images[:, :, ::-1], verbose=0)
    np.testing.assert_allclose(
        flipped.val_probabilities, (plain.val_probabilities + mirrored) / 2, rtol=1e-5
    )
    assert (plain.name, flipped.name) == ("final", "final_tta")


def test_selection_looks_at_validation_only_and_prefers_the_first_on_a_tie():
    labels = np.array([0, 1])
    right, wrong = np.eye(2, dtype=np.float32), np.eye(2, dtype=np.float32)[::-1]
    candidates = [
        Candidate("final", False, right, wrong),
        Candidate("swa", False, right, right),
        Candidate("ema", True, wrong, right),
    ]
    assert select(candidates, labels).name == "final"


@pytest.fixture(scope="module")
def recipe_run(tmp_path_factory, fashion_mnist):
    root = tmp_path_factory.mktemp("recipe")
    with pytest.MonkeyPatch.context() as patch:
        for name in ("RESULTS_PATH", "DL_MODELS_PATH", "TB_LOGS_PATH"):
            patch.setenv(name, str(root / name))
        config = ExperimentConfig().replace(
            epochs=2,
            limit_train=600,
            val_size=300,
            batch_size=50,
            seed=4,
            swa=True,
            ema=0.9,
            label_smoothing=0.1,
            lr_schedule="onecycle",
            width_shift_range=0.1,
            run_name="recipe",
        )
        yield run_experiment(config, data=fashion_mnist, verbose=0)


@pytest.mark.slow
def test_every_weight_set_and_the_best_ones_tta_are_scored_and_selected_on_validation(
    recipe_run,
):
    record = recipe_run.record.to_json()
    plain = {weights: record[f"val_accuracy_{weights}"] for weights in ("final", "swa", "ema")}
    with_tta = [key for key in record if key.startswith("val_accuracy_") and key.endswith("_tta")]
    # Only the weight set best on validation pays for the TTA views (a tie goes to the first).
    best = max(plain, key=lambda weights: (plain[weights], -list(plain).index(weights)))
    assert with_tta == [f"val_accuracy_{best}_tta"]
    val = {**plain, f"{best}_tta": record[f"val_accuracy_{best}_tta"]}
    selected = record["selected_weights"] + ("_tta" if record["selected_tta"] else "")
    assert val[selected] == max(val.values())
    assert record["test_accuracy"] == record[f"test_accuracy_{selected}"]
    assert record["config"]["label_smoothing"] == 0.1 and record["config"]["ema"] == 0.9
    assert record["test_accuracy_ema"] > 0.3  # BatchNorm recomputed for the averaged weights
    assert (recipe_run.checkpoint_dir / "ema.keras").exists()


@pytest.mark.slow
def test_the_selected_candidates_predictions_are_kept_with_the_validation_rows(
    recipe_run, fashion_mnist
):
    record = recipe_run.record.to_json()
    with np.load(recipe_run.run_dir / "predictions.npz") as saved:
        predictions = {name: saved[name] for name in saved.files}
    _, val_indices = train_val_split(fashion_mnist.y_train, 300, 0, 600)  # split_seed 0
    np.testing.assert_array_equal(predictions.pop("val_indices"), val_indices)
    val_labels = fashion_mnist.y_train[val_indices]
    selected = record["selected_weights"] + ("_tta" if record["selected_tta"] else "")
    assert sorted(predictions) == [f"test_{selected}", f"val_{selected}"]
    for split, labels in (("val", val_labels), ("test", fashion_mnist.y_test)):
        probabilities = decode_probabilities(predictions[f"{split}_{selected}"])
        # ten roundings of at most half a level, and one level more where rounding tied
        np.testing.assert_allclose(probabilities.sum(axis=1), 1, atol=6 / PROBABILITY_LEVELS)
        accuracy = float(np.mean(probabilities.argmax(axis=1) == labels))
        assert accuracy == record[f"{split}_accuracy_{selected}"]
    assert json.loads((recipe_run.run_dir / "result.json").read_text())["selected_tta"] in (
        True,
        False,
    )
