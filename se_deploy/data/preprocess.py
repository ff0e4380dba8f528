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


Size = int | tuple[int, int]  # a square side, or (height, width) for non-square inputs


def as_hw(size: Size) -> tuple[int, int]:
    """(height, width) of a size given as a square side or a pair."""
    if isinstance(size, int):
        return size, size
    height, width = size
    return int(height), int(width)


def compact_size(height: int, width: int) -> Size:
    """The side for a square, else (height, width): square records stay as they were."""
    return height if height == width else (height, width)


@dataclass(frozen=True)
class Preprocess:
    input_size: Size
    channels: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    resize: str = "bilinear"
    channel_order: str = "rgb"  # bgr: the model takes channels reversed (Paddle, OpenCV)

    def __post_init__(self) -> None:
        if len(self.mean) != self.channels or len(self.std) != self.channels:
            raise ValueError("mean/std need one value per channel")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Preprocess:
        size = data["input_size"]
        size = size if isinstance(size, int) else compact_size(*as_hw(tuple(size)))
        return cls(
            **{**data, "input_size": size, "mean": tuple(data["mean"]), "std": tuple(data["std"])}
        )

    def normalize(self, images: np.ndarray) -> np.ndarray:
        """uint8 NCHW (RGB) -> float32 NCHW in the model's channel order, normalized per
        channel (mean/std are given in the model's order)."""
        if self.channel_order == "bgr":
            images = images[:, ::-1]
        mean = np.asarray(self.mean, np.float32).reshape(1, -1, 1, 1)
        std = np.asarray(self.std, np.float32).reshape(1, -1, 1, 1)
        return ((images.astype(np.float32) / 255.0) - mean) / std


def resize_crop(image: Image.Image, size: Size) -> Image.Image:
    """Resize so the image covers height x width, then center-crop it (torchvision's eval
    recipe, short side to the size, generalized to non-square model inputs such as 48x192)."""
    target_h, target_w = as_hw(size)
    width, height = image.size
    scale = max(target_h / height, target_w / width)
    resized = image.resize(
        (max(target_w, round(width * scale)), max(target_h, round(height * scale))),
        Image.BILINEAR,
    )
    left = (resized.width - target_w) // 2
    top = (resized.height - target_h) // 2
    return resized.crop((left, top, left + target_w, top + target_h))


def resize_batch(images: np.ndarray, size: Size) -> np.ndarray:
    """Resize uint8 NCHW images to the size with PIL (bilinear), done once at load time."""
    height, width = as_hw(size)
    if images.shape[-2:] == (height, width):
        return images
    out = np.empty((*images.shape[:2], height, width), np.uint8)
    for i, image in enumerate(images):
        for c, plane in enumerate(image):
            out[i, c] = np.asarray(resize_crop(Image.fromarray(plane), size))
    return out
