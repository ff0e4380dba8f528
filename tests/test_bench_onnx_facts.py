"""MACs, parameters and precision read off ONNX graphs, checked against the torch counter."""

# ruff: noqa: F401, F811  (pytest fixtures imported from tests.bench_support)

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from se_deploy.core.onnx.facts import detect_precision, graph_facts
from se_deploy.models import create_model
from se_deploy.models.stats import count_macs
from tests.bench_support import tiny_export
from tests.conftest import TINY, TINY_SIZE


def test_macs_match_the_torch_counter_and_se_adds_parameters(tiny_export: Path) -> None:
    facts = {
        name: graph_facts(onnx.load(str(tiny_export / name / "fp32" / "model.onnx")))
        for name in ("se_mobilenet", "mobilenet")
    }
    for name, fact in facts.items():
        assert fact.macs == count_macs(create_model(name, TINY), TINY_SIZE, TINY.in_chans)
        assert fact.precision == "fp32"
    assert facts["se_mobilenet"].params > facts["mobilenet"].params
    assert 1.0 < facts["se_mobilenet"].macs / facts["mobilenet"].macs < 1.05


def conv_model(weight_type: int) -> onnx.ModelProto:
    """y = Conv(x, W) with W 4x2x3x3, x 1x2x8x8 (pads 1): 4*8*8 * 2*3*3 = 4608 MACs."""
    weight = np.ones((4, 2, 3, 3), np.float16 if weight_type == TensorProto.FLOAT16 else np.float32)
    nodes = [helper.make_node("Conv", ["x", "W"], ["y"], name="conv", pads=[1, 1, 1, 1])]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", weight_type, ["N", 2, 8, 8])],
        [helper.make_tensor_value_info("y", weight_type, None)],
        [numpy_helper.from_array(weight, "W")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_counts_on_a_known_conv_with_a_dynamic_batch() -> None:
    facts = graph_facts(conv_model(TensorProto.FLOAT))
    assert (facts.macs, facts.params, facts.precision) == (4608, 72, "fp32")


def test_precision_detection() -> None:
    assert detect_precision(conv_model(TensorProto.FLOAT16)) == "fp16"
    model = conv_model(TensorProto.FLOAT)
    model.graph.node.insert(0, helper.make_node("QuantizeLinear", ["x", "s"], ["q"], name="q"))
    assert detect_precision(model) == "int8"
