"""The Resize gate form (`se-deploy export --se-gate resize`): exact on every SE model, still
found by the SE finder, and it keeps the SE Mul inside ORT's NCHWc layout."""

from __future__ import annotations

import collections
import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from se_deploy.core.errors import SeDeployError
from se_deploy.core.onnx.se_pattern import find_se_blocks
from se_deploy.models import get_spec, list_models
from se_deploy.stages.export import ExportConfig
from se_deploy.stages.export.passes import collapse_se_gates, expand_se_gates
from tests.conftest import TINY_SIZE
from tests.export_graphs import assert_same_outputs
from tests.export_support import tiny_graph

SE_MODELS = [name for name in list_models() if get_spec(name).se_blocks]


@pytest.mark.parametrize("name", SE_MODELS)
def test_resize_gate_form_is_exact_and_found_on_every_se_model(name: str) -> None:
    plain = tiny_graph(name)
    resized = tiny_graph(name, se_gate="resize")
    blocks = find_se_blocks(resized)
    assert len(blocks) == len(find_se_blocks(plain)) == get_spec(name).se_blocks
    assert all(block.expanded and len(block.nodes) == 7 for block in blocks)
    assert collections.Counter(node.op_type for node in resized.graph.node)["Resize"] == len(blocks)
    image = np.random.default_rng(0).standard_normal((1, 3, TINY_SIZE, TINY_SIZE), np.float32)
    assert_same_outputs(plain, resized, {"input": image})
    again = expand_se_gates(resized)  # already expanded blocks are left alone
    assert len(again.graph.node) == len(resized.graph.node)


def _layout_ops(model: onnx.ModelProto, tmp_path) -> int:
    """nchwc reorders in the graph ORT actually runs (its saved optimized model)."""
    options = ort.SessionOptions()
    options.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    optimized = onnx.load(tmp_path / "optimized.onnx")
    ops = collections.Counter(node.op_type for node in optimized.graph.node)
    return ops["ReorderInput"] + ops["ReorderOutput"]


def test_resize_form_keeps_the_se_mul_in_nchwc(tmp_path) -> None:
    plain, resized = tiny_graph("se_mobilenet"), tiny_graph("se_mobilenet", se_gate="resize")
    plain_ops, resized_ops = _layout_ops(plain, tmp_path), _layout_ops(resized, tmp_path)
    assert resized_ops < plain_ops / 2, (plain_ops, resized_ops)


def test_cli_export_resize_form_records_it(cli, tmp_path) -> None:
    run = cli(
        "export",
        "--model",
        "se_mobilenet",
        "--width",
        "0.25",
        "--num-classes",
        "10",
        "--input-size",
        str(TINY_SIZE),
        "--small-input",
        "--verify-samples",
        "2",
        "--se-gate",
        "resize",
        "--out",
        str(tmp_path),
    )
    assert run.returncode == 0, run.stderr
    manifest = json.loads((tmp_path / "se_mobilenet" / "fp32" / "manifest.json").read_text())
    assert manifest["options"]["se_gate"] == "resize"
    assert all(block["expanded"] for block in manifest["se_blocks"]["blocks"])
    assert manifest["passes"][-1]["name"] == "expand_se_gates"
    assert all(result["passed"] for result in manifest["verification"]["results"])


def test_unknown_gate_form_is_refused() -> None:
    with pytest.raises(SeDeployError, match=r"--se-gate 'tile' \(choose broadcast\|resize\)"):
        ExportConfig(model="se_mobilenet", se_gate="tile")


def test_the_finder_takes_only_a_nearest_resize_to_the_block_size() -> None:
    resized = tiny_graph("se_mobilenet", se_gate="resize")
    first = next(node for node in resized.graph.node if node.op_type == "Resize")
    for attr in first.attribute:
        if attr.name == "mode":
            attr.s = b"linear"
    assert len(find_se_blocks(resized)) == get_spec("se_mobilenet").se_blocks - 1


def test_collapse_undoes_the_resize_form() -> None:
    plain = tiny_graph("se_mobilenet")
    collapsed, count = collapse_se_gates(tiny_graph("se_mobilenet", se_gate="resize"))
    assert count == get_spec("se_mobilenet").se_blocks
    ops = collections.Counter(node.op_type for node in collapsed.graph.node)
    assert ops == collections.Counter(node.op_type for node in plain.graph.node)
    assert not any(block.expanded for block in find_se_blocks(collapsed))
    image = np.random.default_rng(1).standard_normal((1, 3, TINY_SIZE, TINY_SIZE), np.float32)
    assert_same_outputs(plain, collapsed, {"input": image})
    assert collapse_se_gates(plain)[1] == 0
