"""Tiny artifacts for backend and bench tests: an SE/base pair exported to ONNX at 32x32, and a
checkpoint in the form `se-deploy train` writes (it carries its config and preprocessing)."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch

from se_deploy.models import create_model
from tests.conftest import TINY, TINY_SIZE

PAIR = ("se_mobilenet", "mobilenet")


def export_tiny(name: str, folder: Path, weights_seed: int = 0) -> tuple[Path, Path]:
    """model.onnx (dynamic batch) and a train-style checkpoint of the same weights."""
    torch.manual_seed(weights_seed)
    model = create_model(name, TINY)
    folder.mkdir(parents=True, exist_ok=True)
    onnx_path, weights = folder / "model.onnx", folder / f"{name}.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(
            model, (torch.randn(1, TINY.in_chans, TINY_SIZE, TINY_SIZE),), str(onnx_path),
            input_names=["input"], output_names=["logits"], opset_version=17, dynamo=False,
            dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
        )  # fmt: skip
    torch.save({"state_dict": model.state_dict(), "model": name,
                "model_config": TINY.to_dict(),
                "preprocess": {"input_size": TINY_SIZE, "channels": TINY.in_chans,
                               "mean": [0.5] * 3, "std": [0.5] * 3}}, weights)  # fmt: skip
    return onnx_path, weights


@pytest.fixture(scope="session")
def tiny_export(tmp_path_factory) -> Path:
    """export/<model>/fp32/model.onnx for the tiny pair, with checkpoints beside them."""
    root = tmp_path_factory.mktemp("export")
    for seed, name in enumerate(PAIR):
        export_tiny(name, root / name / "fp32", seed)
    return root


@pytest.fixture(scope="session")
def tiny_onnx(tiny_export: Path) -> Path:
    return tiny_export / "se_mobilenet" / "fp32" / "model.onnx"
