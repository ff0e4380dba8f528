"""`se-deploy bench` as a user runs it: the --json schema, the files, exit codes, and one-line
errors for a backend that cannot run here and for bad options."""

# ruff: noqa: F401, F811  (pytest fixtures imported from tests.bench_support)
from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from se_deploy.backends import runner_class
from tests.bench_support import bench_workdir
from tests.conftest import run_cli

TRT_REASON = runner_class("trt").unavailable_reason()
QUICK = shlex.split(
    "--iterations 3 --warmup 1 --rounds 4 --sessions 2 --calls-per-round 1 --threads 1"
)

# The --json document: every key and its type (nested dicts are checked recursively; a list
# value holds the schema of its items).
Number = (int, float)
STATS = {k: Number for k in ("min_ms", "mean_ms", "std_ms", "p50_ms", "p90_ms", "p99_ms")}
SCHEMA = {
    "schema": int,
    "run": {
        "started": str,
        "seconds": Number,
        "run_peak_rss_mb": Number,
        "config": {"latency": dict, "interleave": dict, "batch_sizes": list, "threads": list},
        "host": {"cpu": str, "logical_cpus": int, "machine": str, "tools": dict},
        "harness_overhead": {"n": int, **STATS},
    },
    "targets": [
        {
            "key": str,
            "label": str,
            "role": str,
            "backend": str,
            "precision": str,
            "device": str,
            "threads": int,
            "status": str,
            "errors": list,
            "artifact": str,
            "artifact_bytes": int,
            "macs": int,
            "params": int,
            "load_s": Number,
            "memory": {
                "rss_before_mb": Number,
                "rss_after_mb": Number,
                "peak_rss_mb": Number,
                "peak_scope": str,
            },
            "accuracy": {
                "dataset": str,
                "top1": Number,
                "top5": Number,
                "count": int,
                "top1_agreement": Number,
                "max_abs_diff": Number,
                "reference": str,
            },
            "latency": [
                {"batch_size": int, "n": int, "throughput": Number, "total_s": Number, **STATS}
            ],
        }
    ],
    "pairs": [
        {
            "pair": str,
            "se": str,
            "base": str,
            "backend": str,
            "precision": str,
            "status": str,
            "errors": list,
            "macs_ratio": Number,
            "params_ratio": Number,
            "top1_delta": Number,
            "ratios": [
                {
                    "batch_size": int,
                    "ratio": Number,
                    "low": Number,
                    "high": Number,
                    "confidence": Number,
                    "rounds": int,
                    "resamples": int,
                    "method": str,
                    "sessions": int,
                    "se_round_ms": list,
                    "base_round_ms": list,
                    "session": list,
                }
            ],
        }
    ],
}


def check_schema(value: object, schema: object, where: str = "$") -> list[str]:
    """Every place `value` departs from `schema`, as 'path: problem'."""
    if isinstance(schema, dict):
        if not isinstance(value, dict):
            return [f"{where}: not an object"]
        return [
            p
            for key, sub in schema.items()
            for p in (
                check_schema(value[key], sub, f"{where}.{key}")
                if key in value
                else [f"{where}.{key}: missing"]
            )
        ]
    if isinstance(schema, list):
        if not isinstance(value, list) or not value:
            return [f"{where}: not a non-empty list"]
        return [
            p
            for i, item in enumerate(value)
            for p in check_schema(item, schema[0], f"{where}[{i}]")
        ]
    if isinstance(value, bool) or not isinstance(value, schema):  # type: ignore[arg-type]
        return [f"{where}: {type(value).__name__}, expected {schema}"]
    return []


def test_json_output_follows_the_schema_and_files_are_written(bench_workdir: Path) -> None:
    result = run_cli(
        "bench", "--model", "se_mobilenet", *QUICK, "--json", "--out", "run-json", cwd=bench_workdir
    )
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert check_schema(document, SCHEMA) == []
    assert document["schema"] == 1
    assert [t["status"] for t in document["targets"]] == ["ok", "ok"]
    assert document["run"]["config"]["interleave"]["rounds"] == 4
    (ratio,) = document["pairs"][0]["ratios"]
    assert ratio["sessions"] == 2 and ratio["session"] == [0, 0, 1, 1]  # a second load's rounds
    assert "bootstrap over sessions" in ratio["method"]
    run_dir = bench_workdir / "run-json"
    saved = json.loads((run_dir / "results.json").read_text())
    assert saved["command"].startswith("se-deploy bench --model se_mobilenet")
    assert saved["targets"] == document["targets"]
    for name in (
        "results.csv",
        "pairs.csv",
        "report.md",
        "latency_bars.png",
        "latency_vs_top1.png",
        "manifest.json",
    ):
        assert (run_dir / name).is_file(), name


@pytest.mark.skipif(TRT_REASON is None, reason="TensorRT is installed here")
def test_trt_without_tensorrt_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = run_cli("bench", "--backend", "trt", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == f"se-deploy: error: trt: {TRT_REASON}\n"
    assert list(tmp_path.iterdir()) == []  # refused before making any artifact


@pytest.mark.skipif(TRT_REASON is None, reason="TensorRT is installed here")
def test_a_backend_missing_here_fails_its_rows_only(bench_workdir: Path, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "250")  # one table row per line
    result = run_cli(
        "bench",
        "--model",
        "se_mobilenet",
        "--backend",
        "ort,trt",
        "--no-accuracy",
        *QUICK,
        "--out",
        "run-mixed",
        cwd=bench_workdir,
    )
    assert result.returncode == 1, result.stderr
    rows = [line for line in result.stdout.splitlines() if "mobilenet" in line]
    ort_rows = [line for line in rows if "│ ort " in line]
    trt_rows = [line for line in rows if "│ trt " in line]
    assert len(ort_rows) == 3 and all("│ ok" in line for line in ort_rows)  # 2 targets, 1 pair
    assert len(trt_rows) == 3 and all(
        "failed: trt: tensorrt is not installed" in line for line in trt_rows
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--precision", "int4"], "unknown precision(s) int4; choose from fp32, fp16, int8"),
        (["--batch-size", "one"], "--batch-size 'one' must be comma-separated integers, e.g. 1,8"),
        (["--pair", "a.onnx"], "--pair 'a.onnx' needs two paths: SE_ARTIFACT,BASE_ARTIFACT"),
        (
            ["--order", "zigzag"],
            "bench: Invalid value for '--order': Value error, 'zigzag' is not one of "
            "'alternate', 'random'.",
        ),
    ],
)
def test_bad_options_are_one_line_and_exit_2(args: list[str], message: str, tmp_path: Path) -> None:
    result = run_cli("bench", "--model", "se_mobilenet", *args, cwd=tmp_path)
    assert (result.returncode, result.stderr) == (2, f"se-deploy: error: {message}\n")


def test_more_sessions_than_rounds_allow_is_one_line_exit_2(tmp_path: Path) -> None:
    result = run_cli(
        "bench", "--model", "se_mobilenet", "--rounds", "4", "--sessions", "3", cwd=tmp_path
    )
    assert result.returncode == 2
    assert result.stderr == (
        "se-deploy: error: bad interleave config: sessions 3 for 4 rounds "
        "(use 1 <= sessions <= rounds / 2: each session needs two rounds)\n"
    )
