"""`se-deploy export` end to end on every registered model (tiny), plus its options and failures."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper
from torch import nn

from se_deploy.artifacts import sha256_file
from se_deploy.errors import SeDeployError, VerificationError
from se_deploy.export import ExportConfig, export_model, find_se_blocks
from se_deploy.export import pipeline as export_pipeline
from se_deploy.export.passes import fold_batchnorm
from se_deploy.models import (
    Gate,
    SEConfig,
    Squeeze,
    SqueezeExcite,
    create_model,
    get_spec,
    list_models,
)
from tests.conftest import TINY, TINY_SIZE
from tests.export_graphs import assert_same_outputs, ops, run_unoptimized

NOT_IN_SE = {"Reshape", "Flatten", "Unsqueeze", "Squeeze", "Gemm", "MatMul", "Identity"}
CANONICAL_SE = [{"GlobalAveragePool", "GlobalMaxPool"}, {"Conv"}, {"Relu"}, {"Conv"},
                {"Sigmoid", "HardSigmoid", "Tanh", "Relu"}, {"Mul"}]  # fmt: skip


def trained_like(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give random-init weights a trained model's spread (BN statistics, biases, head scale),
    so logits are of order 1 and parity figures mean something."""
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


def save_checkpoint(path: Path, name: str, se: SEConfig | None = None) -> Path:
    """A checkpoint as `se-deploy train` writes it: weights plus model name, config, preprocess."""
    config = TINY if se is None else TINY.__class__(**{**TINY.__dict__, "se": se})
    model = trained_like(create_model(name, config))
    torch.save({
        "state_dict": model.state_dict(),
        "model": name,
        "model_config": json.loads(json.dumps(config.to_dict())),  # enums as plain strings
        "preprocess": {"input_size": TINY_SIZE, "channels": 3, "mean": [0.5] * 3,
                       "std": [0.5] * 3, "resize": "bilinear"},
    }, path)  # fmt: skip
    return path


def tiny_config(name: str, out: Path, **options) -> ExportConfig:
    tiny = {"width": TINY.width, "num_classes": TINY.num_classes, "small_input": True,
            "input_size": TINY_SIZE, "verify_samples": 4}  # fmt: skip
    return ExportConfig(model=name, out=out, **{**tiny, **options})


def _ops_of(model: onnx.ModelProto, names: tuple[str, ...]) -> list[str]:
    by_name = {node.name: node.op_type for node in model.graph.node}
    return [by_name[name] for name in names]


@pytest.mark.parametrize("name", list_models())
def test_every_registered_model_exports_canonical_and_verified(name: str, tmp_path: Path):
    weights = save_checkpoint(tmp_path / "weights.pt", name)
    result = export_model(ExportConfig(weights=weights, out=tmp_path, verify_samples=4))
    model = onnx.load(result.onnx_path)
    manifest = json.loads(result.manifest_path.read_text())
    spec = get_spec(name)

    blocks = find_se_blocks(model)
    assert len(blocks) == spec.se_blocks == manifest["se_blocks"]["found"]
    for block in blocks:
        block_ops = _ops_of(model, block.nodes)
        assert not NOT_IN_SE & set(block_ops)
        assert all(op in allowed for op, allowed in zip(block_ops, CANONICAL_SE, strict=True))
    se_modules = [m for m in create_model(name, TINY).modules() if isinstance(m, SqueezeExcite)]
    assert [(b.channels, b.reduced_channels) for b in blocks] == [
        (m.channels, m.reduce.out_channels) for m in se_modules
    ]
    assert {"BatchNormalization", "Identity"}.isdisjoint(ops(model))
    onnx.checker.check_model(model, full_check=True)
    (parity,) = manifest["verification"]["results"]
    assert parity["output_range"] > 0.5  # trained-like logits: the diff below is meaningful
    assert parity["max_abs_diff"] <= 1e-4
    assert parity["top1_agreement"] == 1.0
    assert manifest["outputs"][0]["sha256"] == sha256_file(result.onnx_path)
    assert manifest["weights"]["sha256"] == sha256_file(weights)
    assert result.onnx_path == tmp_path / name / "fp32" / "model.onnx"


@pytest.mark.parametrize("gate", list(Gate))
@pytest.mark.parametrize("squeeze", list(Squeeze))
def test_se_finder_reports_each_squeeze_and_gate(squeeze: Squeeze, gate: Gate, tmp_path: Path):
    se = SEConfig(reduction=4, squeeze=squeeze, gate=gate)
    weights = save_checkpoint(tmp_path / "weights.pt", "se_mobilenet", se)

    result = export_model(ExportConfig(weights=weights, out=tmp_path, verify_samples=2))

    blocks = find_se_blocks(onnx.load(result.onnx_path))
    assert len(blocks) == get_spec("se_mobilenet").se_blocks
    assert {(b.squeeze, b.gate) for b in blocks} == {(squeeze, gate)}
    assert {b.reduction for b in blocks} == {4.0}


def test_checkpoint_config_and_input_size_are_used(tmp_path: Path) -> None:
    weights = save_checkpoint(tmp_path / "w.pt", "mobilenet_v3_small")

    manifest = export_model(ExportConfig(weights=weights, out=tmp_path, verify_samples=1)).manifest

    assert manifest["model"]["config"]["width"] == TINY.width
    assert manifest["export"]["input_shape"] == [1, 3, TINY_SIZE, TINY_SIZE]
    assert manifest["preprocess"]["input_size"] == TINY_SIZE


def test_reexport_is_byte_identical(tmp_path: Path) -> None:
    first = export_model(tiny_config("se_shufflenet", tmp_path / "a"))
    second = export_model(tiny_config("se_shufflenet", tmp_path / "b"))

    assert first.onnx_path.read_bytes() == second.onnx_path.read_bytes()


def test_dynamic_batch_runs_any_batch_and_is_verified_at_two(tmp_path: Path) -> None:
    result = export_model(tiny_config("se_shufflenet_v2", tmp_path, dynamic_batch=True))
    model = onnx.load(result.onnx_path)

    assert result.manifest["export"]["input_shape"] == ["batch", 3, TINY_SIZE, TINY_SIZE]
    images = np.zeros((5, 3, TINY_SIZE, TINY_SIZE), np.float32)
    assert run_unoptimized(model, {"input": images})[0].shape == (5, TINY.num_classes)
    assert result.manifest["verification"]["results"][0]["samples"] == 4


def test_static_batch_and_opset(tmp_path: Path) -> None:
    result = export_model(tiny_config("mobilenet", tmp_path, batch=3, opset=20))

    assert result.manifest["export"]["input_shape"] == [3, 3, TINY_SIZE, TINY_SIZE]
    assert onnx.load(result.onnx_path).opset_import[0].version == 20
    assert result.manifest["verification"]["results"][0]["samples"] == 6  # whole batches


def test_dataset_images_are_verified_too(tmp_path: Path) -> None:
    result = export_model(tiny_config("se_mobilenet", tmp_path, dataset="synthetic"))

    sources = [r["source"] for r in result.manifest["verification"]["results"]]
    assert sources == ["random", "synthetic"]


def test_a_parity_failure_writes_nothing_and_shows_the_figures(tmp_path, monkeypatch) -> None:
    run_passes = export_pipeline.run_passes

    def corrupting_passes(model: onnx.ModelProto):
        graph, records = run_passes(model)
        gemm = next(node for node in graph.graph.node if node.op_type == "Gemm")
        bias = next(init for init in graph.graph.initializer if init.name == gemm.input[2])
        shifted = numpy_helper.to_array(bias) + np.arange(TINY.num_classes, dtype=np.float32)
        bias.CopyFrom(numpy_helper.from_array(shifted, bias.name))
        return graph, records

    monkeypatch.setattr(export_pipeline, "run_passes", corrupting_passes)

    with pytest.raises(VerificationError, match=r"random inputs \(4\): max abs diff 9 > 0.0001"
                       r", min cosine .* top-1 agreement 0.0000 < 1.0"):
        export_model(tiny_config("se_mobilenet", tmp_path))
    assert not any(tmp_path.rglob("*.onnx"))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"batch": 2, "dynamic_batch": True}, "both --batch and --dynamic-batch"),
        ({"opset": 13}, "opset 13 (use 14..20)"),
        ({"input_size": 8}, "input size 8"),
        ({"model": None}, "no model"),
    ],
)
def test_bad_options_are_rejected_up_front(options: dict, message: str) -> None:
    with pytest.raises(SeDeployError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ExportConfig(**{"model": "se_mobilenet", **options})


def test_fold_batchnorm_on_an_unfolded_torch_export() -> None:
    model = trained_like(create_model("se_mobilenet_v2", TINY))
    buffer = io.BytesIO()
    image = torch.randn(2, 3, TINY_SIZE, TINY_SIZE)
    torch.onnx.export(model, (image,), buffer, dynamo=False, do_constant_folding=False,
                      input_names=["input"])  # fmt: skip
    unfolded = onnx.load_from_string(buffer.getvalue())
    assert ops(unfolded).count("BatchNormalization") > 20

    folded = fold_batchnorm(unfolded)

    assert "BatchNormalization" not in ops(folded)
    assert_same_outputs(unfolded, folded, {"input": image.numpy()})


def test_cli_export_is_byte_identical_across_processes(cli, tmp_path: Path) -> None:
    in_process = export_model(tiny_config("mobilenet_v3_small", tmp_path / "lib"))

    done = cli("export", "--model", "mobilenet_v3_small", "--width", str(TINY.width),
               "--num-classes", str(TINY.num_classes), "--small-input", "--input-size",
               str(TINY_SIZE), "--verify-samples", "4", "--out", str(tmp_path / "cli"),
               "--json")  # fmt: skip

    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    assert Path(printed["onnx"]).read_bytes() == in_process.onnx_path.read_bytes()
    assert printed["manifest"]["se_blocks"]["found"] == 9


def test_cli_bad_options_exit_2_with_one_line(cli) -> None:
    done = cli("export", "--model", "se_mobilenet", "--batch", "2", "--dynamic-batch")

    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "se-deploy: error: bad export options: both --batch and --dynamic-batch (choose one)"
    ]
