"""The run directory a bench writes: every file is there, parses, and carries the figures."""

# ruff: noqa: F401, F811  (pytest fixtures imported from tests.bench_support)
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from se_deploy.bench import BenchResults
from se_deploy.bench.report import PAIR_COLUMNS, TARGET_COLUMNS, table_rows
from se_deploy.core.files import sha256_file
from tests.bench_support import bench_run, bench_workdir

FILES = [
    "results.json",
    "results.csv",
    "pairs.csv",
    "latency_vs_top1.png",
    "latency_bars.png",
    "report.md",
    "manifest.json",
]


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open() as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def test_every_file_is_written_into_the_run_directory(bench_run) -> None:
    _, files = bench_run
    assert [f.name for f in files] == FILES
    run_dir = files[0].parent
    assert all(f.parent == run_dir and f.stat().st_size > 0 for f in files)
    for png in (run_dir / "latency_vs_top1.png", run_dir / "latency_bars.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(run_dir.glob(".*.tmp"))  # atomic writes leave no temp files


def test_results_json_is_the_whole_run(bench_run) -> None:
    results, files = bench_run
    saved = json.loads(files[0].read_text())
    assert saved == json.loads(json.dumps({**results.to_dict(), "command": saved["command"]}))
    assert saved["schema"] == 1 and saved["command"] == "se-deploy bench (test)"
    assert {t["key"] for t in saved["targets"]} == {"se_mobilenet/ort/fp32", "mobilenet/ort/fp32"}


def test_csv_files_hold_one_row_per_target_and_batch(bench_run) -> None:
    _, files = bench_run
    header, rows = read_csv(files[1])
    assert header == list(TARGET_COLUMNS)
    assert [(r["label"], r["batch_size"]) for r in rows] == [
        ("se_mobilenet", "1"),
        ("se_mobilenet", "4"),
        ("mobilenet", "1"),
        ("mobilenet", "4"),
    ]
    for row in rows:
        assert row["status"] == "ok" and row["error"] == ""
        assert 0 < float(row["min_ms"]) <= float(row["p50_ms"]) <= float(row["p99_ms"])
        assert float(row["top1_agreement"]) == 1.0 and row["eval_set"] == "synthetic"
        assert int(row["artifact_bytes"]) > 0 and float(row["peak_rss_mb"]) > 0
    assert float(rows[0]["se_fraction"]) > 0 and float(rows[2]["se_fraction"]) == 0
    roles = [float(rows[0][f"se_{role}_us"]) for role in ("squeeze", "excitation", "scale")]
    assert all(part > 0 for part in roles)  # the SE model's pools, FCs and Muls all ran
    assert sum(roles) + float(rows[0]["se_layout_us"]) == pytest.approx(float(rows[0]["se_us"]))
    assert float(rows[2]["se_scale_us"]) == 0
    header, pairs = read_csv(files[2])
    assert header == list(PAIR_COLUMNS)
    assert [p["batch_size"] for p in pairs] == ["1", "4"]
    for pair in pairs:
        assert float(pair["low"]) <= float(pair["ratio"]) <= float(pair["high"])
        assert float(pair["params_ratio"]) > 1 and pair["rounds"] == "4"


def test_report_md_has_both_tables_the_plots_and_the_method(bench_run) -> None:
    _, files = bench_run
    text = (files[0].parent / "report.md").read_text()
    assert "Command: `se-deploy bench (test)`" in text
    assert "Harness overhead per timed call" in text
    assert "| pair | backend | prec | thr | batch | SE/base latency [95% CI] |" in text
    assert text.count("| se_mobilenet vs mobilenet | ort | fp32 | 1 |") == 2
    assert "| SE time % | SE % squeeze/excite/scale/layout | status |" in text
    assert "![latency_vs_top1.png](latency_vs_top1.png)" in text
    assert "## Method" in text


def test_manifest_lists_inputs_and_outputs_with_hashes(bench_run, bench_workdir: Path) -> None:
    _, files = bench_run
    manifest = json.loads(files[-1].read_text())
    run_dir = files[0].parent
    assert [o["path"] for o in manifest["outputs"]] == FILES[:-1]
    for output in manifest["outputs"]:
        assert output["sha256"] == sha256_file(run_dir / output["path"])
    inputs = {Path(i["path"]).parent.parent.name: i for i in manifest["inputs"]}
    assert set(inputs) == {"se_mobilenet", "mobilenet"}
    onnx_path = bench_workdir / "export/se_mobilenet/fp32/model.onnx"
    assert inputs["se_mobilenet"]["sha256"] == sha256_file(onnx_path)


def test_table_status_says_why_a_row_failed_or_was_skipped() -> None:
    long_error = "load: " + "x" * 200
    targets = [
        {"key": "a/ort/fp32", "label": "a", "status": "failed", "errors": [long_error, "more"]},
        {"key": "b/ort/fp32", "label": "b", "status": "skipped", "skipped": "no checkpoint yet"},
        {"key": "c/ort/fp32", "label": "c", "status": "ok", "note": "random init: latency only"},
    ]
    rows, _ = table_rows(BenchResults({}, targets, []))
    assert [row["status_text"] for row in rows] == [
        "failed: " + long_error[:87] + "...",
        "skipped: no checkpoint yet",
        "ok (random init: latency only)",
    ]
