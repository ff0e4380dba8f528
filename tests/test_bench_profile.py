"""Profile attribution: runtime node names mapped back to source nodes, time split into SE / other
/ inserted on a hand-made graph with known figures, ORT trace parsing, and a real ORT profile."""

# ruff: noqa: F401, F811  (pytest fixtures imported from tests.bench_support)

from __future__ import annotations

import collections
import json
from pathlib import Path

import onnx
import pytest
from onnx import helper

from se_deploy.backends import LayerTime, RunnerOptions, runner_class
from se_deploy.backends.ort import read_ort_trace
from se_deploy.bench.profile import OriginIndex, summarize_profile
from se_deploy.bench.run import find_se_nodes
from se_deploy.core.onnx.se_roles import SeRole
from tests.bench_support import tiny_export, tiny_onnx

SE_NODES = {
    "/se/pool/GlobalAveragePool": SeRole.SQUEEZE,
    "/se/gate/Sigmoid": SeRole.EXCITATION,
    "/se/Mul": SeRole.SCALE,
}


def graph(*nodes: tuple[str, str, list[str], list[str]]) -> onnx.ModelProto:
    made = [helper.make_node(op, inputs, outputs, name=name) for name, op, inputs, outputs in nodes]
    return helper.make_model(helper.make_graph(made, "g", [], []))


SOURCE = graph(
    ("/c/Conv", "Conv", ["x"], ["/c/Conv_output_0"]),
    (
        "/se/pool/GlobalAveragePool",
        "GlobalAveragePool",
        ["/c/Conv_output_0"],
        ["/se/pool/GlobalAveragePool_output_0"],
    ),
    ("/se/gate/Sigmoid", "Sigmoid", ["/se/pool/GlobalAveragePool_output_0"], ["s"]),
    ("/se/Mul", "Mul", ["/c/Conv_output_0", "s"], ["/se/Mul_output_0"]),
    ("/d/Conv", "Conv", ["/se/Mul_output_0"], ["y"]),
)
OPTIMIZED = graph(  # what ORT saved: renamed nodes and inserted layout nodes
    ("Transpose_token_9", "Transpose", ["image"], ["x"]),
    ("/c/Conv", "Conv", ["x"], ["c"]),
    ("/se/pool/GlobalAveragePool_output_0_nchwc", "GlobalAveragePool", ["c"], ["p"]),
    ("/se/gate/Sigmoid_token_3", "Sigmoid", ["p"], ["s"]),
    ("ReorderOutput_token_7", "ReorderOutput", ["s"], ["s_nchw"]),
    ("ReorderInput", "ReorderInput", ["s_nchw"], ["s_blocked"]),
    ("/d/Conv + /se/Mul", "Conv", ["s_blocked"], ["y"]),
)
LAYERS = [
    LayerTime("/c/Conv", "Conv", total_us=100, calls=2),
    LayerTime(
        "/se/pool/GlobalAveragePool_output_0_nchwc", "GlobalAveragePool", total_us=20, calls=2
    ),
    LayerTime("/se/gate/Sigmoid_token_3", "Sigmoid", total_us=10, calls=2),
    LayerTime("ReorderOutput_token_7", "ReorderOutput", total_us=30, calls=2),
    LayerTime("ReorderInput", "ReorderInput", total_us=16, calls=2),
    LayerTime("/d/Conv + /se/Mul", "Conv", total_us=40, calls=2),
    LayerTime("Transpose_token_9", "Transpose", total_us=8, calls=2),
]


def test_origins_follow_renames_tensors_and_fusions() -> None:
    index = OriginIndex(SOURCE)

    def origins(name: str) -> tuple[str, ...]:
        return index.origins(LayerTime(name, ""))

    assert origins("/se/Mul") == ("/se/Mul",)
    assert origins("/se/pool/GlobalAveragePool_output_0_nchwc") == ("/se/pool/GlobalAveragePool",)
    assert origins("/se/gate/Sigmoid_token_3") == ("/se/gate/Sigmoid",)
    assert origins("/se/Mul_output_0_DequantizeLinear") == ("/se/Mul",)
    assert origins("/c/Conv/WithoutBiases") == ("/c/Conv",)
    assert origins("PWN(/se/gate/Sigmoid, /se/Mul)") == ("/se/gate/Sigmoid", "/se/Mul")
    assert origins("ReorderOutput_token_7") == ()
    assert index.origins(LayerTime("fused", "", origins=("/a",))) == ("/a",)


def test_time_split_with_the_optimized_graph() -> None:
    summary = summarize_profile(LAYERS, SE_NODES, SOURCE, OPTIMIZED)
    assert summary.runs == 2 and summary.total_us == pytest.approx(112)
    # SE: pool 10 + sigmoid 5 + half of the fused conv 10 + both reorders (15 + 8) next to SE
    assert summary.se_us == pytest.approx(48)
    assert summary.se_inserted_us == pytest.approx(23)
    assert summary.other_us == pytest.approx(60)  # /c/Conv 50 + the fused conv's other half 10
    assert summary.unattributed_us == pytest.approx(4)  # the Transpose touches no SE node
    assert summary.unmapped == ("Transpose_token_9",)
    assert (summary.se_nodes_seen, summary.se_nodes_total) == (3, 3)
    assert summary.se_fraction == pytest.approx(48 / 112)
    assert summary.by_op_us["Conv"] == pytest.approx(70)
    # by role: pool 10; sigmoid 5; half the fused conv (the Mul's share) 10; the reorders 23
    assert summary.se_by_role_us == pytest.approx(
        {"squeeze": 10, "excitation": 5, "scale": 10, "layout": 23}
    )


def test_without_the_optimized_graph_inserted_time_stays_apart() -> None:
    summary = summarize_profile(LAYERS, SE_NODES, SOURCE)
    assert summary.se_us == pytest.approx(25) and summary.se_inserted_us == 0
    assert summary.unattributed_us == pytest.approx(27)


def test_a_plain_name_set_is_enough() -> None:
    layers = [
        LayerTime("/se/Mul", "Mul", total_us=30, calls=1),
        LayerTime("conv", "Conv", total_us=70, calls=1),
    ]
    summary = summarize_profile(layers, {"/se/Mul": SeRole.SCALE})
    assert (summary.se_us, summary.other_us, summary.se_fraction) == (30, 70, 0.3)


def test_nodes_the_build_added_to_place_a_gate_count_as_scale() -> None:
    """A built graph runs nodes no source has: the build's gate nodes (by their prefix) are SE
    scale time even with no saved graph to find their neighbours in; the reorder beside one is
    SE layout time once the graph says it is a neighbour."""
    built = graph(
        ("/c/Conv", "Conv", ["x"], ["c"]),
        ("/se/pool/GlobalAveragePool_output_0_nchwc", "GlobalAveragePool", ["c"], ["p"]),
        ("/se/gate/Sigmoid_token_3", "Sigmoid", ["p"], ["s"]),
        ("se_nchwc/Conv_2", "Conv", ["c", "s"], ["scaled"]),
        ("ReorderOutput_token_4", "ReorderOutput", ["scaled"], ["y"]),
    )
    layers = [
        LayerTime("/c/Conv", "Conv", total_us=50, calls=1),
        LayerTime(
            "/se/pool/GlobalAveragePool_output_0_nchwc", "GlobalAveragePool", total_us=6, calls=1
        ),
        LayerTime("/se/gate/Sigmoid_token_3", "Sigmoid", total_us=2, calls=1),
        LayerTime("se_nchwc/Conv_2", "Conv", total_us=9, calls=1),
        LayerTime("ReorderOutput_token_4", "ReorderOutput", total_us=3, calls=1),
    ]
    with_graph = summarize_profile(layers, SE_NODES, SOURCE, built)
    assert with_graph.se_by_role_us == {"squeeze": 6, "excitation": 2, "scale": 9, "layout": 3}
    assert with_graph.se_us == 20 and with_graph.unattributed_us == 0
    without = summarize_profile(layers, SE_NODES, SOURCE)
    assert without.se_by_role_us["scale"] == 9 and without.se_by_role_us["layout"] == 0
    assert without.unattributed_us == 3


def test_ort_trace_is_summed_per_node(tmp_path: Path) -> None:
    events = [
        {"cat": "Session", "name": "model_run", "dur": 500},
        {"cat": "Node", "name": "/se/Mul_kernel_time", "dur": 7, "args": {"op_name": "Mul"}},
        {"cat": "Node", "name": "/se/Mul_fence_before", "dur": 1},
        {"cat": "Node", "name": "/se/Mul_kernel_time", "dur": 5, "args": {"op_name": "Mul"}},
    ]
    trace = tmp_path / "trace.json"
    trace.write_text(json.dumps(events))
    assert read_ort_trace(trace) == [LayerTime("/se/Mul", "Mul", total_us=12.0, calls=2)]


def test_real_ort_profile_puts_se_time_in_se_blocks(tiny_export: Path, tmp_path: Path) -> None:
    results = {}
    for name in ("se_mobilenet", "mobilenet"):
        path = tiny_export / name / "fp32" / "model.onnx"
        saved = tmp_path / name / "optimized.onnx"
        options = RunnerOptions(
            threads=1, profile=True, profile_dir=tmp_path / name, optimized_model_path=saved
        )
        with runner_class("ort")().load(path, options) as runner:
            for _ in range(3):
                runner.run(tiny_batch())
            layers = runner.collect_profile()
        source = onnx.load(str(path))
        se_nodes, found = find_se_nodes(source)
        results[name] = (summarize_profile(layers, se_nodes, source, onnx.load(str(saved))), found)
    se_summary, found = results["se_mobilenet"]
    assert found["nodes"] == 13 * 6  # 13 blocks: pool, reduce, relu, expand, gate, mul
    roles = collections.Counter(
        find_se_nodes(onnx.load(str(tiny_export / "se_mobilenet" / "fp32" / "model.onnx")))[
            0
        ].values()
    )
    assert roles == {SeRole.SQUEEZE: 13, SeRole.EXCITATION: 13 * 4, SeRole.SCALE: 13}
    assert all(se_summary.se_by_role_us[role] > 0 for role in ("squeeze", "excitation", "scale"))
    assert sum(se_summary.se_by_role_us.values()) == pytest.approx(se_summary.se_us)
    assert 0 < se_summary.se_us < se_summary.total_us
    assert se_summary.se_nodes_seen >= 13 * 3  # fusions hide some source nodes, never all
    base_summary, base_found = results["mobilenet"]
    assert base_found == {"blocks": 0, "nodes": 0, "qdq_nodes": 0}
    assert base_summary.se_us == 0 and base_summary.other_us > 0


def tiny_batch():
    import numpy as np

    return np.zeros((1, 3, 32, 32), np.float32)


def test_se_nodes_of_a_qdq_graph_come_from_the_finder(tiny_export: Path, tmp_path: Path) -> None:
    """INT8 QDQ graph as `quantize` makes it (removable Relus kept), node names scrambled so no
    name says 'se': the finder still finds all 13 blocks and takes in the Q/DQ nodes inside them,
    none of the baseline's."""
    from onnxruntime.quantization import QuantType, quantize_static

    from se_deploy.data.calibration import BatchReader

    for name, blocks in (("se_mobilenet", 13), ("mobilenet", 0)):
        source = tiny_export / name / "fp32" / "model.onnx"
        quantized = tmp_path / f"{name}.onnx"
        batches = [tiny_batch() for _ in range(2)]
        quantize_static(
            str(source),
            str(quantized),
            BatchReader("input", lambda batches=batches: iter(batches)),
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            extra_options={"QDQKeepRemovableActivations": True},
        )
        model = onnx.load(str(quantized))
        for number, node in enumerate(model.graph.node):
            node.name = f"n{number}"
        se_nodes, found = find_se_nodes(model)
        assert found["blocks"] == blocks and found["nodes"] == blocks * 6
        assert (found["qdq_nodes"] > blocks) == (blocks > 0)
        by_name = {node.name: node for node in model.graph.node}
        expected = {"Mul", "QuantizeLinear", "DequantizeLinear"} if blocks else set()
        assert {by_name[n].op_type for n in se_nodes} >= expected


def test_se_nodes_of_a_raw_linear_se_export() -> None:
    """The loose walk finds an SE block written with ReduceMean and Gemm FCs (not canonical)."""
    from tests.export_graphs import GraphBuilder

    g = GraphBuilder()
    x = g.op("Conv", ["x", g.weight(8, 3, 1, 1)])
    pooled = g.op("ReduceMean", [x], axes=[2, 3], keepdims=0)
    hidden = g.op("Relu", [g.op("Gemm", [pooled, g.weight(2, 8), g.weight(2)], transB=1)])
    gate = g.op("Sigmoid", [g.op("Gemm", [hidden, g.weight(8, 2), g.weight(8)], transB=1)])
    scale = g.op("Reshape", [gate, g.ints([1, 8, 1, 1])])
    model = g.model({"x": [1, 3, 4, 4]}, [g.op("Mul", [x, scale], "y")])
    se_nodes, found = find_se_nodes(model)
    assert found["blocks"] == 1
    assert {n.op_type for n in model.graph.node if n.name in se_nodes} >= {"ReduceMean", "Mul"}
