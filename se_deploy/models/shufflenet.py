"""ShuffleNet v1/v2 with optional SE blocks.

- v1: Zhang et al. 2017, https://arxiv.org/abs/1707.01083 (1x, g=3: 137-140 MFLOPs, 1.8 M params).
- v2: Ma et al. 2018, https://arxiv.org/abs/1807.11164 (1x: 146 MFLOPs, 2.3 M params).

SE sits on the residual branch before the merge (the SENet paper's SE-ResNet rule), so the
shortcut path is untouched. `small_input=True` runs the stem conv at stride 1 (output stride 16
instead of 32) for 28-64 px images; SE model and baseline share it.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from se_deploy.core.spec import SEConfig, make_divisible
from se_deploy.models.layers import ClassifierHead, ConvBNAct, SELayer, init_weights
from se_deploy.models.se import se_layer_factory

_STAGE_REPEATS = (4, 8, 4)
_V1_CHANNELS = {1: (144, 288, 576), 2: (200, 400, 800), 3: (240, 480, 960), 4: (272, 544, 1088)}
_V1_CHANNELS[8] = (384, 768, 1536)
_V2_CHANNELS = (116, 232, 464)


def channel_shuffle(x: Tensor, groups: int) -> Tensor:
    batch, channels, height, width = x.shape
    x = x.reshape(batch, groups, channels // groups, height, width).transpose(1, 2)
    return x.reshape(batch, channels, height, width)


def _stem(in_chans: int, out_chans: int, small_input: bool) -> nn.Sequential:
    stride = 1 if small_input else 2
    return nn.Sequential(ConvBNAct(in_chans, out_chans, 3, stride), nn.MaxPool2d(3, 2, 1))


# ---------------------------------------------------------------- v1
class ShuffleV1Unit(nn.Module):
    """Group 1x1 -> shuffle -> depthwise 3x3 -> group 1x1 [-> SE], then add or concat shortcut."""

    def __init__(
        self,
        in_chans: int,
        out_chans: int,
        groups: int,
        stride: int,
        group_first_conv: bool,
        se_layer: SELayer,
    ) -> None:
        super().__init__()
        mid = out_chans // 4
        branch_out = out_chans - in_chans if stride == 2 else out_chans
        self.stride = stride
        self.groups = groups
        self.compress = ConvBNAct(in_chans, mid, 1, groups=groups if group_first_conv else 1)
        self.dw = ConvBNAct(mid, mid, 3, stride, groups=mid, act=None)
        self.expand = ConvBNAct(mid, branch_out, 1, groups=groups, act=None)
        self.se = se_layer(branch_out) if se_layer else nn.Identity()
        self.shortcut = nn.AvgPool2d(3, 2, 1) if stride == 2 else nn.Identity()
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        out = self.compress(x)
        out = channel_shuffle(out, self.groups) if self.groups > 1 else out
        out = self.se(self.expand(self.dw(out)))
        if self.stride == 2:
            return self.act(torch.cat([self.shortcut(x), out], 1))
        return self.act(x + out)


class ShuffleNetV1(nn.Module):
    def __init__(
        self,
        width: float = 1.0,
        num_classes: int = 1000,
        in_chans: int = 3,
        se: SEConfig | None = None,
        small_input: bool = False,
        dropout: float = 0.0,
        groups: int = 3,
    ) -> None:
        super().__init__()
        if groups not in _V1_CHANNELS:
            raise ValueError(f"ShuffleNet v1 groups must be one of {sorted(_V1_CHANNELS)}")
        se_layer = se_layer_factory(se)
        # Stage widths stay multiples of 4*g so bottlenecks and grouped convs divide evenly.
        chans = make_divisible(24 * width, groups)
        self.stem = _stem(in_chans, chans, small_input)
        units = []
        for stage, (base, repeats) in enumerate(
            zip(_V1_CHANNELS[groups], _STAGE_REPEATS, strict=True)
        ):
            out = make_divisible(base * width, 4 * groups)
            for i in range(repeats):
                first_conv_grouped = not (stage == 0 and i == 0)
                stride = 2 if i == 0 else 1
                units.append(
                    ShuffleV1Unit(chans, out, groups, stride, first_conv_grouped, se_layer)
                )
                chans = out
        self.blocks = nn.Sequential(*units)
        self.head = ClassifierHead(chans, num_classes, dropout)
        init_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.blocks(self.stem(x)))


# ---------------------------------------------------------------- v2
class ShuffleV2Unit(nn.Module):
    """Channel split (or two strided branches), 1x1 -> dw 3x3 -> 1x1 [-> SE], concat, shuffle."""

    def __init__(self, in_chans: int, out_chans: int, stride: int, se_layer: SELayer) -> None:
        super().__init__()
        self.stride = stride
        branch = out_chans // 2
        branch_in = in_chans if stride == 2 else branch
        if stride == 2:
            self.shortcut = nn.Sequential(
                ConvBNAct(in_chans, in_chans, 3, 2, groups=in_chans, act=None),
                ConvBNAct(in_chans, branch, 1),
            )
        else:
            self.shortcut = nn.Identity()
        self.branch = nn.Sequential(
            ConvBNAct(branch_in, branch, 1),
            ConvBNAct(branch, branch, 3, stride, groups=branch, act=None),
            ConvBNAct(branch, branch, 1),
        )
        self.se = se_layer(branch) if se_layer else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        if self.stride == 2:
            kept, branch_in = self.shortcut(x), x
        else:
            kept, branch_in = x.chunk(2, dim=1)
        return channel_shuffle(torch.cat([kept, self.se(self.branch(branch_in))], 1), 2)


class ShuffleNetV2(nn.Module):
    def __init__(
        self,
        width: float = 1.0,
        num_classes: int = 1000,
        in_chans: int = 3,
        se: SEConfig | None = None,
        small_input: bool = False,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        se_layer = se_layer_factory(se)
        chans = 24
        self.stem = _stem(in_chans, chans, small_input)
        units = []
        for base, repeats in zip(_V2_CHANNELS, _STAGE_REPEATS, strict=True):
            out = make_divisible(base * width, 4)
            for i in range(repeats):
                units.append(ShuffleV2Unit(chans, out, 2 if i == 0 else 1, se_layer))
                chans = out
        last = 2048 if width > 1.5 else 1024
        units.append(ConvBNAct(chans, last, 1))
        self.blocks = nn.Sequential(*units)
        self.head = ClassifierHead(last, num_classes, dropout)
        init_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.blocks(self.stem(x)))
