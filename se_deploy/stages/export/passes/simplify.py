"""onnxsim simplification: constant folding, shape-op elimination, onnx-optimizer fusions.

Symbolic input dims (the dynamic batch axis) are kept: no input shapes are overwritten, so a
model exported with `--dynamic-batch` stays dynamic and a static one stays static.
"""

from __future__ import annotations

import inspect

import onnx

from se_deploy.core.onnx.graph import clone, order_value_info
from se_deploy.stages.export.passes.opsets import runs_on


@runs_on(7)
def simplify(model: onnx.ModelProto) -> onnx.ModelProto:
    """Run onnxsim without its random-input check (export verifies against PyTorch instead)."""
    import onnxsim

    options = {"check_n": 0}
    if "certify" in inspect.signature(onnxsim.simplify).parameters:
        options["certify"] = False  # onnxsim >= 0.5 would try a z3 proof when z3 is installed
    simplified, _ = onnxsim.simplify(clone(model), **options)
    return order_value_info(simplified)
