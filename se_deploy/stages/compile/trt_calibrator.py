"""TensorRT implicit INT8: an entropy calibrator (IInt8EntropyCalibrator2) fed the same image
batches ORT calibrates with, through one device buffer.

Used only for models without Q/DQ nodes; a QDQ model carries its scales and builds without it.
TensorRT asks `read_calibration_cache` first and calibrates only when it returns None, so a cache
from an earlier build of the same model skips the pass.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from math import prod
from typing import Any

import numpy as np

from se_deploy.backends.trt import cuda_call, import_cudart


def entropy_calibrator(
    stream: Callable[[], Iterator[np.ndarray]],
    batch_shape: tuple[int, ...],
    dtype: np.dtype,
    cache: bytes | None,
) -> Any:
    """An IInt8EntropyCalibrator2 over `stream`'s batches of exactly `batch_shape`; after the
    build its `cache` holds the calibration table and `images` how many images it saw."""
    import tensorrt as trt

    cudart = import_cudart()

    class EntropyCalibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self) -> None:
            trt.IInt8EntropyCalibrator2.__init__(self)  # the binding's trampoline needs it
            self.batches = stream()
            self.cache = cache
            self.images = 0
            self.nbytes = prod(batch_shape) * np.dtype(dtype).itemsize
            self.device = cuda_call(cudart.cudaMalloc(self.nbytes))

        def get_batch_size(self) -> int:
            return batch_shape[0]

        def get_batch(self, names: list[str]) -> list[int] | None:
            batch = next(self.batches, None)
            if batch is None:
                return None
            batch = np.ascontiguousarray(batch, dtype=dtype)
            kind = cudart.cudaMemcpyKind.cudaMemcpyHostToDevice
            cuda_call(cudart.cudaMemcpy(self.device, batch.ctypes.data, batch.nbytes, kind))
            self.images += len(batch)
            return [int(self.device)]

        def read_calibration_cache(self) -> bytes | None:
            return self.cache

        def write_calibration_cache(self, table: Any) -> None:
            self.cache = bytes(table)

        def free(self) -> None:
            cuda_call(cudart.cudaFree(self.device))

    return EntropyCalibrator()
