"""`se-deploy fold`: static SE folding under a top-1 budget."""

from __future__ import annotations

import typer

from se_deploy.cli.replay import config_option
from se_deploy.cli.shapes import shapes_option
from se_deploy.core.choices import GateValue


def fold_command(
    model: str = typer.Option(
        None, "--model", "-m", help="Registered model: reads export/<model>/fp32/model.onnx."
    ),
    input_path: str = typer.Option(None, "--input", help="Or an fp32 ONNX file / run directory."),
    fold_se: str = typer.Option(
        "auto",
        help="auto (greedy under --max-drop), all, none, or comma-separated block names "
        "or 0-based indices.",
    ),
    max_drop: float = typer.Option(
        0.3, help="auto: top-1 points the selection set may lose (0 folds nothing)."
    ),
    gate_value: GateValue = typer.Option(
        GateValue.LSQ,
        help="Constant a folded gate becomes: lsq (least squares: the energy-weighted "
        "gate mean) or mean.",
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
    shapes: str = shapes_option(),
    _config: str = config_option(),
) -> None:
    """Fold near-constant SE gates into conv weights (static SE folding) under a top-1 budget."""
    from pathlib import Path

    from se_deploy.core.artifact import resolve_source
    from se_deploy.core.shapes import InputShapes
    from se_deploy.stages.fold import FoldConfig, fold_artifact
    from se_deploy.stages.fold.summary import print_fold_summary, step_display

    config = FoldConfig.from_fold_se(
        fold_se,
        data=data,
        max_drop=max_drop,
        value=gate_value,
        calib_size=calib_size,
        select_size=select_size,
        check_size=check_size,
        seed=seed,
        data_dir=Path(data_dir) if data_dir else None,
        shapes=InputShapes.parse(shapes),
    )
    source = resolve_source(input_path, model, "fp32")
    with step_display(source) as on_step:
        result = fold_artifact(source, config, Path(out) if out else None, on_step)
    print_fold_summary(result, as_json)
