"""Per-block, per-channel statistics of SE gate values over calibration images.

The gates are read from the real ONNX graph: every block's gate output (N, C, 1, 1) is exposed as
an extra graph output and ONNX Runtime runs the model over the images once. A gate whose values
hardly move across inputs is a constant in disguise and can be folded (see `rewrite`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper

from se_deploy.errors import SeDeployError
from se_deploy.export.graph import clone
from se_deploy.export.se_pattern import SEBlock

_DIGITS = 6


@dataclass(frozen=True)
class GateStats:
    """One block's gate over `count` images: per-channel mean, std (ddof=0), min and max."""

    block: str
    gate: str
    count: int
    mean: np.ndarray
    std: np.ndarray
    min: np.ndarray
    max: np.ndarray

    @property
    def spread(self) -> float:
        """How much the gate moves with the input: the per-channel std averaged over channels.
        0 means the gate is a constant and folding it is exact."""
        return float(self.std.mean())

    def summary(self) -> dict[str, Any]:
        return {"block": self.block, "gate": self.gate, "images": self.count,
                "channels": int(self.mean.size), "spread": round(self.spread, _DIGITS),
                "mean": round(float(self.mean.mean()), _DIGITS),
                "max_std": round(float(self.std.max()), _DIGITS),
                "min": round(float(self.min.min()), _DIGITS),
                "max": round(float(self.max.max()), _DIGITS)}  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        per_channel = {key: np.round(getattr(self, key), _DIGITS).tolist()
                       for key in ("mean", "std", "min", "max")}  # fmt: skip
        return {**self.summary(), "per_channel": per_channel}


class _Accumulator:
    """Running per-channel sums in float64, so thousands of images lose no precision."""

    def __init__(self, channels: int) -> None:
        self.count = 0
        self.total = np.zeros(channels)
        self.squares = np.zeros(channels)
        self.low = np.full(channels, np.inf)
        self.high = np.full(channels, -np.inf)

    def add(self, gates: np.ndarray) -> None:
        values = gates.reshape(len(gates), -1).astype(np.float64)
        self.count += len(values)
        self.total += values.sum(axis=0)
        self.squares += (values**2).sum(axis=0)
        self.low = np.minimum(self.low, values.min(axis=0))
        self.high = np.maximum(self.high, values.max(axis=0))

    def result(self, block: SEBlock) -> GateStats:
        mean = self.total / self.count
        variance = np.maximum(self.squares / self.count - mean**2, 0.0)
        return GateStats(block.name, str(block.gate), self.count, mean, np.sqrt(variance),
                         self.low, self.high)  # fmt: skip


def with_gate_outputs(model: onnx.ModelProto, blocks: Sequence[SEBlock]) -> onnx.ModelProto:
    """A copy whose graph also outputs every block's gate tensor, after the original outputs."""
    exposed = clone(model)
    present = {value.name for value in exposed.graph.output}
    for block in blocks:
        if block.scale not in present:
            exposed.graph.output.append(
                helper.make_tensor_value_info(block.scale, TensorProto.FLOAT, None)
            )
    return exposed


def collect_gate_stats(
    model: onnx.ModelProto, blocks: Sequence[SEBlock], batches: Iterable[np.ndarray]
) -> list[GateStats]:
    """Gate statistics of `blocks` over every image in `batches` (NCHW, the model's input)."""
    if not blocks:
        raise SeDeployError("the model has no SE blocks, so there are no gates to measure")
    exposed = with_gate_outputs(model, blocks)
    session = ort.InferenceSession(exposed.SerializeToString(), providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name
    names = [block.scale for block in blocks]
    sums = [_Accumulator(block.channels) for block in blocks]
    for batch in batches:
        for accumulator, gates in zip(sums, session.run(names, {input_name: batch}), strict=True):
            accumulator.add(gates)
    if sums[0].count == 0:
        raise SeDeployError("no calibration images reached the gate statistics; pass a larger "
                            "--calib-size")  # fmt: skip
    return [accumulator.result(block) for accumulator, block in zip(sums, blocks, strict=True)]
