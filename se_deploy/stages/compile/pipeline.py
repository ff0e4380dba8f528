"""`se-deploy build` end to end: check the runtime is here, build, verify, write the run.

Output lands beside the source artifact (export/<model>/<precision>/) unless `--out` says
otherwise: the engine or optimized graph, caches, and a build manifest named for the backend
(build-trt.json, build-ort-<provider>.json) so one folder can hold several builds. Every file is
written atomically after every check passed, the manifest last.
"""

from __future__ import annotations

from pathlib import Path

from se_deploy.backends.trt import BUILD_MANIFEST as TRT_MANIFEST
from se_deploy.core.artifact import OnnxSource, RunResult, base_manifest, write_run
from se_deploy.core.errors import BackendUnavailableError
from se_deploy.stages.compile.config import BuildBackend, BuildConfig


def require_buildable(config: BuildConfig) -> None:
    """Fail first, in one line, when the runtime or device for this build is missing here."""
    if config.backend is BuildBackend.TRT:
        from se_deploy.stages.compile.trt_build import trt_unavailable

        reason, what = trt_unavailable(), "a TensorRT engine"
    else:
        from se_deploy.stages.compile.ort_build import ort_unavailable

        reason, what = ort_unavailable(config), f"ONNX Runtime's {config.provider} provider"
    if reason:
        raise BackendUnavailableError(f"cannot build {what} here: {reason}; nothing was written")


def manifest_name(config: BuildConfig) -> str:
    if config.backend is BuildBackend.TRT:
        return TRT_MANIFEST
    return f"build-ort-{config.provider}.json"


def build_artifact(source: OnnxSource, config: BuildConfig, out: Path | None = None) -> RunResult:
    """Build `source` for the configured runtime and write the run directory."""
    require_buildable(config)
    run_dir = out or source.path.parent
    if config.backend is BuildBackend.TRT:
        from se_deploy.stages.compile.trt_build import build_trt

        files, record = build_trt(source, config, run_dir)
    else:
        from se_deploy.stages.compile.ort_build import build_ort

        files, record = build_ort(source, config)
    precision = source.precision or source.path.parent.name
    manifest = {
        **base_manifest("build", source, config.to_dict()),
        "precision": precision,
        str(config.backend): record,
    }
    path = write_run(run_dir, files, manifest, manifest_name(config))
    return RunResult.written(run_dir / next(iter(files), path.name), path)
