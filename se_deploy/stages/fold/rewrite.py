"""Fold constant SE gates into conv weights: the block's pool, FCs, gate and Mul disappear.

With the gate replaced by a per-channel constant s, `x * s` is a fixed per-channel scale that a
neighbouring conv can absorb exactly:

- *consumer*: every reader of the SE output is a Conv, so scale the weights that read each
  input channel (`conv(x * s) = conv'(x)`; zero padding stays zero, any group count);
- *producer*: x is the output of a Conv, or of Relu(Conv), read by the SE block alone, so scale
  that conv's output channels, weights and bias (`relu(z) * s = relu(z * s)` needs s >= 0, which
  sigmoid and hard-sigmoid gates satisfy; it is checked, not assumed).

The consumer fold is tried first (it needs no sign condition); ShuffleNet's SE outputs feed a
residual Add or a Concat, and MobileNet v1's last one a pool, so those fold into the producer.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import onnx

from se_deploy.core.errors import SeDeployError
from se_deploy.core.onnx.graph import (
    GraphIndex,
    NameAllocator,
    add_initializer,
    attribute,
    prune,
    rename_inputs,
    working_copy,
)
from se_deploy.core.onnx.se_pattern import SEBlock, find_se_blocks


class FoldSite(enum.StrEnum):
    CONSUMER = "consumer"  # input channels of the convs reading the SE output
    PRODUCER = "producer"  # output channels of the conv computing the SE input


@dataclass(frozen=True)
class FoldTarget:
    """Where one SE block's constant scale can go; `site` None means nowhere, `reason` says why."""

    block: str
    site: FoldSite | None
    convs: tuple[str, ...] = ()
    through_relu: bool = False  # producer fold across a Relu: valid only for scales >= 0
    reason: str = ""

    @property
    def foldable(self) -> bool:
        return self.site is not None

    def to_dict(self) -> dict[str, object]:
        return {
            "block": self.block,
            "site": str(self.site) if self.site else None,
            "convs": list(self.convs),
            "through_relu": self.through_relu,
            "reason": self.reason,
        }


def fold_targets(model: onnx.ModelProto) -> dict[str, FoldTarget]:
    """The fold target of every SE block, by block name, in graph order."""
    index = GraphIndex(model)
    return {block.name: _target(index, block) for block in named_se_blocks(model).values()}


def named_se_blocks(model: onnx.ModelProto) -> dict[str, SEBlock]:
    """The SE blocks by name; names are the keys of every fold decision, so they must be unique."""
    blocks = find_se_blocks(model)
    by_name = {block.name: block for block in blocks}
    if len(by_name) != len(blocks):
        raise SeDeployError(
            "two SE blocks share a name scope; export the model with "
            "`se-deploy export` so every block has its own"
        )
    return by_name


def _target(index: GraphIndex, block: SEBlock) -> FoldTarget:
    consumer = _consumer_convs(index, block)
    if consumer:
        return FoldTarget(block.name, FoldSite.CONSUMER, consumer)
    producer = _producer_conv(index, block)
    if isinstance(producer, FoldTarget):
        return producer
    readers = ", ".join(sorted({node.op_type for node in index.consumers.get(block.output, [])}))
    return FoldTarget(
        block.name, None, reason=f"the SE output feeds {readers or 'a graph output'} and {producer}"
    )


def _consumer_convs(index: GraphIndex, block: SEBlock) -> tuple[str, ...]:
    """The convs reading the SE output as their data input, if nothing else reads it."""
    readers = index.consumers.get(block.output, [])
    if not readers or block.output in index.graph_outputs:
        return ()
    for node in readers:
        reads_as_data = node.op_type == "Conv" and list(node.input).index(block.output) == 0
        if not reads_as_data or block.output in node.input[1:]:
            return ()
        if index.constant(node.input[1]) is None:
            return ()
    return tuple(node.name for node in readers)


def _producer_conv(index: GraphIndex, block: SEBlock) -> FoldTarget | str:
    """The conv (optionally behind a Relu) whose output is the SE input, or why there is none."""
    own = set(block.nodes)
    x_readers = index.consumers.get(block.input, [])
    if block.input in index.graph_outputs or any(node.name not in own for node in x_readers):
        return "its input is also read outside the block"
    node = index.producer.get(block.input)
    through_relu = node is not None and node.op_type == "Relu"
    if through_relu:
        conv_output = node.input[0]
        node = index.producer.get(conv_output)
        if len(index.consumers.get(conv_output, [])) != 1 or conv_output in index.graph_outputs:
            return "its input is a Relu whose input is read elsewhere too"
    if node is None or node.op_type != "Conv" or index.constant(node.input[1]) is None:
        found = node.op_type if node is not None else "a graph input"
        return f"its input comes from {found}, not a Conv (or Relu(Conv)) with constant weights"
    return FoldTarget(block.name, FoldSite.PRODUCER, (node.name,), through_relu)


def fold_se_blocks(model: onnx.ModelProto, scales: Mapping[str, np.ndarray]) -> onnx.ModelProto:
    """Replace each SE block named in `scales` by that constant per-channel scale, folded into a
    neighbouring conv; the other blocks stay. Raises if a named block cannot be folded."""
    model = working_copy(model)
    by_name = named_se_blocks(model)
    unknown = sorted(set(scales) - set(by_name))
    if unknown:
        raise SeDeployError(
            f"no SE block named {', '.join(unknown)}; blocks are: {', '.join(by_name)}"
        )
    index = GraphIndex(model)
    targets = {name: _target(index, by_name[name]) for name in scales}
    nodes = {node.name: node for node in model.graph.node}
    weights = _WeightEditor(model.graph, index)
    renames = {}
    for name, scale in scales.items():
        block, target = by_name[name], targets[name]
        scale = _checked_scale(block, target, np.asarray(scale, np.float32).reshape(-1))
        for conv in target.convs:
            if target.site is FoldSite.CONSUMER:
                weights.scale_inputs(nodes[conv], scale)
            else:
                weights.scale_outputs(nodes[conv], scale)
        renames[block.output] = block.input
    weights.commit()
    rename_inputs(model.graph, {name: _resolve(renames, name) for name in renames})
    return prune(model)


def _resolve(renames: Mapping[str, str], name: str) -> str:
    """Follow renames to the end, for an SE block whose input is another folded block's output."""
    while name in renames:
        name = renames[name]
    return name


def _checked_scale(block: SEBlock, target: FoldTarget, scale: np.ndarray) -> np.ndarray:
    if not target.foldable:
        raise SeDeployError(f"SE block '{block.name}' cannot be folded: {target.reason}")
    if scale.shape != (block.channels,) or not np.isfinite(scale).all():
        raise SeDeployError(
            f"SE block '{block.name}' needs {block.channels} finite scales, got shape {scale.shape}"
        )
    if target.through_relu and (scale < 0).any():
        raise SeDeployError(
            f"SE block '{block.name}' folds across a Relu, which needs scales "
            f">= 0; its smallest is {scale.min():.4g}"
        )
    return scale


class _WeightEditor:
    """Accumulates per-conv weight and bias edits, then writes them as fresh initializers (a
    weight shared with another node is never changed under it)."""

    def __init__(self, graph: onnx.GraphProto, index: GraphIndex) -> None:
        self.graph = graph
        self.index = index
        self.names = NameAllocator(graph)
        self.edited: dict[tuple[str, int], tuple[onnx.NodeProto, np.ndarray]] = {}

    def _value(self, node: onnx.NodeProto, position: int) -> np.ndarray | None:
        key = (node.name, position)
        if key in self.edited:
            return self.edited[key][1]
        if len(node.input) <= position or not node.input[position]:
            return None
        return self.index.constant(node.input[position])

    def scale_inputs(self, node: onnx.NodeProto, scale: np.ndarray) -> None:
        weight = self._value(node, 1)
        out_channels, per_group = weight.shape[:2]
        groups = attribute(node, "group", 1)
        if per_group * groups != scale.size:
            raise SeDeployError(
                f"Conv '{node.name}' reads {per_group * groups} channels, the "
                f"scale has {scale.size}"
            )
        group_of_output = np.arange(out_channels) // (out_channels // groups)
        channel = group_of_output[:, None] * per_group + np.arange(per_group)[None, :]
        factor = scale[channel].reshape(out_channels, per_group, *([1] * (weight.ndim - 2)))
        self.edited[(node.name, 1)] = (node, (weight * factor).astype(weight.dtype))

    def scale_outputs(self, node: onnx.NodeProto, scale: np.ndarray) -> None:
        weight = self._value(node, 1)
        if weight.shape[0] != scale.size:
            raise SeDeployError(
                f"Conv '{node.name}' writes {weight.shape[0]} channels, the scale has {scale.size}"
            )
        factor = scale.reshape(-1, *([1] * (weight.ndim - 1)))
        self.edited[(node.name, 1)] = (node, (weight * factor).astype(weight.dtype))
        bias = self._value(node, 2)
        if bias is not None:
            self.edited[(node.name, 2)] = (node, (bias * scale).astype(bias.dtype))

    def commit(self) -> None:
        for (_, position), (node, value) in self.edited.items():
            base = f"{node.name}/se_folded_{'W' if position == 1 else 'B'}"
            node.input[position] = add_initializer(self.graph, self.names, base, value)
