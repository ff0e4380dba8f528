"""INT8 SE gates on ONNX Runtime CPU: the QLinearMul becomes a depthwise 1x1 QLinearConv whose
int8 weights are all 1 and whose per-channel weight scale is the dequantized gate.

ORT fuses a QDQ SE block's Mul into com.microsoft QLinearMul (MlasQLinearMul dequantizes,
multiplies and requantizes each element: 0.5-1 ns per element on the CI CPU, 16.6% of
se_mobilenet INT8's run). ORT's QLinearConv (core/providers/cpu/quantization/qlinearconv.cc)
reads its scales on every run (ComputeOutputScale) and packs a constant int8 filter with zero
zero points at load for MLAS's symmetric depthwise kernel, requantization fused. With unit
weights and the gate as the weight scale it computes (x_q - x_zp) * 1 * x_s * g[c] / y_s + y_zp,
QLinearMul's arithmetic, in one pass of that kernel. A computed filter or bias would leave the
fast path (measured: 2.3x slower depthwise convs), a computed scale does not.

Only in the NHWC graphs ORT's NHWC transformer writes (channels_last QLinearConv), where the
gate is (1, 1, 1, C): an NCHW QLinearConv transposes around its kernel, while an NCHW
QLinearMul already runs long per-channel spans. Hand-written on onnx protos: no maintained tool
rewrites ORT's com.microsoft QLinear ops.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

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
from se_deploy.core.onnx.se_pattern import SEBlock
from se_deploy.core.onnx.se_roles import INT8_GATE_PREFIX
from se_deploy.stages.compile.nchwc_se import (
    BlockPlacement,
    GateForm,
    reader_summary,
    static_batch,
)

MS_DOMAIN = "com.microsoft"
# Elementwise one-input ops (so the layout passes through them) between the gate activation and
# the QLinearMul, or between a channels_last op and either operand: the walk looks through them.
_PASS_THROUGH = frozenset(
    {
        "QuantizeLinear",
        "DequantizeLinear",
        "Identity",
        "Relu",
        "Clip",
        "Sigmoid",
        "HardSigmoid",
        "HardSwish",
        "QLinearSigmoid",
        "QLinearLeakyRelu",
    }
)
_WALK = 4


def place_int8_gates(
    optimized: onnx.ModelProto, blocks: Iterable[SEBlock]
) -> tuple[onnx.ModelProto, dict[str, BlockPlacement]]:
    """Rewrite the QLinearMul of every block whose gate runs channels_last; the placements of
    the blocks ORT ran as a QLinearMul (rewritten, or kept with the reason), by block name (ORT
    keeps the source's node names when it fuses). A static batch of 1 only: one gate per image
    is no per-channel weight scale of a batch."""
    batch_one = static_batch(optimized) == 1
    model = working_copy(optimized)
    index = GraphIndex(model)
    names = NameAllocator(model.graph)
    by_name = {node.name: node for node in model.graph.node}
    replacements: dict[str, list[onnx.NodeProto]] = {}
    placed: dict[str, BlockPlacement] = {}
    for block in blocks:
        mul = by_name.get(block.nodes[-1])
        if mul is None or mul.op_type != "QLinearMul" or mul.domain != MS_DOMAIN:
            continue
        consumer = reader_summary(node.op_type for node in index.consumers.get(mul.output[0], []))
        gate_at = _gate_operand(index, mul, block.nodes[-3 if block.expanded else -2])
        why = _kept_because(index, mul, gate_at, batch_one)
        if why:
            placed[block.name] = BlockPlacement(block.name, GateForm.KEPT, consumer, why)
            continue
        replacements[mul.name] = _unit_conv(model, names, mul, gate_at, block.channels)
        placed[block.name] = BlockPlacement(block.name, GateForm.INT8_SCALE, consumer)
    return prune(replace_roots(model, replacements)), placed


def _kept_because(
    index: GraphIndex, mul: onnx.NodeProto, gate_at: int | None, batch_one: bool
) -> str:
    """Why an INT8 gate stays a QLinearMul, or "" when it can be rewritten."""
    if not batch_one:
        return "INT8 QLinearMul kept: one gate per image is a weight scale only at batch 1"
    if gate_at is None:
        return "INT8 QLinearMul kept: no operand traced back to the block's gate"
    if not all(_channels_last(index, mul.input[i]) for i in (0, 3)):
        return "INT8 QLinearMul kept: its map or gate is NCHW (ORT's NHWC pass left it out)"
    return ""


def _gate_operand(index: GraphIndex, mul: onnx.NodeProto, gate_node: str) -> int | None:
    """0 or 3: the QLinearMul operand that comes from the block's gate activation."""
    for position in (0, 3):
        if any(node.name == gate_node for node in _back_through(index, mul.input[position])):
            return position
    return None


def _channels_last(index: GraphIndex, tensor: str) -> bool:
    """Whether the nearest layout-aware producer (a com.microsoft QLinear op with a
    channels_last attribute) writes `tensor` in NHWC."""
    for node in _back_through(index, tensor):
        if node.domain == MS_DOMAIN and any(a.name == "channels_last" for a in node.attribute):
            return attribute(node, "channels_last", 0) == 1
    return False


def _back_through(index: GraphIndex, tensor: str) -> Iterator[onnx.NodeProto]:
    """The producers of `tensor`, walking up through layout-keeping one-input ops (at most
    _WALK), the first other op included."""
    node = index.producer.get(tensor)
    for _ in range(_WALK):
        if node is None:
            return
        yield node
        if node.op_type not in _PASS_THROUGH:
            return
        node = index.producer.get(node.input[0])


def _unit_conv(
    model: onnx.ModelProto,
    names: NameAllocator,
    mul: onnx.NodeProto,
    gate_at: int,
    channels: int,
) -> list[onnx.NodeProto]:
    """DequantizeLinear(gate) -> (C,) weight scale of a depthwise 1x1 QLinearConv over x."""
    x_at = 3 - gate_at
    x, x_scale, x_zero = mul.input[x_at : x_at + 3]
    gate, gate_scale, gate_zero = mul.input[gate_at : gate_at + 3]
    y_scale, y_zero = mul.input[6], mul.input[7]

    def constant(base: str, value: np.ndarray) -> str:
        return add_initializer(model.graph, names, f"{mul.name}/{base}", value)

    gate_float, scales = names(f"{mul.name}/gate_float"), names(f"{mul.name}/gate_scales")
    unit = constant("unit_weights", np.ones((channels, 1, 1, 1), np.int8))
    zero = constant("zero", np.array(0, np.int8))
    return [
        helper.make_node(
            "DequantizeLinear",
            [gate, gate_scale, gate_zero],
            [gate_float],
            name=names(f"{INT8_GATE_PREFIX}DequantizeLinear"),
        ),
        helper.make_node(
            "Reshape",
            [gate_float, constant("channels", np.array([channels], np.int64))],
            [scales],
            name=names(f"{INT8_GATE_PREFIX}Reshape"),
        ),
        helper.make_node(
            "QLinearConv",
            [x, x_scale, x_zero, unit, scales, zero, y_scale, y_zero],
            list(mul.output),
            name=names(f"{INT8_GATE_PREFIX}QLinearConv"),
            domain=MS_DOMAIN,
            group=channels,
            kernel_shape=[1, 1],
            strides=[1, 1],
            pads=[0, 0, 0, 0],
            dilations=[1, 1],
            channels_last=1,
        ),
    ]
