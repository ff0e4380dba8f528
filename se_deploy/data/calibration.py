"""Calibration data: the same ImageSet batches training and eval use, fed to ORT and TensorRT.

The images are drawn from the *train* split (never the test split the accuracy is reported on),
at the ONNX model's own input size and channel count, with the dataset's recorded preprocessing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnxruntime.quantization import CalibrationDataReader

from se_deploy.core.errors import SeDeployError
from se_deploy.core.shapes import (
    InputShapes,
    declared_dims,
    filled_dims,
    graph_inputs,
    require_known_inputs,
)
from se_deploy.data import ImageSet, load_dataset
from se_deploy.data.preprocess import Preprocess, compact_size

CALIBRATION_SPLIT = "train"
_NUMPY_TYPES = {onnx.TensorProto.FLOAT: np.float32, onnx.TensorProto.FLOAT16: np.float16}


@dataclass(frozen=True)
class ImageInput:
    """The one image input of a classifier graph: name, dtype and NCHW shape (batch may be None)."""

    name: str
    dtype: np.dtype
    batch: int | None
    channels: int
    height: int
    width: int

    @property
    def chw(self) -> tuple[int, int, int]:
        return self.channels, self.height, self.width


def image_input(model: onnx.ModelProto, shapes: InputShapes | None = None) -> ImageInput:
    """The model's image input, its symbolic dims filled from `shapes` (--shapes), or an error
    saying why this graph cannot be fed images."""
    inputs = graph_inputs(model)
    if len(inputs) != 1:
        raise SeDeployError(
            f"the model has {len(inputs)} inputs; se-deploy feeds classifiers "
            "with one NCHW image input"
        )
    value = inputs[0]
    tensor = value.type.tensor_type
    dims: list[int | None] = [d if isinstance(d, int) else None for d in declared_dims(value)]
    if shapes is not None and shapes.dims:
        require_known_inputs(model, shapes)
        dims = list(filled_dims(value.name, dims, shapes.get(value.name)))
    if tensor.elem_type not in _NUMPY_TYPES or len(dims) != 4 or None in dims[1:]:
        example = "x".join(str(d) if d else "N" for d in dims) if len(dims) == 4 else "1xCxHxW"
        raise SeDeployError(
            f"input '{value.name}' is not a float NCHW image with static C, H, W "
            f"(dims {['?' if d is None else d for d in dims]}); pass --shapes "
            f"{value.name}:{example} with numbers for its symbolic dims"
        )
    batch, channels, height, width = dims
    return ImageInput(
        value.name, np.dtype(_NUMPY_TYPES[tensor.elem_type]), batch, channels, height, width
    )


def load_images(
    spec: str, target: ImageInput, split: str, data_dir: Path | None = None
) -> ImageSet:
    """`spec` ('fashion-mnist', 'synthetic' or an ImageFolder dir) at the model's input shape."""
    size = compact_size(target.height, target.width)
    return load_dataset(spec, split, size, data_dir, target.channels)


def with_recorded_preprocess(images: ImageSet, recorded: dict[str, Any] | None) -> ImageSet:
    """`images` normalized as the source manifest records (an --onnx import's --mean/--std/
    --channel-order, set once at export), else as the dataset's own preprocessing."""
    if not recorded:
        return images
    preprocess = Preprocess.from_dict(recorded)
    if preprocess.channels != images.preprocess.channels:
        raise SeDeployError(
            f"the manifest records {preprocess.channels}-channel preprocessing but the images "
            f"have {images.preprocess.channels} channels; re-export with matching --mean/--std"
        )
    return dataclasses.replace(
        images, preprocess=dataclasses.replace(preprocess, input_size=images.preprocess.input_size)
    )


def fixed_batches(
    images: ImageSet, batch_size: int, limit: int, seed: int, dtype: np.dtype
) -> Callable[[], Iterator[np.ndarray]]:
    """A restartable stream of `limit` shuffled images in batches of exactly `batch_size`
    (a ragged tail is dropped: TensorRT calibrates with one fixed batch shape)."""
    count = batch_count(images, batch_size, limit) * batch_size
    if count == 0:
        raise SeDeployError(
            f"{min(limit, len(images))} calibration images ('{images.name}' has {len(images)}, "
            f"--calib-size {limit}) are fewer than one batch of {batch_size}; lower "
            "--calib-batch-size or raise --calib-size"
        )

    def stream() -> Iterator[np.ndarray]:
        for batch, _ in images.batches(batch_size, shuffle=True, seed=seed, limit=count):
            yield batch.astype(dtype, copy=False)

    return stream


def batch_count(images: ImageSet, batch_size: int, limit: int) -> int:
    """How many whole batches `fixed_batches` yields (what a calibration progress bar counts)."""
    return min(limit, len(images)) // batch_size


class BatchReader(CalibrationDataReader):
    """ORT's one-method calibration reader over a restartable stream of image batches;
    `on_batch(n)` hears of each batch handed out (ORT pulls them: the progress of calibration)."""

    def __init__(
        self,
        input_name: str,
        stream: Callable[[], Iterator[np.ndarray]],
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        self.input_name = input_name
        self.stream = stream
        self.on_batch = on_batch
        self.images = 0
        self.batches = 0
        self._batches = stream()

    def get_next(self) -> dict[str, np.ndarray] | None:
        batch = next(self._batches, None)
        if batch is None:
            return None
        self.images += len(batch)
        self.batches += 1
        if self.on_batch is not None:
            self.on_batch(self.batches)
        return {self.input_name: batch}

    def rewind(self) -> None:
        """Start over (ORT calls this between calibration passes, e.g. SmoothQuant)."""
        self.images = 0
        self.batches = 0
        self._batches = self.stream()
