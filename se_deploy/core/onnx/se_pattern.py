"""Find Squeeze-and-Excitation blocks in an ONNX graph.

The canonical SE block, the form `canonicalize_se` leaves and `find_se_blocks` reports:

    x -> GlobalAveragePool|GlobalMaxPool -> Conv 1x1 -> activation -> Conv 1x1
      -> Sigmoid|HardSigmoid|Tanh|Relu -> Mul(x, .) (either operand order)

with every intermediate tensor read by the next node only. The activation is Relu in the paper;
EfficientNet / MobileNetV3-style blocks use SiLU (Sigmoid + Mul), HardSwish (fused, or
HardSigmoid + Mul below opset 14), Relu6 (Clip), LeakyRelu, Elu or Selu, and the canonical form
keeps whichever the block has. Quantization (keep SE nodes out of INT8), the profiler (aggregate
time per SE block) and static SE folding work from `SEBlock`s.

The same walk in *loose* mode also accepts what other exporters emit: ReduceMean/ReduceMax or a
whole-map Average/MaxPool as the squeeze; Gemm, MatMul(+Add) or a Conv whose bias is a separate
Add (Paddle2ONNX) as the FCs; Reshape/Flatten/Squeeze/Unsqueeze/Identity between the steps; a
hard-sigmoid gate written as arithmetic (relu6(t + 3) / 6: torch's dynamo exporter decomposes
nn.Hardsigmoid so); an Expand of the gate to x's shape before the Mul. `canonicalize_se`
rewrites those matches into the canonical form.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
from onnx import helper

from se_deploy.core.onnx.affine import hard_sigmoid_of
from se_deploy.core.onnx.graph import GraphIndex, attribute, static_hw
from se_deploy.core.spec import Gate, Squeeze

GLOBAL_SQUEEZES = {"GlobalAveragePool": Squeeze.AVG, "GlobalMaxPool": Squeeze.MAX}
SQUEEZE_OPS = {squeeze: op for op, squeeze in GLOBAL_SQUEEZES.items()}
GATES = {
    "Sigmoid": Gate.SIGMOID,
    "HardSigmoid": Gate.HARD_SIGMOID,
    "Tanh": Gate.TANH,
    "Relu": Gate.RELU,
}
SHAPE_OPS = frozenset({"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity"})
# Elementwise activations an SE block may have between its FCs (one node each).
ACTIVATIONS = frozenset({"Relu", "LeakyRelu", "HardSwish", "Clip", "Elu", "Selu", "Celu"})
# x * gate(x) written as two nodes: the activation's label by the gate's op.
_GATED_ACTIVATIONS = {"Sigmoid": "SiLU", "HardSigmoid": "HardSwish"}
_REDUCE_SQUEEZES = {"ReduceMean": Squeeze.AVG, "ReduceMax": Squeeze.MAX}
_WINDOW_SQUEEZES = {"AveragePool": Squeeze.AVG, "MaxPool": Squeeze.MAX}


@dataclass(frozen=True)
class SEBlock:
    """One canonical SE block: output = input * scale, scale = gate(expand(relu(reduce(pool)))),
    the scale optionally repeated to HxW by a nearest Resize first (same values)."""

    name: str  # the nodes' common name prefix, e.g. "/blocks/blocks.3/se"
    input: str  # the feature map x (N, C, H, W) the block squeezes and rescales
    output: str  # the Mul output that replaces x downstream
    scale: str  # the gate output (N, C, 1, 1)
    channels: int
    reduced_channels: int
    squeeze: Squeeze
    gate: Gate
    nodes: tuple[str, ...]  # pool, reduce Conv, activation, expand Conv, gate, [Resize,] Mul
    expanded: bool = False  # the gate reaches the Mul through a Resize to HxW (passes.se_gate)
    activation: str = "Relu"  # between the FCs: an op type, or SiLU / HardSwish when unfused
    gate_alpha: float | None = None  # HardSigmoid's alpha and beta (0.2 / 0.5 in Paddle models,
    gate_beta: float | None = None  # 1/6 and 0.5 for MobileNetV3's relu6(x + 3) / 6)

    @property
    def reduction(self) -> float:
        """The paper's r: channels / reduced channels (not an integer when rounded to 8)."""
        return self.channels / self.reduced_channels

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "input": self.input,
            "output": self.output,
            "scale": self.scale,
            "channels": self.channels,
            "reduced_channels": self.reduced_channels,
            "reduction": round(self.reduction, 4),
            "squeeze": str(self.squeeze),
            "gate": str(self.gate),
            "nodes": list(self.nodes),
            "expanded": self.expanded,
            "activation": self.activation,
            "gate_alpha": self.gate_alpha,
            "gate_beta": self.gate_beta,
        }


@dataclass(frozen=True, eq=False)
class FullyConnected:
    """An SE FC layer as found (1x1 Conv, Gemm or MatMul+Add), with its weights as (out, in)."""

    nodes: tuple[str, ...]
    output: str
    weight: np.ndarray
    bias: np.ndarray | None
    is_conv: bool


@dataclass(frozen=True, eq=False)
class Activation:
    """The activation between the FCs as found: its label and its nodes, in order (one node,
    or the gate and Mul of x * sigmoid(x) / x * hardsigmoid(x)), reading `input`."""

    label: str
    nodes: tuple[onnx.NodeProto, ...]
    input: str
    output: str


@dataclass(frozen=True, eq=False)
class SEMatch:
    """An SE block in any accepted form; `canonical` says whether it needs rewriting."""

    x: str
    squeeze: Squeeze
    reduce: FullyConnected
    activation: Activation
    expand: FullyConnected
    gate: onnx.NodeProto
    mul: onnx.NodeProto
    nodes: tuple[str, ...]
    canonical: bool
    resize: onnx.NodeProto | None = None
    channels_last: bool = False  # x is NHWC (canonicalization transposes the block to NCHW)
    # (alpha, beta) when the gate is a hard-sigmoid written as arithmetic; `gate` is then the
    # chain's last node (its output is the gate)
    hard_sigmoid: tuple[float, float] | None = None

    @property
    def gate_op(self) -> str:
        """The gate's op type as one node: HardSigmoid for an arithmetic hard-sigmoid."""
        return "HardSigmoid" if self.hard_sigmoid else self.gate.op_type

    def gate_node(self, inputs: list[str], outputs: list[str], name: str) -> onnx.NodeProto:
        """The gate as one node (the arithmetic form fused into HardSigmoid(alpha, beta))."""
        node = helper.make_node(self.gate_op, inputs, outputs, name=name)
        if self.hard_sigmoid:
            alpha, beta = self.hard_sigmoid
            node.attribute.extend(
                [helper.make_attribute("alpha", alpha), helper.make_attribute("beta", beta)]
            )
        else:
            node.attribute.extend(self.gate.attribute)
        return node


@dataclass(frozen=True)
class SEMiss:
    """Where the walk from a squeeze node stopped; `depth` counts the steps that did match."""

    anchor: str
    depth: int
    reason: str


class _Broken(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def find_se_blocks(model: onnx.ModelProto) -> list[SEBlock]:
    """Every canonical SE block in graph order (run the export passes first for other forms)."""
    return blocks_in(GraphIndex(model, with_shapes=True))


def blocks_in(index: GraphIndex) -> list[SEBlock]:
    """`find_se_blocks` on an index built with shapes, for a pass that needs the shapes too."""
    matches, _ = scan_se(index, strict=True)
    return [_block(match) for match in matches]


def explain_se_misses(model: onnx.ModelProto, strict: bool = True) -> list[str]:
    """One line per squeeze node that does not start a canonical SE block (with `strict=False`:
    an SE block in any accepted form, which says why canonicalization left it), deepest first."""
    _, misses = scan_se(GraphIndex(model, with_shapes=True), strict=strict)
    return _explained(misses)


def survey_se(model: onnx.ModelProto) -> tuple[list[tuple[SEBlock, bool]], list[str]]:
    """SE blocks in any accepted form, each with whether it is already canonical, and the
    explained misses (deepest first): what `inspect` reports before any pass has run."""
    matches, misses = scan_se(GraphIndex(model, with_shapes=True), strict=False)
    return [(_block(match), match.canonical) for match in matches], _explained(misses)


def _explained(misses: list[SEMiss]) -> list[str]:
    ranked = sorted(enumerate(misses), key=lambda item: (-item[1].depth, item[0]))
    return [f"from '{miss.anchor}': {miss.reason}" for _, miss in ranked]


def scan_se(index: GraphIndex, strict: bool) -> tuple[list[SEMatch], list[SEMiss]]:
    """Walk from every squeeze-like node; strict accepts only the canonical form."""
    matches: list[SEMatch] = []
    misses: list[SEMiss] = []
    for node in index.graph.node:
        squeeze = _squeeze_kind(index, node)
        if squeeze is None:
            continue
        walk = _Walk(index, node, strict)
        try:
            matches.append(walk.match(squeeze))
        except _Broken as broken:
            misses.append(SEMiss(node.name, len(walk.steps), broken.reason))
    return matches, misses


def _block(match: SEMatch) -> SEBlock:
    return SEBlock(
        name=common_prefix(match.nodes) or match.mul.name,
        input=match.x,
        output=match.mul.output[0],
        scale=match.gate.output[0],
        channels=match.expand.weight.shape[0],
        reduced_channels=match.reduce.weight.shape[0],
        squeeze=match.squeeze,
        gate=GATES[match.gate_op],
        nodes=match.nodes,
        expanded=match.resize is not None,
        activation=match.activation.label,
        **_gate_parameters(match),
    )


def _gate_parameters(match: SEMatch) -> dict[str, float]:
    """HardSigmoid's alpha and beta with ONNX's defaults, for passes that evaluate the gate."""
    if match.gate_op != "HardSigmoid":
        return {}
    alpha, beta = match.hard_sigmoid or (
        attribute(match.gate, "alpha", 0.2),
        attribute(match.gate, "beta", 0.5),
    )
    return {"gate_alpha": round(float(alpha), 7), "gate_beta": round(float(beta), 7)}


def common_prefix(names: tuple[str, ...]) -> str:
    """The shared '/'-separated scope of node names ('' when they share none)."""
    scopes = [name.split("/")[:-1] for name in names]
    shared = []
    for parts in zip(*scopes, strict=False):  # stops at the shortest scope
        if len(set(parts)) != 1:
            break
        shared.append(parts[0])
    return "/".join(shared)


def _squeeze_kind(index: GraphIndex, node: onnx.NodeProto) -> Squeeze | None:
    """The squeeze a node computes if it pools each channel's whole map to one value."""
    if node.op_type in GLOBAL_SQUEEZES:
        return GLOBAL_SQUEEZES[node.op_type]
    shape = index.shapes.get(node.input[0]) if node.input else None
    if node.op_type in _REDUCE_SQUEEZES and _reduces_spatial(index, node, shape):
        return _REDUCE_SQUEEZES[node.op_type]
    if node.op_type in _WINDOW_SQUEEZES and _window_is_whole_map(node, shape):
        return _WINDOW_SQUEEZES[node.op_type]
    return None


def _reduces_spatial(index: GraphIndex, node: onnx.NodeProto, shape: tuple | None) -> bool:
    """A mean/max over H, W of a rank-4 map: axes (2, 3) of NCHW or (1, 2) of NHWC."""
    return _reduced_axes(index, node, shape) in ([2, 3], [1, 2])


def channels_last(index: GraphIndex, node: onnx.NodeProto) -> bool:
    """Whether a squeeze node reduces an NHWC map (tf2onnx / Keras: ReduceMean over axes 1, 2)."""
    return _reduced_axes(index, node, index.shapes.get(node.input[0])) == [1, 2]


def _reduced_axes(index: GraphIndex, node: onnx.NodeProto, shape: tuple | None) -> list[int]:
    if node.op_type not in _REDUCE_SQUEEZES:
        return []
    rank = len(shape) if shape else 4
    axes = attribute(node, "axes")
    if axes is None and len(node.input) > 1 and node.input[1]:  # opset 18: axes is an input
        value = index.constant(node.input[1])
        axes = None if value is None else value.tolist()
    if rank != 4 or axes is None:
        return []
    return sorted(a % rank for a in axes)


def _window_is_whole_map(node: onnx.NodeProto, shape: tuple | None) -> bool:
    if not shape or len(shape) != 4 or any(attribute(node, "pads", [])):
        return False
    padding = attribute(node, "auto_pad", "NOTSET") in ("NOTSET", "VALID")
    return padding and list(attribute(node, "kernel_shape", [])) == list(shape[2:])


def _is_channel_vector(shape: tuple[int, ...], channel_shape: tuple[int, ...]) -> bool:
    """Whether a constant of `shape` adds one value per channel to an FC output whose trailing
    dims are `channel_shape` ((C,) for Gemm/MatMul, (C, 1, 1) for a 1x1 Conv)."""
    trimmed = tuple(shape)
    while len(trimmed) > len(channel_shape) and trimmed[0] == 1:
        trimmed = trimmed[1:]
    return trimmed == channel_shape


class _Walk:
    """Follows the SE chain forward from one squeeze node, recording the nodes it spans."""

    def __init__(self, index: GraphIndex, anchor: onnx.NodeProto, strict: bool) -> None:
        self.index = index
        self.strict = strict
        self.node = anchor
        self.steps: list[onnx.NodeProto] = [anchor]

    def match(self, squeeze: Squeeze) -> SEMatch:
        anchor = self.node
        if self.strict and anchor.op_type not in GLOBAL_SQUEEZES:
            raise _Broken(
                f"the squeeze is {anchor.op_type}, not GlobalAveragePool/"
                "GlobalMaxPool; run the canonicalize_se pass"
            )
        reduce = self._fully_connected()
        activation = self._activation()
        expand = self._fully_connected()
        gate, hard_sigmoid = self._gate()
        x = anchor.input[0]
        resize = self._gate_resize(x)
        broadcast = None if self.strict or resize else self._gate_expand()
        mul = self._advance("the Mul that rescales the block input", {"Mul"})
        if x not in mul.input:
            raise _Broken(f"Mul '{mul.name}' does not rescale '{x}', the squeezed tensor")
        nhwc = channels_last(self.index, anchor)
        self._check_channels(x, reduce, expand, 3 if nhwc else 1)
        self._check_broadcast(x, mul)
        if resize is None:
            self._check_gate_shape(mul, x, broadcast, nhwc)
        skipped = any(step.op_type in SHAPE_OPS for step in self.steps)
        return SEMatch(
            x=x,
            squeeze=squeeze,
            reduce=reduce,
            activation=activation,
            expand=expand,
            gate=gate,
            mul=mul,
            nodes=tuple(step.name for step in self.steps),
            canonical=anchor.op_type in GLOBAL_SQUEEZES
            and reduce.is_conv
            and expand.is_conv
            and not skipped
            and broadcast is None
            and hard_sigmoid is None,
            resize=resize,
            channels_last=nhwc,
            hard_sigmoid=hard_sigmoid,
        )

    def _gate(self) -> tuple[onnx.NodeProto, tuple[float, float] | None]:
        """The gate node, with (alpha, beta) when loose and it is a hard-sigmoid written as
        arithmetic (up to three nodes, each the sole reader of the one before)."""
        if not self.strict:
            self._skip_shape_ops()
            source = self.node.output[0]
            chain, node = [], self.index.sole_consumer(source)
            while node is not None and len(chain) < 3:
                chain.append(node)
                match = hard_sigmoid_of(self.index, node)
                if match is not None and match[0] == source:
                    self.steps.extend(chain)
                    self.node = node
                    return node, match[1:]
                node = self.index.sole_consumer(node.output[0])
        return self._advance("a gate (Sigmoid, HardSigmoid, Tanh or Relu)", set(GATES)), None

    def _activation(self) -> Activation:
        """The activation after the reduce FC: one elementwise node, or x * gate(x)."""
        if not self.strict:
            self._skip_shape_ops()
        gated = self._gated_activation(self.node.output[0])
        if gated is not None:
            return gated
        node = self._advance(
            "an activation (Relu, SiLU, HardSwish, Relu6/Clip, LeakyRelu, Elu, Selu)",
            set(ACTIVATIONS),
        )
        if node.op_type == "Clip" and any(self.index.constant(n) is None for n in node.input[1:]):
            raise _Broken(f"Clip '{node.name}' has computed bounds, not constants")
        return Activation(node.op_type, (node,), node.input[0], node.output[0])

    def _skip_shape_ops(self) -> None:
        node = self.index.sole_consumer(self.node.output[0])
        while node is not None and node.op_type in SHAPE_OPS:
            self.steps.append(node)
            self.node = node
            node = self.index.sole_consumer(node.output[0])

    def _gated_activation(self, source: str) -> Activation | None:
        """x * sigmoid(x) (SiLU) or x * hardsigmoid(x): the FC output read by the gate and the
        Mul, the gate output by the Mul alone."""
        readers = self.index.consumers.get(source, [])
        if len(readers) != 2 or source in self.index.graph_outputs:
            return None
        gates = [r for r in readers if r.op_type in _GATED_ACTIVATIONS and r.input[0] == source]
        muls = [r for r in readers if r.op_type == "Mul"]
        if len(gates) != 1 or len(muls) != 1:
            return None
        gate, mul = gates[0], muls[0]
        if sorted(mul.input) != sorted([source, gate.output[0]]):
            return None
        if self.index.sole_consumer(gate.output[0]) is not mul:
            return None
        self.steps.extend([gate, mul])
        self.node = mul
        label = _GATED_ACTIVATIONS[gate.op_type]
        return Activation(label, (gate, mul), source, mul.output[0])

    def _gate_expand(self) -> onnx.NodeProto | None:
        """An Expand of the gate (to x's shape) before the Mul: broadcasting does the same."""
        node = self.index.sole_consumer(self.node.output[0])
        if node is None or node.op_type != "Expand" or node.input[0] != self.node.output[0]:
            return None
        self.steps.append(node)
        self.node = node
        return node

    def _check_gate_shape(
        self, mul: onnx.NodeProto, x: str, broadcast: onnx.NodeProto | None, nhwc: bool
    ) -> None:
        """The gate reaching the Mul must be (N, C, 1, 1) ((N, 1, 1, C) for NHWC): a lower-rank
        gate broadcasts against x's last axis, not its channels, even when the shapes fit."""
        operand = mul.input[1] if mul.input[0] == x else mul.input[0]
        operand = broadcast.input[0] if broadcast is not None else operand
        shape = self.index.shapes.get(operand)
        if shape is None:
            return
        spatial = (1, 2) if nhwc else (2, 3)
        if len(shape) != 4 or any(isinstance(shape[a], int) and shape[a] != 1 for a in spatial):
            layout = "(N, 1, 1, C)" if nhwc else "(N, C, 1, 1)"
            raise _Broken(
                f"the gate reaching Mul '{mul.name}' has shape {list(shape)}, not {layout}; "
                "it does not rescale x's channels"
            )

    def _check_broadcast(self, x: str, mul: onnx.NodeProto) -> None:
        """The Mul must give x's shape: a gate that broadcasts x up (another rank or a wider
        dim) is not a rescale of x."""
        x_shape, out_shape = self.index.shapes.get(x), self.index.shapes.get(mul.output[0])
        if x_shape is None or out_shape is None:
            return
        same_rank = len(x_shape) == len(out_shape)
        if not same_rank or any(
            isinstance(a, int) and isinstance(b, int) and a != b
            for a, b in zip(x_shape, out_shape, strict=True)
        ):
            raise _Broken(
                f"Mul '{mul.name}' gives shape {list(out_shape)}, not the block input's "
                f"{list(x_shape)}; the gate does not broadcast over x"
            )

    def _gate_resize(self, x: str) -> onnx.NodeProto | None:
        """A nearest Resize of the (N, C, 1, 1) gate to x's HxW, if the gate feeds one: it only
        repeats each value, so the block computes the same thing (passes.se_gate writes it)."""
        node = self.index.sole_consumer(self.node.output[0])
        if node is None or node.op_type != "Resize" or node.input[0] != self.node.output[0]:
            return None
        if attribute(node, "mode", "nearest") != "nearest" or not self._sizes_match(node, x):
            return None
        self.steps.append(node)
        self.node = node
        return node

    def _sizes_match(self, resize: onnx.NodeProto, x: str) -> bool:
        """Whether the Resize's constant scales (or sizes) give x's spatial shape from 1x1."""
        spatial = static_hw(self.index.shapes.get(x))
        if spatial is None:
            return False
        inputs = list(resize.input) + [""] * (4 - len(resize.input))
        scales = self.index.constant(inputs[2]) if inputs[2] else None
        sizes = self.index.constant(inputs[3]) if inputs[3] else None
        target = scales if scales is not None and scales.size == 4 else sizes
        return target is not None and target.size == 4 and tuple(target[2:]) == spatial

    def _advance(self, expected: str, ops: set[str]) -> onnx.NodeProto:
        """Move to the sole reader of the current output (past shape ops when loose)."""
        node = self._next()
        while not self.strict and node.op_type in SHAPE_OPS:
            self.steps.append(node)
            self.node = node
            node = self._next()
        if node.op_type not in ops:
            raise _Broken(
                f"after {self.node.op_type} '{self.node.name}' expected {expected}, "
                f"found {node.op_type} '{node.name}'"
            )
        self.steps.append(node)
        self.node = node
        return node

    def _next(self) -> onnx.NodeProto:
        output = self.node.output[0]
        reader = self.index.sole_consumer(output)
        if reader is None:
            readers = self.index.consumers.get(output, [])
            where = ", ".join(f"{r.op_type} '{r.name}'" for r in readers) or "nothing"
            graph_output = " and is a graph output" if output in self.index.graph_outputs else ""
            raise _Broken(
                f"{self.node.op_type} '{self.node.name}' output is read by {where}"
                f"{graph_output}; an SE step must feed exactly one node"
            )
        return reader

    def _fully_connected(self) -> FullyConnected:
        ops = {"Conv"} if self.strict else {"Conv", "Gemm", "MatMul"}
        node = self._advance("a 1x1 Conv" if self.strict else "a 1x1 Conv, Gemm or MatMul", ops)
        if node.op_type == "Conv":
            return self._conv(node)
        if node.op_type == "Gemm":
            return self._gemm(node)
        return self._matmul(node)

    def _constant(self, node: onnx.NodeProto, position: int) -> np.ndarray | None:
        if len(node.input) <= position or not node.input[position]:
            return None
        value = self.index.constant(node.input[position])
        if value is None:
            name = node.input[position]
            raise _Broken(
                f"{node.op_type} '{node.name}' input '{name}' is computed, not a constant weight"
            )
        return value

    def _conv(self, node: onnx.NodeProto) -> FullyConnected:
        weight = self._constant(node, 1)
        plain = (
            weight is not None
            and weight.ndim == 4
            and weight.shape[2:] == (1, 1)
            and attribute(node, "group", 1) == 1
            and all(s == 1 for s in attribute(node, "strides", []))
            and all(d == 1 for d in attribute(node, "dilations", []))
            and not any(attribute(node, "pads", []))
        )
        if not plain:
            raise _Broken(
                f"Conv '{node.name}' is not a plain 1x1 Conv (kernel, group, stride, "
                "dilation or pads differ)"
            )
        bias = self._constant(node, 2)
        layer = FullyConnected((node.name,), node.output[0], weight[:, :, 0, 0], bias, True)
        return self._bias_add(layer, (weight.shape[0], 1, 1)) if not self.strict else layer

    def _bias_add(self, layer: FullyConnected, channel_shape: tuple[int, ...]) -> FullyConnected:
        """Absorb an Add of a per-output-channel constant after the FC (Paddle2ONNX writes the
        conv bias so): only a constant that broadcasts along the channel axis is a bias."""
        add = self.index.sole_consumer(layer.output)
        if add is None or add.op_type != "Add":
            return layer
        other = add.input[1] if add.input[0] == layer.output else add.input[0]
        value = self.index.constant(other)
        if value is None or not _is_channel_vector(value.shape, channel_shape):
            return layer
        bias = value.reshape(-1) + (0 if layer.bias is None else layer.bias.reshape(-1))
        self.steps.append(add)
        self.node = add
        return FullyConnected((*layer.nodes, add.name), add.output[0], layer.weight, bias, False)

    def _gemm(self, node: onnx.NodeProto) -> FullyConnected:
        if attribute(node, "transA", 0):
            raise _Broken(f"Gemm '{node.name}' transposes its input (transA=1)")
        weight = self._constant(node, 1)
        weight = weight if attribute(node, "transB", 0) else weight.T
        bias = self._constant(node, 2)
        alpha, beta = attribute(node, "alpha", 1.0), attribute(node, "beta", 1.0)
        if bias is not None:
            bias = np.broadcast_to(beta * bias.reshape(-1), (weight.shape[0],))
        return FullyConnected((node.name,), node.output[0], alpha * weight, bias, False)

    def _matmul(self, node: onnx.NodeProto) -> FullyConnected:
        weight = self._constant(node, 1)
        if weight is None or weight.ndim != 2:
            raise _Broken(f"MatMul '{node.name}' does not multiply by a 2-D constant weight")
        layer = FullyConnected((node.name,), node.output[0], weight.T, None, False)
        return self._bias_add(layer, (weight.shape[1],))

    def _check_channels(
        self, x: str, reduce: FullyConnected, expand: FullyConnected, axis: int
    ) -> None:
        channels = expand.weight.shape[0]
        shape = self.index.shapes.get(x)
        known = shape[axis] if shape and len(shape) == 4 and isinstance(shape[axis], int) else None
        known = channels if known is None else known
        if reduce.weight.shape[1] != channels or expand.weight.shape[1] != reduce.weight.shape[0]:
            raise _Broken(
                f"FC shapes {reduce.weight.shape} and {expand.weight.shape} do not "
                "chain C -> C/r -> C"
            )
        if known != channels:
            raise _Broken(f"the block maps {channels} channels but '{x}' has {known}")
