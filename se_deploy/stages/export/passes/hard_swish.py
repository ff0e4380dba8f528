"""Fuse x * hardsigmoid(x) into one HardSwish node (MobileNetV3's activation).

Recognized forms: Mul(x, HardSigmoid(x)) with alpha 1/6 and beta 1/2 (run after
`fuse_hard_sigmoid`), and the arithmetic x * clip(x + 3, 0, 6) / 6 (or * 1/6).
"""

from __future__ import annotations

import onnx
from onnx import helper

from se_deploy.core.onnx.affine import close, keeps_shape, scaling, shifted_clip
from se_deploy.core.onnx.graph import GraphIndex, attribute, prune, replace_roots, working_copy
from se_deploy.stages.export.passes.opsets import runs_on


@runs_on(14)
def fuse_hard_swish(model: onnx.ModelProto) -> onnx.ModelProto:
    model = working_copy(model)
    index = GraphIndex(model, with_shapes=True)
    replacements = {}
    for node in model.graph.node:
        x = _times_hard_sigmoid(index, node) or _arithmetic(index, node)
        if x is not None and keeps_shape(index, x, node.output[0]):
            replacements[node.name] = [
                helper.make_node("HardSwish", [x], [node.output[0]], name=node.name)
            ]
    if not replacements:
        return model
    return prune(replace_roots(model, replacements))


def _times_hard_sigmoid(index: GraphIndex, node: onnx.NodeProto) -> str | None:
    """Mul(x, HardSigmoid(x)) in either operand order."""
    if node.op_type != "Mul":
        return None
    first, second = node.input
    for x, gate_output in ((first, second), (second, first)):
        gate = index.producer.get(gate_output)
        if gate is not None and gate.op_type == "HardSigmoid" and gate.input[0] == x:
            alpha, beta = attribute(gate, "alpha", 0.2), attribute(gate, "beta", 0.5)
            if close(alpha, 1 / 6) and close(beta, 0.5):
                return x
    return None


def _arithmetic(index: GraphIndex, node: onnx.NodeProto) -> str | None:
    """Mul(x, clip(x + 3, 0, 6)) scaled by 1/6."""
    scaled = scaling(index, node)
    product = index.producer.get(scaled[0]) if scaled and close(scaled[1], 1 / 6) else None
    if product is None or product.op_type != "Mul":
        return None
    first, second = product.input
    for x, clipped in ((first, second), (second, first)):
        core = shifted_clip(index, clipped)
        if core is not None and core.x == x and close(core.shift, 3.0) and close(core.upper, 6.0):
            return x
    return None
