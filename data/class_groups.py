"""Groups of classes: a specialist trains on a few of the ten classes, its labels renumbered
0..k-1 in the order the group names them.

Example:

```python
group = class_ids(("shirt", "T-shirt/top"))       # (6, 0)
rows = group_rows(labels, np.arange(len(labels)), group)
group_labels(labels[rows], group)                  # 0 for a shirt, 1 for a T-shirt/top
```
"""

import numpy as np

from data.fashion_mnist import CLASS_NAMES

MIN_GROUP = 2  # one class leaves nothing to tell apart
GROUP_RULE = (
    f"{MIN_GROUP} to {len(CLASS_NAMES) - 1} distinct class names out of "
    f"{', '.join(CLASS_NAMES)} (matched case-insensitively), or none for all ten"
)


def canonical_name(name: str) -> str:
    """`name` as `CLASS_NAMES` spells it, matched case-insensitively; `name` itself when it is
    no class (`group_problem` names it).

    Args:
        name: a class name in any case, e.g. "t-shirt/top".

    Example: `canonical_name("t-shirt/top")` is "T-shirt/top".
    """
    by_key = {known.casefold(): known for known in CLASS_NAMES}
    return by_key.get(str(name).strip().casefold(), name)


def group_problem(names) -> str | None:
    """Why `names` is not a group of classes, or None when it is (or is empty: all ten).

    Args:
        names: class names, spelled as `CLASS_NAMES` spells them.

    Example: `group_problem(("Shirt", "Shirt"))` says the names repeat.
    """
    if not names:
        return None
    unknown = [name for name in names if name not in CLASS_NAMES]
    if unknown:
        return f"{', '.join(map(repr, unknown))} is not a class"
    if len(set(names)) != len(names):
        return "a class is named twice"
    if not MIN_GROUP <= len(names) < len(CLASS_NAMES):
        return f"{len(names)} classes"
    return None


def class_ids(names) -> tuple[int, ...]:
    """The original labels of the group's classes, in the group's order; all ten without a
    group. A name that is no class is refused with the list of names.

    Args:
        names: class names in any case; empty for all ten.

    Example: `class_ids(("shirt", "coat"))` is (6, 4).
    """
    names = tuple(canonical_name(name) for name in names)
    problem = group_problem(names)
    if problem:
        raise ValueError(f"classes must be {GROUP_RULE} ({problem}). Received: classes={names!r}")
    return tuple(CLASS_NAMES.index(name) for name in names) or tuple(range(len(CLASS_NAMES)))


def group_rows(labels: np.ndarray, rows: np.ndarray, group) -> np.ndarray:
    """The rows among `rows` whose label is one of the group's, in their order.

    Args:
        labels: the labels of every image of the set (e.g. the 60,000 training labels).
        rows: row numbers into `labels`, e.g. a validation split.
        group: original labels of the group (`class_ids`).

    Example: `group_rows(np.array([0, 6, 3]), np.arange(3), (6, 0))` is [0, 1].
    """
    rows = np.asarray(rows)
    return rows[np.isin(labels[rows], group)]


def group_labels(labels: np.ndarray, group) -> np.ndarray:
    """Original labels renumbered to their position in the group (0..k-1); every label must be
    one of the group's.

    Args:
        labels: original labels, all in `group`.
        group: original labels of the group (`class_ids`).

    Example: `group_labels(np.array([0, 6]), (6, 0))` is [1, 0].
    """
    position = np.full(len(CLASS_NAMES), -1, np.int64)
    position[list(group)] = np.arange(len(group))
    renumbered = position[labels]
    if np.any(renumbered < 0):
        raise ValueError(f"labels outside the group {tuple(group)}. Received: "
                         f"{sorted(set(np.asarray(labels)[renumbered < 0].tolist()))}")
    return renumbered.astype(np.asarray(labels).dtype)
