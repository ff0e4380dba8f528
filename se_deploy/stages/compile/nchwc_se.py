"""Apply each SE gate inside ONNX Runtime's NCHWc blocked layout, exactly.

ORT's NCHWc transformer (onnxruntime/core/optimizer/nchwc_transformer.cc) keeps an SE block's
global pool and both FC convs (with the gate activation fused) in the blocked layout, but a Mul
whose inputs differ in shape falls through `TransformBinary`: the map and the gate each get a
ReorderOutput, the Mul runs in NCHW and a ReorderInput takes the product back. On the graph ORT
saved after its optimizations (`optimized_model_filepath`) this pass replaces that detour:

- `depthwise-weights`: the scaled map feeds only depthwise NchwcConvs (MobileNet v1: the next
  block's 3x3). DW(x * g) = DW'(x) with W' = W * g per channel, so the gate scales the weights
  (C*k*k multiplies instead of C*H*W) and the map never leaves the layout. `NchwcConv::Compute`
  (contrib_ops/cpu/nchwc_ops.cc) reads its weight tensor on every run, no prepacking, so W' may
  be computed in the graph. The weight ORT stored is already in its OIHWBo order
  (MlasReorderFilterOIHWBo: [C/B][k][k][B]), so the gate is broadcast as (C/B, 1, B).
- `conv-weights`: the scaled map feeds only full NchwcConvs (v2/v3 1x1 projections) and the map
  has MAP_PER_WEIGHT times more elements than their weights (C*H*W >= 4*O*I*k*k: the early,
  large maps).
  conv(x * g) = conv'(x) with W'[o, i] = W[o, i] * g[i]; the stored OIHWBiBo weight is
  [O/B][I/B][k*k][B(i)][B(o)], so the gate is first widened to (I/B, 1, B, B) by a K=1 MatMul
  with ones: ORT's Mul broadcasts an innermost size-1 axis one span of B at a time, which costs
  more than the map pass it replaces, while (I/B, 1, B, B) against the weight runs in spans of B*B.
- `depthwise-1x1`: any other NCHWc consumer (a 1x1 projection, a residual Add): a depthwise 1x1
  NchwcConv whose weight is the gate. An NCHWc tensor of shape (1, Cpad, 1, 1) is laid out like
  a plain vector, so the gate reshaped to (Cpad, 1, 1, 1) is that conv's weight as is; one
  product per element, the same float multiply the NCHW Mul did (bit-identical outputs).
- `pooled`: the scaled map only feeds the head's GlobalAveragePool: mean(x * g) = g * mean(x),
  so the pool runs in NCHWc on x and the gate multiplies the pooled vector.
- `producer-weights`: x is written by a linear NchwcConv (no fused activation) and the gate
  does not depend on x (stages.compile.se_producer moved the squeeze before that conv), where
  the map holds MAP_PER_WEIGHT x the conv's weights: W'[o] = W[o] * g[o], b' = b * g, so the
  conv writes x * g itself (AVX2's block 8 runs ShuffleNet v1's grouped expand convs and
  SE-ResNet's conv3 in NCHWc); a residual Add (+ Relu) reading x * g becomes that conv's Sum
  input and activation, ORT's own Conv + Add + Relu fusion of the model without SE.

A gate ORT computes in NCHW (its second FC in NCHW: fewer input channels than a multiple of
4, MobileNetV2's 9 at block 8) is used as it is when C is a block multiple: a (1, C, 1, 1)
NCHWc tensor is then the same vector. A map ORT computes in NCHW (Paddle2ONNX's decomposed
HardSwish ends in a Div) read through one ReorderInput by NchwcConvs takes the weight forms
with that ReorderInput moved before the Mul: it reorders x, and the NCHW multiply pass goes.
- `kept`: anything else stays as ORT had it, with the reason in the manifest.

Hand-written on onnx protos rather than with an optimizer library: no maintained tool knows
ORT's com.microsoft.nchwc ops or their blocked layouts.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

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
from se_deploy.core.onnx.se_roles import NCHWC_GATE_PREFIX
from se_deploy.core.shapes import declared_dims

NCHWC_DOMAIN = "com.microsoft.nchwc"


class GateForm(enum.StrEnum):
    WEIGHTS = "depthwise-weights"  # (a) the gate scales the consuming depthwise conv's weights
    INPUT_WEIGHTS = "conv-weights"  # (a) the gate scales a full conv's input-channel weights
    CONV = "depthwise-1x1"  # (b) a depthwise 1x1 NchwcConv with the gate as its weight
    CONV_SUM = "depthwise-1x1-sum"  # (b) fused with the residual Add (+ Relu) reading x * g
    POOLED = "pooled"  # (c) the head pool runs on x, the gate scales the pooled vector
    PRODUCER = "producer-weights"  # the gate scales the linear 1x1 conv writing x (se_producer)
    INT8_SCALE = "int8-unit-conv"  # INT8: unit-weight depthwise QLinearConv, gate as its scale
    KEPT = "kept"  # left as ORT had it (reason recorded)


@dataclass(frozen=True)
class BlockPlacement:
    """Where one SE block's gate ended up, and why."""

    block: str
    form: GateForm
    consumer: str  # what reads the scaled map, as found in ORT's graph
    reason: str = ""
    squeeze_input: str = ""  # set when the squeeze pools the producing conv's input instead
    pool_moved: bool = False  # ORT's NCHW pool between reorders now pools the NCHWc map

    def to_dict(self) -> dict[str, Any]:
        return {
            "block": self.block,
            "form": str(self.form),
            "consumer": self.consumer,
            **({"reason": self.reason} if self.reason else {}),
            **({"squeeze_input": self.squeeze_input} if self.squeeze_input else {}),
            **({"pool": "moved into NCHWc"} if self.pool_moved else {}),
        }


@dataclass
class _Rewrite:
    """Replacements collected over one scan of an unmodified graph, applied at the end."""

    model: onnx.ModelProto
    names: NameAllocator
    replacements: dict[str, list[onnx.NodeProto]] = field(default_factory=dict)
    removed: set[str] = field(default_factory=set)

    def constant(self, base: str, value: np.ndarray) -> str:
        return add_initializer(self.model.graph, self.names, base, value)

    def node(self, op: str, inputs: list[str], outputs: list[str], domain: str = "", **attrs):
        return helper.make_node(
            op, inputs, outputs, name=self.names(f"{NCHWC_GATE_PREFIX}{op}"), domain=domain, **attrs
        )


# A weight multiply costs about what a map element's pass does (0.3-0.5 ns each, 1 thread), but
# the weights come from a cold cache and the map from a warm one: measured on se_mobilenet_v2 at
# 224 (Xeon AVX-512, block 16), gating the 6 blocks whose maps hold >= 4x their projection's
# weights was 1.089x faster than the depthwise-1x1 gate conv everywhere, gating 13 (>= 1x) 1.059x.
MAP_PER_WEIGHT = 4

ALL_FORMS = frozenset(
    {GateForm.WEIGHTS, GateForm.INPUT_WEIGHTS, GateForm.CONV, GateForm.POOLED, GateForm.PRODUCER}
)


def place_se_gates(
    optimized: onnx.ModelProto,
    blocks: Iterable[SEBlock],
    block_size: int,
    forms: frozenset[GateForm] = ALL_FORMS,
) -> tuple[onnx.ModelProto, list[BlockPlacement]]:
    """Rewrite every SE gate Mul ORT left in NCHW between reorders; `blocks` come from the SE
    finder on the source graph (ORT keeps the NCHW tensor names), `block_size` is the NCHWc
    block of the machine that optimized the graph (16 with AVX-512, 8 with AVX2). `forms`
    limits the forms tried (the bit-exact `depthwise-1x1` alone, for comparisons)."""
    model = working_copy(optimized)
    index = GraphIndex(model)
    rewrite = _Rewrite(model, NameAllocator(model.graph))
    if static_batch(model) != 1:  # one gate per image: a conv weight serves a whole batch
        forms = forms & {GateForm.POOLED}
    by_name = {node.name: node for node in model.graph.node}
    placements = [
        replace(
            _place(index, rewrite, block, block_size, forms),
            pool_moved=_pool_in_layout(index, rewrite, by_name.get(block.nodes[0])),
        )
        for block in blocks
    ]
    for node in model.graph.node:
        if node.name in rewrite.removed:
            rewrite.replacements.setdefault(node.name, [])
    model = replace_roots(model, rewrite.replacements)
    return prune(model), placements


def _place(
    index: GraphIndex, rewrite: _Rewrite, block: SEBlock, size: int, forms: frozenset[GateForm]
) -> BlockPlacement:
    mul = index.producer.get(block.output)
    if mul is None or mul.op_type != "Mul" or mul.domain or block.scale not in mul.input:
        why = "ORT fused the gate Mul (an int8 graph runs it as QLinearMul, not in NCHWc)"
        return BlockPlacement(block.name, GateForm.KEPT, "-", why)
    readers = index.consumers.get(block.output, [])
    consumer = _describe(index, readers)
    x_nchw = mul.input[1 - list(mul.input).index(block.scale)]
    gate = _blocked_gate(index, rewrite, block, size)
    if GateForm.PRODUCER in forms and (
        producer := _nchwc_producer(index, mul, block, x_nchw, gate, size)
    ):
        _scaled_producer(index, rewrite, mul, producer, size, _residual(index, mul, readers))
        return BlockPlacement(block.name, GateForm.PRODUCER, consumer)
    reorders = [index.producer.get(name) for name in mul.input]
    nchw_map = not _is_reorder_out(index.producer.get(x_nchw))
    if nchw_map:  # the weight forms only, with the ReorderInput moved before the Mul
        forms = forms & {GateForm.WEIGHTS, GateForm.INPUT_WEIGHTS}
        if not forms or len(readers) != 1 or _op(readers[0]) != "nchwc:ReorderInput":
            why = "the map is computed in NCHW (ORT left it out of NCHWc): no reorder to remove"
            return BlockPlacement(block.name, GateForm.KEPT, consumer, why)
    x = readers[0].output[0] if nchw_map else index.producer[x_nchw].input[0]
    if block.output in index.graph_outputs:
        return BlockPlacement(block.name, GateForm.KEPT, consumer, "the scaled map is an output")
    padded = -(-block.channels // size) * size
    pooled = GateForm.POOLED in forms and len(readers) == 1
    if pooled and _op(readers[0]) == "GlobalAveragePool":
        _pooled(rewrite, mul, readers[0], x, gate, block.channels)
        form = GateForm.POOLED
    elif (
        GateForm.WEIGHTS in forms
        and (dwconvs := _conv_readers(index, readers, padded, size, depthwise=True)) is not None
    ):
        _scaled_weights(index, rewrite, mul, readers[0], dwconvs, x, gate, size, depthwise=True)
        form = GateForm.WEIGHTS
    elif (
        GateForm.INPUT_WEIGHTS in forms
        and (convs := _conv_readers(index, readers, padded, size, depthwise=False)) is not None
        and _fewer_weights_than_map(index, convs, mul.output[0], padded)
    ):
        _scaled_weights(index, rewrite, mul, readers[0], convs, x, gate, size, depthwise=False)
        form = GateForm.INPUT_WEIGHTS
    elif GateForm.CONV in forms and any(_op(n) == "nchwc:ReorderInput" for n in readers):
        _gate_conv(rewrite, mul, readers, x, gate, padded, block.channels)
        form = GateForm.CONV
    elif GateForm.CONV in forms and (residual := _residual(index, mul, readers)) is not None:
        _gate_conv_with_sum(index, rewrite, residual, x, gate, padded, block.channels)
        form = GateForm.CONV_SUM
    elif nchw_map:
        why = (
            "the map is computed in NCHW (ORT left it out of NCHWc) and the convs reading it "
            f"take no gate in their weights (map < {MAP_PER_WEIGHT}x their weights)"
        )
        return BlockPlacement(block.name, GateForm.KEPT, consumer, why)
    else:
        return BlockPlacement(block.name, GateForm.KEPT, consumer, _no_fit(forms, readers))
    if nchw_map:
        _reorder_the_map_itself(rewrite, readers[0], x_nchw)
    rewrite.removed.add(mul.name)
    for reorder in filter(_is_reorder_out, reorders):
        if all(node.name == mul.name for node in index.consumers[reorder.output[0]]):
            rewrite.removed.add(reorder.name)
    return BlockPlacement(block.name, form, consumer)


def _reorder_the_map_itself(rewrite: _Rewrite, reorder_in: onnx.NodeProto, x: str) -> None:
    """A map ORT computes in NCHW (Paddle's decomposed HardSwish, an NCHW Add) keeps its one
    ReorderInput, now of x instead of x * g: the convs after it take the gate in their weights,
    and the NCHW multiply pass goes."""
    moved = onnx.NodeProto()
    moved.CopyFrom(reorder_in)
    moved.input[0] = x
    rewrite.removed.discard(reorder_in.name)
    rewrite.replacements[reorder_in.name] = [moved]


def _pool_in_layout(index: GraphIndex, rewrite: _Rewrite, pool: onnx.NodeProto | None) -> bool:
    """ORT pools in NCHW, between a ReorderOutput and the FC's ReorderInput, a map whose
    channels are no multiple of the block (MobileNetV3's 72 and 120 at block 16): pool the
    blocked map itself, one NCHWc pass instead of a reorder pass, an NCHW pool and a reorder.
    The padded channels' means meet the zero-padded input channels of the FC's filter."""
    if pool is None or _op(pool) != "GlobalAveragePool":
        return False
    source = index.producer.get(pool.input[0])
    readers = index.consumers.get(pool.output[0], [])
    if not _is_reorder_out(source) or pool.output[0] in index.graph_outputs:
        return False
    if len(readers) != 1 or _op(readers[0]) != "nchwc:ReorderInput":
        return False
    blocked = [source.input[0]]
    pooled = rewrite.node("GlobalAveragePool", blocked, list(readers[0].output), NCHWC_DOMAIN)
    rewrite.replacements[pool.name] = [pooled]
    rewrite.removed.add(readers[0].name)
    return True


def _no_fit(forms: frozenset[GateForm], readers: list[onnx.NodeProto]) -> str:
    """Why no form fits a block whose map is in NCHWc: its readers, or the forms tried (a batch
    other than a static 1 allows only `pooled`: one gate per image is no conv weight)."""
    if forms == ALL_FORMS:
        if any(_op(node) == "nchwc:Conv" for node in readers):
            return (
                "an NchwcConv reads the scaled map in NCHW (ORT's form for fewer input channels "
                "than the NCHWc block): no blocked reader to hand an NCHWc gate to"
            )
        return "every reader of the scaled map runs in NCHW: an NCHWc gate saves no pass"
    tried = ", ".join(sorted(forms)) or "none"
    return f"no form tried ({tried}; the weight forms need a static batch of 1) fits its readers"


def static_batch(model: onnx.ModelProto) -> int | None:
    dims = model.graph.input[0].type.tensor_type.shape.dim
    return dims[0].dim_value if dims and dims[0].HasField("dim_value") else None


def _describe(index: GraphIndex, readers: list[onnx.NodeProto]) -> str:
    """What reads the scaled map, looking through ReorderInput: 'nchwc:Conv dw3x3, Add'."""
    names = set()
    for node in readers:
        if _op(node) == "nchwc:ReorderInput":
            names |= {_conv_kind(index, n) for n in index.consumers.get(node.output[0], [])}
        else:
            names.add(_op(node))
    return reader_summary(names)


def reader_summary(kinds: Iterable[str]) -> str:
    """The manifest's `consumer`: the reading ops, sorted and once each."""
    return ", ".join(sorted(set(kinds))) or "graph output"


def _conv_kind(index: GraphIndex, node: onnx.NodeProto) -> str:
    weight = index.initializers.get(node.input[1]) if len(node.input) > 1 else None
    if "Conv" not in node.op_type or weight is None:
        return _op(node)
    kind = "dw" if weight.dims[1] == 1 and attribute(node, "group", 1) > 1 else "conv"
    return f"{_op(node)} {kind}{weight.dims[2]}x{weight.dims[3]}"


def _op(node: onnx.NodeProto) -> str:
    return f"nchwc:{node.op_type}" if node.domain == NCHWC_DOMAIN else node.op_type


def _is_reorder_out(node: onnx.NodeProto | None) -> bool:
    return node is not None and _op(node) == "nchwc:ReorderOutput"


def _conv_readers(
    index: GraphIndex, readers: list[onnx.NodeProto], padded: int, size: int, depthwise: bool
) -> list[onnx.NodeProto] | None:
    """The NchwcConvs that alone read the scaled map (through its one ReorderInput), each with a
    stored weight in blocks of `size` output channels: depthwise ones of `padded` channels, or
    full (group 1) ones of `padded` input channels; None when the map has any other reader."""
    if len(readers) != 1 or _op(readers[0]) != "nchwc:ReorderInput":
        return None
    blocked = readers[0].output[0]
    convs = index.consumers.get(blocked, [])
    if not convs or blocked in index.graph_outputs:
        return None
    for conv in convs:
        weight = index.initializers.get(conv.input[1]) if len(conv.input) > 1 else None
        if _op(conv) != "nchwc:Conv" or conv.input[0] != blocked or weight is None:
            return None
        group = attribute(conv, "group", 1)
        fits = (
            list(weight.dims[:2]) == [padded, 1] and group == padded
            if depthwise
            else weight.dims[1] == padded and group == 1 and weight.dims[0] % size == 0
        )
        if not fits:
            return None
    return convs


def _fewer_weights_than_map(
    index: GraphIndex, convs: list[onnx.NodeProto], nchw_map: str, padded: int
) -> bool:
    """Scaling the convs' weights pays where the (padded) map has MAP_PER_WEIGHT times more
    elements than the weights: the early blocks' large maps."""
    dims = _nchw_dims(index, nchw_map)
    if len(dims) != 4 or not all(isinstance(dim, int) for dim in dims):
        return False
    weights = sum(int(np.prod(index.initializers[conv.input[1]].dims)) for conv in convs)
    return MAP_PER_WEIGHT * weights <= padded * dims[2] * dims[3]


def _nchw_dims(index: GraphIndex, name: str) -> list[int | str]:
    """The dims ORT's saved graph declares for an NCHW tensor ('?' each when it declares none)."""
    value = next((value for value in index.graph.value_info if value.name == name), None)
    return declared_dims(value) if value is not None else ["?"]


def _pooled(
    rewrite: _Rewrite, mul: onnx.NodeProto, pool: onnx.NodeProto, x: str, gate: str, channels: int
) -> None:
    """(c) mean(x * g) = g * mean(x): pool x in NCHWc, scale the (1, Cpad, 1, 1) vector."""
    pooled, scaled = rewrite.names(f"{pool.output[0]}_nchwc"), rewrite.names(f"{mul.output[0]}_v")
    rewrite.replacements[mul.name] = [
        rewrite.node("GlobalAveragePool", [x], [pooled], NCHWC_DOMAIN),
        rewrite.node("Mul", [pooled, gate], [scaled]),
        rewrite.node("ReorderOutput", [scaled], [pool.output[0]], NCHWC_DOMAIN, channels=channels),
    ]
    rewrite.removed.add(pool.name)


def _scaled_weights(
    index: GraphIndex,
    rewrite: _Rewrite,
    mul: onnx.NodeProto,
    reorder_in: onnx.NodeProto,
    convs: list[onnx.NodeProto],
    x: str,
    gate: str,
    size: int,
    depthwise: bool,
) -> None:
    """(a) conv(x * g) = conv'(x) with the gate in each conv's stored weight, per run: each conv
    reads x straight from its producer; the NCHW Mul and the ReorderInput go."""
    nodes, lanes, view = (_depthwise_gate if depthwise else _input_lane_gate)(rewrite, gate, size)
    for conv in convs:
        scaling, changed = _gated_conv(index, rewrite, conv, lanes, view)
        nodes += scaling
        changed.input[0] = x
        rewrite.replacements[conv.name] = [changed]
    rewrite.replacements[mul.name] = nodes
    rewrite.removed.add(reorder_in.name)


WeightView = Callable[[list[int]], list[int]]


def _gated_conv(
    index: GraphIndex, rewrite: _Rewrite, conv: onnx.NodeProto, lanes: str, view: WeightView
) -> tuple[list[onnx.NodeProto], onnx.NodeProto]:
    """The nodes computing the conv's stored weight times the gate `lanes` (the weight seen
    under `view`, then back to its stored dims), and a copy of the conv reading that product."""
    weight = index.initializers[conv.input[1]]
    dims = list(weight.dims)
    stored_shape = rewrite.constant(f"{weight.name}_shape", np.array(dims, np.int64))
    scaled, out = (rewrite.names(f"{conv.name}/{part}") for part in ("w_scaled", "weight"))
    nodes = [
        rewrite.node("Mul", [_blocked_copy(rewrite, weight, view(dims)), lanes], [scaled]),
        rewrite.node("Reshape", [scaled, stored_shape], [out]),
    ]
    changed = onnx.NodeProto()
    changed.CopyFrom(conv)
    changed.input[1] = out
    return nodes, changed


def _depthwise_gate(
    rewrite: _Rewrite, gate: str, size: int
) -> tuple[list[onnx.NodeProto], str, WeightView]:
    """W'[o] = W[o] * g[o], output lanes: the stored OIHWBo (depthwise, [C/B][k*k][B]) or
    OIHWBiBo ([O/B][I/B][k*k][B][B]) weight seen as (O/B, rest, B) against the gate as
    (O/B, 1, B)."""
    blocks = rewrite.constant(f"{gate}_blocks", np.array([-1, 1, size], np.int64))
    lanes = rewrite.names(f"{gate}/blocks")
    nodes = [rewrite.node("Reshape", [gate, blocks], [lanes])]
    return nodes, lanes, lambda dims: [dims[0] // size, int(np.prod(dims[1:])), size]


def _input_lane_gate(
    rewrite: _Rewrite, gate: str, size: int
) -> tuple[list[onnx.NodeProto], str, WeightView]:
    """Dense: W'[o, i] = W[o, i] * g[i], the stored OIHWBiBo weight [O/B][I/B][k*k][B][B]
    against the gate widened to (I/B, 1, B, B), g[i] in every output lane ((C, 1) @ ones(1, B),
    exact)."""
    column = rewrite.constant(f"{gate}_column", np.array([-1, 1], np.int64))
    ones = rewrite.constant(f"{gate}_lanes", np.ones((1, size), np.float32))
    blocks = rewrite.constant(f"{gate}_lane_blocks", np.array([-1, 1, size, size], np.int64))
    g, wide, lanes = (rewrite.names(f"{gate}/{part}") for part in ("column", "wide", "blocks"))
    nodes = [
        rewrite.node("Reshape", [gate, column], [g]),
        rewrite.node("MatMul", [g, ones], [wide]),
        rewrite.node("Reshape", [wide, blocks], [lanes]),
    ]
    return nodes, lanes, lambda d: [d[0] // size, d[1] // size, int(np.prod(d[2:])), size, size]


@dataclass(frozen=True)
class _NchwcProducer:
    """x = ReorderOutput(conv(y)), a linear NchwcConv (no fused activation or Sum) whose
    output only the gate Mul reads, with a gate that does not depend on x (se_producer moved
    the squeeze onto y): ShuffleNet v1's grouped expand conv where ORT blocks it (AVX2)."""

    conv: onnx.NodeProto
    reorder: onnx.NodeProto
    gate: str  # (1, Cpad, 1, 1): the blocked gate, or the NCHW one when C is a block multiple


def _nchwc_producer(
    index: GraphIndex, mul: onnx.NodeProto, block: SEBlock, x: str, gate: str, size: int
) -> _NchwcProducer | None:
    reorder = index.producer.get(x)
    if not _is_reorder_out(reorder) or [n.name for n in index.consumers[x]] != [mul.name]:
        return None
    conv = index.producer.get(reorder.input[0])
    if conv is None or _op(conv) != "nchwc:Conv" or len(index.consumers[conv.output[0]]) != 1:
        return None
    weight = index.initializers.get(conv.input[1])
    bias = conv.input[2] if len(conv.input) > 2 else ""
    linear = attribute(conv, "activation", None) is None and len(conv.input) <= 3
    if weight is None or not linear or (bias and bias not in index.initializers):
        return None
    if weight.dims[0] % size or conv.output[0] in _ancestors(index, block.scale):
        return None
    if not _fewer_weights_than_map(index, [conv], mul.output[0], weight.dims[0]):
        return None
    return _NchwcProducer(conv, reorder, gate)


def _blocked_gate(index: GraphIndex, rewrite: _Rewrite, block: SEBlock, size: int) -> str:
    """The gate as an NCHWc (1, Cpad, 1, 1) tensor: what ORT reordered out, or, where ORT runs
    the second FC in NCHW (more input channels than a block, no multiple of 4: MobileNetV2's 9
    at block 8), the NCHW gate itself, zero-padded to Cpad when C is no block multiple (a
    (1, C, 1, 1) vector's bytes are its NCHWc form; the padded lanes meet zero map lanes and
    zero weights)."""
    source = index.producer.get(block.scale)
    if _is_reorder_out(source):
        return source.input[0]
    missing = -block.channels % size
    if not missing or source is None:
        return block.scale
    zeros = rewrite.constant(f"{block.scale}_pad", np.zeros((1, missing, 1, 1), np.float32))
    padded = rewrite.names(f"{block.scale}/padded")
    copy = onnx.NodeProto()
    copy.CopyFrom(source)
    pad = rewrite.node("Concat", [block.scale, zeros], [padded], axis=1)
    rewrite.replacements.setdefault(source.name, [copy]).append(pad)
    return padded


def _ancestors(index: GraphIndex, name: str) -> set[str]:
    """Every tensor `name` is computed from."""
    seen, stack = set(), [name]
    while stack:
        node = index.producer.get(stack.pop())
        for source in node.input if node is not None else []:
            if source and source not in seen:
                seen.add(source)
                stack.append(source)
    return seen


def _scaled_producer(
    index: GraphIndex,
    rewrite: _Rewrite,
    mul: onnx.NodeProto,
    producer: _NchwcProducer,
    size: int,
    residual: _ResidualAdd | None,
) -> None:
    """x * g = conv'(y) with W'[o] = W[o] * g[o] and b' = b * g, computed per run (NchwcConv
    reads its weight every run), placed after the gate where the Mul was; when a residual Add
    (+ Relu) reads x * g, it becomes the conv's Sum input and activation (the Conv + Add + Relu
    fusion ORT makes in the model without SE), placed where the Add was."""
    nodes, changed = _gated_producer_conv(index, rewrite, producer, size)
    rewrite.removed.update({producer.conv.name, producer.reorder.name})
    output, root = mul.output[0], mul
    if residual is not None:
        changed.input.extend([""] * (3 - len(changed.input)) + [residual.shortcut])
        if residual.relu is not None:
            changed.attribute.append(helper.make_attribute("activation", "Relu"))
            rewrite.removed.add(residual.relu.name)
        rewrite.removed.add(mul.name)
        output, root = residual.output, residual.add
    channels = attribute(producer.reorder, "channels")
    readers, nchw_too = index.consumers.get(output, []), output in index.graph_outputs
    changed.output[0], tail = _blocked_output(rewrite, readers, output, channels, nchw_too)
    rewrite.replacements[root.name] = [*nodes, changed, *tail]


def _gated_producer_conv(
    index: GraphIndex, rewrite: _Rewrite, producer: _NchwcProducer, size: int
) -> tuple[list[onnx.NodeProto], onnx.NodeProto]:
    """The nodes computing W * g and b * g, and a copy of the producing conv reading them."""
    conv, gate = producer.conv, producer.gate
    weight = index.initializers[conv.input[1]]
    blocked_input = weight.dims[1] % size == 0  # OIHWBiBo; else OIHWBo (depthwise, NCHW input)
    nodes, lanes, view = (_output_lane_gate if blocked_input else _depthwise_gate)(
        rewrite, gate, size
    )
    scaling, changed = _gated_conv(index, rewrite, conv, lanes, view)
    nodes += scaling
    if len(conv.input) > 2 and conv.input[2]:
        vector = rewrite.constant(f"{gate}_vector", np.array([-1], np.int64))
        flat, bias = (rewrite.names(f"{conv.name}/{part}") for part in ("gate", "bias"))
        nodes += [
            rewrite.node("Reshape", [gate, vector], [flat]),
            rewrite.node("Mul", [conv.input[2], flat], [bias]),
        ]
        changed.input[2] = bias
    return nodes, changed


def _output_lane_gate(
    rewrite: _Rewrite, gate: str, size: int
) -> tuple[list[onnx.NodeProto], str, WeightView]:
    """Dense producer: W'[o, i] = W[o, i] * g[o], the stored OIHWBiBo weight seen as
    (O/B, I*k*k/B, B*B) against the gate widened to (O/B, 1, B*B), g[o] in every input lane:
    one (O/B, B) @ (B, B*B) GEMM with a 0/1 tiling matrix (exact: each output is one product
    by 1). Spans of B*B, not B, per broadcast step of the weight multiply."""
    rows = rewrite.constant(f"{gate}_rows", np.array([-1, 1, size], np.int64))
    tiling = np.tile(np.eye(size, dtype=np.float32), (1, size))  # [bo', bi*B + bo] = bo' == bo
    tiles = rewrite.constant(f"{gate}_in_lanes", tiling)
    g, lanes = (rewrite.names(f"{gate}/{part}") for part in ("rows", "lanes"))
    nodes = [
        rewrite.node("Reshape", [gate, rows], [g]),
        rewrite.node("MatMul", [g, tiles], [lanes]),
    ]
    return nodes, lanes, lambda d: [d[0] // size, int(np.prod(d[1:])) // size, size * size]


def _blocked_copy(rewrite: _Rewrite, weight: onnx.TensorProto, dims: list[int]) -> str:
    """The stored weight's bytes under a (C/B, k*k, B) shape: no Reshape node per run."""
    copy = onnx.TensorProto()
    copy.CopyFrom(weight)
    copy.name = rewrite.names(f"{weight.name}_blocks")
    del copy.dims[:]
    copy.dims.extend(dims)
    rewrite.model.graph.initializer.append(copy)
    return copy.name


@dataclass(frozen=True)
class _ResidualAdd:
    """x * g read only by an NCHW Add with a map of the same shape that ORT also holds in
    NCHWc (reordered out for the Add, or reordered in for another conv), optionally followed by
    a Relu: ResNet's merge, ShuffleNet v1's stride-1 unit."""

    add: onnx.NodeProto
    relu: onnx.NodeProto | None
    shortcut: str  # the NCHWc form of the Add's other input

    @property
    def output(self) -> str:
        return (self.relu or self.add).output[0]


def _residual(
    index: GraphIndex, mul: onnx.NodeProto, readers: list[onnx.NodeProto]
) -> _ResidualAdd | None:
    if len(readers) != 1 or _op(readers[0]) != "Add" or mul.output[0] in index.graph_outputs:
        return None
    add = readers[0]
    others = [name for name in add.input if name != mul.output[0]]
    if len(others) != 1 or add.output[0] in index.graph_outputs:
        return None
    dims = [_nchw_dims(index, name) for name in (others[0], mul.output[0])]
    if dims[0] != dims[1] or not all(isinstance(dim, int) for dim in dims[0]):
        return None
    shortcut = _blocked_form(index, others[0])
    if shortcut is None:
        return None
    relu = index.sole_consumer(add.output[0])
    return _ResidualAdd(add, relu if relu is not None and _op(relu) == "Relu" else None, shortcut)


def _blocked_form(index: GraphIndex, name: str) -> str | None:
    """The NCHWc tensor ORT computes `name` from, or reorders it into for another reader."""
    producer = index.producer.get(name)
    if _is_reorder_out(producer):
        return producer.input[0]
    reorders = [n for n in index.consumers.get(name, []) if _op(n) == "nchwc:ReorderInput"]
    return reorders[0].output[0] if reorders else None


def _gate_conv_with_sum(
    index: GraphIndex,
    rewrite: _Rewrite,
    residual: _ResidualAdd,
    x: str,
    gate: str,
    padded: int,
    channels: int,
) -> None:
    """(b) with the merge fused: one depthwise 1x1 NchwcConv computes act(x * g + shortcut)
    (NchwcConv's Sum input, the fusion ORT itself makes for Conv + Add + Relu), in place of the
    NCHW Mul, Add and Relu and the reorders around them."""
    rewrite.replacements[residual.add.name] = _gate_conv_nodes(
        rewrite,
        x,
        gate,
        index.consumers.get(residual.output, []),
        residual.output,
        padded,
        channels,
        sum_input=residual.shortcut,
        nchw_too=residual.output in index.graph_outputs,
        **({"activation": "Relu"} if residual.relu is not None else {}),
    )
    if residual.relu is not None:
        rewrite.removed.add(residual.relu.name)


def _gate_conv(
    rewrite: _Rewrite,
    mul: onnx.NodeProto,
    readers: list[onnx.NodeProto],
    x: str,
    gate: str,
    padded: int,
    channels: int,
) -> None:
    """(b) a depthwise 1x1 NchwcConv with the gate as its weight replaces the NCHW Mul and the
    ReorderInput(s) after it."""
    rewrite.replacements[mul.name] = _gate_conv_nodes(
        rewrite, x, gate, readers, mul.output[0], padded, channels
    )


def _gate_conv_nodes(
    rewrite: _Rewrite,
    x: str,
    gate: str,
    readers: list[onnx.NodeProto],
    nchw_name: str,
    padded: int,
    channels: int,
    sum_input: str = "",
    nchw_too: bool = False,
    **attrs: Any,
) -> list[onnx.NodeProto]:
    """The gate conv writing what the ReorderInput(s) among `readers` wrote (they go), and one
    ReorderOutput to `nchw_name` for the NCHW readers besides them (or when `nchw_too`)."""
    out, tail = _blocked_output(rewrite, readers, nchw_name, channels, nchw_too)
    shape = rewrite.constant(f"{gate}_dw_shape", np.array([padded, 1, 1, 1], np.int64))
    weight = rewrite.names(f"{gate}_dw")
    inputs = [x, weight, "", sum_input] if sum_input else [x, weight]
    nodes = [
        rewrite.node("Reshape", [gate, shape], [weight]),
        rewrite.node(
            "Conv",
            inputs,
            [out],
            NCHWC_DOMAIN,
            group=padded,
            kernel_shape=[1, 1],
            strides=[1, 1],
            dilations=[1, 1],
            pads=[0, 0, 0, 0],
            **attrs,
        ),
    ]
    return nodes + tail


def _blocked_output(
    rewrite: _Rewrite, readers: list[onnx.NodeProto], nchw_name: str, channels: int, nchw_too: bool
) -> tuple[str, list[onnx.NodeProto]]:
    """The NCHWc tensor a rewritten node writes for `readers` of `nchw_name`: what their
    ReorderInput(s) wrote (they go), and the nodes after it: an Identity per further
    ReorderInput, one ReorderOutput to `nchw_name` for the NCHW readers (or when `nchw_too`)."""
    reorder_ins = [node for node in readers if _op(node) == "nchwc:ReorderInput"]
    out = reorder_ins[0].output[0] if reorder_ins else rewrite.names(f"{nchw_name}_nchwc")
    tail = [rewrite.node("Identity", [out], [other.output[0]]) for other in reorder_ins[1:]]
    if len(reorder_ins) < len(readers) or nchw_too:
        tail.append(
            rewrite.node("ReorderOutput", [out], [nchw_name], NCHWC_DOMAIN, channels=channels)
        )
    rewrite.removed.update(node.name for node in reorder_ins)
    return out, tail
