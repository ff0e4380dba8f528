"""Long steps report progress off a terminal: counted plain lines (`n/total`, ETA) on stderr,
stdout left clean for --json."""

# ruff: noqa: F401, F811  (pytest fixtures imported from tests.quantize_support)

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.conftest import run_cli
from tests.quantize_support import TRAINED, quant_root


def test_quantize_reports_each_calibration_batch_on_stderr(
    quant_root: Path, tmp_path: Path
) -> None:
    source = quant_root / TRAINED / "fp32"
    run = run_cli(
        "quantize",
        "--input",
        str(source),
        "--precision",
        "int8",
        "--calib",
        "synthetic",
        "--calib-size",
        "64",
        "--calib-batch-size",
        "8",
        "--check",
        "warn",
        "--out",
        str(tmp_path / "int8"),
        "--json",
    )
    assert run.returncode == 0, run.stderr
    manifest = json.loads(run.stdout)  # stdout is the manifest alone
    assert manifest["calibration"]["images"] == 64
    lines = [line for line in run.stderr.splitlines() if "calibrate: batch of 8" in line]
    assert re.search(r"\(1/8\)$", lines[0]), lines
    assert re.search(r"\(8/8, eta \d+s\)$", lines[-1]), lines
    assert all(line.startswith("se-deploy: [") for line in lines)


def test_train_reports_each_epochs_batches_on_stderr(tmp_path: Path) -> None:
    run = run_cli(
        "train",
        "--model",
        "se_mobilenet",
        "--dataset",
        "synthetic",
        "--input-size",
        "32",
        "--width",
        "0.25",
        "--epochs",
        "1",
        "--batch-size",
        "32",
        "--threads",
        "1",
        "--out",
        str(tmp_path / "train"),
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("epoch 1/1: loss ")  # results on stdout, progress on stderr
    lines = [line for line in run.stderr.splitlines() if "train se_mobilenet: batch" in line]
    assert re.search(r"\(1/16\)$", lines[0]), lines  # the synthetic train split: 512 images
    assert re.search(r"\(16/16, eta \d+s\)$", lines[-1]), lines


def test_export_counts_its_steps_on_stderr(tmp_path: Path) -> None:
    """Every route announces the steps `planned_steps` counts (the bar's total), in order."""
    from se_deploy.stages.export.pipeline import MODEL_STEPS, ONNX_FILE_STEPS

    out = tmp_path / "export"
    tiny = ["--width", "0.25", "--input-size", "32", "--out", str(out)]
    run = run_cli("export", "--model", "se_mobilenet", *tiny)
    assert run.returncode == 0, run.stderr
    exported = out / "se_mobilenet" / "fp32"
    seconds = json.loads((exported / "manifest.json").read_text())["seconds"]
    assert {*seconds, "write files"} == set(MODEL_STEPS) and len(MODEL_STEPS) == 7
    lines = [line for line in run.stderr.splitlines() if "se_mobilenet:" in line]
    assert re.search(r"build model \(1/7\)$", lines[0]), lines
    assert re.search(r"write files \(7/7, eta \d+s\)$", lines[-1]), lines
    onnx_out = tmp_path / "onnx"
    again = run_cli("export", "--onnx", str(exported / "model.onnx"), "--out", str(onnx_out))
    assert again.returncode == 0, again.stderr
    seconds = json.loads((onnx_out / "model" / "fp32" / "manifest.json").read_text())["seconds"]
    assert {*seconds, "write files"} == set(ONNX_FILE_STEPS)
    lines = [line for line in again.stderr.splitlines() if "model.onnx:" in line]
    assert re.search(rf"read ONNX \(1/{len(ONNX_FILE_STEPS)}\)$", lines[0]), lines
