"""TensorRT runner: deserializes an engine from `se-deploy build --backend trt` and runs it.

TensorRT 10 API (named I/O tensors, `execute_async_v3`), device and pinned host buffers through
cuda-python's runtime bindings, optional CUDA graphs (one enqueue captured, then replayed), and the
layer profiler (`trt.IProfiler`). `prepare` copies inputs to the device once, so the timed call is
compute alone; the host->device and device->host copies are separate timed calls.
tensorrt and cuda-python are imported only here, only when the runner is checked or loaded.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from se_deploy.backends.base import (
    Device,
    LayerTime,
    Prepared,
    Runner,
    RunnerOptions,
    TensorSpec,
    require_file,
)
from se_deploy.core.errors import SeDeployError
from se_deploy.core.verbosity import trt_severity

ENGINE_SUFFIXES = (".engine", ".plan", ".trt")
BUILD_MANIFEST = "build-trt.json"  # beside an engine: how `se-deploy build` made it
INSTALL_HINT = "pip install se-deploy[trt]"
_ONNX_ORIGIN = "[ONNX Layer: "


def import_cudart() -> Any:
    """cuda-python's runtime module (`cuda.bindings.runtime` from 12.6, `cuda.cudart` before)."""
    try:
        from cuda.bindings import runtime
    except ImportError:
        from cuda import cudart as runtime
    return runtime


def cuda_call(result: Any) -> Any:
    """Unwrap a cuda-python `(error, *values)` tuple; raise with CUDA's message on failure."""
    cudart = import_cudart()
    error, *values = result if isinstance(result, tuple) else (result,)
    if error != cudart.cudaError_t.cudaSuccess:
        message = cudart.cudaGetErrorString(error)[1].decode()
        raise SeDeployError(f"CUDA call failed: {message}")
    return values[0] if len(values) == 1 else tuple(values)


@dataclass
class _Buffer:
    """One tensor's device allocation and its pinned host mirror."""

    device: int
    host: np.ndarray
    host_ptr: int
    nbytes: int


class _Bindings:
    """Device/pinned buffers for one set of input shapes, and the CUDA graph captured on them."""

    def __init__(self, runner: TrtRunner, shapes: dict[str, tuple[int, ...]]) -> None:
        self.runner = runner
        context = runner.context
        for name, shape in shapes.items():
            if not context.set_input_shape(name, shape):
                raise SeDeployError(
                    f"engine rejects shape {shape} for '{name}'; it was built for "
                    f"{runner.profile_range(name)}; rebuild with a wider "
                    "--batch-size range"
                )
        self.buffers = {
            spec.name: _allocate(tuple(context.get_tensor_shape(spec.name)), spec.dtype)
            for spec in (*runner.inputs, *runner.outputs)
        }
        self.shapes = shapes
        self.graph_exec: Any = None
        self.graph: Any = None
        self.activate()

    def activate(self) -> None:
        """Point the context at these shapes and buffers (it holds one binding at a time)."""
        context = self.runner.context
        for name, shape in self.shapes.items():
            context.set_input_shape(name, shape)
        for name, buffer in self.buffers.items():
            context.set_tensor_address(name, buffer.device)
        self.runner.active = self

    def copy(self, names: list[str], to_device: bool) -> None:
        cudart = import_cudart()
        kind = (
            cudart.cudaMemcpyKind.cudaMemcpyHostToDevice
            if to_device
            else cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost
        )
        for name in names:
            buffer = self.buffers[name]
            dst, src = (
                (buffer.device, buffer.host_ptr) if to_device else (buffer.host_ptr, buffer.device)
            )
            cuda_call(cudart.cudaMemcpyAsync(dst, src, buffer.nbytes, kind, self.runner.stream))

    def capture_graph(self) -> None:
        """Capture one enqueue as a CUDA graph; TensorRT needs one plain enqueue before capture."""
        cudart = import_cudart()
        stream = self.runner.stream
        self.runner.enqueue()
        cuda_call(cudart.cudaStreamSynchronize(stream))
        mode = cudart.cudaStreamCaptureMode.cudaStreamCaptureModeThreadLocal
        cuda_call(cudart.cudaStreamBeginCapture(stream, mode))
        self.runner.enqueue()
        self.graph = cuda_call(cudart.cudaStreamEndCapture(stream))
        self.graph_exec = cuda_call(cudart.cudaGraphInstantiate(self.graph, 0))

    def free(self) -> None:
        cudart = import_cudart()
        if self.graph_exec is not None:
            cuda_call(cudart.cudaGraphExecDestroy(self.graph_exec))
            cuda_call(cudart.cudaGraphDestroy(self.graph))
        for buffer in self.buffers.values():
            cuda_call(cudart.cudaFree(buffer.device))
            cuda_call(cudart.cudaFreeHost(buffer.host_ptr))


class TrtRunner(Runner):
    name: ClassVar[str] = "trt"
    devices: ClassVar[tuple[Device, ...]] = (Device.CUDA,)
    suffixes: ClassVar[tuple[str, ...]] = ENGINE_SUFFIXES
    artifact_kind: ClassVar[str] = "engine"
    made_by: ClassVar[str] = "se-deploy build --backend trt"
    accepts: ClassVar[frozenset[str]] = frozenset({"cuda_graphs"})

    @classmethod
    def graph_source(cls, artifact: Path) -> Path | None:
        """The ONNX file the engine was built from: its build record names it, and `build`
        writes the engine beside it."""
        record = Path(artifact).parent / BUILD_MANIFEST
        if record.is_file():
            with contextlib.suppress(ValueError, KeyError, TypeError):
                return Path(json.loads(record.read_text())["source"]["path"])
        return Path(artifact).parent / "model.onnx"

    @classmethod
    def artifact_precision(cls, artifact: Path) -> str:
        """The engine precision its build record gives; 'engine' when there is none."""
        record = Path(artifact).parent / BUILD_MANIFEST
        if record.is_file():
            with contextlib.suppress(ValueError, KeyError, TypeError):
                return str(json.loads(record.read_text())["trt"]["engine_precision"])
        return "engine"

    @classmethod
    def unavailable_impl(cls, options: RunnerOptions) -> str | None:
        try:
            import tensorrt  # noqa: F401
        except ImportError:
            return f"tensorrt is not installed ({INSTALL_HINT})"
        try:
            cudart = import_cudart()
        except ImportError:
            return f"cuda-python is not installed ({INSTALL_HINT})"
        error, count = cudart.cudaGetDeviceCount()
        if error != cudart.cudaError_t.cudaSuccess or count == 0:
            detail = cudart.cudaGetErrorString(error)[1].decode()
            return f"no CUDA device ({detail})"
        return None

    def load_impl(
        self, artifact: Any, options: RunnerOptions
    ) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
        import tensorrt as trt

        path = require_file(artifact, "TensorRT engine", self.suffixes)
        logger = trt.Logger(trt_severity(trt))
        trt.init_libnvinfer_plugins(logger, "")
        self._runtime = trt.Runtime(logger)
        self.engine = self._runtime.deserialize_cuda_engine(path.read_bytes())
        if self.engine is None:
            raise SeDeployError(
                f"TensorRT {trt.__version__} cannot deserialize '{path}' (built "
                "by another TensorRT version or for another GPU?); rebuild it "
                "with `se-deploy build --backend trt`"
            )
        self.context = self.engine.create_execution_context()
        self.stream = cuda_call(import_cudart().cudaStreamCreate())
        self._bindings: dict[tuple[tuple[int, ...], ...], _Bindings] = {}
        self.active: _Bindings | None = None
        self._profiler = _layer_profiler(trt) if options.profile else None
        if self._profiler is not None:
            self.context.profiler = self._profiler
        specs = [
            _spec(trt, self.engine, self.engine.get_tensor_name(i))
            for i in range(self.engine.num_io_tensors)
        ]
        return tuple(s for s, is_input in specs if is_input), tuple(
            s for s, is_input in specs if not is_input
        )

    def profile_range(self, name: str) -> str:
        low, _, high = self.engine.get_tensor_profile_shape(name, 0)
        return f"{tuple(low)}..{tuple(high)}"

    def enqueue(self) -> None:
        if not self.context.execute_async_v3(stream_handle=self.stream):
            raise SeDeployError("TensorRT execution failed; see TensorRT's log above")

    def bind(self, feed: dict[str, np.ndarray]) -> _Bindings:
        """Buffers for these input shapes (allocated once per shape set), with `feed` copied in."""
        key = tuple(feed[spec.name].shape for spec in self.inputs)
        bindings = self._bindings.get(key)
        if bindings is None:
            bindings = self._bindings[key] = _Bindings(
                self, dict(zip([s.name for s in self.inputs], key, strict=True))
            )
        elif self.active is not bindings:
            bindings.activate()
        for spec in self.inputs:
            np.copyto(bindings.buffers[spec.name].host, feed[spec.name])
        return bindings

    def infer_impl(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        bindings = self.bind(feed)
        bindings.copy([s.name for s in self.inputs], to_device=True)
        self.enqueue()
        bindings.copy([s.name for s in self.outputs], to_device=False)
        cuda_call(import_cudart().cudaStreamSynchronize(self.stream))
        return {s.name: bindings.buffers[s.name].host.copy() for s in self.outputs}

    def prepare(self, feed: Any) -> Prepared:
        """Inputs copied to the device once; `run` is compute only (a graph replay with
        cuda_graphs), `transfers` time the copies each way."""
        cudart = import_cudart()
        bindings = self.bind(self.validate(feed))
        bindings.copy([s.name for s in self.inputs], to_device=True)
        if self.options.cuda_graphs and bindings.graph_exec is None:
            bindings.capture_graph()
        cuda_call(cudart.cudaStreamSynchronize(self.stream))

        def synced(step: Callable[[], None]) -> Callable[[], None]:
            def call() -> None:
                if self.active is not bindings:
                    bindings.activate()
                step()
                cuda_call(cudart.cudaStreamSynchronize(self.stream))

            return call

        def compute() -> None:
            if bindings.graph_exec is not None:
                cuda_call(cudart.cudaGraphLaunch(bindings.graph_exec, self.stream))
            else:
                self.enqueue()

        return Prepared(
            run=synced(compute),
            transfers={
                "h2d": synced(lambda: bindings.copy([s.name for s in self.inputs], True)),
                "d2h": synced(lambda: bindings.copy([s.name for s in self.outputs], False)),
            },
        )

    def profile_impl(self) -> list[LayerTime]:
        """Layer times from the IProfiler, with each layer's ONNX origins when the engine was
        built with detailed profiling verbosity."""
        described = self._describe_layers()
        return [
            LayerTime(name, *described.get(name, ("", ())), total_us=total, calls=calls)
            for name, (total, calls) in self._profiler.totals.items()
        ]

    def _describe_layers(self) -> dict[str, tuple[str, tuple[str, ...]]]:
        import tensorrt as trt

        inspector = self.engine.create_engine_inspector()
        info = json.loads(inspector.get_engine_information(trt.LayerInformationFormat.JSON))
        return {
            layer["Name"]: (layer.get("LayerType", ""), onnx_origins(layer.get("Metadata", "")))
            for layer in info.get("Layers", [])
            if isinstance(layer, dict) and "Name" in layer
        }

    def close_impl(self) -> None:
        for bindings in self._bindings.values():
            bindings.free()
        cuda_call(import_cudart().cudaStreamDestroy(self.stream))
        del self.context, self.engine, self._runtime  # context before engine before runtime


def onnx_origins(metadata: str) -> tuple[str, ...]:
    """ONNX node names from a layer's metadata: '[ONNX Layer: /a/Conv]\\x1f[ONNX Layer: ...]'."""
    return tuple(
        part.split(_ONNX_ORIGIN, 1)[1].rstrip("]")
        for part in metadata.split("\x1f")
        if _ONNX_ORIGIN in part
    )


def _allocate(shape: tuple[int, ...], dtype: np.dtype) -> _Buffer:
    cudart = import_cudart()
    nbytes = max(int(np.prod(shape)) * dtype.itemsize, 1)
    host_ptr = cuda_call(cudart.cudaMallocHost(nbytes))
    raw = np.ctypeslib.as_array(ctypes.cast(host_ptr, ctypes.POINTER(ctypes.c_uint8)), (nbytes,))
    host = raw[: int(np.prod(shape)) * dtype.itemsize].view(dtype).reshape(shape)
    return _Buffer(cuda_call(cudart.cudaMalloc(nbytes)), host, host_ptr, nbytes)


def _spec(trt: Any, engine: Any, name: str) -> tuple[TensorSpec, bool]:
    shape = tuple(None if dim < 0 else int(dim) for dim in engine.get_tensor_shape(name))
    dtype = np.dtype(trt.nptype(engine.get_tensor_dtype(name)))
    return TensorSpec(name, shape, dtype), engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT


def _layer_profiler(trt: Any) -> Any:
    """An IProfiler summing each layer's reported time (it is called once per layer per run)."""

    class LayerProfiler(trt.IProfiler):
        def __init__(self) -> None:
            trt.IProfiler.__init__(self)
            self.totals: dict[str, tuple[float, int]] = {}

        def report_layer_time(self, layer_name: str, ms: float) -> None:
            total, calls = self.totals.get(layer_name, (0.0, 0))
            self.totals[layer_name] = (total + ms * 1000.0, calls + 1)

    return LayerProfiler()
