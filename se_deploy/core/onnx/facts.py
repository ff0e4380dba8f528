"""Figures read off an ONNX graph without torch: MACs, parameters and numeric precision.

The runtime container benchmarks bare ONNX files, so the FLOPs/params ratios of a pair must come
from the graph itself. What is counted (the papers' convention, as se_deploy.models.stats):
- a MAC is one multiply-add of a contraction: Conv, ConvTranspose, Gemm, MatMul and their
  quantized forms (QLinearConv, ConvInteger, QLinearMatMul, MatMulInteger; in a QDQ graph the
  float Conv/MatMul reading DequantizeLinear outputs, counted once). Bias adds, activations,
  pooling, elementwise and other domains' ops (ORT's FusedConv, NCHWc Conv) are not counted;
- params are the elements of the initializers that feed those ops, directly or through
  DequantizeLinear / Identity / Cast / Reshape / Transpose (so a QDQ graph counts its quantized
  weights, not scales or zero points), each shared initializer once.
Counts are at batch 1: a symbolic first input dim is set to 1; other symbolic dims stay unknown
unless `shapes` gives them, and then MACs are None and the nodes are named in `unknown`, rather
than a guess.

Why hand-written: onnx-tool (the independent counter the tests compare against) adds bias adds
to a conv's MACs, counts ConvTranspose by output volume (not what is computed) and every
initializer as a parameter, and fvcore/thop need torch, which the runtime image lacks. The rules
above are a few lines per op on ONNX's own shape inference.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from math import prod
from typing import Any

import onnx

from se_deploy.core.onnx.graph import GraphIndex, attribute

_QUANTIZED_OPS = {
    "QuantizeLinear",
    "DequantizeLinear",
    "QLinearConv",
    "QLinearMatMul",
    "ConvInteger",
    "MatMulInteger",
}
# The positions of (A or X, B or W, bias) among a contraction's inputs.
_OPERANDS = {
    "Conv": (0, 1, 2),
    "ConvTranspose": (0, 1, 2),
    "ConvInteger": (0, 1, None),
    "QLinearConv": (0, 3, 8),
    "Gemm": (0, 1, 2),
    "MatMul": (0, 1, None),
    "MatMulInteger": (0, 1, None),
    "QLinearMatMul": (0, 3, None),
}
CONTRACTIONS = frozenset(_OPERANDS)
_STANDARD_DOMAINS = ("", "ai.onnx")
# Ops a weight may pass through between its initializer and the contraction.
_WEIGHT_PATH = {"DequantizeLinear", "Identity", "Cast", "Reshape", "Transpose", "Unsqueeze"}


@dataclass(frozen=True)
class GraphFacts:
    macs: int | None  # None when a contraction's shapes are unknown (see `unknown`)
    params: int
    precision: str  # fp32 | fp16 | int8
    unknown: tuple[str, ...] = field(default=())  # contractions whose shapes were not inferred
    macs_by_op: dict[str, int] = field(default_factory=dict)


def graph_facts(model: Any, shapes: Mapping[str, tuple[int, ...]] | None = None) -> GraphFacts:
    """MACs and parameters at batch 1 (inputs pinned by `shapes`), and the precision."""
    known = static_shapes(model, shapes or {})
    index = GraphIndex(model)
    by_op: dict[str, int] = {}
    unknown: list[str] = []
    weights: dict[str, int] = {}
    for node in model.graph.node:
        if node.op_type not in CONTRACTIONS or node.domain not in _STANDARD_DOMAINS:
            continue  # a contrib op (ORT's NCHWc Conv) keeps neither ONNX's layout nor shapes
        macs = node_macs(node, known)
        if macs is None:
            unknown.append(node.name or node.output[0])
        else:
            by_op[node.op_type] = by_op.get(node.op_type, 0) + macs
        for name in _parameter_inputs(node):
            source = _initializer_behind(index, name)
            if source is not None:
                weights[source.name] = prod(source.dims)
    macs_total = None if unknown else sum(by_op.values())
    return GraphFacts(
        macs_total, sum(weights.values()), detect_precision(model), tuple(unknown), by_op
    )


def detect_precision(model: Any) -> str:
    """'int8' for quantized graphs (QDQ or QOperator), 'fp16' for half-precision weights."""
    if any(node.op_type in _QUANTIZED_OPS for node in model.graph.node):
        return "int8"
    if any(t.data_type == onnx.TensorProto.FLOAT16 for t in model.graph.initializer):
        return "fp16"
    return "fp32"


def node_macs(node: onnx.NodeProto, shapes: Mapping[str, tuple[int, ...]]) -> int | None:
    """One contraction's multiply-adds, or None when a shape it needs is unknown."""
    a_at, w_at, _ = _OPERANDS[node.op_type]
    a, w = shapes.get(node.input[a_at]), shapes.get(node.input[w_at])
    out = shapes.get(node.output[0])
    if node.op_type in {"Conv", "ConvInteger", "QLinearConv"}:
        # each output element sums (in_channels / groups) * kernel elements products
        return None if out is None or w is None else prod(out) * prod(w[1:])
    if node.op_type == "ConvTranspose":
        # each input element is scattered onto (out_channels / groups) * kernel outputs
        return None if a is None or w is None else prod(a) * prod(w[1:])
    if a is None or out is None or not a:
        return None
    if node.op_type == "Gemm":
        return prod(out) * (a[0] if attribute(node, "transA", 0) else a[1])
    return prod(out) * a[-1]  # MatMul forms: every output element sums over A's last axis


def _parameter_inputs(node: onnx.NodeProto) -> list[str]:
    positions = _OPERANDS[node.op_type]
    return [
        node.input[i] for i in positions if i is not None and i < len(node.input) and node.input[i]
    ]


def _initializer_behind(index: GraphIndex, name: str) -> onnx.TensorProto | None:
    """The initializer (or Constant value) a weight input is computed from, else None."""
    while True:
        if name in index.initializers:
            return index.initializers[name]
        producer = index.producer.get(name)
        if producer is None:
            return None
        if producer.op_type == "Constant":
            value = attribute(producer, "value")
            return value if isinstance(value, onnx.TensorProto) else None
        if producer.op_type not in _WEIGHT_PATH:
            return None
        name = producer.input[0]


def static_shapes(model: Any, pinned: Mapping[str, tuple[int, ...]]) -> dict[str, tuple[int, ...]]:
    """Every tensor's fully known shape after shape inference, with the inputs in `pinned` set
    and every other input's symbolic first (batch) dim set to 1."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    initializers = {init.name for init in model.graph.initializer}
    for value in model.graph.input:
        if value.name in initializers:
            continue
        dims = value.type.tensor_type.shape.dim
        given = pinned.get(value.name)
        if given is not None and len(given) == len(dims):
            for dim, size in zip(dims, given, strict=True):
                dim.Clear()
                dim.dim_value = size
        elif dims and not dims[0].HasField("dim_value"):
            dims[0].Clear()
            dims[0].dim_value = 1
    inferred = _infer(model)
    shapes = {t.name: tuple(t.dims) for t in inferred.graph.initializer}
    for node in inferred.graph.node:
        if node.op_type == "Constant":
            value = attribute(node, "value")
            if isinstance(value, onnx.TensorProto):
                shapes[node.output[0]] = tuple(value.dims)
    for value in (*inferred.graph.input, *inferred.graph.value_info, *inferred.graph.output):
        tensor_type = value.type.tensor_type
        if not tensor_type.HasField("shape"):
            continue
        dims = tensor_type.shape.dim
        if all(d.HasField("dim_value") for d in dims):
            shapes[value.name] = tuple(d.dim_value for d in dims)
    return shapes


def _infer(model: onnx.ModelProto) -> onnx.ModelProto:
    """Shapes for every tensor: ONNX Runtime's symbolic shape inference where it is installed
    with sympy (it folds the Shape -> Div -> Slice arithmetic of channel splits, which onnx's
    data propagation leaves unknown), else onnx's own inference with data propagation; a graph
    both reject keeps only its declared shapes (its MACs then say unknown)."""
    try:
        from onnxruntime.tools.symbolic_shape_infer import SymbolicShapeInference
    except ImportError:  # an ORT-free install, or ORT without sympy
        SymbolicShapeInference = None
    if SymbolicShapeInference is not None:
        try:
            # its infer_shapes() writes sym_shape_infer_temp.onnx into the working directory
            # when a shape stays unknown; these are the steps it runs, without that write
            inference = SymbolicShapeInference(2**31 - 1, True, False, 0)
            inference._preprocess(model)
            while inference.run_:
                inference._infer_impl()
            inference._update_output_from_vi()
            return inference.out_mp_
        except Exception:  # best effort (private steps, many exception types): onnx's below
            pass
    for data_prop in (True, False):
        try:
            return onnx.shape_inference.infer_shapes(model, data_prop=data_prop)
        except (onnx.shape_inference.InferenceError, RuntimeError, ValueError):
            continue
    return model
