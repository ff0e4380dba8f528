"""`se-deploy build`: an ORT session config or a TensorRT engine from an ONNX file."""

from __future__ import annotations

import typer

from se_deploy.backends.base import GraphOptimization
from se_deploy.cli.replay import config_option
from se_deploy.cli.shapes import shapes_option
from se_deploy.stages.compile.config import BuildBackend, EnginePrecision, OrtProvider, SeGates


def build_command(
    backend: BuildBackend = typer.Option(..., help="The runtime to build for."),
    input_path: str = typer.Option(
        None, "--input", "-i", help="ONNX file or run dir, e.g. export/se_mobilenet/int8."
    ),
    model: str = typer.Option(
        None, "--model", "-m", help="Registered model: reads ROOT/<model>/<precision>/model.onnx."
    ),
    precision: str = typer.Option("fp32", help="With --model: fp32, fp16, int8, int8-sefloat."),
    provider: OrtProvider = typer.Option(
        OrtProvider.CPU, help="ort: execution provider (cuda, tensorrt: onnxruntime-gpu)."
    ),
    graph_opt: GraphOptimization = typer.Option(
        GraphOptimization.ALL,
        help="ort: level of the saved graph; all (ORT's default: NCHWc layout with the SE gates "
        "placed in it, fastest on CPU) is valid for this ORT version and NCHWc block size "
        "only, refused elsewhere with the rebuild command; extended and below are portable.",
    ),
    se_gates: SeGates = typer.Option(
        SeGates.NCHWC,
        help="ort cpu at --graph-opt all: nchwc applies SE gates inside ORT's NCHWc layout, "
        "or in the weights of a linear 1x1 conv writing the map, its squeeze taken before "
        "that conv (checked against the source; the form per block is in the manifest); ort "
        "keeps ORT's NCHW Mul.",
    ),
    threads: int = typer.Option(0, help="ort: intra-op threads for the session config."),
    inter_threads: int = typer.Option(0, help="ort: inter-op threads for the session config."),
    engine_precision: EnginePrecision = typer.Option(
        EnginePrecision.AUTO, help="trt: auto follows the ONNX; int8 calibrates a float model."
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
    shapes: str = shapes_option(),
    _config: str = config_option(),
) -> None:
    """Build for a runtime: ORT session config + saved optimized graph, or a TensorRT engine."""
    from pathlib import Path

    from se_deploy.core.console import activity, print_json
    from se_deploy.core.shapes import InputShapes
    from se_deploy.stages.compile import BuildConfig, build_artifact, require_buildable
    from se_deploy.stages.compile.summary import print_build_summary
    from se_deploy.stages.quantize import resolve_source

    def path(value: str | None) -> Path | None:
        return Path(value) if value else None

    config = BuildConfig(
        backend=backend,
        provider=provider,
        graph_opt=graph_opt,
        se_gates=se_gates,
        threads=threads,
        inter_threads=inter_threads,
        engine_precision=engine_precision,
        min_batch=min_batch,
        opt_batch=opt_batch,
        max_batch=max_batch,
        workspace_mib=workspace_mib,
        timing_cache=path(timing_cache),
        calib=calib,
        calib_size=calib_size,
        calib_batch_size=calib_batch_size,
        calib_cache=path(calib_cache),
        seed=seed,
        data_dir=path(data_dir),
        shapes=InputShapes.parse(shapes),
    )
    require_buildable(config)
    source = resolve_source(input_path, model, precision, Path(root))
    with activity(f"build {source.path}") as update:
        update(f"{backend}")
        result = build_artifact(source, config, path(out))
    if as_json:
        print_json(result.manifest)
    else:
        print_build_summary(result)
