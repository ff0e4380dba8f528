"""SE-aware INT8: keep each SE block's gating path (pool, FCs, gate, Mul) in float, and prove it.

The nodes come from the SE finder run on the graph that is actually quantized (after
`quant_pre_process`), so their names are the ones `quantize_static(nodes_to_exclude=...)` sees.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import onnx

from se_deploy.core.onnx.graph import GraphIndex, NameAllocator, add_initializer, clone
from se_deploy.core.onnx.qdq import DEQUANTIZE, QUANTIZE
from se_deploy.core.onnx.se_pattern import SEBlock


def se_node_names(blocks: Sequence[SEBlock]) -> list[str]:
    """Every node of every block's gating path, in graph order."""
    return [name for block in blocks for name in block.nodes]


def unshare_initializers(model: onnx.ModelProto, nodes: Collection[str]) -> onnx.ModelProto:
    """Give `nodes` private copies of the initializers they share with other nodes.

    Exporters deduplicate equal constants (all-zero biases, for one), and ORT's quantizer
    rewrites a shared initializer for every reader once one reader is quantized, which would put
    a DequantizeLinear inside a path that was excluded from quantization.
    """
    model = clone(model)
    graph = model.graph
    index = GraphIndex(model)
    names = NameAllocator(graph)
    chosen = set(nodes)
    for node in graph.node:
        if node.name not in chosen:
            continue
        for position, tensor in enumerate(node.input):
            readers = index.consumers.get(tensor, [])
            if tensor in index.initializers and any(r.name not in chosen for r in readers):
                value = index.constant(tensor)
                node.input[position] = add_initializer(graph, names, f"{tensor}.float", value)
    return model


def quantized_se_tensors(model: onnx.ModelProto, blocks: Sequence[SEBlock]) -> list[str]:
    """One line per Q/DQ touching the inside of a block that should be float: a node of the path
    reading a DequantizeLinear output (other than the block input, which the preceding INT8
    layer hands over dequantized), or an inner output feeding a QuantizeLinear (the Mul output
    may: the next INT8 layer quantizes it)."""
    index = GraphIndex(model)
    by_name = {node.name: node for node in model.graph.node}
    problems = []
    for block in blocks:
        for name in block.nodes:
            node = by_name.get(name)
            if node is None:
                problems.append(f"{block.name}: node '{name}' is missing from the graph")
                continue
            problems += [
                f"{block.name}: '{name}' reads DequantizeLinear output '{tensor}'"
                for tensor in node.input
                if _produced_by(index, tensor, DEQUANTIZE)
                and _qdq_source(index, tensor) != block.input
            ]
            problems += [
                f"{block.name}: '{name}' output '{tensor}' feeds a QuantizeLinear"
                for tensor in node.output
                if tensor != block.output and _read_by(index, tensor, QUANTIZE)
            ]
    return problems


def _qdq_source(index: GraphIndex, tensor: str) -> str | None:
    """The float tensor a Quantize -> Dequantize pair ending in `tensor` round-trips."""
    quantize = index.producer.get(index.producer[tensor].input[0])
    return quantize.input[0] if quantize is not None and quantize.op_type == QUANTIZE else None


def _produced_by(index: GraphIndex, tensor: str, op_type: str) -> bool:
    producer = index.producer.get(tensor)
    return producer is not None and producer.op_type == op_type


def _read_by(index: GraphIndex, tensor: str, op_type: str) -> bool:
    return any(reader.op_type == op_type for reader in index.consumers.get(tensor, []))
