"""Fold inference-mode BatchNormalization into the Conv that feeds it.

conv(x, W, b) then BN(gamma, beta, mean, var, eps) equals conv(x, W * s, (b - mean) * s + beta)
with s = gamma / sqrt(var + eps) per output channel. Folding is done in float64 and cast back.
A BN whose input is not a Conv read only by that BN is left as it is.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper

from se_deploy.core.onnx.graph import (
    GraphIndex,
    NameAllocator,
    add_initializer,
    attribute,
    prune,
    replace_roots,
    working_copy,
)
from se_deploy.stages.export.passes.opsets import runs_on


@runs_on(1)
def fold_batchnorm(model: onnx.ModelProto) -> onnx.ModelProto:
    model = working_copy(model)
    index = GraphIndex(model)
    names = NameAllocator(model.graph)
    replacements = {}
    for node in model.graph.node:
        if node.op_type == "BatchNormalization":
            folded = _folded_conv(model.graph, index, names, node)
            if folded is not None:
                replacements[node.name] = [folded]
    if not replacements:
        return model
    return prune(replace_roots(model, replacements))


def _folded_conv(
    graph: onnx.GraphProto, index: GraphIndex, names: NameAllocator, bn: onnx.NodeProto
) -> onnx.NodeProto | None:
    conv = index.producer.get(bn.input[0])
    if conv is None or conv.op_type != "Conv" or index.sole_consumer(conv.output[0]) is not bn:
        return None
    if len(bn.output) != 1 or attribute(bn, "training_mode", 0):
        return None
    params = [index.constant(name) for name in bn.input[1:5]]
    weights = index.conv_weights(conv)
    if weights is None or any(p is None for p in params):
        return None
    weight, bias = weights
    gamma, beta, mean, var = (p.astype(np.float64) for p in params)
    scale = gamma / np.sqrt(var + attribute(bn, "epsilon", 1e-5))
    new_weight = weight.astype(np.float64) * scale.reshape(-1, *([1] * (weight.ndim - 1)))
    new_bias = (bias.astype(np.float64) - mean) * scale + beta
    inputs = [
        conv.input[0],
        add_initializer(graph, names, f"{conv.name}.weight", new_weight.astype(weight.dtype)),
        add_initializer(graph, names, f"{conv.name}.bias", new_bias.astype(weight.dtype)),
    ]
    folded = helper.make_node("Conv", inputs, [bn.output[0]], name=conv.name)
    folded.attribute.extend(conv.attribute)
    return folded
