"""A specialist run (`data.classes`, `--classes`): the names it takes, the split it trains and
is chosen on, and what it writes."""

import json

import numpy as np
import pytest

import train
from data import CLASS_NAMES, train_val_split
from records.predictions import PREDICTIONS_FILE
from training.config import ExperimentConfig
from training.presets import checked, compose
from training.specialists import group_data

EVERY_NAME = ", ".join(CLASS_NAMES)


def test_class_names_are_matched_case_insensitively_in_the_order_given():
    config = ExperimentConfig().replace(classes=("shirt", "T-SHIRT/TOP", "pullover", "Coat"))
    assert config.resolved().validate().data.classes == ("Shirt", "T-shirt/top", "Pullover", "Coat")


@pytest.mark.parametrize("classes, problem", [
    (("Shirt", "Blouse"), "'Blouse' is not a class"),
    (("Shirt", "shirt"), "a class is named twice"),
    (("Shirt",), "1 classes"),
])
def test_a_group_that_is_not_one_is_refused_with_the_class_names(classes, problem):
    with pytest.raises(ValueError, match="classes must be 2 to 9 distinct class names") as error:
        ExperimentConfig().replace(classes=classes).resolved().validate()
    assert EVERY_NAME in str(error.value) and problem in str(error.value)


def test_a_configuration_file_key_with_an_unknown_class_is_refused_naming_it():
    layers = compose(overrides=['data.classes=["coat", "blouse"]'])
    with pytest.raises(ValueError, match=r"data\.classes must be .*Received: data\.classes=") as e:
        checked(layers)
    assert EVERY_NAME in str(e.value) and "(from --set data.classes)" in str(e.value)


def test_the_flag_refuses_an_unknown_class_before_anything_is_written(run_paths, capsys):
    with pytest.raises(SystemExit) as exit_info:
        train.main(["--classes", "shirt,blouse", "--run-name", "tops", "--epochs", "1"])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert "argument --classes: classes must be" in error and EVERY_NAME in error
    assert not any(path.exists() for path in run_paths.values())


def test_the_specialist_is_chosen_on_the_generalists_validation_images(fashion_mnist):
    train_idx, val_idx = train_val_split(fashion_mnist.y_train, 5000, seed=0)
    group = (CLASS_NAMES[6], CLASS_NAMES[0])  # Shirt, T-shirt/top: labels 0 and 1 in this order
    train_set, val, test, kept_val, split = group_data(fashion_mnist, group, train_idx, val_idx)

    is_group = np.isin(fashion_mnist.y_train[val_idx], (6, 0))
    assert np.array_equal(kept_val, val_idx[is_group])
    assert np.array_equal(split.val_indices, val_idx) and split.labels == (6, 0)
    assert np.array_equal(val[1], (fashion_mnist.y_train[kept_val] == 0).astype(np.uint8))
    assert len(test[0]) == 2000 and set(train_set[1].tolist()) == {0, 1}
    assert len(train_set[0]) == np.isin(fashion_mnist.y_train[train_idx], (6, 0)).sum()


@pytest.mark.slow
def test_a_specialist_on_two_classes_predicts_only_those_classes(run_paths, fashion_mnist):
    from training.experiment import run_experiment

    config = ExperimentConfig().replace(classes=("bag", "trouser"), epochs=1, limit_train=400,
                              val_size=200, batch_size=32, ema=0, run_name="two")
    result = run_experiment(config, data=fashion_mnist, verbose=0)

    record = json.loads((result.run_dir / "result.json").read_text())
    assert result.model.output_shape[-1] == 2
    assert record["kind"] == "specialist" and record["test_images"] == 2000
    assert record["classes"] == {"names": ["Bag", "Trouser"], "labels": [8, 1]}
    assert np.array(record["confusion_matrix"]).shape == (2, 2)
    assert np.array(record["confusion_matrix"]).sum() == 2000
    with np.load(result.run_dir / PREDICTIONS_FILE) as stored:
        candidate = record["selected_weights"]
        val, test = stored[f"val_{candidate}"], stored[f"test_{candidate}"]
        val_indices, test_indices = stored["val_indices"], stored["test_indices"]
    _, split_val = train_val_split(fashion_mnist.y_train, 200, seed=0, limit_train=400)
    assert np.array_equal(val_indices, split_val) and val.shape == (200, 2)
    assert np.array_equal(test_indices, np.arange(10_000)) and test.shape == (10_000, 2)
    mapped_back = np.array(record["classes"]["labels"])[test.argmax(axis=1)]
    assert set(mapped_back.tolist()) <= {8, 1}
    in_group = np.isin(fashion_mnist.y_test, (8, 1))  # what its test accuracy counts
    accuracy = np.mean(mapped_back[in_group] == fashion_mnist.y_test[in_group])
    assert accuracy == pytest.approx(record["test_accuracy"], abs=1e-3)
