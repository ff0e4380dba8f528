"""Bench output: results.json, results.csv, pairs.csv, report.md, plots and manifest.json in a run
directory (every file written atomically), and the rows the terminal tables show.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from se_deploy.bench.run import BenchResults
from se_deploy.core.console import markdown_table
from se_deploy.core.files import (
    atomic_path,
    atomic_write_json,
    atomic_write_text,
    file_record,
    run_lock,
)
from se_deploy.core.onnx.se_roles import SeRole

_STATUS_CHARS = 90
# The latency figures of one timed batch size, as bench.latency records them.
LATENCY_FIELDS = (
    "p50_ms",
    "p90_ms",
    "p99_ms",
    "mean_ms",
    "std_ms",
    "min_ms",
    "n",
    "throughput",
)
TARGET_COLUMNS = (
    "key",
    "label",
    "role",
    "backend",
    "precision",
    "device",
    "threads",
    "batch_size",
    "status",
    *LATENCY_FIELDS,
    "h2d_p50_ms",
    "d2h_p50_ms",
    "top1",
    "top5",
    "top1_agreement",
    "max_abs_diff",
    "artifact_bytes",
    "peak_rss_mb",
    "macs",
    "params",
    "se_fraction",
    "se_us",
    *(f"se_{role}_us" for role in SeRole),
    "profile_total_us",
    "eval_set",
    "eval_images",
    "note",
    "error",
)
PAIR_COLUMNS = (
    "pair",
    "backend",
    "precision",
    "device",
    "threads",
    "batch_size",
    "ratio",
    "low",
    "high",
    "rounds",
    "macs_ratio",
    "params_ratio",
    "top1_delta",
    "status",
    "note",
    "error",
)
TABLE_COLUMNS = [
    ("label", "model"),
    ("backend", "backend"),
    ("precision", "prec"),
    ("threads", "thr"),
    ("batch_size", "batch"),
    ("p50_ms", "p50 ms"),
    ("p99_ms", "p99 ms"),
    ("throughput", "img/s"),
    ("top1", "top-1"),
    ("top1_agreement", "agree"),
    ("max_abs_diff", "max|diff|"),
    ("size_mb", "size MB"),
    ("peak_rss_mb", "peak MB"),
    ("se_percent", "SE time %"),
    ("se_split_text", "SE % squeeze/excite/scale/layout"),
    ("status_text", "status"),
]
PAIR_TABLE_COLUMNS = [
    ("pair", "pair"),
    ("backend", "backend"),
    ("precision", "prec"),
    ("threads", "thr"),
    ("batch_size", "batch"),
    ("ratio_text", "SE/base latency [95% CI]"),
    ("macs_ratio", "MACs ratio"),
    ("params_ratio", "params ratio"),
    ("top1_delta", "Δ top-1"),
    ("status_text", "status"),
]


def target_rows(results: BenchResults) -> list[dict[str, Any]]:
    """One flat row per (target, batch size); a target that never ran gives one row."""
    rows = []
    for target in results.targets:
        accuracy = target.get("accuracy") or {}
        memory = target.get("memory") or {}
        profile = target.get("profile") or {}
        common = {
            **{
                k: target.get(k)
                for k in (
                    "key",
                    "label",
                    "role",
                    "backend",
                    "precision",
                    "device",
                    "threads",
                    "status",
                    "artifact_bytes",
                    "macs",
                    "params",
                )
            },
            **{k: accuracy.get(k) for k in ("top1", "top5", "top1_agreement", "max_abs_diff")},
            "eval_set": accuracy.get("dataset"),
            "eval_images": accuracy.get("count"),
            "peak_rss_mb": memory.get("peak_rss_mb"),
            "se_fraction": profile.get("se_fraction"),
            "se_us": profile.get("se_us"),
            **{f"se_{role}_us": (profile.get("se_by_role_us") or {}).get(role) for role in SeRole},
            "profile_total_us": profile.get("total_us"),
            "note": target.get("skipped") or target.get("note"),
            "error": "; ".join(target.get("errors", [])) or None,
        }
        for entry in target.get("latency") or [{}]:
            rows.append(
                {
                    **common,
                    **{k: entry.get(k) for k in ("batch_size", *LATENCY_FIELDS)},
                    "h2d_p50_ms": (entry.get("h2d_ms") or {}).get("p50_ms"),
                    "d2h_p50_ms": (entry.get("d2h_ms") or {}).get("p50_ms"),
                }
            )
    return rows


def pair_rows(results: BenchResults) -> list[dict[str, Any]]:
    """One flat row per (pair, batch size) with the interleaved ratio and its interval."""
    rows = []
    for pair in results.pairs:
        common = {
            k: pair.get(k)
            for k in (
                "pair",
                "backend",
                "precision",
                "device",
                "threads",
                "macs_ratio",
                "params_ratio",
                "top1_delta",
                "status",
            )
        }
        common["error"] = "; ".join(pair.get("errors", [])) or None
        common["note"] = pair.get("skipped")
        for entry in pair.get("ratios") or [{}]:
            rows.append(
                {
                    **common,
                    **{k: entry.get(k) for k in ("batch_size", "ratio", "low", "high", "rounds")},
                }
            )
    return rows


def table_rows(results: BenchResults) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Rows for the terminal: targets, then pairs, each with a status text."""
    targets = [
        {
            **row,
            "status_text": _status(row),
            "size_mb": row["artifact_bytes"] / 1e6 if row.get("artifact_bytes") else None,
            "se_percent": None if row["se_fraction"] is None else 100 * row["se_fraction"],
            "se_split_text": _se_split_text(row),
        }
        for row in target_rows(results)
    ]
    pairs = [
        {**row, "status_text": _status(row), "ratio_text": _ratio_text(row)}
        for row in pair_rows(results)
    ]
    return targets, pairs


def _se_split_text(row: dict[str, Any]) -> str | None:
    """SE time by role as percentages of the profiled run, e.g. '3.7/7.9/2.8/0.4'."""
    total = row.get("profile_total_us")
    parts = [row.get(f"se_{role}_us") for role in SeRole]
    if not total or any(part is None for part in parts):
        return None
    return "/".join(f"{100 * part / total:.1f}" for part in parts)


def write_report(results: BenchResults, run_dir: Path, command: str = "") -> list[Path]:
    """Write every output file into `run_dir`; returns their paths (manifest last)."""
    with run_lock(run_dir):
        return _write_report(results, run_dir, command)


def _write_report(results: BenchResults, run_dir: Path, command: str) -> list[Path]:
    paths = [run_dir / "results.json", run_dir / "results.csv", run_dir / "pairs.csv"]
    atomic_write_json(paths[0], {**results.to_dict(), "command": command})
    atomic_write_text(paths[1], _csv(target_rows(results), TARGET_COLUMNS))
    atomic_write_text(paths[2], _csv(pair_rows(results), PAIR_COLUMNS))
    plots = write_plots(results, run_dir)
    report = run_dir / "report.md"
    atomic_write_text(report, render_markdown(results, [p.name for p in plots], command))
    paths += [*plots, report]
    manifest = run_dir / "manifest.json"
    atomic_write_json(
        manifest,
        {
            "command": "bench",
            "argv": command,
            "config": results.run["config"],
            "tools": results.run["host"]["tools"],
            "inputs": _input_records(results),
            "outputs": [file_record(p, run_dir) for p in paths],
        },
    )
    return [*paths, manifest]


def eval_data_lines(results: BenchResults) -> list[str]:
    """Which eval data the accuracy figures read: the full dataset or the embedded subset."""
    seen = {}
    for target in results.targets:
        accuracy = target.get("accuracy") or {}
        data = accuracy.get("data") or {}
        if data:
            key = (accuracy["dataset"], data.get("variant"), data.get("dir"))
            seen[key] = max(seen.get(key, 0), accuracy.get("count") or 0)
    return [
        f"Eval data: {name} {variant or ''} ({where}), up to {count} images scored."
        + (
            " The embedded subset: install the full dataset for all 10,000."
            if variant == "subset"
            else ""
        )
        for (name, variant, where), count in seen.items()
    ]


def render_markdown(results: BenchResults, plots: list[str], command: str = "") -> str:
    run = results.run
    host = run["host"]
    overhead = run["harness_overhead"]
    targets, pairs = table_rows(results)
    lines = [
        "# se-deploy bench",
        "",
        f"Command: `{command}`" if command else "",
        f"Host: {host['cpu']} ({host['logical_cpus']} logical CPUs), {run['started']}, "
        f"{run['seconds']:.1f} s; run peak RSS {run['run_peak_rss_mb']:.0f} MB.",
        f"Harness overhead per timed call (empty call through the same loop): p50 "
        f"{overhead['p50_ms'] * 1e3:.2f} us, p99 {overhead['p99_ms'] * 1e3:.2f} us; it is "
        "included in every latency figure, not subtracted.",
        *eval_data_lines(results),
        "",
        "## SE vs baseline (interleaved)",
        "",
        markdown_table(pairs, PAIR_TABLE_COLUMNS) if pairs else "No pairs in this run.",
        "",
        "## Targets",
        "",
        markdown_table(targets, TABLE_COLUMNS),
        "",
        *[f"![{name}]({name})" for name in plots],
        "",
        "## Method",
        "",
        "- Latency: inputs prepared once outside the timed region; warm-up, then per-call wall "
        "time with the GC paused; percentiles by linear interpolation. Device backends time "
        "compute alone; host<->device copies are separate columns in results.csv.",
        "- Ratio: rounds of A and B back to back, order alternating (or seeded random) per "
        "round; per round the median call of each side; the ratio is the geometric mean of the "
        "per-round ratios, and its interval a percentile bootstrap over sessions (the rounds are "
        "split over `--sessions` fresh loads of both sides), then over rounds within them, so "
        "load-to-load variation is inside the interval.",
        "- Accuracy: top-1/top-5 on the eval set; agreement and max |logit diff| against the "
        "PyTorch FP32 logits of the same weights over the same images.",
        "- Memory: peak RSS from before a target's load to after one inference at the largest "
        "batch (Linux: per-phase via /proc/self/clear_refs).",
        "",
    ]
    return "\n".join(lines)


def write_plots(results: BenchResults, run_dir: Path) -> list[Path]:
    """latency_vs_top1.png (when accuracy was measured) and latency_bars.png; none without
    matplotlib (the ORT-only runtime image)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    rows = [r for r in target_rows(results) if r.get("p50_ms") is not None]
    first_batch = min((r["batch_size"] for r in rows), default=None)
    rows = [r for r in rows if r["batch_size"] == first_batch]
    written = []
    if any(r.get("top1") is not None for r in rows):
        written.append(
            _save(
                plt,
                _scatter_figure(plt, rows, results, first_batch),
                run_dir / "latency_vs_top1.png",
            )
        )
    if rows:
        written.append(
            _save(plt, _bars_figure(plt, rows, first_batch), run_dir / "latency_bars.png")
        )
    return written


def _scatter_figure(plt: Any, rows: list[dict], results: BenchResults, batch: int) -> Any:
    """Latency vs top-1, one colour per backend/precision, an arrow from baseline to SE model."""
    figure, axes = plt.subplots(figsize=(7, 5))
    by_key = {(r["key"], r["threads"]): r for r in rows}
    series = sorted({(r["backend"], r["precision"]) for r in rows})
    colours = {s: plt.cm.tab10(i % 10) for i, s in enumerate(series)}
    for row in rows:
        if row.get("top1") is None:
            continue
        axes.scatter(
            row["p50_ms"],
            row["top1"] * 100,
            color=colours[(row["backend"], row["precision"])],
            zorder=3,
        )
        axes.annotate(
            row["label"],
            (row["p50_ms"], row["top1"] * 100),
            fontsize=7,
            xytext=(3, 3),
            textcoords="offset points",
        )
    for pair in results.pairs:
        se, base = (
            by_key.get((pair["se"], pair["threads"])),
            by_key.get((pair["base"], pair["threads"])),
        )
        if se and base and se.get("top1") is not None and base.get("top1") is not None:
            axes.annotate(
                "",
                xy=(se["p50_ms"], se["top1"] * 100),
                xytext=(base["p50_ms"], base["top1"] * 100),
                arrowprops={"arrowstyle": "->", "color": "0.4"},
            )
    for (backend, precision), colour in colours.items():
        axes.scatter([], [], color=colour, label=f"{backend} {precision}")
    axes.set_xlabel(f"p50 latency (ms, batch {batch})")
    axes.set_ylabel("top-1 (%)")
    axes.set_title("Latency vs accuracy (arrow: baseline -> SE)")
    axes.legend(fontsize=8)
    return figure


def _bars_figure(plt: Any, rows: list[dict], batch: int) -> Any:
    """p50 latency per target, grouped by backend/precision (p90 as the error bar's top)."""
    rows = sorted(rows, key=lambda r: (r["backend"], r["precision"], r["label"], r["threads"]))
    labels = [f"{r['label']}\n{r['backend']} {r['precision']} t{r['threads']}" for r in rows]
    figure, axes = plt.subplots(figsize=(max(6, 0.9 * len(rows)), 4.5))
    p50 = [r["p50_ms"] for r in rows]
    upper = [r["p90_ms"] - r["p50_ms"] for r in rows]
    colours = ["tab:orange" if r["role"] == "se" else "tab:blue" for r in rows]
    axes.bar(range(len(rows)), p50, yerr=[[0] * len(rows), upper], color=colours, capsize=3)
    if max(p50) > 20 * min(p50):  # e.g. 28x28 and 224x224 models in one run: keep both visible
        axes.set_yscale("log")
    axes.set_xticks(range(len(rows)), labels, rotation=45, ha="right", fontsize=7)
    axes.set_ylabel(f"p50 latency (ms, batch {batch}); bar to p90")
    axes.set_title("Latency per backend / precision (orange: SE model)")
    figure.tight_layout()
    return figure


def _save(plt: Any, figure: Any, path: Path) -> Path:
    with atomic_path(path) as tmp:
        figure.savefig(tmp, dpi=120, format="png", bbox_inches="tight")
    plt.close(figure)
    return path


def _csv(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def _status(row: dict[str, Any]) -> str:
    """'ok' (with its note), 'skipped: why' or 'failed: ' and the first reason, cut to fit a
    table cell (results.json has all)."""
    status = row.get("status") or "failed"
    reason = row.get("error") if status == "failed" else row.get("note")
    if not reason:
        return status if status != "failed" else "failed: unknown"
    first = reason.split("; ")[0]
    cut = first if len(first) <= _STATUS_CHARS else first[: _STATUS_CHARS - 3] + "..."
    return f"{status}: {cut}" if status != "ok" else f"ok ({cut})"


def _ratio_text(row: dict[str, Any]) -> str | None:
    if row.get("ratio") is None:
        return None
    return f"{row['ratio']:.3f} [{row['low']:.3f}, {row['high']:.3f}] n={row['rounds']}"


def _input_records(results: BenchResults) -> list[dict[str, Any]]:
    """Each measured artifact with its size and sha256, so a report names exactly what it ran."""
    from se_deploy.core.files import sha256_file

    seen: dict[str, dict[str, Any]] = {}
    for target in results.targets:
        path = target.get("artifact")
        if path and path not in seen and Path(path).is_file():
            seen[path] = {
                "path": path,
                "bytes": Path(path).stat().st_size,
                "sha256": sha256_file(Path(path)),
            }
    return list(seen.values())
