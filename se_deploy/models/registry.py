"""Model registry: binds each spec's family (`se_deploy.core.spec`) to its torch builder.

Every SE model names its baseline so a comparison always measures SE alone: the pair is the same
builder with `se=None`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from functools import partial
from typing import Any

from torch import nn

from se_deploy.core.errors import SeDeployError
from se_deploy.core.spec import ModelConfig, default_config, get_spec, se_twin
from se_deploy.models.mobilenet import MobileNetV1, MobileNetV2, MobileNetV3
from se_deploy.models.se import SqueezeExcite
from se_deploy.models.shufflenet import ShuffleNetV1, ShuffleNetV2

BUILDERS: dict[str, Callable[..., nn.Module]] = {
    "mobilenet_v1": MobileNetV1,
    "shufflenet_v1": ShuffleNetV1,
    "mobilenet_v2": MobileNetV2,
    "shufflenet_v2": ShuffleNetV2,
    "mobilenet_v3_large": partial(MobileNetV3, "large"),
    "mobilenet_v3_small": partial(MobileNetV3, "small"),
}


def create_model(name: str, config: ModelConfig | None = None, **overrides: Any) -> nn.Module:
    """Build a registered model in eval mode; `overrides` replace fields of `config`."""
    spec = get_spec(name)
    config = dataclasses.replace(config or default_config(name), **overrides)
    if config.se is not None and not spec.has_se:
        raise SeDeployError(
            f"model '{name}' has no SE blocks, so SE options do not apply; "
            f"use its SE twin instead ({se_twin(name)})"
        )
    model = BUILDERS[spec.family](
        width=config.width,
        num_classes=config.num_classes,
        in_chans=config.in_chans,
        se=(config.se or spec.se_default) if spec.has_se else None,
        small_input=config.small_input,
        dropout=config.dropout,
    )
    return model.eval()


def count_se_blocks(model: nn.Module) -> int:
    return sum(isinstance(m, SqueezeExcite) for m in model.modules())
