"""onnx-tool (an independent ONNX counter) as the tests' cross-check of core.onnx.facts.

onnx-tool counts by other conventions, so only the part both count the same way is compared: the
multiply-adds of the contraction nodes, minus the one add per output element it charges for a
bias input; its parameters of those nodes (it counts every initializer a node reads, so for
QOperator nodes the scales and zero points too: compare params on float graphs only), and it
charges an initializer to its first reader, which for a weight the torch exporter shares is the
Identity that aliases it: those Identity nodes' params are added.
"""

from __future__ import annotations

from math import prod

import numpy as np
import onnx

from se_deploy.core.onnx.facts import CONTRACTIONS

_BIAS_AT = {"Conv": 2, "ConvTranspose": 2, "Gemm": 2, "QLinearConv": 8}


def onnx_tool_counts(model: onnx.ModelProto, inputs: dict[str, tuple[int, ...]]) -> tuple[int, int]:
    """(MACs, params) of the contraction nodes, as onnx-tool profiles them."""
    import onnx_tool

    graph = onnx_tool.Model(onnx.ModelProto.FromString(model.SerializeToString())).graph
    graph.graph_reorder_nodes()
    graph.shape_infer({name: np.zeros(shape, np.float32) for name, shape in inputs.items()})
    graph.profile()
    macs = params = 0
    for node in graph.nodemap.values():
        if node.op_type == "Identity":
            params += int(node.params)
        if node.op_type not in CONTRACTIONS:
            continue
        bias_at = _BIAS_AT.get(node.op_type)
        has_bias = bias_at is not None and len(node.input) > bias_at
        macs += int(node.macs[0]) - (prod(node.outshape) if has_bias else 0)
        params += int(node.params)
    return macs, params
