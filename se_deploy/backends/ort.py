"""ONNX Runtime runner: CPU EP, CUDA EP (onnxruntime-gpu), and the TensorRT EP as `ort-trt`.

Needs onnxruntime and numpy only, never torch: the runtime container benchmarks ONNX files with
this module alone.
"""

from __future__ import annotations

import functools
import json
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from se_deploy.backends.base import (
    Device,
    GraphOptimization,
    LayerTime,
    Prepared,
    Runner,
    RunnerOptions,
    TensorSpec,
    require_file,
)
from se_deploy.core.errors import SeDeployError
from se_deploy.core.verbosity import ort_severity

_ORT_TYPES = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(int8)": np.int8,
    "tensor(uint8)": np.uint8,
    "tensor(bool)": np.bool_,
}
_LEVELS = {
    GraphOptimization.DISABLED: "ORT_DISABLE_ALL",
    GraphOptimization.BASIC: "ORT_ENABLE_BASIC",
    GraphOptimization.EXTENDED: "ORT_ENABLE_EXTENDED",
    GraphOptimization.ALL: "ORT_ENABLE_ALL",
}
_GPU_HINT = "pip install onnxruntime-gpu in place of onnxruntime"
CPU_BUILD_MANIFEST = "build-ort-cpu.json"  # `se-deploy build --backend ort` beside its graph
NCHWC_DOMAIN = "com.microsoft.nchwc"
# The x86 features MLAS picks kernels by (recorded with a machine-specific build).
_ISA_FLAGS = (
    "avx",
    "avx2",
    "fma",
    "avx512f",
    "avx512bw",
    "avx512vl",
    "avx512_vnni",
    "avx_vnni",
    "avx512_bf16",
    "amx_tile",
    "amx_int8",
)


class OrtRunner(Runner):
    """An InferenceSession on one execution provider chosen by the device."""

    name: ClassVar[str] = "ort"
    devices: ClassVar[tuple[Device, ...]] = (Device.CPU, Device.CUDA)
    accepts: ClassVar[frozenset[str]] = frozenset(
        {"inter_threads", "graph_optimization", "optimized_model_path"}
    )
    providers: ClassVar[dict[Device, str]] = {
        Device.CPU: "CPUExecutionProvider",
        Device.CUDA: "CUDAExecutionProvider",
    }

    @classmethod
    def unavailable_impl(cls, options: RunnerOptions) -> str | None:
        try:
            import onnxruntime as ort
        except ImportError:
            return "onnxruntime is not installed (pip install onnxruntime)"
        provider = cls.providers[options.device]
        if provider not in ort.get_available_providers():
            return (
                f"onnxruntime {ort.__version__} has no {provider} (available: "
                f"{', '.join(ort.get_available_providers())}; {_GPU_HINT})"
            )
        return None

    @classmethod
    def graph_source(cls, artifact: Path) -> Path | None:
        """A graph `build` saved runs its source's graph (ORT's own ops replaced by fused and
        NCHWc ones that ONNX shape inference cannot follow): count and find SE nodes there."""
        built = build_record(artifact)
        if not built or not built.get("source"):
            return artifact
        # The build records the source as it was given (often relative to the cwd of that
        # run); a run dir read from elsewhere or moved still holds it beside the built graph.
        source = Path(built["source"])
        beside = Path(artifact).parent / source.name
        return beside if not source.is_file() and beside.is_file() else source

    def load_impl(
        self, artifact: Any, options: RunnerOptions
    ) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
        path = require_file(artifact, self.artifact_kind, self.suffixes)
        self._profile: list[LayerTime] | None = None
        built = build_record(path)
        if built is not None and "valid_for" in built:  # machine-specific: the work is done
            require_valid_here(path, built)
            options = replace(options, graph_optimization=GraphOptimization.DISABLED)
        self._session = open_session(path, options, [self.providers[options.device]])
        return (
            tuple(_spec(arg) for arg in self._session.get_inputs()),
            tuple(_spec(arg) for arg in self._session.get_outputs()),
        )

    def infer_impl(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        names = [spec.name for spec in self.outputs]
        return dict(zip(names, self._session.run(names, feed), strict=True))

    def prepare(self, feed: Any) -> Prepared:
        """On CUDA, bind inputs once on the device so compute and copies are timed apart."""
        if self.options.device is Device.CPU:
            return super().prepare(feed)
        import onnxruntime as ort

        checked = self.validate(feed)
        binding = self._session.io_binding()
        on_device = {
            name: ort.OrtValue.ortvalue_from_numpy(array, "cuda", 0)
            for name, array in checked.items()
        }
        for name, value in on_device.items():
            binding.bind_ortvalue_input(name, value)
        for spec in self.outputs:
            binding.bind_output(spec.name, "cuda")

        def copy_inputs() -> None:
            for name, value in on_device.items():
                value.update_inplace(checked[name])

        return Prepared(
            run=lambda: self._session.run_with_iobinding(binding),
            transfers={"h2d": copy_inputs, "d2h": binding.copy_outputs_to_cpu},
        )

    def profile_impl(self) -> list[LayerTime]:
        if self._profile is None:  # ORT ends profiling once per session
            self._profile = read_ort_trace(Path(self._session.end_profiling()))
        return self._profile

    def close_impl(self) -> None:
        del self._session


class OrtTensorrtRunner(OrtRunner):
    """ONNX Runtime with its TensorRT execution provider (builds engines at session start)."""

    name: ClassVar[str] = "ort-trt"
    devices: ClassVar[tuple[Device, ...]] = (Device.CUDA,)
    providers: ClassVar[dict[Device, str]] = {Device.CUDA: "TensorrtExecutionProvider"}


def open_session(
    model: bytes | str | Path,
    options: RunnerOptions | None = None,
    providers: Sequence[Any] = ("CPUExecutionProvider",),
) -> Any:
    """Every InferenceSession se-deploy makes, from a file or serialized bytes; the defaults are
    ORT's CPU provider at its full optimization level, as deployed. A model ORT refuses is a
    one-line error."""
    import onnxruntime as ort
    from onnxruntime.capi import onnxruntime_pybind11_state as ort_errors

    options = options or RunnerOptions()
    is_file = isinstance(model, str | Path)
    where, stem = (f"'{model}'", Path(model).stem) if is_file else ("the model", "model")
    try:
        return ort.InferenceSession(
            str(model) if is_file else model,
            session_options(options, stem),
            providers=list(providers),
        )
    except (
        ort_errors.Fail,
        ort_errors.InvalidArgument,
        ort_errors.InvalidGraph,
        ort_errors.InvalidProtobuf,
        ort_errors.NotImplemented,
    ) as exc:
        raise SeDeployError(f"onnxruntime cannot load {where}: {_first_line(exc)}") from None


def build_record(path: Path) -> dict[str, Any] | None:
    """The record of a graph `se-deploy build --backend ort` saved (the `optimized_model`
    section of the build manifest beside it), or None for any other file. A machine-specific
    one (`--graph-opt all`) says which ORT version and NCHWc block it is `valid_for`."""
    record_path = Path(path).parent / CPU_BUILD_MANIFEST
    if not record_path.is_file():
        return None
    try:
        optimized = (json.loads(record_path.read_text()).get("ort") or {}).get("optimized_model")
    except json.JSONDecodeError:
        return None
    if not optimized or optimized.get("path") != Path(path).name:
        return None
    return optimized


def require_valid_here(path: Path, optimized: dict[str, Any]) -> None:
    """Refuse, in one line, a machine-specific graph from another ORT version or NCHWc block
    size: its blocked weight layouts and contrib ops are only what that ORT on that CPU wrote."""
    recorded = optimized.get("valid_for") or {}
    here = machine_facts()
    differs = [
        f"{key} {recorded.get(key)} (here {here[key]})"
        for key in ("onnxruntime", "nchwc_block")
        if recorded.get(key) != here[key]
    ]
    if differs:
        source = optimized.get("source") or "<its source ONNX>"
        raise SeDeployError(
            f"'{path}' was optimized for {', '.join(differs)}; rebuild it here with "
            f"`se-deploy build --backend ort --graph-opt all --input {source}`"
        )


def machine_facts() -> dict[str, Any]:
    """What a machine-specific ORT graph is valid for: ORT's version, the NCHWc block size,
    and (recorded for people, not checked) the CPU's vector-ISA flags."""
    import onnxruntime as ort

    return {
        "onnxruntime": ort.__version__,
        "nchwc_block": nchwc_block_size(),
        "cpu_flags": cpu_flags(),
    }


@functools.cache
def nchwc_block_size() -> int | None:
    """MlasNchwcGetBlockSize() of this machine (16 with AVX-512, 8 with AVX2; None where ORT
    has no NCHWc layout), read off the graph ORT optimizes for a probe: a 1x1 Conv with 4
    output channels, whose weight the NCHWc transformer pads to one whole block."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.ones((4, 64, 1, 1), np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"])],
        "nchwc_probe",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64, 4, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 4, 4])],
        [weight],
    )
    probe = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    with tempfile.TemporaryDirectory(prefix="se-deploy-nchwc-") as tmp:
        saved = Path(tmp) / "probe.onnx"
        open_session(probe.SerializeToString(), RunnerOptions(optimized_model_path=saved))
        optimized = onnx.load(str(saved))
    dims = [
        list(init.dims)
        for node in optimized.graph.node
        if node.domain == NCHWC_DOMAIN and node.op_type == "Conv"
        for init in optimized.graph.initializer
        if init.name == node.input[1]
    ]
    return int(dims[0][0]) if dims else None


def cpu_flags() -> list[str]:
    """This CPU's vector-ISA flags from /proc/cpuinfo (empty where there is none)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    line = next((line for line in text.splitlines() if line.startswith("flags")), "")
    present = set(line.partition(":")[2].split())
    return [flag for flag in _ISA_FLAGS if flag in present]


def session_outputs(session: Any, batches: Sequence[np.ndarray]) -> np.ndarray:
    """The first output of `session` over `batches`, concatenated."""
    input_name = session.get_inputs()[0].name
    return np.concatenate([session.run(None, {input_name: batch})[0] for batch in batches])


def session_options(options: RunnerOptions, stem: str) -> Any:
    """SessionOptions from RunnerOptions: threads, optimization level, saved graph, profiler."""
    import onnxruntime as ort

    ort.set_default_logger_severity(ort_severity())
    so = ort.SessionOptions()
    so.log_severity_level = ort_severity()
    so.intra_op_num_threads = options.threads
    so.inter_op_num_threads = options.inter_threads
    so.graph_optimization_level = getattr(
        ort.GraphOptimizationLevel, _LEVELS[options.graph_optimization]
    )
    if options.optimized_model_path is not None:
        options.optimized_model_path.parent.mkdir(parents=True, exist_ok=True)
        so.optimized_model_filepath = str(options.optimized_model_path)
        # ORT's one warning then says the saved NCHWc graph is machine-specific; it is, by intent,
        # and the default severity (error) keeps it out of the output unless -v.
    if options.profile:
        profile_dir = options.profile_dir or Path(tempfile.mkdtemp(prefix="se-deploy-ort-"))
        profile_dir.mkdir(parents=True, exist_ok=True)
        so.enable_profiling = True
        so.profile_file_prefix = str(profile_dir / stem)
    return so


def read_ort_trace(path: Path) -> list[LayerTime]:
    """Per-node kernel times from ORT's Chrome-trace JSON, summed over every profiled run.

    Node events are `cat == "Node"` named `<node name>_kernel_time`; the name is the node in the
    graph ORT ran (after fusions and layout passes), not necessarily one in the source ONNX.
    """
    totals: dict[str, list[Any]] = {}
    for event in json.loads(path.read_text()):
        name = event.get("name", "")
        if event.get("cat") != "Node" or not name.endswith("_kernel_time"):
            continue
        node = name.removesuffix("_kernel_time")
        entry = totals.setdefault(node, [event.get("args", {}).get("op_name", ""), 0.0, 0])
        entry[1] += float(event.get("dur", 0))
        entry[2] += 1
    return [
        LayerTime(name, op, total_us=total, calls=calls)
        for name, (op, total, calls) in totals.items()
    ]


def _spec(arg: Any) -> TensorSpec:
    dtype = _ORT_TYPES.get(arg.type)
    if dtype is None:
        raise SeDeployError(f"tensor '{arg.name}' has type {arg.type}, which se-deploy cannot feed")
    shape = tuple(dim if isinstance(dim, int) else None for dim in arg.shape)
    return TensorSpec(arg.name, shape, np.dtype(dtype))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
