"""The `--shapes` option every command that runs a model takes (trtexec / Polygraphy syntax)."""

from __future__ import annotations

import typer


def shapes_option() -> str:
    return typer.Option(
        None,
        "--shapes",
        help="Numbers for the input's symbolic dims (a file exported with --dynamic), trtexec "
        "syntax NAME:1x3x48x192[,NAME2:...]; static dims must match.",
    )
