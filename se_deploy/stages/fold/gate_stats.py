"""Per-block, per-channel statistics of SE gate values over calibration images.

The gates are read from the real ONNX graph: every block's gate output (N, C, 1, 1) is exposed as
an extra graph output and ONNX Runtime runs the model over the images once. A gate whose values
hardly move across inputs is a constant in disguise and can be folded (see `rewrite`).

Besides the plain mean, each channel gets the constant that best replaces its gate in the least
squares sense: s = argmin E[(x*g - x*s)^2] = E[x^2 g] / E[x^2], the gate averaged with each
image's channel energy (mean of x^2 over the map) as weight. It lies within the gate's range,
and it favours the images where the channel is strong, which the next layer feels most.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper

from se_deploy.backends.ort import open_session
from se_deploy.core.errors import SeDeployError
from se_deploy.core.onnx.graph import NameAllocator, clone
from se_deploy.core.onnx.se_pattern import SEBlock

_DIGITS = 6


@dataclass(frozen=True)
class GateStats:
    """One block's gate over `count` images: per-channel mean, std (ddof=0), min and max, and the
    energy moments E[e], E[e g], E[e g^2] (e: the channel's mean of x^2 in an image)."""

    block: str
    gate: str
    count: int
    mean: np.ndarray
    std: np.ndarray
    min: np.ndarray
    max: np.ndarray
    energy: np.ndarray
    energy_gate: np.ndarray
    energy_gate_sq: np.ndarray

    @property
    def lsq(self) -> np.ndarray:
        """Least-squares constant E[e g] / E[e], within the observed range; the mean for a
        channel that is always 0 (any constant is exact there)."""
        live = self.energy > 0
        ratio = np.where(live, self.energy_gate / np.where(live, self.energy, 1.0), self.mean)
        return np.clip(ratio, self.min, self.max)

    def constant(self, value: str) -> np.ndarray:
        """The per-channel constant for a GateValue ('mean' or 'lsq')."""
        return self.lsq if value == "lsq" else self.mean

    def output_error(self, value: str) -> float:
        """Relative L2 change of the block output when the gate becomes `constant(value)`:
        sqrt(sum_c E[x^2 (g - s)^2] / sum_c E[x^2 g^2]); 0 means folding is exact."""
        s = self.constant(value)
        residual = self.energy_gate_sq - 2 * s * self.energy_gate + s**2 * self.energy
        total = float(self.energy_gate_sq.sum())
        return float(np.sqrt(max(float(residual.sum()), 0.0) / total)) if total > 0 else 0.0

    @property
    def spread(self) -> float:
        """How much the gate moves with the input: the per-channel std averaged over channels.
        0 means the gate is a constant and folding it is exact."""
        return float(self.std.mean())

    def summary(self) -> dict[str, Any]:
        return {
            "block": self.block,
            "gate": self.gate,
            "images": self.count,
            "channels": int(self.mean.size),
            "spread": round(self.spread, _DIGITS),
            "mean": round(float(self.mean.mean()), _DIGITS),
            "max_std": round(float(self.std.max()), _DIGITS),
            "min": round(float(self.min.min()), _DIGITS),
            "max": round(float(self.max.max()), _DIGITS),
            "output_error_mean": round(self.output_error("mean"), _DIGITS),
            "output_error_lsq": round(self.output_error("lsq"), _DIGITS),
        }

    def to_dict(self) -> dict[str, Any]:
        per_channel = {
            key: np.round(getattr(self, key), _DIGITS).tolist()
            for key in ("mean", "std", "min", "max", "lsq")
        }
        return {**self.summary(), "per_channel": per_channel}


class _Accumulator:
    """Running per-channel sums in float64, so thousands of images lose no precision."""

    def __init__(self, channels: int) -> None:
        self.count = 0
        self.low = np.full(channels, np.inf)
        self.high = np.full(channels, -np.inf)
        # sums of g, g^2, e, e*g, e*g^2 per channel
        self.sums = np.zeros((5, channels))

    def add(self, gates: np.ndarray, energy: np.ndarray) -> None:
        g = gates.reshape(len(gates), -1).astype(np.float64)
        e = energy.reshape(len(energy), -1).astype(np.float64)
        self.count += len(g)
        self.sums += np.stack([g, g**2, e, e * g, e * g**2]).sum(axis=1)
        self.low = np.minimum(self.low, g.min(axis=0))
        self.high = np.maximum(self.high, g.max(axis=0))

    def result(self, block: SEBlock) -> GateStats:
        mean, squares, energy, energy_gate, energy_gate_sq = self.sums / self.count
        std = np.sqrt(np.maximum(squares - mean**2, 0.0))
        return GateStats(
            block.name,
            str(block.gate),
            self.count,
            mean,
            std,
            self.low,
            self.high,
            energy,
            energy_gate,
            energy_gate_sq,
        )


def with_gate_outputs(
    model: onnx.ModelProto, blocks: Sequence[SEBlock]
) -> tuple[onnx.ModelProto, list[str]]:
    """A copy whose graph also outputs, per block, the gate tensor and the channel energy of the
    block input (GlobalAveragePool(x * x)), after the original outputs; and those names."""
    exposed = clone(model)
    names = NameAllocator(exposed.graph)
    added = []
    for block in blocks:
        squared, energy = names(f"{block.input}_squared"), names(f"{block.input}_energy")
        exposed.graph.node.extend(
            [
                helper.make_node("Mul", [block.input, block.input], [squared], name=squared),
                helper.make_node("GlobalAveragePool", [squared], [energy], name=energy),
            ]
        )
        for name in (block.scale, energy):
            exposed.graph.output.append(
                helper.make_tensor_value_info(name, TensorProto.FLOAT, None)
            )
            added.append(name)
    return exposed, added


def collect_gate_stats(
    model: onnx.ModelProto, blocks: Sequence[SEBlock], batches: Iterable[np.ndarray]
) -> list[GateStats]:
    """Gate statistics of `blocks` over every image in `batches` (NCHW, the model's input)."""
    if not blocks:
        raise SeDeployError("the model has no SE blocks, so there are no gates to measure")
    exposed, names = with_gate_outputs(model, blocks)
    session = open_session(exposed.SerializeToString())
    input_name = session.get_inputs()[0].name
    sums = [_Accumulator(block.channels) for block in blocks]
    for batch in batches:
        outputs = session.run(names, {input_name: batch})
        for index, accumulator in enumerate(sums):
            accumulator.add(outputs[2 * index], outputs[2 * index + 1])
    if sums[0].count == 0:
        raise SeDeployError(
            "no calibration images reached the gate statistics; pass a larger --calib-size"
        )
    return [accumulator.result(block) for accumulator, block in zip(sums, blocks, strict=True)]
