"""FP16 (onnxruntime.transformers.float16) and INT8 (onnxruntime.quantization, QDQ, real
calibration) artifacts from an fp32 export, with the SE gating path optionally kept in float."""

from se_deploy.core.artifact import OnnxSource, resolve_source
from se_deploy.stages.quantize.config import (
    CalibMethod,
    Precision,
    QuantConfig,
    QuantScheme,
    SePrecision,
)
from se_deploy.stages.quantize.pipeline import quantize_artifact

__all__ = [
    "CalibMethod",
    "OnnxSource",
    "Precision",
    "QuantConfig",
    "QuantScheme",
    "SePrecision",
    "quantize_artifact",
    "resolve_source",
]
