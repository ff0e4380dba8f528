"""`se-deploy export`: PyTorch to verified ONNX with SE blocks canonicalized."""

from __future__ import annotations

import typer

from se_deploy.cli.replay import config_option


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
        False,
        "--zoo",
        help="Use the committed trained checkpoint of --model "
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
        "broadcast",
        help="How each SE gate reaches its Mul: broadcast (1x1) or resize (repeated "
        "to HxW: same outputs, keeps ORT CPU's NCHWc layout; FP32 only, faster for MobileNet "
        "v1/v2, slower for ShuffleNet, see README).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the manifest as JSON."),
    _config: str = config_option(),
) -> None:
    """Export to ONNX with SE blocks canonicalized, simplified and verified against PyTorch.

    Default: random init at 224x224, 1000 classes (the latency shape).

    Trained weights (--zoo or --weights) bring their own input size, classes and channels.
    """
    from pathlib import Path

    from se_deploy.core.console import print_json
    from se_deploy.stages.export import ExportConfig, export_model
    from se_deploy.stages.export.summary import print_export_summary, step_display

    config = ExportConfig(
        model=model,
        weights=Path(weights) if weights else None,
        zoo=zoo,
        input_size=input_size,
        batch=batch,
        dynamic_batch=dynamic_batch,
        opset=opset,
        out=Path(out),
        width=width,
        num_classes=num_classes,
        in_chans=in_chans,
        small_input=small_input,
        dataset=dataset,
        data_dir=Path(data_dir) if data_dir else None,
        verify_samples=verify_samples,
        seed=seed,
        se_gate=se_gate,
    )
    with step_display(config) as on_step:
        result = export_model(config, on_step)
    if as_json:
        print_json(result.to_dict())
    else:
        print_export_summary(result)
