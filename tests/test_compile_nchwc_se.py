"""`se-deploy build --backend ort --graph-opt all`: SE gates placed inside ORT's NCHWc layout
(stages.compile.nchwc_se), exact on every registered SE model, recorded per block, and refused
under another ORT version or NCHWc block size."""

# ruff: noqa: F401, F811  (pytest fixtures imported from tests.quantize_support)

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import pytest

from se_deploy.backends import RunnerOptions, runner_class
from se_deploy.backends.ort import CPU_BUILD_MANIFEST, nchwc_block_size, open_session
from se_deploy.bench.plan import build_plan
from se_deploy.bench.score import evaluate_artifact
from se_deploy.core.errors import SeDeployError
from se_deploy.core.onnx.graph import attribute
from se_deploy.core.onnx.se_pattern import find_se_blocks
from se_deploy.core.spec import se_pairs
from se_deploy.stages.compile import BuildConfig, build_artifact
from se_deploy.stages.compile.nchwc_se import (
    MAP_PER_WEIGHT,
    NCHWC_DOMAIN,
    GateForm,
    place_se_gates,
)
from se_deploy.stages.export import ExportConfig, export_model
from se_deploy.stages.quantize import resolve_source
from tests import se_forms
from tests.conftest import TINY_SIZE
from tests.export_graphs import GraphBuilder
from tests.export_support import tiny_graph
from tests.quantize_support import BASELINE, TRAINED, quant_root

pytestmark = pytest.mark.skipif(nchwc_block_size() is None, reason="ORT has no NCHWc here")
SE_MODELS = [se for se, _ in se_pairs()]
BUILT = "model.ort-all.onnx"


def images(count: int = 4) -> np.ndarray:
    shape = (count, 3, TINY_SIZE, TINY_SIZE)
    return np.random.default_rng(3).standard_normal(shape).astype(np.float32)


def run(path: Path, batch: np.ndarray) -> np.ndarray:
    with runner_class("ort")().load(path, RunnerOptions(threads=1)) as runner:
        return np.concatenate([runner.run(image[None]) for image in batch])


def build_tiny(name: str, folder: Path, **options) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    onnx.save(tiny_graph(name), folder / "model.onnx")
    source = resolve_source(folder / "model.onnx", None, "fp32")
    return build_artifact(source, BuildConfig("ort", graph_opt="all", **options)).manifest


@pytest.mark.parametrize("name", SE_MODELS)
def test_every_se_model_keeps_its_outputs_and_records_each_block(name: str, tmp_path: Path):
    manifest = build_tiny(name, tmp_path)
    optimized = manifest["ort"]["optimized_model"]
    gates = optimized["se_gates"]
    blocks = find_se_blocks(onnx.load(tmp_path / "model.onnx"))
    assert gates["placed"] and [b["block"] for b in gates["blocks"]] == [b.name for b in blocks]
    assert all(b["form"] in set(GateForm) for b in gates["blocks"])
    assert all(b.get("reason") for b in gates["blocks"] if b["form"] == GateForm.KEPT)
    assert optimized["session_options"] == {"graph_optimization_level": "disabled"}
    assert optimized["valid_for"]["nchwc_block"] == nchwc_block_size()
    reference, built = run(tmp_path / "model.onnx", images()), run(tmp_path / BUILT, images())
    peak = np.abs(reference).max()
    assert np.abs(built - reference).max() <= 1e-5 * max(1.0, peak)
    assert manifest["ort"]["verification"]["results"][0]["passed"]


def test_forms_follow_the_consumer(tmp_path: Path) -> None:
    """MobileNet v1: the next block's depthwise conv takes the gate in its weights, the last
    block's gate scales the head's pooled vector; MobileNetV3: the 1x1 projections of the
    blocks whose maps hold 4x their weights take the gate in those weights, the others a
    depthwise 1x1 gate conv (bit-identical to ORT's Mul: see below); every SE pool runs in NCHWc;
    ShuffleNet v1: the grouped expand conv
    writing each SE map takes the gate in its weights, except in the last stage, whose grouped
    convs ORT runs in NCHWc: there one gate conv also adds the shortcut and applies the Relu."""
    v1 = build_tiny("se_mobilenet", tmp_path / "v1")["ort"]["optimized_model"]
    assert v1["se_gates"]["forms"] == {"depthwise-weights": 12, "pooled": 1}
    assert v1["ops"].get("Mul", 0) == 12 + 1  # W * g per depthwise conv, g * pooled
    assert "com.microsoft.nchwc:ReorderInput" not in v1["ops"]
    v3 = build_tiny("mobilenet_v3_large", tmp_path / "v3")["ort"]["optimized_model"]
    assert v3["se_gates"]["forms"] == {"conv-weights": 3, "depthwise-1x1": 5}
    # ORT pools maps of channels no multiple of the block in NCHW, between reorders: moved
    channels = {b.name: b.channels for b in find_se_blocks(onnx.load(tmp_path / "v3/model.onnx"))}
    moved = {b["block"] for b in v3["se_gates"]["blocks"] if b.get("pool")}
    assert moved == {name for name, c in channels.items() if c % nchwc_block_size()}  # {} at 8
    assert "GlobalAveragePool" not in v3["ops"]  # every pool runs in NCHWc
    built = run(tmp_path / "v3" / BUILT, images())
    reference = run(tmp_path / "v3" / "model.onnx", images())
    assert np.abs(built - reference).max() <= 1e-5 * max(1.0, np.abs(reference).max())
    v1_shuffle = build_tiny("se_shufflenet", tmp_path / "shuffle")["ort"]["optimized_model"]
    assert v1_shuffle["se_gates"]["forms"] == {"producer-weights": 16}


def test_depthwise_1x1_alone_is_bit_identical_to_orts_graph(tmp_path: Path) -> None:
    source = tiny_graph("se_mobilenet")
    saved = tmp_path / "optimized.onnx"
    open_session(source.SerializeToString(), RunnerOptions(optimized_model_path=saved))
    placed, placements = place_se_gates(
        onnx.load(saved), find_se_blocks(source), nchwc_block_size(), frozenset({GateForm.CONV})
    )
    assert Counter(p.form for p in placements) == {GateForm.CONV: 12, GateForm.KEPT: 1}
    disabled = RunnerOptions(graph_optimization="disabled")
    feed = {"input": images(1)}
    ours = open_session(placed.SerializeToString(), disabled).run(None, feed)[0]
    orts = open_session(str(saved), disabled).run(None, feed)[0]
    np.testing.assert_array_equal(ours, orts)


@pytest.mark.parametrize(
    ("key", "value", "named"),
    [("onnxruntime", "1.0.0", "onnxruntime 1.0.0"), ("nchwc_block", 4, "nchwc_block 4")],
)
def test_a_built_graph_from_another_ort_or_block_size_is_refused(
    tmp_path: Path, key: str, value, named: str
) -> None:
    build_tiny("se_mobilenet", tmp_path)
    record_path = tmp_path / CPU_BUILD_MANIFEST
    record = json.loads(record_path.read_text())
    record["ort"]["optimized_model"]["valid_for"][key] = value
    record_path.write_text(json.dumps(record))
    with pytest.raises(SeDeployError) as error:
        runner_class("ort")().load(tmp_path / BUILT)
    message = str(error.value)
    assert named in message and "\n" not in message
    assert f"se-deploy build --backend ort --graph-opt all --input {tmp_path}" in message


def test_se_gates_option_needs_the_nchwc_level(tmp_path: Path) -> None:
    with pytest.raises(SeDeployError, match="--se-gates"):
        BuildConfig("ort", graph_opt="extended", se_gates="ort")
    kept = build_tiny("se_mobilenet", tmp_path, se_gates="ort")["ort"]["optimized_model"]
    assert kept["se_gates"] == {"placed": False, "note": "kept as ORT placed them (--se-gates ort)"}
    assert "com.microsoft.nchwc:ReorderInput" in kept["ops"]


def test_bench_and_eval_take_built_artifacts(quant_root: Path) -> None:
    """The built graph is planned with its source's graph for MACs and SE nodes, and scores
    the source's accuracy through the same runner."""
    built = {}
    for name in (TRAINED, BASELINE):
        source = resolve_source(None, name, "fp32", quant_root)
        out = quant_root / "built" / name
        build_artifact(source, BuildConfig("ort", graph_opt="all"), out)
        (out / "manifest.json").write_text(source.path.with_name("manifest.json").read_text())
        built[name] = (out / BUILT, source.path)
    plan = build_plan(["ort"], pairs=[(built[TRAINED][0], built[BASELINE][0])])
    se = plan.groups[0].se
    assert se.missing is None and se.precision == "fp32" and se.source_onnx == built[TRAINED][1]
    scores = [
        evaluate_artifact(str(path), "ort", None, "synthetic", None, "test", 32)
        for path in built[TRAINED]
    ]
    assert scores[0]["top1"] == scores[1]["top1"] and scores[0]["count"] == scores[1]["count"]


def _corrupted(place):
    """place_se_gates with the first conv weight of its graph doubled: a wrong rewrite."""

    def wrong(model, *args, **kwargs):
        model, placements = place(model, *args, **kwargs)
        weight = next(i for i in model.graph.initializer if len(i.dims) == 4)
        value = onnx.numpy_helper.to_array(weight) * 2
        weight.CopyFrom(onnx.numpy_helper.from_array(value, weight.name))
        return model, placements

    return wrong


def _failing(*args, **kwargs):
    raise IndexError("list index out of range")


@pytest.mark.parametrize(
    ("patch", "note"),
    [
        (_failing, "the SE gate pass failed (IndexError: list index out of range)"),
        (_corrupted(place_se_gates), "the placed gates disagreed with the source (max abs"),
    ],
)
def test_a_gate_pass_that_fails_or_disagrees_falls_back_to_orts_graph(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, patch, note: str
) -> None:
    """A third-party graph the pass mishandles still builds: ORT's own graph, checked against
    the source, with the reason in the manifest instead of a traceback or a refused build."""
    from se_deploy.stages.compile import ort_build

    monkeypatch.setattr(ort_build, "place_se_gates", patch)
    manifest = build_tiny("se_mobilenet", tmp_path)
    gates = manifest["ort"]["optimized_model"]["se_gates"]
    assert not gates["placed"] and gates["note"].startswith(note), gates
    assert manifest["ort"]["verification"]["results"][0]["passed"]
    reference, built = run(tmp_path / "model.onnx", images()), run(tmp_path / BUILT, images())
    assert np.abs(built - reference).max() <= 1e-5 * max(1.0, np.abs(reference).max())
    ops = Counter(n.op_type for n in onnx.load(tmp_path / BUILT).graph.node)
    assert ops["ReorderInput"] > 0  # ORT's graph: the gates' reorders are still there


def test_the_independent_harness_loads_each_side_as_its_manifest_says(tmp_path: Path) -> None:
    """benchmarks/independent_ratio.py (plain onnxruntime, no se_deploy import) loads the
    built file with optimizations off, as its build manifest records, and a plain export at
    ORT's default level, and prints one ratio with its interval."""
    build_tiny("se_mobilenet", tmp_path)
    script = Path(__file__).parents[1] / "benchmarks" / "independent_ratio.py"
    files = [str(tmp_path / BUILT), str(tmp_path / "model.onnx")]
    done = subprocess.run(
        [sys.executable, str(script), *files, "--rounds", "4", "--calls", "1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    match = re.search(r": (\d+\.\d+) \[(\d+\.\d+), (\d+\.\d+)\] \(4 rounds", done.stdout)
    assert match and float(match[2]) <= float(match[1]) <= float(match[3]), done.stdout
    assert "loaded at disabled / all" in done.stdout


def test_a_built_graph_finds_its_source_from_another_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The build records the source as given (relative to that run's cwd); bench run from
    elsewhere still counts MACs and finds SE nodes on it, beside the built graph."""
    run_dir = tmp_path / "export" / "se_mobilenet" / "fp32"
    run_dir.mkdir(parents=True)
    onnx.save(tiny_graph("se_mobilenet"), run_dir / "model.onnx")
    monkeypatch.chdir(tmp_path)
    source = resolve_source(Path("export/se_mobilenet/fp32/model.onnx"), None, "fp32")
    build_artifact(source, BuildConfig("ort", graph_opt="all"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    found = runner_class("ort").graph_source(run_dir / BUILT)
    assert found is not None and found.resolve() == (run_dir / "model.onnx").resolve()


def se_bottleneck(
    batch: int = 1,
    groups: int = 1,
    linear: bool = True,
    blocks: int = 1,
    size: int = 16,
    concat: bool = False,
) -> onnx.ModelProto:
    """SE-ResNet's bottlenecks as torch exports them with BN folded: 1x1 -> 3x3 -> 1x1 (linear
    unless told), SE on that map, then the residual Add (or, `concat`, a Concat with the
    shortcut: ShuffleNet v1's stride-2 unit; one block) and Relu; `groups` makes the last 1x1
    grouped (ShuffleNet v1's expand conv)."""
    g = GraphBuilder(seed=1)
    channels, mid = 64, 16
    x = g.op("Relu", [g.op("Conv", ["x", g.weight(channels, 3, 3, 3, scale=0.3)], pads=[1] * 4)])
    for _ in range(blocks):
        y = g.op("Relu", [g.op("Conv", [x, g.weight(mid, channels, 1, 1, scale=0.2)])])
        y = g.op("Relu", [g.op("Conv", [y, g.weight(mid, mid, 3, 3, scale=0.2)], pads=[1] * 4)])
        conv3 = [y, g.weight(channels, mid // groups, 1, 1, scale=0.3), g.weight(channels)]
        z = g.op("Conv", conv3, group=groups)
        z = z if linear else g.op("Relu", [z])
        pooled = g.op("GlobalAveragePool", [z])
        fc1 = g.op("Conv", [pooled, g.weight(mid, channels, 1, 1), g.weight(mid)])
        gate = g.op("Sigmoid", [g.op("Conv", [g.op("Relu", [fc1]), g.weight(channels, mid, 1, 1)])])
        merged = [x, g.op("Mul", [z, gate])]
        x = g.op("Relu", [g.op("Concat", merged, axis=1) if concat else g.op("Add", merged)])
    head = g.op("Flatten", [g.op("GlobalAveragePool", [x])])
    width = channels * (2 if concat else 1)
    logits = g.op("Gemm", [head, g.weight(10, width), g.weight(10)], transB=1)
    return g.model({"x": [batch, 3, size, size]}, [logits])


def build_graph(model: onnx.ModelProto, folder: Path) -> tuple[dict, np.ndarray, np.ndarray]:
    """Build `model`; its outputs from the source and from the built file, on one batch."""
    folder.mkdir(parents=True, exist_ok=True)
    onnx.save(model, folder / "model.onnx")
    source = resolve_source(folder / "model.onnx", None, "fp32")
    gates = build_artifact(source, BuildConfig("ort", graph_opt="all")).manifest
    shape = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    feed = {"x": np.random.default_rng(5).standard_normal(shape).astype(np.float32)}
    disabled = RunnerOptions(graph_optimization="disabled")
    built = open_session(str(folder / BUILT), disabled).run(None, feed)[0]
    reference = open_session(str(folder / "model.onnx")).run(None, feed)[0]
    return gates["ort"]["optimized_model"]["se_gates"], reference, built


@pytest.mark.parametrize(
    ("batch", "groups", "size", "form"),
    [
        (1, 4, 16, GateForm.PRODUCER),  # grouped 1x1: NCHW in ORT, the gate goes into its weights
        (2, 4, 16, GateForm.KEPT),  # one gate per image: no shared weight, only the squeeze moves
        # dense 1x1 runs NCHWc: its map (64x16x16) holds >= 4x its weights (64x16): the gate
        # goes into the NchwcConv's weights, the Add and Relu into its Sum input and activation
        (1, 1, 16, GateForm.PRODUCER),
        # a 4x4 map holds fewer: one gate conv does x * g + shortcut and the Relu
        (1, 1, 4, GateForm.CONV_SUM),
    ],
)
def test_a_map_written_by_a_linear_1x1_conv_is_squeezed_before_it(
    tmp_path: Path, batch: int, groups: int, size: int, form: GateForm
) -> None:
    """mean(W y + b) = W mean(y) + b: the pool reads the conv's input (a quarter of the
    channels) through a first FC that absorbed the conv; outputs within 1e-5 of their range."""
    model = se_bottleneck(batch, groups, blocks=2, size=size)
    gates, reference, built = build_graph(model, tmp_path)
    assert [block["form"] for block in gates["blocks"]] == [form, form]
    assert gates["blocks"][0]["squeeze_input"] == "Relu_5_out"  # the 3x3 conv's output
    assert np.abs(built - reference).max() <= 1e-5 * max(1.0, np.abs(reference).max())
    ops = Counter(n.op_type for n in onnx.load(tmp_path / BUILT).graph.node)
    if form is GateForm.PRODUCER:
        assert ops["Mul"] == 2 * 2  # W * g and b * g: no multiply over the map
    if form is GateForm.PRODUCER and groups == 1:
        assert ops["Add"] == ops["Relu"] == 0  # the merge is the producing NchwcConv's
    if form is GateForm.CONV_SUM:
        assert ops["Mul"] == ops["Add"] == ops["Relu"] == 0  # all inside the gate conv


def test_a_linear_nchwc_producer_before_a_concat_takes_the_gate_in_its_weights(
    tmp_path: Path,
) -> None:
    """conv3 dense (NCHWc in ORT) and its SE map concatenated with the shortcut: W * g and
    b * g are the only multiplies left, whatever layout ORT gives the Concat."""
    gates, reference, built = build_graph(se_bottleneck(concat=True), tmp_path)
    assert [block["form"] for block in gates["blocks"]] == [GateForm.PRODUCER]
    assert np.abs(built - reference).max() <= 1e-5 * max(1.0, np.abs(reference).max())
    ops = Counter(n.op_type for n in onnx.load(tmp_path / BUILT).graph.node)
    assert ops["Mul"] == 2 and ops["Concat"] == 1


def se_before_dense_conv(
    size: int,
    kernel: int,
    out_channels: int,
    squeezed: int = 12,
    nchw_map: bool = False,
    expanded: int = 48,
) -> onnx.ModelProto:
    """MobileNetV2's SE position: expand 1x1 -> depthwise 3x3 -> SE on the expanded map -> a
    dense conv reading it (the 1x1 projection, or a 3x3 conv), on a `size` x `size` map;
    `nchw_map` ends the depthwise stage in a Div (Paddle2ONNX's decomposed HardSwish), which ORT
    runs in NCHW."""
    g = GraphBuilder(seed=4)
    channels = 16
    x = g.op("Relu", [g.op("Conv", ["x", g.weight(channels, 3, 3, 3, scale=0.3)], pads=[1] * 4)])
    y = g.op("Relu", [g.op("Conv", [x, g.weight(expanded, channels, 1, 1, scale=0.3)])])
    dw = [y, g.weight(expanded, 1, 3, 3, scale=0.3), g.weight(expanded)]
    y = g.op("Relu", [g.op("Conv", dw, group=expanded, pads=[1] * 4)])
    y = g.op("Div", [y, g.const(np.float32(6.0))]) if nchw_map else y
    pooled = g.op("GlobalAveragePool", [y])
    fc1 = g.op("Conv", [pooled, g.weight(squeezed, expanded, 1, 1), g.weight(squeezed)])
    fc2 = g.op(
        "Conv", [g.op("Relu", [fc1]), g.weight(expanded, squeezed, 1, 1), g.weight(expanded)]
    )
    scaled = g.op("Mul", [y, g.op("Sigmoid", [fc2])])
    reader = [scaled, g.weight(out_channels, expanded, kernel, kernel, scale=0.2)]
    z = g.op("Conv", [*reader, g.weight(out_channels)], pads=[kernel // 2] * 4)
    head = g.op("Flatten", [g.op("GlobalAveragePool", [z])])
    logits = g.op("Gemm", [head, g.weight(10, out_channels), g.weight(10)], transB=1)
    return g.model({"x": [1, 3, size, size]}, [logits])


@pytest.mark.parametrize(
    ("size", "kernel", "out_channels", "form"),
    [
        (32, 1, 16, GateForm.INPUT_WEIGHTS),  # 48x32x32 map, 16x48 projection weights
        (32, 3, 16, GateForm.INPUT_WEIGHTS),  # a 3x3 reader: 16x48x9 weights, 7x fewer
        (8, 1, 32, GateForm.CONV),  # 48x8x8 map, 32x48 weights: under 4x, the gate conv
    ],
)
def test_a_dense_conv_reader_takes_the_gate_in_its_weights_where_the_map_is_larger(
    tmp_path: Path, size: int, kernel: int, out_channels: int, form: GateForm
) -> None:
    """conv(x * g) = conv'(x), W'[o, i] = W[o, i] * g[i] on ORT's blocked OIHWBiBo weight, chosen
    where the map has 4x more elements than the weights; else the depthwise 1x1 gate conv."""
    gates, reference, built = build_graph(
        se_before_dense_conv(size, kernel, out_channels), tmp_path
    )
    assert [block["form"] for block in gates["blocks"]] == [form]
    assert np.abs(built - reference).max() <= 1e-5 * max(1.0, np.abs(reference).max())
    ops = Counter(n.op_type for n in onnx.load(tmp_path / BUILT).graph.node)
    assert ops["ReorderInput"] == 0  # the map never leaves the layout
    weights = form is GateForm.INPUT_WEIGHTS
    assert ops["MatMul"] == ops["Mul"] == weights  # the gate widened to the lanes, W * g


@pytest.mark.parametrize("expanded", [48, 44])
def test_a_gate_orts_nchw_fc_computes_is_the_nchwc_gate(tmp_path: Path, expanded: int) -> None:
    """18 squeezed channels (more than a block, no multiple of 4): ORT runs the second FC in
    NCHW, so the gate reaches the Mul without a reorder (MobileNetV2's 9 at block 8). On 48
    channels its (1, 48, 1, 1) bytes are the NCHWc gate's; on 44 (no multiple of 8 or 16: a
    Paddle model's 88 and 200 at block 16) a Concat of zeros pads it to the blocked width. The
    weight form applies either way."""
    model = se_before_dense_conv(32, 1, 16, squeezed=18, expanded=expanded)
    gates, reference, built = build_graph(model, tmp_path)
    assert [block["form"] for block in gates["blocks"]] == [GateForm.INPUT_WEIGHTS]
    assert np.abs(built - reference).max() <= 1e-5 * max(1.0, np.abs(reference).max())
    nodes = onnx.load(tmp_path / BUILT).graph.node
    gate = next(node for node in nodes if attribute(node, "activation") == "Sigmoid")
    assert gate.domain != NCHWC_DOMAIN and not [n for n in nodes if n.op_type == "ReorderInput"]
    pads = [node for node in nodes if node.op_type == "Concat"]
    assert len(pads) == (expanded % 8 != 0) and all(gate.output[0] in n.input for n in pads)


@pytest.mark.parametrize(("size", "form"), [(32, GateForm.INPUT_WEIGHTS), (4, GateForm.KEPT)])
def test_a_map_ort_computes_in_nchw_is_reordered_itself_for_the_weight_form(
    tmp_path: Path, size: int, form: GateForm
) -> None:
    """The map comes from an NCHW op (a Div) and one ReorderInput feeds the projection: the
    ReorderInput now reads the map itself and the projection takes the gate in its weights,
    so no NCHW Mul is left; a map under 4x the weights keeps ORT's Mul (nothing to save)."""
    model = se_before_dense_conv(size, 1, 16, nchw_map=True)
    gates, reference, built = build_graph(model, tmp_path)
    (block,) = gates["blocks"]
    assert block["form"] == form, block
    assert np.abs(built - reference).max() <= 1e-5 * max(1.0, np.abs(reference).max())
    nodes = onnx.load(tmp_path / BUILT).graph.node
    divided = next(node for node in nodes if node.op_type == "Div").output[0]
    reordered = {node.input[0] for node in nodes if node.op_type == "ReorderInput"}
    muls = [node for node in nodes if node.op_type == "Mul"]
    assert (divided in reordered) == (form is GateForm.INPUT_WEIGHTS)
    assert len(muls) == 1 and (divided in muls[0].input) == (form is GateForm.KEPT)


def test_a_conv_followed_by_an_activation_keeps_its_squeeze() -> None:
    """Only a linear 1x1 conv commutes with the mean: a Relu after it keeps the squeeze."""
    from se_deploy.stages.compile.se_producer import linear_producers

    for linear, found in ((True, 1), (False, 0)):
        model = se_bottleneck(linear=linear)
        assert len(linear_producers(model, find_se_blocks(model))) == found


def test_a_torchvision_style_se_resnet_through_export_and_build(cli, tmp_path: Path) -> None:
    """A user's SE-ResNet (tests/fixtures/se_resnet.py) from `export --module` to the built
    graph: every block's squeeze moves before conv3; in the first stage (maps of >= 4x conv3's
    weights) the gate goes into conv3's weights and the merge into conv3 itself, in the second
    one gate conv does x * g + shortcut and the Relu, identity and projection shortcuts alike:
    no NCHW Mul, Add or Relu is left."""
    from tests.fixtures import se_resnet

    factory = f"{Path(se_resnet.__file__)}:se_resnet"
    done = cli(
        "export", "--module", factory, "--module-arg", "layers=(2, 1)", "--module-arg",
        "width=16", "--module-arg", "num_classes=10", "--shapes", "input:1x3x32x32",
        "--expect-se", "3", "--out", str(tmp_path), "--name", "se_resnet",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    source = tmp_path / "se_resnet" / "fp32" / "model.onnx"
    done = cli("build", "--backend", "ort", "--input", str(source))
    assert done.returncode == 0, done.stderr
    record = json.loads((source.parent / CPU_BUILD_MANIFEST).read_text())["ort"]
    blocks = record["optimized_model"]["se_gates"]["blocks"]
    assert [b["form"] for b in blocks] == [GateForm.PRODUCER] * 2 + [GateForm.CONV_SUM]
    ops = Counter(n.op_type for n in onnx.load(source.parent / BUILT).graph.node)
    assert ops["Mul"] == 2 * 2 and ops["Add"] == ops["Relu"] == 0  # W * g, b * g per producer
    assert all(b["squeeze_input"].endswith("Relu_output_0") for b in blocks)  # conv2's output
    assert record["verification"]["results"][0]["passed"]
    feed = np.random.default_rng(2).standard_normal((1, 3, 32, 32)).astype(np.float32)
    reference = run(source, feed)
    assert np.abs(run(source.parent / BUILT, feed) - reference).max() <= 1e-5 * max(
        1.0, np.abs(reference).max()
    )


def _head_form(channels: int) -> GateForm:
    """The form the head conv (4 outputs, 1x1) reading an se_forms map takes by the rule of
    nchwc_se: its weights where the padded map holds MAP_PER_WEIGHT x the padded weights."""
    block = nchwc_block_size()
    padded = -(-channels // block) * block
    weights = block * padded  # 4 output channels pad to one block
    fits = MAP_PER_WEIGHT * weights <= padded * se_forms.H * se_forms.W
    return GateForm.INPUT_WEIGHTS if fits else GateForm.CONV


def _export_and_build_form(form: str, folder: Path) -> tuple[onnx.ModelProto, Path, dict]:
    model = se_forms.FORMS[form]()
    onnx.save(model, folder / f"{form}.onnx")
    dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    shapes = f"{model.graph.input[0].name}:{'x'.join(map(str, dims))}"
    export_model(ExportConfig(onnx=folder / f"{form}.onnx", shapes=shapes, out=folder))
    source = folder / form / "fp32" / "model.onnx"
    manifest = build_artifact(resolve_source(source, None, "fp32"), BuildConfig("ort")).manifest
    return model, source.parent / BUILT, manifest["ort"]["optimized_model"]


def _assert_same_outputs(model: onnx.ModelProto, source: Path, built: Path) -> None:
    feed = se_forms.feeds(model)
    reference = open_session(str(source)).run(None, feed)[0]
    disabled = RunnerOptions(graph_optimization="disabled")
    output = open_session(str(built), disabled).run(None, feed)[0]
    assert np.abs(output - reference).max() <= 1e-5 * max(1.0, np.abs(reference).max())


@pytest.mark.parametrize("form", sorted(se_forms.FORMS))
def test_other_exporters_se_forms_take_a_gate_form_after_export(
    form: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Paddle2ONNX, tf2onnx (NHWC), dynamo, EfficientNet and the other forms of
    tests/se_forms.py through `export --onnx` (which canonicalizes them) and `build`: the gate
    goes inside the layout and the outputs keep. 48 channels: at 8 (the module's width) ORT
    runs the reading conv on its NCHW input, so there is no layout to keep the map in."""
    monkeypatch.setattr(se_forms, "C", 48)
    monkeypatch.setattr(se_forms, "R", 12)
    model, built, optimized = _export_and_build_form(form, tmp_path)
    (block,) = optimized["se_gates"]["blocks"]
    assert block["form"] == _head_form(48), block  # block 16: 16x48 weights > map / 4
    _assert_same_outputs(model, tmp_path / f"{form}.onnx", built)


def test_a_pool_of_channels_no_multiple_of_the_block_moves_into_nchwc(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """20 channels, no multiple of 8 or 16: ORT pools such a map in NCHW between reorders
    (MobileNetV3's 72 and 120 at block 16); the pass pools the padded blocked map instead."""
    monkeypatch.setattr(se_forms, "C", 20)
    monkeypatch.setattr(se_forms, "R", 8)
    model, built, optimized = _export_and_build_form("efficientnet_silu", tmp_path)
    (block,) = optimized["se_gates"]["blocks"]
    assert block["pool"] == "moved into NCHWc" and block["form"] == _head_form(20), block
    assert "GlobalAveragePool" not in optimized["ops"]
    _assert_same_outputs(model, tmp_path / "efficientnet_silu.onnx", built)


def test_int8_gates_become_unit_weight_qlinear_convs(tmp_path: Path) -> None:
    """INT8 (u8s8, ORT's NHWC QLinear graph): each QLinearMul gate becomes a depthwise 1x1
    QLinearConv with int8 weights 1 and the dequantized gate as its per-channel weight scale,
    QLinearMul's arithmetic in MLAS's symmetric depthwise kernel."""
    from se_deploy.stages.quantize import QuantConfig, quantize_artifact

    folder = tmp_path / "se_mobilenet"
    folder.mkdir()
    onnx.save(tiny_graph("se_mobilenet"), folder / "model.onnx")
    source = resolve_source(folder / "model.onnx", None, "fp32")
    config = QuantConfig(
        "int8", calib="synthetic", calib_size=32, verify_size=32, enforce_check=False
    )
    quantized = quantize_artifact(source, config, tmp_path / "int8").onnx_path
    int8 = resolve_source(quantized, None, "int8")
    manifest = build_artifact(int8, BuildConfig("ort", graph_opt="all")).manifest["ort"]
    gates = manifest["optimized_model"]["se_gates"]
    forms = Counter(block["form"] for block in gates["blocks"])
    assert forms[GateForm.INT8_SCALE] >= 12 and set(forms) <= {GateForm.INT8_SCALE, GateForm.KEPT}
    ops = manifest["optimized_model"]["ops"]
    assert ops.get("com.microsoft:QLinearMul", 0) == forms[GateForm.KEPT]
    kept = [block["reason"] for block in gates["blocks"] if block["form"] == GateForm.KEPT]
    assert all(reason.startswith("INT8 QLinearMul kept: ") for reason in kept)
    # checked against the INT8 source as INT8 noise is: an element on a rounding tie may land
    # one int8 step away from QLinearMul's
    assert manifest["verification"]["results"][0]["passed"]
