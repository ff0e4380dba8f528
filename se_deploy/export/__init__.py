"""torch -> ONNX export with SE-aware graph passes, an SE finder and built-in parity checks."""

from se_deploy.export.config import ExportConfig
from se_deploy.export.pipeline import ExportResult, export_model
from se_deploy.export.se_pattern import SEBlock, find_se_blocks

__all__ = ["ExportConfig", "ExportResult", "SEBlock", "export_model", "find_se_blocks"]
