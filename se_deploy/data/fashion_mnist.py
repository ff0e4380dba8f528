"""Fashion-MNIST from its IDX .gz files: the full dataset (Debian package `dataset-fashion-mnist`,
or `--data-dir`) or, when neither is there, the subset that ships with se-deploy.

IDX layout: big-endian magic (0x00000803 images, 0x00000801 labels), then dimension sizes, then
uint8 data. Every header and size is checked so a truncated or foreign file is a clear error.

Where the files come from, in order: `--data-dir` (must hold the four files); the system
directory (SE_DEPLOY_FASHION_MNIST_DIR, else /usr/share/datasets/fashion-mnist) when it holds
them; else the embedded subset (fashion_mnist_subset/: the 2,000 test images the default suite
scores and the 512 train images it calibrates on; its sha256 sums are checked at load). Every
ImageSet records which one it read (`source["variant"]`: full or subset).
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from se_deploy.core.errors import SeDeployError
from se_deploy.core.files import sha256_file

SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
SYSTEM_DIR_ENV = "SE_DEPLOY_FASHION_MNIST_DIR"
SUBSET_DIR = Path(__file__).with_name("fashion_mnist_subset")
CHECKSUMS = "SHA256SUMS"
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
IMAGES_MAGIC, LABELS_MAGIC = 0x00000803, 0x00000801
FULL, SUBSET = "full", "subset"
_INSTALL_HINT = (
    "install it with `apt-get install dataset-fashion-mnist` or pass --data-dir "
    "with the four IDX .gz files"
)


@dataclass(frozen=True)
class Location:
    """The directory the split is read from and whether it is the full set or the subset."""

    root: Path
    variant: str


def system_dir() -> Path:
    return Path(os.environ.get(SYSTEM_DIR_ENV) or SYSTEM_DIR)


def locate(data_dir: Path | None = None) -> Location:
    """`data_dir` if given, else the system directory when it holds all four files, else the
    embedded subset."""
    if data_dir is not None:
        if not Path(data_dir).is_dir():
            raise SeDeployError(
                f"Fashion-MNIST directory '{data_dir}' does not exist; {_INSTALL_HINT}"
            )
        return Location(Path(data_dir), FULL)
    root = system_dir()
    if all((root / name).is_file() for pair in FILES.values() for name in pair):
        return Location(root, FULL)
    return Location(SUBSET_DIR, SUBSET)


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


def verify_subset(root: Path = SUBSET_DIR) -> None:
    """Check the embedded files against SHA256SUMS: a damaged checkout must not score silently."""
    for line in (root / CHECKSUMS).read_text().splitlines():
        digest, name = line.split()
        if sha256_file(root / name) != digest:
            raise SeDeployError(
                f"embedded Fashion-MNIST file '{root / name}' does not match its sha256 in "
                f"{CHECKSUMS}; restore it (git checkout) or reinstall se-deploy"
            )


def read_split(root: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images (N, 28, 28) and uint8 labels of one split from the IDX files under `root`."""
    image_file, label_file = FILES[split]
    images = read_idx(root / image_file, IMAGES_MAGIC, 3)
    labels = read_idx(root / label_file, LABELS_MAGIC, 1)
    if len(images) != len(labels):
        raise SeDeployError(
            f"Fashion-MNIST {split} split has {len(images)} images but "
            f"{len(labels)} labels in '{root}'; the files do not belong together"
        )
    if labels.size and labels.max() >= len(CLASSES):
        raise SeDeployError(
            f"Fashion-MNIST labels in '{root / label_file}' exceed 9; the file is corrupt"
        )
    return images, labels


def load_split(split: str, location: Location) -> tuple[np.ndarray, np.ndarray]:
    """Return uint8 images (N, 1, 28, 28) and int64 labels for 'train' or 'test'."""
    if location.variant == SUBSET:
        verify_subset(location.root)
    images, labels = read_split(location.root, split)
    return images[:, None], labels.astype(np.int64)
