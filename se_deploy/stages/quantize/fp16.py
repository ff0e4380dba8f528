"""FP16 conversion with onnxruntime's own float16 tool (onnxruntime.transformers.float16):
float16 weights and compute, float32 I/O by default.

It is the converter onnxconverter-common ships, carried in the onnxruntime wheel, so it costs no
dependency. On the suite's exports (se_mobilenet and se_shufflenet at 28, se_mobilenet at 224)
both give the same initializers, node count and Cast count and the same max |logit diff| against
FP32 (0.0138, 0.0561, 0.00494) with every top-1 agreeing; only the names of the two edge Casts
differ (/tmp/fp16cmp.py, quoted in the issue-15 commit).

The converter clamps weights that float16 cannot hold (tiny magnitudes to `MIN_POSITIVE`, huge
ones to `MAX_FINITE`) and warns once per tensor; `clamped_values` counts them with the same
limits so the manifest carries the figure instead of a stream of warnings.
"""

from __future__ import annotations

import warnings

import numpy as np
import onnx
from onnx import numpy_helper

from se_deploy.core.onnx.graph import clone

MIN_POSITIVE = 1e-7  # passed explicitly so the converter and `clamped_values` agree
MAX_FINITE = 1e4


def convert_fp16(model: onnx.ModelProto, keep_io_types: bool = True) -> onnx.ModelProto:
    """`model` in float16; with `keep_io_types` its inputs and outputs stay float32 (Cast nodes
    at the edges), so callers feed the same normalized images as the FP32 artifact."""
    from onnxruntime.transformers import float16

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # per-tensor clamping notes: counted instead
        return float16.convert_float_to_float16(
            clone(model),
            min_positive_val=MIN_POSITIVE,
            max_finite_val=MAX_FINITE,
            keep_io_types=keep_io_types,
        )


def clamped_values(model: onnx.ModelProto) -> dict[str, int]:
    """How many float32 weight values the conversion clamps, by direction."""
    tiny = huge = 0
    for initializer in model.graph.initializer:
        if initializer.data_type != onnx.TensorProto.FLOAT:
            continue
        magnitude = np.abs(numpy_helper.to_array(initializer))
        tiny += int(np.count_nonzero((magnitude > 0) & (magnitude < MIN_POSITIVE)))
        huge += int(np.count_nonzero(magnitude > MAX_FINITE))
    return {"below_min_positive": tiny, "above_max_finite": huge}
