"""Checkpoints as `se-deploy train` writes them, tiny export configs and tiny exported graphs
for the export and fold tests."""

from __future__ import annotations

import json
import math
from pathlib import Path

import onnx
import torch
from torch import nn

from se_deploy.models import ModelConfig, SEConfig, create_model
from se_deploy.stages.export import ExportConfig
from se_deploy.stages.export.onnx_export import export_onnx
from se_deploy.stages.export.passes import export_passes, run_passes
from se_deploy.stages.export.pipeline import load_source_model
from tests.conftest import TINY, TINY_SIZE


def trained_like(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give random-init weights a trained model's spread (BN statistics and affine, biases, head
    scale), as the graph passes must handle them."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.normal_(0, 0.2, generator=generator)
                module.running_var.uniform_(0.5, 2.0, generator=generator)
                module.weight.uniform_(0.5, 1.5, generator=generator)
                module.bias.normal_(0, 0.2, generator=generator)
            elif isinstance(module, nn.Conv2d | nn.Linear) and module.bias is not None:
                module.bias.normal_(0, 0.2, generator=generator)
            if isinstance(module, nn.Linear):
                module.weight.normal_(0, 1 / math.sqrt(module.in_features), generator=generator)
    return model


def save_checkpoint(
    path: Path,
    name: str,
    se: SEConfig | None = None,
    config: ModelConfig = TINY,
    input_size: int = TINY_SIZE,
) -> Path:
    """A checkpoint as `se-deploy train` writes it: fp16 weights plus model name, config,
    preprocessing and dataset."""
    config = config if se is None else ModelConfig(**{**config.__dict__, "se": se})
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = trained_like(create_model(name, config))
    channels = config.in_chans
    torch.save(
        {
            "state_dict": {
                k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()
            },
            "model": name,
            "model_config": json.loads(json.dumps(config.to_dict())),  # enums as plain strings
            "preprocess": {
                "input_size": input_size,
                "channels": channels,
                "mean": [0.5] * channels,
                "std": [0.5] * channels,
                "resize": "bilinear",
            },
            "dataset": "synthetic",
        },
        path,
    )
    return path


def tiny_config(name: str, out: Path, **options) -> ExportConfig:
    tiny = {
        "width": TINY.width,
        "num_classes": TINY.num_classes,
        "small_input": True,
        "input_size": TINY_SIZE,
        "verify_samples": 4,
    }
    return ExportConfig(model=name, out=out, **{**tiny, **options})


def tiny_graph(name: str, se_gate: str = "broadcast") -> onnx.ModelProto:
    """The graph `se-deploy export` writes for a tiny `name` (same exporter and passes), minus
    its PyTorch parity check, which the export tests run; keeps fixtures cheap."""
    config = ExportConfig(
        model=name,
        width=TINY.width,
        num_classes=TINY.num_classes,
        small_input=TINY.small_input,
        input_size=TINY_SIZE,
    )
    source = load_source_model(config)
    exported = export_onnx(source.module, (1, 3, TINY_SIZE, TINY_SIZE), config.opset, False)
    return run_passes(exported, export_passes(se_gate))[0]
