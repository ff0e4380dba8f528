"""Where the time goes: profiler node/layer times split into "in SE blocks" and the rest.

A runtime reports the nodes it ran, which are not the source ONNX nodes: ORT fuses (Conv+Relu
becomes one FusedConv named after the Conv), renames (the NCHWc pass names a node after its output
tensor plus `_nchwc`; duplicates get `_token_<n>`), and inserts layout nodes (ReorderInput/Output)
that have no source at all; OpenVINO appends `/WithoutBiases`; TensorRT fuses layers into names
like `/a/Conv + /a/Relu` or `PWN(/se/Sigmoid, /se/Mul)` and, built with detailed verbosity, lists
each layer's ONNX origins in its metadata. Mapping back, per reported node:

1. origins the runtime states (TensorRT metadata) are taken as they are;
2. otherwise the name is looked up as a source node name, then as a source tensor name (its
   producer), stripping one known runtime suffix (or the build's `/gated` on a conv it copied to
   read gated weights) at a time until something matches;
3. a TensorRT-style fused name is split on ' + ', 'PWN(', ',' and ')' and each part looked up;
4. what is still unmatched was inserted by the runtime. Given the optimized graph the runtime
   saved (ORT's optimized_model_filepath), an inserted node next to an SE node (its input's
   producer or its output's consumer) is counted as SE: a layout conversion exists there because
   the SE ops broke the layout pass, and the baseline does not pay it. Without that graph,
   inserted time stays in its own bucket.

A node that maps to several source nodes splits its time evenly among them. SE time is also split
by role (core.onnx.se_roles): squeeze, excitation and scale by the source node's role in its
block, a node the build added to place a gate (named by its prefix) as scale, and inserted
layout nodes next to SE as layout.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from se_deploy.backends.base import LayerTime
from se_deploy.core.onnx.se_roles import (
    GATED_CONV_SUFFIX,
    SeRole,
    built_node_role,
    is_built_node,
)

_RUNTIME_SUFFIXES = re.compile(
    r"(_kernel_time|_nchwc|_token_\d+|/duplicated|/WithoutBiases|_(?:De)?[Qq]uantizeLinear"
    rf"|{re.escape(GATED_CONV_SUFFIX)})$"
)
_FUSED_SEPARATORS = re.compile(r" \+ |PWN\(|\)|, ?")
_UNMAPPED_LISTED = 20


@dataclass(frozen=True)
class ProfileSummary:
    """Per-inference microseconds, attributed to SE blocks or the rest."""

    runs: int
    total_us: float
    se_us: float  # SE source nodes, plus inserted nodes adjacent to them
    se_inserted_us: float  # the part of se_us that came from runtime-inserted nodes
    other_us: float
    unattributed_us: float  # inserted nodes with no SE neighbour known
    se_nodes_seen: int  # SE source nodes found in the profile ...
    se_nodes_total: int  # ... of all SE source nodes (coverage check)
    by_op_us: dict[str, float] = field(default_factory=dict)
    se_by_role_us: dict[str, float] = field(default_factory=dict)  # se_us split by SeRole
    unmapped: tuple[str, ...] = ()  # some inserted node names, for inspection

    @property
    def se_fraction(self) -> float:
        return self.se_us / self.total_us if self.total_us else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "runs": self.runs,
            "total_us": self.total_us,
            "se_us": self.se_us,
            "se_inserted_us": self.se_inserted_us,
            "other_us": self.other_us,
            "unattributed_us": self.unattributed_us,
            "se_fraction": self.se_fraction,
            "se_nodes_seen": self.se_nodes_seen,
            "se_nodes_total": self.se_nodes_total,
            "by_op_us": self.by_op_us,
            "se_by_role_us": self.se_by_role_us,
            "unmapped": list(self.unmapped),
        }


class OriginIndex:
    """Maps runtime node/layer names back to source ONNX node names (rules: module doc)."""

    def __init__(self, source: Any | None = None, extra_names: Iterable[str] = ()) -> None:
        nodes = list(source.graph.node) if source is not None else []
        self.names = {node.name for node in nodes} | set(extra_names)
        self.producer = {out: node.name for node in nodes for out in node.output}

    def origins(self, layer: LayerTime) -> tuple[str, ...]:
        if layer.origins:
            return layer.origins
        single = self._lookup(layer.name)
        if single is not None:
            return (single,)
        parts = [p.strip() for p in _FUSED_SEPARATORS.split(layer.name) if p.strip()]
        if len(parts) > 1:  # an unknown part still takes its share, as non-SE time
            return tuple(self._lookup(part) or part for part in parts)
        return ()

    def _lookup(self, name: str) -> str | None:
        while True:
            if name in self.names:
                return name
            if name in self.producer:
                return self.producer[name]
            stripped = _RUNTIME_SUFFIXES.sub("", name)
            if stripped == name:
                return None
            name = stripped


def summarize_profile(
    layers: Sequence[LayerTime],
    se_nodes: Mapping[str, SeRole],
    source: Any | None = None,
    optimized: Any | None = None,
) -> ProfileSummary:
    """Split per-inference time into SE / other / inserted, and SE time by role. `se_nodes` maps
    source node names to their role (from the SE finder); `source` is the ONNX the runtime
    loaded; `optimized` the graph it ran, when saved."""
    index = OriginIndex(source, se_nodes)
    runs = max((layer.calls for layer in layers), default=0) or 1
    se_us = other_us = 0.0
    by_op: dict[str, float] = defaultdict(float)
    by_role: dict[str, float] = {role.value: 0.0 for role in SeRole}
    seen: set[str] = set()
    inserted: list[LayerTime] = []
    for layer in layers:
        per_run = layer.total_us / runs
        by_op[layer.op_type or "?"] += per_run
        origins = index.origins(layer)
        if not origins and source is not None:
            inserted.append(layer)
            continue
        origins = origins or (layer.name,)  # no source graph: unknown names count as "other"
        in_se = [o for o in origins if o in se_nodes]
        seen.update(in_se)
        for origin in in_se:
            by_role[se_nodes[origin]] += per_run / len(origins)
        se_us += per_run * len(in_se) / len(origins)
        other_us += per_run * (len(origins) - len(in_se)) / len(origins)
    se_adjacent = _inserted_next_to_se(inserted, index, se_nodes, optimized)
    inserted_us = 0.0
    unattributed: list[LayerTime] = []
    for layer in inserted:
        role = built_node_role(layer.name, layer.op_type) or (
            SeRole.LAYOUT if layer.name in se_adjacent else None
        )
        if role is None:
            unattributed.append(layer)
            continue
        by_role[role] += layer.total_us / runs
        inserted_us += layer.total_us / runs
    return ProfileSummary(
        runs=runs,
        total_us=sum(layer.total_us for layer in layers) / runs,
        se_us=se_us + inserted_us,
        se_inserted_us=inserted_us,
        other_us=other_us,
        unattributed_us=sum(layer.total_us for layer in unattributed) / runs,
        se_nodes_seen=len(seen),
        se_nodes_total=len(se_nodes),
        by_op_us=dict(sorted(by_op.items(), key=lambda kv: -kv[1])),
        se_by_role_us=by_role,
        unmapped=tuple(layer.name for layer in unattributed[:_UNMAPPED_LISTED]),
    )


def _inserted_next_to_se(
    inserted: Sequence[LayerTime],
    index: OriginIndex,
    se_nodes: Mapping[str, SeRole],
    optimized: Any | None,
) -> set[str]:
    """Names of inserted nodes connected to an SE node (or to a node the build added to place a
    gate) in the optimized graph, following chains of inserted nodes (ReorderOutput ->
    ReorderInput) until nothing changes."""
    if optimized is None or not inserted:
        return set()
    nodes = {node.name: node for node in optimized.graph.node}
    producers = {out: node.name for node in optimized.graph.node for out in node.output}
    consumers: dict[str, list[str]] = defaultdict(list)
    for node in optimized.graph.node:
        for name in node.input:
            consumers[name].append(node.name)

    def is_se(name: str) -> bool:
        return is_built_node(name) or any(o in se_nodes for o in index.origins(LayerTime(name, "")))

    pending = {layer.name for layer in inserted if layer.name in nodes}
    attributed: set[str] = set()
    changed = True
    while changed:
        changed = False
        for name in sorted(pending - attributed):
            node = nodes[name]
            neighbours = [producers[i] for i in node.input if i in producers]
            neighbours += [c for out in node.output for c in consumers[out]]
            if any(n in attributed or is_se(n) for n in neighbours):
                attributed.add(name)
                changed = True
    return attributed


def profile_figures(
    layers: Sequence[LayerTime],
    source: Path | None,
    optimized: Path | None,
    se_finder: Callable[[Any], tuple[dict[str, SeRole], dict[str, int]]],
) -> dict[str, Any]:
    """The profile record of one target: its layer times attributed with the SE nodes the
    finder sees in the `source` ONNX, and the runtime's saved graph when there is one."""
    import onnx

    model = onnx.load(str(source)) if source is not None and source.is_file() else None
    se_nodes, methods = se_finder(model) if model is not None else ({}, {})
    graph = onnx.load(str(optimized)) if optimized is not None and optimized.is_file() else None
    summary = summarize_profile(layers, se_nodes, model, graph)
    return {**summary.to_dict(), "se_nodes_found": methods}
