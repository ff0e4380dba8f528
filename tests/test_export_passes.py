"""Each graph pass alone on a hand-built graph: same outputs under plain ORT, expected nodes."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from se_deploy.stages.export.passes import (
    fold_batchnorm,
    fuse_hard_sigmoid,
    fuse_hard_swish,
    remove_dead_nodes,
    remove_identity,
    run_passes,
    simplify,
)
from tests.export_graphs import GraphBuilder, assert_same_outputs, ops, run_unoptimized

X_SHAPE = [2, 4, 6, 6]


def _feeds(shape=X_SHAPE, scale: float = 4.0) -> dict[str, np.ndarray]:
    return {"x": np.random.default_rng(1).normal(0, scale, shape).astype(np.float32)}


def _input_is_unchanged(graph_pass, model: onnx.ModelProto) -> onnx.ModelProto:
    """Run the pass and prove it did not mutate its argument (passes are pure)."""
    before = model.SerializeToString()
    result = graph_pass(model)
    assert model.SerializeToString() == before
    return result


# ------------------------------------------------------------------ identity / dead nodes
def test_remove_identity_bypasses_chains_and_keeps_named_outputs() -> None:
    g = GraphBuilder()
    w = g.op("Identity", [g.const(np.full(X_SHAPE[1:], 0.5))])
    y = g.op("Identity", [g.op("Identity", [g.op("Add", ["x", w])])])
    g.op("Identity", [g.op("Relu", [y])], output="out")
    model = g.model({"x": X_SHAPE}, ["out"])

    result = _input_is_unchanged(remove_identity, model)

    assert ops(result) == ["Add", "Relu", "Identity"]  # the graph output keeps its name
    assert_same_outputs(model, result, _feeds())


def test_remove_dead_nodes_drops_unused_branches_and_initializers() -> None:
    g = GraphBuilder()
    g.op("Sigmoid", [g.op("Mul", ["x", g.const(2.0)])])  # feeds nothing
    g.op("Relu", ["x"], output="out")
    model = g.model({"x": X_SHAPE}, ["out"])

    result = _input_is_unchanged(remove_dead_nodes, model)

    assert ops(result) == ["Relu"]
    assert len(result.graph.initializer) == 0
    assert_same_outputs(model, result, _feeds())


# ------------------------------------------------------------------ batchnorm
def _conv_bn(g: GraphBuilder, groups: int, bias: bool) -> str:
    channels = X_SHAPE[1]
    inputs = ["x", g.weight(channels, channels // groups, 3, 3)]
    if bias:
        inputs.append(g.weight(channels))
    conv = g.op("Conv", inputs, kernel_shape=[3, 3], pads=[1, 1, 1, 1], group=groups)
    params = [
        g.const(g.rng.uniform(0.5, 1.5, channels)),
        g.weight(channels),
        g.weight(channels),
        g.const(g.rng.uniform(0.5, 2.0, channels)),
    ]
    return g.op("BatchNormalization", [conv, *params], epsilon=1e-3)


@pytest.mark.parametrize(("groups", "bias"), [(1, True), (1, False), (4, False)])
def test_fold_batchnorm_into_conv(groups: int, bias: bool) -> None:
    g = GraphBuilder()
    g.op("Relu", [_conv_bn(g, groups, bias)], output="out")
    model = g.model({"x": X_SHAPE}, ["out"])

    result = _input_is_unchanged(fold_batchnorm, model)

    assert ops(result) == ["Conv", "Relu"]
    assert len(result.graph.initializer) == 2  # folded weight and bias only
    assert_same_outputs(model, result, _feeds())


def test_fold_batchnorm_leaves_a_conv_with_other_readers() -> None:
    g = GraphBuilder()
    bn = _conv_bn(g, 1, True)
    conv_out = g.nodes[0].output[0]
    g.op("Add", [bn, conv_out], output="out")
    model = g.model({"x": X_SHAPE}, ["out"])

    assert ops(fold_batchnorm(model)) == ["Conv", "BatchNormalization", "Add"]


# ------------------------------------------------------------------ hard-sigmoid
def _relu6_shift(g: GraphBuilder, x: str, constants) -> str:
    return g.op("Clip", [g.op("Add", [x, constants(3.0)]), constants(0.0), constants(6.0)])


@pytest.mark.parametrize("constants", ["initializer", "constant_node"])
@pytest.mark.parametrize("scale_op", ["Div", "Mul"])
def test_fuse_hard_sigmoid_relu6_form(scale_op: str, constants: str) -> None:
    g = GraphBuilder()
    make = g.const if constants == "initializer" else g.constant_node
    clipped = _relu6_shift(g, "x", make)
    g.op(scale_op, [clipped, make(6.0 if scale_op == "Div" else 1 / 6)], output="out")
    model = g.model({"x": X_SHAPE}, ["out"])

    result = _input_is_unchanged(fuse_hard_sigmoid, model)

    assert ops(result) == ["HardSigmoid"]
    node = result.graph.node[0]
    assert [a.f for a in node.attribute] == pytest.approx([1 / 6, 0.5])
    assert_same_outputs(model, result, _feeds())


def test_fuse_hard_sigmoid_clipped_affine_form() -> None:
    g = GraphBuilder()
    affine = g.op("Add", [g.op("Mul", ["x", g.const(0.2)]), g.const(0.5)])
    g.op("Clip", [affine, g.const(0.0), g.const(1.0)], output="out")
    model = g.model({"x": X_SHAPE}, ["out"])

    result = fuse_hard_sigmoid(model)

    assert ops(result) == ["HardSigmoid"]
    assert_same_outputs(model, result, _feeds())


def test_fuse_hard_sigmoid_rejects_a_clip_that_is_not_one() -> None:
    g = GraphBuilder()
    g.op("Div", [_relu6_shift(g, "x", g.const), g.const(5.0)], output="out")  # range [0, 1.2]
    model = g.model({"x": X_SHAPE}, ["out"])

    assert ops(fuse_hard_sigmoid(model)) == ["Add", "Clip", "Div"]


# ------------------------------------------------------------------ hard-swish
def test_fuse_hard_swish_from_hard_sigmoid() -> None:
    g = GraphBuilder()
    gate = g.op("HardSigmoid", ["x"], alpha=1 / 6, beta=0.5)
    g.op("Mul", [gate, "x"], output="out")
    model = g.model({"x": X_SHAPE}, ["out"])

    result = _input_is_unchanged(fuse_hard_swish, model)

    assert ops(result) == ["HardSwish"]
    assert_same_outputs(model, result, _feeds())


def test_fuse_hard_swish_arithmetic_form() -> None:
    g = GraphBuilder()
    product = g.op("Mul", ["x", _relu6_shift(g, "x", g.const)])
    g.op("Div", [product, g.const(6.0)], output="out")
    model = g.model({"x": X_SHAPE}, ["out"])

    result = fuse_hard_swish(model)

    assert ops(result) == ["HardSwish"]
    assert_same_outputs(model, result, _feeds())


def test_hard_sigmoid_then_hard_swish_handles_x_times_relu6_over_6() -> None:
    g = GraphBuilder()
    gate = g.op("Div", [_relu6_shift(g, "x", g.const), g.const(6.0)])
    g.op("Mul", ["x", gate], output="out")
    model = g.model({"x": X_SHAPE}, ["out"])

    result, _ = run_passes(model, [fuse_hard_sigmoid, fuse_hard_swish])

    assert ops(result) == ["HardSwish"]
    assert_same_outputs(model, result, _feeds())


@pytest.mark.parametrize("case", ["other_tensor", "onnx_default_alpha"])
def test_fuse_hard_swish_rejects_non_swish_products(case: str) -> None:
    g = GraphBuilder()
    if case == "other_tensor":  # an SE gate: x * hardsigmoid(s), s != x
        gate = g.op("HardSigmoid", [g.op("Relu", ["x"])], alpha=1 / 6, beta=0.5)
    else:
        gate = g.op("HardSigmoid", ["x"])  # alpha 0.2: not the hard-swish curve
    g.op("Mul", ["x", gate], output="out")
    model = g.model({"x": X_SHAPE}, ["out"])

    assert ops(fuse_hard_swish(model))[-1] == "Mul"


# ------------------------------------------------------------------ simplify
@pytest.mark.parametrize("batch", [2, "batch"])
def test_simplify_folds_constants_and_keeps_the_batch_axis(batch) -> None:
    g = GraphBuilder()
    folded = g.op("Add", [g.const(np.ones(X_SHAPE[1:])), g.const(2.0)])
    g.op("Relu", [g.op("Add", ["x", folded])], output="out")
    model = g.model({"x": [batch, *X_SHAPE[1:]]}, ["out"])

    result = _input_is_unchanged(simplify, model)

    assert ops(result) == ["Add", "Relu"]
    dim = result.graph.input[0].type.tensor_type.shape.dim[0]
    assert (dim.dim_param or dim.dim_value) == batch
    assert_same_outputs(model, result, _feeds([2, *X_SHAPE[1:]]))
    if batch == "batch":
        assert run_unoptimized(result, _feeds([5, *X_SHAPE[1:]]))[0].shape[0] == 5


# ------------------------------------------------------------------ pipeline records
def test_run_passes_records_node_counts_per_pass() -> None:
    g = GraphBuilder()
    g.op("Relu", [g.op("Identity", ["x"])], output="out")
    model = g.model({"x": X_SHAPE}, ["out"])

    result, records = run_passes(model, [remove_identity, remove_dead_nodes])

    assert [(r.name, r.nodes_before, r.nodes_after) for r in records] == [
        ("remove_identity", 2, 1),
        ("remove_dead_nodes", 1, 1),
    ]
    assert ops(result) == ["Relu"]


# ------------------------------------------------------------------ fusion safety: ranks
RANK_2 = [3, 5]


def _relu6_over_6(shift_shape: tuple[int, ...]) -> onnx.ModelProto:
    """clip(x + 3, 0, 6) / 6 on a rank-2 x, with the 3 as a one-element constant of a shape."""
    g = GraphBuilder()
    shift = g.const(np.full(shift_shape, 3.0))
    clipped = g.op("Clip", [g.op("Add", ["x", shift]), g.const(0.0), g.const(6.0)])
    g.op("Div", [clipped, g.const(6.0)], output="out")
    return g.model({"x": RANK_2}, ["out"])


def _output_shapes(model: onnx.ModelProto) -> list[tuple[int, ...]]:
    return [out.shape for out in run_unoptimized(model, _feeds(RANK_2))]


@pytest.mark.parametrize("shift_shape", [(), (1,), (1, 1)])
def test_hard_sigmoid_fuses_a_rank_keeping_constant(shift_shape: tuple[int, ...]) -> None:
    model = _relu6_over_6(shift_shape)
    result = fuse_hard_sigmoid(model)
    assert ops(result) == ["HardSigmoid"]
    assert _output_shapes(result) == _output_shapes(model) == [tuple(RANK_2)]
    assert_same_outputs(model, result, _feeds(RANK_2))


@pytest.mark.parametrize("shift_shape", [(1, 1, 1), (1, 1, 1, 1)])
def test_hard_sigmoid_leaves_a_rank_changing_constant(shift_shape: tuple[int, ...]) -> None:
    """(1, 1, 1, 1) + a (3, 5) tensor is (1, 1, 3, 5): HardSigmoid(x) would be (3, 5)."""
    model = _relu6_over_6(shift_shape)
    result = fuse_hard_sigmoid(model)
    assert ops(result) == ["Add", "Clip", "Div"]
    assert _output_shapes(result) == [(1,) * (len(shift_shape) - 2) + tuple(RANK_2)]


@pytest.mark.parametrize("rank_changing", [False, True])
def test_hard_swish_checks_the_broadcast_of_its_constants(rank_changing: bool) -> None:
    g = GraphBuilder()
    scale = g.const(np.full((1, 1, 1, 1) if rank_changing else (1,), 1 / 6))
    product = g.op("Mul", ["x", _relu6_shift(g, "x", g.const)])
    g.op("Mul", [product, scale], output="out")
    model = g.model({"x": RANK_2}, ["out"])
    result = fuse_hard_swish(model)
    assert ops(result) == (["Add", "Clip", "Mul", "Mul"] if rank_changing else ["HardSwish"])
    assert _output_shapes(result) == _output_shapes(model)
    assert_same_outputs(model, result, _feeds(RANK_2))
