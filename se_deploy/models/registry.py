"""Model registry: name -> builder, its non-SE baseline, and the paper's figures.

Every SE model names its baseline so a comparison always measures SE alone: the pair is the same
builder with `se=None`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from torch import nn

from se_deploy.errors import SeDeployError
from se_deploy.models.mobilenet import V3_SE, MobileNetV1, MobileNetV2, MobileNetV3
from se_deploy.models.se import SEConfig, SqueezeExcite
from se_deploy.models.shufflenet import ShuffleNetV1, ShuffleNetV2

SENET_PAPER = "https://arxiv.org/abs/1709.01507"


@dataclass(frozen=True)
class PaperFigures:
    """ImageNet figures at 224x224 as published; MFLOPs are multiply-adds."""

    mflops: float
    params_m: float
    top1_err: float | None
    source: str


@dataclass(frozen=True)
class ModelConfig:
    """Everything that shapes a built model; recorded verbatim in manifests and model cards."""

    width: float = 1.0
    num_classes: int = 1000
    in_chans: int = 3
    small_input: bool = False
    dropout: float = 0.0
    se: SEConfig | None = None  # None: the family's own SE settings (SE models only)

    def __post_init__(self) -> None:
        problems = []
        if not 0.0 < self.width <= 4.0:
            problems.append(f"width {self.width} (use 0 < width <= 4)")
        if self.num_classes < 1:
            problems.append(f"num_classes {self.num_classes} (use >= 1)")
        if self.in_chans < 1:
            problems.append(f"in_chans {self.in_chans} (use >= 1)")
        if not 0.0 <= self.dropout < 1.0:
            problems.append(f"dropout {self.dropout} (use 0 <= dropout < 1)")
        if problems:
            raise SeDeployError("bad model config: " + "; ".join(problems))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        data = dict(data)
        se = data.pop("se", None)
        return cls(**data, se=SEConfig(**se) if se else None)


@dataclass(frozen=True)
class ModelSpec:
    name: str
    family: str
    builder: Callable[..., nn.Module]
    se_default: SEConfig | None  # None: a baseline without SE
    se_blocks: int
    baseline: str | None = None
    paper: PaperFigures | None = None
    reference: str = ""
    default_dropout: float = 0.0
    notes: str = field(default="", compare=False)

    @property
    def has_se(self) -> bool:
        return self.se_default is not None


_REGISTRY: dict[str, ModelSpec] = {}


def _register(spec: ModelSpec) -> None:
    _REGISTRY[spec.name] = spec


def _register_pair(
    family: str,
    base_name: str,
    se_name: str,
    builder: Callable[..., nn.Module],
    se_default: SEConfig,
    se_blocks: int,
    reference: str,
    papers: tuple[PaperFigures | None, PaperFigures | None] = (None, None),
    default_dropout: float = 0.0,
) -> None:
    base_paper, se_paper = papers
    common = {"family": family, "builder": builder, "reference": reference}
    common["default_dropout"] = default_dropout
    _register(ModelSpec(base_name, se_default=None, se_blocks=0, paper=base_paper, **common))
    _register(
        ModelSpec(
            se_name, se_default=se_default, se_blocks=se_blocks, baseline=base_name,
            paper=se_paper, **common,
        )
    )  # fmt: skip


_TABLE3 = "SENet paper Table 3"
_register_pair(
    "mobilenet_v1", "mobilenet", "se_mobilenet", MobileNetV1, SEConfig(), 13,
    "https://arxiv.org/abs/1704.04861",
    (PaperFigures(569, 4.2, 28.4, _TABLE3), PaperFigures(572, 4.7, 25.3, _TABLE3)),
)  # fmt: skip
_register_pair(
    "shufflenet_v1", "shufflenet", "se_shufflenet", ShuffleNetV1, SEConfig(), 16,
    "https://arxiv.org/abs/1707.01083",
    (PaperFigures(140, 1.8, 32.6, _TABLE3), PaperFigures(142, 2.4, 31.0, _TABLE3)),
)  # fmt: skip
_register_pair(
    "mobilenet_v2", "mobilenet_v2", "se_mobilenet_v2", MobileNetV2, SEConfig(), 17,
    "https://arxiv.org/abs/1801.04381",
    (PaperFigures(300, 3.4, 28.0, "MobileNetV2 paper Table 4"), None),
)  # fmt: skip
_register_pair(
    "shufflenet_v2", "shufflenet_v2", "se_shufflenet_v2", ShuffleNetV2, SEConfig(), 16,
    "https://arxiv.org/abs/1807.11164",
    (PaperFigures(146, 2.3, 30.6, "ShuffleNetV2 paper Table 8"), None),
)  # fmt: skip
_V3 = "https://arxiv.org/abs/1905.02244"
_register_pair(
    "mobilenet_v3_large", "mobilenet_v3_large_no_se", "mobilenet_v3_large",
    partial(MobileNetV3, "large"), V3_SE, 8, _V3,
    (None, PaperFigures(219, 5.4, 24.8, "MobileNetV3 paper Table 3")), default_dropout=0.2,
)  # fmt: skip
_register_pair(
    "mobilenet_v3_small", "mobilenet_v3_small_no_se", "mobilenet_v3_small",
    partial(MobileNetV3, "small"), V3_SE, 9, _V3,
    (None, PaperFigures(56, 2.5, 32.6, "MobileNetV3 paper Table 3")), default_dropout=0.2,
)  # fmt: skip


def list_models() -> list[str]:
    return sorted(_REGISTRY)


def get_spec(name: str) -> ModelSpec:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise SeDeployError(
            f"unknown model '{name}'; choose one of: {', '.join(list_models())} "
            "(see `se-deploy models`)"
        ) from None


def se_pairs() -> list[tuple[str, str]]:
    """(se_model, baseline) for every registered SE model."""
    return [(s.name, s.baseline) for s in _REGISTRY.values() if s.baseline is not None]


def create_model(name: str, config: ModelConfig | None = None, **overrides: Any) -> nn.Module:
    """Build a registered model in eval mode; `overrides` replace fields of `config`."""
    spec = get_spec(name)
    config = dataclasses.replace(config or default_config(name), **overrides)
    if config.se is not None and not spec.has_se:
        raise SeDeployError(
            f"model '{name}' has no SE blocks, so SE options do not apply; "
            f"use its SE twin instead ({_se_twin(name)})"
        )
    model = spec.builder(
        width=config.width,
        num_classes=config.num_classes,
        in_chans=config.in_chans,
        se=(config.se or spec.se_default) if spec.has_se else None,
        small_input=config.small_input,
        dropout=config.dropout,
    )
    return model.eval()


def default_config(name: str) -> ModelConfig:
    return ModelConfig(dropout=get_spec(name).default_dropout)


def _se_twin(name: str) -> str:
    twins = [s.name for s in _REGISTRY.values() if s.baseline == name]
    return twins[0] if twins else "none registered"


def count_se_blocks(model: nn.Module) -> int:
    return sum(isinstance(m, SqueezeExcite) for m in model.modules())
