"""`se-deploy quantize` end to end on a tiny trained SE model: FP16 and INT8 artifacts run in ORT
and agree with the float model, the SE finder still sees every block, SE nodes asked to stay
float carry no Q/DQ, quant_pre_process always runs, and failures write nothing."""

# ruff: noqa: F401, F811  (pytest fixtures imported from tests.quantize_support)

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest

from se_deploy.backends import runner_class
from se_deploy.bench.score import evaluate_artifact
from se_deploy.core.checks import Tolerance
from se_deploy.core.errors import SeDeployError, VerificationError
from se_deploy.core.onnx.graph import GraphIndex
from se_deploy.core.onnx.qdq import DEQUANTIZE, QUANTIZE, has_qdq, strip_qdq
from se_deploy.data import load_dataset
from se_deploy.stages.export import find_se_blocks
from se_deploy.stages.quantize import QuantConfig, quantize_artifact, resolve_source
from se_deploy.stages.quantize import int8 as int8_module
from se_deploy.stages.quantize import pipeline as quantize_pipeline
from tests.quantize_support import BASELINE, TRAINED, quant_root, quantized

SE_BLOCKS = 13
SE_NODES_PER_BLOCK = 6  # pool, reduce Conv, Relu, expand Conv, gate, Mul


def logits(path: Path, images: np.ndarray) -> np.ndarray:
    with runner_class("ort")().load(path) as runner:
        return runner.run(images)


def eval_images(count: int = 128) -> np.ndarray:
    data = load_dataset("synthetic", "test", 32, channels=1)
    return next(data.batches(count))[0]


def manifest_of(path: Path) -> dict:
    return json.loads((path.parent / "manifest.json").read_text())


def test_fp16_keeps_float32_io_and_matches_fp32(quant_root: Path, quantized: dict) -> None:
    fp32 = quant_root / TRAINED / "fp32" / "model.onnx"
    model = onnx.load(quantized["fp16"])
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert any(t.data_type == onnx.TensorProto.FLOAT16 for t in model.graph.initializer)
    reference, candidate = logits(fp32, eval_images()), logits(quantized["fp16"], eval_images())
    spread = float(reference.max() - reference.min())
    assert np.abs(candidate - reference).max() <= 1e-2 * max(1.0, spread)
    assert (candidate.argmax(1) == reference.argmax(1)).mean() >= 0.98
    manifest = manifest_of(quantized["fp16"])
    assert manifest["precision"] == "fp16" and manifest["model"]["name"] == TRAINED
    assert manifest["se_blocks"]["found_in_artifact"] == SE_BLOCKS
    assert manifest["preprocess"]["input_size"] == 32  # carried from the export's checkpoint


def test_int8_is_per_channel_qdq_agrees_with_float_and_keeps_se_blocks(
    quant_root: Path, quantized: dict
) -> None:
    fp32 = quant_root / TRAINED / "fp32" / "model.onnx"
    model = onnx.load(quantized["int8"])
    assert has_qdq(model)
    index = GraphIndex(model)
    weights = [
        (index.constant(node.input[0]), index.constant(node.input[1]))
        for node in model.graph.node
        if node.op_type == DEQUANTIZE
        and node.input[0] in index.initializers
        and index.constant(node.input[0]).ndim == 4
    ]
    assert weights and all(scale.size == weight.shape[0] for weight, scale in weights)
    assert len(find_se_blocks(strip_qdq(model))) == SE_BLOCKS
    reference, candidate = logits(fp32, eval_images()), logits(quantized["int8"], eval_images())
    assert (candidate.argmax(1) == reference.argmax(1)).mean() >= 0.9
    manifest = manifest_of(quantized["int8"])
    assert manifest["se_blocks"]["found_in_artifact"] == SE_BLOCKS
    assert manifest["se_blocks"]["excluded_nodes"] == []
    assert manifest["calibration"]["images"] == 256 and manifest["calibration"]["split"] == "train"
    assert manifest["options"]["scheme"] == "s8s8" and manifest["options"]["per_channel"]
    assert manifest["int8"]["clamps_absorbed"] == 0  # int8 activations: left as quantized
    assert manifest["int8"]["se_gates_collapsed"] == 0  # broadcast form already


def test_u8s8_drops_the_relus_before_se_blocks_and_keeps_the_blocks(
    quant_root: Path, tmp_path: Path
) -> None:
    source = resolve_source(None, TRAINED, "fp32", quant_root)
    config = QuantConfig("int8", calib="synthetic", calib_size=64, scheme="u8s8")
    result = quantize_artifact(source, config, tmp_path / "u8s8")
    model = onnx.load(result.onnx_path)
    simulated = strip_qdq(model)
    blocks = find_se_blocks(simulated)
    assert len(blocks) == result.manifest["se_blocks"]["found_in_artifact"] == SE_BLOCKS
    assert result.manifest["int8"]["clamps_absorbed"] >= SE_BLOCKS
    index = GraphIndex(simulated)  # each SE input is now quantized straight from its conv
    assert {index.producer[block.input].op_type for block in blocks} == {"Conv"}
    assert sum(node.op_type == "Relu" for node in model.graph.node) == SE_BLOCKS  # SE's own
    fp32 = quant_root / TRAINED / "fp32" / "model.onnx"
    reference, candidate = logits(fp32, eval_images()), logits(result.onnx_path, eval_images())
    assert (candidate.argmax(1) == reference.argmax(1)).mean() >= 0.9


def test_se_float_nodes_carry_no_qdq(quantized: dict) -> None:
    model = onnx.load(quantized["int8-sefloat"])
    manifest = manifest_of(quantized["int8-sefloat"])
    excluded = manifest["se_blocks"]["excluded_nodes"]
    assert len(excluded) == SE_BLOCKS * SE_NODES_PER_BLOCK
    blocks = {block["name"]: block for block in manifest["se_blocks"]["blocks"]}
    index = GraphIndex(model)
    nodes = {node.name: node for node in model.graph.node}
    for block in blocks.values():
        for name in block["nodes"]:
            node = nodes[name]
            for tensor in node.input:
                producer = index.producer.get(tensor)
                fed_qdq = producer is not None and producer.op_type == DEQUANTIZE
                assert not fed_qdq or index.producer[producer.input[0]].input[0] == block["input"]
            for tensor in node.output:
                readers = {reader.op_type for reader in index.consumers.get(tensor, [])}
                assert QUANTIZE not in readers or tensor == block["output"]
            if node.op_type == "Conv":  # float weights, not dequantized int8 ones
                assert index.initializers[node.input[1]].data_type == onnx.TensorProto.FLOAT
    assert len(find_se_blocks(strip_qdq(model))) == SE_BLOCKS
    assert manifest["int8"]["float_ops"]["Conv"] == 2 * SE_BLOCKS


def test_quant_pre_process_always_runs(quant_root: Path, monkeypatch, tmp_path: Path) -> None:
    calls = []
    real = int8_module.quant_pre_process

    def spy(source, target, *args, **kwargs):
        calls.append(Path(source))
        return real(source, target, *args, **kwargs)

    monkeypatch.setattr(int8_module, "quant_pre_process", spy)
    source = resolve_source(None, TRAINED, "fp32", quant_root)
    config = QuantConfig("int8", calib="synthetic", calib_size=32, calib_method="percentile")
    result = quantize_artifact(source, config, tmp_path / "run")
    assert calls == [source.path]
    assert result.manifest["seconds"]["quant_pre_process"] > 0
    assert result.manifest["options"]["percentile"] == 99.999


def test_failed_check_writes_nothing(quant_root: Path, monkeypatch, tmp_path: Path) -> None:
    impossible = Tolerance(max_abs=0.0, min_cosine=1.0, min_top1_agreement=1.0)
    monkeypatch.setitem(quantize_pipeline.TOLERANCES, quantize_pipeline.Precision.INT8, impossible)
    source = resolve_source(None, TRAINED, "fp32", quant_root)
    with pytest.raises(VerificationError, match=r"disagrees with its float source.*nothing was"):
        quantize_artifact(
            source, QuantConfig("int8", calib="synthetic", calib_size=32), tmp_path / "run"
        )
    assert not (tmp_path / "run").exists()

    unenforced = QuantConfig("int8", calib="synthetic", calib_size=32, enforce_check=False)
    written = quantize_artifact(source, unenforced, tmp_path / "run")
    verification = written.manifest["verification"]
    assert verification["enforced"] is False and not verification["results"][0]["passed"]
    assert written.onnx_path.is_file()


def test_se_float_on_a_baseline_and_requantizing_are_refused(
    quant_root: Path, quantized: dict, tmp_path: Path
) -> None:
    baseline = resolve_source(None, BASELINE, "fp32", quant_root)
    config = QuantConfig("int8", calib="synthetic", calib_size=8, se_precision="float")
    with pytest.raises(SeDeployError, match=r"has none \(a non-SE baseline"):
        quantize_artifact(baseline, config, tmp_path / "base")
    again = resolve_source(quantized["int8"], None, "fp32")
    with pytest.raises(SeDeployError, match=r"is already int8 \(QDQ\); quantize the fp32"):
        quantize_artifact(again, QuantConfig("fp16"), tmp_path / "again")
    assert not (tmp_path / "base").exists() and not (tmp_path / "again").exists()


def test_static_batch_baseline_quantizes_and_evaluates(quant_root: Path, tmp_path: Path) -> None:
    source = resolve_source(None, BASELINE, "fp32", quant_root)
    result = quantize_artifact(
        source, QuantConfig("int8", calib="synthetic", calib_size=16), tmp_path / "int8"
    )
    assert result.manifest["calibration"]["batch_size"] == 1  # the export's static batch
    assert result.manifest["se_blocks"]["found"] == 0
    row = evaluate_artifact(str(result.onnx_path), "ort", None, "synthetic", None, "test", 64)
    assert row["count"] == 128 and row["precision"] == "int8"


def test_cli_quantize_then_eval_the_artifact(quant_root: Path, cli, tmp_path: Path) -> None:
    run = cli(
        "quantize",
        "--model",
        TRAINED,
        "--root",
        str(quant_root),
        "--precision",
        "int8",
        "--calib",
        "synthetic",
        "--calib-size",
        "64",
        "--se-precision",
        "float",
        "--check",
        "warn",
        "--out",
        str(tmp_path / "q"),
        "--json",
    )
    assert run.returncode == 0, run.stderr
    manifest = json.loads(run.stdout)
    assert manifest["precision"] == "int8-sefloat"
    options = manifest["options"]
    assert (options["target"], options["scheme"], options["enforce_check"]) == (
        "ort-cpu",
        "u8s8",
        False,
    )
    assert manifest["verification"]["enforced"] is False
    assert (tmp_path / "q" / "manifest.json").is_file()
    artifact = str(tmp_path / "q" / "model.onnx")
    shown = cli("eval", "--artifact", artifact, "--dataset", "synthetic", "--json")
    assert shown.returncode == 0, shown.stderr
    row = json.loads(shown.stdout)
    expected = evaluate_artifact(artifact, "ort", None, "synthetic", None, "test", 256)
    assert (row["top1"], row["top5"], row["count"]) == (
        expected["top1"],
        expected["top5"],
        expected["count"],
    )
    assert row["backend"] == "ort" and row["precision"] == "int8-sefloat"
    assert row["preprocess"] == manifest["preprocess"] | {"resize": "bilinear"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", TRAINED, "--precision", "int8"], "int8 needs calibration data"),
        (["--model", "resnet", "--precision", "fp16"], "resnet"),
        (["--precision", "fp16"], "name the input once: --model NAME"),
        (["--model", TRAINED, "--precision", "fp16", "--check", "maybe"], "'maybe' is not one of"),
        (
            ["--model", BASELINE, "--precision", "fp16", "--root", "nowhere"],
            "no ONNX model at 'nowhere/mobilenet/fp32/model.onnx'; run `se-deploy export",
        ),
    ],
)
def test_cli_quantize_errors_are_one_line(cli_in_process, args: list[str], message: str) -> None:
    run = cli_in_process("quantize", *args)
    assert run.returncode == 2
    assert message in run.stderr and len(run.stderr.strip().splitlines()) == 1


def test_cli_eval_artifact_excludes_weights(cli_in_process, quantized: dict) -> None:
    run = cli_in_process("eval", "--artifact", str(quantized["fp16"]), "--weights", "w.pt")
    assert run.returncode == 2 and "drop --model/--weights" in run.stderr


def test_eval_pads_the_last_batch_of_a_static_batch_artifact(tmp_path: Path) -> None:
    """128 images through a batch-3 artifact: the ragged tail is padded and its padding dropped,
    so the figures equal those of the same weights exported with a dynamic batch."""
    from se_deploy.stages.export import ExportConfig, export_model

    tiny = {
        "model": BASELINE,
        "width": 0.25,
        "num_classes": 10,
        "in_chans": 1,
        "small_input": True,
        "input_size": 32,
        "verify_samples": 3,
    }
    static = export_model(ExportConfig(**tiny, batch=3, out=tmp_path / "static")).onnx_path
    dynamic = export_model(ExportConfig(**tiny, dynamic_batch=True, out=tmp_path / "dyn")).onnx_path
    rows = [
        evaluate_artifact(str(path), "ort", "cpu", "synthetic", None, "test", 50)
        for path in (static, dynamic)
    ]
    assert rows[0]["count"] == rows[1]["count"] == 128
    assert (rows[0]["top1"], rows[0]["top5"]) == (rows[1]["top1"], rows[1]["top5"])


def test_summary_points_se_models_quantized_s8s8_at_u8s8(quantized: dict, capsys) -> None:
    from se_deploy.core.artifact import RunResult
    from se_deploy.stages.quantize.summary import print_quantize_summary

    path = quantized["int8"]
    manifest = manifest_of(path)
    print_quantize_summary(RunResult(path, path.parent / "manifest.json", manifest))
    printed = " ".join(capsys.readouterr().out.split())
    assert "--scheme u8s8 runs them as integer ops" in printed
    assert "Relu/Clip folded into Quantize" in printed
    manifest["options"]["scheme"] = "u8s8"
    print_quantize_summary(RunResult(path, path.parent / "manifest.json", manifest))
    assert "--scheme u8s8" not in capsys.readouterr().out


def test_int8_puts_resize_expanded_gates_back_in_broadcast_form(
    quant_root: Path, tmp_path: Path
) -> None:
    from se_deploy.stages.export.passes import expand_se_gates

    expanded = tmp_path / "expanded" / "model.onnx"
    expanded.parent.mkdir()
    onnx.save(expand_se_gates(onnx.load(quant_root / TRAINED / "fp32" / "model.onnx")), expanded)
    config = QuantConfig("int8", calib="synthetic", calib_size=32, scheme="u8s8")
    result = quantize_artifact(resolve_source(expanded, None, "fp32"), config, tmp_path / "q")
    model = onnx.load(result.onnx_path)
    assert result.manifest["int8"]["se_gates_collapsed"] == SE_BLOCKS
    assert not any(node.op_type == "Resize" for node in model.graph.node)
    assert not any(block.expanded for block in find_se_blocks(strip_qdq(model)))
    assert result.manifest["se_blocks"]["found_in_artifact"] == SE_BLOCKS
