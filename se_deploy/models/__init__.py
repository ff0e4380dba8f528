"""The SE model zoo: builders, the SE block, the registry and weight loading."""

from se_deploy.core.spec import (
    Gate,
    ModelConfig,
    ModelSpec,
    SEConfig,
    Squeeze,
    default_config,
    get_spec,
    list_models,
    se_pairs,
)
from se_deploy.models.random_init import create_random_model, settle_batchnorm
from se_deploy.models.registry import count_se_blocks, create_model
from se_deploy.models.se import SqueezeExcite

__all__ = [
    "Gate",
    "ModelConfig",
    "ModelSpec",
    "SEConfig",
    "Squeeze",
    "SqueezeExcite",
    "count_se_blocks",
    "create_model",
    "create_random_model",
    "default_config",
    "get_spec",
    "list_models",
    "se_pairs",
    "settle_batchnorm",
]
