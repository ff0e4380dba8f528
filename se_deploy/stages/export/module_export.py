"""`se-deploy export --module FILE.py:FACTORY|package.module:FACTORY`: a user's own PyTorch
module, traced by the same exporter as the zoo (`onnx_export`), then the --onnx route
(`onnx_file.export_imported`) with PyTorch as the reference. The manifest's origin records the
factory, its file's sha256 (for a FILE.py), the keyword arguments and the weights' sha256."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from torch import nn

from se_deploy.core.artifact import RunResult
from se_deploy.core.errors import SeDeployError, exception_line
from se_deploy.core.files import sha256_file
from se_deploy.core.shapes import InputShapes
from se_deploy.models.user_module import build_user_module, parse_module_args
from se_deploy.stages.export.config import ExportConfig
from se_deploy.stages.export.onnx_export import EXPORTER, INPUT_NAME, export_onnx
from se_deploy.stages.export.onnx_file import ImportedModel, export_imported, model_name
from se_deploy.stages.export.pipeline import (
    StepCallback,
    StepClock,
    require_writable_root,
)


def export_module(config: ExportConfig, on_step: StepCallback | None = None) -> RunResult:
    """Build, trace, rewrite, check and verify a user's module; write its artifacts or nothing."""
    assert config.module is not None  # ExportConfig routes only --module configs here
    clock = StepClock(on_step)
    require_writable_root(config.out)
    dims = input_dims(config.shapes)
    kwargs = parse_module_args(config.module_args)
    with clock("build model"):
        module = build_user_module(config.module, kwargs, config.weights)
    with clock("export to ONNX"):
        exported = _traced(module, dims, config)
    imported = ImportedModel(
        name=config.name or model_name(Path(config.module.rpartition(":")[2])),
        original=exported,
        shapes={INPUT_NAME: dims},
        origin=_origin(config, kwargs),
        weights=_weights(config.weights),
        exporter=EXPORTER,
        reference_label="PyTorch",
        reference=_torch_reference(module, [o.name for o in exported.graph.output]),
    )
    return export_imported(config, imported, clock)


def input_dims(shapes: str | None) -> tuple[int, int, int, int]:
    """The one NCHW input shape --shapes gives (its name is free: the export names it)."""
    parsed = InputShapes.parse(shapes)
    if len(parsed.dims) != 1 or len(parsed.dims[0][1]) != 4:
        raise SeDeployError(
            "--module needs the input shape: --shapes input:1x3xHxW (one NCHW input)"
        )
    n, c, h, w = parsed.dims[0][1]
    return n, c, h, w


def _traced(
    module: nn.Module, dims: tuple[int, int, int, int], config: ExportConfig
) -> onnx.ModelProto:
    """The user's forward on the --shapes input first, so that a wrong shape reads as one
    (the tracer's own error on it is a traceback deep in torch.onnx), then the trace."""
    shape = "x".join(map(str, dims))
    try:
        with torch.inference_mode():
            module(torch.zeros(dims))
    except Exception as exc:
        raise SeDeployError(
            f"--module '{config.module}' fails on an input of {shape} ({exception_line(exc)}); "
            "give --shapes the input its forward takes"
        ) from None
    try:
        return export_onnx(module, dims, config.torch_opset, config.dynamic)
    except Exception as exc:
        raise SeDeployError(
            f"--module '{config.module}' runs but torch.onnx.export cannot trace it "
            f"({exception_line(exc)}); export it to ONNX yourself and pass --onnx FILE"
        ) from None


def _torch_reference(
    module: nn.Module, names: list[str]
) -> Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]:
    def reference(feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        with torch.inference_mode():
            outputs = module(torch.from_numpy(feeds[INPUT_NAME]))
        outputs = outputs if isinstance(outputs, tuple | list) else (outputs,)
        return {name: out.numpy() for name, out in zip(names, outputs, strict=True)}

    return reference


def _origin(config: ExportConfig, kwargs: dict[str, Any]) -> dict[str, Any]:
    assert config.module is not None
    where = config.module.rpartition(":")[0]
    file = Path(where) if where.endswith(".py") else None
    return {
        "kind": "module",
        "factory": config.module,
        "file_sha256": sha256_file(file) if file else None,
        "module_args": {key: repr(value) for key, value in kwargs.items()},
        "opset": config.torch_opset,
    }


def _weights(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {"init": "module factory", "note": "the factory's own initialization"}
    return {"inside": "state_dict", "file": str(path), "sha256": sha256_file(path)}
