"""`se-deploy export --onnx FILE`: third-party ONNX through the passes into the export layout."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import onnx
import pytest

from se_deploy.core.artifact import resolve_source
from se_deploy.core.checks import compare_outputs
from se_deploy.core.errors import SeDeployError
from se_deploy.core.shapes import InputShapes
from se_deploy.stages.quantize import QuantConfig, quantize_artifact
from se_deploy.stages.quantize.config import Precision
from tests import se_forms


def _dynamic(model: onnx.ModelProto) -> onnx.ModelProto:
    """The model with batch, H and W symbolic, as Paddle2ONNX writes them."""
    dims = model.graph.input[0].type.tensor_type.shape.dim
    for dim, symbol in zip(dims, ("N", None, "H", "W"), strict=True):
        if symbol:
            dim.Clear()
            dim.dim_param = symbol
    del model.graph.value_info[:]
    for dim in model.graph.output[0].type.tensor_type.shape.dim:
        dim.Clear()
    return model


@pytest.fixture
def paddle_file(tmp_path: Path) -> Path:
    path = tmp_path / "pp_lcnet.onnx"
    onnx.save(_dynamic(se_forms.paddle2onnx()), str(path))
    return path


def test_dynamic_dims_need_shapes_and_nothing_is_written(cli_in_process, paddle_file, tmp_path):
    done = cli_in_process("export", "--onnx", str(paddle_file), "--out", str(tmp_path / "out"))
    assert done.returncode == 2
    assert "input 'x' has dynamic dims ['N', 3, 'H', 'W']; pass --shapes x:" in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_export_onnx_writes_the_layout_with_its_origin(cli, paddle_file, tmp_path):
    out = tmp_path / "out"
    done = cli(
        "export",
        "--onnx",
        str(paddle_file),
        "--shapes",
        "x:1x3x6x10",
        "--out",
        str(out),
        "--expect-se",
        "1",
        "--mean",
        "0.5,0.5,0.5",
        "--std",
        "0.5,0.5,0.5",
        "--channel-order",
        "bgr",
        "--json",
    )
    assert done.returncode == 0, done.stderr
    manifest = json.loads((out / "pp_lcnet" / "fp32" / "manifest.json").read_text())
    origin = manifest["model"]["origin"]
    assert origin["sha256"] == hashlib.sha256(paddle_file.read_bytes()).hexdigest()
    assert (origin["opset"], origin["shapes"], manifest["export"]["opset"]) == (
        11,
        "x:1x3x6x10",
        11,
    )
    assert manifest["export"]["input_shape"] == [1, 3, 6, 10]
    assert manifest["se_blocks"]["found"] == 1
    assert manifest["se_blocks"]["blocks"][0]["gate_alpha"] == 0.2
    assert manifest["preprocess"]["channel_order"] == "bgr"
    (parity,) = manifest["verification"]["results"]
    assert parity["passed"] and parity["max_abs_diff"] < 1e-5
    skipped = {p["name"]: p["skipped"] for p in manifest["passes"]}
    assert "opset 11" in skipped["fuse_hard_swish"]


def test_fewer_se_blocks_than_expected_fails_naming_the_misses(cli_in_process, tmp_path):
    path = tmp_path / "plain.onnx"
    onnx.save(se_forms.misaligned_gate(), str(path))
    done = cli_in_process(
        "export", "--onnx", str(path), "--out", str(tmp_path / "out"), "--expect-se", "1"
    )
    assert done.returncode == 2
    assert "found 0 SE blocks, --expect-se 1 expected" in done.stderr
    assert "does not rescale x's channels" in done.stderr
    assert not (tmp_path / "out").exists()


def test_opset_upgrade_is_recorded_and_fuses_hard_swish_after(cli, tmp_path):
    path = tmp_path / "paddle.onnx"
    onnx.save(se_forms.paddle2onnx(), str(path))
    out = tmp_path / "out"
    done = cli("export", "--onnx", str(path), "--opset", "14", "--out", str(out))
    assert done.returncode == 0, done.stderr
    manifest = json.loads((out / "paddle" / "fp32" / "manifest.json").read_text())
    assert manifest["export"]["opset"] == 14 and manifest["model"]["origin"]["opset"] == 11
    assert all(p["skipped"] is None for p in manifest["passes"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--onnx", "missing.onnx"], "is not a file"),
        (["--onnx", "{bad}"], "is not a readable ONNX model"),
        (["--onnx", "{good}", "--shapes", "x:1x3"], "does not fit the input's declared dims"),
        (["--onnx", "{good}", "--shapes", "y:1x3x6x10"], "'y', not an input of the model"),
        (["--onnx", "{good}", "--shapes", "x=1x3"], "is not NAME:DxDxD"),
        (["--onnx", "{good}", "--opset", "9"], "below the file's opset 11"),
        (["--onnx", "{good}", "--model", "se_mobilenet"], "--model with --onnx"),
    ],
)
def test_bad_onnx_inputs_are_one_line_errors(cli_in_process, tmp_path, args, message):
    good, bad = tmp_path / "good.onnx", tmp_path / "bad.onnx"
    onnx.save(se_forms.paddle2onnx(), str(good))
    bad.write_bytes(b"not a protobuf at all")
    args = [a.format(good=good, bad=bad) for a in args]
    done = cli_in_process("export", *args, "--out", str(tmp_path / "out"))
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()


def test_non_square_import_quantizes_to_int8_with_se_kept_float(cli, tmp_path):
    """48x192-style inputs: calibration images are resized to the model's H x W."""
    path = tmp_path / "nhwc.onnx"
    onnx.save(se_forms.tf2onnx_nhwc(), str(path))
    out = tmp_path / "out"
    assert cli("export", "--onnx", str(path), "--out", str(out)).returncode == 0
    source = resolve_source(out / "nhwc" / "fp32", None, "fp32")
    config = QuantConfig(
        Precision.INT8,
        calib="synthetic",
        calib_size=32,
        calib_batch_size=1,
        se_precision="float",
        enforce_check=False,
        verify_size=8,
    )
    result = quantize_artifact(source, config)
    assert result.manifest["calibration"]["preprocess"]["input_size"] == [6, 10]
    assert result.manifest["se_blocks"]["found_in_artifact"] == 1
    assert result.onnx_path.is_file()


def test_parity_fails_on_a_changed_output_shape_before_any_figure():
    reference = np.zeros((2, 4), np.float32)
    parity = compare_outputs(reference, np.zeros((2, 1, 4), np.float32), "random")
    assert not parity.passed
    assert parity.failures == ("output shape [2, 1, 4] != reference [2, 4]",)


def test_top1_is_judged_only_for_sample_by_class_outputs():
    rng = np.random.default_rng(0)
    maps = rng.standard_normal((2, 1, 8, 8)).astype(np.float32)
    parity = compare_outputs(maps, maps + 1e-6, "random")
    assert parity.passed and parity.top1_agreement is None
    logits = rng.standard_normal((4, 10)).astype(np.float32)
    assert compare_outputs(logits, logits, "random").top1_agreement == 1.0


def test_shapes_syntax_is_trtexecs():
    shapes = InputShapes.parse("x:1x3x48x192,save_infer_model/scale_0:2x4")
    assert shapes.get("x") == (1, 3, 48, 192)
    assert shapes.get("save_infer_model/scale_0") == (2, 4)
    assert shapes.to_text() == "x:1x3x48x192,save_infer_model/scale_0:2x4"
    with pytest.raises(SeDeployError, match="names an input twice"):
        InputShapes.parse("x:1x3,x:1x4")
