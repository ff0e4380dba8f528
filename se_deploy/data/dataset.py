"""ImageSet: uint8 images + labels + preprocessing, and the batch iterator every stage consumes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from se_deploy.data.preprocess import Preprocess

Batch = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class ImageSet:
    """Images stored as uint8 NCHW at the model's input size; normalized only when batched."""

    name: str
    images: np.ndarray
    labels: np.ndarray
    classes: tuple[str, ...]
    preprocess: Preprocess
    source: dict[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.labels)

    def batches(
        self,
        batch_size: int,
        shuffle: bool = False,
        seed: int = 0,
        augment: bool = False,
        limit: int | None = None,
    ) -> Iterator[Batch]:
        """Yield (float32 normalized NCHW, int64 labels); `augment` adds padded crop + flip."""
        order = np.arange(len(self))
        rng = np.random.default_rng(seed)
        if shuffle:
            rng.shuffle(order)
        if limit is not None:
            order = order[:limit]
        for start in range(0, len(order), batch_size):
            index = order[start : start + batch_size]
            images = self.images[index]
            if augment:
                images = augment_batch(images, rng)
            yield self.preprocess.normalize(images), self.labels[index].astype(np.int64)


def augment_batch(images: np.ndarray, rng: np.random.Generator, pad: int = 4) -> np.ndarray:
    """Random crop with zero padding and random horizontal flip, per image."""
    n, _, height, width = images.shape
    padded = np.pad(images, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    tops = rng.integers(0, 2 * pad + 1, n)
    lefts = rng.integers(0, 2 * pad + 1, n)
    flips = rng.random(n) < 0.5
    out = np.empty_like(images)
    for i in range(n):
        crop = padded[i, :, tops[i] : tops[i] + height, lefts[i] : lefts[i] + width]
        out[i] = crop[:, :, ::-1] if flips[i] else crop
    return out
