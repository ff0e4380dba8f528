"""A small learnable synthetic set for unit tests only: each class is a distinct blob position."""

from __future__ import annotations

import numpy as np


def make_synthetic(
    count: int, size: int, channels: int, num_classes: int = 10, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, num_classes, count).astype(np.int64)
    images = rng.integers(0, 60, (count, channels, size, size)).astype(np.uint8)
    cells = int(np.ceil(np.sqrt(num_classes)))
    cell = max(1, size // cells)
    for i, label in enumerate(labels):
        top, left = (label // cells) * cell, (label % cells) * cell
        images[i, :, top : top + cell, left : left + cell] = 220
    return images, labels
