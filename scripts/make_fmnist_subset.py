"""Write the Fashion-MNIST subset that ships in se_deploy/data/fashion_mnist_subset/.

The default suite (`se-deploy bench`) scores the first 2,000 test images and calibrates INT8 on
512 train images drawn by `fixed_batches` with seed 0 (ImageSet.batches: a seeded shuffle of the
whole train split, then its first 512). The subset holds exactly those images, in that order, so
a machine without the full dataset gets the same figures (MinMax calibration does not depend on
the order of its images). Reads the full IDX files (Debian's dataset-fashion-mnist, or --src);
writes gzip with mtime 0, so a rerun is byte-identical, and SHA256SUMS.

    python scripts/make_fmnist_subset.py [--src DIR]
"""

from __future__ import annotations

import argparse
import gzip
import struct
from pathlib import Path

import numpy as np

from se_deploy.data import fashion_mnist

TEST_IMAGES = 2000
TRAIN_IMAGES = 512
CALIBRATION_SEED = 0


def idx_bytes(array: np.ndarray, magic: int) -> bytes:
    header = struct.pack(f">I{array.ndim}I", magic, *array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def calibration_order(count: int) -> np.ndarray:
    """The train indices `ImageSet.batches(shuffle=True, seed=0)` visits first."""
    order = np.arange(count)
    np.random.default_rng(CALIBRATION_SEED).shuffle(order)
    return order[:TRAIN_IMAGES]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, default=fashion_mnist.SYSTEM_DIR)
    args = parser.parse_args()
    out = fashion_mnist.SUBSET_DIR
    test_images, test_labels = fashion_mnist.read_split(args.src, "test")
    train_images, train_labels = fashion_mnist.read_split(args.src, "train")
    picked = calibration_order(len(train_labels))
    splits = {
        "test": (test_images[:TEST_IMAGES], test_labels[:TEST_IMAGES]),
        "train": (train_images[picked], train_labels[picked]),
    }
    for split, (images, labels) in splits.items():
        image_file, label_file = fashion_mnist.FILES[split]
        (out / image_file).write_bytes(
            gzip.compress(idx_bytes(images, fashion_mnist.IMAGES_MAGIC), mtime=0)
        )
        (out / label_file).write_bytes(
            gzip.compress(idx_bytes(labels, fashion_mnist.LABELS_MAGIC), mtime=0)
        )
    sums = [
        f"{fashion_mnist.sha256_file(out / name)}  {name}"
        for pair in fashion_mnist.FILES.values()
        for name in pair
    ]
    (out / fashion_mnist.CHECKSUMS).write_text("\n".join(sums) + "\n")
    print(f"wrote {out}: {TEST_IMAGES} test and {TRAIN_IMAGES} train images")


if __name__ == "__main__":
    main()
