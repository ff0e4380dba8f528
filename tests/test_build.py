"""`se-deploy build`: ORT session configs with the optimized graph saved offline (portable at
'extended', machine-specific at 'all'), and TensorRT engines. Without TensorRT or a CUDA device
the TensorRT tests skip naming what is missing, and the CLI says so in one line, exit 2, writing
nothing."""

# ruff: noqa: F401, F811  (pytest fixtures imported from tests.quantize_support)

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from se_deploy.backends import unavailable_reason
from se_deploy.bench.score import evaluate_artifact
from se_deploy.core.errors import SeDeployError
from se_deploy.data.calibration import image_input
from se_deploy.stages.compile import BuildConfig, EnginePrecision, build_artifact
from se_deploy.stages.compile.ort_build import ort_unavailable
from se_deploy.stages.compile.trt_build import engine_precision, profile_shapes
from se_deploy.stages.quantize import resolve_source
from tests.quantize_support import BASELINE, TRAINED, quant_root, quantized

TRT_MISSING = unavailable_reason("trt")
CUDA_EP_MISSING = ort_unavailable(BuildConfig("ort", provider="cuda"))
SE_CONVS = 26  # 13 SE blocks x (reduce, expand)


def run_file(path: Path, images: np.ndarray, level: str) -> np.ndarray:
    options = ort.SessionOptions()
    options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, level)
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: images})[0]


def images(count: int = 16) -> np.ndarray:
    return np.random.default_rng(1).standard_normal((count, 1, 32, 32)).astype(np.float32)


def files_in(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


def test_ort_build_saves_a_portable_graph_that_reproduces_the_source(
    quantized: dict, tmp_path: Path
) -> None:
    source = resolve_source(quantized["int8"], None, "fp32")
    result = build_artifact(source, BuildConfig("ort", graph_opt="extended", threads=2), tmp_path)
    assert files_in(tmp_path) == {"model.ort-extended.onnx", "build-ort-cpu.json"}
    record = json.loads((tmp_path / "build-ort-cpu.json").read_text())
    assert record == result.manifest and record["precision"] == "int8"
    optimized = record["ort"]["optimized_model"]
    assert optimized["portable"] and optimized["level"] == "extended"
    assert not any("Reorder" in op or "Nchwc" in op for op in optimized["ops"])
    assert record["ort"]["session_options"]["intra_op_num_threads"] == 2
    assert record["ort"]["provider"] == "CPUExecutionProvider"
    saved = run_file(tmp_path / "model.ort-extended.onnx", images(), "ORT_DISABLE_ALL")
    np.testing.assert_allclose(saved, run_file(source.path, images(), "ORT_ENABLE_ALL"), atol=1e-5)
    assert record["ort"]["verification"]["results"][0]["passed"]


def test_ort_build_at_level_all_is_recorded_machine_specific(
    quant_root: Path, tmp_path: Path
) -> None:
    source = resolve_source(None, TRAINED, "fp32", quant_root)
    result = build_artifact(source, BuildConfig("ort", graph_opt="all"), tmp_path)
    optimized = result.manifest["ort"]["optimized_model"]
    assert optimized["path"] == "model.ort-all.onnx" and not optimized["portable"]
    assert "NCHWc" in optimized["note"] and "--graph-opt extended" in optimized["note"]


def test_ort_graph_of_int8_sefloat_runs_se_convs_in_float(quantized: dict, tmp_path: Path):
    """After ORT's own QDQ fusion the SE convolutions stay float (Conv, or FusedConv with their
    activation) and the rest runs as QLinearConv; with the SE path in int8 they are QLinearConv
    too, and the SE gate becomes QLinearSigmoid."""
    ops = {}
    for tag in ("int8", "int8-sefloat"):
        source = resolve_source(quantized[tag], None, "fp32")
        result = build_artifact(source, BuildConfig("ort", graph_opt="extended"), tmp_path / tag)
        ops[tag] = Counter(result.manifest["ort"]["optimized_model"]["ops"])
    float_convs = {tag: ops[tag]["Conv"] + ops[tag]["com.microsoft:FusedConv"] for tag in ops}
    assert float_convs == {"int8": 0, "int8-sefloat": SE_CONVS}
    assert ops["int8"]["QLinearConv"] == ops["int8-sefloat"]["QLinearConv"] + SE_CONVS
    assert ops["int8"]["com.microsoft:QLinearSigmoid"] == SE_CONVS // 2
    assert ops["int8-sefloat"]["com.microsoft:QLinearSigmoid"] == 0


def test_engine_precision_follows_the_onnx_and_rejects_contradictions(
    quant_root: Path, quantized: dict
) -> None:
    fp32 = onnx.load(quant_root / TRAINED / "fp32" / "model.onnx")
    int8 = onnx.load(quantized["int8"])
    fp16 = onnx.load(quantized["fp16"])
    assert engine_precision(EnginePrecision.AUTO, fp32) is EnginePrecision.FP32
    assert engine_precision(EnginePrecision.AUTO, int8) is EnginePrecision.INT8
    assert engine_precision(EnginePrecision.AUTO, fp16) is EnginePrecision.FP16
    assert engine_precision(EnginePrecision.INT8, fp32) is EnginePrecision.INT8  # calibrates
    with pytest.raises(SeDeployError, match=r"model is int8 \(Q/DQ nodes\); --engine-precision"):
        engine_precision(EnginePrecision.FP16, int8)


def test_profile_shapes_cover_the_batch_range(quant_root: Path) -> None:
    dynamic = image_input(onnx.load(quant_root / TRAINED / "fp32" / "model.onnx"))
    static = image_input(onnx.load(quant_root / BASELINE / "fp32" / "model.onnx"))
    config = BuildConfig("trt", min_batch=2, opt_batch=4, max_batch=16)
    assert profile_shapes(dynamic, config) == ((2, 1, 32, 32), (4, 1, 32, 32), (16, 1, 32, 32))
    assert profile_shapes(static, BuildConfig("trt")) == ((1, 1, 32, 32),) * 3
    with pytest.raises(SeDeployError, match="static batch of 1; re-export with --dynamic-batch"):
        profile_shapes(static, config)


@pytest.mark.skipif(TRT_MISSING is None, reason="TensorRT and a CUDA device are present")
def test_cli_trt_build_without_tensorrt_names_it_and_writes_nothing(
    quant_root: Path, cli_in_process, tmp_path: Path
) -> None:
    folder = quant_root / TRAINED / "fp32"
    before = files_in(folder)
    run = cli_in_process("build", "--backend", "trt", "--input", str(folder))
    assert run.returncode == 2
    assert run.stderr.strip() == (
        f"se-deploy: error: cannot build a TensorRT engine here: {TRT_MISSING}; nothing was written"
    )
    assert files_in(folder) == before
    run = cli_in_process(
        "build", "--backend", "trt", "--input", str(folder), "--out", str(tmp_path / "e")
    )
    assert run.returncode == 2 and not (tmp_path / "e").exists()


@pytest.mark.skipif(CUDA_EP_MISSING is None, reason="onnxruntime-gpu's CUDA provider is present")
def test_cli_ort_cuda_build_without_onnxruntime_gpu_says_so(
    quant_root: Path, cli_in_process
) -> None:
    folder = quant_root / TRAINED / "fp32"
    run = cli_in_process("build", "--backend", "ort", "--provider", "cuda", "--input", str(folder))
    assert run.returncode == 2 and "pip install onnxruntime-gpu" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1


def test_cli_ort_build_json(quant_root: Path, cli, tmp_path: Path) -> None:
    run = cli(
        "build",
        "--backend",
        "ort",
        "--model",
        TRAINED,
        "--root",
        str(quant_root),
        "--out",
        str(tmp_path),
        "--json",
    )
    assert run.returncode == 0, run.stderr
    manifest = json.loads(run.stdout)
    assert manifest["command"] == "build" and manifest["options"]["graph_opt"] == "all"
    assert [o["path"] for o in manifest["outputs"]] == ["model.ort-all.onnx"]
    assert manifest["ort"]["optimized_model"]["se_gates"]["placed"]


@pytest.mark.trt
@pytest.mark.skipif(TRT_MISSING is not None, reason=f"needs TensorRT and CUDA: {TRT_MISSING}")
@pytest.mark.parametrize(
    ("tag", "options", "precision", "files"),
    [
        ("fp32", {}, "fp32", {"model.engine", "timing.cache", "build-trt.json"}),
        (
            "fp32",
            {"engine_precision": "fp16"},
            "fp16",
            {"model.engine", "timing.cache", "build-trt.json"},
        ),
        ("int8", {}, "int8", {"model.engine", "timing.cache", "build-trt.json"}),
        (
            "fp32",
            {"engine_precision": "int8", "calib": "synthetic", "calib_size": 64},
            "int8",
            {"model.engine", "timing.cache", "calibration.cache", "build-trt.json"},
        ),
    ],
)
def test_real_trt_builds_run_and_score(
    quant_root: Path,
    quantized: dict,
    tmp_path: Path,
    tag: str,
    options: dict,
    precision: str,
    files: set[str],
) -> None:
    path = quant_root / TRAINED / "fp32" if tag == "fp32" else quantized[tag].parent
    source = resolve_source(path, None, "fp32")
    config = BuildConfig("trt", min_batch=1, opt_batch=8, max_batch=64, **options)
    result = build_artifact(source, config, tmp_path)
    assert files_in(tmp_path) == files
    record = result.manifest["trt"]
    assert record["engine_precision"] == precision
    assert record["profile"]["max"] == [64, 1, 32, 32]
    again = build_artifact(source, config, tmp_path)  # the timing cache is read back
    assert again.manifest["trt"]["timing_cache"]["loaded"]
    row = evaluate_artifact(
        str(tmp_path / "model.engine"), "trt", None, "synthetic", None, "test", 64
    )
    reference = evaluate_artifact(str(source.path), "ort", None, "synthetic", None, "test", 64)
    assert row["count"] == 128 and abs(row["top1"] - reference["top1"]) <= 0.05
