"""QDQ graphs: tell them apart, count what runs in INT8, read them as the float graph they
simulate, so tools written for float graphs (the SE finder) work on an INT8 artifact too, and
shorten the Relu/Clip chains that ORT leaves unfused in front of SE blocks."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

from se_deploy.core.onnx.graph import GraphIndex, attribute, clone, prune, rename_inputs, set_nodes

QUANTIZE = "QuantizeLinear"
DEQUANTIZE = "DequantizeLinear"
QDQ_OPS = frozenset({QUANTIZE, DEQUANTIZE})
_FLOAT_TYPES = {onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.DOUBLE}


def has_qdq(model: onnx.ModelProto) -> bool:
    return any(node.op_type in QDQ_OPS for node in model.graph.node)


def qdq_summary(model: onnx.ModelProto) -> dict[str, Any]:
    """Q/DQ node counts and, per op type, the compute nodes that run in INT8 once ORT fuses the
    QDQ pattern (every input dequantized or integer, every output quantized or a graph output)
    and those that stay float."""
    index = GraphIndex(model)
    int8: Counter[str] = Counter()
    float_: Counter[str] = Counter()
    for node in model.graph.node:
        if node.op_type in QDQ_OPS:
            continue
        (int8 if _runs_in_int8(index, node) else float_)[node.op_type] += 1
    ops = Counter(node.op_type for node in model.graph.node)
    return {
        "quantize_nodes": ops[QUANTIZE],
        "dequantize_nodes": ops[DEQUANTIZE],
        "int8_ops": dict(sorted(int8.items())),
        "float_ops": dict(sorted(float_.items())),
    }


def _runs_in_int8(index: GraphIndex, node: onnx.NodeProto) -> bool:
    inputs = all(_dequantized_or_integer(index, name) for name in node.input if name)
    return inputs and all(_quantized_or_output(index, name) for name in node.output)


def _dequantized_or_integer(index: GraphIndex, name: str) -> bool:
    producer = index.producer.get(name)
    if producer is not None:
        return producer.op_type == DEQUANTIZE
    initializer = index.initializers.get(name)
    return initializer is not None and initializer.data_type not in _FLOAT_TYPES


def _quantized_or_output(index: GraphIndex, name: str) -> bool:
    readers = index.consumers.get(name, [])
    if name in index.graph_outputs:
        return True
    return bool(readers) and all(reader.op_type == QUANTIZE for reader in readers)


def qdq_nodes_beside(model: onnx.ModelProto, nodes: Collection[str]) -> dict[str, str]:
    """The Q/DQ nodes that belong with `nodes` (say, an SE block's): those whose chain of Q/DQ
    starts at one of them, or whose chain ends only in them; each mapped to the member of
    `nodes` it belongs with (the one it starts at, else its first reader)."""
    index = GraphIndex(model)

    def upstream(node: onnx.NodeProto) -> onnx.NodeProto | None:
        while node is not None and node.op_type in QDQ_OPS:
            node = index.producer.get(node.input[0])
        return node

    def downstream(node: onnx.NodeProto) -> list[onnx.NodeProto]:
        readers = index.consumers.get(node.output[0], [])
        if node.output[0] in index.graph_outputs:
            return [node]  # read outside the graph: not only by `nodes`
        found = []
        for reader in readers:
            qdq = reader.op_type in QDQ_OPS
            found += downstream(reader) if qdq else [reader]
        return found

    beside = {}
    for node in model.graph.node:
        if node.op_type not in QDQ_OPS:
            continue
        source = upstream(node)
        readers = downstream(node)
        if source is not None and source.name in nodes:
            beside[node.name] = source.name
        elif readers and all(reader.name in nodes for reader in readers):
            beside[node.name] = readers[0].name
    return beside


def strip_qdq(model: onnx.ModelProto) -> onnx.ModelProto:
    """The float graph a QDQ model simulates: each DequantizeLinear of a constant becomes the
    dequantized float constant, each activation QuantizeLinear -> DequantizeLinear pair is
    bypassed. Pure; numerically this is the fake-quantized model minus activation rounding."""
    model = clone(model)
    index = GraphIndex(model)
    graph = model.graph
    folded: list[onnx.TensorProto] = []
    renames: dict[str, str] = {}
    kept = []
    for node in graph.node:
        weight = _constant_dequantized(index, node)
        if weight is not None:
            folded.append(numpy_helper.from_array(weight, node.output[0]))
            continue
        kept.append(node)
        source = index.producer.get(node.input[0]) if node.op_type == DEQUANTIZE else None
        pair = source is not None and source.op_type == QUANTIZE
        if pair and node.output[0] not in index.graph_outputs:
            renames[node.output[0]] = source.input[0]
    set_nodes(model, kept)
    graph.initializer.extend(folded)
    rename_inputs(graph, renames)
    return prune(model)


def _constant_dequantized(index: GraphIndex, node: onnx.NodeProto) -> np.ndarray | None:
    """(x - zero_point) * scale for a DequantizeLinear of constants, else None."""
    if node.op_type != DEQUANTIZE or attribute(node, "block_size", 0):
        return None
    values = [index.constant(name) if name else None for name in node.input]
    x, scale = values[0], values[1]
    if x is None or scale is None or node.output[0] in index.graph_outputs:
        return None
    zero_point = values[2] if len(values) > 2 and values[2] is not None else np.zeros((), x.dtype)
    if scale.ndim == 1 and scale.size > 1:  # per-channel along `axis`
        shape = [1] * x.ndim
        shape[attribute(node, "axis", 1) % x.ndim] = scale.size
        scale = scale.reshape(shape)
        zero_point = zero_point.reshape(shape) if zero_point.size == scale.size else zero_point
    dequantized = (x.astype(np.float32) - zero_point.astype(np.float32)) * scale
    return dequantized.astype(scale.dtype)


def absorb_clamps(
    model: onnx.ModelProto, keep: Collection[str] = ()
) -> tuple[onnx.ModelProto, int]:
    """Drop each Relu or Clip sandwiched as Q1 -> DQ1 -> clamp -> Q2 whose bounds lie at or
    beyond Q2's own range: Q2 then clamps exactly as the node did, so Q2 reads Q1's input
    directly (one rounding instead of two). Nodes named in `keep` stay. Returns the model and
    how many clamps went.

    Why: ORT fuses this at load time only when the clamp's output has a single reader. Before an
    SE block it has two (the pool and the Mul), so ORT ran a full-map DequantizeLinear and
    QuantizeLinear per block; ORT's own QDQKeepRemovableActivations=False removes these but
    also the Relus inside the SE blocks, which the SE finder needs.
    """
    model = clone(model)
    index = GraphIndex(model)
    absorbed = 0
    for node in model.graph.node:
        q1 = _absorbable_source(index, node) if node.name not in keep else None
        if q1 is None:
            continue
        index.consumers[node.output[0]][0].input[0] = q1.input[0]
        absorbed += 1
    return (prune(model) if absorbed else model), absorbed


def _absorbable_source(index: GraphIndex, clamp: onnx.NodeProto) -> onnx.NodeProto | None:
    """Q1 of a Q1 -> DQ1 -> clamp -> Q2 chain that `absorb_clamps` may shorten, else None."""
    bounds = _clamp_bounds(index, clamp)
    if bounds is None or clamp.output[0] in index.graph_outputs:
        return None
    dq1 = index.producer.get(clamp.input[0])
    q1 = index.producer.get(dq1.input[0]) if dq1 is not None else None
    readers = index.consumers.get(clamp.output[0], [])
    if dq1 is None or dq1.op_type != DEQUANTIZE or q1 is None or q1.op_type != QUANTIZE:
        return None
    if len(readers) != 1 or readers[0].op_type != QUANTIZE:
        return None
    if len(index.consumers.get(dq1.output[0], [])) != 1 or dq1.output[0] in index.graph_outputs:
        return None
    return q1 if _quantize_clamps_within(index, readers[0], *bounds) else None


def _clamp_bounds(index: GraphIndex, node: onnx.NodeProto) -> tuple[float, float] | None:
    """(low, high) of a Relu or of a Clip with constant bounds (opset 11+ inputs), else None."""
    if node.op_type == "Relu":
        return 0.0, np.inf
    if node.op_type != "Clip" or len(node.attribute):
        return None
    bounds = [-np.inf, np.inf]
    for position in (1, 2):
        if len(node.input) > position and node.input[position]:
            value = index.constant(node.input[position])
            if value is None or value.size != 1:
                return None
            bounds[position - 1] = float(value.reshape(-1)[0])
    return bounds[0], bounds[1]


def _quantize_clamps_within(index: GraphIndex, q: onnx.NodeProto, low: float, high: float) -> bool:
    """Whether a per-tensor QuantizeLinear maps every value <= low to its type's minimum code and
    every value >= high to its maximum, i.e. clamps at least as tightly as [low, high]."""
    scale = index.constant(q.input[1])
    zero_point = index.constant(q.input[2]) if len(q.input) > 2 and q.input[2] else None
    if scale is None or zero_point is None or scale.size != 1 or zero_point.size != 1:
        return False
    step = float(scale.reshape(-1)[0])
    if zero_point.dtype.kind not in "iu" or not step > 0:
        return False
    codes, zero = np.iinfo(zero_point.dtype), int(zero_point.reshape(-1)[0])
    lowest, highest = np.round(low / step) + zero, np.round(high / step) + zero
    return bool(lowest <= codes.min and highest >= codes.max)
