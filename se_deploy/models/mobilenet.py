"""MobileNet v1/v2/v3 with optional SE blocks.

- v1: Howard et al. 2017, https://arxiv.org/abs/1704.04861. SE follows the non-linearity after each
  depthwise-separable block (SENet paper's rule for non-residual nets; 4.72 M params with r=16).
- v2: Sandler et al. 2018, https://arxiv.org/abs/1801.04381. SE on the expanded channels after the
  depthwise conv (the MnasNet/MobileNetV3 position), before the linear projection.
- v3: Howard et al. 2019, https://arxiv.org/abs/1905.02244. SE is part of the design: squeeze to
  1/4 of the expansion rounded to 8, hard-sigmoid gate; the `_no_se` twins drop it.

`small_input=True` runs the stem conv at stride 1 (output stride 16 instead of 32) so 28-64 px
images keep a 2x2+ map in the last stage; SE model and baseline get the same stem.
"""

from __future__ import annotations

from torch import Tensor, nn

from se_deploy.core.spec import V3_SE, SEConfig, make_divisible
from se_deploy.models.layers import ClassifierHead, ConvBNAct, SELayer, init_weights
from se_deploy.models.se import se_layer_factory


def _stem_stride(small_input: bool) -> int:
    return 1 if small_input else 2


# ---------------------------------------------------------------- v1
_V1_BLOCKS = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)]
_V1_BLOCKS += [(512, 1)] * 5 + [(1024, 2), (1024, 1)]


class DepthwiseSeparable(nn.Module):
    """3x3 depthwise conv -> 1x1 pointwise conv, each with BN+ReLU, then SE when given."""

    def __init__(self, in_chans: int, out_chans: int, stride: int, se_layer: SELayer) -> None:
        super().__init__()
        self.dw = ConvBNAct(in_chans, in_chans, 3, stride, groups=in_chans)
        self.pw = ConvBNAct(in_chans, out_chans, 1)
        self.se = se_layer(out_chans) if se_layer else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return self.se(self.pw(self.dw(x)))


class MobileNetV1(nn.Module):
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
        chans = make_divisible(32 * width, 8)
        self.stem = ConvBNAct(in_chans, chans, 3, _stem_stride(small_input))
        blocks = []
        for out, stride in _V1_BLOCKS:
            out = make_divisible(out * width, 8)
            blocks.append(DepthwiseSeparable(chans, out, stride, se_layer))
            chans = out
        self.blocks = nn.Sequential(*blocks)
        self.head = ClassifierHead(chans, num_classes, dropout)
        init_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.blocks(self.stem(x)))


# ---------------------------------------------------------------- v2
# (expansion t, channels c, repeats n, stride s) from the paper's Table 2.
_V2_STAGES = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1)]
_V2_STAGES += [(6, 160, 3, 2), (6, 320, 1, 1)]


class InvertedResidual(nn.Module):
    """Expand 1x1 -> depthwise kxk -> [SE] -> project 1x1 (linear), residual when shapes allow."""

    def __init__(
        self,
        in_chans: int,
        expanded: int,
        out_chans: int,
        kernel_size: int,
        stride: int,
        act: type[nn.Module],
        se_layer: SELayer,
    ) -> None:
        super().__init__()
        self.use_residual = stride == 1 and in_chans == out_chans
        self.expand = (
            ConvBNAct(in_chans, expanded, 1, act=act) if expanded != in_chans else nn.Identity()
        )
        self.dw = ConvBNAct(expanded, expanded, kernel_size, stride, groups=expanded, act=act)
        self.se = se_layer(expanded) if se_layer else nn.Identity()
        self.project = ConvBNAct(expanded, out_chans, 1, act=None)

    def forward(self, x: Tensor) -> Tensor:
        out = self.project(self.se(self.dw(self.expand(x))))
        return x + out if self.use_residual else out


class MobileNetV2(nn.Module):
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
        plan = [(t, c, s if i == 0 else 1) for t, c, n, s in _V2_STAGES for i in range(n)]
        chans = make_divisible(32 * width, 8)
        self.stem = ConvBNAct(in_chans, chans, 3, _stem_stride(small_input), act=nn.ReLU6)
        blocks = []
        for t, c, stride in plan:
            out = make_divisible(c * width, 8)
            blocks.append(InvertedResidual(chans, chans * t, out, 3, stride, nn.ReLU6, se_layer))
            chans = out
        last = make_divisible(1280 * max(1.0, width), 8)
        blocks.append(ConvBNAct(chans, last, 1, act=nn.ReLU6))
        self.blocks = nn.Sequential(*blocks)
        self.head = ClassifierHead(last, num_classes, dropout)
        init_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.blocks(self.stem(x)))


# ---------------------------------------------------------------- v3
# (kernel, expansion, out, use_se, hard_swish, stride) from the paper's Tables 1 and 2.
_V3_LARGE = [
    (3, 16, 16, False, False, 1),
    (3, 64, 24, False, False, 2),
    (3, 72, 24, False, False, 1),
    (5, 72, 40, True, False, 2),
    (5, 120, 40, True, False, 1),
    (5, 120, 40, True, False, 1),
    (3, 240, 80, False, True, 2),
    (3, 200, 80, False, True, 1),
    (3, 184, 80, False, True, 1),
    (3, 184, 80, False, True, 1),
    (3, 480, 112, True, True, 1),
    (3, 672, 112, True, True, 1),
    (5, 672, 160, True, True, 2),
    (5, 960, 160, True, True, 1),
    (5, 960, 160, True, True, 1),
]
_V3_SMALL = [
    (3, 16, 16, True, False, 2),
    (3, 72, 24, False, False, 2),
    (3, 88, 24, False, False, 1),
    (5, 96, 40, True, True, 2),
    (5, 240, 40, True, True, 1),
    (5, 240, 40, True, True, 1),
    (5, 120, 48, True, True, 1),
    (5, 144, 48, True, True, 1),
    (5, 288, 96, True, True, 2),
    (5, 576, 96, True, True, 1),
    (5, 576, 96, True, True, 1),
]
_V3_HEADS = {"large": (_V3_LARGE, 960, 1280), "small": (_V3_SMALL, 576, 1024)}


class MobileNetV3Head(nn.Module):
    """Pool -> 1x1 linear with hard-swish -> dropout -> classifier (the v3 last stage)."""

    def __init__(self, in_features: int, hidden: int, num_classes: int, dropout: float) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten(1)
        self.hidden = nn.Linear(in_features, hidden)
        self.act = nn.Hardswish(inplace=True)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.fc = nn.Linear(hidden, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.dropout(self.act(self.hidden(self.flatten(self.pool(x))))))


class MobileNetV3(nn.Module):
    """`se=None` builds the no-SE twin: same layers, SE positions left empty."""

    def __init__(
        self,
        variant: str = "large",
        width: float = 1.0,
        num_classes: int = 1000,
        in_chans: int = 3,
        se: SEConfig | None = V3_SE,
        small_input: bool = False,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        table, last_conv, hidden = _V3_HEADS[variant]
        se_layer = se_layer_factory(se)
        chans = make_divisible(16 * width, 8)
        self.stem = ConvBNAct(in_chans, chans, 3, _stem_stride(small_input), act=nn.Hardswish)
        blocks = []
        for k, exp, out, use_se, hs, stride in table:
            exp, out = make_divisible(exp * width, 8), make_divisible(out * width, 8)
            act = nn.Hardswish if hs else nn.ReLU
            block_se = se_layer if use_se else None
            blocks.append(InvertedResidual(chans, exp, out, k, stride, act, block_se))
            chans = out
        last = make_divisible(last_conv * width, 8)
        blocks.append(ConvBNAct(chans, last, 1, act=nn.Hardswish))
        self.blocks = nn.Sequential(*blocks)
        self.head = MobileNetV3Head(last, make_divisible(hidden * width, 8), num_classes, dropout)
        init_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.blocks(self.stem(x)))
