"""Static SE folding: measure SE gates on real images, replace near-constant ones by their mean
and fold that per-channel scale into a neighbouring conv, under an accuracy budget."""

from se_deploy.stages.fold.config import FoldConfig, FoldMode, GateValue
from se_deploy.stages.fold.gate_stats import GateStats, collect_gate_stats
from se_deploy.stages.fold.pipeline import fold_artifact
from se_deploy.stages.fold.rewrite import FoldSite, FoldTarget, fold_se_blocks, fold_targets

__all__ = [
    "FoldConfig",
    "FoldMode",
    "FoldSite",
    "FoldTarget",
    "GateStats",
    "GateValue",
    "collect_gate_stats",
    "fold_artifact",
    "fold_se_blocks",
    "fold_targets",
]
