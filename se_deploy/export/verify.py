"""ONNX Runtime vs PyTorch parity on the same inputs: the check that makes an export trustworthy.

Figures per input source: max abs diff, max rel diff (max abs diff over the largest reference
magnitude, which stays finite where logits cross zero), the lowest per-sample cosine similarity
and the top-1 agreement. Quantization reuses `compare_outputs` with its own `Tolerance`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import onnxruntime as ort
import torch
from torch import nn

from se_deploy.errors import VerificationError


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


@dataclass(frozen=True)
class Parity:
    source: str
    samples: int
    max_abs_diff: float
    judged_abs_diff: float  # the per-sample worst abs diff at the tolerance's quantile
    max_rel_diff: float
    min_cosine: float
    top1_agreement: float
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
    """Figures for (samples, classes) `candidate` against `reference`, judged by `tolerance`."""
    reference = reference.astype(np.float64).reshape(len(reference), -1)
    candidate = candidate.astype(np.float64).reshape(len(candidate), -1)
    per_sample = np.max(np.abs(candidate - reference), axis=1)
    max_abs = float(per_sample.max())
    judged = float(np.quantile(per_sample, tolerance.abs_quantile))
    peak = float(np.max(np.abs(reference)))
    max_rel = max_abs / peak if peak else (0.0 if max_abs == 0 else math.inf)
    output_range = float(reference.max() - reference.min())
    abs_limit = tolerance.max_abs * max(1.0, output_range)
    cosine = float(np.min(_cosines(reference, candidate)))
    top1 = float(np.mean(reference.argmax(1) == candidate.argmax(1)))
    failures = []
    if not judged <= abs_limit:
        where = "" if tolerance.abs_quantile == 1.0 else f" (at the {tolerance.abs_quantile:g} " \
            "quantile of samples)"
        failures.append(f"max abs diff{where} {judged:.3g} > {abs_limit:.3g}")
    if not cosine >= tolerance.min_cosine:
        failures.append(f"min cosine {cosine:.6f} < {tolerance.min_cosine}")
    if not top1 >= tolerance.min_top1_agreement:
        failures.append(f"top-1 agreement {top1:.4f} < {tolerance.min_top1_agreement}")
    return Parity(source, len(reference), max_abs, judged, max_rel, cosine, top1, output_range,
                  abs_limit, tuple(failures))  # fmt: skip


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


def random_batches(
    plan: Sequence[int], chw: tuple[int, int, int], seed: int
) -> list[np.ndarray]:
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


def torch_outputs(model: nn.Module, batches: Sequence[np.ndarray], chunk: int = 32) -> np.ndarray:
    """Reference outputs, computed `chunk` samples per forward whatever the export's batch
    (eval mode makes samples independent; one batched forward is several times faster)."""
    images = torch.from_numpy(np.concatenate(batches))
    with torch.inference_mode():
        return torch.cat([model(part) for part in images.split(chunk)]).numpy()


def onnx_session(model_bytes: bytes) -> ort.InferenceSession:
    """ONNX Runtime's CPU provider with its default (full) graph optimizations, as deployed."""
    return ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])


def onnx_outputs(session: ort.InferenceSession, batches: Sequence[np.ndarray]) -> np.ndarray:
    input_name = session.get_inputs()[0].name
    return np.concatenate([session.run(None, {input_name: batch})[0] for batch in batches])


def verify_against_torch(
    model_bytes: bytes,
    model: nn.Module,
    inputs: dict[str, list[np.ndarray]],
    tolerance: Tolerance = FP32,
) -> list[Parity]:
    """Parity of the ONNX model with `model` for each named list of input batches."""
    session = onnx_session(model_bytes)
    return [
        compare_outputs(torch_outputs(model, batches), onnx_outputs(session, batches),
                        source, tolerance)
        for source, batches in inputs.items()
    ]  # fmt: skip


def require_parity(results: Sequence[Parity], what: str) -> None:
    """Raise with every figure that missed its limit."""
    failed = [f"{r.source} inputs ({r.samples}): " + ", ".join(r.failures)
              for r in results if not r.passed]  # fmt: skip
    if failed:
        raise VerificationError(
            f"{what}: ONNX Runtime disagrees with PyTorch: {'; '.join(failed)}. The ONNX file was "
            "not written; this is an exporter or graph-pass defect, please report it with the "
            "model name and options"
        )
