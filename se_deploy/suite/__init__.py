"""The default suite (`se-deploy bench` with nothing named) and the plan of any bench run.

The suite calls the export and quantize stages to make its artifacts, so it sits above both the
stages and bench; bench itself only measures.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from se_deploy.backends import Device
from se_deploy.bench import Plan, build_plan
from se_deploy.bench.run import Progress
from se_deploy.suite.make import SUITE_PRECISIONS, ExportMaker, build_suite_plan

__all__ = ["select_plan"]


def select_plan(
    backends: Sequence[str],
    models: Sequence[str] = (),
    precisions: Sequence[str] = (),
    pairs: Sequence[tuple[Path, Path]] = (),
    artifacts: Sequence[Path] = (),
    device: Device | None = None,
    make: bool = True,
    progress: Progress | None = None,
) -> Plan:
    """The plan for what was named (models, pairs, files), or the embedded default suite when
    nothing was; no precisions means fp32 (named models) or the suite's fp32 and int8."""
    if models or pairs or artifacts:
        resolver = ExportMaker(make=make, progress=progress or (lambda _: None))
        return build_plan(backends, models, precisions or ("fp32",), pairs, artifacts, resolver)
    return build_suite_plan(backends, precisions or SUITE_PRECISIONS, device, make, progress)
