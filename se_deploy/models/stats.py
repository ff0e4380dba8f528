"""Parameter and multiply-add counts, measured on the built module rather than by formula.

MACs come from torch's FlopCounterMode (conv and linear layers; it reports 2 FLOPs per MAC).
Element-wise ops (BN, activations, the SE multiply) are not counted, as in the MobileNet and
ShuffleNet papers.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_macs(model: nn.Module, input_size: int = 224, in_chans: int = 3) -> int:
    """Multiply-adds of one forward pass at batch 1 in eval mode (BN statistics untouched)."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(torch.zeros(1, in_chans, input_size, input_size, device=device))
    model.train(was_training)
    return counter.get_total_flops() // 2
