"""The Runner interface every backend implements; bench and eval talk to nothing else.

Polygraphy's shape: a runner is a context manager, `load` touches the runtime (and the GPU) only
when called, the public `infer` validates a feed once and `infer_impl` does the work, and
`prepare` hands the latency loop a zero-argument call on inputs already validated and placed, so
the timed region holds inference and nothing else.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar, Self

import numpy as np

from se_deploy.core.errors import BackendUnavailableError, SeDeployError
from se_deploy.core.shapes import InputShapes, filled_dims, require_names

Feed = Mapping[str, np.ndarray] | np.ndarray


class Device(enum.StrEnum):
    CPU = "cpu"
    CUDA = "cuda"


class GraphOptimization(enum.StrEnum):
    """ONNX Runtime's graph optimization levels (`all` adds the NCHWc layout pass on CPU)."""

    DISABLED = "disabled"
    BASIC = "basic"
    EXTENDED = "extended"
    ALL = "all"


@dataclass(frozen=True)
class RunnerOptions:
    """How to run an artifact. Fields a backend cannot honour are rejected by its `load`."""

    device: Device = Device.CPU
    threads: int = 0  # intra-op threads; 0 = the runtime's default
    inter_threads: int = 0  # ort: inter-op threads; 0 = default
    graph_optimization: GraphOptimization = GraphOptimization.ALL  # ort
    optimized_model_path: Path | None = None  # ort: save the graph ORT actually runs
    profile: bool = False  # per-node / per-layer profiler (adds overhead: never time with it)
    profile_dir: Path | None = None  # ort: where the JSON trace goes (default: a temp dir)
    cuda_graphs: bool = False  # trt: capture the enqueue once, replay it
    shapes: InputShapes = field(default_factory=InputShapes)  # --shapes: symbolic dims filled

    def __post_init__(self) -> None:
        problems = []
        for name, kind in (("device", Device), ("graph_optimization", GraphOptimization)):
            try:  # accept the enum's string value too ("cuda", "extended")
                object.__setattr__(self, name, kind(getattr(self, name)))
            except ValueError:
                choices = ", ".join(member.value for member in kind)
                problems.append(f"{name} '{getattr(self, name)}' (choose {choices})")
        if self.threads < 0 or self.inter_threads < 0:
            problems.append("thread counts must be >= 0 (0 = the runtime's default)")
        if self.cuda_graphs and self.profile:
            problems.append(
                "cuda_graphs and profile exclude each other (a replayed graph "
                "reports no per-layer times); run them separately"
            )
        if problems:
            raise SeDeployError("bad runner options: " + "; ".join(problems))


@dataclass(frozen=True)
class TensorSpec:
    """An input or output: its name, shape (None for a dynamic dimension) and numpy dtype."""

    name: str
    shape: tuple[int | None, ...]
    dtype: np.dtype

    def describe(self) -> str:
        dims = ", ".join("?" if d is None else str(d) for d in self.shape)
        return f"{self.name}[{dims}] {np.dtype(self.dtype).name}"


@dataclass(frozen=True)
class LayerTime:
    """One node or layer as a profiler reported it, summed over `calls` executions; `origins`
    names the source ONNX nodes when the runtime records them (TensorRT's layer metadata)."""

    name: str
    op_type: str
    origins: tuple[str, ...] = ()
    total_us: float = 0.0
    calls: int = 0


@dataclass(frozen=True)
class Prepared:
    """Zero-argument calls on inputs placed once: `run` is timed; `transfers` (e.g. h2d, d2h)
    are timed apart so copies never hide inside compute figures."""

    run: Callable[[], object]
    transfers: Mapping[str, Callable[[], object]] = field(
        default_factory=lambda: MappingProxyType({})
    )


# RunnerOptions fields every backend honours; the others each backend lists in `accepts`.
COMMON_OPTIONS = frozenset({"device", "threads", "profile", "profile_dir", "shapes"})


class Runner(ABC):
    """Load an artifact, run batches, close. Subclasses implement the `*_impl` hooks.

    A runner also declares what callers would otherwise have to know by its name: the artifact
    files it loads (`suffixes`, and the command that makes them), the options it honours, where
    the ONNX graph behind an artifact is (for cost and SE figures) and the artifact's precision.
    """

    name: ClassVar[str]
    devices: ClassVar[tuple[Device, ...]] = (Device.CPU,)
    suffixes: ClassVar[tuple[str, ...]] = (".onnx",)  # () = it runs registered models by name
    artifact_kind: ClassVar[str] = "ONNX model"
    made_by: ClassVar[str] = "se-deploy export"  # the command that makes its artifacts
    accepts: ClassVar[frozenset[str]] = frozenset()  # RunnerOptions fields beyond COMMON_OPTIONS
    has_profiler: ClassVar[bool] = True

    @classmethod
    def options_for(cls, **requested: Any) -> RunnerOptions:
        """RunnerOptions from settings meant for every backend, keeping those this one honours
        (a bench's --graph-opt reaches ORT, its --cuda-graphs TensorRT)."""
        kept = {k: v for k, v in requested.items() if k in COMMON_OPTIONS | cls.accepts}
        return RunnerOptions(**kept)

    @classmethod
    def loadable(
        cls,
        artifact: Path | None,
        model: str | None = None,
        weights: Path | None = None,
        input_size: int | None = None,
    ) -> Any:
        """What `load` takes for a planned target: the artifact file itself for file backends."""
        return artifact

    @classmethod
    def graph_source(cls, artifact: Path) -> Path | None:
        """The ONNX file whose graph this artifact runs (its MACs, params and SE nodes)."""
        return artifact

    @classmethod
    def artifact_precision(cls, artifact: Path) -> str:
        """The precision an artifact computes in: fp32, fp16 or int8 read off its ONNX graph; '?'
        for a file that is not readable ONNX (its load then fails with the runtime's reason)."""
        return onnx_file_precision(artifact)

    def static_cost(self) -> dict[str, Any] | None:
        """MACs and params of the loaded model when the runner knows them better than its graph
        source (the torch module itself); None: count them on `graph_source`."""
        return None

    def __init__(self) -> None:
        self.options = RunnerOptions()
        self.inputs: tuple[TensorSpec, ...] = ()
        self.outputs: tuple[TensorSpec, ...] = ()
        self._loaded = False

    @classmethod
    def unavailable_reason(cls, options: RunnerOptions | None = None) -> str | None:
        """Why this backend cannot run here with `options` (missing package, no device), or None."""
        options = options or cls.default_options()
        if options.device not in cls.devices:
            supported = ", ".join(d.value for d in cls.devices)
            return f"backend '{cls.name}' runs on {supported}, not {options.device.value}"
        return cls.unavailable_impl(options)

    @classmethod
    def default_options(cls) -> RunnerOptions:
        """Options on the backend's first device (CUDA for TensorRT, CPU for the rest)."""
        return RunnerOptions(device=cls.devices[0])

    @classmethod
    def unavailable_impl(cls, options: RunnerOptions) -> str | None:
        """Backend-specific availability check; the default needs nothing."""
        return None

    def load(self, artifact: Any, options: RunnerOptions | None = None) -> Self:
        """Open `artifact`; raises BackendUnavailableError with the reason if it cannot run here."""
        options = options or self.default_options()
        reason = self.unavailable_reason(options)
        if reason:
            raise BackendUnavailableError(reason)
        reject_options(self.name, options, self.accepts)
        self.options = options
        inputs, self.outputs = self.load_impl(artifact, options)
        self.inputs = with_shapes(inputs, options.shapes)
        self._loaded = True
        return self

    def infer(self, feed: Feed) -> dict[str, np.ndarray]:
        """Run one batch; every output by name, as host numpy arrays."""
        return self.infer_impl(self.validate(feed))

    def run(self, batch: Feed) -> np.ndarray:
        """Run one batch and return the first output (the logits of a classifier)."""
        return self.infer(batch)[self.outputs[0].name]

    def prepare(self, feed: Feed) -> Prepared:
        """Validate `feed` once and return calls for a timing loop; backends that keep inputs
        on a device override this to copy them there first."""
        checked = self.validate(feed)
        return Prepared(run=lambda: self.infer_impl(checked))

    def collect_profile(self) -> list[LayerTime]:
        """Per-node times gathered since load; only runners loaded with profile=True have them."""
        self._require_loaded()
        if not self.options.profile:
            raise SeDeployError(f"runner '{self.name}' was loaded without profile=True")
        return self.profile_impl()

    def close(self) -> None:
        """Release the session/engine and its buffers; safe to call twice."""
        if self._loaded:
            self._loaded = False
            self.close_impl()

    def __enter__(self) -> Self:
        self._require_loaded()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def validate(self, feed: Feed) -> dict[str, np.ndarray]:
        """Names, dtypes and static dimensions of `feed` against the model's inputs, or an error
        that lists what the model expects. Never casts: a wrong dtype is the caller's bug."""
        self._require_loaded()
        if isinstance(feed, np.ndarray):
            if len(self.inputs) != 1:
                raise SeDeployError(
                    f"model has {len(self.inputs)} inputs; pass a dict ({self._expected()})"
                )
            feed = {self.inputs[0].name: feed}
        names = {spec.name for spec in self.inputs}
        if set(feed) != names:
            raise SeDeployError(f"feed has inputs {sorted(feed)}; model expects {self._expected()}")
        for spec in self.inputs:
            _check_array(spec, feed[spec.name])
        return {spec.name: np.ascontiguousarray(feed[spec.name]) for spec in self.inputs}

    def _expected(self) -> str:
        return ", ".join(spec.describe() for spec in self.inputs)

    def _require_loaded(self) -> None:
        if not self._loaded:
            raise SeDeployError(
                f"runner '{self.name}' is not loaded; call load(artifact, options) first"
            )

    @abstractmethod
    def load_impl(
        self, artifact: Any, options: RunnerOptions
    ) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
        """Open the artifact; return (input specs, output specs)."""

    @abstractmethod
    def infer_impl(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run validated, contiguous inputs; return host outputs by name."""

    @abstractmethod
    def close_impl(self) -> None:
        """Free what load_impl acquired."""

    def profile_impl(self) -> list[LayerTime]:
        raise SeDeployError(f"backend '{self.name}' has no per-layer profiler")


def _check_array(spec: TensorSpec, array: np.ndarray) -> None:
    if array.dtype != spec.dtype:
        raise SeDeployError(
            f"input '{spec.name}' is {array.dtype.name}; model expects "
            f"{np.dtype(spec.dtype).name} ({spec.describe()})"
        )
    if array.ndim != len(spec.shape) or any(
        want is not None and want != got for want, got in zip(spec.shape, array.shape, strict=True)
    ):
        raise SeDeployError(
            f"input '{spec.name}' has shape {tuple(array.shape)}; model expects {spec.describe()}"
        )


def require_file(path: Any, what: str, suffixes: tuple[str, ...]) -> Path:
    """The artifact as an existing file with a known suffix, or an error naming the fix."""
    if not isinstance(path, str | Path):
        raise SeDeployError(f"{what} must be a file path, not {type(path).__name__}")
    path = Path(path)
    if not path.is_file():
        raise SeDeployError(
            f"{what} '{path}' does not exist; pass an existing {'/'.join(suffixes)} file"
        )
    if path.suffix not in suffixes:
        raise SeDeployError(
            f"{what} '{path}' has suffix '{path.suffix}'; expected {'/'.join(suffixes)}"
        )
    return path


def onnx_file_precision(path: Path) -> str:
    """fp32, fp16 or int8 of an ONNX file (weights only; external data is not read), '?' when
    it is missing or not ONNX: the one precision check bench, eval and the stages share."""
    from se_deploy.core.onnx.facts import detect_precision
    from se_deploy.core.onnx.graph import load_model

    if Path(path).suffix != ".onnx" or not Path(path).is_file():
        return "?"
    try:
        return detect_precision(load_model(path, load_external_data=False))
    except SeDeployError:
        return "?"


def with_shapes(inputs: tuple[TensorSpec, ...], shapes: InputShapes) -> tuple[TensorSpec, ...]:
    """The loaded inputs with --shapes filling their dynamic dims (checked against the static
    ones), so every caller feeds, pads and resizes to those numbers."""
    if not shapes.dims:
        return inputs
    require_names(shapes, {spec.name for spec in inputs})
    return tuple(
        replace(spec, shape=filled_dims(spec.name, spec.shape, given))
        if (given := shapes.get(spec.name)) is not None
        else spec
        for spec in inputs
    )


def reject_options(runner: str, options: RunnerOptions, supported: frozenset[str]) -> None:
    """Refuse non-default option fields a backend ignores, so nobody benchmarks a no-op knob."""
    defaults = RunnerOptions()
    ignored = [
        name
        for name in ("inter_threads", "graph_optimization", "optimized_model_path", "cuda_graphs")
        if name not in supported and getattr(options, name) != getattr(defaults, name)
    ]
    if ignored:
        raise SeDeployError(
            f"backend '{runner}' does not support {', '.join(ignored)}; drop those options for it"
        )
