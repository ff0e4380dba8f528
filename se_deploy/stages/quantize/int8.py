"""INT8 with onnxruntime.quantization: `quant_pre_process`, then `quantize_static` in QDQ format.

Pre-processing (shape inference and ORT's graph optimization) is never skipped: measured on
this project, an INT8 SE-MobileNet quantized without it ran 2.3x slower than its INT8 baseline.
The SE finder runs on the pre-processed graph, whose node names are the ones
`nodes_to_exclude` must use.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import onnx
from onnx import version_converter
from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process

from se_deploy.core.errors import SeDeployError, VerificationError
from se_deploy.core.onnx.graph import model_opset
from se_deploy.core.onnx.qdq import absorb_clamps, strip_qdq
from se_deploy.core.onnx.se_gate import collapse_se_gates
from se_deploy.core.onnx.se_pattern import SEBlock, find_se_blocks
from se_deploy.data.calibration import BatchReader
from se_deploy.stages.quantize.config import CalibMethod, QuantConfig, QuantScheme, SePrecision
from se_deploy.stages.quantize.se_exclusion import (
    quantized_se_tensors,
    se_node_names,
    unshare_initializers,
)

_METHODS = {
    CalibMethod.MINMAX: CalibrationMethod.MinMax,
    CalibMethod.ENTROPY: CalibrationMethod.Entropy,
    CalibMethod.PERCENTILE: CalibrationMethod.Percentile,
}
INT8_MIN_OPSET = 13  # per-channel DequantizeLinear (its axis attribute) enters at 13
_TYPES = {
    QuantScheme.S8S8: (QuantType.QInt8, QuantType.QInt8),
    QuantScheme.U8S8: (QuantType.QUInt8, QuantType.QInt8),
    QuantScheme.U8U8: (QuantType.QUInt8, QuantType.QUInt8),
}


@dataclass(frozen=True)
class Int8Result:
    model: onnx.ModelProto
    se_blocks: list[SEBlock]  # found in the pre-processed float graph
    excluded_nodes: list[str]  # kept float via nodes_to_exclude
    found_in_artifact: int  # SE blocks the finder sees in the INT8 graph read as float
    calibration_images: int
    clamps_absorbed: int  # Relu/Clip nodes folded into the next QuantizeLinear (qdq)
    se_gates_collapsed: int  # Resize-expanded SE gates put back in broadcast form first
    seconds: dict[str, float]

    def se_record(self, config: QuantConfig) -> dict[str, Any]:
        """What the manifest says about SE: blocks, their precision, and the nodes kept float."""
        return {
            "found": len(self.se_blocks),
            "found_in_artifact": self.found_in_artifact,
            "how_found": "SE finder on the INT8 graph read as float (strip_qdq)",
            "precision": str(config.se_precision),
            "excluded_nodes": self.excluded_nodes,
            "blocks": [block.to_dict() for block in self.se_blocks],
        }


def quantize_int8(
    source: Path, config: QuantConfig, reader: BatchReader, workdir: Path
) -> Int8Result:
    """Quantize the float ONNX file `source`; intermediate files go to `workdir`."""
    seconds: dict[str, float] = {}
    start = time.perf_counter()
    original, float_path, collapsed = _broadcast_gates(source, workdir)
    prepared = workdir / "preprocessed.onnx"
    quant_pre_process(str(float_path), str(prepared))
    seconds["quant_pre_process"] = _since(start)
    model = onnx.load(str(prepared))
    blocks = _require_same_se(original, model)
    keep_float = config.se_precision is SePrecision.FLOAT
    if keep_float and not blocks:
        raise SeDeployError(
            f"--se-precision float keeps SE blocks in float, but '{source}' has "
            "none (a non-SE baseline?); drop the option"
        )
    excluded = se_node_names(blocks) if keep_float else []
    if excluded:
        onnx.save(unshare_initializers(model, excluded), str(prepared))
    start = time.perf_counter()
    quantized = workdir / "quantized.onnx"
    activation_type, weight_type = _TYPES[config.int8_scheme]
    with _quiet_quantizer():
        quantize_static(
            str(prepared),
            str(quantized),
            reader,
            quant_format=QuantFormat.QDQ,
            per_channel=config.per_channel,
            reduce_range=config.weight_reduce_range,
            activation_type=activation_type,
            weight_type=weight_type,
            nodes_to_exclude=excluded,
            calibrate_method=_METHODS[config.calib_method],
            extra_options=_extra_options(config),
        )
    seconds["quantize_static"] = _since(start)
    # SE path kept float: its input must stay a float tensor, not a clamped Quantize output.
    absorb_type = None if keep_float else activation_type
    model, absorbed = _absorb_clamps(onnx.load(str(quantized)), absorb_type, blocks)
    found = _require_se_kept(model, blocks, excluded)
    return Int8Result(model, blocks, excluded, found, reader.images, absorbed, collapsed, seconds)


def _broadcast_gates(source: Path, workdir: Path) -> tuple[onnx.ModelProto, Path, int]:
    """The source with Resize-expanded SE gates (`export --se-gate resize`, an FP32 layout form)
    back in broadcast form and at opset >= 13 (per-channel DequantizeLinear needs its `axis`),
    the file holding it (written to `workdir` only when that changed anything) and how many
    gates changed."""
    loaded = onnx.load(str(source))
    upgraded = at_least_opset(loaded, INT8_MIN_OPSET, source)
    model, collapsed = collapse_se_gates(upgraded)
    if not collapsed and upgraded is loaded:
        return model, source, 0
    path = workdir / "broadcast_gates.onnx"
    onnx.save(model, str(path))
    return model, path, collapsed


def at_least_opset(model: onnx.ModelProto, opset: int, source: Path) -> onnx.ModelProto:
    """`model` itself when its opset is >= `opset`, else a copy upgraded by onnx's version
    converter; a model the converter cannot take is a one-line error."""
    current = model_opset(model)
    if current >= opset:
        return model
    try:
        return version_converter.convert_version(model, opset)
    except Exception as exc:  # the converter raises RuntimeError/ValueError per adapter
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise SeDeployError(
            f"'{source}' is at opset {current}; INT8 needs >= {opset} and onnx's version "
            f"converter cannot upgrade it ({first}); re-export it with --opset {opset}"
        ) from None


def _absorb_clamps(
    model: onnx.ModelProto, activation_type: QuantType | None, blocks: list[SEBlock]
) -> tuple[onnx.ModelProto, int]:
    """`qdq.absorb_clamps` with uint8 activations only, the SE blocks' own nodes kept.

    Measured with benchmarks/se_cost.py (ORT 1.32 CPU, 1 thread, SE/base latency, u8s8):
    se_mobilenet at 224 1.62-1.65x -> 1.33x, se_mobilenet_v2 (ReLU6 Clips) 1.70x -> 1.44x, the
    zoo pair at 28x28 1.83x -> 1.67x (folded: 1.08x -> 1.04x), top-1 unchanged. With int8
    activations ORT then ran 13 convs in float (2.2x -> 4.0x), so s8s8 graphs are left as the
    quantizer wrote them.
    """
    if activation_type is not QuantType.QUInt8:
        return model, 0
    return absorb_clamps(model, keep=set(se_node_names(blocks)))


def _extra_options(config: QuantConfig) -> dict[str, Any]:
    """ORT's string keys for typed QuantConfig fields, built in this one place.

    Removable activations (the Relu after a Conv) are kept as nodes: ORT fuses them away when
    it loads the model, and the graph keeps the SE block's shape, so the SE finder still sees
    it. Measured here (tiny SE-MobileNet, ORT 1.32 CPU, 1 thread, batch 8): 5.2 ms against
    6.8 ms when the quantizer drops them, as ORT then fuses every Conv into QLinearConv and
    needs fewer NCHWc reorders.
    """
    options: dict[str, Any] = {"QDQKeepRemovableActivations": True}
    if config.calib_method is CalibMethod.PERCENTILE:
        options["CalibPercentile"] = config.percentile_value
    return options


def _require_same_se(original: onnx.ModelProto, prepared: onnx.ModelProto) -> list[SEBlock]:
    """The SE blocks of the pre-processed graph; pre-processing must not have broken any."""
    before, after = find_se_blocks(original), find_se_blocks(prepared)
    if len(after) != len(before):
        raise VerificationError(
            f"quant_pre_process changed the SE blocks the SE finder sees from "
            f"{len(before)} to {len(after)}; SE-aware quantization cannot "
            "name their nodes. Please report it with the model"
        )
    return after


def _require_se_kept(model: onnx.ModelProto, blocks: list[SEBlock], excluded: list[str]) -> int:
    """Every SE block is still an SE block in the INT8 graph and excluded ones stay float;
    returns how many blocks the finder sees there."""
    found = len(find_se_blocks(strip_qdq(model)))
    if found != len(blocks):
        raise VerificationError(
            f"the INT8 graph has {found} SE blocks where its float source "
            f"had {len(blocks)}; the artifact was not written"
        )
    kept = [block for block in blocks if set(excluded).issuperset(block.nodes)]
    problems = quantized_se_tensors(model, kept)
    if problems:
        raise VerificationError(
            f"SE nodes asked to stay float were quantized: {problems[0]} "
            f"(+{len(problems) - 1} more); the artifact was not written"
        )
    return found


def _since(start: float) -> float:
    return round(time.perf_counter() - start, 3)


@contextlib.contextmanager
def _quiet_quantizer() -> Iterator[None]:
    """Keep the quantizer's root-logger INFO/WARNING chatter to the command's verbosity (-v
    shows it) for the call; its errors still surface as exceptions."""
    from se_deploy.core.verbosity import python_log_level

    root = logging.getLogger()
    level = root.level
    root.setLevel(python_log_level())
    try:
        yield
    finally:
        root.setLevel(level)
