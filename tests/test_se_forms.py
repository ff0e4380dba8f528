"""Every SE form of tests/se_forms.py: found, canonicalized, same outputs under unoptimized ORT."""

from __future__ import annotations

import pytest

from se_deploy.core.onnx.graph import GraphIndex, model_opset
from se_deploy.core.onnx.se_pattern import explain_se_misses, find_se_blocks, scan_se
from se_deploy.core.spec import Gate
from se_deploy.stages.export.passes import export_passes, run_passes
from se_deploy.stages.export.passes.se_canonical import canonicalize_se
from tests import se_forms
from tests.export_graphs import assert_same_outputs, ops

EXPECTED = {  # form: (activation between the FCs, gate, HardSigmoid alpha)
    "paddle2onnx": ("Relu", Gate.HARD_SIGMOID, 0.2),
    "tf2onnx_nhwc": ("SiLU", Gate.SIGMOID, None),
    "dynamo_style": ("SiLU", Gate.HARD_SIGMOID, 0.1666667),
    "efficientnet_silu": ("SiLU", Gate.SIGMOID, None),
    "hard_swish_middle": ("HardSwish", Gate.HARD_SIGMOID, 0.1666667),
    "relu6_middle": ("Clip", Gate.TANH, None),
}


@pytest.mark.parametrize("form", sorted(se_forms.FORMS))
def test_form_is_found_canonicalized_and_exact(form):
    model = se_forms.FORMS[form]()
    matches, _ = scan_se(GraphIndex(model, with_shapes=True), strict=False)
    assert len(matches) == 1 or form in ("dynamo_style", "hard_swish_middle")  # gate fused first
    rewritten, _ = run_passes(model, export_passes())
    blocks = find_se_blocks(rewritten)
    assert len(blocks) == 1, explain_se_misses(rewritten)
    block = blocks[0]
    activation, gate, alpha = EXPECTED[form]
    assert (block.channels, block.reduced_channels) == (se_forms.C, se_forms.R)
    assert (block.activation, block.gate, block.gate_alpha) == (activation, gate, alpha)
    assert model_opset(rewritten) == model_opset(model)
    assert_same_outputs(model, rewritten, se_forms.feeds(model))


def test_paddle_gate_keeps_its_own_alpha_and_beta():
    rewritten, _ = run_passes(se_forms.paddle2onnx(), export_passes())
    (block,) = find_se_blocks(rewritten)
    assert (block.gate_alpha, block.gate_beta) == (0.2, 0.5)
    assert "BatchNormalization" not in ops(rewritten)  # folded into its conv


def test_nhwc_block_is_canonical_between_transposes():
    model = se_forms.tf2onnx_nhwc()
    rewritten = canonicalize_se(model)
    assert ops(rewritten).count("Transpose") == 4  # the exporter's two and the block's two
    assert "ReduceMean" not in ops(rewritten) and "MatMul" not in ops(rewritten)
    assert len(find_se_blocks(rewritten)) == 1
    assert_same_outputs(model, rewritten, se_forms.feeds(model))


def test_opset_11_keeps_hard_sigmoid_and_mul_instead_of_hard_swish():
    """A pass never emits an op the model's opset lacks: HardSwish needs 14."""
    g = se_forms.GraphBuilder(opset=11)
    x = g.op("Conv", ["x", g.weight(4, 3, 1, 1)])
    y = g.op("Mul", [x, g.op("HardSigmoid", [x], alpha=1 / 6, beta=0.5)])
    model = g.model({"x": [1, 3, 4, 4]}, [y])
    rewritten, records = run_passes(model, export_passes())
    assert "HardSwish" not in ops(rewritten)
    (skipped,) = [r for r in records if r.name == "fuse_hard_swish"]
    assert skipped.skipped and "opset 11" in skipped.skipped
    assert_same_outputs(model, rewritten, {"x": se_forms.feeds(model)["x"]})


def test_misaligned_gate_is_a_miss_with_its_reason():
    model = se_forms.misaligned_gate()
    rewritten = canonicalize_se(model)
    assert find_se_blocks(rewritten) == []
    _, misses = scan_se(GraphIndex(model, with_shapes=True), strict=False)
    assert len(misses) == 1
    assert "does not rescale x's channels" in misses[0].reason
    assert_same_outputs(model, rewritten, se_forms.feeds(model))
