"""torch -> ONNX export with SE-aware graph passes, an SE finder and built-in parity checks."""

from se_deploy.core.onnx.se_pattern import SEBlock, find_se_blocks
from se_deploy.stages.export.config import ExportConfig
from se_deploy.stages.export.pipeline import export_model

__all__ = ["ExportConfig", "SEBlock", "export_model", "find_se_blocks"]
