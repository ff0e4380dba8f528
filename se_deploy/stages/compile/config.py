"""BuildConfig: every `se-deploy build` option, validated once, before any file is read.

Options of the other backend are rejected rather than ignored, so a build record never lists a
knob that did nothing.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from se_deploy.backends import GraphOptimization
from se_deploy.core.errors import SeDeployError
from se_deploy.core.options import changed_flags, coerce_enums
from se_deploy.core.shapes import InputShapes


class BuildBackend(enum.StrEnum):
    ORT = "ort"
    TRT = "trt"


class OrtProvider(enum.StrEnum):
    """ONNX Runtime execution providers; cuda and tensorrt need onnxruntime-gpu."""

    CPU = "cpu"
    CUDA = "cuda"
    TENSORRT = "tensorrt"


class EnginePrecision(enum.StrEnum):
    """TensorRT layer precision. auto: INT8 for a QDQ model (explicit quantization), FP16 for an
    fp16 model, else FP32. int8 on a model without Q/DQ calibrates (entropy calibrator)."""

    AUTO = "auto"
    FP32 = "fp32"
    FP16 = "fp16"
    INT8 = "int8"


class SeGates(enum.StrEnum):
    """Where SE gates run in an ORT CPU graph saved at level `all`: `nchwc` applies them inside
    ORT's NCHWc layout (stages.compile.nchwc_se) or in the weights of the linear conv writing
    the map (stages.compile.se_producer), `ort` keeps ORT's NCHW Mul between reorders."""

    NCHWC = "nchwc"
    ORT = "ort"


_ORT_ONLY = ("provider", "graph_opt", "threads", "inter_threads", "se_gates")
_TRT_ONLY = (
    "engine_precision",
    "min_batch",
    "opt_batch",
    "max_batch",
    "workspace_mib",
    "timing_cache",
    "calib",
    "calib_size",
    "calib_batch_size",
    "calib_cache",
    "seed",
)
_CALIBRATION = ("calib", "calib_size", "calib_batch_size", "calib_cache", "seed")
_ENUM_FIELDS = {
    "backend": BuildBackend,
    "provider": OrtProvider,
    "graph_opt": GraphOptimization,
    "engine_precision": EnginePrecision,
    "se_gates": SeGates,
}


@dataclass(frozen=True)
class BuildConfig:
    """How to build one ONNX artifact for a runtime. Enum fields also take their string value."""

    backend: BuildBackend
    # ONNX Runtime
    provider: OrtProvider = OrtProvider.CPU
    # ORT's own default level: on CPU the fastest file (NCHWc, SE gates placed), valid for this
    # ORT version and NCHWc block size; `extended` for a portable one.
    graph_opt: GraphOptimization = GraphOptimization.ALL
    threads: int = 0  # intra-op threads recorded in the session config; 0 = ORT's default
    inter_threads: int = 0
    se_gates: SeGates = SeGates.NCHWC  # CPU provider at level all only
    # TensorRT
    engine_precision: EnginePrecision = EnginePrecision.AUTO
    min_batch: int = 1
    opt_batch: int = 1
    max_batch: int = 32
    workspace_mib: int = 1024
    timing_cache: Path | None = None  # None: timing.cache in the run directory
    calib: str | None = None  # implicit INT8 only: fashion-mnist, synthetic or an ImageFolder DIR
    calib_size: int = 512
    calib_batch_size: int = 32
    calib_cache: Path | None = None  # a calibration cache to start from (skips calibration)
    seed: int = 0
    data_dir: Path | None = None
    shapes: InputShapes = field(default_factory=InputShapes)  # --shapes: fills symbolic dims

    def __post_init__(self) -> None:
        problems = coerce_enums(self, _ENUM_FIELDS)
        if problems:
            raise SeDeployError("bad build options: " + "; ".join(problems))
        trt = self.backend is BuildBackend.TRT
        other = changed_flags(self, _ORT_ONLY if trt else _TRT_ONLY)
        if other:
            problems.append(f"{', '.join(other)}: not for --backend {self.backend}; drop them")
        problems += self._trt_problems() if trt else self._ort_problems()
        if problems:
            raise SeDeployError("bad build options: " + "; ".join(problems))

    def _ort_problems(self) -> list[str]:
        problems = []
        if self.threads < 0 or self.inter_threads < 0:
            problems.append("--threads/--inter-threads must be >= 0 (0 = ONNX Runtime's default)")
        if self.se_gates is not SeGates.NCHWC and not self.places_se_gates_possible:
            problems.append(
                "--se-gates places gates in ORT's NCHWc layout: only with --provider cpu "
                "--graph-opt all; drop it"
            )
        return problems

    @property
    def places_se_gates_possible(self) -> bool:
        """Whether the saved graph has ORT's NCHWc layout (CPU provider, level all)."""
        return self.provider is OrtProvider.CPU and self.graph_opt is GraphOptimization.ALL

    @property
    def places_se_gates(self) -> bool:
        """Whether the build rewrites SE gates into the NCHWc layout (stages.compile.nchwc_se)."""
        return self.places_se_gates_possible and self.se_gates is SeGates.NCHWC

    def _trt_problems(self) -> list[str]:
        problems = []
        if not 1 <= self.min_batch <= self.opt_batch <= self.max_batch:
            problems.append(
                f"batch profile {self.min_batch}/{self.opt_batch}/{self.max_batch} "
                "(need 1 <= --min-batch <= --opt-batch <= --max-batch)"
            )
        if self.workspace_mib < 1:
            problems.append(f"--workspace-mib {self.workspace_mib} (use >= 1)")
        calibrates = self.engine_precision is EnginePrecision.INT8
        stray = changed_flags(self, _CALIBRATION)
        if stray and not calibrates:
            problems.append(f"{', '.join(stray)} calibrate --engine-precision int8 only; drop them")
        if calibrates and (self.calib_size < 1 or self.calib_batch_size < 1):
            problems.append("--calib-size and --calib-batch-size must be >= 1")
        return problems

    @property
    def portable(self) -> bool:
        """Whether ORT's saved optimized graph runs on other machines: CPU provider at basic or
        extended level (`all` adds NCHWc layout nodes for this CPU's vector width)."""
        return self.provider is OrtProvider.CPU and self.graph_opt in (
            GraphOptimization.DISABLED,
            GraphOptimization.BASIC,
            GraphOptimization.EXTENDED,
        )

    def to_dict(self) -> dict[str, Any]:
        """The options of this backend, as recorded in the build manifest."""
        names = _ORT_ONLY if self.backend is BuildBackend.ORT else (*_TRT_ONLY, "data_dir")
        values = {name: getattr(self, name) for name in names}
        return {
            "backend": str(self.backend),
            **{k: str(v) if isinstance(v, Path | enum.Enum) else v for k, v in values.items()},
            "shapes": self.shapes.to_text(),
        }
