"""Figures read off an ONNX graph without torch: MACs, parameters and numeric precision.

The runtime container benchmarks bare ONNX files, so the FLOPs/params ratios of a pair must come
from the graph itself. Counting follows se_deploy.models.stats (the papers' convention):
multiply-adds of Conv and Gemm/MatMul only, at batch 1; parameters are the elements of their
weight and bias inputs. Shapes come from ONNX shape inference with the batch fixed to 1, so a QDQ
graph (weights behind DequantizeLinear) counts the same as its float source.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import Any

from se_deploy.core.errors import SeDeployError

_QUANTIZED_OPS = {
    "QuantizeLinear",
    "DequantizeLinear",
    "QLinearConv",
    "QLinearMatMul",
    "ConvInteger",
    "MatMulInteger",
}
_QLINEAR_WEIGHT = {"QLinearConv": 3, "QLinearMatMul": 3}
_CONTRACTIONS = {
    "Conv",
    "QLinearConv",
    "ConvInteger",
    "Gemm",
    "MatMul",
    "QLinearMatMul",
    "MatMulInteger",
}


@dataclass(frozen=True)
class GraphFacts:
    macs: int
    params: int
    precision: str  # fp32 | fp16 | int8


def graph_facts(model: Any) -> GraphFacts:
    """MACs and parameters at batch 1, and the precision the graph computes in."""
    shapes = _static_shapes(model)
    macs = params = 0
    for node in model.graph.node:
        if node.op_type not in _CONTRACTIONS:
            continue
        weight = node.input[_QLINEAR_WEIGHT.get(node.op_type, 1)]
        out_shape, w_shape = shapes.get(node.output[0]), shapes.get(weight)
        if out_shape is None or w_shape is None:
            raise SeDeployError(
                f"cannot infer shapes around node '{node.name}' "
                f"({node.op_type}); the graph needs static shapes but batch"
            )
        macs += _node_macs(node, out_shape, w_shape)
        params += prod(w_shape) + _bias_elements(node, shapes)
    return GraphFacts(macs, params, detect_precision(model))


def detect_precision(model: Any) -> str:
    """'int8' for quantized graphs (QDQ or QOperator), 'fp16' for half-precision weights."""
    import onnx

    if any(node.op_type in _QUANTIZED_OPS for node in model.graph.node):
        return "int8"
    if any(t.data_type == onnx.TensorProto.FLOAT16 for t in model.graph.initializer):
        return "fp16"
    return "fp32"


def _node_macs(node: Any, out_shape: tuple[int, ...], w_shape: tuple[int, ...]) -> int:
    if node.op_type in {"Conv", "QLinearConv", "ConvInteger"}:
        # each output element sums (in_channels / groups) * kernel elements products
        return prod(out_shape[1:]) * prod(w_shape[1:])
    if node.op_type == "Gemm" and _attribute(node, "transB", 0):
        return prod(out_shape[1:]) * w_shape[1]
    return prod(out_shape[1:]) * w_shape[0]


def _bias_elements(node: Any, shapes: dict[str, tuple[int, ...]]) -> int:
    bias_index = {"Conv": 2, "Gemm": 2, "QLinearConv": 8}.get(node.op_type)
    if bias_index is None or len(node.input) <= bias_index or not node.input[bias_index]:
        return 0
    return prod(shapes.get(node.input[bias_index], (0,)))


def _attribute(node: Any, name: str, default: int) -> int:
    return next((a.i for a in node.attribute if a.name == name), default)


def _static_shapes(model: Any) -> dict[str, tuple[int, ...]]:
    """Every tensor's shape after shape inference with dynamic input dimensions set to 1."""
    import onnx

    model = onnx.ModelProto.FromString(model.SerializeToString())
    for value in model.graph.input:
        for dim in value.type.tensor_type.shape.dim:
            if not dim.HasField("dim_value"):
                dim.dim_value = 1
    inferred = onnx.shape_inference.infer_shapes(model)
    shapes = {t.name: tuple(t.dims) for t in inferred.graph.initializer}
    for value in (*inferred.graph.input, *inferred.graph.value_info, *inferred.graph.output):
        dims = value.type.tensor_type.shape.dim
        if all(d.HasField("dim_value") for d in dims):
            shapes[value.name] = tuple(d.dim_value for d in dims)
    return shapes
