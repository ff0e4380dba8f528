"""Fuse hard-sigmoid written as arithmetic into one HardSigmoid(alpha, beta) node.

Recognized forms (what `F.relu6(x + 3) / 6` and hand-written variants export to):
- clip(x + b, 0, M) / M, or * (1/M)   ->  HardSigmoid(alpha=1/M, beta=b/M)
- clip(a * x + b, 0, 1), a*x also as x / k or plain x  ->  HardSigmoid(alpha=a, beta=b)
SE gates must be one op for the SE finder, quantizers and TensorRT to see them.
"""

from __future__ import annotations

import onnx
from onnx import helper

from se_deploy.core.onnx.graph import GraphIndex, prune, replace_roots, working_copy
from se_deploy.stages.export.passes.affine import (
    clip_bounds,
    close,
    keeps_shape,
    scaling,
    shifted_clip,
    split_scalar,
)
from se_deploy.stages.export.passes.opsets import runs_on


@runs_on(6)
def fuse_hard_sigmoid(model: onnx.ModelProto) -> onnx.ModelProto:
    model = working_copy(model)
    index = GraphIndex(model, with_shapes=True)
    replacements = {}
    for node in model.graph.node:
        match = _scaled_clip(index, node) or _clipped_affine(index, node)
        if match is not None and keeps_shape(index, match[0], node.output[0]):
            x, alpha, beta = match
            replacements[node.name] = [
                helper.make_node(
                    "HardSigmoid", [x], [node.output[0]], name=node.name, alpha=alpha, beta=beta
                )
            ]
    if not replacements:
        return model
    return prune(replace_roots(model, replacements))


def _scaled_clip(index: GraphIndex, node: onnx.NodeProto) -> tuple[str, float, float] | None:
    """clip(x + b, 0, M) * factor with factor == 1/M."""
    scaled = scaling(index, node)
    core = shifted_clip(index, scaled[0]) if scaled else None
    if core is None or not close(core.upper * scaled[1], 1.0):
        return None
    return core.x, scaled[1], core.shift * scaled[1]


def _clipped_affine(index: GraphIndex, node: onnx.NodeProto) -> tuple[str, float, float] | None:
    """clip(alpha * x + beta, 0, 1)."""
    if node.op_type != "Clip" or clip_bounds(index, node) != (0.0, 1.0):
        return None
    add = index.producer.get(node.input[0])
    shifted = split_scalar(index, add) if add is not None and add.op_type == "Add" else None
    if shifted is None:
        return None
    inner = index.producer.get(shifted[0])
    scaled = scaling(index, inner) if inner is not None else None
    x, alpha = scaled if scaled else (shifted[0], 1.0)
    return x, alpha, shifted[1]
