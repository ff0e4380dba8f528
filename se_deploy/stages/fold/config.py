"""FoldConfig: every `se-deploy fold` option, validated once, before any file is read."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from se_deploy.core.choices import GateValue
from se_deploy.core.errors import SeDeployError
from se_deploy.core.shapes import InputShapes

FOLDED_SUFFIX = "-folded"  # export/<model>/fp32-folded/ beside export/<model>/fp32/


class FoldMode(enum.StrEnum):
    NONE = "none"  # measure and plot the gates, fold nothing
    ALL = "all"  # fold every foldable block, whatever it costs
    AUTO = "auto"  # greedy, lowest gate spread first, under the --max-drop budget
    LIST = "list"  # the blocks named in --fold-se


@dataclass(frozen=True)
class FoldConfig:
    """How to fold. Gate statistics come from `calib_size` shuffled train images of `data`;
    auto's selection from `select_size` shuffled test images, and the reported accuracy from up
    to `check_size` other test images (0 skips it), so the figure the budget is judged by was
    never used to choose."""

    data: str | None = None  # 'fashion-mnist', 'synthetic' or an ImageFolder DIR
    mode: FoldMode = FoldMode.AUTO
    blocks: tuple[str, ...] = ()  # LIST: block names or 0-based indices in graph order
    max_drop: float = 0.3  # AUTO: top-1 points the selection set may lose; 0 folds nothing
    value: GateValue = GateValue.LSQ
    calib_size: int = 1000
    select_size: int = 5000
    check_size: int = 10000
    batch_size: int = 64  # batch for models with a dynamic batch axis
    seed: int = 0
    data_dir: Path | None = None
    shapes: InputShapes = field(default_factory=InputShapes)  # --shapes: fills symbolic dims

    def __post_init__(self) -> None:
        object.__setattr__(self, "mode", FoldMode(self.mode))
        problems = []
        try:
            object.__setattr__(self, "value", GateValue(self.value))
        except ValueError:
            problems.append(f"--gate-value '{self.value}' (choose mean or lsq)")
        if self.data is None:
            problems.append(
                "no images: pass --data fashion-mnist|synthetic|DIR (gate "
                "statistics need real inputs)"
            )
        if (self.mode is FoldMode.LIST) != bool(self.blocks):
            problems.append(
                "block names go with the list mode only (--fold-se 0,3,5 or "
                "--fold-se /blocks/blocks.3/se)"
            )
        if self.max_drop < 0:
            problems.append(f"--max-drop {self.max_drop} (use >= 0 top-1 points)")
        if self.mode is not FoldMode.AUTO and self.max_drop != FoldConfig.max_drop:
            problems.append(f"--max-drop applies to --fold-se auto, not {self.mode}; drop it")
        for name in ("calib_size", "select_size", "batch_size"):
            if getattr(self, name) < 1:
                problems.append(f"--{name.replace('_', '-')} {getattr(self, name)} (use >= 1)")
        if self.check_size < 0:
            problems.append(f"--check-size {self.check_size} (use >= 0; 0 skips the check)")
        if problems:
            raise SeDeployError("bad fold options: " + "; ".join(problems))

    @classmethod
    def from_fold_se(cls, fold_se: str, **options: Any) -> FoldConfig:
        """Parse `--fold-se auto|all|none|<comma-separated blocks>` into mode and blocks."""
        text = fold_se.strip()
        if text in {mode.value for mode in FoldMode if mode is not FoldMode.LIST}:
            return cls(mode=FoldMode(text), **options)
        blocks = tuple(item.strip() for item in text.split(",") if item.strip())
        if not blocks:
            raise SeDeployError(
                f"--fold-se '{fold_se}' names nothing; use auto, all, none or "
                "comma-separated block names/indices"
            )
        return cls(mode=FoldMode.LIST, blocks=blocks, **options)

    def tag(self, precision: str = "fp32") -> str:
        return precision + FOLDED_SUFFIX

    def to_dict(self) -> dict[str, Any]:
        return {
            "data": self.data,
            "fold_se": str(self.mode),
            "blocks": list(self.blocks),
            "gate_value": str(self.value),
            "max_drop": self.max_drop if self.mode is FoldMode.AUTO else None,
            "calib_size": self.calib_size,
            "select_size": self.select_size if self.mode is FoldMode.AUTO else None,
            "check_size": self.check_size,
            "batch_size": self.batch_size,
            "seed": self.seed,
            "data_dir": str(self.data_dir) if self.data_dir else None,
            "shapes": self.shapes.to_text(),
        }
