"""The one preprocessing every backend applies: resize to the input side, scale to [0,1], normalize.

It is recorded in manifests and checkpoints so training, calibration and evaluation agree.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

FASHION_MNIST_MEAN = (0.2860,)
FASHION_MNIST_STD = (0.3530,)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Preprocess:
    input_size: int
    channels: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    resize: str = "bilinear"

    def __post_init__(self) -> None:
        if len(self.mean) != self.channels or len(self.std) != self.channels:
            raise ValueError("mean/std need one value per channel")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Preprocess:
        return cls(**{**data, "mean": tuple(data["mean"]), "std": tuple(data["std"])})

    def normalize(self, images: np.ndarray) -> np.ndarray:
        """uint8 NCHW -> float32 NCHW, normalized per channel."""
        mean = np.asarray(self.mean, np.float32).reshape(1, -1, 1, 1)
        std = np.asarray(self.std, np.float32).reshape(1, -1, 1, 1)
        return ((images.astype(np.float32) / 255.0) - mean) / std


def resize_square(image: Image.Image, size: int) -> Image.Image:
    """Resize the short side to `size` and center-crop a square (torchvision's eval recipe)."""
    width, height = image.size
    scale = size / min(width, height)
    resized = image.resize(
        (max(size, round(width * scale)), max(size, round(height * scale))), Image.BILINEAR
    )
    left = (resized.width - size) // 2
    top = (resized.height - size) // 2
    return resized.crop((left, top, left + size, top + size))


def resize_batch(images: np.ndarray, size: int) -> np.ndarray:
    """Resize uint8 NCHW images to size x size with PIL (bilinear), done once at load time."""
    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    out = np.empty((*images.shape[:2], size, size), np.uint8)
    for i, image in enumerate(images):
        for c, plane in enumerate(image):
            out[i, c] = np.asarray(resize_square(Image.fromarray(plane), size))
    return out
