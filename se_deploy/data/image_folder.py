"""ImageFolder directories: one subfolder per class, any format PIL decodes.

Unreadable files are collected and reported together rather than silently dropped.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from se_deploy.core.errors import SeDeployError
from se_deploy.data.preprocess import Size, as_hw, resize_crop

EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}
_MAX_LISTED = 5


def list_images(root: Path) -> tuple[list[tuple[Path, int]], tuple[str, ...]]:
    """(path, class index) pairs in sorted order, and the class names."""
    if not root.is_dir():
        raise SeDeployError(
            f"dataset directory '{root}' does not exist; pass 'fashion-mnist' or "
            "a folder with one subfolder of images per class"
        )
    classes = tuple(sorted(p.name for p in root.iterdir() if p.is_dir()))
    if not classes:
        raise SeDeployError(
            f"dataset directory '{root}' has no class subfolders; put images in "
            f"'{root}/<class>/' folders"
        )
    items = [
        (path, index)
        for index, name in enumerate(classes)
        for path in sorted((root / name).rglob("*"))
        if path.suffix.lower() in EXTENSIONS
    ]
    if not items:
        raise SeDeployError(
            f"dataset directory '{root}' holds no images with extensions {sorted(EXTENSIONS)}"
        )
    return items, classes


def load_image_folder(
    root: Path, size: Size, channels: int
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Decode, resize and center-crop every image to uint8 (N, C, height, width)."""
    items, classes = list_images(Path(root))
    mode = "L" if channels == 1 else "RGB"
    images = np.empty((len(items), channels, *as_hw(size)), np.uint8)
    broken: list[str] = []
    for i, (path, _) in enumerate(items):
        try:
            with Image.open(path) as image:
                array = np.asarray(resize_crop(image.convert(mode), size))
        except (UnidentifiedImageError, OSError, ValueError) as exc:
            broken.append(f"{path} ({type(exc).__name__})")
            continue
        images[i] = array[None] if channels == 1 else array.transpose(2, 0, 1)
    if broken:
        shown = "; ".join(broken[:_MAX_LISTED])
        more = f" and {len(broken) - _MAX_LISTED} more" if len(broken) > _MAX_LISTED else ""
        raise SeDeployError(
            f"{len(broken)} unreadable image(s) in '{root}': {shown}{more}; remove or fix them"
        )
    labels = np.array([label for _, label in items], np.int64)
    return images, labels, classes
