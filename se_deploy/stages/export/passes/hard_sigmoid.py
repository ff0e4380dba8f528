"""Fuse hard-sigmoid written as arithmetic into one HardSigmoid(alpha, beta) node.

The forms recognized are core.onnx.affine.hard_sigmoid_of's (what `F.relu6(x + 3) / 6` and
hand-written variants export to). SE gates must be one op for the SE finder, quantizers and
TensorRT to see them.
"""

from __future__ import annotations

import onnx
from onnx import helper

from se_deploy.core.onnx.affine import hard_sigmoid_of, keeps_shape
from se_deploy.core.onnx.graph import GraphIndex, prune, replace_roots, working_copy
from se_deploy.stages.export.passes.opsets import runs_on


@runs_on(6)
def fuse_hard_sigmoid(model: onnx.ModelProto) -> onnx.ModelProto:
    model = working_copy(model)
    index = GraphIndex(model, with_shapes=True)
    replacements = {}
    for node in model.graph.node:
        match = hard_sigmoid_of(index, node)
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
