"""The one graph API every pass and the SE finder use: onnx protobufs plus a small read-only index.

Why plain `onnx.helper`/`numpy_helper` and not onnx-ir or onnxscript's rewriter: neither is a
dependency (the exporter chosen in `onnx_export` does not need onnxscript), and the rewrites here
are short chains on a few ops. Every rewrite follows one rule: a pass clones the model, replaces a
pattern's *root* node by new nodes that produce the root's output tensor under the same name (so
no consumer needs rewiring), and leaves the bypassed nodes for `prune` to drop.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from google.protobuf.message import DecodeError
from onnx import helper, numpy_helper

from se_deploy.core.errors import SeDeployError

Shape = tuple[int | str | None, ...]


def load_model(path: Path | str, load_external_data: bool = True) -> onnx.ModelProto:
    """`onnx.load`, with a file that is no ONNX model (truncated, text, another format) reported
    as the user's error: protobuf's own message names neither the file nor the fix."""
    try:
        model = onnx.load(str(path), load_external_data=load_external_data)
    except (DecodeError, ValueError, OSError) as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SeDeployError(
            f"'{path}' is not a readable ONNX model ({detail}); pass a complete .onnx file "
            "(re-run the command that wrote it)"
        ) from None
    if not model.graph.node:  # an empty file decodes as an empty ModelProto
        raise SeDeployError(
            f"'{path}' holds no ONNX graph (an empty or foreign file); pass a complete .onnx file"
        )
    return model


def clone(model: onnx.ModelProto) -> onnx.ModelProto:
    """A deep copy, so a pass never mutates the model it was given."""
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    return copy


def model_opset(model: onnx.ModelProto) -> int:
    """The opset of the default (ai.onnx) domain, the one that decides which ops exist."""
    for entry in model.opset_import:
        if entry.domain in ("", "ai.onnx"):
            return int(entry.version)
    raise SeDeployError("the model imports no ai.onnx opset; it is not a standard ONNX graph")


def node_count(model: onnx.ModelProto) -> int:
    return len(model.graph.node)


def attribute(node: onnx.NodeProto, name: str, default: Any = None) -> Any:
    for attr in node.attribute:
        if attr.name == name:
            value = helper.get_attribute_value(attr)
            return value.decode() if isinstance(value, bytes) else value
    return default


def subgraphs(node: onnx.NodeProto) -> Iterator[onnx.GraphProto]:
    """Graphs held in a node's attributes (If/Loop/Scan bodies)."""
    for attr in node.attribute:
        if attr.type == onnx.AttributeProto.GRAPH:
            yield attr.g
        elif attr.type == onnx.AttributeProto.GRAPHS:
            yield from attr.graphs


def node_inputs(node: onnx.NodeProto) -> set[str]:
    """Every tensor a node reads, including outer-scope names its subgraphs read."""
    names = {name for name in node.input if name}
    for graph in subgraphs(node):
        for inner in graph.node:
            names |= node_inputs(inner)
    return names


class GraphIndex:
    """Producer, consumers, constants and (optionally) inferred shapes of one graph's tensors.

    Built once per pass on an unmodified graph; passes collect replacements and apply them after
    the scan, so the index never goes stale while it is read.
    """

    def __init__(self, model: onnx.ModelProto, with_shapes: bool = False) -> None:
        graph = model.graph
        self.graph = graph
        self.producer: dict[str, onnx.NodeProto] = {}
        self.consumers: dict[str, list[onnx.NodeProto]] = defaultdict(list)
        for node in graph.node:
            for name in node.output:
                self.producer[name] = node
            for name in node_inputs(node):
                self.consumers[name].append(node)
        self.initializers = {init.name: init for init in graph.initializer}
        self.graph_outputs = {value.name for value in graph.output}
        self.shapes = inferred_shapes(model) if with_shapes else {}

    def constant(self, name: str) -> np.ndarray | None:
        """The value of an initializer or Constant-node output, also behind an Identity or a
        Reshape to a constant shape (Paddle2ONNX writes biases so); None for computed tensors."""
        if name in self.initializers:
            return numpy_helper.to_array(self.initializers[name])
        node = self.producer.get(name)
        if node is None:
            return None
        if node.op_type == "Constant":
            tensor = attribute(node, "value")
            return numpy_helper.to_array(tensor) if tensor is not None else None
        if node.op_type == "Identity":
            return self.constant(node.input[0])
        if node.op_type == "Reshape" and not attribute(node, "allowzero", 0):
            value, shape = self.constant(node.input[0]), self.constant(node.input[1])
            if value is None or shape is None or 0 in shape.tolist():
                return None
            return value.reshape(shape.tolist())
        return None

    def conv_weights(self, conv: onnx.NodeProto) -> tuple[np.ndarray, np.ndarray] | None:
        """A Conv's constant weight and 1-D bias (zeros when it has none); None when either is
        computed, so a pass that rewrites them knows it can."""
        weight = self.constant(conv.input[1]) if len(conv.input) > 1 else None
        if weight is None:
            return None
        if len(conv.input) < 3 or not conv.input[2]:
            return weight, np.zeros(weight.shape[0], weight.dtype)
        bias = self.constant(conv.input[2])
        return None if bias is None else (weight, bias.reshape(-1))

    def sole_consumer(self, name: str) -> onnx.NodeProto | None:
        """The one node reading `name`, or None when it is a graph output or read 0 or 2+ times."""
        readers = self.consumers.get(name, [])
        if len(readers) != 1 or name in self.graph_outputs:
            return None
        return readers[0]


def inferred_shapes(model: onnx.ModelProto) -> dict[str, Shape]:
    """Static shapes from ONNX shape inference; symbolic dims stay as their names."""
    inferred = onnx.shape_inference.infer_shapes(model)
    graph = inferred.graph
    shapes: dict[str, Shape] = {}
    for value in [*graph.input, *graph.value_info, *graph.output]:
        tensor_type = value.type.tensor_type
        if tensor_type.HasField("shape"):
            shapes[value.name] = tuple(
                dim.dim_value if dim.HasField("dim_value") else (dim.dim_param or None)
                for dim in tensor_type.shape.dim
            )
    return shapes


def static_hw(shape: Shape | None) -> tuple[int, int] | None:
    """(H, W) of a 4-D NCHW shape whose spatial dims are numbers, else None."""
    if not shape or len(shape) != 4 or not all(isinstance(dim, int) for dim in shape[2:]):
        return None
    return int(shape[2]), int(shape[3])


class NameAllocator:
    """Hands out node/tensor names not yet used in the graph, deterministically."""

    def __init__(self, graph: onnx.GraphProto) -> None:
        self.used = {node.name for node in graph.node}
        self.used |= {name for node in graph.node for name in node.output}
        self.used |= {init.name for init in graph.initializer}
        self.used |= {value.name for value in [*graph.input, *graph.output]}

    def __call__(self, base: str) -> str:
        name, suffix = base, 0
        while name in self.used:
            suffix += 1
            name = f"{base}_{suffix}"
        self.used.add(name)
        return name


def add_initializer(
    graph: onnx.GraphProto, names: NameAllocator, base: str, value: np.ndarray
) -> str:
    name = names(base)
    graph.initializer.append(numpy_helper.from_array(value, name))
    return name


def replace_roots(
    model: onnx.ModelProto, replacements: dict[str, list[onnx.NodeProto]]
) -> onnx.ModelProto:
    """Put each root node (by name) out of the graph and its replacement nodes in its place."""
    nodes: list[onnx.NodeProto] = []
    for node in model.graph.node:
        nodes.extend(replacements.get(node.name, [node]))
    return set_nodes(model, nodes)


def rename_inputs(graph: onnx.GraphProto, renames: dict[str, str]) -> None:
    """Point every read of a renamed tensor (subgraphs included) at its new name."""
    for node in graph.node:
        for position, name in enumerate(node.input):
            if name in renames:
                node.input[position] = renames[name]
        for inner in subgraphs(node):
            rename_inputs(inner, renames)


def set_nodes(model: onnx.ModelProto, nodes: Iterable[onnx.NodeProto]) -> onnx.ModelProto:
    copies = []
    for node in nodes:
        copy = onnx.NodeProto()
        copy.CopyFrom(node)
        copies.append(copy)
    del model.graph.node[:]
    model.graph.node.extend(copies)
    return model


def working_copy(model: onnx.ModelProto) -> onnx.ModelProto:
    """A clone whose nodes have unique names, so a rewrite can key replacements on names."""
    model = clone(model)
    names = NameAllocator(model.graph)
    seen: set[str] = set()
    for node in model.graph.node:
        if not node.name or node.name in seen:
            node.name = names(node.name or node.op_type)
        seen.add(node.name)
    return model


def prune(model: onnx.ModelProto) -> onnx.ModelProto:
    """Drop nodes no graph output depends on, then initializers and value_info nobody reads."""
    graph = model.graph
    live = {value.name for value in graph.output}
    kept: list[onnx.NodeProto] = []
    for node in reversed(graph.node):
        if any(name in live for name in node.output):
            kept.append(node)
            live |= node_inputs(node)
    kept.reverse()
    if len(kept) != len(graph.node):
        set_nodes(model, kept)
    _keep(graph.initializer, live)
    _keep(graph.value_info, live)
    return model


def order_value_info(model: onnx.ModelProto) -> onnx.ModelProto:
    """Sort value_info by producing node: onnxsim's order can differ between processes, and
    re-exporting the same model must give the same bytes."""
    position = {name: i for i, node in enumerate(model.graph.node) for name in node.output}
    ordered = sorted(model.graph.value_info, key=lambda v: (position.get(v.name, -1), v.name))
    copies = [onnx.ValueInfoProto.FromString(v.SerializeToString()) for v in ordered]
    del model.graph.value_info[:]
    model.graph.value_info.extend(copies)
    return model


def _keep(field: Any, names: set[str]) -> None:
    """Keep the entries of a repeated proto field whose `.name` is in `names`."""
    if all(entry.name in names for entry in field):
        return
    kept = [entry for entry in field if entry.name in names]
    copies = [type(entry)() for entry in kept]
    for copy, entry in zip(copies, kept, strict=True):
        copy.CopyFrom(entry)
    del field[:]
    field.extend(copies)
