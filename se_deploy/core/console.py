"""Terminal output: rich tables for people, Markdown or JSON for machines, progress on stderr.
One place so every command agrees.

On a terminal, tables use its width and long steps show a rich progress bar (with ETA when the
step count is known). Anywhere else (a pipe, a CI log) rich's live display draws nothing, so
progress is one plain line per step on stderr, and tables keep to the console width (80 unless
COLUMNS says otherwise): a column is shown only if its longest word fits, so no cell is split
mid-word; the columns left out are named under the table (`--wide` shows them, the report
files and --json have them all).
"""

from __future__ import annotations

import contextlib
import enum
import json
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from se_deploy.core.verbosity import Verbosity, verbosity

console = Console(stderr=False)
err_console = Console(stderr=True)
Columns = Sequence[tuple[str, str]]
PLAIN_DELAY_S = 0.5
_BORDER = 3  # a column's share of rich's box: the rule and one space each side


class TableFormat(enum.StrEnum):
    """How a command prints its tables on stdout (--json is separate and unchanged)."""

    TABLE = "table"
    MD = "md"


def print_json(payload: Any) -> None:
    if isinstance(payload, Mapping):  # a Manifest: its JSON is the dict it wraps
        payload = dict(payload)
    sys.stdout.write(json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n")


def print_table(
    title: str,
    rows: Sequence[dict[str, Any]],
    columns: Columns,
    wide: bool = False,
    fmt: TableFormat = TableFormat.TABLE,
) -> None:
    """Render `rows` with (key, header) `columns`; floats keep their rounding, None shows as '-'.
    Without `wide`, columns whose words do not fit the console width are left out and named."""
    if fmt is TableFormat.MD:
        sys.stdout.write(f"**{title}**\n\n{markdown_table(rows, columns)}\n\n")
        return
    cells = [[_cell(row.get(key)) for key, _ in columns] for row in rows]
    widths = [
        max([_longest_word(header), *(_longest_word(row[i]) for row in cells)])
        for i, (_, header) in enumerate(columns)
    ]
    shown = list(range(len(columns))) if wide else _fitting(widths, console.width)
    table = Table(title=title, show_lines=False)
    for i in shown:
        table.add_column(columns[i][1], min_width=widths[i], overflow="fold")
    for row in cells:
        table.add_row(*(row[i] for i in shown))
    hidden = [columns[i][1] for i in range(len(columns)) if i not in shown]
    if hidden:
        table.caption = f"not shown: {', '.join(hidden)} (--wide, --json or the report files)"
    if wide:  # every cell on one line: as wide as the longest cell of each column
        natural = [
            max(len(header), *(len(row[i]) for row in cells))
            for i, (_, header) in enumerate(columns)
        ]
        width = sum(natural) + _BORDER * len(natural) + 1
        Console(width=max(width, console.width)).print(table)
    else:
        console.print(table)


def _fitting(widths: Sequence[int], total: int) -> list[int]:
    """The columns, in order, that fit in `total` characters at their longest word's width."""
    shown, used = [], 1
    for i, width in enumerate(widths):
        if used + width + _BORDER <= total:
            shown.append(i)
            used += width + _BORDER
    return shown


def _longest_word(text: str) -> int:
    return max((len(word) for word in text.split()), default=1)


def markdown_table(rows: Sequence[dict[str, Any]], columns: Columns) -> str:
    header = "| " + " | ".join(_md_cell(title) for _, title in columns) + " |"
    rule = "|" + "---|" * len(columns)
    body = ["| " + " | ".join(_md_cell(row.get(key)) for key, _ in columns) + " |" for row in rows]
    return "\n".join([header, rule, *body])


def _md_cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return _cell(value).replace("|", "\\|")


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1000 else f"{value:.1f}"
    return str(value)


@contextlib.contextmanager
def activity(label: str, total: int | None = None) -> Iterator[Callable[..., None]]:
    """Report a long step's progress: yields `update(text, advance=True)`, called as each step
    begins (`advance=False`: a sub-step of the current one). On a terminal a rich bar (ETA when
    `total` steps are known, else a spinner and elapsed time); elsewhere
    `se-deploy: [  12.3s] label: text` lines on stderr, as rich draws nothing there."""
    if verbosity() is Verbosity.QUIET:
        yield lambda text, advance=True: None
        return
    if not err_console.is_terminal:
        lines = _PlainLines(
            label, 0.0 if verbosity() >= Verbosity.VERBOSE else PLAIN_DELAY_S, total
        )
        try:
            yield lines.update
        finally:
            lines.close()
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    counted = (BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()) if total else ()
    with Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        *counted,
        TimeElapsedColumn(),
        TextColumn("{task.fields[step]}"),
        console=err_console,
        transient=True,
    ) as progress:
        task = progress.add_task(label, total=total, step="")
        begun = [0]

        def update(text: str, advance: bool = True) -> None:
            begun[0] += advance
            done = max(begun[0] - 1, 0)
            progress.update(task, completed=min(done, total) if total else done, step=text)

        yield update


class _PlainLines:
    """Progress as plain stderr lines. A step's line is printed once it has run for
    PLAIN_DELAY_S: a log is not flooded with sub-second steps, and a bad input, which fails in
    its first moments, still leaves one line on stderr (the error). Counted steps (a known
    `total`) print `text (n/total, eta Xs)`, at most one line per PLAIN_DELAY_S, and always
    the first (once it has run PLAIN_DELAY_S or the second begins: a bad input still leaves
    one line) and the last."""

    def __init__(self, label: str, delay: float, total: int | None = None) -> None:
        self.label = label
        self.delay = delay
        self.total = total
        self.start = time.perf_counter()
        self.begun = 0
        self.printed = -delay
        self.pending: threading.Timer | None = None
        self.deferred: str | None = None  # the first counted line, until it is due

    def update(self, text: str, advance: bool = True) -> None:
        first = self.deferred  # a second step begins: the first counted line is due now
        self.close()
        if first is not None:
            print(first, file=sys.stderr, flush=True)
        self.begun += advance
        elapsed = time.perf_counter() - self.start
        line = f"se-deploy: [{elapsed:6.1f}s] {self.label}: {text}"
        if self.total:
            self._counted(line, elapsed)
            return
        self.pending = threading.Timer(
            self.delay, print, (line,), {"file": sys.stderr, "flush": True}
        )
        self.pending.daemon = True
        self.pending.start()

    def _counted(self, line: str, elapsed: float) -> None:
        done = min(self.begun, self.total or 0)
        edge = self.begun <= 1 or done >= (self.total or 0)
        if not edge and elapsed - self.printed < self.delay:
            return
        eta = elapsed / max(self.begun - 1, 1) * (self.total - done + 1) if self.begun > 1 else None
        tail = f", eta {eta:.0f}s" if eta is not None else ""
        counted = f"{line} ({done}/{self.total}{tail})"
        self.printed = elapsed
        if self.begun <= 1 and self.delay > 0:
            self.deferred = counted
            self.pending = threading.Timer(self.delay, self._print_deferred, (counted,))
            self.pending.daemon = True
            self.pending.start()
            return
        print(counted, file=sys.stderr, flush=True)

    def _print_deferred(self, line: str) -> None:
        if self.deferred == line:
            self.deferred = None
            print(line, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.pending is not None:
            self.pending.cancel()
        self.deferred = None
