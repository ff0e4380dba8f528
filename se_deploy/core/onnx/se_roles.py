"""What each SE node does, so that a profile can say which part of SE the time goes to.

The parts cost differently and are removed by different means: the squeeze (the global pool) is
one read of the whole map, which only a pool fused into the producing conv removes; the
excitation (FCs and activations on the pooled vector) reads the FC weights once per image; the
scale (the gate applied to the map: the Mul, or the nodes the build adds to place it) is a pass
over the map unless a placement hides it in a conv; layout is the runtime's reorders around SE.
The compile stage names the nodes it adds by prefix (below), so a built graph splits the same way.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence

from se_deploy.core.onnx.se_pattern import GLOBAL_SQUEEZES


class SeRole(enum.StrEnum):
    SQUEEZE = "squeeze"
    EXCITATION = "excitation"
    SCALE = "scale"
    LAYOUT = "layout"


# Node-name prefixes of the nodes `se-deploy build` adds: each places a gate, or pools a map
# again inside the blocked layout (nchwc_se moves a pool ORT left in NCHW, or pools the head's).
NCHWC_GATE_PREFIX = "se_nchwc/"
INT8_GATE_PREFIX = "se_int8/"
PRODUCER_GATE_PREFIX = "se_producer/"
_BUILT_PREFIXES = (NCHWC_GATE_PREFIX, INT8_GATE_PREFIX, PRODUCER_GATE_PREFIX)
# A conv the build copies to read its gated weights keeps the source name plus this suffix: its
# time is the conv's own work, so a profile maps it back to the source conv.
GATED_CONV_SUFFIX = "/gated"


def block_roles(nodes: Sequence[str], gate: str) -> dict[str, SeRole]:
    """Roles of one block's nodes in walk order (squeeze first, the Mul last): what comes after
    the gate activation (a Resize or Reshape of the gate, then the Mul) applies it."""
    after_gate = nodes.index(gate) + 1
    roles = {name: SeRole.EXCITATION for name in nodes[1:after_gate]}
    roles.update({name: SeRole.SCALE for name in nodes[after_gate:]})
    roles[nodes[0]] = SeRole.SQUEEZE
    return roles


def is_built_node(name: str) -> bool:
    """Whether `se-deploy build` added the node of this name."""
    return name.startswith(_BUILT_PREFIXES)


def built_node_role(name: str, op_type: str) -> SeRole | None:
    """The role of a node the build added (a pool: squeeze; anything else: scale); None for a
    name the build does not give."""
    if not is_built_node(name):
        return None
    return SeRole.SQUEEZE if op_type in GLOBAL_SQUEEZES else SeRole.SCALE
