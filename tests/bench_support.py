"""Tiny artifacts for backend and bench tests: an SE/base pair exported to ONNX at 32x32, and a
checkpoint in the form `se-deploy train` writes (it carries its config, preprocessing and the
dataset it names); the same pair made by the export pipeline (manifests name the weights); and
one bench run over it, shared by the run, report and CLI tests."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch

from se_deploy.bench import BenchConfig, BenchResults, build_plan, run_bench
from se_deploy.bench.latency import InterleaveConfig, LatencyConfig
from se_deploy.bench.plan import ExportDirResolver
from se_deploy.models import create_model
from tests.conftest import TINY, TINY_SIZE

PAIR = ("se_mobilenet", "mobilenet")
TINY_DATASET = "synthetic"  # 128 test images of 10 classes at any size: what accuracy runs on


def export_tiny(name: str, folder: Path, weights_seed: int = 0) -> tuple[Path, Path]:
    """model.onnx (dynamic batch) and a train-style checkpoint of the same weights."""
    torch.manual_seed(weights_seed)
    model = create_model(name, TINY)
    folder.mkdir(parents=True, exist_ok=True)
    onnx_path, weights = folder / "model.onnx", folder / f"{name}.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(
            model,
            (torch.randn(1, TINY.in_chans, TINY_SIZE, TINY_SIZE),),
            str(onnx_path),
            input_names=["input"],
            output_names=["logits"],
            opset_version=17,
            dynamo=False,
            dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
        )
    torch.save(
        {
            "state_dict": model.state_dict(),
            "model": name,
            "model_config": TINY.to_dict(),
            "dataset": TINY_DATASET,
            "preprocess": {
                "input_size": TINY_SIZE,
                "channels": TINY.in_chans,
                "mean": [0.5] * 3,
                "std": [0.5] * 3,
            },
        },
        weights,
    )
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


@pytest.fixture(scope="session")
def bench_workdir(tmp_path_factory) -> Path:
    """A working directory whose export/<model>/fp32/ holds the tiny pair as `se-deploy export`
    makes it (dynamic batch) from train-style checkpoints in checkpoints/<model>/."""
    from se_deploy.stages.export import ExportConfig, export_model

    workdir = tmp_path_factory.mktemp("bench")
    for seed, name in enumerate(PAIR):
        _, weights = export_tiny(name, workdir / "checkpoints" / name, seed)
        export_model(ExportConfig(weights=weights, out=workdir / "export", dynamic_batch=True))
    return workdir


BENCH_CONFIG = BenchConfig(
    latency=LatencyConfig(warmup_iterations=2, iterations=5),
    interleave=InterleaveConfig(rounds=4, calls_per_round=2, resamples=200),
    batch_sizes=(1, 4),
    threads=(1,),
    profile=True,
    profile_iterations=3,
)


@pytest.fixture(scope="session")
def bench_run(bench_workdir: Path, tmp_path_factory) -> tuple[BenchResults, list[Path]]:
    """`bench --model se_mobilenet` on the tiny pair: two batch sizes, accuracy, profile."""
    plan = build_plan(
        ["ort"], ["se_mobilenet"], ["fp32"], resolver=ExportDirResolver(bench_workdir / "export")
    )
    return run_bench(plan, BENCH_CONFIG, tmp_path_factory.mktemp("run"), "se-deploy bench (test)")
