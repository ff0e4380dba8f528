"""Executing a bench plan on the tiny pair: every figure the report needs, one row per failure
(a missing backend, a broken file, a skipped target) while the other rows still run."""

# ruff: noqa: F401, F811  (pytest fixtures imported from tests.bench_support)
from __future__ import annotations

from pathlib import Path

import pytest

from se_deploy.backends import runner_class
from se_deploy.bench import BenchResults, build_plan
from se_deploy.bench.plan import ExportDirResolver, Located
from se_deploy.bench.run import execute_plan
from tests.bench_support import BENCH_CONFIG, TINY_DATASET, bench_run, bench_workdir, export_tiny

LATENCY_KEYS = {
    "batch_size",
    "n",
    "min_ms",
    "mean_ms",
    "std_ms",
    "p50_ms",
    "p90_ms",
    "p99_ms",
    "throughput",
    "total_s",
}


def by_label(results: BenchResults) -> dict[str, dict]:
    return {row["label"]: row for row in results.targets}


def test_every_target_has_latency_accuracy_memory_size_and_profile(bench_run) -> None:
    results, _ = bench_run
    rows = by_label(results)
    assert set(rows) == {"se_mobilenet", "mobilenet"}
    for row in rows.values():
        assert row["status"] == "ok", row["errors"]
        assert [entry["batch_size"] for entry in row["latency"]] == [1, 4]
        for entry in row["latency"]:
            assert set(entry) >= LATENCY_KEYS
            assert entry["n"] == 5
            assert 0 < entry["min_ms"] <= entry["p50_ms"] <= entry["p90_ms"] <= entry["p99_ms"]
            per_second = entry["batch_size"] / entry["mean_ms"] * 1e3
            assert entry["throughput"] == pytest.approx(per_second)
        accuracy = row["accuracy"]
        assert (accuracy["dataset"], accuracy["count"]) == (TINY_DATASET, 128)
        assert 0.0 <= accuracy["top1"] <= accuracy["top5"] <= 1.0
        assert accuracy["top1_agreement"] == 1.0  # ORT fp32 against PyTorch fp32, same weights
        assert accuracy["max_abs_diff"] < 1e-3
        assert accuracy["reference"].startswith("torch fp32 ")
        assert row["artifact_bytes"] == Path(row["artifact"]).stat().st_size
        memory = row["memory"]
        assert memory["peak_rss_mb"] >= memory["rss_before_mb"] > 0
        assert row["macs"] > 0 and row["params"] > 0
    assert rows["se_mobilenet"]["profile"]["se_fraction"] > 0
    assert rows["mobilenet"]["profile"]["se_us"] == 0
    assert rows["se_mobilenet"]["params"] > rows["mobilenet"]["params"]


def test_the_pair_has_an_interleaved_ratio_with_its_interval(bench_run) -> None:
    results, _ = bench_run
    (pair,) = results.pairs
    assert (pair["pair"], pair["status"]) == ("se_mobilenet vs mobilenet", "ok")
    assert [entry["batch_size"] for entry in pair["ratios"]] == [1, 4]
    for entry in pair["ratios"]:
        assert entry["low"] <= entry["ratio"] <= entry["high"]
        assert entry["rounds"] == 4 and len(entry["se_round_ms"]) == 4
        assert entry["se_first"] == [True, False, True, False]  # alternating order
    rows = by_label(results)
    assert pair["macs_ratio"] == rows["se_mobilenet"]["macs"] / rows["mobilenet"]["macs"]
    assert pair["params_ratio"] > 1.0
    expected = rows["se_mobilenet"]["accuracy"]["top1"] - rows["mobilenet"]["accuracy"]["top1"]
    assert pair["top1_delta"] == pytest.approx(expected)


def test_run_records_harness_overhead_peak_rss_and_config(bench_run) -> None:
    results, _ = bench_run
    run = results.run
    assert 0 < run["harness_overhead"]["p50_ms"] < 0.1  # an empty call costs well under 100 us
    assert run["run_peak_rss_mb"] >= max(t["memory"]["peak_rss_mb"] for t in results.targets)
    assert run["config"]["latency"]["iterations"] == 5
    assert run["config"]["batch_sizes"] == [1, 4]


@pytest.mark.skipif(runner_class("trt").unavailable_reason() is None, reason="TensorRT present")
def test_a_failing_backend_and_a_broken_file_never_stop_the_other_rows(
    bench_workdir: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    plan = build_plan(
        ["ort", "trt"],
        ["se_mobilenet"],
        ["fp32"],
        artifacts=[broken],
        resolver=ExportDirResolver(bench_workdir / "export"),
    )
    results = execute_plan(plan, BENCH_CONFIG, tmp_path / "run")
    status = {row["key"]: (row["status"], row["errors"]) for row in results.targets}
    assert status["se_mobilenet/ort/fp32"] == ("ok", [])
    assert status["mobilenet/ort/fp32"] == ("ok", [])
    reason = runner_class("trt").unavailable_reason()
    assert status["se_mobilenet/trt/fp32"] == ("failed", [f"trt: {reason}"])
    broken_rows = [row for row in results.targets if row["artifact"] == str(broken)]
    assert {row["backend"]: row["status"] for row in broken_rows} == {
        "ort": "failed",
        "trt": "failed",
    }
    ort_broken = next(row for row in broken_rows if row["backend"] == "ort")
    assert "is not a readable ONNX model" in ort_broken["errors"][0]
    pairs = {pair["backend"]: pair for pair in results.pairs}
    assert pairs["ort"]["status"] == "ok" and pairs["ort"]["ratios"]
    assert pairs["trt"]["status"] == "failed" and not pairs["trt"]["ratios"]


class SkippingResolver:
    """Every artifact is left out on purpose, as the default suite does without checkpoints."""

    def locate(self, model: str, backend: str, precision: str) -> Located:
        return Located(Path("nowhere") / model, skip=f"no checkpoint for {model} yet")

    def label(self, model: str) -> str:
        return model

    def weights(self, model: str) -> None:
        return None


def test_skipped_targets_are_rows_that_never_load(tmp_path: Path) -> None:
    plan = build_plan(["ort"], ["se_mobilenet"], ["fp32"], resolver=SkippingResolver())
    results = execute_plan(plan, BENCH_CONFIG, tmp_path)
    assert [(row["status"], row["errors"], row["latency"]) for row in results.targets] == [
        ("skipped", [], []),
        ("skipped", [], []),
    ]
    (pair,) = results.pairs
    assert pair["status"] == "skipped" and pair["ratios"] == [] and pair["errors"] == []
    assert pair["skipped"] == "no checkpoint for se_mobilenet yet; no checkpoint for mobilenet yet"


def test_an_artifact_without_trained_weights_gets_latency_only(tmp_path: Path) -> None:
    onnx_path, _ = export_tiny("mobilenet", tmp_path / "bare")  # no manifest beside it
    plan = build_plan(["ort"], artifacts=[onnx_path])
    results = execute_plan(plan, BENCH_CONFIG, tmp_path / "run")
    (row,) = results.targets
    assert row["status"] == "ok" and "accuracy" not in row and row["latency"]
    assert row["note"] == "no manifest.json beside it: weights unknown, no accuracy"
    assert results.pairs == []
