"""Test-time augmentation: the mean prediction over mirrored and shifted copies of the images.

Flips follow Fashion-MNIST's left-right symmetry; the shifts are airbench's translate TTA (Jordan
2024, arXiv:2404.00498, section 3.7), which adds copies moved diagonally by one pixel each way.
"""

import numpy as np


def tta_shifts(pixels: int) -> list[tuple[int, int]]:
    """The (down, right) shifts of translate TTA: none, then (d, d) and (-d, -d) for d = 1 to
    `pixels`.

    Example:
        >>> tta_shifts(1)  # [(0, 0), (1, 1), (-1, -1)]
    """
    if pixels < 0:
        raise ValueError(f"pixels must be >= 0. Received: pixels={pixels}")
    return [(0, 0)] + [(sign * d, sign * d) for d in range(1, pixels + 1) for sign in (1, -1)]


def shift(images: np.ndarray, down: int, right: int) -> np.ndarray:
    """`images` (N, H, W, ...) moved `down` rows and `right` columns (negative: up, left), the
    uncovered border filled with 0, the background, as the training shifts fill it."""
    moved = np.zeros_like(images)
    height, width = images.shape[1:3]
    rows = slice(max(down, 0), height + min(down, 0))
    cols = slice(max(right, 0), width + min(right, 0))
    source_rows = slice(max(-down, 0), height + min(-down, 0))
    source_cols = slice(max(-right, 0), width + min(-right, 0))
    moved[:, rows, cols] = images[:, source_rows, source_cols]
    return moved


def tta_views(images: np.ndarray, pixels: int = 0):
    """Every view of `images` that TTA averages: each shift of `tta_shifts(pixels)`, as it is and
    mirrored left-right (the unshifted image first)."""
    for down, right in tta_shifts(pixels):
        moved = shift(images, down, right) if down or right else images
        yield moved
        yield moved[:, :, ::-1]


def predict_with_tta(predict, images: np.ndarray, pixels: int = 0, plain=None) -> np.ndarray:
    """The plain mean of `predict(view)` over the views of `tta_views(images, pixels)`: with
    `pixels=0`, the image and its mirror (flip TTA); with 1, six views. airbench weights the
    unshifted pair 1/2 and each shifted pair 1/4; here every view counts the same.

    Args:
        predict: `fn(images) -> (N, classes)` probabilities.
        images: (N, H, W, C) images.
        pixels: the largest shift.
        plain: `predict(images)` when already computed, to save one pass.

    Example:
        >>> probabilities = predict_with_tta(lambda x: model.predict(x, verbose=0), x_val, 1)
    """
    total, count = None, 0
    for index, view in enumerate(tta_views(images, pixels)):
        prediction = plain if index == 0 and plain is not None else predict(view)
        total = prediction if total is None else total + prediction
        count += 1
    return total / count
