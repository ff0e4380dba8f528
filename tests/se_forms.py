"""Hand-built ONNX graphs of SE blocks as other exporters write them (the forms of issue 13).

Each builder returns a small model: a conv feeding one SE block, a conv after it. They mirror
real files op for op (read off Paddle2ONNX's PP-OCR models, tf2onnx's Keras output and torch's
dynamo exporter) without needing any of those tools.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import onnx

from tests.export_graphs import GraphBuilder

C, R, H, W = 8, 2, 6, 10  # channels, reduced channels, a non-square map


def _stem(g: GraphBuilder, x: str) -> str:
    return g.op("Conv", [x, g.weight(C, 3, 3, 3), g.weight(C)], pads=[1, 1, 1, 1])


def _head(g: GraphBuilder, y: str) -> str:
    return g.op("Conv", [y, g.weight(4, C, 1, 1)])


def _nchw_model(g: GraphBuilder, body: Callable[[GraphBuilder, str], str]) -> onnx.ModelProto:
    x = _stem(g, "x")
    return g.model({"x": [1, 3, H, W]}, [_head(g, body(g, x))])


def _arithmetic_hard_sigmoid(g: GraphBuilder, t: str) -> str:
    """relu6(t + 3) / 6 as Paddle2ONNX and torch write F.hardsigmoid's arithmetic form."""
    shifted = g.op("Add", [t, g.const(3.0)])
    clipped = g.op("Clip", [shifted, g.const(0.0), g.const(6.0)])
    return g.op("Div", [clipped, g.const(6.0)])


def paddle2onnx(opset: int = 11) -> onnx.ModelProto:
    """PP-OCR / PP-LCNet: unfused BatchNormalization, FC convs with their bias as a separate
    Add of a Reshape'd Constant, HardSigmoid(alpha=0.2, beta=0.5), Mul(x, gate)."""
    g = GraphBuilder(opset=opset)

    def bias(channels: int) -> str:
        flat = g.constant_node(g.rng.normal(0, 0.5, channels).astype(np.float32))
        return g.op("Reshape", [flat, g.ints([1, channels, 1, 1])])

    x = g.op("Conv", ["x", g.weight(C, 3, 3, 3)], pads=[1, 1, 1, 1])
    bn = g.op(
        "BatchNormalization",
        [x, g.const(np.full(C, 1.5)), g.weight(C), g.weight(C), g.const(np.full(C, 0.7))],
    )
    act = g.op("Relu", [bn])
    pooled = g.op("GlobalAveragePool", [act])
    reduced = g.op("Add", [g.op("Conv", [pooled, g.weight(R, C, 1, 1)]), bias(R)])
    hidden = g.op("Relu", [reduced])
    expanded = g.op("Add", [g.op("Conv", [hidden, g.weight(C, R, 1, 1)]), bias(C)])
    gate = g.op("HardSigmoid", [expanded], alpha=0.2, beta=0.5)
    y = g.op("Mul", [act, gate])
    return g.model({"x": [1, 3, H, W]}, [_head(g, y)])


def tf2onnx_nhwc() -> onnx.ModelProto:
    """Keras via tf2onnx: NHWC between Transposes, ReduceMean over axes 1, 2 (keepdims), MatMul +
    Add FCs on (N, 1, 1, C), Swish (Sigmoid + Mul) between them, the gate broadcast over
    (N, 1, 1, C) and multiplied gate-first."""
    g = GraphBuilder(opset=13)
    x = g.op("Transpose", [_stem(g, "x")], perm=[0, 2, 3, 1])
    pooled = g.op("ReduceMean", [x], axes=[1, 2], keepdims=1)
    reduced = g.op("Add", [g.op("MatMul", [pooled, g.weight(C, R)]), g.weight(R)])
    hidden = g.op("Mul", [reduced, g.op("Sigmoid", [reduced])])
    expanded = g.op("Add", [g.op("MatMul", [hidden, g.weight(R, C)]), g.weight(C)])
    y = g.op("Mul", [g.op("Sigmoid", [expanded]), x])
    back = g.op("Transpose", [y], perm=[0, 3, 1, 2])
    return g.model({"x": [1, 3, H, W]}, [_head(g, back)])


def dynamo_style(opset: int = 18) -> onnx.ModelProto:
    """torch.onnx.export(dynamo=True) of a Linear-FC block: ReduceMean with axes as an input,
    Reshape to (N, C), Gemm(transB), SiLU as Sigmoid + Mul, Gemm, the hard-sigmoid gate as
    arithmetic, Reshape back, and Mul(gate, x) in the reversed operand order."""
    g = GraphBuilder(opset=opset)

    def body(g: GraphBuilder, x: str) -> str:
        pooled = g.op("ReduceMean", [x, g.ints([2, 3])], keepdims=0)
        flat = g.op("Reshape", [pooled, g.ints([1, C])])
        reduced = g.op("Gemm", [flat, g.weight(R, C), g.weight(R)], transB=1)
        hidden = g.op("Mul", [reduced, g.op("Sigmoid", [reduced])])
        expanded = g.op("Gemm", [hidden, g.weight(C, R), g.weight(C)], transB=1)
        gate = g.op("Reshape", [_arithmetic_hard_sigmoid(g, expanded), g.ints([1, C, 1, 1])])
        return g.op("Mul", [gate, x])

    return _nchw_model(g, body)


def efficientnet_silu() -> onnx.ModelProto:
    """EfficientNet: GlobalAveragePool, Conv, SiLU (Sigmoid + Mul), Conv, Sigmoid, Mul."""
    g = GraphBuilder(opset=17)

    def body(g: GraphBuilder, x: str) -> str:
        reduced = g.op("Conv", [g.op("GlobalAveragePool", [x]), g.weight(R, C, 1, 1), g.weight(R)])
        hidden = g.op("Mul", [g.op("Sigmoid", [reduced]), reduced])
        expanded = g.op("Conv", [hidden, g.weight(C, R, 1, 1), g.weight(C)])
        return g.op("Mul", [x, g.op("Sigmoid", [expanded])])

    return _nchw_model(g, body)


def hard_swish_middle() -> onnx.ModelProto:
    """HardSwish between the FCs (opset 14), a Clip/Add/Div gate, the gate through Expand."""
    g = GraphBuilder(opset=14)

    def body(g: GraphBuilder, x: str) -> str:
        reduced = g.op("Conv", [g.op("GlobalAveragePool", [x]), g.weight(R, C, 1, 1), g.weight(R)])
        hidden = g.op("HardSwish", [reduced])
        expanded = g.op("Conv", [hidden, g.weight(C, R, 1, 1), g.weight(C)])
        gate = g.op("Expand", [_arithmetic_hard_sigmoid(g, expanded), g.op("Shape", [x])])
        return g.op("Mul", [x, gate])

    return _nchw_model(g, body)


def relu6_middle() -> onnx.ModelProto:
    """Relu6 (Clip 0..6) between the FCs and a Tanh gate."""
    g = GraphBuilder(opset=13)

    def body(g: GraphBuilder, x: str) -> str:
        reduced = g.op("Conv", [g.op("GlobalMaxPool", [x]), g.weight(R, C, 1, 1), g.weight(R)])
        hidden = g.op("Clip", [reduced, g.const(0.0), g.const(6.0)])
        expanded = g.op("Conv", [hidden, g.weight(C, R, 1, 1), g.weight(C)])
        return g.op("Mul", [x, g.op("Tanh", [expanded])])

    return _nchw_model(g, body)


def misaligned_gate() -> onnx.ModelProto:
    """Not an SE block: the (N, C) 'gate' broadcasts against x's last axis, not its channels
    (x's W equals C, so the Mul's output shape alone cannot tell)."""
    g = GraphBuilder(opset=17)
    x = g.op("Conv", ["x", g.weight(C, 3, 3, 3), g.weight(C)], pads=[1, 1, 1, 1])
    pooled = g.op("Reshape", [g.op("GlobalAveragePool", [x]), g.ints([1, C])])
    reduced = g.op("Relu", [g.op("Gemm", [pooled, g.weight(R, C), g.weight(R)], transB=1)])
    expanded = g.op("Gemm", [reduced, g.weight(C, R), g.weight(C)], transB=1)
    y = g.op("Mul", [x, g.op("Sigmoid", [expanded])])  # (1, C, H, C): x's W must be C
    return g.model({"x": [1, 3, H, C]}, [y])


FORMS: dict[str, Callable[[], onnx.ModelProto]] = {
    "paddle2onnx": paddle2onnx,
    "tf2onnx_nhwc": tf2onnx_nhwc,
    "dynamo_style": dynamo_style,
    "efficientnet_silu": efficientnet_silu,
    "hard_swish_middle": hard_swish_middle,
    "relu6_middle": relu6_middle,
}


def feeds(model: onnx.ModelProto, seed: int = 0) -> dict[str, np.ndarray]:
    dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    return {"x": np.random.default_rng(seed).standard_normal(dims).astype(np.float32)}
