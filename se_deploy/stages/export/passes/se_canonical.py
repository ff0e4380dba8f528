"""Rewrite every SE block into the canonical form the SE finder, quantizers and runtimes expect.

    x -> GlobalAveragePool|GlobalMaxPool -> Conv 1x1 -> activation -> Conv 1x1 -> gate -> Mul(x, .)

Blocks exported from Linear layers or mean/max reductions (ReduceMean/ReduceMax or a whole-map
pool, Gemm or MatMul+Add, a Conv with its bias as a separate Add, Reshape/Flatten/Squeeze/
Unsqueeze in between, an Expand of the gate) lose their shape ops: the FC weights become 1x1
Conv weights with their biases inside, so the block stays NCHW from squeeze to Mul. The
activation between the FCs (Relu, SiLU, HardSwish, ...) is copied as it is: it is elementwise,
so it computes the same on (N, C, 1, 1) as on (N, C). An NHWC block (tf2onnx / Keras: ReduceMean
over axes 1, 2, MatMul FCs, the gate broadcast over (N, 1, 1, C)) becomes the canonical block
between a Transpose to NCHW and one back, which ONNX Runtime's transpose optimizer cancels
against the exporter's own Transposes around the neighbouring convs. Run after
`fuse_hard_sigmoid` so an arithmetic hard-sigmoid gate is already one op (a match that still
has one gets it fused here).
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
    Activation,
    FullyConnected,
    SEMatch,
    common_prefix,
    scan_se,
)
from se_deploy.stages.export.passes.opsets import runs_on


@runs_on(7)
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
    """The canonical block, ending in a Mul (or, for NHWC, a Transpose back) that keeps the old
    Mul's output name."""
    scope = common_prefix(match.nodes) or match.mul.name
    if match.channels_last:
        return _channels_last_nodes(graph, names, match, scope)
    return _block_nodes(graph, names, match, scope, match.x, match.mul.output[0], match.mul.name)


def _channels_last_nodes(
    graph: onnx.GraphProto, names: NameAllocator, match: SEMatch, scope: str
) -> list[onnx.NodeProto]:
    """Transpose NHWC x to NCHW, the canonical block, and its output back to NHWC."""
    x_nchw, y_nchw = names(f"{scope}/to_nchw_output_0"), names(f"{scope}/mul_nchw_output_0")
    return [
        helper.make_node(
            "Transpose", [match.x], [x_nchw], name=names(f"{scope}/to_nchw"), perm=[0, 3, 1, 2]
        ),
        *_block_nodes(graph, names, match, scope, x_nchw, y_nchw, names(f"{scope}/mul")),
        helper.make_node(
            "Transpose", [y_nchw], [match.mul.output[0]], name=match.mul.name, perm=[0, 2, 3, 1]
        ),
    ]


def _block_nodes(
    graph: onnx.GraphProto,
    names: NameAllocator,
    match: SEMatch,
    scope: str,
    x: str,
    output: str,
    mul_name: str,
) -> list[onnx.NodeProto]:
    """squeeze -> reduce Conv -> activation -> expand Conv -> gate -> Mul(x, scale) = output."""
    roles = ("squeeze", "reduce", "act", "expand", "gate")
    pooled, reduced, activated, expanded, scale = (names(f"{scope}/{r}_output_0") for r in roles)
    gate = match.gate_node([expanded], [scale], names(f"{scope}/gate"))
    return [
        helper.make_node(SQUEEZE_OPS[match.squeeze], [x], [pooled], name=names(f"{scope}/squeeze")),
        _conv(graph, names, f"{scope}/reduce", pooled, reduced, match.reduce),
        *_activation_nodes(names, scope, match.activation, reduced, activated),
        _conv(graph, names, f"{scope}/expand", activated, expanded, match.expand),
        gate,
        helper.make_node("Mul", [x, scale], [output], name=mul_name),
    ]


def _activation_nodes(
    names: NameAllocator, scope: str, activation: Activation, source: str, output: str
) -> list[onnx.NodeProto]:
    """Copies of the activation's nodes reading `source` and writing `output`; tensors inside a
    two-node activation (SiLU's sigmoid) get fresh names, constant inputs (Clip bounds) stay."""
    renamed = {activation.input: source, activation.output: output}
    copies = []
    for node in activation.nodes:
        for tensor in node.output:
            renamed.setdefault(tensor, names(f"{scope}/{node.op_type.lower()}_output_0"))
        copy = onnx.NodeProto()
        copy.CopyFrom(node)
        copy.name = names(f"{scope}/{node.op_type.lower()}")
        copy.input[:] = [renamed.get(tensor, tensor) for tensor in node.input]
        copy.output[:] = [renamed[tensor] for tensor in node.output]
        copies.append(copy)
    return copies


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
