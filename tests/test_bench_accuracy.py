"""Accuracy of any Runner, and agreement with reference logits, on known inputs."""

from __future__ import annotations

import numpy as np
import pytest

from se_deploy.backends import Runner, RunnerOptions, TensorSpec
from se_deploy.bench.score import collect_logits, compare_logits, evaluate_runner
from se_deploy.core.errors import SeDeployError


class TableRunner(Runner):
    """Returns preset logits row by row (images carry their row index), in float16 inputs to
    check the harness casts images to the runner's input dtype."""

    name = "table"

    def __init__(self, logits: np.ndarray) -> None:
        super().__init__()
        self.table = logits

    def load_impl(self, artifact, options):
        return (
            (TensorSpec("x", (None, 1), np.dtype(np.float16)),),
            (TensorSpec("y", (None, self.table.shape[1]), np.dtype(np.float32)),),
        )

    def infer_impl(self, feed):
        return {"y": self.table[feed["x"][:, 0].astype(int)]}

    def close_impl(self) -> None:
        pass


LOGITS = np.array(
    [[9, 1, 0, 0, 0, 0], [0, 9, 8, 0, 0, 0], [5, 0, 9, 0, 0, 0], [0, 0, 0, 1, 2, 3]],
    dtype=np.float32,
)
LABELS = np.array([0, 2, 0, 5])  # top-1 right for rows 0 and 3; top-5 right for every row


def batches(size: int):
    index = np.arange(len(LABELS), dtype=np.float32)[:, None]
    for start in range(0, len(LABELS), size):
        yield index[start : start + size], LABELS[start : start + size]


def test_top1_top5_over_batches() -> None:
    with TableRunner(LOGITS).load(None, RunnerOptions()) as runner:
        result = evaluate_runner(runner, batches(3))
    assert (result.top1, result.top5, result.count) == (0.5, 1.0, 4)
    assert result.agreement is None and result.to_dict()["top1_agreement"] is None


def test_agreement_with_reference_logits() -> None:
    reference = LOGITS.copy()
    reference[1, 2] = 10.0  # row 1's top-1 flips from class 1 to class 2
    reference[3, 5] = 3.5
    with TableRunner(LOGITS).load(None, RunnerOptions()) as runner:
        result = evaluate_runner(runner, batches(2), reference, "torch fp32")
    assert result.agreement.top1_agreement == 0.75
    assert result.agreement.max_abs_diff == pytest.approx(2.0)
    assert result.to_dict()["reference"] == "torch fp32"


def test_compare_logits_refuses_mismatched_shapes() -> None:
    with pytest.raises(SeDeployError, match="differ in shape"):
        compare_logits(LOGITS, LOGITS[:3])
    assert compare_logits(LOGITS, LOGITS).top1_agreement == 1.0


def test_collect_logits_keeps_order_and_refuses_empty_sets() -> None:
    with TableRunner(LOGITS).load(None, RunnerOptions()) as runner:
        logits, labels = collect_logits(runner, batches(1))
        np.testing.assert_array_equal(logits, LOGITS)
        np.testing.assert_array_equal(labels, LABELS)
        with pytest.raises(SeDeployError, match="no batches"):
            collect_logits(runner, iter([]))
