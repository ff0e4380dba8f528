"""Remove dead nodes: nodes, initializers and value_info no graph output depends on."""

from __future__ import annotations

import onnx

from se_deploy.core.onnx.graph import clone, prune
from se_deploy.stages.export.passes.opsets import runs_on


@runs_on(1)
def remove_dead_nodes(model: onnx.ModelProto) -> onnx.ModelProto:
    """Keep only what the graph outputs need; rewrites leave their bypassed nodes to this."""
    return prune(clone(model))
