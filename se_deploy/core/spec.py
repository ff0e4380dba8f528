"""What a model is, without torch: SE settings, model configs and the zoo's registered specs.

The SE knobs follow Hu et al. (https://arxiv.org/abs/1709.01507). Every SE model names its non-SE
baseline so a comparison measures SE alone; the paper's figures sit next to the spec. Torch-free
code (the SE finder, bench plans, the runtime image) reads these; `se_deploy.models` binds each
spec's family to a torch builder.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from se_deploy.core.errors import SeDeployError


class Squeeze(StrEnum):
    AVG = "avg"
    MAX = "max"


class Gate(StrEnum):
    SIGMOID = "sigmoid"
    HARD_SIGMOID = "hard_sigmoid"
    TANH = "tanh"
    RELU = "relu"


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


V3_SE = SEConfig(reduction=4, gate=Gate.HARD_SIGMOID, divisor=8)
SENET_PAPER = "https://arxiv.org/abs/1709.01507"
ZOO_DIR = Path(os.environ.get("SE_DEPLOY_ZOO", Path(__file__).resolve().parents[2] / "models"))


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
    """A registered model: its family (the builder `se_deploy.models` binds), SE settings,
    baseline and the paper's figures."""

    name: str
    family: str
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


def _register_pair(
    family: str,
    names: tuple[str, str],
    se_default: SEConfig,
    se_blocks: int,
    reference: str,
    papers: tuple[PaperFigures | None, PaperFigures | None] = (None, None),
    default_dropout: float = 0.0,
) -> None:
    """Register a baseline and its SE twin: the same family, with and without SE."""
    (base_name, se_name), (base_paper, se_paper) = names, papers
    common = {"family": family, "reference": reference, "default_dropout": default_dropout}
    _REGISTRY[base_name] = ModelSpec(
        base_name, se_default=None, se_blocks=0, paper=base_paper, **common
    )
    _REGISTRY[se_name] = ModelSpec(
        se_name,
        se_default=se_default,
        se_blocks=se_blocks,
        baseline=base_name,
        paper=se_paper,
        **common,
    )


_TABLE3 = "SENet paper Table 3"
_V3 = "https://arxiv.org/abs/1905.02244"
_register_pair(
    "mobilenet_v1",
    ("mobilenet", "se_mobilenet"),
    SEConfig(),
    13,
    "https://arxiv.org/abs/1704.04861",
    (PaperFigures(569, 4.2, 28.4, _TABLE3), PaperFigures(572, 4.7, 25.3, _TABLE3)),
)
_register_pair(
    "shufflenet_v1",
    ("shufflenet", "se_shufflenet"),
    SEConfig(),
    16,
    "https://arxiv.org/abs/1707.01083",
    (PaperFigures(140, 1.8, 32.6, _TABLE3), PaperFigures(142, 2.4, 31.0, _TABLE3)),
)
_register_pair(
    "mobilenet_v2",
    ("mobilenet_v2", "se_mobilenet_v2"),
    SEConfig(),
    17,
    "https://arxiv.org/abs/1801.04381",
    (PaperFigures(300, 3.4, 28.0, "MobileNetV2 paper Table 4"), None),
)
_register_pair(
    "shufflenet_v2",
    ("shufflenet_v2", "se_shufflenet_v2"),
    SEConfig(),
    16,
    "https://arxiv.org/abs/1807.11164",
    (PaperFigures(146, 2.3, 30.6, "ShuffleNetV2 paper Table 8"), None),
)
_register_pair(
    "mobilenet_v3_large",
    ("mobilenet_v3_large_no_se", "mobilenet_v3_large"),
    V3_SE,
    8,
    _V3,
    (None, PaperFigures(219, 5.4, 24.8, "MobileNetV3 paper Table 3")),
    default_dropout=0.2,
)
_register_pair(
    "mobilenet_v3_small",
    ("mobilenet_v3_small_no_se", "mobilenet_v3_small"),
    V3_SE,
    9,
    _V3,
    (None, PaperFigures(56, 2.5, 32.6, "MobileNetV3 paper Table 3")),
    default_dropout=0.2,
)


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


def se_twin(name: str) -> str:
    """The SE model whose baseline is `name`, for error messages."""
    twins = [s.name for s in _REGISTRY.values() if s.baseline == name]
    return twins[0] if twins else "none registered"


def default_config(name: str) -> ModelConfig:
    return ModelConfig(dropout=get_spec(name).default_dropout)


def zoo_checkpoint(name: str, dataset: str = "fashion-mnist") -> Path:
    """The committed trained checkpoint of `name`, or an error naming what exists."""
    get_spec(name)
    path = ZOO_DIR / dataset / f"{name}.pt"
    if not path.is_file():
        have = sorted(p.stem for p in (ZOO_DIR / dataset).glob("*.pt"))
        raise SeDeployError(
            f"no trained {dataset} checkpoint for '{name}' in '{ZOO_DIR}' "
            f"(have: {', '.join(have) or 'none'}); pass --weights"
        )
    return path
