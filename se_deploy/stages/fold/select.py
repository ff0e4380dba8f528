"""Which SE blocks to fold: by name, all of them, or greedily under an accuracy budget.

The greedy rule: visit the foldable blocks from the one whose output folding changes least
(`GateStats.output_error`, relative L2) up; fold each on top of those already kept and keep it
if the selection set's top-1 is still within `max_drop` points of the unfolded model's, else
leave it in place and try the next. One evaluation per foldable block; every decision is
recorded with the figures that made it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from se_deploy.core.errors import SeDeployError
from se_deploy.stages.fold.gate_stats import GateStats
from se_deploy.stages.fold.rewrite import FoldTarget

Top1Of = Callable[[Sequence[str]], float]  # folded block names -> top-1 (0..1)


@dataclass(frozen=True)
class FoldDecision:
    """One block's outcome; `top1`/`drop_pt` are the selection-set figures of the trial fold
    (the blocks kept so far plus this one); None where nothing was evaluated."""

    block: str
    error: float  # the block output's relative L2 change when folded: the ranking figure
    folded: bool
    reason: str
    top1: float | None = None
    drop_pt: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def by_error(stats: Sequence[GateStats], value: str) -> list[GateStats]:
    """Blocks whose folding changes their output least first; ties keep graph order."""
    return sorted(stats, key=lambda item: item.output_error(value))


def select_greedy(
    stats: Sequence[GateStats],
    targets: Mapping[str, FoldTarget],
    top1_of: Top1Of,
    max_drop: float,
    value: str,
) -> tuple[float, list[FoldDecision]]:
    """The unfolded top-1 and one decision per block, in the order they were visited."""
    baseline = top1_of(())
    kept: list[str] = []
    decisions = []
    for item in by_error(stats, value):
        target, error = targets[item.block], item.output_error(value)
        if not target.foldable:
            decisions.append(FoldDecision(item.block, error, False, target.reason))
            continue
        if max_drop <= 0:
            decisions.append(FoldDecision(item.block, error, False, "the budget is 0 points"))
            continue
        top1 = top1_of((*kept, item.block))
        drop = round((baseline - top1) * 100, 6)
        within = drop <= max_drop
        if within:
            kept.append(item.block)
        reason = f"drop {drop:.3f} {'<=' if within else '>'} {max_drop} pt"
        decisions.append(FoldDecision(item.block, error, within, reason, top1, drop))
    return baseline, decisions


def select_listed(
    stats: Sequence[GateStats],
    targets: Mapping[str, FoldTarget],
    names: Sequence[str],
    value: str,
) -> list[FoldDecision]:
    """Decisions for `names` (block names or 0-based graph-order indices); every named block
    must be foldable."""
    order = [item.block for item in stats]
    chosen = {_block_name(name, order) for name in names}
    for block in sorted(chosen, key=order.index):
        if not targets[block].foldable:
            raise SeDeployError(f"SE block '{block}' cannot be folded: {targets[block].reason}")
    return [
        FoldDecision(
            item.block,
            item.output_error(value),
            item.block in chosen,
            "named" if item.block in chosen else "not named",
        )
        for item in stats
    ]


def select_all(
    stats: Sequence[GateStats], targets: Mapping[str, FoldTarget], value: str
) -> list[FoldDecision]:
    return [
        FoldDecision(
            item.block,
            item.output_error(value),
            targets[item.block].foldable,
            "all" if targets[item.block].foldable else targets[item.block].reason,
        )
        for item in stats
    ]


def select_none(stats: Sequence[GateStats], value: str) -> list[FoldDecision]:
    return [FoldDecision(item.block, item.output_error(value), False, "none") for item in stats]


def _block_name(name: str, order: Sequence[str]) -> str:
    if name in order:
        return name
    if name.isdigit() and int(name) < len(order):
        return order[int(name)]
    raise SeDeployError(
        f"--fold-se names '{name}', which is no SE block of this model; use "
        f"0..{len(order) - 1} or one of: {', '.join(order)}"
    )
