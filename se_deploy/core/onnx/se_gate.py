"""Expand every SE gate to the block's HxW with Resize(nearest) before its Mul: an exact form
that keeps the Mul inside ORT's NCHWc layout.

ORT's NCHWc transformer converts a Mul only when both inputs have the same shape; the canonical
Mul(x (N,C,H,W), gate (N,C,1,1)) drops each block out of the blocked layout and back (41 reorder
nodes in se_mobilenet at 224, 4 with this form), while ORT turns Resize into an NCHWc Upsample.
Nearest resizing of a 1x1 map repeats its one value, so outputs are unchanged. Measured
(benchmarks/se_cost.py, ORT 1.32 CPU FP32, 1 thread, SE/base latency at 224): se_mobilenet
1.19 -> 1.15-1.17, se_mobilenet_v2 1.25 -> 1.15, mobilenet_v3 about even, se_shufflenet
1.39 -> 1.59 (its blocks sit between channel shuffles that leave NCHWc anyway), so it is opt-in,
and for FP32 only: `collapse_se_gates` undoes it before INT8 quantization.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper

from se_deploy.core.errors import SeDeployError
from se_deploy.core.onnx.graph import (
    GraphIndex,
    NameAllocator,
    add_initializer,
    prune,
    replace_roots,
    static_hw,
    working_copy,
)
from se_deploy.core.onnx.se_pattern import blocks_in, find_se_blocks


def expand_se_gates(model: onnx.ModelProto) -> onnx.ModelProto:
    model = working_copy(model)
    index = GraphIndex(model, with_shapes=True)
    names = NameAllocator(model.graph)
    replacements = {}
    for block in blocks_in(index):
        if block.expanded:
            continue
        spatial = static_hw(index.shapes.get(block.input))
        if spatial is None:
            raise SeDeployError(
                f"SE block '{block.name}' has no static HxW "
                f"({index.shapes.get(block.input)}); the Resize gate form needs "
                "one: export with a fixed --input-size"
            )
        scales = add_initializer(
            model.graph,
            names,
            f"{block.name}/gate_hw_scales",
            np.array([1, 1, *spatial], np.float32),
        )
        expanded = names(f"{block.scale}_hw")
        resize = helper.make_node(
            "Resize",
            [block.scale, "", scales],
            [expanded],
            name=names(f"{block.name}/expand_hw"),
            mode="nearest",
            coordinate_transformation_mode="asymmetric",
            nearest_mode="floor",
        )
        mul = index.producer[block.output]
        inputs = [expanded if name == block.scale else name for name in mul.input]
        replacements[mul.name] = [
            resize,
            helper.make_node("Mul", inputs, list(mul.output), name=mul.name),
        ]
    return replace_roots(model, replacements) if replacements else model


def collapse_se_gates(model: onnx.ModelProto) -> tuple[onnx.ModelProto, int]:
    """The inverse of `expand_se_gates`: every expanded block's Mul reads its (N, C, 1, 1) gate
    again and the Resize goes. Returns the model and how many blocks changed.

    For INT8: quantized, the Resize form ran se_mobilenet at 2.20x its baseline against 1.38x
    for the broadcast form (u8s8, benchmarks/se_cost.py), so `quantize` collapses it first.
    """
    model = working_copy(model)
    blocks = [block for block in find_se_blocks(model) if block.expanded]
    nodes = {node.name: node for node in model.graph.node}
    for block in blocks:
        resize, mul = nodes[block.nodes[-2]], nodes[block.nodes[-1]]
        mul.input[list(mul.input).index(resize.output[0])] = block.scale
    return (prune(model) if blocks else model), len(blocks)
