"""MACs, parameters and precision read off ONNX graphs, checked against the torch counter."""

# ruff: noqa: F401, F811  (pytest fixtures imported from tests.bench_support)

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from se_deploy.core.onnx.facts import detect_precision, graph_facts
from se_deploy.models import create_model, list_models
from se_deploy.models.stats import count_macs
from tests.bench_support import export_tiny, tiny_export
from tests.conftest import TINY, TINY_SIZE
from tests.facts_support import onnx_tool_counts


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


def single_op(
    op: str,
    inputs: dict[str, tuple[int, ...]],
    weights: dict[str, np.ndarray],
    order: list[str],
    opset: int = 17,
    **attrs: object,
) -> onnx.ModelProto:
    """One `op` node reading graph inputs (float, given shapes) and constant `weights`."""
    node = helper.make_node(op, order, ["y"], name=op.lower(), **attrs)
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs.items()],
        [helper.make_tensor_value_info("y", TensorProto.UNDEFINED, None)],
        [numpy_helper.from_array(v, n) for n, v in weights.items()],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def weights(*shape: int, dtype: type = np.float32) -> np.ndarray:
    return np.ones(shape, dtype)


# (model, MACs by hand, params by hand); each is also checked against onnx-tool below.
FLOAT_FORMS = {
    # grouped (2 groups of 4 in -> 3 out), strided 2, dilated 2, pads 2: out 1x6x4x4
    "conv_grouped_strided_dilated": (
        single_op(
            "Conv",
            {"x": (1, 8, 8, 8)},
            {"W": weights(6, 4, 3, 3)},
            ["x", "W"],
            group=2,
            strides=[2, 2],
            dilations=[2, 2],
            pads=[2, 2, 2, 2],
        ),
        6 * 4 * 4 * 4 * 3 * 3,
        6 * 4 * 9,
    ),
    "conv_depthwise_bias": (
        single_op(
            "Conv",
            {"x": (1, 8, 8, 8)},
            {"W": weights(8, 1, 3, 3), "B": weights(8)},
            ["x", "W", "B"],
            group=8,
            pads=[1, 1, 1, 1],
        ),
        8 * 8 * 8 * 9,
        8 * 9 + 8,
    ),
    "gemm_trans_a_trans_b_bias": (
        single_op(
            "Gemm",
            {"a": (5, 2)},  # transA: A is K x M = 5 x 2
            {"W": weights(3, 5), "C": weights(3)},  # transB: B is N x K
            ["a", "W", "C"],
            transA=1,
            transB=1,
        ),
        2 * 3 * 5,
        15 + 3,
    ),
    "matmul_weight": (
        single_op("MatMul", {"x": (1, 7, 5)}, {"W": weights(5, 4)}, ["x", "W"]),
        7 * 4 * 5,
        20,
    ),
    "matmul_weight_first": (  # W @ x: the weight as first operand
        single_op("MatMul", {"x": (5, 3)}, {"W": weights(4, 5)}, ["W", "x"]),
        4 * 3 * 5,
        20,
    ),
    "matmul_two_activations": (
        single_op("MatMul", {"a": (1, 4, 6, 8), "b": (1, 4, 8, 3)}, {}, ["a", "b"]),
        4 * 6 * 3 * 8,
        0,
    ),
    "matmul_batched_broadcast_weight": (  # (2, 3, 4, 5) @ (3, 5, 6): batch dims broadcast
        single_op("MatMul", {"a": (2, 3, 4, 5)}, {"W": weights(3, 5, 6)}, ["a", "W"]),
        2 * 3 * 4 * 6 * 5,
        3 * 5 * 6,
    ),
}


def test_float_forms_against_hand_counts_and_onnx_tool() -> None:
    for name, (model, macs, params) in FLOAT_FORMS.items():
        facts = graph_facts(model)
        assert (facts.macs, facts.params) == (macs, params), name
        inputs = {
            v.name: tuple(d.dim_value for d in v.type.tensor_type.shape.dim)
            for v in model.graph.input
        }
        assert onnx_tool_counts(model, inputs) == (macs, params), name


def test_matmul_of_a_vector_by_hand() -> None:
    """A 1-D operand (ONNX MatMul's numpy semantics; the old counter's IndexError form): onnx-tool
    rejects rank-1 MatMul inputs, so only the hand count checks it."""
    model = single_op("MatMul", {"x": (5,)}, {"W": weights(4, 5)}, ["W", "x"])
    assert (graph_facts(model).macs, graph_facts(model).params) == (20, 20)
    model = single_op("MatMul", {"x": (2, 3, 5)}, {"W": weights(5)}, ["x", "W"])
    assert graph_facts(model).macs == 2 * 3 * 5


def test_conv_transpose_against_torch() -> None:
    """onnx-tool counts ConvTranspose as output volume x kernel (not what it computes), so the
    reference is torch's FlopCounterMode on the same layer: input volume x (C_out/g) x kernel."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    layer = torch.nn.ConvTranspose2d(8, 6, 3, stride=2, padding=1, output_padding=1, groups=2)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        layer(torch.zeros(1, 8, 5, 5))
    model = single_op(
        "ConvTranspose",
        {"x": (1, 8, 5, 5)},
        {"W": layer.weight.detach().numpy(), "B": layer.bias.detach().numpy()},
        ["x", "W", "B"],
        group=2,
        strides=[2, 2],
        pads=[1, 1, 1, 1],
        output_padding=[1, 1],
    )
    facts = graph_facts(model)
    assert facts.macs == counter.get_total_flops() // 2 == 8 * 5 * 5 * 3 * 9
    assert facts.params == 8 * 3 * 9 + 6


def quantized_conv(op: str) -> onnx.ModelProto:
    """QLinearConv / ConvInteger of a uint8 1x4x6x6 map with an int8 3x4x3x3 weight: 3*4*4*36."""
    w = numpy_helper.from_array(np.ones((3, 4, 3, 3), np.int8), "W")
    s = numpy_helper.from_array(np.array(0.1, np.float32), "s")
    z = numpy_helper.from_array(np.array(0, np.uint8), "z")
    wz = numpy_helper.from_array(np.array(0, np.int8), "wz")
    b = numpy_helper.from_array(np.zeros(3, np.int32), "B")
    if op == "QLinearConv":
        inputs, extra = ["x", "s", "z", "W", "s", "wz", "s", "z", "B"], [s, z, wz, b]
    else:
        inputs, extra = ["x", "W", "z", "wz"], [z, wz]
    node = helper.make_node(op, inputs, ["y"], name="q")
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.UINT8, ["N", 4, 6, 6])],
        [helper.make_tensor_value_info("y", TensorProto.UNDEFINED, None)],
        [w, *extra],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def quantized_matmul(op: str) -> onnx.ModelProto:
    """QLinearMatMul / MatMulInteger of a uint8 1x7x5 activation with an int8 5x4 weight."""
    w = numpy_helper.from_array(np.ones((5, 4), np.int8), "W")
    s = numpy_helper.from_array(np.array(0.1, np.float32), "s")
    z = numpy_helper.from_array(np.array(0, np.uint8), "z")
    wz = numpy_helper.from_array(np.array(0, np.int8), "wz")
    if op == "QLinearMatMul":
        inputs = ["x", "s", "z", "W", "s", "wz", "s", "z"]
    else:
        inputs = ["x", "W", "z", "wz"]
    node = helper.make_node(op, inputs, ["y"], name="q")
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.UINT8, [1, 7, 5])],
        [helper.make_tensor_value_info("y", TensorProto.UNDEFINED, None)],
        [w, s, z, wz],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_quantized_operator_forms() -> None:
    """Params count the quantized weight and bias only, not scales or zero points."""
    for op, bias in (("QLinearConv", 3), ("ConvInteger", 0)):
        facts = graph_facts(quantized_conv(op))
        assert (facts.macs, facts.params, facts.precision) == (3 * 4 * 4 * 36, 108 + bias, "int8")
        tool_macs, _ = onnx_tool_counts(quantized_conv(op), {"x": (1, 4, 6, 6)})
        assert tool_macs == facts.macs, op
    for op in ("QLinearMatMul", "MatMulInteger"):
        facts = graph_facts(quantized_matmul(op))
        assert (facts.macs, facts.params) == (7 * 4 * 5, 20), op
        assert onnx_tool_counts(quantized_matmul(op), {"x": (1, 7, 5)})[0] == facts.macs, op


def test_qdq_conv_counts_once_with_the_quantized_weight() -> None:
    """x -> Q -> DQ -> Conv(DQ(W_int8), DQ(B_int32)): one conv, params = W and B elements."""
    float_model = FLOAT_FORMS["conv_depthwise_bias"][0]
    s = numpy_helper.from_array(np.array(0.1, np.float32), "s")
    z = numpy_helper.from_array(np.array(0, np.int8), "z")
    ws = numpy_helper.from_array(np.full(8, 0.1, np.float32), "ws")
    wz = numpy_helper.from_array(np.zeros(8, np.int8), "wz")
    bz = numpy_helper.from_array(np.zeros(8, np.int32), "bz")
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "s", "z"], ["xq"], name="q"),
        helper.make_node("DequantizeLinear", ["xq", "s", "z"], ["xd"], name="dq"),
        helper.make_node("DequantizeLinear", ["Wq", "ws", "wz"], ["Wd"], name="dqw", axis=0),
        helper.make_node("DequantizeLinear", ["Bq", "ws", "bz"], ["Bd"], name="dqb", axis=0),
        helper.make_node("Conv", ["xd", "Wd", "Bd"], ["y"], name="conv", group=8, pads=[1] * 4),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        list(float_model.graph.input),
        list(float_model.graph.output),
        [
            numpy_helper.from_array(np.ones((8, 1, 3, 3), np.int8), "Wq"),
            numpy_helper.from_array(np.ones(8, np.int32), "Bq"),
            s,
            z,
            ws,
            wz,
            bz,
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    facts = graph_facts(model)
    assert (facts.macs, facts.params, facts.precision) == (8 * 64 * 9, 80, "int8")
    assert onnx_tool_counts(model, {"x": (1, 8, 8, 8)})[0] == facts.macs


def test_unknown_spatial_dims_give_no_mac_count_until_pinned() -> None:
    model = single_op("Conv", {"x": ["N", 2, "H", "W"]}, {"W": weights(4, 2, 3, 3)}, ["x", "W"])
    facts = graph_facts(model)
    assert (facts.macs, facts.unknown, facts.params) == (None, ("conv",), 72)
    assert graph_facts(model, {"x": (1, 2, 6, 10)}).macs == 4 * 4 * 8 * 18


@pytest.fixture(scope="module")
def zoo_exports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("zoo")
    return {name: export_tiny(name, root / name)[0] for name in list_models()}


def test_zoo_against_flop_counter_and_onnx_tool(zoo_exports: dict[str, Path]) -> None:
    """Every registered model at tiny width: MACs equal torch's FlopCounterMode (FLOPs / 2, conv
    and linear) and onnx-tool's contraction MACs; params equal onnx-tool's of those nodes."""
    for name, path in zoo_exports.items():
        model = onnx.load(str(path))
        facts = graph_facts(model)
        torch_macs = count_macs(create_model(name, TINY), TINY_SIZE, TINY.in_chans)
        tool = onnx_tool_counts(model, {"input": (1, TINY.in_chans, TINY_SIZE, TINY_SIZE)})
        assert facts.macs == torch_macs == tool[0], name
        assert facts.params == tool[1], name
