"""Issue 5's accuracy Must-show: FP16 and INT8 artifacts of the trained Fashion-MNIST pairs,
scored by `se-deploy eval` on the full test set with ONNX Runtime CPU.

For every SE model with a committed checkpoint (models/fashion-mnist/<model>.pt), and its
baseline: `se-deploy export` (dynamic batch), `se-deploy quantize` to fp16, int8 and, for SE
models, int8 with the SE path kept float; then `se-deploy eval --artifact` on each artifact and
on the fp32 export. Every command runs as a user would run it (a subprocess of the CLI), and
each figure is read from the JSON that `se-deploy eval` printed. Limits: FP16 within 0.1 and
INT8 within 0.5 top-1 points of the FP32 export.

    python benchmarks/quantize_accuracy.py [--models se_mobilenet,...] [--root DIR]
        [--calib-size 512] [--calib-method minmax] [--threads 0]

Artifacts go to --root (default runs/quantize_accuracy, so the shared export/ is left alone);
an export is reused while its weights' sha256 matches. Exits 1 when a limit is missed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from se_deploy.core.files import sha256_file
from se_deploy.core.spec import ZOO_DIR
from se_deploy.models import get_spec, list_models

DATASET = "fashion-mnist"
LIMITS = {"fp16": 0.1, "int8": 0.5, "int8-sefloat": 0.5}  # top-1 points below FP32


def se_deploy(*args: str) -> str:
    """Run the CLI; its stdout, or exit with its one-line error."""
    run = subprocess.run([sys.executable, "-m", "se_deploy", *args], capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit(f"se-deploy {' '.join(args)} failed: {run.stderr.strip()}")
    return run.stdout


def trained_pairs(names: list[str] | None) -> list[str]:
    """SE models with a checkpoint, each followed by its baseline when that has one too."""
    chosen = []
    for name in names or list_models():
        spec = get_spec(name)
        if not spec.se_blocks or not (ZOO_DIR / DATASET / f"{name}.pt").is_file():
            continue
        chosen.append(name)
        if spec.baseline and (ZOO_DIR / DATASET / f"{spec.baseline}.pt").is_file():
            chosen.append(spec.baseline)
    return chosen


def export(name: str, root: Path) -> Path:
    weights = ZOO_DIR / DATASET / f"{name}.pt"
    folder = root / name / "fp32"
    manifest = folder / "manifest.json"
    if manifest.is_file():
        recorded = json.loads(manifest.read_text()).get("weights") or {}
        if recorded.get("sha256") == sha256_file(weights):
            return folder / "model.onnx"
    se_deploy(
        "export",
        "--weights",
        str(weights),
        "--dynamic-batch",
        "--dataset",
        DATASET,
        "--out",
        str(root),
    )
    return folder / "model.onnx"


def quantize(name: str, root: Path, args: argparse.Namespace) -> dict[str, Path]:
    """fp16, int8 and (SE models) int8-sefloat artifacts, by folder tag."""
    common = ["--model", name, "--root", str(root), "--json"]
    int8 = [
        "--precision",
        "int8",
        "--calib",
        DATASET,
        "--calib-size",
        str(args.calib_size),
        "--calib-method",
        args.calib_method,
        "--verify-size",
        "512",
    ]
    runs = {"fp16": ["--precision", "fp16"], "int8": int8}
    if get_spec(name).se_blocks:
        runs["int8-sefloat"] = [*int8, "--se-precision", "float"]
    artifacts = {}
    for tag, options in runs.items():
        manifest = json.loads(se_deploy("quantize", *common, *options))
        artifacts[tag] = root / name / manifest["precision"] / "model.onnx"
    return artifacts


def evaluate(artifact: Path) -> dict[str, Any]:
    return json.loads(
        se_deploy(
            "eval",
            "--artifact",
            str(artifact),
            "--dataset",
            DATASET,
            "--backend",
            "ort",
            "--device",
            "cpu",
            "--json",
        )
    )


def rows_for(name: str, root: Path, args: argparse.Namespace) -> list[dict[str, Any]]:
    fp32 = evaluate(export(name, root))
    rows = [{**fp32, "drop": 0.0, "limit": None, "ok": True}]
    for tag, artifact in quantize(name, root, args).items():
        row = evaluate(artifact)
        drop = round((fp32["top1"] - row["top1"]) * 100, 2)
        rows.append(
            {**row, "precision": tag, "drop": drop, "limit": LIMITS[tag], "ok": drop <= LIMITS[tag]}
        )
    return rows


def print_table(rows: list[dict[str, Any]]) -> None:
    header = (
        f"{'model':<14} {'precision':<13} {'top-1':>7} {'top-5':>7} {'images':>6} "
        f"{'drop (pt)':>9} {'limit':>6}  ok"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        limit = "-" if row["limit"] is None else f"{row['limit']:.1f}"
        print(
            f"{row['model']:<14} {row['precision']:<13} {row['top1'] * 100:>7.2f} "
            f"{row['top5'] * 100:>7.2f} {row['count']:>6} {row['drop']:>9.2f} {limit:>6}  "
            f"{'yes' if row['ok'] else 'NO'}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", help="comma-separated SE models (default: every trained one)")
    parser.add_argument("--root", type=Path, default=Path("runs/quantize_accuracy"))
    parser.add_argument("--calib-size", type=int, default=512)
    parser.add_argument("--calib-method", default="minmax")
    args = parser.parse_args()
    names = trained_pairs(args.models.split(",") if args.models else None)
    if not names:
        sys.exit(f"no trained SE model in {ZOO_DIR / DATASET}; run `se-deploy train` first")
    rows = [row for name in names for row in rows_for(name, args.root, args)]
    print(
        f"Fashion-MNIST test set, ONNX Runtime CPU, calibration {args.calib_size} train "
        f"images ({args.calib_method}); drop = FP32 top-1 minus this artifact's, in points"
    )
    print_table(rows)
    return 0 if all(row["ok"] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
