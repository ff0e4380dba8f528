"""Accuracy of any Runner on an eval set, and its agreement with a reference's logits.

Top-1/top-5 come from the same scorer `se-deploy eval` uses. Agreement compares, image by image,
the runner's logits with a reference run over the same batches in the same order (PyTorch FP32
for trained models): the share of equal top-1 classes and the largest absolute logit difference.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from se_deploy.backends.base import Runner
from se_deploy.data import Batch
from se_deploy.errors import SeDeployError
from se_deploy.evaluate import AccuracyMeter


@dataclass(frozen=True)
class Agreement:
    top1_agreement: float  # share of images whose top-1 class equals the reference's
    max_abs_diff: float  # largest |logit - reference logit| over all images and classes

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class AccuracyResult:
    top1: float
    top5: float
    count: int
    agreement: Agreement | None = None
    reference: str | None = None

    def to_dict(self) -> dict[str, Any]:
        agreement = self.agreement.to_dict() if self.agreement else {}
        return {"top1": self.top1, "top5": self.top5, "count": self.count,
                "top1_agreement": agreement.get("top1_agreement"),
                "max_abs_diff": agreement.get("max_abs_diff"),
                "reference": self.reference}  # fmt: skip


def compare_logits(logits: np.ndarray, reference: np.ndarray) -> Agreement:
    """Agreement of two (N, classes) logit arrays for the same N images."""
    if logits.shape != reference.shape:
        raise SeDeployError(f"logits {logits.shape} and reference {reference.shape} differ in "
                            "shape; run both over the same batches")  # fmt: skip
    if logits.size == 0:
        raise SeDeployError("no logits to compare: the eval set is empty")
    logits, reference = logits.astype(np.float64), reference.astype(np.float64)
    same = logits.argmax(axis=1) == reference.argmax(axis=1)
    return Agreement(float(same.mean()), float(np.abs(logits - reference).max()))


def collect_logits(runner: Runner, batches: Iterable[Batch]) -> tuple[np.ndarray, np.ndarray]:
    """All logits and labels of `batches`, in order; images are cast to the runner's input dtype
    (an FP16-input artifact takes the same normalized images)."""
    dtype = runner.inputs[0].dtype
    logits, labels = [], []
    for images, batch_labels in batches:
        logits.append(runner.run(images.astype(dtype, copy=False)).astype(np.float32))
        labels.append(batch_labels)
    if not logits:
        raise SeDeployError("the eval set yielded no batches")
    return np.concatenate(logits), np.concatenate(labels)


def evaluate_runner(
    runner: Runner,
    batches: Iterable[Batch],
    reference: np.ndarray | None = None,
    reference_name: str | None = None,
) -> AccuracyResult:
    """Top-1/top-5 of `runner` on `batches`; with `reference` logits (same batches, same order)
    also the agreement with them."""
    logits, labels = collect_logits(runner, batches)
    meter = AccuracyMeter()
    meter.update(logits, labels)
    accuracy = meter.result()
    agreement = compare_logits(logits, reference) if reference is not None else None
    return AccuracyResult(accuracy.top1, accuracy.top5, accuracy.count, agreement,
                          reference_name if reference is not None else None)  # fmt: skip
