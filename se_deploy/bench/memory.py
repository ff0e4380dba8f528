"""Resident memory of a measurement phase, and an artifact's size on disk.

Linux lets a process reset its own peak-RSS mark (write 5 to /proc/self/clear_refs, then read
VmHWM), so each target's load gets its own peak even though all targets share one process.
Elsewhere the peak is the process-wide `ru_maxrss`, and the record's `peak_scope` says so.
"""

from __future__ import annotations

import contextlib
import resource
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

_CLEAR_REFS = Path("/proc/self/clear_refs")
_STATUS = Path("/proc/self/status")
_MB = 1024 * 1024


@dataclass(frozen=True)
class MemoryRecord:
    rss_before_mb: float
    rss_after_mb: float
    peak_rss_mb: float
    peak_scope: str  # "phase" (reset before it) or "process" (ru_maxrss since start)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class MemoryMonitor:
    """Per-phase peaks for one run. Resetting the mark also resets ru_maxrss, so the monitor
    folds each phase's peak into the run's peak before the next reset."""

    def __init__(self) -> None:
        self._run_peak_mb = 0.0

    @contextlib.contextmanager
    def phase(self) -> Iterator[list[MemoryRecord]]:
        """Yields a list that holds the phase's MemoryRecord once the block ends."""
        self._run_peak_mb = max(self._run_peak_mb, peak_rss_mb())
        scope = "phase" if _reset_peak() else "process"
        before = current_rss_mb()
        holder: list[MemoryRecord] = []
        try:
            yield holder
        finally:
            holder.append(MemoryRecord(before, current_rss_mb(), peak_rss_mb(), scope))

    def run_peak_mb(self) -> float:
        return max(self._run_peak_mb, peak_rss_mb())


def current_rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / _MB


def peak_rss_mb() -> float:
    """VmHWM (resettable) where /proc has it, else the process-wide peak."""
    if _STATUS.exists():
        for line in _STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return process_peak_rss_mb()


def process_peak_rss_mb() -> float:
    """ru_maxrss (KiB on Linux, bytes on macOS); the phase resets lower it too."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / _MB if sys.platform == "darwin" else peak / 1024


def _reset_peak() -> bool:
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


def artifact_bytes(path: Path) -> int:
    """Bytes on disk: a file, an ONNX file plus its external-data files, or a directory's files."""
    path = Path(path)
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    size = path.stat().st_size
    if path.suffix == ".onnx":
        size += sum((path.parent / name).stat().st_size for name in _external_data_files(path))
    return size


def _external_data_files(path: Path) -> set[str]:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return {
        entry.value
        for tensor in model.graph.initializer
        if tensor.data_location == onnx.TensorProto.EXTERNAL
        for entry in tensor.external_data
        if entry.key == "location"
    }
