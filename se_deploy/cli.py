"""The `se-deploy` command line. Each command parses options and calls one library function."""

from __future__ import annotations

import sys

import typer

from se_deploy.errors import SeDeployError

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


def main() -> None:
    """Console entry point: user errors become one line on stderr and exit code 2."""
    try:
        app()
    except SeDeployError as exc:
        print(f"se-deploy: error: {exc}", file=sys.stderr)
        sys.exit(2)
