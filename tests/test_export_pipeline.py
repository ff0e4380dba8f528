"""`se-deploy export` end to end on every registered model (tiny), plus its options and failures."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper

from se_deploy.core.checks import require_parity
from se_deploy.core.errors import SeDeployError, VerificationError
from se_deploy.core.files import sha256_file
from se_deploy.models import (
    Gate,
    SEConfig,
    Squeeze,
    SqueezeExcite,
    create_model,
    get_spec,
    list_models,
)
from se_deploy.stages.export import ExportConfig, export_model, find_se_blocks
from se_deploy.stages.export import pipeline as export_pipeline
from se_deploy.stages.export.passes import fold_batchnorm
from se_deploy.stages.export.verify import verify_against_torch
from tests.conftest import TINY, TINY_SIZE
from tests.export_graphs import assert_same_outputs, ops, run_unoptimized
from tests.export_support import save_checkpoint, tiny_config, trained_like

NOT_IN_SE = {"Reshape", "Flatten", "Unsqueeze", "Squeeze", "Gemm", "MatMul", "Identity"}
CANONICAL_SE = [
    {"GlobalAveragePool", "GlobalMaxPool"},
    {"Conv"},
    {"Relu"},
    {"Conv"},
    {"Sigmoid", "HardSigmoid", "Tanh", "Relu"},
    {"Mul"},
]


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
    assert parity["output_range"] > 0.1  # non-trivial logits: the diff below is meaningful
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

    def corrupting_passes(model: onnx.ModelProto, passes):
        graph, records = run_passes(model, passes)
        gemm = next(node for node in graph.graph.node if node.op_type == "Gemm")
        bias = next(init for init in graph.graph.initializer if init.name == gemm.input[2])
        shifted = numpy_helper.to_array(bias) + np.arange(TINY.num_classes, dtype=np.float32)
        bias.CopyFrom(numpy_helper.from_array(shifted, bias.name))
        return graph, records

    monkeypatch.setattr(export_pipeline, "run_passes", corrupting_passes)

    with pytest.raises(
        VerificationError,
        match=r"random inputs \(4\): max abs diff 9 > 0.0001"
        r", min cosine .* top-1 agreement 0\.\d{4} < 1.0",
    ):
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
    torch.onnx.export(
        model, (image,), buffer, dynamo=False, do_constant_folding=False, input_names=["input"]
    )
    unfolded = onnx.load_from_string(buffer.getvalue())
    assert ops(unfolded).count("BatchNormalization") > 20

    folded = fold_batchnorm(unfolded)

    assert "BatchNormalization" not in ops(folded)
    assert_same_outputs(unfolded, folded, {"input": image.numpy()})


def test_cli_export_is_byte_identical_across_processes(cli, tmp_path: Path) -> None:
    in_process = export_model(tiny_config("mobilenet_v3_small", tmp_path / "lib"))

    done = cli(
        "export",
        "--model",
        "mobilenet_v3_small",
        "--width",
        str(TINY.width),
        "--num-classes",
        str(TINY.num_classes),
        "--small-input",
        "--input-size",
        str(TINY_SIZE),
        "--verify-samples",
        "4",
        "--out",
        str(tmp_path / "cli"),
        "--json",
    )

    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    assert Path(printed["onnx"]).read_bytes() == in_process.onnx_path.read_bytes()
    assert printed["manifest"]["se_blocks"]["found"] == 9


def test_random_init_export_has_non_trivial_logits_and_parity(tmp_path: Path) -> None:
    result = export_model(tiny_config("se_mobilenet", tmp_path, dynamic_batch=True))
    (parity,) = result.manifest["verification"]["results"]
    images = np.random.default_rng(7).standard_normal((8, 3, TINY_SIZE, TINY_SIZE), np.float32)

    logits = run_unoptimized(onnx.load(result.onnx_path), {"input": images})[0]

    assert logits.std() > 1e-2  # unsettled BN statistics gave ~1e-19 here
    assert len(set(logits.argmax(1).tolist())) > 1
    assert parity["output_range"] > 0.1
    assert 0 < parity["max_abs_diff"] <= 1e-4
    assert result.manifest["weights"] == {
        "init": "random",
        "seed": 0,
        "batchnorm": f"settled on 2 batches of 2 standard-normal {TINY_SIZE}x{TINY_SIZE} images",
    }


def test_parity_check_fails_on_a_perturbed_onnx_weight(tmp_path: Path) -> None:
    config = tiny_config("se_mobilenet", tmp_path)
    model = onnx.load(export_model(config).onnx_path)
    source = export_pipeline.load_source_model(config)  # the same seeded, settled model
    inputs = export_pipeline.verification_inputs(config, source)
    assert all(
        p.passed for p in verify_against_torch(model.SerializeToString(), source.module, inputs)
    )

    convs = [node for node in model.graph.node if node.op_type == "Conv"]
    weight = next(i for i in model.graph.initializer if i.name == convs[len(convs) // 2].input[1])
    weight.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(weight) * 1.01, weight.name))
    (parity,) = verify_against_torch(model.SerializeToString(), source.module, inputs)

    assert not parity.passed
    assert parity.max_abs_diff > parity.abs_limit
    with pytest.raises(VerificationError, match=r"random inputs \(4\): max abs diff"):
        require_parity([parity], "se_mobilenet")


def test_a_failed_write_leaves_the_previous_export_untouched(tmp_path, monkeypatch) -> None:
    first = export_model(tiny_config("mobilenet", tmp_path))
    before = first.onnx_path.read_bytes(), first.manifest_path.read_bytes()

    def disk_full(path: Path, payload) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(export_pipeline, "atomic_write_json", disk_full)
    with pytest.raises(SeDeployError, match=r"cannot write '.*mobilenet/fp32' \(No space left"):
        export_model(tiny_config("mobilenet", tmp_path, seed=1))

    assert (first.onnx_path.read_bytes(), first.manifest_path.read_bytes()) == before
    written = sorted(path.name for path in first.onnx_path.parent.iterdir())
    assert written == ["manifest.json", "model.onnx"]


def test_abs_quantile_forgives_a_rare_outlier_sample_but_not_a_shifted_majority() -> None:
    from se_deploy.core.checks import Tolerance, compare_outputs

    reference = np.tile(np.linspace(-10.0, 10.0, 10), (200, 1))  # logit range 20: abs limit 5
    outlier = reference.copy()
    outlier[7, 0] += 8.0  # one sample of 200 off by 8
    worst = Tolerance(max_abs=0.25, min_cosine=0.5, min_top1_agreement=0.5)
    p99 = Tolerance(max_abs=0.25, min_cosine=0.5, min_top1_agreement=0.5, abs_quantile=0.99)

    assert compare_outputs(reference, outlier, "x", worst).failures == ("max abs diff 8 > 5",)
    forgiven = compare_outputs(reference, outlier, "x", p99)
    assert forgiven.passed and forgiven.max_abs_diff == 8.0 and forgiven.judged_abs_diff == 0.0
    shifted = reference.copy()
    shifted[:10, 0] += 8.0  # 5% of the samples
    assert compare_outputs(reference, shifted, "x", p99).failures == (
        "max abs diff (at the 0.99 quantile of samples) 8 > 5",
    )
