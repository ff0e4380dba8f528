"""Rebuild a model from a checkpoint written by `se-deploy train` (it carries its config)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from se_deploy.core.errors import SeDeployError
from se_deploy.core.spec import ModelConfig
from se_deploy.models.registry import create_model
from se_deploy.models.weights import load_weights


def read_checkpoint_meta(path: Path) -> dict[str, Any]:
    """The non-tensor fields of a trained checkpoint: model, model_config, preprocess, dataset."""
    from se_deploy.models.weights import read_state_dict

    read_state_dict(path)  # validates existence, suffix and safety first
    if Path(path).suffix == ".safetensors":
        return {}
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(payload, dict):
        return {}
    return {
        k: payload[k] for k in ("model", "model_config", "preprocess", "dataset") if k in payload
    }


def load_checkpoint_model(
    path: Path, name: str | None = None, config: ModelConfig | None = None
) -> tuple[nn.Module, dict[str, Any]]:
    """Build the checkpoint's model (its own name/config unless given) and load its weights."""
    meta = read_checkpoint_meta(path)
    name = name or meta.get("model")
    if name is None:
        raise SeDeployError(f"weights '{path}' do not say which model they belong to; pass --model")
    if meta.get("model") and meta["model"] != name:
        raise SeDeployError(
            f"weights '{path}' were trained for '{meta['model']}', not '{name}'; "
            f"pass --model {meta['model']} or other weights"
        )
    if config is None and "model_config" in meta:
        config = ModelConfig.from_dict(meta["model_config"])
    model = load_weights(create_model(name, config), path)
    return model.eval(), meta
