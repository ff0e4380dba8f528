"""`se-deploy export`: PyTorch to verified ONNX with SE blocks canonicalized."""

from __future__ import annotations

import typer

from se_deploy.cli.replay import config_option
from se_deploy.core.choices import ChannelOrder, SeGateForm


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
    opset: int = typer.Option(
        None,
        help="ONNX opset: 14..20 for a registered model (default 17); with --onnx, upgrade the "
        "file to it with onnx's version converter (default: keep the file's).",
    ),
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
    se_gate: SeGateForm = typer.Option(
        SeGateForm.BROADCAST,
        help="How each SE gate reaches its Mul: broadcast (1x1) or resize (repeated "
        "to HxW: same outputs, keeps ORT CPU's NCHWc layout; FP32 only, faster for MobileNet "
        "v1/v2, slower for ShuffleNet, see README).",
    ),
    onnx: str = typer.Option(
        None,
        "--onnx",
        help="An ONNX file from any exporter, instead of --model: same passes, verified against "
        "the file (ORT, optimizations off), written to OUT/<name>/fp32/.",
    ),
    module: str = typer.Option(
        None,
        "--module",
        help="Your own PyTorch model instead of --model: FILE.py:FACTORY or "
        "package.module:FACTORY (a callable returning an nn.Module); --weights loads a "
        "state_dict (.pt/.safetensors) into it, --shapes gives the input.",
    ),
    module_arg: list[str] = typer.Option(
        None, "--module-arg", help="--module: a factory keyword as key=value (repeatable)."
    ),
    name: str = typer.Option(
        None, help="--onnx/--module: the run directory's name (default: file stem / factory)."
    ),
    shapes: str = typer.Option(
        None,
        help="--onnx: concrete input dims, trtexec syntax NAME:1x3x48x192[,NAME2:...]; "
        "required where the file's dims are symbolic.",
    ),
    dynamic: bool = typer.Option(
        False, help="--onnx: keep symbolic dims (--shapes then only sizes the verification)."
    ),
    expect_se: int = typer.Option(
        None, help="Fail when fewer SE blocks are found (--onnx default: at least 1)."
    ),
    mean: str = typer.Option(None, help="--onnx: input mean per channel, e.g. 0.485,0.456,0.406."),
    std: str = typer.Option(None, help="--onnx: input std per channel, e.g. 0.229,0.224,0.225."),
    channel_order: ChannelOrder = typer.Option(
        ChannelOrder.RGB, help="--onnx: input channel order."
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
    from se_deploy.core.options import float_list
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
        onnx=Path(onnx) if onnx else None,
        module=module,
        module_args=tuple(module_arg or ()),
        name=name,
        shapes=shapes,
        dynamic=dynamic,
        expect_se=expect_se,
        mean=float_list(mean, "--mean"),
        std=float_list(std, "--std"),
        channel_order=channel_order,
    )
    with step_display(config) as on_step:
        result = export_model(config, on_step)
    if as_json:
        print_json(result.to_dict())
    else:
        print_export_summary(result)
