"""The TensorRT build code against TensorRT's API: the installed one (TensorRT 10 or 11; skipped,
with the reason, where tensorrt is absent), and on every machine the strongly typed rules of 11
through a stand-in module that lacks what 11 removed."""

from __future__ import annotations

import importlib.util
import types

import onnx
import pytest
from onnx import TensorProto, helper

from se_deploy.core.errors import SeDeployError
from se_deploy.stages.compile.config import EnginePrecision
from se_deploy.stages.compile.trt_build import require_typed_precision, weakly_typed

# Every tensorrt attribute the build code, the calibrator and the runner use.
USED = (
    "Builder",
    "OnnxParser",
    "Runtime",
    "Logger.ERROR",
    "Logger.WARNING",
    "Logger.INFO",
    "Logger.VERBOSE",
    "MemoryPoolType.WORKSPACE",
    "ProfilingVerbosity.DETAILED",
    "LayerType.QUANTIZE",
    "LayerType.DEQUANTIZE",
    "TensorIOMode.INPUT",
    "LayerInformationFormat.JSON",
    "IProfiler",
    "nptype",
    "init_libnvinfer_plugins",
)
WEAK_ONLY = ("BuilderFlag.FP16", "BuilderFlag.INT8", "IInt8EntropyCalibrator2")
NO_TRT = None if importlib.util.find_spec("tensorrt") else "tensorrt is not installed here"


def _has(module: object, dotted: str) -> bool:
    for part in dotted.split("."):
        if not hasattr(module, part):
            return False
        module = getattr(module, part)
    return True


@pytest.mark.skipif(NO_TRT is not None, reason=str(NO_TRT))
def test_the_installed_tensorrt_has_every_api_the_build_code_uses() -> None:
    import tensorrt as trt

    needed = USED + (WEAK_ONLY if weakly_typed(trt) else ())
    assert [name for name in needed if not _has(trt, name)] == []
    major = int(trt.__version__.split(".")[0])
    assert major in (10, 11), f"the trt extra pins tensorrt>=10,<12, found {trt.__version__}"
    assert weakly_typed(trt) is (major == 10)


def _model(dtype: int, qdq: bool = False) -> onnx.ModelProto:
    weight = helper.make_tensor("w", dtype, [1], [1.0])
    nodes = [helper.make_node("Mul", ["x", "w"], ["y"])]
    if qdq:
        scale = helper.make_tensor("s", TensorProto.FLOAT, [], [0.1])
        nodes = [
            helper.make_node("QuantizeLinear", ["x", "s"], ["q"]),
            helper.make_node("DequantizeLinear", ["q", "s"], ["y"]),
        ]
        weight = scale
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", dtype, [1])],
        [helper.make_tensor_value_info("y", dtype, [1])],
        [weight],
    )
    return helper.make_model(graph)


STRONG = types.SimpleNamespace(__version__="11.simulated", BuilderFlag=types.SimpleNamespace())


def test_weak_typing_is_read_from_the_builder_flags() -> None:
    weak = types.SimpleNamespace(BuilderFlag=types.SimpleNamespace(FP16=1, INT8=2))
    assert weakly_typed(weak)
    assert not weakly_typed(STRONG)


@pytest.mark.parametrize(
    ("precision", "dtype", "qdq"),
    [
        (EnginePrecision.FP32, TensorProto.FLOAT, False),
        (EnginePrecision.FP16, TensorProto.FLOAT16, False),
        (EnginePrecision.INT8, TensorProto.FLOAT, True),
    ],
)
def test_strong_typing_builds_the_precision_the_graph_has(precision, dtype, qdq) -> None:
    require_typed_precision(STRONG, precision, _model(dtype, qdq))


@pytest.mark.parametrize(
    ("precision", "hint"),
    [
        (EnginePrecision.FP16, "quantize --precision fp16"),
        (EnginePrecision.INT8, "quantize --precision int8"),
    ],
)
def test_strong_typing_refuses_lower_precision_from_a_float_graph(precision, hint) -> None:
    with pytest.raises(SeDeployError, match="strongly typed networks only") as error:
        require_typed_precision(STRONG, precision, _model(TensorProto.FLOAT))
    assert hint in str(error.value)
