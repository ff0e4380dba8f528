"""Terminal output: rich tables for people, JSON for machines. One place so every command agrees."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

console = Console(stderr=False)
err_console = Console(stderr=True)


def print_json(payload: Any) -> None:
    if isinstance(payload, Mapping):  # a Manifest: its JSON is the dict it wraps
        payload = dict(payload)
    sys.stdout.write(json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n")


def print_table(
    title: str, rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]]
) -> None:
    """Render `rows` with (key, header) `columns`; floats keep their rounding, None shows as '-'."""
    table = Table(title=title, show_lines=False)
    for _, header in columns:
        table.add_column(header, overflow="fold")
    for row in rows:
        table.add_row(*(_cell(row.get(key)) for key, _ in columns))
    console.print(table)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1000 else f"{value:.1f}"
    return str(value)


def step_progress(description: str):
    """A progress bar with loss/accuracy fields, drawn on stderr (stdout stays clean for --json)."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]:.4f} top-1 {task.fields[top1]:.4f}"),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
    )
