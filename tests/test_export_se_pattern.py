"""SE canonicalization on hand-built exporter forms, and the SE finder on canonical graphs."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from se_deploy.core.errors import VerificationError
from se_deploy.core.onnx.graph import GraphIndex
from se_deploy.core.onnx.se_pattern import SEBlock, explain_se_misses, find_se_blocks, scan_se
from se_deploy.models import Gate, Squeeze, get_spec
from se_deploy.stages.export.passes import canonicalize_se, fuse_hard_sigmoid, run_passes
from se_deploy.stages.export.pipeline import require_se_blocks
from tests.export_graphs import GraphBuilder, assert_same_outputs, ops

C, R = 16, 4
X_SHAPE = [2, C, 5, 5]


def _feeds() -> dict[str, np.ndarray]:
    return {"x": np.random.default_rng(3).normal(0, 2, X_SHAPE).astype(np.float32)}


def _gemm(g: GraphBuilder, x: str, out_f: int, in_f: int, trans_b: bool = True) -> str:
    shape = (out_f, in_f) if trans_b else (in_f, out_f)
    return g.op("Gemm", [x, g.weight(*shape), g.weight(out_f)], transB=int(trans_b))


def _matmul_add(g: GraphBuilder, x: str, out_f: int, in_f: int) -> str:
    return g.op("Add", [g.op("MatMul", [x, g.weight(in_f, out_f)]), g.weight(out_f)])


def _conv(g: GraphBuilder, x: str, out_c: int, in_c: int) -> str:
    return g.op("Conv", [x, g.weight(out_c, in_c, 1, 1), g.weight(out_c)], kernel_shape=[1, 1])


def reduce_mean_gemm_unsqueeze() -> onnx.ModelProto:
    """torchvision/timm style: x.mean((2, 3)) -> Linear -> ReLU -> Linear -> sigmoid -> view."""
    g = GraphBuilder(opset=17)
    pooled = g.op("ReduceMean", ["x"], axes=[2, 3], keepdims=0)
    hidden = g.op("Relu", [_gemm(g, pooled, R, C)])
    gate = g.op("Sigmoid", [_gemm(g, hidden, C, R)])
    g.op("Mul", ["x", g.op("Unsqueeze", [gate, g.ints([2, 3])])], output="out")
    return g.model({"x": X_SHAPE}, ["out"])


def pool_flatten_matmul_reshape() -> onnx.ModelProto:
    """AdaptiveAvgPool -> flatten -> MatMul+Add FCs -> hardsigmoid -> reshape, gate first."""
    g = GraphBuilder(opset=17)
    flat = g.op("Flatten", [g.op("GlobalAveragePool", ["x"])])
    hidden = g.op("Relu", [_matmul_add(g, flat, R, C)])
    gate = g.op("HardSigmoid", [_matmul_add(g, hidden, C, R)], alpha=1 / 6, beta=0.5)
    g.op("Mul", [g.op("Reshape", [gate, g.ints([-1, C, 1, 1])]), "x"], output="out")
    return g.model({"x": X_SHAPE}, ["out"])


def reduce_max_opset18_squeeze() -> onnx.ModelProto:
    """Opset 18 (axes as an input), keepdims=1 then Squeeze, Gemm without transB, tanh gate."""
    g = GraphBuilder(opset=18)
    pooled = g.op("ReduceMax", ["x", g.ints([-2, -1])], keepdims=1)
    flat = g.op("Squeeze", [pooled, g.ints([2, 3])])
    hidden = g.op("Relu", [_gemm(g, flat, R, C, trans_b=False)])
    gate = g.op("Tanh", [_gemm(g, hidden, C, R, trans_b=False)])
    g.op("Mul", ["x", g.op("Reshape", [gate, g.ints([0, C, 1, 1])])], output="out")
    return g.model({"x": X_SHAPE}, ["out"])


def whole_map_maxpool_conv() -> onnx.ModelProto:
    """nn.AdaptiveMaxPool2d(1) as the TorchScript exporter writes it: MaxPool over the map."""
    g = GraphBuilder(opset=17)
    pooled = g.op("MaxPool", ["x"], kernel_shape=X_SHAPE[2:])
    gate = g.op("Relu", [_conv(g, g.op("Relu", [_conv(g, pooled, R, C)]), C, R)])
    g.op("Mul", ["x", gate], output="out")
    return g.model({"x": X_SHAPE}, ["out"])


def relu6_div_gate() -> onnx.ModelProto:
    """Canonical FCs with the hard-sigmoid gate written as relu6(x + 3) / 6."""
    g = GraphBuilder(opset=17)
    expanded = _conv(g, g.op("Relu", [_conv(g, g.op("GlobalAveragePool", ["x"]), R, C)]), C, R)
    clipped = g.op("Clip", [g.op("Add", [expanded, g.const(3.0)]), g.const(0.0), g.const(6.0)])
    g.op("Mul", ["x", g.op("Div", [clipped, g.const(6.0)])], output="out")
    return g.model({"x": X_SHAPE}, ["out"])


FORMS = [
    (reduce_mean_gemm_unsqueeze, Squeeze.AVG, Gate.SIGMOID),
    (pool_flatten_matmul_reshape, Squeeze.AVG, Gate.HARD_SIGMOID),
    (reduce_max_opset18_squeeze, Squeeze.MAX, Gate.TANH),
    (whole_map_maxpool_conv, Squeeze.MAX, Gate.RELU),
    (relu6_div_gate, Squeeze.AVG, Gate.HARD_SIGMOID),
]
CANONICAL_OPS = {Squeeze.AVG: "GlobalAveragePool", Squeeze.MAX: "GlobalMaxPool"}
GATE_OPS = {
    Gate.SIGMOID: "Sigmoid",
    Gate.HARD_SIGMOID: "HardSigmoid",
    Gate.TANH: "Tanh",
    Gate.RELU: "Relu",
}


@pytest.mark.parametrize(("build", "squeeze", "gate"), FORMS, ids=[f[0].__name__ for f in FORMS])
def test_canonicalize_se_rewrites_exporter_forms(build, squeeze: Squeeze, gate: Gate) -> None:
    model = build()
    assert find_se_blocks(model) == []  # none of these forms is canonical yet

    canonical, _ = run_passes(model, [fuse_hard_sigmoid, canonicalize_se])

    assert ops(canonical) == [CANONICAL_OPS[squeeze], "Conv", "Relu", "Conv", GATE_OPS[gate], "Mul"]
    assert_same_outputs(model, canonical, _feeds())
    (block,) = find_se_blocks(canonical)
    assert (block.channels, block.reduced_channels, block.reduction) == (C, R, C / R)
    assert (block.squeeze, block.gate) == (squeeze, gate)
    assert (block.input, block.output) == ("x", "out")


def test_loose_forms_are_not_reported_as_canonical_and_the_miss_names_the_node() -> None:
    model = reduce_mean_gemm_unsqueeze()

    assert find_se_blocks(model) == []
    (miss,) = explain_se_misses(model)
    assert "ReduceMean" in miss
    assert "canonicalize_se" in miss


def test_the_loose_walk_reads_an_arithmetic_hard_sigmoid_gate() -> None:
    """relu6(t + 3) / 6 (torch's dynamo exporter writes nn.Hardsigmoid so) is a gate to the
    loose walk, which `inspect` and `bench` run on a raw file: one block, gate hard_sigmoid with
    alpha 1/6 and beta 1/2, not canonical; canonicalize_se alone then writes it as one
    HardSigmoid node, with the same outputs."""
    model = relu6_div_gate()
    (match,), _ = scan_se(GraphIndex(model, with_shapes=True), strict=False)
    assert match.hard_sigmoid == pytest.approx((1 / 6, 0.5)) and not match.canonical
    by_op = {node.op_type: node.name for node in model.graph.node}
    assert match.nodes[-4:] == tuple(by_op[op] for op in ("Add", "Clip", "Div", "Mul"))
    assert match.gate.name == by_op["Div"]  # the gate's output is the Div's
    assert find_se_blocks(model) == []  # strict: not canonical until the passes run

    canonical = canonicalize_se(model)
    assert ops(canonical) == ["GlobalAveragePool", "Conv", "Relu", "Conv", "HardSigmoid", "Mul"]
    assert_same_outputs(model, canonical, _feeds())
    (block,) = find_se_blocks(canonical)
    assert (block.gate, block.gate_alpha, block.gate_beta) == (Gate.HARD_SIGMOID, 0.1666667, 0.5)


def test_canonicalize_se_leaves_canonical_blocks_and_non_se_pools_alone() -> None:
    g = GraphBuilder()
    head = g.op("Flatten", [g.op("GlobalAveragePool", ["x"])])
    g.op("Gemm", [head, g.weight(10, C), g.weight(10)], output="logits", transB=1)
    model = g.model({"x": X_SHAPE}, ["logits"])
    canonical, _ = run_passes(relu6_div_gate(), [fuse_hard_sigmoid, canonicalize_se])

    assert canonicalize_se(model).SerializeToString() == model.SerializeToString()
    assert canonicalize_se(canonical).SerializeToString() == canonical.SerializeToString()
    (miss,) = explain_se_misses(model)
    assert "expected a 1x1 Conv, found Flatten 'Flatten_1'" in miss


def test_se_pattern_needs_the_mul_to_rescale_the_squeezed_tensor() -> None:
    g = GraphBuilder()
    gate = g.op(
        "Sigmoid",
        [_conv(g, g.op("Relu", [_conv(g, g.op("GlobalAveragePool", ["x"]), R, C)]), C, R)],
    )
    g.op("Mul", [g.op("Relu", ["x"]), gate], output="out")
    model = g.model({"x": X_SHAPE}, ["out"])

    assert find_se_blocks(model) == []
    assert "does not rescale 'x'" in explain_se_misses(model)[0]
    assert ops(canonicalize_se(model)) == ops(model)


def test_se_step_with_a_second_reader_is_not_an_se_block() -> None:
    g = GraphBuilder()
    reduced = _conv(g, g.op("GlobalAveragePool", ["x"]), R, C)
    gate = g.op("Sigmoid", [_conv(g, g.op("Relu", [reduced]), C, R)])
    g.op("Mul", ["x", gate], output="out")
    model = g.model({"x": X_SHAPE}, ["out", reduced])

    assert find_se_blocks(model) == []
    assert "graph output" in explain_se_misses(model)[0]


def test_se_block_api() -> None:
    canonical, _ = run_passes(pool_flatten_matmul_reshape(), [canonicalize_se])
    (block,) = find_se_blocks(canonical)
    by_name = {node.name: node for node in canonical.graph.node}

    assert isinstance(block, SEBlock)
    assert [by_name[name].op_type for name in block.nodes] == [
        "GlobalAveragePool",
        "Conv",
        "Relu",
        "Conv",
        "HardSigmoid",
        "Mul",
    ]
    assert by_name[block.nodes[-1]].input[:] == [block.input, block.scale]
    assert by_name[block.nodes[-1]].output[0] == block.output
    record = block.to_dict()
    assert record["gate"] == "hard_sigmoid"
    assert record["squeeze"] == "avg"
    assert record["reduction"] == 4.0


def test_require_se_blocks_fails_naming_where_the_pattern_broke() -> None:
    model = reduce_mean_gemm_unsqueeze()
    spec = get_spec("se_mobilenet")

    with pytest.raises(VerificationError) as error:
        require_se_blocks(model, spec)

    message = str(error.value)
    assert "found 0 SE blocks" in message
    assert f"registry says {spec.se_blocks}" in message
    assert "from 'ReduceMean_0': the squeeze is ReduceMean" in message
