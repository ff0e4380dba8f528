"""Export every registered model (random init, 224x224, batch 1) and check issue 3's Must-shows.

Per model, on the written model.onnx (not the pipeline's own word): SE blocks found vs the
registry's count, shape/FC ops inside SE blocks, BatchNormalization nodes, onnx.checker
full_check, node counts and wall seconds; from the manifest: ORT vs PyTorch max abs diff against
its limit, top-1 agreement and the logit range (which shows the comparison is non-trivial).
Extra rows: one model with --dynamic-batch, and the same model exported again by the CLI in a
fresh process (byte-identical? end-to-end seconds, the <= 10 s target).

    python benchmarks/export_all.py [--out DIR] [--models a,b] [--input-size 224]

Exits 1 when any check fails (timing is printed, not enforced: it depends on the machine's load).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import onnx

from se_deploy.core.artifact import RunResult
from se_deploy.core.errors import SeDeployError
from se_deploy.models import get_spec, list_models
from se_deploy.stages.export import ExportConfig, export_model, find_se_blocks

NOT_IN_SE = frozenset({"Reshape", "Flatten", "Unsqueeze", "Squeeze", "Gemm", "MatMul", "Identity"})
MIN_OUTPUT_RANGE = 1e-2  # below this the parity figures could not tell two graphs apart
TARGET_SECONDS = 10.0
REFERENCE_MODEL = "se_mobilenet"
COLUMNS = (
    "model",
    "SE found/exp",
    "SE bad ops",
    "BN",
    "max abs (limit)",
    "top-1 agree",
    "out range",
    "checker",
    "nodes exp->final",
    "seconds",
    "identical rerun",
    "status",
)


@dataclass
class Row:
    label: str
    cells: dict[str, str]
    problems: list[str]


def check_export(label: str, result: RunResult, seconds: float) -> Row:
    """The Must-show figures of one export, measured on the file it wrote."""
    name = result.manifest["model"]["name"]
    model = onnx.load(result.onnx_path)
    expected = get_spec(name).se_blocks
    blocks = find_se_blocks(model)
    op_of = {node.name: node.op_type for node in model.graph.node}
    bad_ops = sorted({op_of[n] for block in blocks for n in block.nodes} & NOT_IN_SE)
    batchnorms = Counter(node.op_type for node in model.graph.node)["BatchNormalization"]
    checker = _checker_result(model)
    graph = result.manifest["graph"]
    parities = result.manifest["verification"]["results"]
    max_abs = max(p["max_abs_diff"] for p in parities)
    limit = min(p["abs_limit"] for p in parities)
    top1 = min(p["top1_agreement"] for p in parities)
    output_range = min(p["output_range"] for p in parities)
    problems = [
        *(
            [f"{len(blocks)} SE blocks found, {expected} registered"]
            if len(blocks) != expected
            else []
        ),
        *([f"{', '.join(bad_ops)} inside SE blocks"] if bad_ops else []),
        *([f"{batchnorms} BatchNormalization nodes"] if batchnorms else []),
        *([f"max abs diff {max_abs:.3g} > {limit:.3g}"] if max_abs > limit else []),
        *([f"top-1 agreement {top1}"] if top1 < 1.0 else []),
        *(
            [f"output range {output_range:.3g} < {MIN_OUTPUT_RANGE}"]
            if output_range < MIN_OUTPUT_RANGE
            else []
        ),
        *([f"onnx.checker: {checker}"] if checker != "ok" else []),
    ]
    cells = {
        "model": label,
        "SE found/exp": f"{len(blocks)}/{expected}",
        "SE bad ops": ",".join(bad_ops) or "none",
        "BN": str(batchnorms),
        "max abs (limit)": f"{max_abs:.2e} ({limit:.0e})",
        "top-1 agree": f"{top1:.3f}",
        "out range": f"{output_range:.3g}",
        "checker": "ok" if checker == "ok" else "FAIL",
        "nodes exp->final": f"{graph['nodes_exported']}->{graph['nodes']}",
        "seconds": f"{seconds:.1f}",
        "identical rerun": "-",
    }
    return Row(label, cells, problems)


def _checker_result(model: onnx.ModelProto) -> str:
    try:
        onnx.checker.check_model(model, full_check=True)
    except onnx.checker.ValidationError as exc:
        return str(exc).strip().splitlines()[0]
    return "ok"


def export_and_check(label: str, config: ExportConfig) -> tuple[Row, RunResult | None]:
    start = time.perf_counter()
    try:
        result = export_model(config)
    except SeDeployError as exc:  # the export's own checks failed: report, keep going
        cells = {"model": label, "seconds": f"{time.perf_counter() - start:.1f}"}
        return Row(label, cells, [str(exc)]), None
    return check_export(label, result, time.perf_counter() - start), result


def rerun_in_cli(config: ExportConfig, first: RunResult, out: Path) -> tuple[bool, float]:
    """The same export by the CLI in a fresh process: (byte-identical to `first`, wall seconds)."""
    args = [
        sys.executable,
        "-m",
        "se_deploy",
        "export",
        "--model",
        config.model,
        "--input-size",
        str(config.input_size),
        "--out",
        str(out),
        "--json",
    ]
    start = time.perf_counter()
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"CLI re-export failed: {done.stderr.strip()}")
    rerun = out / config.model / "fp32" / "model.onnx"
    return rerun.read_bytes() == first.onnx_path.read_bytes(), seconds


def format_table(rows: list[Row]) -> str:
    for row in rows:
        row.cells.setdefault("status", "ok" if not row.problems else "FAIL")
    widths = {c: max(len(c), *(len(r.cells.get(c, "")) for r in rows)) for c in COLUMNS}
    lines = ["  ".join(c.ljust(widths[c]) for c in COLUMNS)]
    lines += ["  ".join(r.cells.get(c, "").ljust(widths[c]) for c in COLUMNS) for r in rows]
    return "\n".join(line.rstrip() for line in lines)


def run(out: Path, names: list[str], input_size: int) -> list[Row]:
    rows, reference = [], None
    for name in names:
        config = ExportConfig(model=name, input_size=input_size, out=out / "static")
        row, result = export_and_check(name, config)
        rows.append(row)
        print(
            f"{name}: {row.cells['seconds']} s, {'ok' if not row.problems else row.problems}",
            file=sys.stderr,
            flush=True,
        )
        if name == REFERENCE_MODEL and result is not None:
            reference = (config, result, row)
    if reference is not None:
        config, result, row = reference
        identical, seconds = rerun_in_cli(config, result, out / "rerun")
        row.cells["identical rerun"] = f"{'yes' if identical else 'NO'} (CLI {seconds:.1f} s)"
        if not identical:
            row.problems.append("re-export is not byte-identical")
        dynamic = ExportConfig(
            model=REFERENCE_MODEL, input_size=input_size, dynamic_batch=True, out=out / "dynamic"
        )
        rows.append(export_and_check(f"{REFERENCE_MODEL} --dynamic-batch", dynamic)[0])
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="Output root (default: a temporary directory).")
    parser.add_argument("--models", default=",".join(list_models()), help="Comma-separated.")
    parser.add_argument("--input-size", type=int, default=224)
    args = parser.parse_args()
    names = [name for name in args.models.split(",") if name]
    with tempfile.TemporaryDirectory(prefix="export_all.") as tmp:
        rows = run(args.out or Path(tmp), names, args.input_size)
    print(format_table(rows))
    for row in rows:
        for problem in row.problems:
            print(f"FAIL {row.label}: {problem}")
    reference = next((r for r in rows if r.label == REFERENCE_MODEL), None)
    if reference is not None and "seconds" in reference.cells:
        seconds = float(reference.cells["seconds"])
        verdict = "met" if seconds <= TARGET_SECONDS else "missed"
        size = args.input_size
        print(
            f"{REFERENCE_MODEL} export ({size}x{size}, batch 1, verification included): "
            f"{seconds:.1f} s in process, {reference.cells['identical rerun']} end to end; "
            f"target <= {TARGET_SECONDS:.0f} s {verdict}"
        )
    return 1 if any(row.problems for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
