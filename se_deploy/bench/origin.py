"""What an artifact was made from, read off the manifest.json beside it.

Export writes the weights (path and sha256, or random init) into its manifest and quantize/build
carry them forward, so bench can score accuracy only where it means something (trained weights,
on the set they were trained on) and compare against the PyTorch FP32 model of exactly those
weights. Random-init artifacts (the 224x224 paper pairs) are latency-only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from se_deploy.core.files import sha256_file

MANIFEST = "manifest.json"
RANDOM_INIT = "random init: latency only"


@dataclass(frozen=True)
class Origin:
    weights: Path | None = None  # the trained checkpoint; None: no PyTorch reference
    dataset: str | None = None  # the set it was trained on (the default eval set)
    note: str | None = None  # why there is no reference

    def fields(self) -> dict[str, Any]:
        """As Target fields."""
        return {"weights": self.weights, "dataset": self.dataset, "note": self.note}


def artifact_origin(artifact: Path) -> Origin:
    """The trained weights named in the manifest beside `artifact`, if they are still the same
    file (sha256); otherwise a note saying why accuracy is not scored."""
    manifest_path = Path(artifact).parent / MANIFEST
    if not manifest_path.is_file():
        return Origin(note=f"no {MANIFEST} beside it: weights unknown, no accuracy")
    try:
        weights = json.loads(manifest_path.read_text()).get("weights") or {}
    except json.JSONDecodeError:
        return Origin(note=f"{manifest_path} is not valid JSON: weights unknown, no accuracy")
    if weights.get("init") == "random":
        return Origin(note=RANDOM_INIT)
    if "path" not in weights:
        return Origin(note=f"{manifest_path} names no weights: no accuracy")
    path = Path(weights["path"])
    if not path.is_file():
        return Origin(note=f"its weights {path} are gone: no accuracy")
    if weights.get("sha256") and sha256_file(path) != weights["sha256"]:
        return Origin(note=f"{path} changed since the artifact was made; re-export it")
    return weights_origin(path)


def weights_origin(weights: Path | None) -> Origin:
    """A checkpoint and the dataset it records (torch reads it; without torch, none)."""
    if weights is None:
        return Origin(note=RANDOM_INIT)
    try:
        from se_deploy.models.checkpoint import read_checkpoint_meta
    except ImportError:
        return Origin(note="torch is not installed: no PyTorch reference, no accuracy")
    return Origin(weights, read_checkpoint_meta(weights).get("dataset"))
