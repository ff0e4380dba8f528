"""The gate-statistics figure: per SE block, where its gates sit and how much they move."""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np

from se_deploy.stages.fold.gate_stats import GateStats
from se_deploy.stages.fold.select import FoldDecision


def plot_gate_stats(
    stats: Sequence[GateStats], decisions: Sequence[FoldDecision], title: str
) -> bytes:
    """PNG bytes. Top: each block's per-channel gate means (box over channels) with the overall
    min..max; bottom: the spread (mean per-channel std over images) and the relative change of
    the block output if folded (the auto mode's ranking), folded blocks filled."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    folded = {decision.block for decision in decisions if decision.folded}
    order = {item.block: position for position, item in enumerate(stats)}
    positions = np.arange(len(stats))
    labels = [short_block_name(item.block) for item in stats]
    figure, (top, bottom) = plt.subplots(
        2, 1, figsize=(max(6.0, 0.55 * len(stats) + 2), 6.5), sharex=True, constrained_layout=True
    )
    top.boxplot([item.mean for item in stats], positions=positions, widths=0.6, whis=(0, 100))
    top.vlines(
        positions,
        [item.min.min() for item in stats],
        [item.max.max() for item in stats],
        colors="0.7",
        linewidth=1,
        label="min..max over images and channels",
    )
    top.set_ylabel("gate value")
    top.set_title(f"{title}: per-channel gate means over {stats[0].count} images")
    top.legend(loc="lower left", fontsize=8)
    filled = [item.block in folded for item in stats]
    errors = [decision.error for decision in sorted(decisions, key=lambda d: order[d.block])]
    for offset, heights, color, label in (
        (-0.2, [item.spread for item in stats], "tab:blue", "gate spread (mean channel std)"),
        (0.2, errors, "tab:orange", "relative output change if folded"),
    ):
        bottom.bar(
            positions + offset,
            heights,
            width=0.4,
            edgecolor=color,
            label=label,
            color=[color if fill else "white" for fill in filled],
        )
    bottom.legend(loc="upper left", fontsize=8)
    bottom.set_title(f"per block; filled = folded ({len(folded)} of {len(stats)})")
    bottom.set_xticks(positions, labels, rotation=60, ha="right", fontsize=8)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, metadata={"Software": None})
    plt.close(figure)
    return buffer.getvalue()


def short_block_name(block: str) -> str:
    """'/blocks/blocks.3/se' -> 'blocks.3', for tables and axis labels."""
    parts = [part for part in block.split("/") if part and part != "se"]
    return parts[-1] if parts else block
