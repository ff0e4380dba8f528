"""`se-deploy bench`: latency, accuracy, memory and profile of SE models against their baselines.

`build_plan` builds the plan of what was named (se_deploy.suite.select_plan adds the embedded
default suite); `run_bench` executes a plan and writes the report.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TypeVar

from se_deploy.bench.plan import BenchConfig, Plan, build_plan
from se_deploy.bench.run import BenchResults, Progress, execute_plan, validate_backends
from se_deploy.core.errors import SeDeployError

DEFAULT_RUNS = Path("runs/bench")
E = TypeVar("E", bound=enum.Enum)

__all__ = [
    "BenchConfig",
    "BenchResults",
    "Plan",
    "build_plan",
    "parse_choice",
    "parse_ints",
    "parse_list",
    "parse_pairs",
    "run_bench",
]


def run_bench(
    plan: Plan,
    config: BenchConfig,
    out_dir: Path | None = None,
    command: str = "",
    progress: Progress | None = None,
) -> tuple[BenchResults, list[Path]]:
    """Execute `plan` and write the report; refuses up front when no backend can run here."""
    from se_deploy.bench.report import write_report

    validate_backends(plan.backends(), config.device)
    require_runnable(plan)
    run_dir = out_dir or DEFAULT_RUNS / time.strftime("%Y%m%d-%H%M%S")
    results = execute_plan(plan, config, run_dir, progress)
    return results, write_report(results, run_dir, command)


def require_runnable(plan: Plan) -> None:
    """Refuse a plan none of whose targets can run (each is missing or unreadable): it would
    measure nothing, so it is a bad input, not a report of failed rows."""
    targets = [t for group in plan.groups for t in group.targets]
    if targets and all(t.missing for t in targets):
        reasons = "; ".join(dict.fromkeys(f"{t.key}: {t.missing}" for t in targets))
        raise SeDeployError(f"nothing to measure: {reasons}")


def parse_list(text: str | None, option: str) -> list[str]:
    """'a, b,c' -> ['a', 'b', 'c'] for comma-separated CLI options."""
    items = [item.strip() for item in (text or "").split(",") if item.strip()]
    if text and not items:
        raise SeDeployError(f"{option} '{text}' names nothing; give comma-separated values")
    return items


def parse_pairs(texts: Sequence[str]) -> list[tuple[Path, Path]]:
    """['se.onnx,base.onnx', ...] -> [(Path, Path), ...] for repeated --pair options."""
    pairs = []
    for text in texts:
        parts = parse_list(text, "--pair")
        if len(parts) != 2:
            raise SeDeployError(f"--pair '{text}' needs two paths: SE_ARTIFACT,BASE_ARTIFACT")
        pairs.append((Path(parts[0]), Path(parts[1])))
    return pairs


def parse_ints(text: str, option: str) -> tuple[int, ...]:
    try:
        return tuple(int(item) for item in parse_list(text, option))
    except ValueError:
        raise SeDeployError(
            f"{option} '{text}' must be comma-separated integers, e.g. 1,8"
        ) from None


def parse_choice(kind: type[E], value: str, option: str) -> E:
    try:
        return kind(value)
    except ValueError:
        choices = ", ".join(str(member.value) for member in kind)
        raise SeDeployError(f"{option} '{value}' is not one of: {choices}") from None
