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
