"""`se-deploy models`: the registered models and their figures."""

from __future__ import annotations

import typer

from se_deploy.cli.replay import config_option
from se_deploy.core.console import TableFormat


def models_command(
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    input_size: int = typer.Option(224, help="Input side for the MFLOPs column."),
    wide: bool = typer.Option(False, "--wide", help="Every column, even past the width."),
    fmt: TableFormat = typer.Option(TableFormat.TABLE, "--format", help="Tables or Markdown."),
    _config: str = config_option(),
) -> None:
    """List every registered model with its baseline, params, MFLOPs and SE block count."""
    from se_deploy.core.console import print_json, print_table
    from se_deploy.models.zoo import model_table

    rows = model_table(input_size)
    if as_json:
        print_json(rows)
        return
    print_table(
        f"Registered models ({input_size}x{input_size}, 1000 classes; MFLOPs = multiply-adds)",
        rows,
        [
            ("name", "model"),
            ("baseline", "baseline"),
            ("params_m", "params (M)"),
            ("mflops", "MFLOPs"),
            ("se_blocks", "SE blocks"),
            ("paper_mflops", "paper MFLOPs"),
            ("paper_params_m", "paper params (M)"),
            ("paper_top1_err", "paper top-1 err"),
        ],
        wide,
        fmt,
    )
