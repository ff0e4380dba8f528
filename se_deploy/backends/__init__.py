"""Backends behind one Runner interface; each is imported only when asked for by name.

`import se_deploy.backends` pulls in numpy and nothing else: ORT, torch, TensorRT and OpenVINO are
imported inside their runner's availability check and load.
"""

from __future__ import annotations

import importlib

from se_deploy.backends.base import (
    Device,
    GraphOptimization,
    LayerTime,
    Prepared,
    Runner,
    RunnerOptions,
    TensorSpec,
)
from se_deploy.core.errors import SeDeployError

_RUNNERS = {
    "ort": "se_deploy.backends.ort:OrtRunner",
    "ort-trt": "se_deploy.backends.ort:OrtTensorrtRunner",
    "torch": "se_deploy.backends.torch:TorchRunner",
    "trt": "se_deploy.backends.trt:TrtRunner",
    "openvino": "se_deploy.backends.openvino:OpenVinoRunner",
}

__all__ = [
    "Device",
    "GraphOptimization",
    "LayerTime",
    "Prepared",
    "Runner",
    "RunnerOptions",
    "TensorSpec",
    "backend_names",
    "runner_class",
    "unavailable_reason",
]


def backend_names() -> list[str]:
    return list(_RUNNERS)


def runner_class(backend: str) -> type[Runner]:
    """The Runner class registered as `backend`, or an error listing the known names."""
    if backend not in _RUNNERS:
        raise SeDeployError(f"unknown backend '{backend}'; choose from {', '.join(_RUNNERS)}")
    module, _, cls = _RUNNERS[backend].partition(":")
    return getattr(importlib.import_module(module), cls)


def unavailable_reason(backend: str, options: RunnerOptions | None = None) -> str | None:
    return runner_class(backend).unavailable_reason(options)
