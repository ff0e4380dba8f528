"""Squeeze-and-Excitation block (Hu et al., https://arxiv.org/abs/1709.01507).

squeeze (global pool) -> 1x1 conv C->C/r -> ReLU -> 1x1 conv C/r->C -> gate -> channel multiply.
The FCs are 1x1 convs so the block stays NCHW end to end and exports without reshapes.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from torch import Tensor, nn


class Squeeze(StrEnum):
    AVG = "avg"
    MAX = "max"


class Gate(StrEnum):
    SIGMOID = "sigmoid"
    HARD_SIGMOID = "hard_sigmoid"
    TANH = "tanh"
    RELU = "relu"


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


def make_divisible(value: float, divisor: int, min_value: int | None = None) -> int:
    """Round channels to a multiple of `divisor` without losing more than 10% (MobileNet rule)."""
    min_value = min_value or divisor
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


@dataclass(frozen=True)
class SEConfig:
    """The paper's SE knobs. `divisor` > 1 rounds the reduced width (MobileNetV3 uses 8)."""

    reduction: int = 16
    squeeze: Squeeze = Squeeze.AVG
    gate: Gate = Gate.SIGMOID
    divisor: int = 1

    def __post_init__(self) -> None:
        # Validated here once so every builder can trust it; values come from the CLI or code.
        if self.reduction < 1:
            raise ValueError(f"SE reduction must be >= 1, got {self.reduction}")
        if self.divisor < 1:
            raise ValueError(f"SE divisor must be >= 1, got {self.divisor}")
        object.__setattr__(self, "squeeze", Squeeze(self.squeeze))
        object.__setattr__(self, "gate", Gate(self.gate))

    def reduced_channels(self, channels: int) -> int:
        if self.divisor > 1:
            return make_divisible(channels / self.reduction, self.divisor)
        return max(1, channels // self.reduction)


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
