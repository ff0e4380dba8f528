"""Runtime artifacts from an ONNX file: ONNX Runtime session configs and saved optimized graphs,
TensorRT engines. Runtimes are imported only when a build asks for them."""

from se_deploy.stages.compile.config import BuildBackend, BuildConfig, EnginePrecision, OrtProvider
from se_deploy.stages.compile.pipeline import build_artifact, require_buildable

__all__ = [
    "BuildBackend",
    "BuildConfig",
    "EnginePrecision",
    "OrtProvider",
    "build_artifact",
    "require_buildable",
]
