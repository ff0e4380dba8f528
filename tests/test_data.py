"""Datasets: IDX parsing (good and corrupt), ImageFolder loading, batching and augmentation."""

from __future__ import annotations

import gzip
import shutil
import struct

import numpy as np
import pytest
from PIL import Image

from se_deploy.core.errors import SeDeployError
from se_deploy.data import fashion_mnist, load_dataset
from se_deploy.data.dataset import augment_batch
from se_deploy.data.fashion_mnist import FILES, read_idx
from tests.conftest import requires_fashion_mnist


def write_idx(path, magic: int, array: np.ndarray, truncate: int = 0) -> None:
    header = struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.astype(np.uint8).tobytes()
    with gzip.open(path, "wb") as handle:
        handle.write(payload[: len(payload) - truncate])


def make_fmnist_dir(root, n: int = 6) -> None:
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        image_file, label_file = FILES[split]
        write_idx(root / image_file, 0x803, rng.integers(0, 255, (n, 28, 28)))
        write_idx(root / label_file, 0x801, np.arange(n) % 10)


def test_idx_roundtrip(tmp_path) -> None:
    make_fmnist_dir(tmp_path)
    data = load_dataset("fashion-mnist", "train", data_dir=tmp_path)
    assert data.images.shape == (6, 1, 28, 28)
    assert data.labels.tolist() == [0, 1, 2, 3, 4, 5]
    images, labels = next(data.batches(4))
    assert images.dtype == np.float32 and images.shape == (4, 1, 28, 28)
    assert labels.dtype == np.int64


def test_idx_resize_and_channels(tmp_path) -> None:
    make_fmnist_dir(tmp_path)
    data = load_dataset("fashion-mnist", "test", input_size=32, data_dir=tmp_path, channels=3)
    assert data.images.shape == (6, 3, 32, 32)
    assert data.preprocess.to_dict()["input_size"] == 32


@pytest.mark.parametrize(
    ("magic", "truncate", "message"),
    [(0x801, 0, "has magic 0x00000801, expected 0x00000803"), (0x803, 10, "truncated")],
)
def test_idx_corrupt(tmp_path, magic: int, truncate: int, message: str) -> None:
    path = tmp_path / "images.gz"
    write_idx(path, magic, np.zeros((3, 28, 28)), truncate)
    with pytest.raises(SeDeployError, match=message):
        read_idx(path, 0x803, 3)


def test_idx_not_gzip(tmp_path) -> None:
    (tmp_path / "x.gz").write_bytes(b"plain")
    with pytest.raises(SeDeployError, match="not a valid gzip"):
        read_idx(tmp_path / "x.gz", 0x803, 3)


def test_missing_fashion_mnist_dir(tmp_path) -> None:
    with pytest.raises(SeDeployError, match="apt-get install dataset-fashion-mnist"):
        load_dataset("fashion-mnist", data_dir=tmp_path / "nowhere")


def test_image_folder(tmp_path) -> None:
    for index, name in enumerate(["cat", "dog"]):
        (tmp_path / name).mkdir()
        for i in range(3):
            color = (index * 200, i * 40, 10)
            Image.new("RGB", (40 + i * 7, 30), color).save(tmp_path / name / f"{i}.png")
    data = load_dataset(str(tmp_path), "test", input_size=24)
    assert data.classes == ("cat", "dog")
    assert data.images.shape == (6, 3, 24, 24)
    assert data.labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert data.images[3, 0].mean() == pytest.approx(200, abs=1)


def test_image_folder_reports_unreadable(tmp_path) -> None:
    (tmp_path / "a").mkdir()
    Image.new("L", (8, 8)).save(tmp_path / "a" / "ok.png")
    (tmp_path / "a" / "broken.jpg").write_bytes(b"not an image")
    with pytest.raises(SeDeployError, match=r"1 unreadable image.*broken\.jpg"):
        load_dataset(str(tmp_path), input_size=8)


def test_bad_dataset_spec(tmp_path) -> None:
    with pytest.raises(SeDeployError, match="neither 'fashion-mnist'"):
        load_dataset(str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(SeDeployError, match="no class subfolders"):
        load_dataset(str(tmp_path / "empty"))


def test_batches_shuffle_is_seeded_and_complete() -> None:
    data = load_dataset("synthetic", "test")
    first = np.concatenate([y for _, y in data.batches(50, shuffle=True, seed=3)])
    again = np.concatenate([y for _, y in data.batches(50, shuffle=True, seed=3)])
    assert np.array_equal(first, again)
    assert sorted(first.tolist()) == sorted(data.labels.tolist())
    assert sum(len(y) for _, y in data.batches(50, limit=70)) == 70


def test_augment_keeps_shape_and_content() -> None:
    images = np.zeros((4, 1, 8, 8), np.uint8)
    images[:, :, 2:6, 2:6] = 255
    out = augment_batch(images, np.random.default_rng(0), pad=2)
    assert out.shape == images.shape
    assert (out.reshape(4, -1).sum(1) == 255 * 16).all()  # the blob moves but stays whole


@requires_fashion_mnist
def test_real_fashion_mnist_sizes() -> None:
    data = load_dataset("fashion-mnist", "test")
    assert data.images.shape == (10000, 1, 28, 28)
    assert np.bincount(data.labels).tolist() == [1000] * 10


def test_without_the_full_set_the_embedded_subset_is_read(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(fashion_mnist.SYSTEM_DIR_ENV, str(tmp_path / "not-installed"))
    test, train = load_dataset("fashion-mnist", "test"), load_dataset("fashion-mnist", "train")
    assert (len(test), len(train)) == (2000, 512)
    assert test.source["variant"] == train.source["variant"] == "subset"
    assert test.source["dir"] == str(fashion_mnist.SUBSET_DIR)
    assert np.bincount(test.labels, minlength=10).min() > 150  # every class is there


def test_the_system_directory_wins_when_it_holds_the_four_files(tmp_path, monkeypatch) -> None:
    make_fmnist_dir(tmp_path, n=6)
    monkeypatch.setenv(fashion_mnist.SYSTEM_DIR_ENV, str(tmp_path))
    data = load_dataset("fashion-mnist", "test")
    assert (len(data), data.source["variant"], data.source["dir"]) == (6, "full", str(tmp_path))


def test_a_damaged_subset_file_is_refused(tmp_path, monkeypatch) -> None:
    copy = tmp_path / "subset"
    shutil.copytree(fashion_mnist.SUBSET_DIR, copy)
    name = FILES["test"][1]
    raw = gzip.decompress((copy / name).read_bytes())
    (copy / name).write_bytes(gzip.compress(raw[:-1] + bytes([(raw[-1] + 1) % 10])))
    with pytest.raises(SeDeployError, match="does not match its sha256"):
        fashion_mnist.load_split("test", fashion_mnist.Location(copy, fashion_mnist.SUBSET))


@requires_fashion_mnist
def test_the_subset_holds_the_suites_images_of_the_full_set(monkeypatch) -> None:
    """The first 2,000 test images, and the 512 train images calibration draws (seed 0): the
    suite's figures on the subset are the full set's."""
    full_test = load_dataset("fashion-mnist", "test", data_dir=fashion_mnist.SYSTEM_DIR)
    full_train = load_dataset("fashion-mnist", "train", data_dir=fashion_mnist.SYSTEM_DIR)
    subset = fashion_mnist.Location(fashion_mnist.SUBSET_DIR, fashion_mnist.SUBSET)
    test_images, test_labels = fashion_mnist.load_split("test", subset)
    train_images, train_labels = fashion_mnist.load_split("train", subset)
    assert np.array_equal(test_images, full_test.images[:2000])
    assert np.array_equal(test_labels, full_test.labels[:2000])
    order = np.arange(len(full_train))
    np.random.default_rng(0).shuffle(order)
    assert np.array_equal(train_images, full_train.images[order[:512]])
    assert np.array_equal(train_labels, full_train.labels[order[:512]])
