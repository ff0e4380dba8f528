"""`qdq.absorb_clamps` on a hand-built QDQ graph (which Relu/Clip nodes go, which stay, and that
the shortened graph computes what the quantized graph did, to one quantization step) and on the
u8 QDQ graph of every registered model."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

from se_deploy.core.onnx.qdq import absorb_clamps, strip_qdq
from se_deploy.core.onnx.se_pattern import find_se_blocks
from se_deploy.data.calibration import BatchReader
from se_deploy.models import list_models
from se_deploy.stages.quantize.se_exclusion import se_node_names
from tests.conftest import TINY_SIZE
from tests.export_support import tiny_graph

SCALE = 0.05


def _relu_between_qdq(
    zero_point: np.ndarray, readers: int = 2, clip: tuple[float, float] | None = None
) -> onnx.ModelProto:
    """x -> Conv -> Q1 -> DQ1 -> Relu (or Clip(low, high)) -> Q2 -> DQ2 -> `readers` Identity
    outputs: the shape a Relu before an SE block has (the pool and the Mul both read it)."""
    rng = np.random.default_rng(0)
    initializers = [
        numpy_helper.from_array(rng.standard_normal((4, 3, 1, 1)).astype(np.float32), "w"),
        numpy_helper.from_array(np.float32(SCALE), "s1"),
        numpy_helper.from_array(np.array(128, np.uint8), "z1"),
        numpy_helper.from_array(np.float32(SCALE), "s2"),
        numpy_helper.from_array(zero_point, "z2"),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["conv"], name="conv"),
        helper.make_node("QuantizeLinear", ["conv", "s1", "z1"], ["q1"], name="q1"),
        helper.make_node("DequantizeLinear", ["q1", "s1", "z1"], ["dq1"], name="dq1"),
        helper.make_node("Clip", ["dq1", "low", "high"], ["relu"], name="relu")
        if clip
        else helper.make_node("Relu", ["dq1"], ["relu"], name="relu"),
        helper.make_node("QuantizeLinear", ["relu", "s2", "z2"], ["q2"], name="q2"),
        helper.make_node("DequantizeLinear", ["q2", "s2", "z2"], ["dq2"], name="dq2"),
    ]
    if clip:
        initializers += [
            numpy_helper.from_array(np.float32(clip[0]), "low"),
            numpy_helper.from_array(np.float32(clip[1]), "high"),
        ]
    outputs = []
    for index in range(readers):
        nodes.append(helper.make_node("Identity", ["dq2"], [f"y{index}"], name=f"read{index}"))
        outputs.append(helper.make_tensor_value_info(f"y{index}", TensorProto.FLOAT, [1, 4, 4, 4]))
    graph = helper.make_graph(
        nodes,
        "relu_qdq",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 4])],
        outputs,
        initializers,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _run(model: onnx.ModelProto, x: np.ndarray) -> list[np.ndarray]:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})


@pytest.mark.parametrize("clip", [None, (0.0, 6.0 * 255 * SCALE)])  # Relu; Clip wider than Q2
def test_a_clamp_before_two_readers_folds_into_the_next_quantize(clip) -> None:
    model = _relu_between_qdq(np.array(0, np.uint8), clip=clip)
    absorbed, count = absorb_clamps(model)
    assert count == 1
    assert [node.op_type for node in absorbed.graph.node] == [
        "Conv",
        "QuantizeLinear",
        "DequantizeLinear",
        "Identity",
        "Identity",
    ]
    onnx.checker.check_model(absorbed, full_check=True)
    x = np.random.default_rng(1).standard_normal((1, 3, 4, 4)).astype(np.float32)
    before, after = _run(model, x), _run(absorbed, x)
    assert (after[0] >= 0).all() and (before[0] < SCALE / 2).any()  # negatives clamp to 0
    assert np.abs(after[0] - before[0]).max() <= SCALE + 1e-6  # one step: a rounding less
    assert np.array_equal(after[0], after[1])
    assert len(model.graph.node) == 8  # the input model is not changed


@pytest.mark.parametrize(
    "zero_point, keep, clip",
    [
        (np.array(3, np.uint8), (), None),  # Q2 does not clamp at 0: the Relu still matters
        (np.array(-128, np.int8), ("relu",), None),  # asked to keep it (an SE block's own Relu)
        (np.array(0, np.int8), (), None),  # int8 zero point 0 is not the type's minimum
        (np.array(0, np.uint8), (), (0.0, 6.0)),
    ],  # Clip's 6 is inside Q2's range (0..12.75)
)
def test_clamps_that_still_matter_or_are_kept_stay(
    zero_point: np.ndarray, keep: tuple, clip: tuple | None
) -> None:
    model = _relu_between_qdq(zero_point, clip=clip)
    absorbed, count = absorb_clamps(model, keep=keep)
    assert count == 0
    assert len(absorbed.graph.node) == len(model.graph.node)


@pytest.mark.parametrize("name", list_models())
def test_absorbing_clamps_keeps_every_registered_model_close_and_its_se_blocks(
    name: str, tmp_path
) -> None:
    """u8 QDQ of each tiny model as ORT's quantizer writes it (activations kept), against the
    same graph with its clamps absorbed: the SE blocks stay and the outputs agree to rounding."""
    graph = tiny_graph(name)
    blocks = find_se_blocks(graph)
    source, quantized = tmp_path / "float.onnx", tmp_path / "qdq.onnx"
    onnx.save(graph, source)
    rng = np.random.default_rng(0)
    images = [rng.standard_normal((1, 3, TINY_SIZE, TINY_SIZE), np.float32) for _ in range(8)]
    reader = BatchReader("input", lambda: iter(images))
    quantize_static(
        str(source),
        str(quantized),
        reader,
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        extra_options={"QDQKeepRemovableActivations": True},
    )
    qdq = onnx.load(quantized)
    absorbed, count = absorb_clamps(qdq, keep=set(se_node_names(blocks)))
    assert count > 0
    assert len(find_se_blocks(strip_qdq(absorbed))) == len(blocks)
    for image in images[:3]:
        before = ort.InferenceSession(qdq.SerializeToString()).run(None, {"input": image})[0]
        after = ort.InferenceSession(absorbed.SerializeToString()).run(None, {"input": image})[0]
        cosine = float((before * after).sum() / np.linalg.norm(before) / np.linalg.norm(after))
        assert cosine > 0.99, cosine
