"""Remove Identity nodes: readers of an Identity's output read its input instead.

The TorchScript exporter emits one Identity per deduplicated initializer (tens per model); they
carry no computation but hide producer/consumer chains from pattern matching.
"""

from __future__ import annotations

import onnx

from se_deploy.core.onnx.graph import prune, rename_inputs, set_nodes, working_copy
from se_deploy.stages.export.passes.opsets import runs_on


@runs_on(1)
def remove_identity(model: onnx.ModelProto) -> onnx.ModelProto:
    """Bypass every Identity except those that produce a graph output (the output name is API)."""
    model = working_copy(model)
    graph = model.graph
    outputs = {value.name for value in graph.output}
    renames: dict[str, str] = {}
    kept = []
    for node in graph.node:
        if node.op_type == "Identity" and node.output[0] not in outputs:
            renames[node.output[0]] = renames.get(node.input[0], node.input[0])
        else:
            kept.append(node)
    if not renames:
        return model
    set_nodes(model, kept)
    rename_inputs(graph, renames)
    return prune(model)
