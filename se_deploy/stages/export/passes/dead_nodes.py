"""Remove dead nodes: nodes, initializers and value_info no graph output depends on."""

from __future__ import annotations

import onnx

from se_deploy.core.onnx.graph import clone, prune


def remove_dead_nodes(model: onnx.ModelProto) -> onnx.ModelProto:
    """Keep only what the graph outputs need; rewrites leave their bypassed nodes to this."""
    return prune(clone(model))
