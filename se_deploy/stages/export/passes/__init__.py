"""Graph passes: each a pure `ModelProto -> ModelProto` function, one per file, tested alone.

A pipeline is a sequence of passes; `run_passes` applies one and records each pass's node counts
for the manifest. `EXPORT_PASSES` is the order `se-deploy export` uses: gates are fused before
SE canonicalization (which needs a one-op gate) and onnxsim runs on the cleaned graph;
`export_passes` appends the opt-in SE gate form after it. Each pass declares the opsets it may
run on (`opsets.runs_on`); outside them it is skipped and its record says why.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import onnx

from se_deploy.core.choices import SeGateForm
from se_deploy.core.onnx.graph import node_count
from se_deploy.core.onnx.se_gate import collapse_se_gates, expand_se_gates
from se_deploy.stages.export.passes.batchnorm import fold_batchnorm
from se_deploy.stages.export.passes.dead_nodes import remove_dead_nodes
from se_deploy.stages.export.passes.hard_sigmoid import fuse_hard_sigmoid
from se_deploy.stages.export.passes.hard_swish import fuse_hard_swish
from se_deploy.stages.export.passes.identity import remove_identity
from se_deploy.stages.export.passes.opsets import GraphPass, runs_on, skip_reason
from se_deploy.stages.export.passes.se_canonical import canonicalize_se
from se_deploy.stages.export.passes.simplify import simplify

EXPORT_PASSES: tuple[GraphPass, ...] = (
    remove_identity,
    fold_batchnorm,
    fuse_hard_sigmoid,
    fuse_hard_swish,
    canonicalize_se,
    remove_dead_nodes,
    simplify,
)


# Resize with a scales input exists from opset 11 on.
SE_GATE_FORMS: dict[SeGateForm, tuple[GraphPass, ...]] = {
    SeGateForm.BROADCAST: (),
    SeGateForm.RESIZE: (runs_on(11)(expand_se_gates),),
}


def export_passes(se_gate: SeGateForm = SeGateForm.BROADCAST) -> tuple[GraphPass, ...]:
    """The export passes for an SE gate form (a key of SE_GATE_FORMS)."""
    return EXPORT_PASSES + SE_GATE_FORMS[se_gate]


@dataclass(frozen=True)
class PassRecord:
    name: str
    nodes_before: int
    nodes_after: int
    seconds: float
    skipped: str | None = None  # why the pass did not run on this model (its opset)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_passes(
    model: onnx.ModelProto, passes: Sequence[GraphPass] = EXPORT_PASSES
) -> tuple[onnx.ModelProto, list[PassRecord]]:
    """Apply `passes` in order; return the result and one record per pass."""
    records = []
    for graph_pass in passes:
        before, start = node_count(model), time.perf_counter()
        skipped = skip_reason(graph_pass, model)
        model = graph_pass(model)
        seconds = round(time.perf_counter() - start, 4)
        records.append(PassRecord(graph_pass.__name__, before, node_count(model), seconds, skipped))
    return model, records


__all__ = [
    "EXPORT_PASSES",
    "SE_GATE_FORMS",
    "GraphPass",
    "PassRecord",
    "canonicalize_se",
    "collapse_se_gates",
    "expand_se_gates",
    "export_passes",
    "fold_batchnorm",
    "fuse_hard_sigmoid",
    "fuse_hard_swish",
    "remove_dead_nodes",
    "remove_identity",
    "run_passes",
    "simplify",
]
