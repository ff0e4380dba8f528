"""QuantConfig: every `se-deploy quantize` option, validated once, before any file is read.

Option combinations that would be ignored or contradict each other are rejected here (the
onnxruntime.quantization lesson), so a manifest never records a knob that did nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from se_deploy.core.artifact import Precision
from se_deploy.core.choices import CalibMethod, QuantScheme, QuantTarget, SePrecision
from se_deploy.core.errors import SeDeployError
from se_deploy.core.options import changed_flags, coerce_enums
from se_deploy.core.shapes import InputShapes

TARGET_SCHEMES = {QuantTarget.ORT_CPU: QuantScheme.U8S8, QuantTarget.TENSORRT: QuantScheme.S8S8}


DEFAULT_PERCENTILE = 99.999
RANDOM = "random"
_INT8_ONLY = (
    "calib",
    "calib_size",
    "calib_batch_size",
    "calib_method",
    "percentile",
    "scheme",
    "target",
    "reduce_range",
    "per_channel",
    "se_precision",
    "seed",
)
_ENUM_FIELDS = {
    "precision": Precision,
    "calib_method": CalibMethod,
    "scheme": QuantScheme,
    "target": QuantTarget,
    "se_precision": SePrecision,
}


@dataclass(frozen=True)
class QuantConfig:
    """How to quantize one ONNX model. INT8-only fields must keep their defaults for FP16."""

    precision: Precision
    keep_io_types: bool = True  # fp16: float32 inputs/outputs, Cast nodes inside
    calib: str | None = None  # int8: 'fashion-mnist', 'synthetic' or an ImageFolder DIR
    calib_size: int = 512
    calib_batch_size: int = 32
    calib_method: CalibMethod = CalibMethod.MINMAX
    percentile: float | None = None  # percentile method only; None = ORT's 99.999
    target: QuantTarget = QuantTarget.ORT_CPU  # int8: the runtime, which picks the scheme
    scheme: QuantScheme | None = None  # None: the target's (see `int8_scheme`)
    reduce_range: bool | None = None  # None: on for ORT CPU unless u8u8 (`weight_reduce_range`)
    per_channel: bool = True
    se_precision: SePrecision = SePrecision.INT8
    seed: int = 0  # which calibration images are drawn
    data_dir: Path | None = None  # Fashion-MNIST IDX files, when not in the default place
    verify_data: str | None = None  # None: the --calib set (int8) or seeded random inputs (fp16)
    verify_size: int = 256  # images run through both models to check the quantized one
    # False: record the check's figures without refusing the artifact. For random-init models
    # timed for latency only, whose near-tied logits make top-1 agreement meaningless.
    enforce_check: bool = True
    shapes: InputShapes = field(default_factory=InputShapes)  # --shapes: fills symbolic dims

    def __post_init__(self) -> None:
        problems = coerce_enums(self, _ENUM_FIELDS)
        if problems:  # the checks below compare enum members
            raise SeDeployError("bad quantize options: " + "; ".join(problems))
        int8 = self.precision is Precision.INT8
        problems = self._int8_problems() if int8 else self._fp16_problems()
        if self.verify_size < 1:
            problems.append(f"--verify-size {self.verify_size} (use >= 1)")
        if problems:
            raise SeDeployError("bad quantize options: " + "; ".join(problems))

    def _int8_problems(self) -> list[str]:
        problems = []
        if self.calib is None:
            problems.append("int8 needs calibration data: pass --calib fashion-mnist|synthetic|DIR")
        if self.calib_size < 1 or self.calib_batch_size < 1:
            problems.append(
                f"--calib-size {self.calib_size} / --calib-batch-size "
                f"{self.calib_batch_size} (use >= 1)"
            )
        if self.percentile is not None and self.calib_method is not CalibMethod.PERCENTILE:
            problems.append(
                f"--percentile applies to --calib-method percentile, not "
                f"{self.calib_method}; drop it"
            )
        if self.percentile is not None and not 50.0 < self.percentile <= 100.0:
            problems.append(f"--percentile {self.percentile} (use 50 < p <= 100)")
        if not self.keep_io_types:
            problems.append("--no-keep-io-types applies to fp16 only; drop it")
        if self.target is QuantTarget.TENSORRT and self.int8_scheme is not QuantScheme.S8S8:
            problems.append(
                f"--scheme {self.int8_scheme}: TensorRT takes s8s8 only; drop --scheme for "
                "--target tensorrt"
            )
        if self.reduce_range is True and self.int8_scheme is QuantScheme.U8U8:
            problems.append(
                "--reduce-range guards u8s8/s8s8 kernels against saturation; u8u8 "
                "cannot saturate: drop --reduce-range"
            )
        return problems

    def _fp16_problems(self) -> list[str]:
        changed = changed_flags(self, _INT8_ONLY)
        return [f"{', '.join(changed)} apply to int8 only; drop them for fp16"] if changed else []

    @property
    def int8_scheme(self) -> QuantScheme:
        """--scheme, else the target's default (TARGET_SCHEMES)."""
        return self.scheme or TARGET_SCHEMES[self.target]

    @property
    def verify_source(self) -> str:
        """What the quantized model is checked on: a dataset spec or 'random'."""
        return self.verify_data or self.calib or RANDOM

    @property
    def tag(self) -> str:
        """The artifact folder name: 'fp16', 'int8', or 'int8-sefloat' with the SE path in float."""
        if self.precision is Precision.INT8 and self.se_precision is SePrecision.FLOAT:
            return "int8-sefloat"
        return str(self.precision)

    def to_dict(self) -> dict[str, Any]:
        """The options that shaped the artifact (int8-only fields omitted for fp16)."""
        checks = {
            "verify_data": self.verify_source,
            "verify_size": self.verify_size,
            "enforce_check": self.enforce_check,
            "data_dir": str(self.data_dir) if self.data_dir else None,
            "shapes": self.shapes.to_text(),
        }
        if self.precision is Precision.FP16:
            return {"precision": str(self.precision), "keep_io_types": self.keep_io_types, **checks}
        return {
            **checks,
            "precision": str(self.precision),
            "calib": self.calib,
            "calib_size": self.calib_size,
            "calib_batch_size": self.calib_batch_size,
            "calib_method": str(self.calib_method),
            "percentile": self.percentile_value,
            "target": str(self.target),
            "scheme": str(self.int8_scheme),
            "scheme_from": "--scheme" if self.scheme else f"--target {self.target} default",
            "reduce_range": self.weight_reduce_range,
            "per_channel": self.per_channel,
            "se_precision": str(self.se_precision),
            "seed": self.seed,
            "format": "QDQ",
        }

    @property
    def weight_reduce_range(self) -> bool:
        """7-bit weights unless told otherwise or u8u8. An artifact may run on any x86 CPU, and
        on one without VNNI the saturation is real: measured here (AMD EPYC, AVX2, no VNNI, ORT
        1.32) a per-channel S8S8 tiny SE-MobileNet reached output cosine 0.30 against its float
        model with 8-bit weights, 0.995 with 7-bit; the same QDQ graph computed in float gave
        0.999, so ORT's integer kernels, not the scales, lost the accuracy. TensorRT's kernels do
        not saturate: off for --target tensorrt."""
        if self.reduce_range is None:
            ort_cpu = self.target is QuantTarget.ORT_CPU
            return ort_cpu and self.int8_scheme is not QuantScheme.U8U8
        return self.reduce_range

    @property
    def percentile_value(self) -> float | None:
        if self.calib_method is not CalibMethod.PERCENTILE:
            return None
        return DEFAULT_PERCENTILE if self.percentile is None else self.percentile
