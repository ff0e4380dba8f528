"""`se-deploy fold` end to end on a tiny export: files, manifest decisions, budget, CLI errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import onnx
import pytest

from se_deploy.core.artifact import resolve_source
from se_deploy.core.errors import SeDeployError
from se_deploy.core.onnx.se_pattern import find_se_blocks
from se_deploy.stages.export import ExportConfig, export_model
from se_deploy.stages.fold import FoldConfig, fold_artifact
from tests.conftest import TINY, TINY_SIZE

SIZES = {"data": "synthetic", "calib_size": 32, "select_size": 64, "check_size": 32}


@pytest.fixture(scope="module")
def export_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("fold-pipeline")
    export_model(
        ExportConfig(
            model="se_mobilenet",
            width=TINY.width,
            num_classes=10,
            small_input=True,
            input_size=TINY_SIZE,
            out=root,
        )
    )
    return root


def _fold(root: Path, fold_se: str, out: Path, **options) -> dict:
    source = resolve_source(None, "se_mobilenet", "fp32", root)
    config = FoldConfig.from_fold_se(fold_se, **{**SIZES, **options})
    return fold_artifact(source, config, out).manifest


def test_auto_fold_writes_the_artifact_and_records_every_decision(export_root, tmp_path) -> None:
    out = tmp_path / "fp32-folded"
    manifest = _fold(export_root, "auto", out, max_drop=2.0)
    assert sorted(p.name for p in out.iterdir()) == [
        "gate_stats.json",
        "gates.png",
        "manifest.json",
        "model.onnx",
    ]
    blocks = manifest["se_blocks"]
    assert len(blocks) == 13 and [b["block"] for b in blocks][:2] == [
        "/blocks/blocks.0/se",
        "/blocks/blocks.1/se",
    ]
    visited = sorted(blocks, key=lambda b: b["visited"])
    assert [b["error"] for b in visited] == sorted(b["error"] for b in blocks)
    assert all(b["error"] == pytest.approx(b["output_error_lsq"], abs=1e-6) for b in blocks)
    for block in blocks:
        assert block["site"] in ("consumer", "producer") and block["top1"] is not None
        assert (block["drop_pt"] <= 2.0) == block["folded"]
    folded = [b["block"] for b in blocks if b["folded"]]
    assert manifest["folded"]["blocks"] == [b for b in manifest["folded"]["blocks"] if b in folded]
    assert manifest["folded"]["count"] == len(folded) >= 1
    model = onnx.load(out / "model.onnx")
    assert len(find_se_blocks(model)) == manifest["folded"]["remaining"] == 13 - len(folded)
    assert manifest["selection"]["images"] == 64 and manifest["selection"]["split"] == "test"
    check = manifest["check"]
    assert check["images"] == 32 and check["split"] == "test"
    assert check["drop_pt"] == pytest.approx((check["top1_unfolded"] - check["top1_folded"]) * 100)
    stats = json.loads((out / "gate_stats.json").read_text())
    assert len(stats) == 13 and len(stats[0]["per_channel"]["mean"]) == stats[0]["channels"]
    assert (out / "gates.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    recorded = {o["path"] for o in json.loads((out / "manifest.json").read_text())["outputs"]}
    assert recorded == {"model.onnx", "gate_stats.json", "gates.png"}


def test_selection_and_check_are_disjoint_held_out_images(export_root) -> None:
    from se_deploy.data.calibration import image_input
    from se_deploy.stages.fold.pipeline import load_fold_images

    target = image_input(onnx.load(export_root / "se_mobilenet" / "fp32" / "model.onnx"))
    images = load_fold_images(FoldConfig.from_fold_se("auto", **SIZES), target)
    selection = {image.tobytes() for batch, _ in images.selection for image in batch}
    check = {image.tobytes() for batch, _ in images.check for image in batch}
    calibration = {image.tobytes() for batch in images.calibration for image in batch}
    assert (len(selection), len(check), len(calibration)) == (64, 32, 32)
    assert not selection & check and not (selection | check) & calibration


def test_a_selection_that_leaves_no_check_images_is_refused(export_root, tmp_path) -> None:
    with pytest.raises(
        SeDeployError,
        match=r"none left for the check after 128 selection "
        r"images; lower --select-size",
    ):
        _fold(export_root, "auto", tmp_path / "none-left", select_size=128)
    assert not (tmp_path / "none-left").exists()


def test_zero_budget_folds_nothing(export_root, tmp_path) -> None:
    manifest = _fold(export_root, "auto", tmp_path / "zero", max_drop=0.0)
    assert manifest["folded"]["count"] == 0
    assert not any(block["folded"] for block in manifest["se_blocks"])
    assert len(find_se_blocks(onnx.load(tmp_path / "zero" / "model.onnx"))) == 13
    assert manifest["check"]["drop_pt"] == 0 and manifest["check"]["max_abs_diff"] == 0


def test_listed_blocks_fold_into_the_default_layout(export_root, tmp_path) -> None:
    root = tmp_path / "export"
    shutil.copytree(export_root, root)
    manifest = _fold(root, "0,/blocks/blocks.12/se", None, check_size=0)
    out = root / "se_mobilenet" / "fp32-folded"
    assert manifest["folded"]["blocks"] == ["/blocks/blocks.0/se", "/blocks/blocks.12/se"]
    assert manifest["check"] is None and manifest["selection"] is None
    assert manifest["model"]["name"] == "se_mobilenet"  # carried from the export manifest
    assert len(find_se_blocks(onnx.load(out / "model.onnx"))) == 11


def test_a_file_outside_the_export_layout_needs_out(export_root, tmp_path) -> None:
    loose = tmp_path / "loose.onnx"
    shutil.copy(export_root / "se_mobilenet" / "fp32" / "model.onnx", loose)
    source = resolve_source(loose, None, "fp32")
    with pytest.raises(SeDeployError, match=r"not in the export layout.*pass --out"):
        fold_artifact(source, FoldConfig.from_fold_se("all", **SIZES))
    assert not (tmp_path / "fp32-folded").exists()


def test_cli_reports_bad_input_on_one_line(cli_in_process, export_root) -> None:
    result = cli_in_process("fold", "--input", str(export_root / "se_mobilenet" / "fp32"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "se-deploy: error: bad fold options: no images: pass --data fashion-mnist|synthetic|DIR "
        "(gate statistics need real inputs)"
    ]


def test_summary_warns_when_the_check_set_loses_more_than_the_budget(capsys, tmp_path) -> None:
    from se_deploy.core.artifact import RunResult
    from se_deploy.stages.fold.summary import print_fold_summary

    manifest = {
        "folded": {"count": 1, "of": 2},
        "se_blocks": [],
        "selection": {"images": 50, "split": "test", "top1_unfolded": 0.97, "max_drop_pt": 0.3},
        "check": {
            "images": 100,
            "split": "test",
            "top1_unfolded": 0.93,
            "top1_folded": 0.9256,
            "drop_pt": 0.44,
            "top1_agreement": 0.98,
        },
    }
    print_fold_summary(RunResult(tmp_path / "model.onnx", tmp_path / "manifest.json", manifest))
    assert "warning: the check set lost 0.44 pt, more than the 0.3 pt budget" in " ".join(
        capsys.readouterr().err.split()
    )

    manifest["check"]["drop_pt"] = 0.2
    print_fold_summary(RunResult(tmp_path / "model.onnx", tmp_path / "manifest.json", manifest))
    assert "warning" not in capsys.readouterr().err
