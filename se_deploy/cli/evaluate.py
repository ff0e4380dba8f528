"""`se-deploy eval`: top-1/top-5 of weights or of a deployable artifact."""

from __future__ import annotations

import typer

from se_deploy.backends.base import Device
from se_deploy.cli.replay import config_option
from se_deploy.cli.shapes import shapes_option
from se_deploy.core.choices import Split
from se_deploy.core.errors import SeDeployError


def eval_command(
    model: str = typer.Option(None, help="Model name; default: the one the weights name."),
    weights: str = typer.Option(
        None, help="Checkpoint (.pt/.safetensors); default: the committed zoo checkpoint."
    ),
    dataset: str = typer.Option("fashion-mnist", help="'fashion-mnist' or an ImageFolder dir."),
    data_dir: str = typer.Option(None, help="Directory of the Fashion-MNIST IDX .gz files."),
    split: Split = typer.Option(Split.TEST),
    batch_size: int = typer.Option(256),
    artifact: str = typer.Option(
        None, help="Evaluate this ONNX file/engine (export, quantize, build) instead of weights."
    ),
    backend: str = typer.Option("ort", help="Runner for --artifact: ort, ort-trt, trt, openvino."),
    device: Device = typer.Option(None, help="Default: the backend's own."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    shapes: str = shapes_option(),
    _config: str = config_option(),
) -> None:
    """Top-1/top-5 on a dataset: of weights (PyTorch FP32) or of an --artifact on a backend."""
    from se_deploy.bench.score import evaluate_artifact
    from se_deploy.core.console import print_json, print_table
    from se_deploy.core.shapes import InputShapes
    from se_deploy.models.evaluate import evaluate_weights

    if artifact and (model or weights):
        raise SeDeployError("--artifact evaluates a file on its own; drop --model/--weights")
    if shapes and not artifact:
        raise SeDeployError("--shapes sizes an --artifact's symbolic dims; drop it for weights")
    if artifact:
        row = evaluate_artifact(
            artifact,
            backend,
            device,
            dataset,
            data_dir,
            split,
            batch_size,
            InputShapes.parse(shapes),
        )
    else:
        row = evaluate_weights(model, weights, dataset, data_dir, split, batch_size)
    if as_json:
        print_json(row)
        return
    source = "artifact" if artifact else "weights"
    print_table(
        f"eval on {dataset} ({split})",
        [row],
        [
            ("model", "model"),
            ("backend", "backend"),
            ("precision", "precision"),
            ("top1", "top-1"),
            ("top5", "top-5"),
            ("count", "images"),
            (source, source),
        ],
    )
