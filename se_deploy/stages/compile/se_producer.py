"""Squeeze an SE block before the linear 1x1 conv that writes its map; let the gate scale that
conv's weights.

Where the SE input is x = W y + b, a 1x1 conv (stride 1, no padding, constant weights, grouped or
not) with no activation after it (SE-ResNet's conv3 + BN, ShuffleNet v1's grouped expand conv),
the mean is linear: mean(x) = W mean(y) + b. So

- the squeeze pools y instead of x (the conv's C_in channels: a quarter of C in a bottleneck)
  and the first FC absorbs the conv at build time, W1' = W1 W, b1' = W1 b + b1 (no extra node);
- the gate now depends on y alone, so x * g = (W * g) y + b * g: the conv writes the scaled map
  itself and the multiply pass over C*H*W goes, for C*C_in/group products on the weights per
  run. ORT's CPU Conv reads a computed weight on every run (only constant initializers are
  prepacked), but its NCHWc transformer takes constant filters only, so the weight form is used
  where ORT runs that conv in NCHW anyway (grouped 1x1 convs); elsewhere only the squeeze moves
  and the gate is placed in NCHWc as before (stages.compile.nchwc_se).

The sums are reassociated (like the depthwise-weights form): outputs match within ~1e-6 of their
range, checked by the build. One gate per image makes the weight form batch-1 only; moving the
squeeze holds for any batch. Hand-written on onnx protos for the reason nchwc_se gives.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

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
from se_deploy.core.onnx.se_roles import GATED_CONV_SUFFIX, PRODUCER_GATE_PREFIX
from se_deploy.stages.compile.nchwc_se import NCHWC_DOMAIN


@dataclass(frozen=True)
class LinearProducer:
    """An SE block whose map x is written by a linear 1x1 conv, with what the rewrite needs."""

    block: SEBlock
    conv: str  # the producing conv's node name
    source: str  # y, the conv's input: what the squeeze pools after the move
    scalable: bool  # x feeds only the squeeze and the gate Mul, the gate is (N, C, 1, 1)


def linear_producers(model: onnx.ModelProto, blocks: Iterable[SEBlock]) -> list[LinearProducer]:
    """The blocks whose squeeze can move before the conv that writes their map."""
    index = GraphIndex(model)
    nodes = {node.name: node for node in model.graph.node}
    found = []
    for block in blocks:
        conv = index.producer.get(block.input)
        pool, fc1 = nodes.get(block.nodes[0]), nodes.get(block.nodes[1])
        if conv is None or pool is None or fc1 is None or block.input in index.graph_outputs:
            continue
        if not (
            _is_linear_pointwise(index, conv)
            and pool.op_type == "GlobalAveragePool"
            and fc1.op_type == "Conv"
            and fc1.input[0] == pool.output[0]
            and _constant_fc(index, fc1)
        ):
            continue
        readers = {node.name for node in index.consumers.get(block.input, [])}
        scalable = readers == {block.nodes[0], block.nodes[-1]} and not block.expanded
        found.append(LinearProducer(block, conv.name, conv.input[0], scalable))
    return found


def _is_linear_pointwise(index: GraphIndex, conv: onnx.NodeProto) -> bool:
    """A float32 Conv 1x1, stride 1, no padding, constant weight and bias."""
    weights = index.conv_weights(conv) if conv.op_type == "Conv" and not conv.domain else None
    return (
        weights is not None
        and weights[0].dtype == np.float32
        and weights[0].ndim == 4
        and weights[0].shape[2:] == (1, 1)
        and set(attribute(conv, "strides", [1, 1])) == {1}
        and set(attribute(conv, "pads", [0, 0, 0, 0])) == {0}
        and attribute(conv, "auto_pad", "NOTSET") in ("NOTSET", "VALID")
    )


def _constant_fc(index: GraphIndex, fc: onnx.NodeProto) -> bool:
    weights = index.conv_weights(fc)
    return weights is not None and weights[0].ndim == 4 and attribute(fc, "group", 1) == 1


def move_squeezes(
    model: onnx.ModelProto, producers: Iterable[LinearProducer], scaled: set[str]
) -> onnx.ModelProto:
    """Every producer's squeeze pools y through a first FC that absorbs the conv; the blocks
    named in `scaled` (each `scalable`) also apply their gate as the conv's weights."""
    model = working_copy(model)
    index = GraphIndex(model)
    nodes = {node.name: node for node in model.graph.node}
    names = NameAllocator(model.graph)
    replacements: dict[str, list[onnx.NodeProto]] = {}
    for producer in producers:
        conv, block = nodes[producer.conv], producer.block
        weight, bias = index.conv_weights(conv)
        _absorb_into_fc1(model, index, names, nodes[block.nodes[1]], weight, bias, conv)
        nodes[block.nodes[0]].input[0] = producer.source
        if block.name in scaled:
            replacements[block.nodes[-1]] = _scaled_conv(model, names, conv, block, weight, bias)
            replacements[conv.name] = []
    return prune(replace_roots(model, replacements))


def _dense(weight: np.ndarray, groups: int) -> np.ndarray:
    """A grouped 1x1 conv's (C, C_in/g, 1, 1) weight as the block-diagonal (C, C_in) matrix."""
    out, per_group = weight.shape[0], weight.shape[1]
    dense = np.zeros((out, per_group * groups), np.float64)
    rows = out // groups
    for g in range(groups):
        block = weight[g * rows : (g + 1) * rows, :, 0, 0]
        dense[g * rows : (g + 1) * rows, g * per_group : (g + 1) * per_group] = block
    return dense


def _absorb_into_fc1(
    model: onnx.ModelProto,
    index: GraphIndex,
    names: NameAllocator,
    fc1: onnx.NodeProto,
    weight: np.ndarray,
    bias: np.ndarray,
    conv: onnx.NodeProto,
) -> None:
    """W1' = W1 W, b1' = W1 b + b1, composed in float64 then stored as float32."""
    fc1_weight, fc1_bias = index.conv_weights(fc1)
    w1, b1 = fc1_weight.astype(np.float64)[:, :, 0, 0], fc1_bias.astype(np.float64)
    composed = w1 @ _dense(weight, attribute(conv, "group", 1))
    new_weight = composed.astype(np.float32)[:, :, None, None]
    new_bias = (w1 @ bias.astype(np.float64) + b1).astype(np.float32)
    del fc1.input[1:]
    fc1.input.append(add_initializer(model.graph, names, f"{fc1.name}/w_through_conv", new_weight))
    fc1.input.append(add_initializer(model.graph, names, f"{fc1.name}/b_through_conv", new_bias))


def _scaled_conv(
    model: onnx.ModelProto,
    names: NameAllocator,
    conv: onnx.NodeProto,
    block: SEBlock,
    weight: np.ndarray,
    bias: np.ndarray,
) -> list[onnx.NodeProto]:
    """(W * g) y + b * g written to the Mul's output, placed where the Mul was (after the gate)."""
    channels = weight.shape[0]

    def constant(base: str, value: np.ndarray) -> str:
        return add_initializer(model.graph, names, f"{conv.name}/{base}", value)

    def node(op: str, inputs: list[str], **attrs) -> onnx.NodeProto:
        output = names(f"{conv.name}/{op.lower()}")
        return helper.make_node(
            op, inputs, [output], name=names(f"{PRODUCER_GATE_PREFIX}{op}"), **attrs
        )

    gate_w = node(
        "Reshape", [block.scale, constant("gate_w", np.array([channels, 1, 1, 1], np.int64))]
    )
    gate_b = node("Reshape", [block.scale, constant("gate_b", np.array([channels], np.int64))])
    w = node("Mul", [constant("weight", weight), gate_w.output[0]])
    b = node("Mul", [constant("bias", bias), gate_b.output[0]])
    scaled = onnx.NodeProto()
    scaled.CopyFrom(conv)
    scaled.name = names(f"{conv.name}{GATED_CONV_SUFFIX}")
    del scaled.input[:], scaled.output[:]
    scaled.input.extend([conv.input[0], w.output[0], b.output[0]])
    scaled.output.append(block.output)
    return [gate_w, gate_b, w, b, scaled]


def nchw_maps(optimized: onnx.ModelProto) -> set[str]:
    """Tensors an ORT-optimized graph computes with an NCHW (not NCHWc) node: a conv writing
    one of them stays NCHW however its weights are given."""
    return {
        name for node in optimized.graph.node if node.domain != NCHWC_DOMAIN for name in node.output
    }


def scaled_blocks(
    producers: Iterable[LinearProducer], nchw: set[str], batch: int | None
) -> set[str]:
    """The blocks that take the weight form: scalable, batch 1, conv NCHW in ORT's graph."""
    if batch != 1:
        return set()
    return {p.block.name for p in producers if p.scalable and p.block.input in nchw}
