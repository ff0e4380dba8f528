"""`se-deploy quantize`: FP16 or INT8 from an fp32 export."""

from __future__ import annotations

import typer

from se_deploy.cli.replay import config_option
from se_deploy.cli.shapes import shapes_option
from se_deploy.core.artifact import Precision
from se_deploy.core.choices import (
    CalibMethod,
    CheckPolicy,
    QuantScheme,
    QuantTarget,
    SePrecision,
)


def quantize_command(
    input_path: str = typer.Option(
        None, "--input", "-i", help="ONNX file or run dir, e.g. export/se_mobilenet/fp32."
    ),
    model: str = typer.Option(
        None, "--model", "-m", help="Registered model: reads ROOT/<model>/fp32/model.onnx."
    ),
    precision: Precision = typer.Option(..., help="What to make."),
    calib: str = typer.Option(
        None, help="int8 calibration images: fashion-mnist, synthetic or an ImageFolder DIR."
    ),
    calib_size: int = typer.Option(512, help="int8: calibration images (train split)."),
    calib_batch_size: int = typer.Option(32, help="int8: images per calibration batch."),
    calib_method: CalibMethod = typer.Option(CalibMethod.MINMAX, help="int8: calibration method."),
    percentile: float = typer.Option(None, help="int8 percentile method: p (default 99.999)."),
    target: QuantTarget = typer.Option(
        QuantTarget.ORT_CPU,
        help="int8: the runtime the artifact is for, which picks --scheme: ort-cpu (u8s8, "
        "7-bit weights: ORT runs the SE path as integer ops) or tensorrt (s8s8).",
    ),
    scheme: QuantScheme = typer.Option(
        None, help="int8 activation/weight types (default: the --target's)."
    ),
    reduce_range: bool = typer.Option(
        None,
        "--reduce-range/--no-reduce-range",
        help="int8: 7-bit weights, ORT's remedy for u8s8 saturation on x86 without VNNI "
        "(default: on, off for u8u8).",
    ),
    per_channel: bool = typer.Option(True, help="int8: per-channel weight scales."),
    se_precision: SePrecision = typer.Option(
        SePrecision.INT8, help="int8: quantize the SE gating path (int8) or keep it in float."
    ),
    keep_io_types: bool = typer.Option(True, help="fp16: keep float32 inputs and outputs."),
    seed: int = typer.Option(0, help="int8: which calibration images are drawn."),
    data_dir: str = typer.Option(None, help="Directory of the Fashion-MNIST IDX .gz files."),
    verify_data: str = typer.Option(
        None, help="Images the result is checked on (default: --calib, or random for fp16)."
    ),
    verify_size: int = typer.Option(256, help="Images run through both models for the check."),
    check: CheckPolicy = typer.Option(
        CheckPolicy.ENFORCE,
        help="enforce: refuse an artifact that fails the check; warn: write it and record the "
        "failure (latency work on random-init models, whose near-tied logits fail it).",
    ),
    root: str = typer.Option("export", help="Artifact root that --model reads and writes."),
    out: str = typer.Option(None, help="Run directory (default ROOT/<model>/<precision tag>/)."),
    as_json: bool = typer.Option(False, "--json", help="Print the manifest as JSON."),
    shapes: str = shapes_option(),
    _config: str = config_option(),
) -> None:
    """FP16 or INT8 (QDQ, real calibration) from an fp32 export, checked against it in ORT."""
    from pathlib import Path

    from se_deploy.core.console import activity, print_json
    from se_deploy.core.shapes import InputShapes
    from se_deploy.stages.quantize import QuantConfig, quantize_artifact, resolve_source
    from se_deploy.stages.quantize.summary import print_quantize_summary

    config = QuantConfig(
        precision=precision,
        keep_io_types=keep_io_types,
        calib=calib,
        calib_size=calib_size,
        calib_batch_size=calib_batch_size,
        calib_method=calib_method,
        percentile=percentile,
        target=target,
        scheme=scheme,
        reduce_range=reduce_range,
        per_channel=per_channel,
        se_precision=se_precision,
        seed=seed,
        data_dir=Path(data_dir) if data_dir else None,
        shapes=InputShapes.parse(shapes),
        verify_data=verify_data,
        verify_size=verify_size,
        enforce_check=check is CheckPolicy.ENFORCE,
    )
    source = resolve_source(input_path, model, "fp32", Path(root))
    with activity(f"quantize {source.path}") as update:
        update(f"{config.tag} (calibration, conversion and the ORT check)")
        result = quantize_artifact(source, config, Path(out) if out else None)
    if as_json:
        print_json(result.manifest)
    else:
        print_quantize_summary(result)
