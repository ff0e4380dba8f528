"""Random-init models whose eval-mode outputs have a trained network's scale.

A freshly built model keeps BatchNorm's initial running statistics (mean 0, var 1) while the
kaiming-initialized signal shrinks layer by layer, so in eval mode its logits collapse towards
zero (~1e-22 for SE-MobileNet at 224). Parity checks on such outputs pass trivially and latency
on tiny/denormal values is not what a trained model costs. `settle_batchnorm` gives every BN the
statistics of its actual input under standard-normal images (the scale of normalized images),
which keeps activations near unit scale through the whole network.

This holds for the registry's SE defaults (average squeeze, sigmoid or hard-sigmoid gate), whose
channel scales barely vary between noise images. Other choices (max squeeze, ReLU or Tanh gates)
rescale channels differently per image, so a few images' statistics do not bound another's
activations (SE-MobileNet at width 0.25, 32x32: logit ranges of 3e2 to 8e5, or overflow); such
configurations need trained weights for meaningful outputs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from se_deploy.core.spec import ModelConfig
from se_deploy.models.registry import create_model

SETTLE_BATCHES = 2
SETTLE_BATCH_SIZE = 2  # 2 x 2 images: stable statistics, cheap at 224 on 2 cores
SETTLE_THREADS = 1  # see _fixed_threads
_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


@contextmanager
def _fixed_threads(count: int) -> Iterator[None]:
    """BN statistics are reductions whose float rounding follows torch's split of the work over
    threads; one fixed split gives an export the same bytes in every process and on every
    machine, whatever thread count the process had before."""
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def settle_batchnorm(
    model: nn.Module,
    input_shape: tuple[int, ...],
    batches: int = SETTLE_BATCHES,
    seed: int = 0,
) -> nn.Module:
    """Set BN running stats to the cumulative average over `batches` standard-normal inputs of
    `input_shape` (N, C, H, W); only BN layers run in train mode (dropout stays off), the global
    RNG is untouched, and the model is returned in eval mode."""
    norms = [module for module in model.modules() if isinstance(module, _NORMS)]
    model.eval()
    if not norms:
        return model
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    momenta = [norm.momentum for norm in norms]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative moving average: every batch counts equally
        norm.train()
    try:
        with torch.no_grad(), _fixed_threads(SETTLE_THREADS):
            for _ in range(batches):
                model(torch.randn(input_shape, generator=generator).to(device))
    finally:
        for norm, momentum in zip(norms, momenta, strict=True):
            norm.momentum = momentum
        model.eval()
    return model


def create_random_model(
    name: str, config: ModelConfig, input_size: int, seed: int = 0
) -> nn.Module:
    """Build `name` from a seeded random init (global RNG untouched) with settled BN statistics,
    for export and latency work where no trained weights are given."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = create_model(name, config)
    shape = (SETTLE_BATCH_SIZE, config.in_chans, input_size, input_size)
    return settle_batchnorm(model, shape, SETTLE_BATCHES, seed)
