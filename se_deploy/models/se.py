"""Squeeze-and-Excitation block (Hu et al., https://arxiv.org/abs/1709.01507).

squeeze (global pool) -> 1x1 conv C->C/r -> ReLU -> 1x1 conv C/r->C -> gate -> channel multiply.
The FCs are 1x1 convs so the block stays NCHW end to end and exports without reshapes. The knobs
(`SEConfig`, `Gate`, `Squeeze`) live in `se_deploy.core.spec`, so torch-free code reads them too.
"""

from __future__ import annotations

from torch import Tensor, nn

from se_deploy.core.spec import Gate, SEConfig, Squeeze

_GATES: dict[Gate, type[nn.Module]] = {
    Gate.SIGMOID: nn.Sigmoid,
    Gate.HARD_SIGMOID: nn.Hardsigmoid,
    Gate.TANH: nn.Tanh,
    Gate.RELU: nn.ReLU,
}
_SQUEEZES: dict[Squeeze, type[nn.Module]] = {
    Squeeze.AVG: nn.AdaptiveAvgPool2d,
    Squeeze.MAX: nn.AdaptiveMaxPool2d,
}


class SqueezeExcite(nn.Module):
    """Recalibrates channels by a gate computed from their global statistics."""

    def __init__(self, channels: int, config: SEConfig | None = None) -> None:
        super().__init__()
        config = config or SEConfig()
        reduced = config.reduced_channels(channels)
        self.channels = channels
        self.config = config
        self.pool = _SQUEEZES[config.squeeze](1)
        self.reduce = nn.Conv2d(channels, reduced, 1, bias=True)
        self.act = nn.ReLU(inplace=True)
        self.expand = nn.Conv2d(reduced, channels, 1, bias=True)
        self.gate = _GATES[config.gate]()

    def forward(self, x: Tensor) -> Tensor:
        return x * self.gate(self.expand(self.act(self.reduce(self.pool(x)))))


def se_layer_factory(config: SEConfig | None):
    """Return `channels -> SqueezeExcite` or None, the argument every block takes (timm style)."""
    if config is None:
        return None
    return lambda channels: SqueezeExcite(channels, config)
