"""The `se-deploy` command line. Each command parses options and calls one library function."""

from __future__ import annotations

import sys

import typer

from se_deploy.errors import SeDeployError

# Only export, train and fold import these; an ORT-only install (the runtime image) lacks them.
TORCH_SIDE = frozenset({"torch", "onnxsim", "safetensors"})

app = typer.Typer(
    name="se-deploy",
    help="Export, quantize, compile and benchmark Squeeze-and-Excitation networks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


@app.callback()
def _root() -> None:
    """Export, quantize, compile and benchmark Squeeze-and-Excitation networks."""


@app.command("models")
def models_command(
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    input_size: int = typer.Option(224, help="Input side for the MFLOPs column."),
) -> None:
    """List every registered model with its baseline, params, MFLOPs and SE block count."""
    from se_deploy.console import print_json, print_table
    from se_deploy.zoo import model_table

    rows = model_table(input_size)
    if as_json:
        print_json(rows)
        return
    print_table(
        f"Registered models ({input_size}x{input_size}, 1000 classes; MFLOPs = multiply-adds)",
        rows,
        [("name", "model"), ("baseline", "baseline"), ("params_m", "params (M)"),
         ("mflops", "MFLOPs"), ("se_blocks", "SE blocks"), ("paper_mflops", "paper MFLOPs"),
         ("paper_params_m", "paper params (M)"), ("paper_top1_err", "paper top-1 err")],
    )  # fmt: skip


@app.command("train")
def train_command(
    model: str = typer.Option(..., help="Registered model name (see `se-deploy models`)."),
    dataset: str = typer.Option("fashion-mnist", help="'fashion-mnist' or an ImageFolder dir."),
    data_dir: str = typer.Option(None, help="Directory of the Fashion-MNIST IDX .gz files."),
    input_size: int = typer.Option(28, help="Input side in pixels."),
    width: float = typer.Option(0.5, help="Width multiplier."),
    small_input: bool = typer.Option(
        True, help="Stride-1 stem (output stride 16) for 28-64 px inputs; same for SE and base."
    ),
    epochs: int = typer.Option(10),
    batch_size: int = typer.Option(128),
    lr: float = typer.Option(0.1, help="Peak learning rate (after warm-up)."),
    weight_decay: float = typer.Option(5e-4),
    warmup_epochs: float = typer.Option(1.0),
    label_smoothing: float = typer.Option(0.0),
    seed: int = typer.Option(0),
    threads: int = typer.Option(0, help="Torch threads; 0 uses every core."),
    device: str = typer.Option("cpu", help="cpu or cuda (same recipe; cuda needs a CUDA torch)."),
    out: str = typer.Option(None, help="Run directory (default runs/train/<model>)."),
    resume: bool = typer.Option(False, help="Continue from the checkpoint in --out."),
) -> None:
    """Train a model; checkpoint each epoch; write fp16 weights and a model card."""
    from pathlib import Path

    from se_deploy.console import console, step_progress
    from se_deploy.train import TrainConfig, train_model

    config = TrainConfig(
        model=model, dataset=dataset, data_dir=data_dir, input_size=input_size, width=width,
        small_input=small_input, epochs=epochs, batch_size=batch_size, lr=lr,
        weight_decay=weight_decay, warmup_epochs=warmup_epochs,
        label_smoothing=label_smoothing, seed=seed, threads=threads, device=device,
    )  # fmt: skip
    out_dir = Path(out) if out else Path("runs/train") / model
    with step_progress(f"{model}") as progress:
        task = progress.add_task("epoch", total=None, loss=0.0, top1=0.0)

        def on_step(step: int, steps: int, loss: float, top1: float) -> None:
            progress.update(task, completed=step, total=steps, loss=loss, top1=top1)

        def on_epoch(r) -> None:
            console.print(f"epoch {r.epoch}/{epochs}: loss {r.loss:.4f} train top-1 "
                          f"{r.train_top1:.4f} test top-1 {r.test.top1:.4f} top-5 "
                          f"{r.test.top5:.4f} ({r.seconds:.0f} s)")  # fmt: skip

        result = train_model(config, out_dir, resume, on_epoch, on_step)
    test = result.card["test"]
    console.print(f"wrote {result.weights} (test top-1 {test['top1']:.4f}, top-5 "
                  f"{test['top5']:.4f}) and its model card")  # fmt: skip


@app.command("eval")
def eval_command(
    model: str = typer.Option(None, help="Model name; default: the one the weights name."),
    weights: str = typer.Option(
        None, help="Checkpoint (.pt/.safetensors); default: the committed zoo checkpoint."
    ),
    dataset: str = typer.Option("fashion-mnist", help="'fashion-mnist' or an ImageFolder dir."),
    data_dir: str = typer.Option(None, help="Directory of the Fashion-MNIST IDX .gz files."),
    split: str = typer.Option("test"),
    batch_size: int = typer.Option(256),
    artifact: str = typer.Option(
        None, help="Evaluate this ONNX file/engine (export, quantize, build) instead of weights."
    ),
    backend: str = typer.Option("ort", help="Runner for --artifact: ort, ort-trt, trt, openvino."),
    device: str = typer.Option(None, help="cpu or cuda; default: the backend's own."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Top-1/top-5 on a dataset: of weights (PyTorch FP32) or of an --artifact on a backend."""
    from se_deploy.console import print_json, print_table
    from se_deploy.evaluate import evaluate_artifact, evaluate_weights

    if artifact and (model or weights):
        raise SeDeployError("--artifact evaluates a file on its own; drop --model/--weights")
    if artifact:
        row = evaluate_artifact(artifact, backend, device, dataset, data_dir, split, batch_size)
    else:
        row = evaluate_weights(model, weights, dataset, data_dir, split, batch_size)
    if as_json:
        print_json(row)
        return
    source = "artifact" if artifact else "weights"
    print_table(f"eval on {dataset} ({split})", [row],
                [("model", "model"), ("backend", "backend"), ("precision", "precision"),
                 ("top1", "top-1"), ("top5", "top-5"), ("count", "images"),
                 (source, source)])  # fmt: skip


@app.command("bench")
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
    device: str = typer.Option(None, help="cpu or cuda; default: each backend's own (trt: cuda)."),
    batch_size: str = typer.Option("1", help="Batch sizes to sweep, comma-separated."),
    threads: str = typer.Option("0", help="Intra-op thread counts to sweep; 0 = runtime default."),
    iterations: int = typer.Option(50, help="Timed calls per measurement."),
    duration: float = typer.Option(0.0, help="Seconds per measurement instead of --iterations."),
    warmup: int = typer.Option(10, help="Warm-up calls before timing."),
    warmup_seconds: float = typer.Option(0.0, help="Also warm up for at least this long."),
    rounds: int = typer.Option(30, help="Interleaved SE/base rounds per pair; 0 skips the ratio."),
    calls_per_round: int = typer.Option(5, help="Calls of each side per round."),
    order: str = typer.Option("alternate", help="Round order: alternate or random (seeded)."),
    sessions: int = typer.Option(
        0, help="Fresh loads of both sides the rounds are split over; the interval resamples "
        "them, so load-to-load variation is in it (1: one load; 0: min(6, rounds / 2))."),
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
    graph_opt: str = typer.Option("all", help="ORT graph optimization: disabled..all."),
    cuda_graphs: bool = typer.Option(False, help="TensorRT: replay a captured CUDA graph."),
    profile: bool = typer.Option(False, help="Per-node profile: time in SE blocks vs the rest."),
    seed: int = typer.Option(0, help="Seed for inputs, round order and bootstrap."),
    out: str = typer.Option(None, help="Run directory (default runs/bench/<timestamp>)."),
    plan_only: bool = typer.Option(False, "--plan", help="Print what would be measured; exit."),
    as_json: bool = typer.Option(False, "--json", help="Print results.json instead of tables."),
) -> None:
    """Latency (interleaved SE/base ratio), accuracy, memory and size per backend and precision.

    Exit status: 0 all rows ok or skipped (no checkpoint yet), 1 some rows failed (the table
    says why), 2 bad options or no requested backend can run here.
    """
    from pathlib import Path

    from se_deploy.backends import Device, GraphOptimization
    from se_deploy.bench import (
        BenchConfig,
        parse_choice,
        parse_ints,
        parse_list,
        parse_pairs,
        select_plan,
    )
    from se_deploy.bench import run_bench as run_bench_plan
    from se_deploy.bench.latency import InterleaveConfig, LatencyConfig, Order
    from se_deploy.bench.report import PAIR_TABLE_COLUMNS, TABLE_COLUMNS, table_rows
    from se_deploy.console import err_console, print_json, print_table

    device_choice = parse_choice(Device, device, "--device") if device else None
    with err_console.status("planning") as status:
        plan = select_plan(parse_list(backend, "--backend"), parse_list(model, "--model"),
                           parse_list(precision, "--precision"), parse_pairs(pair or []),
                           [Path(a) for a in artifacts or []], device_choice,
                           make=not plan_only, progress=status.update)  # fmt: skip
    if plan_only:
        rows = plan.rows()
        if as_json:
            print_json(rows)
        else:
            columns = [("group", "group"), ("key", "target"), ("role", "role"),
                       ("artifact", "artifact"), ("status", "status")]  # fmt: skip
            print_table("bench plan", rows, columns)
        return
    config = BenchConfig(
        latency=LatencyConfig(warmup, warmup_seconds, iterations, duration),
        interleave=InterleaveConfig(rounds, calls_per_round, parse_choice(Order, order, "--order"),
                                    seed, sessions=sessions or min(6, max(1, rounds // 2)))
        if rounds else None,
        batch_sizes=parse_ints(batch_size, "--batch-size"),
        threads=parse_ints(threads, "--threads"),
        device=device_choice,
        graph_optimization=parse_choice(GraphOptimization, graph_opt, "--graph-opt"),
        cuda_graphs=cuda_graphs, input_size=input_size, accuracy=accuracy, dataset=dataset,
        data_dir=Path(data_dir) if data_dir else None, eval_limit=eval_limit, profile=profile,
        seed=seed,
    )  # fmt: skip
    with err_console.status("benchmarking") as status:
        results, files = run_bench_plan(plan, config, Path(out) if out else None,
                                   " ".join(["se-deploy", *sys.argv[1:]]),
                                   lambda text: status.update(text))  # fmt: skip
    if as_json:
        print_json(results.to_dict())
    else:
        targets, pairs_rows = table_rows(results)
        print_table("bench: targets", targets, TABLE_COLUMNS)
        if pairs_rows:
            print_table("bench: SE vs baseline (interleaved)", pairs_rows, PAIR_TABLE_COLUMNS)
        err_console.print(f"wrote {files[0].parent}/ ({', '.join(f.name for f in files)})")
    if any(t["status"] == "failed" for t in results.targets):
        raise typer.Exit(1)


@app.command("export")
def export_command(
    model: str = typer.Option(
        None, "--model", "-m", help="Registered model; default: the one --weights names."
    ),
    weights: str = typer.Option(
        None,
        help="Trained checkpoint (.pt/.safetensors); its model, config and preprocessing are "
        "used. Default: random init at ImageNet shape (seeded, BN statistics settled), for "
        "latency work.",
    ),
    zoo: bool = typer.Option(
        False, "--zoo", help="Use the committed trained checkpoint of --model "
        "(models/fashion-mnist/<model>.pt) as --weights.",
    ),
    input_size: int = typer.Option(
        None, help="Input side in pixels; default: the checkpoint's, else 224."
    ),
    batch: int = typer.Option(None, help="Static batch size (default 1)."),
    dynamic_batch: bool = typer.Option(False, help="Make the batch axis dynamic instead."),
    opset: int = typer.Option(17, help="ONNX opset (14..20)."),
    out: str = typer.Option("export", help="Output root; files go to OUT/<model>/fp32/."),
    width: float = typer.Option(None, help="Width multiplier; default: checkpoint's, else 1.0."),
    num_classes: int = typer.Option(None, help="Classes; default: checkpoint's, else 1000."),
    in_chans: int = typer.Option(None, help="Input channels; default: checkpoint's, else 3."),
    small_input: bool = typer.Option(
        None, "--small-input/--no-small-input", help="Stride-1 stem; default: checkpoint's."
    ),
    dataset: str = typer.Option(
        None, help="Also verify on real images: fashion-mnist, synthetic or an ImageFolder dir."
    ),
    data_dir: str = typer.Option(None, help="Directory of the Fashion-MNIST IDX .gz files."),
    verify_samples: int = typer.Option(8, help="Inputs per source for the PyTorch comparison."),
    seed: int = typer.Option(0, help="Seed for random init and random verification inputs."),
    se_gate: str = typer.Option(
        "broadcast", help="How each SE gate reaches its Mul: broadcast (1x1) or resize (repeated "
        "to HxW: same outputs, keeps ORT CPU's NCHWc layout; FP32 only, faster for MobileNet "
        "v1/v2, slower for ShuffleNet, see README).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the manifest as JSON."),
) -> None:
    """Export to ONNX with SE blocks canonicalized, simplified and verified against PyTorch.

    Default: random init at 224x224, 1000 classes (the latency shape).

    Trained weights (--zoo or --weights) bring their own input size, classes and channels.
    """
    from pathlib import Path

    from se_deploy.console import print_json
    from se_deploy.export import ExportConfig, export_model
    from se_deploy.export.summary import print_export_summary, step_display

    config = ExportConfig(
        model=model, weights=Path(weights) if weights else None, zoo=zoo, input_size=input_size,
        batch=batch, dynamic_batch=dynamic_batch, opset=opset, out=Path(out), width=width,
        num_classes=num_classes, in_chans=in_chans, small_input=small_input, dataset=dataset,
        data_dir=Path(data_dir) if data_dir else None, verify_samples=verify_samples, seed=seed,
        se_gate=se_gate,
    )  # fmt: skip
    with step_display(config) as on_step:
        result = export_model(config, on_step)
    if as_json:
        print_json(result.to_dict())
    else:
        print_export_summary(result)


@app.command("quantize")
def quantize_command(
    input_path: str = typer.Option(
        None, "--input", "-i", help="ONNX file or run dir, e.g. export/se_mobilenet/fp32."
    ),
    model: str = typer.Option(
        None, "--model", "-m", help="Registered model: reads ROOT/<model>/fp32/model.onnx."
    ),
    precision: str = typer.Option(..., help="fp16 or int8."),
    calib: str = typer.Option(
        None, help="int8 calibration images: fashion-mnist, synthetic or an ImageFolder DIR."
    ),
    calib_size: int = typer.Option(512, help="int8: calibration images (train split)."),
    calib_batch_size: int = typer.Option(32, help="int8: images per calibration batch."),
    calib_method: str = typer.Option("minmax", help="int8: minmax, entropy or percentile."),
    percentile: float = typer.Option(None, help="int8 percentile method: p (default 99.999)."),
    scheme: str = typer.Option("s8s8", help="int8 activation/weight types: s8s8, u8s8, u8u8."),
    reduce_range: bool = typer.Option(
        None, "--reduce-range/--no-reduce-range",
        help="int8: 7-bit weights, ORT's remedy for u8s8 saturation on x86 without VNNI "
        "(default: on, off for u8u8).",
    ),
    per_channel: bool = typer.Option(True, help="int8: per-channel weight scales."),
    se_precision: str = typer.Option(
        "int8", help="int8: quantize the SE gating path (int8) or keep it in float."
    ),
    keep_io_types: bool = typer.Option(True, help="fp16: keep float32 inputs and outputs."),
    seed: int = typer.Option(0, help="int8: which calibration images are drawn."),
    data_dir: str = typer.Option(None, help="Directory of the Fashion-MNIST IDX .gz files."),
    verify_data: str = typer.Option(
        None, help="Images the result is checked on (default: --calib, or random for fp16)."
    ),
    verify_size: int = typer.Option(256, help="Images run through both models for the check."),
    root: str = typer.Option("export", help="Artifact root that --model reads and writes."),
    out: str = typer.Option(None, help="Run directory (default ROOT/<model>/<precision tag>/)."),
    as_json: bool = typer.Option(False, "--json", help="Print the manifest as JSON."),
) -> None:
    """FP16 or INT8 (QDQ, real calibration) from an fp32 export, checked against it in ORT."""
    from pathlib import Path

    from se_deploy.console import err_console, print_json
    from se_deploy.quantize import QuantConfig, quantize_artifact, resolve_source
    from se_deploy.quantize.summary import print_quantize_summary

    config = QuantConfig(
        precision=precision, keep_io_types=keep_io_types, calib=calib, calib_size=calib_size,
        calib_batch_size=calib_batch_size, calib_method=calib_method, percentile=percentile,
        scheme=scheme, reduce_range=reduce_range, per_channel=per_channel,
        se_precision=se_precision, seed=seed, data_dir=Path(data_dir) if data_dir else None,
        verify_data=verify_data, verify_size=verify_size,
    )  # fmt: skip
    source = resolve_source(input_path, model, "fp32", Path(root))
    with err_console.status(f"quantizing {source.path} to {config.tag}"):
        result = quantize_artifact(source, config, Path(out) if out else None)
    if as_json:
        print_json(result.manifest)
    else:
        print_quantize_summary(result)


@app.command("fold")
def fold_command(
    model: str = typer.Option(
        None, "--model", "-m", help="Registered model: reads export/<model>/fp32/model.onnx."
    ),
    input_path: str = typer.Option(None, "--input", help="Or an fp32 ONNX file / run directory."),
    fold_se: str = typer.Option(
        "auto", help="auto (greedy under --max-drop), all, none, or comma-separated block names "
        "or 0-based indices.",
    ),
    max_drop: float = typer.Option(
        0.3, help="auto: top-1 points the selection set may lose (0 folds nothing)."
    ),
    gate_value: str = typer.Option(
        "lsq", help="Constant a folded gate becomes: lsq (least squares: the energy-weighted "
        "gate mean) or mean."
    ),
    data: str = typer.Option(None, help="Images: fashion-mnist, synthetic or an ImageFolder dir."),
    data_dir: str = typer.Option(None, help="Directory of the Fashion-MNIST IDX .gz files."),
    calib_size: int = typer.Option(1000, help="Train images for the gate statistics."),
    select_size: int = typer.Option(
        5000, help="auto: held-out (test split) images to choose blocks on."
    ),
    check_size: int = typer.Option(
        10000, help="Other test images for the reported top-1 (0 skips)."
    ),
    seed: int = typer.Option(0, help="Seed of the train and test shuffles."),
    out: str = typer.Option(None, help="Run directory (default export/<model>/fp32-folded/)."),
    as_json: bool = typer.Option(False, "--json", help="Print the manifest as JSON."),
) -> None:
    """Fold near-constant SE gates into conv weights (static SE folding) under a top-1 budget."""
    from pathlib import Path

    from se_deploy.fold import FoldConfig, fold_artifact
    from se_deploy.fold.summary import print_fold_summary, step_display
    from se_deploy.quantize.source import resolve_source

    config = FoldConfig.from_fold_se(
        fold_se, data=data, max_drop=max_drop, value=gate_value, calib_size=calib_size,
        select_size=select_size, check_size=check_size, seed=seed,
        data_dir=Path(data_dir) if data_dir else None,
    )  # fmt: skip
    source = resolve_source(input_path, model, "fp32")
    with step_display(source) as on_step:
        result = fold_artifact(source, config, Path(out) if out else None, on_step)
    print_fold_summary(result, as_json)


@app.command("build")
def build_command(
    backend: str = typer.Option(..., help="ort or trt."),
    input_path: str = typer.Option(
        None, "--input", "-i", help="ONNX file or run dir, e.g. export/se_mobilenet/int8."
    ),
    model: str = typer.Option(
        None, "--model", "-m", help="Registered model: reads ROOT/<model>/<precision>/model.onnx."
    ),
    precision: str = typer.Option("fp32", help="With --model: fp32, fp16, int8, int8-sefloat."),
    provider: str = typer.Option("cpu", help="ort: cpu, cuda or tensorrt (onnxruntime-gpu)."),
    graph_opt: str = typer.Option(
        "extended", help="ort: level of the saved graph; up to extended is portable, all is not."
    ),
    threads: int = typer.Option(0, help="ort: intra-op threads for the session config."),
    inter_threads: int = typer.Option(0, help="ort: inter-op threads for the session config."),
    engine_precision: str = typer.Option(
        "auto", help="trt: auto (follow the ONNX), fp32, fp16, int8 (calibrates a float model)."
    ),
    min_batch: int = typer.Option(1, help="trt: optimization profile minimum batch."),
    opt_batch: int = typer.Option(1, help="trt: batch the tactics are tuned for."),
    max_batch: int = typer.Option(32, help="trt: optimization profile maximum batch."),
    workspace_mib: int = typer.Option(1024, help="trt: builder workspace limit in MiB."),
    timing_cache: str = typer.Option(None, help="trt: timing cache file (default: in run dir)."),
    calib: str = typer.Option(
        None, help="trt implicit int8: calibration images (fashion-mnist, synthetic, DIR)."
    ),
    calib_size: int = typer.Option(512, help="trt implicit int8: calibration images."),
    calib_batch_size: int = typer.Option(32, help="trt implicit int8: images per batch."),
    calib_cache: str = typer.Option(None, help="trt implicit int8: start from this cache."),
    seed: int = typer.Option(0, help="trt implicit int8: which calibration images are drawn."),
    data_dir: str = typer.Option(None, help="Directory of the Fashion-MNIST IDX .gz files."),
    root: str = typer.Option("export", help="Artifact root that --model reads."),
    out: str = typer.Option(None, help="Run directory (default: the source artifact's)."),
    as_json: bool = typer.Option(False, "--json", help="Print the manifest as JSON."),
) -> None:
    """Build for a runtime: ORT session config + saved optimized graph, or a TensorRT engine."""
    from pathlib import Path

    from se_deploy.build import BuildConfig, build_artifact, require_buildable
    from se_deploy.build.summary import print_build_summary
    from se_deploy.console import err_console, print_json
    from se_deploy.quantize import resolve_source

    def path(value: str | None) -> Path | None:
        return Path(value) if value else None

    config = BuildConfig(
        backend=backend, provider=provider, graph_opt=graph_opt, threads=threads,
        inter_threads=inter_threads, engine_precision=engine_precision, min_batch=min_batch,
        opt_batch=opt_batch, max_batch=max_batch, workspace_mib=workspace_mib,
        timing_cache=path(timing_cache), calib=calib, calib_size=calib_size,
        calib_batch_size=calib_batch_size, calib_cache=path(calib_cache), seed=seed,
        data_dir=path(data_dir),
    )  # fmt: skip
    require_buildable(config)
    source = resolve_source(input_path, model, precision, Path(root))
    with err_console.status(f"building {source.path} for {backend}"):
        result = build_artifact(source, config, path(out))
    if as_json:
        print_json(result.manifest)
    else:
        print_build_summary(result)


def main() -> None:
    """Console entry point: user errors become one line on stderr and exit code 2."""
    try:
        app()
    except SeDeployError as exc:
        print(f"se-deploy: error: {exc}", file=sys.stderr)
        sys.exit(2)
    except ModuleNotFoundError as exc:
        if exc.name not in TORCH_SIDE:
            raise
        print(f"se-deploy: error: this command needs {exc.name}, which this ORT-only install "
              "lacks (it runs bench on ONNX files); use the full install (README, 'Install and "
              "run') or the ci image", file=sys.stderr)  # fmt: skip
        sys.exit(2)
