"""Rewrite every SE block into the canonical form the SE finder, quantizers and runtimes expect.

    x -> GlobalAveragePool|GlobalMaxPool -> Conv 1x1 -> Relu -> Conv 1x1 -> gate -> Mul(x, .)

Blocks exported from Linear layers or mean/max reductions (ReduceMean/ReduceMax or a whole-map
pool, Gemm or MatMul+Add, Reshape/Flatten/Squeeze/Unsqueeze in between) lose their shape ops:
the FC weights become 1x1 Conv weights, so the block stays NCHW from squeeze to Mul. Run after
`fuse_hard_sigmoid` so an arithmetic hard-sigmoid gate is already one op.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper

from se_deploy.core.onnx.graph import (
    GraphIndex,
    NameAllocator,
    add_initializer,
    prune,
    replace_roots,
    working_copy,
)
from se_deploy.core.onnx.se_pattern import (
    SQUEEZE_OPS,
    FullyConnected,
    SEMatch,
    common_prefix,
    scan_se,
)


def canonicalize_se(model: onnx.ModelProto) -> onnx.ModelProto:
    model = working_copy(model)
    matches, _ = scan_se(GraphIndex(model, with_shapes=True), strict=False)
    names = NameAllocator(model.graph)
    replacements = {
        match.mul.name: _canonical_nodes(model.graph, names, match)
        for match in matches
        if not match.canonical
    }
    if not replacements:
        return model
    return prune(replace_roots(model, replacements))


def _canonical_nodes(
    graph: onnx.GraphProto, names: NameAllocator, match: SEMatch
) -> list[onnx.NodeProto]:
    """The canonical block, ending in a Mul that keeps the old Mul's name and output."""
    scope = common_prefix(match.nodes) or match.mul.name
    roles = ("squeeze", "reduce", "relu", "expand", "gate")
    pooled, reduced, activated, expanded, scale = (names(f"{scope}/{r}_output_0") for r in roles)
    gate = helper.make_node(match.gate.op_type, [expanded], [scale], name=names(f"{scope}/gate"))
    gate.attribute.extend(match.gate.attribute)
    return [
        helper.make_node(
            SQUEEZE_OPS[match.squeeze], [match.x], [pooled], name=names(f"{scope}/squeeze")
        ),
        _conv(graph, names, f"{scope}/reduce", pooled, reduced, match.reduce),
        helper.make_node("Relu", [reduced], [activated], name=names(f"{scope}/relu")),
        _conv(graph, names, f"{scope}/expand", activated, expanded, match.expand),
        gate,
        helper.make_node("Mul", [match.x, scale], [match.mul.output[0]], name=match.mul.name),
    ]


def _conv(
    graph: onnx.GraphProto,
    names: NameAllocator,
    name: str,
    source: str,
    output: str,
    layer: FullyConnected,
) -> onnx.NodeProto:
    """A 1x1 Conv computing the FC `layer` on an (N, C, 1, 1) tensor."""
    out_features, in_features = layer.weight.shape
    weight = np.ascontiguousarray(layer.weight, np.float32).reshape(out_features, in_features, 1, 1)
    inputs = [source, add_initializer(graph, names, f"{name}.weight", weight)]
    if layer.bias is not None:
        bias = np.ascontiguousarray(layer.bias, np.float32)
        inputs.append(add_initializer(graph, names, f"{name}.bias", bias))
    return helper.make_node("Conv", inputs, [output], name=names(name), kernel_shape=[1, 1])
