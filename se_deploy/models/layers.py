"""Building blocks shared by the model families."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

SELayer = Callable[[int], nn.Module] | None


class ConvBNAct(nn.Sequential):
    """Conv -> BatchNorm -> activation; `act=None` leaves the output linear."""

    def __init__(
        self,
        in_chans: int,
        out_chans: int,
        kernel_size: int = 3,
        stride: int = 1,
        groups: int = 1,
        act: type[nn.Module] | None = nn.ReLU,
    ) -> None:
        layers: list[nn.Module] = [
            nn.Conv2d(
                in_chans,
                out_chans,
                kernel_size,
                stride,
                kernel_size // 2,
                groups=groups,
                bias=False,
            ),
            nn.BatchNorm2d(out_chans),
        ]
        if act is not None:
            layers.append(act(inplace=True) if act in _INPLACE_ACTS else act())
        super().__init__(*layers)


_INPLACE_ACTS = (nn.ReLU, nn.ReLU6, nn.Hardswish)


class ClassifierHead(nn.Module):
    """Global average pool -> dropout -> linear classifier."""

    def __init__(self, in_features: int, num_classes: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten(1)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.fc = nn.Linear(in_features, num_classes)

    def forward(self, x):
        return self.fc(self.dropout(self.flatten(self.pool(x))))


def init_weights(model: nn.Module) -> None:
    """Kaiming init for convs, unit BN, small normal for linear layers (torchvision's recipe)."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, 0, 0.01)
            nn.init.zeros_(module.bias)
