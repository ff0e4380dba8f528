"""Each corpus model (benchmarks/byo_corpus.py) through every stage, as a user runs them.

    python benchmarks/byo_models.py [--out DIR]

Per model: SE blocks found / counted by hand, export max abs diff vs the original (<= 1e-4
FP32), whether fp16 and int8 artifacts were made (int8 on the synthetic calibration set; its
parity check is recorded, not enforced: synthetic blobs are not these models' data), whether
fold ran, the gate forms `build --backend ort` placed, and bench p50 and SE time % of the fp32
export (ORT CPU, one process per model).
Every stage runs through the CLI; any traceback fails the run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from byo_corpus import CORPUS, CorpusModel, fetch


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [sys.executable, "-m", "se_deploy", *args], capture_output=True, text=True, env=env
    )
    if "Traceback" in done.stderr:
        raise SystemExit(f"traceback in `se-deploy {' '.join(args)}`:\n{done.stderr}")
    return done


def run_model(model: CorpusModel, out: Path) -> dict:
    path = fetch(model)
    env = {**os.environ, "PYTHONPATH": str(path) if not model.member else ""}
    source = ("--onnx", str(path)) if model.member else ()
    done = cli(
        "export",
        *source,
        *model.export_args,
        "--name",
        model.name,
        "--out",
        str(out),
        "--json",
        env=env,
    )
    row = {"model": model.name, "toolchain": model.toolchain, "se_hand": model.se_by_hand}
    if done.returncode != 0:
        return {**row, "error": done.stderr.strip()}
    manifest = json.loads(done.stdout)["manifest"]
    fp32 = out / model.name / "fp32"
    row["se_found"] = manifest["se_blocks"]["found"]
    row["max_abs"] = max(r["max_abs_diff"] for r in manifest["verification"]["results"])
    row["fp16"] = cli("quantize", "--input", str(fp32), "--precision", "fp16", env=env).returncode
    row["int8"] = _int8(fp32)
    fold = ("fold", "--input", str(fp32), "--data", "synthetic", "--fold-se", "all")
    row["fold"] = cli(*fold, "--check-size", "0", "--calib-size", "64", env=env).returncode
    row["gates"] = _built_gates(fp32, env)
    bench = ("bench", str(fp32 / "model.onnx"), "--iterations", "100", "--profile")
    done = cli(*bench, "--out", str(out / "bench" / model.name), "--json", env=env)
    if done.returncode == 0:
        (target,) = json.loads(done.stdout)["targets"]
        row["p50_ms"] = target["latency"][0]["p50_ms"]
        row["se_pct"] = 100 * ((target.get("profile") or {}).get("se_fraction") or 0.0)
    return row


def _built_gates(fp32: Path, env: dict[str, str]) -> str:
    """`build --backend ort` (SE gates placed in ORT's NCHWc graph on this machine): the
    forms its blocks took, or why none were placed."""
    done = cli("build", "--backend", "ort", "--input", str(fp32), env=env)
    if done.returncode != 0:
        return f"build failed: {done.stderr.strip()}"
    record = json.loads((fp32 / "build-ort-cpu.json").read_text())["ort"]["optimized_model"]
    gates = record["se_gates"]
    if not gates["placed"]:
        return f"none ({gates['note']})"
    return ", ".join(f"{form} {count}" for form, count in gates["forms"].items())


def _int8(fp32: Path) -> str:
    """INT8 through the library with the parity check recorded but not enforced."""
    from se_deploy.core.artifact import resolve_source
    from se_deploy.stages.quantize import QuantConfig, quantize_artifact
    from se_deploy.stages.quantize.config import Precision

    config = QuantConfig(
        Precision.INT8,
        calib="synthetic",
        calib_size=64,
        calib_batch_size=1,
        enforce_check=False,
        verify_size=16,
    )
    result = quantize_artifact(resolve_source(fp32, None, "fp32"), config)
    (parity,) = result.manifest["verification"]["results"]
    return f"yes (cos {parity['min_cosine']:.3f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(".cache/byo/runs"))
    args = parser.parse_args()
    header = (
        "model | toolchain | SE found/hand | export max abs | fp16 | int8 | fold | "
        "built gates | p50 ms | SE %"
    )
    print(header)
    print("|".join("---" for _ in header.split("|")))
    for model in CORPUS:
        row = run_model(model, args.out)
        if "error" in row:
            print(f"{row['model']} | {row['toolchain']} | error: {row['error']}")
            continue
        print(
            f"{row['model']} | {row['toolchain']} | {row['se_found']}/{row['se_hand']} | "
            f"{row['max_abs']:.2e} | {'yes' if row['fp16'] == 0 else 'no'} | {row['int8']} | "
            f"{'yes' if row['fold'] == 0 else 'no'} | {row['gates']} | "
            f"{row.get('p50_ms', float('nan')):.2f} | "
            f"{row.get('se_pct', float('nan')):.1f}"
        )


if __name__ == "__main__":
    main()
