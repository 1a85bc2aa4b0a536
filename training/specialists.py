"""A specialist run: trained and tested on a group of classes (`config.data.classes`).

The validation split is the generalist's (the full 60,000 split by `split_seed` and `val_size`),
with the other classes' images removed afterwards, so a generalist and a specialist of one split
are chosen on the same images. Labels are renumbered 0..k-1 in the group's order. Weights are
chosen on the group's validation images and tested on its test images, but the selected
weights' probabilities are kept for every validation and test image: a combination
(`evaluation.specialist`) consults the specialist wherever the generalist's top classes fall in
the group, whatever the true class.

Example:

```python
train, val, test, val_indices, group = group_data(data, ("Shirt", "Coat"), train_idx, val_idx)
val[1].max()  # 1: two outputs
```
"""

from dataclasses import dataclass

import numpy as np

from data import CLASS_NAMES, FashionMNIST
from data.class_groups import class_ids, group_labels, group_rows
from training.callbacks import inference_copy
from training.selection import Candidate, score_weight_set

SPECIALIST = "specialist"  # the record's `kind` (records.reader reads it)


@dataclass
class GroupSplit:
    """A specialist's classes and every image its kept probabilities cover.

    Args:
        names: the classes, in the order of the model's outputs.
        labels: their original labels (0-9), in the same order.
        val_images: every validation image of the split, the generalist's.
        val_indices: their rows of the 60,000 training images.
        test_images: every test image.
    """

    names: tuple[str, ...]
    labels: tuple[int, ...]
    val_images: np.ndarray
    val_indices: np.ndarray
    test_images: np.ndarray


def group_data(data: FashionMNIST, classes, train_idx, val_idx):
    """The training, validation and test (images, labels) of `classes`, the validation rows
    kept, and the `GroupSplit` (None without a group: every image, labels unchanged).

    Args:
        data: the dataset.
        classes: class names (`config.data.classes`); empty for all ten.
        train_idx, val_idx: the split of the 60,000 training images, before the group is taken.

    Example: `group_data(data, (), train_idx, val_idx)[4]` is None.
    """
    if not classes:
        train = (data.x_train[train_idx], data.y_train[train_idx])
        val = (data.x_train[val_idx], data.y_train[val_idx])
        return train, val, (data.x_test, data.y_test), val_idx, None
    group = class_ids(classes)
    kept_train = group_rows(data.y_train, train_idx, group)
    kept_val = group_rows(data.y_train, val_idx, group)
    kept_test = group_rows(data.y_test, np.arange(len(data.y_test)), group)
    train = (data.x_train[kept_train], group_labels(data.y_train[kept_train], group))
    val = (data.x_train[kept_val], group_labels(data.y_train[kept_val], group))
    test = (data.x_test[kept_test], group_labels(data.y_test[kept_test], group))
    split = GroupSplit(tuple(classes), group, data.x_train[val_idx], val_idx, data.x_test)
    return train, val, test, kept_val, split


def class_names(group: GroupSplit | None) -> tuple[str, ...]:
    """The names of the model's outputs, in order.

    Args:
        group: the run's group, or None for all ten classes.

    Example: `class_names(None)` is `CLASS_NAMES`.
    """
    return CLASS_NAMES if group is None else group.names


def group_fields(group: GroupSplit | None, test) -> dict:
    """The record's fields of a specialist (none for a 10-class run): its kind, its classes
    (names and original labels, to map its outputs back) and what its test accuracy covers.

    Args:
        group: the run's group, or None.
        test: the run's test (images, labels), or None when it reads no test set.

    Example: `group_fields(None, test)` is {}.
    """
    if group is None:
        return {}
    fields = {
        "kind": SPECIALIST,
        "classes": {"names": list(group.names), "labels": list(group.labels)},
    }
    if test is None:
        return fields
    test_images = len(test[0])
    return {
        **fields,
        "test_images": test_images,
        "evaluated_on": (
            f"the {test_images} test images of its {len(group.names)} classes; the confusion "
            f"matrix is {len(group.names)} x {len(group.names)}, in the order of classes.names"
        ),
    }


def kept_predictions(model, selected: Candidate, run_data, tta_shifts: int = 0) -> dict:
    """What `predictions.npz` keeps of the selected candidate: its probabilities on the run's
    validation and test images with `val_indices` for a 10-class run; for a specialist, the
    selected weights' probabilities over its classes on every validation and test image, with
    `val_indices` (the generalist's) and `test_indices` (every test row).

    Args:
        model: the model holding the selected weights.
        selected: the candidate chosen on validation.
        run_data: the run's `RunData`.
        tta_shifts: the run's shifted TTA views (`config.evaluation.tta_shifts`), so a TTA
            candidate is predicted as it was scored.

    Example: `kept_predictions(model, selected, run_data)["val"].shape[1]` is k.
    """
    group = run_data.group
    if group is None:
        return {"val": selected.val_probabilities, "test": selected.test_probabilities,
                "val_indices": run_data.val_indices}
    scored = score_weight_set(inference_copy(model), selected.weights, group.val_images,
                              group.test_images, selected.tta, tta_shifts)
    (every,) = [candidate for candidate in scored if candidate.tta == selected.tta]
    return {"val": every.val_probabilities, "test": every.test_probabilities,
            "val_indices": group.val_indices,
            "test_indices": np.arange(len(group.test_images))}
