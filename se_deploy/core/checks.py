"""Checks every stage shares: tolerances, output parity, and the accuracy metrics.

Parity figures per input source: max abs diff, max rel diff (max abs diff over the largest
reference magnitude, which stays finite where logits cross zero), the lowest per-sample cosine
similarity and, for (samples, classes) outputs only, the top-1 agreement. Outputs are compared
with their full shapes: a candidate of another shape fails before any figure is computed (a
rewrite that changes an output's rank must not hide behind a reshape). Export judges ONNX
against PyTorch with `FP32`; quantize and compile judge against the float model with
`TOLERANCES`. Top-k metrics and logit agreement serve eval, bench and fold alike.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from se_deploy.core.artifact import Precision
from se_deploy.core.errors import SeDeployError, VerificationError


@dataclass(frozen=True)
class Tolerance:
    """Pass limits. The abs limit is `max_abs * max(1, output range)`: logits spanning 20 units
    get 20x the room of unit-range ones, while tiny outputs are held to `max_abs` itself. It
    judges the `abs_quantile` quantile of the samples' worst logit differences (1.0: the worst
    sample), so a lossy precision may have a rare outlier image without failing the check."""

    max_abs: float = 1e-4
    min_cosine: float = 0.9999
    min_top1_agreement: float = 1.0
    abs_quantile: float = 1.0

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


FP32 = Tolerance()
# Guards against a broken conversion (wrong calibration data, a kernel bug), not accuracy
# claims: `se-deploy eval` measures accuracy. The abs limit scales with the logit range; for
# INT8 it judges the 99th percentile sample: a broken conversion moves most images, while one
# outlier in hundreds is what 8-bit activations do (the zoo's se_shufflenet: one image of 512 at
# 0.26 x range, the 99th percentile at 0.06).
TOLERANCES = {
    Precision.FP16: Tolerance(max_abs=1e-2, min_cosine=0.999, min_top1_agreement=0.98),
    Precision.INT8: Tolerance(
        max_abs=0.25, min_cosine=0.95, min_top1_agreement=0.90, abs_quantile=0.99
    ),
}


@dataclass(frozen=True)
class Parity:
    source: str
    samples: int
    max_abs_diff: float
    judged_abs_diff: float  # the per-sample worst abs diff at the tolerance's quantile
    max_rel_diff: float
    min_cosine: float
    top1_agreement: float | None  # None: not a (samples, classes) output (maps, sequences)
    output_range: float
    abs_limit: float
    failures: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "failures": list(self.failures), "passed": self.passed}


def compare_outputs(
    reference: np.ndarray, candidate: np.ndarray, source: str, tolerance: Tolerance = FP32
) -> Parity:
    """Figures for `candidate` against `reference` (same shape, samples first), judged by
    `tolerance`; top-1 agreement only where the output is (samples, classes)."""
    if reference.shape != candidate.shape:
        shapes = f"output shape {list(candidate.shape)} != reference {list(reference.shape)}"
        nan = math.nan
        return Parity(source, len(reference), nan, nan, nan, nan, None, nan, nan, (shapes,))
    classifier = reference.ndim == 2
    reference = reference.astype(np.float64).reshape(len(reference), -1)
    candidate = candidate.astype(np.float64).reshape(len(candidate), -1)
    per_sample = np.max(np.abs(candidate - reference), axis=1)
    max_abs = float(per_sample.max())
    judged = float(np.quantile(per_sample, tolerance.abs_quantile))
    peak = float(np.max(np.abs(reference)))
    max_rel = max_abs / peak if peak else (0.0 if max_abs == 0 else math.inf)
    output_range = float(reference.max() - reference.min())
    abs_limit = tolerance.max_abs * max(1.0, output_range)
    cosine = _min_cosine(reference, candidate, abs_limit)
    top1 = float(np.mean(reference.argmax(1) == candidate.argmax(1))) if classifier else None
    failures = []
    if not judged <= abs_limit:
        where = (
            ""
            if tolerance.abs_quantile == 1.0
            else f" (at the {tolerance.abs_quantile:g} quantile of samples)"
        )
        failures.append(f"max abs diff{where} {judged:.3g} > {abs_limit:.3g}")
    if not cosine >= tolerance.min_cosine:
        failures.append(f"min cosine {cosine:.6f} < {tolerance.min_cosine}")
    if top1 is not None and not top1 >= tolerance.min_top1_agreement:
        failures.append(f"top-1 agreement {top1:.4f} < {tolerance.min_top1_agreement}")
    return Parity(
        source,
        len(reference),
        max_abs,
        judged,
        max_rel,
        cosine,
        top1,
        output_range,
        abs_limit,
        tuple(failures),
    )


def _min_cosine(reference: np.ndarray, candidate: np.ndarray, abs_limit: float) -> float:
    """The lowest per-sample cosine over samples whose reference RMS exceeds the abs limit.
    Cosine is scale-free: on a sample that sits below the abs limit everywhere (a detector's
    probability map on random input, near 1e-8) it measures float32 rounding, not the model,
    and the abs check already covers it."""
    rms = np.sqrt(np.mean(reference**2, axis=1))
    judged = rms > abs_limit
    if not judged.any():
        return 1.0
    return float(np.min(_cosines(reference[judged], candidate[judged])))


def _cosines(reference: np.ndarray, candidate: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(reference, axis=1) * np.linalg.norm(candidate, axis=1)
    dots = np.sum(reference * candidate, axis=1)
    both_zero = (norms == 0) & np.all(reference == candidate, axis=1)
    return np.where(both_zero, 1.0, dots / np.where(norms == 0, 1.0, norms))


def batch_plan(samples: int, batch: int | None) -> list[int]:
    """Batch sizes covering `samples`: whole batches of a static `batch`; for a dynamic batch
    (None) one of 1 and one of the rest, so two different sizes are exercised."""
    if batch is None:
        return [1, samples - 1] if samples > 1 else [1]
    return [batch] * math.ceil(samples / batch)


def random_batches(plan: Sequence[int], chw: tuple[int, int, int], seed: int) -> list[np.ndarray]:
    """Standard-normal inputs (the scale of normalized images), reproducible from `seed`."""
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((size, *chw), dtype=np.float32) for size in plan]


def split_batches(images: np.ndarray, plan: Sequence[int]) -> list[np.ndarray]:
    """Cut `images` along `plan`, dropping batches the images cannot fill."""
    batches, start = [], 0
    for size in plan:
        if start + size > len(images):
            break
        batches.append(images[start : start + size])
        start += size
    return batches


def require_parity(results: Sequence[Parity], what: str, reference: str = "PyTorch") -> None:
    """Raise with every figure that missed its limit."""
    failed = [
        f"{r.source} inputs ({r.samples}): " + ", ".join(r.failures)
        for r in results
        if not r.passed
    ]
    if failed:
        raise VerificationError(
            f"{what}: ONNX Runtime disagrees with {reference}: {'; '.join(failed)}. The ONNX "
            "file was not written; this is an exporter or graph-pass defect, please report it "
            "with the model name and options"
        )


def format_agreement(value: float | None, digits: int = 3) -> str:
    """A top-1 agreement for summaries; 'n/a' for outputs that are not (samples, classes)."""
    return "n/a" if value is None else f"{value:.{digits}f}"


@dataclass(frozen=True)
class Accuracy:
    top1: float
    top5: float
    count: int

    def to_dict(self) -> dict[str, float | int]:
        return {"top1": self.top1, "top5": self.top5, "count": self.count}


def topk_correct(logits: np.ndarray, labels: np.ndarray, k: int) -> int:
    """How many rows have their label among the k largest logits (k capped at the class count)."""
    k = min(k, logits.shape[1])
    top = np.argpartition(-logits, k - 1, axis=1)[:, :k]
    return int((top == labels[:, None]).any(axis=1).sum())


class AccuracyMeter:
    """Accumulates top-1/top-5 over batches of logits."""

    def __init__(self) -> None:
        self.top1 = self.top5 = self.count = 0

    def update(self, logits: np.ndarray, labels: np.ndarray) -> None:
        if logits.ndim != 2 or len(logits) != len(labels):
            raise SeDeployError(
                f"the model's first output has shape {tuple(logits.shape)} for "
                f"{len(labels)} images; top-1/top-5 score classifiers with (N, classes) logits"
            )
        self.top1 += topk_correct(logits, labels, 1)
        self.top5 += topk_correct(logits, labels, 5)
        self.count += len(labels)

    def result(self) -> Accuracy:
        count = max(self.count, 1)
        return Accuracy(self.top1 / count, self.top5 / count, self.count)


@dataclass(frozen=True)
class Agreement:
    top1_agreement: float  # share of images whose top-1 class equals the reference's
    max_abs_diff: float  # largest |logit - reference logit| over all images and classes

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def compare_logits(logits: np.ndarray, reference: np.ndarray) -> Agreement:
    """Agreement of two (N, classes) logit arrays for the same N images."""
    if logits.shape != reference.shape:
        raise SeDeployError(
            f"logits {logits.shape} and reference {reference.shape} differ in "
            "shape; run both over the same batches"
        )
    if logits.size == 0:
        raise SeDeployError("no logits to compare: the eval set is empty")
    logits, reference = logits.astype(np.float64), reference.astype(np.float64)
    same = logits.argmax(axis=1) == reference.argmax(axis=1)
    return Agreement(float(same.mean()), float(np.abs(logits - reference).max()))


def run_padded(runner, images: np.ndarray, static_batch: int | None) -> np.ndarray:
    """Logits of `images` in the runner's input dtype; a short last batch is zero-padded to an
    artifact's static batch and the padding's logits dropped."""
    count = len(images)
    if static_batch and count < static_batch:
        padding = np.zeros((static_batch - count, *images.shape[1:]), images.dtype)
        images = np.concatenate([images, padding])
    logits = runner.run(images.astype(runner.inputs[0].dtype, copy=False))
    return logits[:count].astype(np.float32)
