"""`se-deploy fold` end to end: fp32 ONNX -> gate statistics -> choose blocks -> fold -> files.

Writes <root>/<model>/fp32-folded/ (model.onnx, gate_stats.json, gates.png, manifest.json) beside
the fp32 export, or into --out. The manifest lists every SE block with its fold site, gate
statistics and the decision taken, and the top-1 of the folded and unfolded model on held-out
test images. Nothing is written unless the folded graph checks out.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from se_deploy.backends.ort import open_session
from se_deploy.core.artifact import MODEL_FILE, OnnxSource, RunResult, base_manifest, write_run
from se_deploy.core.checks import AccuracyMeter, compare_logits
from se_deploy.core.errors import SeDeployError, VerificationError
from se_deploy.core.onnx.graph import load_model
from se_deploy.core.onnx.se_pattern import find_se_blocks
from se_deploy.data import Batch, ImageSet
from se_deploy.data.calibration import CALIBRATION_SPLIT, ImageInput, image_input, load_images
from se_deploy.stages.fold.config import FoldConfig, FoldMode
from se_deploy.stages.fold.gate_stats import GateStats, collect_gate_stats
from se_deploy.stages.fold.plot import plot_gate_stats
from se_deploy.stages.fold.rewrite import FoldTarget, fold_se_blocks, fold_targets, named_se_blocks
from se_deploy.stages.fold.select import (
    FoldDecision,
    select_all,
    select_greedy,
    select_listed,
    select_none,
)

STATS_FILE = "gate_stats.json"
PLOT_FILE = "gates.png"
CHECK_SPLIT = "test"
StepCallback = Callable[[str], None]


@dataclass(frozen=True)
class FoldImages:
    """Calibration images (gate statistics), the auto-mode selection set, the held-out check."""

    calibration: list[np.ndarray]
    selection: list[Batch]
    check: list[Batch]


def fold_artifact(
    source: OnnxSource,
    config: FoldConfig,
    out: Path | None = None,
    on_step: StepCallback | None = None,
) -> RunResult:
    """Fold the SE blocks of `source` that `config` selects; write the folded run directory."""
    step = on_step or (lambda _: None)
    run_dir = source.run_dir(config.tag(), out)
    model = load_model(source.path)
    blocks = list(named_se_blocks(model).values())
    if not blocks:
        raise SeDeployError(
            f"'{source.path}' has no canonical SE blocks to fold; fold the "
            "fp32 model `se-deploy export` wrote, then quantize the folded "
            "one"
        )
    target = image_input(model, config.shapes)
    if target.dtype != np.float32:
        raise SeDeployError(
            f"'{source.path}' takes {target.dtype.name} input; fold the fp32 "
            "export, then convert the folded model"
        )
    seconds: dict[str, float] = {}
    start = time.perf_counter()
    step("load images")
    images = load_fold_images(config, target)
    step(f"gate statistics over {sum(len(b) for b in images.calibration)} images")
    stats = collect_gate_stats(model, blocks, images.calibration)
    targets = fold_targets(model)
    seconds["statistics"] = _lap(start)
    step(f"choose blocks ({config.mode})")
    selection_top1, decisions = choose_blocks(model, stats, targets, images.selection, config)
    seconds["selection"] = _lap(start) - seconds["statistics"]
    means = {item.block: item.constant(config.value) for item in stats}
    chosen = [decision.block for decision in decisions if decision.folded]
    folded = fold_se_blocks(model, {name: means[name] for name in chosen})
    require_folded(folded, len(blocks) - len(chosen))
    step("check on held-out images")
    check = check_accuracy(model, folded, images.check)
    seconds["total"] = _lap(start)
    manifest = {
        **base_manifest("fold", source, config.to_dict()),
        "se_blocks": _block_records(stats, targets, decisions),
        "folded": {
            "blocks": chosen,
            "count": len(chosen),
            "of": len(blocks),
            "remaining": len(find_se_blocks(folded)),
        },
        "selection": _selection_record(config, images, selection_top1),
        "check": check,
        "graph": {
            "nodes_before": len(model.graph.node),
            "nodes": len(folded.graph.node),
            "ops": dict(sorted(Counter(n.op_type for n in folded.graph.node).items())),
        },
        "files": {"gate_stats": STATS_FILE, "plot": PLOT_FILE},
        "seconds": seconds,
    }
    title = (source.carried().get("model") or {}).get("name") or source.path.stem
    files = {
        MODEL_FILE: folded.SerializeToString(),
        STATS_FILE: (json.dumps([item.to_dict() for item in stats], indent=1) + "\n").encode(),
        PLOT_FILE: plot_gate_stats(stats, decisions, title),
    }
    manifest_path = write_run(run_dir, files, manifest)
    return RunResult.written(run_dir / MODEL_FILE, manifest_path)


def load_fold_images(config: FoldConfig, target: ImageInput) -> FoldImages:
    """Calibration images from a shuffle of the train split; auto's selection set and the check
    set from one shuffle of the test split, disjoint. The selection is held out because the
    model fits its train images: on them folding every se_mobilenet block lost 0.24 pt, on the
    test images 0.54. Batches match a static batch axis."""
    batch = target.batch or config.batch_size
    train = load_images(config.data, target, CALIBRATION_SPLIT, config.data_dir)
    calibration = _subset(train, _shuffled(len(train), config.seed)[: config.calib_size], batch)
    if not calibration:
        raise SeDeployError(
            f"{min(config.calib_size, len(train))} calibration images ('{config.data}' has "
            f"{len(train)} train images, --calib-size {config.calib_size}) are fewer than one "
            f"batch of {batch}; raise --calib-size to at least {batch}"
        )
    auto = config.mode is FoldMode.AUTO
    if not (auto or config.check_size):
        return FoldImages([images for images, _ in calibration], [], [])
    test = load_images(config.data, target, CHECK_SPLIT, config.data_dir)
    order = _shuffled(len(test), config.seed)
    held_out = order[config.select_size :] if auto else order
    selection = _subset(test, order[: config.select_size], batch) if auto else []
    check = _subset(test, np.sort(held_out[: config.check_size]), batch)
    if auto and not selection:
        raise SeDeployError(
            f"'{config.data}' has {len(test)} test images, fewer than one batch "
            f"of {batch} to choose blocks on; use a larger dataset"
        )
    if config.check_size and not check:
        raise SeDeployError(
            f"'{config.data}' has {len(test)} test images, none left for the "
            f"check after {config.select_size} selection images; lower "
            "--select-size or pass --check-size 0"
        )
    return FoldImages([images for images, _ in calibration], selection, check)


def _shuffled(count: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).permutation(count)


def _subset(images: ImageSet, index: np.ndarray, batch: int) -> list[Batch]:
    """Whole batches of `images[index]` (a ragged tail is dropped for static-batch models)."""
    index = index[: len(index) // batch * batch]
    subset = dataclasses.replace(images, images=images.images[index], labels=images.labels[index])
    return list(subset.batches(batch))


def choose_blocks(
    model: onnx.ModelProto,
    stats: Sequence[GateStats],
    targets: dict[str, FoldTarget],
    selection: Sequence[Batch],
    config: FoldConfig,
) -> tuple[float | None, list[FoldDecision]]:
    """The decisions of `config.mode`, and the unfolded selection top-1 when auto measured it."""
    value = str(config.value)
    if config.mode is FoldMode.NONE:
        return None, select_none(stats, value)
    if config.mode is FoldMode.ALL:
        return None, select_all(stats, targets, value)
    if config.mode is FoldMode.LIST:
        return None, select_listed(stats, targets, config.blocks, value)
    means = {item.block: item.constant(config.value) for item in stats}

    def top1_of(names: Sequence[str]) -> float:
        folded = fold_se_blocks(model, {name: means[name] for name in names})
        return top1(onnx_logits(folded, selection))

    return select_greedy(stats, targets, top1_of, config.max_drop, value)


def onnx_logits(model: onnx.ModelProto, batches: Sequence[Batch]) -> tuple[np.ndarray, np.ndarray]:
    """Logits and labels of every batch, ONNX Runtime CPU with its default optimizations."""
    session = open_session(model.SerializeToString())
    name = session.get_inputs()[0].name
    logits = [session.run(None, {name: images})[0] for images, _ in batches]
    return np.concatenate(logits), np.concatenate([labels for _, labels in batches])


def top1(result: tuple[np.ndarray, np.ndarray]) -> float:
    meter = AccuracyMeter()
    meter.update(*result)
    return meter.result().top1


def check_accuracy(
    model: onnx.ModelProto, folded: onnx.ModelProto, batches: Sequence[Batch]
) -> dict[str, Any] | None:
    """Top-1 of both models on the held-out test images, and how far the logits moved."""
    if not batches:
        return None
    reference, folded_result = onnx_logits(model, batches), onnx_logits(folded, batches)
    before, after = top1(reference), top1(folded_result)
    agreement = compare_logits(folded_result[0], reference[0])
    return {
        "split": CHECK_SPLIT,
        "images": len(reference[1]),
        "top1_unfolded": before,
        "top1_folded": after,
        "drop_pt": round((before - after) * 100, 6),
        **agreement.to_dict(),
    }


def require_folded(folded: onnx.ModelProto, expected: int) -> None:
    """The folded graph is valid ONNX and keeps exactly the SE blocks that were not folded."""
    try:
        onnx.checker.check_model(folded, full_check=True)
    except onnx.checker.ValidationError as exc:
        first_line = str(exc).strip().splitlines()[0]
        raise VerificationError(
            f"the folded graph fails onnx.checker: {first_line}; nothing was written"
        ) from None
    remaining = len(find_se_blocks(folded))
    if remaining != expected:
        raise VerificationError(
            f"the folded graph has {remaining} SE blocks, expected {expected}; "
            "nothing was written (a fold-pass defect, please report it)"
        )


def _block_records(
    stats: Sequence[GateStats],
    targets: dict[str, FoldTarget],
    decisions: Sequence[FoldDecision],
) -> list[dict[str, Any]]:
    """One record per block in graph order: statistics, fold site and decision."""
    decided = {decision.block: decision for decision in decisions}
    rank = {decision.block: position for position, decision in enumerate(decisions)}
    return [
        {
            **item.summary(),
            **targets[item.block].to_dict(),
            **decided[item.block].to_dict(),
            "visited": rank[item.block],
        }
        for item in stats
    ]


def _selection_record(
    config: FoldConfig, images: FoldImages, baseline: float | None
) -> dict[str, Any] | None:
    if config.mode is not FoldMode.AUTO:
        return None
    count = sum(len(labels) for _, labels in images.selection)
    return {
        "split": CHECK_SPLIT,
        "images": count,
        "top1_unfolded": baseline,
        "max_drop_pt": config.max_drop,
        "rule": "least output error first; keep a fold while the selection top-1 drop <= max_drop",
    }


def _lap(start: float) -> float:
    return round(time.perf_counter() - start, 3)
