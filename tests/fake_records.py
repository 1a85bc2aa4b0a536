"""Run records shaped like the result.json that training.run_experiment writes, for the tests of
everything that reads records (the report, the seed table, the README's run tables)."""

import json

NUM_CLASSES = 10
TEST_IMAGES_PER_CLASS = 1000


# NOTE: every number below is a fixture for the report code, not the result of any run.
def fake_record(name, correct_per_class, best_val_accuracy, limit_train=None, **overrides):
    """A record shaped like the result.json that training.run_experiment writes.

    Class i gets `correct_per_class[i]` right and the rest predicted as class i + 1.
    """
    confusion = [[0] * NUM_CLASSES for _ in range(NUM_CLASSES)]
    for label, correct in enumerate(correct_per_class):
        confusion[label][label] = correct
        confusion[label][(label + 1) % NUM_CLASSES] = TEST_IMAGES_PER_CLASS - correct
    test_accuracy = sum(correct_per_class) / (NUM_CLASSES * TEST_IMAGES_PER_CLASS)
    history = {
        str(epoch): {
            "accuracy": 0.8, "loss": 0.5, "val_accuracy": best_val_accuracy - 0.01 * (3 - epoch),
            "val_loss": 0.4, "learning_rate": 0.001, "seconds": 20.0,
        }
        for epoch in (1, 2, 3)
    }
    record = {
        "run_name": name,
        "status": "completed",
        "model": "simple-cnn",
        "optimizer": "adam",
        "config": {
            "model": "simple-cnn", "optimizer": "adam", "lr": 0.001, "epochs": 3,
            "lr_schedule": "swa", "swa": True, "swa_start": 3, "rotation_range": 0.0,
            "zoom_range": 0.0, "width_shift_range": 0.1, "height_shift_range": 0.1,
            "horizontal_flip": 0.5, "random_erasing": 0.0, "limit_train": limit_train,
            "precision": "mixed_bfloat16", "input_size": None,
        },
        "seed": 0,
        "smoke_run": limit_train is not None,
        "params": 749026,
        "train_images": 55000,
        "val_images": 5000,
        "epochs_run": 3,
        "best_val_accuracy": best_val_accuracy,
        "best_epoch": 3,
        "history": history,
        "train_seconds": 60.0,
        "wall_seconds": 75.5,
        "images_per_second": 2750.0,
        "finished": "2026-01-02T03:04:05+00:00",
        "system": {"hardware": "Fixture GPU | 2", "gpus": ["Fixture GPU | 2"],
                   "git_commit": "0" * 40, "git_clean": True},
        "val_accuracy_final": best_val_accuracy - 0.002,
        "test_accuracy_final": test_accuracy - 0.001,
        "val_accuracy_swa": best_val_accuracy,
        "test_accuracy_swa": test_accuracy,
        "swa_epochs": [3],
        "selected_weights": "swa",
        "test_accuracy": test_accuracy,
        "confusion_matrix": confusion,
    }
    record.update(overrides)
    return record


def fake_failed_record(name) -> dict:
    """A run whose loss became NaN: stopped before any test-set evaluation."""
    record = fake_record(name, [0] * 10, 0.1, status="failed", test_accuracy=None,
                         failed_epoch=2, error="loss became NaN or infinite in epoch 2")
    for key in ("val_accuracy_final", "test_accuracy_final", "val_accuracy_swa",
                "test_accuracy_swa", "swa_epochs", "selected_weights", "confusion_matrix"):
        del record[key]
    return record


def write_json(path, value):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value))
