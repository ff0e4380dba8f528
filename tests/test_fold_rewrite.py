"""Static SE folding: fold sites, exactness on constant gates, gate statistics, block choice."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from se_deploy.core.errors import SeDeployError
from se_deploy.core.onnx.se_pattern import find_se_blocks
from se_deploy.models import list_models
from se_deploy.stages.export.passes import expand_se_gates
from se_deploy.stages.fold import FoldConfig, FoldMode, FoldSite, collect_gate_stats, fold_se_blocks
from se_deploy.stages.fold.gate_stats import GateStats
from se_deploy.stages.fold.rewrite import FoldTarget, fold_targets, named_se_blocks
from se_deploy.stages.fold.select import select_greedy, select_listed
from tests.conftest import TINY_SIZE
from tests.export_graphs import GraphBuilder, assert_same_outputs, run_unoptimized
from tests.export_support import tiny_graph

SE_MODELS = [
    name
    for name in list_models()
    if name.startswith("se_") or name.endswith("_small") or name.endswith("_large")
]


@pytest.fixture(scope="module")
def exports() -> dict[str, onnx.ModelProto]:
    return {name: tiny_graph(name) for name in SE_MODELS}


def _constant_gates(model: onnx.ModelProto, seed: int = 1) -> onnx.ModelProto:
    """Zero every expand-FC weight and draw its bias: each gate becomes gate(bias), a constant
    that differs per channel (a 0.5 everywhere would fold exactly by luck: a power of two)."""
    model = onnx.load_from_string(model.SerializeToString())
    initializers = {init.name: init for init in model.graph.initializer}
    nodes = {node.name: node for node in model.graph.node}
    rng = np.random.default_rng(seed)
    for block in find_se_blocks(model):
        expand = nodes[block.nodes[3]]
        weight, bias = initializers[expand.input[1]], initializers[expand.input[2]]
        zeros = np.zeros_like(numpy_helper.to_array(weight))
        weight.CopyFrom(numpy_helper.from_array(zeros, weight.name))
        drawn = rng.normal(0, 2, numpy_helper.to_array(bias).shape).astype(np.float32)
        bias.CopyFrom(numpy_helper.from_array(drawn, bias.name))
    return model


def _images(count: int = 3, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [
        rng.standard_normal((1, 3, TINY_SIZE, TINY_SIZE), dtype=np.float32) for _ in range(count)
    ]


def _relative_diff(before: onnx.ModelProto, after: onnx.ModelProto, image: np.ndarray) -> float:
    expected = run_unoptimized(before, {"input": image})[0]
    actual = run_unoptimized(after, {"input": image})[0]
    return float(np.abs(actual - expected).max() / np.abs(expected).max())


@pytest.mark.parametrize("name", SE_MODELS)
def test_constant_gates_fold_exactly_on_every_se_model(name: str, exports) -> None:
    model = _constant_gates(exports[name])
    blocks = find_se_blocks(model)
    stats = collect_gate_stats(model, blocks, _images())
    assert max(item.spread for item in stats) < 1e-6  # the gates really are constant
    for item in stats:
        np.testing.assert_allclose(item.lsq, item.mean, rtol=1e-6)
        assert item.output_error("mean") < 1e-3
    folded = fold_se_blocks(model, {item.block: item.mean for item in stats})
    onnx.checker.check_model(folded, full_check=True)
    assert find_se_blocks(folded) == []
    assert len(folded.graph.node) == len(model.graph.node) - 6 * len(blocks)
    for image in _images(2, seed=5):
        assert _relative_diff(model, folded, image) < 1e-5


def test_constant_gates_fold_exactly_through_the_resize_gate_form(exports) -> None:
    model = expand_se_gates(_constant_gates(exports["se_mobilenet"]))
    stats = collect_gate_stats(model, find_se_blocks(model), _images())
    folded = fold_se_blocks(model, {item.block: item.mean for item in stats})
    assert find_se_blocks(folded) == []
    assert not any(node.op_type in ("Resize", "Sigmoid") for node in folded.graph.node)
    for image in _images(2, seed=5):
        assert _relative_diff(model, folded, image) < 1e-5


def test_fold_sites_follow_the_graph(exports) -> None:
    mobilenet = fold_targets(exports["se_mobilenet"])
    sites = [(target.site, target.through_relu) for target in mobilenet.values()]
    # each block feeds the next depthwise conv; the last one feeds the head's pool
    assert sites == [(FoldSite.CONSUMER, False)] * 12 + [(FoldSite.PRODUCER, True)]
    shufflenet = fold_targets(exports["se_shufflenet"]).values()
    assert {(target.site, target.through_relu) for target in shufflenet} == {
        (FoldSite.PRODUCER, False)
    }  # outputs feed a residual Add or a Concat; inputs are linear convs
    v2 = fold_targets(exports["se_shufflenet_v2"]).values()
    assert {(target.site, target.through_relu) for target in v2} == {(FoldSite.PRODUCER, True)}


def test_folding_some_blocks_keeps_the_others(exports) -> None:
    model = exports["se_mobilenet_v2"]
    stats = collect_gate_stats(model, find_se_blocks(model), _images(2))
    chosen = {item.block: item.mean for item in stats[:2]}
    folded = fold_se_blocks(model, chosen)
    remaining = [block.name for block in find_se_blocks(folded)]
    assert remaining == [item.block for item in stats[2:]]
    assert _relative_diff(model, folded, _images(1)[0]) > 1e-6  # real gates: outputs move


def test_a_relu_producer_fold_refuses_negative_scales(exports) -> None:
    model = exports["se_shufflenet_v2"]
    block = find_se_blocks(model)[0]
    scale = np.full(block.channels, 0.5, np.float32)
    scale[3] = -0.1
    with pytest.raises(SeDeployError, match="folds across a Relu, which needs scales >= 0"):
        fold_se_blocks(model, {block.name: scale})


def test_unknown_block_and_wrong_scale_shape_are_refused(exports) -> None:
    model = exports["se_mobilenet"]
    with pytest.raises(SeDeployError, match="no SE block named /nowhere"):
        fold_se_blocks(model, {"/nowhere": np.ones(8)})
    block = find_se_blocks(model)[0]
    with pytest.raises(SeDeployError, match=f"needs {block.channels} finite scales"):
        fold_se_blocks(model, {block.name: np.ones(block.channels + 1)})


def _grouped_consumer_graph() -> onnx.ModelProto:
    """conv -> SE (constant gate) -> grouped 3x3 conv with padding: the input-channel fold must
    map each group's weights to its own slice of the scale."""
    g = GraphBuilder()
    channels, reduced = 8, 2
    x = g.op("Conv", ["x", g.weight(channels, 4, 1, 1), g.weight(channels)], kernel_shape=[1, 1])
    pooled = g.op("GlobalAveragePool", [x])
    hidden = g.op(
        "Relu",
        [
            g.op(
                "Conv",
                [pooled, g.weight(reduced, channels, 1, 1), g.weight(reduced)],
                kernel_shape=[1, 1],
            )
        ],
    )
    gate = g.op(
        "Sigmoid",
        [
            g.op(
                "Conv",
                [
                    hidden,
                    g.const(np.zeros((channels, reduced, 1, 1))),
                    g.weight(channels, scale=2.0),
                ],
                kernel_shape=[1, 1],
            )
        ],
    )
    scaled = g.op("Mul", [x, gate], output="se/out")
    g.op(
        "Conv",
        [scaled, g.weight(6, 4, 3, 3), g.weight(6)],
        output="out",
        kernel_shape=[3, 3],
        group=2,
        pads=[1, 1, 1, 1],
    )
    return g.model({"x": [1, 4, 5, 5]}, ["out"])


def test_grouped_consumer_conv_folds_exactly() -> None:
    model = _grouped_consumer_graph()
    targets = fold_targets(model)
    ((name, target),) = targets.items()
    assert target.site is FoldSite.CONSUMER
    feeds = {"x": np.random.default_rng(0).normal(size=(1, 4, 5, 5)).astype(np.float32)}
    (stats,) = collect_gate_stats(model, find_se_blocks(model), [feeds["x"]])
    folded = fold_se_blocks(model, {name: stats.mean})
    assert [node.op_type for node in folded.graph.node] == ["Conv", "Conv"]
    assert_same_outputs(model, folded, feeds)


def test_gate_stats_are_per_channel_figures_over_all_images(exports) -> None:
    model = exports["mobilenet_v3_small"]
    blocks = find_se_blocks(model)
    images = _images(4)
    stats = collect_gate_stats(model, blocks, images)
    gates = [
        run_unoptimized(_exposed(model, blocks[0].scale), {"input": image})[1].reshape(-1)
        for image in images
    ]
    first = stats[0]
    assert first.count == 4 and first.gate == "hard_sigmoid"
    np.testing.assert_allclose(first.mean, np.mean(gates, axis=0), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(first.std, np.std(gates, axis=0), rtol=1e-3, atol=1e-6)
    np.testing.assert_allclose(first.max, np.max(gates, axis=0), rtol=1e-6)
    assert first.spread == pytest.approx(float(np.std(gates, axis=0).mean()), rel=1e-3, abs=1e-7)


def test_lsq_constant_is_the_energy_weighted_gate_mean(exports) -> None:
    model = exports["se_mobilenet"]
    block = find_se_blocks(model)[3]
    images = _images(4)
    (stats,) = collect_gate_stats(model, [block], images)
    exposed = _exposed(model, block.scale)
    outputs = [run_unoptimized(exposed, {"input": image}) for image in images]
    gates = np.stack([out[1].reshape(-1) for out in outputs]).astype(np.float64)
    energy = np.stack([out[2].reshape(-1) for out in outputs]).astype(np.float64)
    expected = (energy * gates).sum(0) / energy.sum(0)
    np.testing.assert_allclose(stats.lsq, expected, rtol=1e-4)
    assert (stats.lsq >= stats.min).all() and (stats.lsq <= stats.max).all()
    assert np.abs(stats.lsq - stats.mean).max() > 1e-4  # a different constant than the mean
    np.testing.assert_array_equal(stats.constant("lsq"), stats.lsq)
    np.testing.assert_array_equal(stats.constant("mean"), stats.mean)
    # least squares is the optimal constant for the block output's L2 change
    assert 0 < stats.output_error("lsq") < stats.output_error("mean") < 1


def _exposed(model: onnx.ModelProto, tensor: str) -> onnx.ModelProto:
    from se_deploy.stages.fold.gate_stats import with_gate_outputs

    (block,) = [b for b in find_se_blocks(model) if b.scale == tensor]
    return with_gate_outputs(model, [block])[0]


def _stats(errors: list[float]) -> list[GateStats]:
    """Blocks whose gate is 0.5 on average, with E[e] = 1 and E[e g^2] chosen so the relative
    output error of folding the mean is `error`."""
    one = np.ones(4)
    return [
        GateStats(
            f"b{i}",
            "sigmoid",
            10,
            one * 0.5,
            one * 0.1,
            one * 0.1,
            one * 0.9,
            energy=one,
            energy_gate=one * 0.5,
            energy_gate_sq=one * 0.25 / (1 - error**2),
        )
        for i, error in enumerate(errors)
    ]


def test_greedy_selection_respects_the_budget_and_records_each_decision() -> None:
    stats = _stats([0.3, 0.01, 0.2, 0.05])
    targets = {item.block: FoldTarget(item.block, FoldSite.CONSUMER, ("c",)) for item in stats}
    targets["b3"] = FoldTarget("b3", None, reason="its input comes from Clip")
    cost = {"b0": 0.004, "b1": 0.001, "b2": 0.0015}  # top-1 lost per folded block
    calls = []

    def top1_of(names):
        calls.append(tuple(names))
        return 0.9 - sum(cost[name] for name in names)

    baseline, decisions = select_greedy(stats, targets, top1_of, 0.3, "mean")
    assert [round(d.error, 6) for d in decisions] == [0.01, 0.05, 0.2, 0.3]
    assert baseline == 0.9
    assert [d.block for d in decisions] == ["b1", "b3", "b2", "b0"]  # least output error first
    assert [d.folded for d in decisions] == [True, False, True, False]
    assert decisions[1].reason == "its input comes from Clip" and decisions[1].top1 is None
    assert decisions[2].drop_pt == pytest.approx(0.25)
    assert decisions[3].drop_pt == pytest.approx(0.65) and "> 0.3 pt" in decisions[3].reason
    assert calls == [(), ("b1",), ("b1", "b2"), ("b1", "b2", "b0")]
    assert all(d.drop_pt <= 0.3 for d in decisions if d.folded)


def test_a_zero_budget_folds_nothing_and_evaluates_only_the_baseline() -> None:
    stats = _stats([0.0, 0.1])
    targets = {item.block: FoldTarget(item.block, FoldSite.CONSUMER, ("c",)) for item in stats}
    calls = []
    _, decisions = select_greedy(
        stats, targets, lambda names: calls.append(names) or 0.9, 0.0, "lsq"
    )
    assert not any(d.folded for d in decisions)
    assert calls == [()]


def test_listed_blocks_by_name_or_index() -> None:
    stats = _stats([0.1, 0.2, 0.3])
    targets = {item.block: FoldTarget(item.block, FoldSite.PRODUCER, ("c",)) for item in stats}
    decisions = select_listed(stats, targets, ["2", "b0"], "mean")
    assert [d.folded for d in decisions] == [True, False, True]
    with pytest.raises(SeDeployError, match=r"names '7', which is no SE block.*use 0\.\.2"):
        select_listed(stats, targets, ["7"], "mean")
    targets["b1"] = FoldTarget("b1", None, reason="its input is also read outside the block")
    with pytest.raises(SeDeployError, match="'b1' cannot be folded: its input is also read"):
        select_listed(stats, targets, ["b1"], "mean")


@pytest.mark.parametrize(
    ("fold_se", "options", "message"),
    [
        ("auto", {}, "pass --data"),
        ("all", {"data": "synthetic", "max_drop": 1.0}, "--max-drop applies to --fold-se auto"),
        ("auto", {"data": "synthetic", "max_drop": -1.0}, "--max-drop -1.0"),
        (" , ", {"data": "synthetic"}, "names nothing"),
        ("auto", {"data": "synthetic", "calib_size": 0}, "--calib-size 0"),
        ("auto", {"data": "synthetic", "value": "median"}, "--gate-value 'median'"),
    ],
)
def test_bad_fold_options_are_rejected(fold_se: str, options: dict, message: str) -> None:
    with pytest.raises(SeDeployError, match=message):
        FoldConfig.from_fold_se(fold_se, **options)


def test_fold_se_parses_modes_and_block_lists() -> None:
    assert FoldConfig.from_fold_se("none", data="synthetic").mode is FoldMode.NONE
    listed = FoldConfig.from_fold_se("0, /blocks/blocks.3/se", data="synthetic")
    assert listed.mode is FoldMode.LIST and listed.blocks == ("0", "/blocks/blocks.3/se")
    assert listed.tag() == "fp32-folded"


def test_named_blocks_are_unique_graph_order(exports) -> None:
    names = list(named_se_blocks(exports["se_mobilenet"]))
    assert names == [f"/blocks/blocks.{i}/se" for i in range(13)]
