"""Parameter and multiply-add counts, measured on the built module rather than by formula.

MACs come from torch's FlopCounterMode (conv and linear layers; it reports 2 FLOPs per MAC) run
on the meta device, so counting a 224x224 model costs no memory or compute. Element-wise ops
(BN, activations, the SE multiply) are not counted, as in the MobileNet/ShuffleNet papers.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_macs(model: nn.Module, input_size: int = 224, in_chans: int = 3) -> int:
    """Multiply-adds of one forward pass at batch 1, counted on a meta-device copy."""
    meta_model = _to_meta(model)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        meta_model(torch.empty(1, in_chans, input_size, input_size, device="meta"))
    return counter.get_total_flops() // 2


def _to_meta(model: nn.Module) -> nn.Module:
    """A structural copy on the meta device (parameters without storage)."""
    import copy

    clone = copy.deepcopy(model) if not _is_meta(model) else model
    return clone.to("meta").eval()


def _is_meta(model: nn.Module) -> bool:
    return any(p.is_meta for p in model.parameters())
