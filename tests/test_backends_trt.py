"""TensorRT runner. On a machine with TensorRT and a GPU the real tests build a tiny engine and
check the runner against ONNX Runtime; elsewhere they skip, naming what is missing. The runner's
buffer, copy, CUDA-graph and profiler plumbing is also driven here through a small simulation of
the TensorRT 10 and cuda-python APIs (host memory standing in for the device), so it is exercised
on every machine; the simulation cannot vouch for the real API, the `trt`-marked tests do."""

# ruff: noqa: F401, F811  (pytest fixtures imported from tests.bench_support)

from __future__ import annotations

import ctypes
import enum
import json
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from se_deploy.backends import RunnerOptions, runner_class, unavailable_reason
from se_deploy.backends.trt import TrtRunner, onnx_origins
from se_deploy.core.errors import BackendUnavailableError, SeDeployError
from tests.bench_support import tiny_export, tiny_onnx

TRT_MISSING = unavailable_reason("trt")
SHAPE = (3, 4, 4)


def test_missing_tensorrt_is_named_with_the_install_hint() -> None:
    if TRT_MISSING is None:
        pytest.skip("tensorrt and a CUDA device are present")
    assert "tensorrt is not installed" in TRT_MISSING or "cuda" in TRT_MISSING.lower()
    with pytest.raises(BackendUnavailableError, match=TRT_MISSING.split(" (")[0]):
        runner_class("trt")().load("model.engine")


def test_onnx_origins_read_layer_metadata() -> None:
    metadata = "[ONNX Layer: /se/gate/Sigmoid]\x1f[ONNX Layer: /se/Mul]"
    assert onnx_origins(metadata) == ("/se/gate/Sigmoid", "/se/Mul")
    assert onnx_origins("") == ()


class _Cudart(types.ModuleType):
    """cuda-python's runtime calls the runner makes; 'device' memory is host memory."""

    class cudaError_t(enum.IntEnum):
        cudaSuccess = 0
        cudaErrorInvalidValue = 1

    class cudaMemcpyKind(enum.IntEnum):
        cudaMemcpyHostToDevice = 1
        cudaMemcpyDeviceToHost = 2

    class cudaStreamCaptureMode(enum.IntEnum):
        cudaStreamCaptureModeThreadLocal = 1

    def __init__(self) -> None:
        super().__init__("cuda.bindings.runtime")
        self.live: dict[int, ctypes.Array] = {}
        self.copies: list[str] = []
        self.captured: list | None = None
        ok = self.cudaError_t.cudaSuccess
        self.cudaGetDeviceCount = lambda: (ok, 1)
        self.cudaGetErrorString = lambda error: (ok, b"simulated error")
        self.cudaMallocHost = self.cudaMalloc
        self.cudaFreeHost = self.cudaFree
        self.cudaStreamCreate = lambda: (ok, "stream")
        self.cudaStreamSynchronize = self.cudaStreamDestroy = lambda stream: (ok,)
        self.cudaGraphInstantiate = lambda graph, flags: (ok, graph)
        self.cudaGraphExecDestroy = self.cudaGraphDestroy = lambda graph: (ok,)

    def cudaMalloc(self, nbytes: int) -> tuple:
        buffer = ctypes.create_string_buffer(nbytes)
        self.live[ctypes.addressof(buffer)] = buffer
        return self.cudaError_t.cudaSuccess, ctypes.addressof(buffer)

    def cudaFree(self, pointer: int) -> tuple:
        del self.live[pointer]
        return (self.cudaError_t.cudaSuccess,)

    def cudaMemcpyAsync(self, dst, src, nbytes, kind, stream) -> tuple:
        ctypes.memmove(dst, src, nbytes)
        self.copies.append(kind.name)
        return (self.cudaError_t.cudaSuccess,)

    def cudaStreamBeginCapture(self, stream, mode) -> tuple:
        self.captured = []
        return (self.cudaError_t.cudaSuccess,)

    def cudaStreamEndCapture(self, stream) -> tuple:
        graph, self.captured = self.captured, None
        return self.cudaError_t.cudaSuccess, graph

    def cudaGraphLaunch(self, graph, stream) -> tuple:
        for work in graph:
            work()
        return (self.cudaError_t.cudaSuccess,)


def _simulated_tensorrt(cudart: _Cudart) -> types.ModuleType:
    """An engine with one dynamic-batch input 'input' (N, 3, 4, 4), output 'output' = 2 * input,
    batch 1..8, and one layer 'scale' whose metadata names the ONNX node '/se/Mul'."""
    trt = types.ModuleType("tensorrt")
    trt.__version__ = "10.simulated"
    trt.Logger = type("Logger", (), {"WARNING": 2, "__init__": lambda self, level: None})
    trt.init_libnvinfer_plugins = lambda logger, namespace: True
    trt.TensorIOMode = enum.Enum("TensorIOMode", "INPUT OUTPUT")
    trt.LayerInformationFormat = enum.Enum("LayerInformationFormat", "ONELINE JSON")
    trt.nptype = lambda dtype: np.float32
    trt.IProfiler = type("IProfiler", (), {"__init__": lambda self: None})

    class Context:
        def __init__(self) -> None:
            self.shape: tuple[int, ...] | None = None
            self.addresses: dict[str, int] = {}
            self.profiler = None

        def set_input_shape(self, name: str, shape: tuple[int, ...]) -> bool:
            self.shape = tuple(shape)
            return 1 <= shape[0] <= 8

        def get_tensor_shape(self, name: str) -> tuple[int, ...]:
            return self.shape

        def set_tensor_address(self, name: str, address: int) -> None:
            self.addresses[name] = address

        def execute_async_v3(self, stream_handle: object) -> bool:
            count, addresses, profiler = (
                int(np.prod(self.shape)),
                dict(self.addresses),
                self.profiler,
            )

            def work() -> None:
                source = (ctypes.c_float * count).from_address(addresses["input"])
                target = (ctypes.c_float * count).from_address(addresses["output"])
                np.ctypeslib.as_array(target)[:] = 2 * np.ctypeslib.as_array(source)
                if profiler is not None:
                    profiler.report_layer_time("scale", 0.25)

            (cudart.captured.append if cudart.captured is not None else lambda w: w())(work)
            return True

    class Engine:
        num_io_tensors = 2

        def get_tensor_name(self, index: int) -> str:
            return ("input", "output")[index]

        def get_tensor_mode(self, name: str) -> object:
            return trt.TensorIOMode.INPUT if name == "input" else trt.TensorIOMode.OUTPUT

        def get_tensor_dtype(self, name: str) -> str:
            return "float32"

        def get_tensor_shape(self, name: str) -> tuple[int, ...]:
            return (-1, *SHAPE)

        def get_tensor_profile_shape(self, name: str, profile: int) -> list:
            return [(1, *SHAPE), (4, *SHAPE), (8, *SHAPE)]

        def create_execution_context(self) -> Context:
            return Context()

        def create_engine_inspector(self) -> object:
            layers = {
                "Layers": [
                    {"Name": "scale", "LayerType": "Scale", "Metadata": "[ONNX Layer: /se/Mul]"}
                ]
            }
            return types.SimpleNamespace(get_engine_information=lambda fmt: json.dumps(layers))

    class Runtime:
        def __init__(self, logger: object) -> None:
            pass

        def deserialize_cuda_engine(self, data: bytes) -> Engine | None:
            return Engine() if data == b"simulated engine" else None

    trt.Runtime = Runtime
    return trt


@pytest.fixture
def simulated(monkeypatch, tmp_path: Path) -> tuple[_Cudart, Path]:
    cudart = _Cudart()
    cuda, bindings = types.ModuleType("cuda"), types.ModuleType("cuda.bindings")
    cuda.bindings, bindings.runtime = bindings, cudart
    for name, module in {
        "cuda": cuda,
        "cuda.bindings": bindings,
        "cuda.bindings.runtime": cudart,
        "tensorrt": _simulated_tensorrt(cudart),
    }.items():
        monkeypatch.setitem(sys.modules, name, module)
    engine = tmp_path / "model.engine"
    engine.write_bytes(b"simulated engine")
    return cudart, engine


def images(n: int) -> np.ndarray:
    return np.arange(n * np.prod(SHAPE), dtype=np.float32).reshape(n, *SHAPE)


def test_simulated_engine_runs_through_device_buffers(simulated) -> None:
    cudart, engine = simulated
    assert TrtRunner.unavailable_reason() is None
    with TrtRunner().load(engine) as runner:
        assert runner.inputs[0].shape == (None, *SHAPE)
        np.testing.assert_array_equal(runner.run(images(2)), 2 * images(2))
        np.testing.assert_array_equal(runner.run(images(3)), 2 * images(3))
        assert cudart.copies.count("cudaMemcpyHostToDevice") == 2
    assert cudart.live == {}  # every device and pinned buffer freed on close


@pytest.mark.parametrize("cuda_graphs", [False, True])
def test_prepared_call_is_compute_only_and_copies_are_timed_apart(simulated, cuda_graphs) -> None:
    cudart, engine = simulated
    with TrtRunner().load(engine, RunnerOptions(device="cuda", cuda_graphs=cuda_graphs)) as runner:
        prepared = runner.prepare(images(4))
        copies_before = len(cudart.copies)
        prepared.run()
        assert len(cudart.copies) == copies_before  # no copy inside the timed call
        runner.run(images(1))  # another shape in between must not disturb the prepared call
        prepared.run()
        prepared.transfers["d2h"]()
        output = runner.active.buffers["output"].host
        np.testing.assert_array_equal(output, 2 * images(4))
        prepared.transfers["h2d"]()
        assert cudart.copies[-1] == "cudaMemcpyHostToDevice"


def test_shape_outside_the_engine_profile_names_the_range(simulated) -> None:
    _, engine = simulated
    with (
        TrtRunner().load(engine) as runner,
        pytest.raises(SeDeployError, match=r"built for \(1, 3, 4, 4\)\.\.\(8, 3, 4, 4\)"),
    ):
        runner.run(images(9))


def test_layer_profiler_sums_times_with_onnx_origins(simulated) -> None:
    _, engine = simulated
    with TrtRunner().load(engine, RunnerOptions(device="cuda", profile=True)) as runner:
        for _ in range(3):
            runner.run(images(1))
        (layer,) = runner.collect_profile()
    assert (layer.name, layer.op_type, layer.origins) == ("scale", "Scale", ("/se/Mul",))
    assert layer.calls == 3 and layer.total_us == pytest.approx(750.0)


def test_unreadable_engine_says_rebuild(simulated, tmp_path: Path) -> None:
    bad = tmp_path / "other.plan"
    bad.write_bytes(b"from another TensorRT")
    with pytest.raises(SeDeployError, match=r"cannot deserialize .* `se-deploy build --backend"):
        TrtRunner().load(bad)


@pytest.mark.trt
@pytest.mark.skipif(TRT_MISSING is not None, reason=f"needs TensorRT and CUDA: {TRT_MISSING}")
def test_real_engine_matches_onnxruntime(tiny_onnx: Path, tmp_path: Path) -> None:
    import tensorrt as trt

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)
    parser = trt.OnnxParser(network, logger)
    assert parser.parse(tiny_onnx.read_bytes())
    config = builder.create_builder_config()
    config.profiling_verbosity = trt.ProfilingVerbosity.DETAILED
    profile = builder.create_optimization_profile()
    profile.set_shape("input", (1, 3, 32, 32), (4, 3, 32, 32), (8, 3, 32, 32))
    config.add_optimization_profile(profile)
    engine = tmp_path / "model.engine"
    engine.write_bytes(bytes(builder.build_serialized_network(network, config)))
    x = np.random.default_rng(0).standard_normal((4, 3, 32, 32)).astype(np.float32)
    with runner_class("ort")().load(tiny_onnx) as ort_runner:
        expected = ort_runner.run(x)
    for options in (RunnerOptions(device="cuda"), RunnerOptions(device="cuda", cuda_graphs=True)):
        with TrtRunner().load(engine, options) as runner:
            np.testing.assert_allclose(runner.run(x), expected, rtol=1e-2, atol=1e-3)
            prepared = runner.prepare(x)
            prepared.run()
            assert set(prepared.transfers) == {"h2d", "d2h"}
    with TrtRunner().load(engine, RunnerOptions(device="cuda", profile=True)) as runner:
        runner.run(x)
        layers = runner.collect_profile()
    assert any("/se/" in origin for layer in layers for origin in layer.origins)
