"""`se-deploy inspect`: what an ONNX file holds, from any exporter, before any stage runs."""

from __future__ import annotations

import typer

from se_deploy.core.console import TableFormat


def inspect_command(
    path: str = typer.Argument(..., help="An .onnx file: an export, a quantized or built one."),
    shapes: str = typer.Option(
        None, help="Dims for symbolic inputs, for the MAC count: NAME:1x3x48x192[,...]."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    fmt: TableFormat = typer.Option(TableFormat.TABLE, "--format", help="Tables or Markdown."),
) -> None:
    """Inputs/outputs, opsets, op histogram, MACs and params, SE blocks (and why other squeezes
    are none) and, for quantized files, how they are quantized."""
    from se_deploy.core.onnx.describe import describe_file, print_description
    from se_deploy.core.shapes import InputShapes

    print_description(describe_file(path, InputShapes.parse(shapes)), as_json, fmt)
