"""Fashion-MNIST from its IDX .gz files (Debian package `dataset-fashion-mnist`).

IDX layout: big-endian magic (0x00000803 images, 0x00000801 labels), then dimension sizes, then
uint8 data. Every header and size is checked so a truncated or foreign file is a clear error.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

from se_deploy.core.errors import SeDeployError

DEFAULT_DIR = Path("/usr/share/datasets/fashion-mnist")
CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
_IMAGES_MAGIC, _LABELS_MAGIC = 0x00000803, 0x00000801
_INSTALL_HINT = (
    "install it with `apt-get install dataset-fashion-mnist` or pass --data-dir "
    "with the four IDX .gz files"
)


def read_idx(path: Path, magic: int, ndim: int) -> np.ndarray:
    """Read one IDX file, validating magic number, dimensions and payload size."""
    try:
        with gzip.open(path, "rb") as handle:
            raw = handle.read()
    except FileNotFoundError:
        raise SeDeployError(f"Fashion-MNIST file '{path}' is missing; {_INSTALL_HINT}") from None
    except (OSError, EOFError, zlib.error) as exc:
        raise SeDeployError(
            f"Fashion-MNIST file '{path}' is not a valid gzip file ({exc}); "
            "re-download or reinstall it"
        ) from None
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise SeDeployError(f"IDX file '{path}' is truncated (only {len(raw)} bytes); replace it")
    found = struct.unpack(">I", raw[:4])[0]
    if found != magic:
        raise SeDeployError(
            f"IDX file '{path}' has magic 0x{found:08x}, expected 0x{magic:08x} "
            "(wrong file for this role?); check the file names"
        )
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    expected = int(np.prod(dims))
    if len(raw) - header != expected:
        raise SeDeployError(
            f"IDX file '{path}' holds {len(raw) - header} data bytes but its "
            f"header says {dims} = {expected}; the file is truncated or corrupt"
        )
    return np.frombuffer(raw, np.uint8, offset=header).reshape(dims)


def load_split(split: str, data_dir: Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Return uint8 images (N, 1, 28, 28) and int64 labels for 'train' or 'test'."""
    root = Path(data_dir) if data_dir else DEFAULT_DIR
    if not root.is_dir():
        raise SeDeployError(f"Fashion-MNIST directory '{root}' does not exist; {_INSTALL_HINT}")
    image_file, label_file = FILES[split]
    images = read_idx(root / image_file, _IMAGES_MAGIC, 3)
    labels = read_idx(root / label_file, _LABELS_MAGIC, 1)
    if len(images) != len(labels):
        raise SeDeployError(
            f"Fashion-MNIST {split} split has {len(images)} images but "
            f"{len(labels)} labels in '{root}'; the files do not belong together"
        )
    if labels.size and labels.max() >= len(CLASSES):
        raise SeDeployError(
            f"Fashion-MNIST labels in '{root / label_file}' exceed 9; the file is corrupt"
        )
    return images[:, None], labels.astype(np.int64)
