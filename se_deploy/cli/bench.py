"""`se-deploy bench`: latency, accuracy and the SE/base ratio per backend and precision."""

from __future__ import annotations

import sys

import typer

from se_deploy.backends.base import Device, GraphOptimization
from se_deploy.bench.latency import Order
from se_deploy.cli.replay import config_option
from se_deploy.cli.shapes import shapes_option
from se_deploy.core.console import TableFormat

# The columns an 80-column log shows first; --wide (or the report files) adds the rest.
NARROW_TARGET_KEYS = ("label", "precision", "p50_ms", "top1", "top1_agreement", "status_text")
NARROW_PAIR_KEYS = ("pair", "precision", "ratio_text", "top1_delta", "status_text")


def bench_command(
    artifacts: list[str] = typer.Argument(
        None, help="ONNX files or TensorRT engines, each measured alone (no pair)."
    ),
    model: str = typer.Option(
        None,
        "--model",
        "-m",
        help="Registered models, comma-separated; each SE model is measured with its baseline, "
        "from export/<model>/<precision>/. With no models, pairs or paths: the default suite "
        "(zoo Fashion-MNIST pairs and 224x224 paper pairs, ORT CPU fp32+int8; see README).",
    ),
    pair: list[str] = typer.Option(
        None, help="SE_ARTIFACT,BASE_ARTIFACT measured as an interleaved pair (repeatable)."
    ),
    backend: str = typer.Option("ort", help="Comma-separated: ort, ort-trt, openvino, torch, trt."),
    precision: str = typer.Option(
        None, help="Comma-separated fp32, fp16, int8; default fp32 (--model), fp32,int8 (suite)."
    ),
    device: Device = typer.Option(None, help="Default: each backend's own (trt: cuda)."),
    batch_size: str = typer.Option("1", help="Batch sizes to sweep, comma-separated."),
    threads: str = typer.Option("0", help="Intra-op thread counts to sweep; 0 = runtime default."),
    iterations: int = typer.Option(50, help="Timed calls per measurement."),
    duration: float = typer.Option(0.0, help="Seconds per measurement instead of --iterations."),
    warmup: int = typer.Option(10, help="Warm-up calls before timing."),
    warmup_seconds: float = typer.Option(0.0, help="Also warm up for at least this long."),
    rounds: int = typer.Option(30, help="Interleaved SE/base rounds per pair; 0 skips the ratio."),
    calls_per_round: int = typer.Option(5, help="Calls of each side per round."),
    order: Order = typer.Option(Order.ALTERNATE, help="Round order (random is seeded)."),
    sessions: int = typer.Option(
        0,
        help="Fresh loads of both sides the rounds are split over; the interval resamples "
        "them, so load-to-load variation is in it (1: one load; 0: min(6, rounds / 2)).",
    ),
    dataset: str = typer.Option(
        None,
        help="Eval set: fashion-mnist, synthetic or an ImageFolder dir; default: the set the "
        "weights were trained on. Random-init artifacts get no accuracy.",
    ),
    accuracy: bool = typer.Option(True, help="Score top-1/top-5 and agreement with PyTorch."),
    data_dir: str = typer.Option(None, help="Directory of the Fashion-MNIST IDX .gz files."),
    eval_limit: int = typer.Option(
        None, help="Score only the first N eval images (default: all; the default suite: 2000)."
    ),
    input_size: int = typer.Option(None, help="Input side for models/artifacts without one."),
    graph_opt: GraphOptimization = typer.Option(
        GraphOptimization.ALL, help="ORT graph optimization level."
    ),
    cuda_graphs: bool = typer.Option(False, help="TensorRT: replay a captured CUDA graph."),
    profile: bool = typer.Option(False, help="Per-node profile: time in SE blocks vs the rest."),
    seed: int = typer.Option(0, help="Seed for inputs, round order and bootstrap."),
    out: str = typer.Option(None, help="Run directory (default runs/bench/<timestamp>)."),
    plan_only: bool = typer.Option(False, "--plan", help="Print what would be measured; exit."),
    no_make: bool = typer.Option(
        False,
        "--no-make",
        help="--model: do not export/quantize missing artifacts; name the commands instead.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print results.json instead of tables."),
    wide: bool = typer.Option(False, "--wide", help="Every column, even past the width."),
    fmt: TableFormat = typer.Option(TableFormat.TABLE, "--format", help="Tables or Markdown."),
    shapes: str = shapes_option(),
    _config: str = config_option(),
) -> None:
    """Latency (interleaved SE/base ratio), accuracy, memory and size per backend and precision.

    Exit status: 0 all rows ok or skipped (no checkpoint yet), 1 some rows failed (the table
    says why), 2 bad options or no requested backend can run here.
    """
    from pathlib import Path

    from se_deploy.bench import BenchConfig, parse_ints, parse_list, parse_pairs
    from se_deploy.bench import run_bench as run_bench_plan
    from se_deploy.bench.latency import InterleaveConfig, LatencyConfig
    from se_deploy.bench.report import (
        PAIR_TABLE_COLUMNS,
        TABLE_COLUMNS,
        eval_data_lines,
        table_rows,
    )
    from se_deploy.core.console import activity, err_console, print_json, print_table
    from se_deploy.core.shapes import InputShapes
    from se_deploy.suite import select_plan

    # Options are checked before planning: planning may spend minutes making artifacts.
    config = BenchConfig(
        latency=LatencyConfig(warmup, warmup_seconds, iterations, duration),
        interleave=InterleaveConfig(
            rounds,
            calls_per_round,
            order,
            seed,
            sessions=sessions or min(6, max(1, rounds // 2)),
        )
        if rounds
        else None,
        batch_sizes=parse_ints(batch_size, "--batch-size"),
        threads=parse_ints(threads, "--threads"),
        device=device,
        graph_optimization=graph_opt,
        cuda_graphs=cuda_graphs,
        input_size=input_size,
        shapes=InputShapes.parse(shapes),
        accuracy=accuracy,
        dataset=dataset,
        data_dir=Path(data_dir) if data_dir else None,
        eval_limit=eval_limit,
        profile=profile,
        seed=seed,
    )
    with activity("bench: planning") as update:
        plan = select_plan(
            parse_list(backend, "--backend"),
            parse_list(model, "--model"),
            parse_list(precision, "--precision"),
            parse_pairs(pair or []),
            [Path(a) for a in artifacts or []],
            device,
            make=not (plan_only or no_make),
            progress=update,
        )
    if plan_only:
        rows = plan.rows()
        if as_json:
            print_json(rows)
        else:
            columns = [
                ("group", "group"),
                ("key", "target"),
                ("role", "role"),
                ("artifact", "artifact"),
                ("status", "status"),
            ]
            print_table("bench plan", rows, columns, wide, fmt)
        return
    keys = [t.key for group in plan.groups for t in group.targets if not t.missing]
    with activity("bench", total=len(keys)) as update:
        results, files = run_bench_plan(
            plan,
            config,
            Path(out) if out else None,
            " ".join(["se-deploy", *sys.argv[1:]]),
            per_target(update, keys),
        )
    if as_json:
        print_json(results.to_dict())
    else:
        targets, pairs_rows = table_rows(results)
        print_table(
            "bench: targets", targets, _columns(TABLE_COLUMNS, NARROW_TARGET_KEYS, wide), wide, fmt
        )
        if pairs_rows:
            print_table(
                "bench: SE vs baseline (interleaved)",
                pairs_rows,
                _columns(PAIR_TABLE_COLUMNS, NARROW_PAIR_KEYS, wide),
                wide,
                fmt,
            )
        for line in eval_data_lines(results):
            err_console.print(line)
        err_console.print(f"wrote {files[0].parent}/ ({', '.join(f.name for f in files)})")
    if any(t["status"] == "failed" for t in results.targets):
        raise typer.Exit(1)


def _columns(columns, narrow: tuple[str, ...], wide: bool):
    """All columns with --wide or on a terminal wide enough for them; else the narrow set first,
    so an 80-column log keeps the figures that matter (print_table names the rest)."""
    if wide:
        return columns
    first = [c for c in columns if c[0] in narrow]
    return [*first, *(c for c in columns if c[0] not in narrow)]


def per_target(update, keys: list[str]):
    """The bench's progress callback: a step naming a target not seen before advances the bar
    (one step per target), the others (rounds, accuracy, profile) only show their text."""
    seen: set[str] = set()

    def progress(text: str) -> None:
        new = next((key for key in keys if key in text and key not in seen), None)
        if new is not None:
            seen.add(new)
        update(text, advance=new is not None)

    return progress
