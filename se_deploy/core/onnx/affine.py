"""Scalar-constant patterns of arithmetic hard-sigmoid and hard-swish: the export passes fuse them
into one op, and the loose SE walk reads an arithmetic gate through them."""

from __future__ import annotations

import math
from dataclasses import dataclass

import onnx

from se_deploy.core.onnx.graph import GraphIndex, attribute


def scalar(index: GraphIndex, name: str) -> float | None:
    """The value of a one-element constant tensor, else None."""
    value = index.constant(name) if name else None
    return float(value.reshape(-1)[0]) if value is not None and value.size == 1 else None


def keeps_shape(index: GraphIndex, x: str, output: str) -> bool:
    """Whether a chain from `x` to `output` gives x's shape, so a unary op on x may replace it.
    `scalar` accepts a one-element constant of any rank, and a (1, 1, 1, 1) constant added to a
    rank-2 tensor broadcasts it to rank 4: such a chain is no elementwise function of x. Needs
    an index built with shapes; a shape inference left unknown does not block the fusion."""
    x_shape, out_shape = index.shapes.get(x), index.shapes.get(output)
    if x_shape is None or out_shape is None:
        return True
    if len(x_shape) != len(out_shape):
        return False
    return all(
        a == b or not (isinstance(a, int) and isinstance(b, int))
        for a, b in zip(x_shape, out_shape, strict=True)
    )


def split_scalar(index: GraphIndex, node: onnx.NodeProto) -> tuple[str, float] | None:
    """(computed operand, scalar) of a binary node whose other operand is a scalar constant."""
    first, second = node.input
    for tensor, constant in ((first, second), (second, first)):
        value = scalar(index, constant)
        if value is not None and index.constant(tensor) is None:
            return tensor, value
    return None


def scaling(index: GraphIndex, node: onnx.NodeProto) -> tuple[str, float] | None:
    """`a / k` or `a * m` by a scalar constant, as (a, factor)."""
    if node.op_type == "Div":
        divisor = scalar(index, node.input[1])
        return (node.input[0], 1.0 / divisor) if divisor else None
    if node.op_type == "Mul":
        return split_scalar(index, node)
    return None


def clip_bounds(index: GraphIndex, clip: onnx.NodeProto) -> tuple[float, float] | None:
    """(min, max) of a Clip, from inputs (opset >= 11) or attributes; None if not constant."""
    if len(clip.input) == 1:
        return attribute(clip, "min", -math.inf), attribute(clip, "max", math.inf)
    bounds = []
    for position, unbounded in ((1, -math.inf), (2, math.inf)):
        name = clip.input[position] if len(clip.input) > position else ""
        value = scalar(index, name) if name else unbounded
        if value is None:
            return None
        bounds.append(value)
    return bounds[0], bounds[1]


@dataclass(frozen=True)
class ShiftedClip:
    """clip(x + shift, 0, upper): ReLU6(x + 3), the core of arithmetic hard-sigmoid/hard-swish."""

    x: str
    shift: float
    upper: float


def shifted_clip(index: GraphIndex, name: str) -> ShiftedClip | None:
    """Match `name` as the output of Clip(Add(x, shift), 0, upper) with finite `upper`."""
    clip = index.producer.get(name)
    if clip is None or clip.op_type != "Clip":
        return None
    bounds = clip_bounds(index, clip)
    if bounds is None or bounds[0] != 0.0 or not math.isfinite(bounds[1]):
        return None
    add = index.producer.get(clip.input[0])
    operand = split_scalar(index, add) if add is not None and add.op_type == "Add" else None
    return ShiftedClip(operand[0], operand[1], bounds[1]) if operand else None


def close(value: float, target: float) -> bool:
    """Equal up to float32 rounding of constants such as 1/6."""
    return math.isclose(value, target, rel_tol=1e-5, abs_tol=1e-7)


def hard_sigmoid_of(index: GraphIndex, node: onnx.NodeProto) -> tuple[str, float, float] | None:
    """(x, alpha, beta) when `node` ends a hard-sigmoid written as arithmetic (what
    `F.relu6(x + 3) / 6` and hand-written variants export to):
    - clip(x + b, 0, M) / M, or * (1/M)   ->  alpha = 1/M, beta = b/M
    - clip(a * x + b, 0, 1), a*x also as x / k or plain x  ->  alpha = a, beta = b"""
    return _scaled_clip(index, node) or _clipped_affine(index, node)


def _scaled_clip(index: GraphIndex, node: onnx.NodeProto) -> tuple[str, float, float] | None:
    """clip(x + b, 0, M) * factor with factor == 1/M."""
    scaled = scaling(index, node)
    core = shifted_clip(index, scaled[0]) if scaled else None
    if core is None or not close(core.upper * scaled[1], 1.0):
        return None
    return core.x, scaled[1], core.shift * scaled[1]


def _clipped_affine(index: GraphIndex, node: onnx.NodeProto) -> tuple[str, float, float] | None:
    """clip(alpha * x + beta, 0, 1)."""
    if node.op_type != "Clip" or clip_bounds(index, node) != (0.0, 1.0):
        return None
    add = index.producer.get(node.input[0])
    shifted = split_scalar(index, add) if add is not None and add.op_type == "Add" else None
    if shifted is None:
        return None
    inner = index.producer.get(shifted[0])
    scaled = scaling(index, inner) if inner is not None else None
    x, alpha = scaled if scaled else (shifted[0], 1.0)
    return x, alpha, shifted[1]
