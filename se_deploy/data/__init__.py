"""Datasets: Fashion-MNIST, ImageFolder directories and a synthetic set, behind one ImageSet."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from se_deploy.core.choices import Split
from se_deploy.core.errors import SeDeployError
from se_deploy.data import fashion_mnist
from se_deploy.data.dataset import Batch, ImageSet
from se_deploy.data.image_folder import load_image_folder
from se_deploy.data.preprocess import (
    FASHION_MNIST_MEAN,
    FASHION_MNIST_STD,
    IMAGENET_MEAN,
    IMAGENET_STD,
    Preprocess,
    Size,
    as_hw,
    resize_batch,
)
from se_deploy.data.synthetic import make_synthetic

FASHION_MNIST = "fashion-mnist"
SYNTHETIC = "synthetic"
SPLITS = tuple(Split)
_SYNTHETIC_SIZES = {"train": 512, "test": 128}

__all__ = ["Batch", "ImageSet", "Preprocess", "load_dataset"]


def load_dataset(
    spec: str,
    split: str = "test",
    input_size: Size | None = None,
    data_dir: Path | None = None,
    channels: int | None = None,
) -> ImageSet:
    """Load 'fashion-mnist', 'synthetic' or an ImageFolder directory (DIR/<split>/ if present)."""
    if split not in SPLITS:
        raise SeDeployError(f"unknown split '{split}'; use one of {', '.join(SPLITS)}")
    if spec == FASHION_MNIST:
        return _fashion_mnist(split, input_size or 28, data_dir, channels or 1)
    if spec == SYNTHETIC:
        return _synthetic(split, input_size or 32, channels or 1)
    return _image_folder(Path(spec), split, input_size or 224, channels or 3)


def _fashion_mnist(split: str, size: Size, data_dir: Path | None, channels: int) -> ImageSet:
    if channels not in (1, 3):
        raise SeDeployError(f"Fashion-MNIST is grayscale: use 1 or 3 channels, not {channels}")
    location = fashion_mnist.locate(data_dir)
    images, labels = fashion_mnist.load_split(split, location)
    images = np.repeat(resize_batch(images, size), channels, axis=1)
    pre = Preprocess(size, channels, FASHION_MNIST_MEAN * channels, FASHION_MNIST_STD * channels)
    return ImageSet(
        FASHION_MNIST,
        images,
        labels,
        fashion_mnist.CLASSES,
        pre,
        {
            "kind": FASHION_MNIST,
            "dir": str(location.root),
            "variant": location.variant,
            "split": split,
        },
    )


def _synthetic(split: str, size: Size, channels: int) -> ImageSet:
    seed = SPLITS.index(split)
    images, labels = make_synthetic(_SYNTHETIC_SIZES[split], max(as_hw(size)), channels, seed=seed)
    images = resize_batch(images, size)
    pre = Preprocess(size, channels, (0.5,) * channels, (0.5,) * channels)
    classes = tuple(str(i) for i in range(10))
    return ImageSet(SYNTHETIC, images, labels, classes, pre, {"kind": SYNTHETIC, "split": split})


def _image_folder(root: Path, split: str, size: Size, channels: int) -> ImageSet:
    if not root.exists():
        raise SeDeployError(
            f"dataset '{root}' is neither 'fashion-mnist', 'synthetic' nor an "
            "existing directory; pass one of those"
        )
    folder = root / split if (root / split).is_dir() else root
    images, labels, classes = load_image_folder(folder, size, channels)
    mean, std = (IMAGENET_MEAN, IMAGENET_STD) if channels == 3 else ((0.5,), (0.5,))
    pre = Preprocess(size, channels, mean, std)
    return ImageSet(
        root.name,
        images,
        labels,
        classes,
        pre,
        {"kind": "image_folder", "dir": str(folder), "split": split},
    )
