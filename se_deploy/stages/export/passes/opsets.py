"""Which opsets a graph pass may run on: a pass never emits an op the model's opset lacks.

Each pass declares its range with `@runs_on(first, last)`. Outside it the pass leaves the model
as it is and says why (`skip_reason`), so `run_passes` records the skip in the manifest: a
Paddle2ONNX model at opset 11/12 keeps HardSigmoid + Mul instead of gaining a HardSwish node
that ONNX Runtime rejects (`No Op registered for HardSwish with domain_version of 11`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import onnx

from se_deploy.core.onnx.graph import model_opset

GraphPass = Callable[[onnx.ModelProto], onnx.ModelProto]
LATEST_OPSET = onnx.defs.onnx_opset_version()


def runs_on(first: int, last: int = LATEST_OPSET) -> Callable[[GraphPass], GraphPass]:
    """Declare the opsets [first, last] of the default domain a pass may rewrite."""

    def declare(graph_pass: GraphPass) -> GraphPass:
        @functools.wraps(graph_pass)
        def guarded(model: onnx.ModelProto) -> onnx.ModelProto:
            return model if skip_reason(guarded, model) else graph_pass(model)

        guarded.opsets = (first, last)  # type: ignore[attr-defined]
        return guarded

    return declare


def skip_reason(graph_pass: GraphPass, model: onnx.ModelProto) -> str | None:
    """Why `graph_pass` leaves `model` alone (its opset is outside the pass's range), or None."""
    first, last = getattr(graph_pass, "opsets", (1, LATEST_OPSET))
    opset = model_opset(model)
    if first <= opset <= last:
        return None
    return f"opset {opset} is outside {first}..{last} (pass --opset {first} to upgrade)"
