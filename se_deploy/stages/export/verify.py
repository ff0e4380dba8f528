"""ONNX Runtime vs PyTorch parity on the same inputs: the check that makes an export trustworthy.

The figures and tolerances are `se_deploy.core.checks`'; this module adds the PyTorch side.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from se_deploy.backends.ort import open_session, session_outputs
from se_deploy.core.checks import FP32, Parity, Tolerance, compare_outputs


def torch_outputs(model: nn.Module, batches: Sequence[np.ndarray], chunk: int = 32) -> np.ndarray:
    """Reference outputs, computed `chunk` samples per forward whatever the export's batch
    (eval mode makes samples independent; one batched forward is several times faster)."""
    images = torch.from_numpy(np.concatenate(batches))
    with torch.inference_mode():
        return torch.cat([model(part) for part in images.split(chunk)]).numpy()


def verify_against_torch(
    model_bytes: bytes,
    model: nn.Module,
    inputs: dict[str, list[np.ndarray]],
    tolerance: Tolerance = FP32,
) -> list[Parity]:
    """Parity of the ONNX model with `model` for each named list of input batches."""
    session = open_session(model_bytes)
    return [
        compare_outputs(
            torch_outputs(model, batches), session_outputs(session, batches), source, tolerance
        )
        for source, batches in inputs.items()
    ]
