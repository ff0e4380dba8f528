"""`se-deploy inspect`: the facts of any ONNX file (an export, a QDQ / QOperator int8 file, an
ORT-optimized build, another exporter's SE form), as tables and as one JSON object, and bad
files as one line with exit 2."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnxruntime.quantization import (
    CalibrationDataReader,
    QuantFormat,
    QuantType,
    quantize_static,
)

from se_deploy.cli import main
from se_deploy.core.onnx.facts import graph_facts
from se_deploy.stages.export import ExportConfig, export_model
from tests import se_forms
from tests.conftest import TINY_SIZE

SHAPE = (1, 3, TINY_SIZE, TINY_SIZE)
KEYS = {
    "file",
    "producer",
    "ir_version",
    "opsets",
    "inputs",
    "outputs",
    "nodes",
    "ops",
    "precision",
    "macs",
    "macs_unknown_at",
    "macs_by_op",
    "macs_not_counted_ops",
    "params",
    "se_blocks",
    "se_misses",
    "quantization",
}


class _Reader(CalibrationDataReader):
    def __init__(self) -> None:
        rng = np.random.default_rng(0)
        self.batches = iter([{"input": rng.standard_normal(SHAPE, np.float32)} for _ in range(4)])

    def get_next(self) -> dict | None:
        return next(self.batches, None)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The zoo's SE MobileNet (tiny) as fp32, QDQ int8, QOperator int8 and ORT-optimized."""
    root = tmp_path_factory.mktemp("inspect")
    config = ExportConfig(
        model="se_mobilenet",
        width=0.25,
        num_classes=10,
        input_size=TINY_SIZE,
        out=root,
        dynamic_batch=True,
        verify_samples=2,
    )
    export_model(config)
    fp32 = root / "se_mobilenet" / "fp32" / "model.onnx"
    made = {"fp32": fp32}
    for name, form in (("qdq", QuantFormat.QDQ), ("qoperator", QuantFormat.QOperator)):
        made[name] = root / f"{name}.onnx"
        quantize_static(
            str(fp32),
            str(made[name]),
            _Reader(),
            quant_format=form,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            # as the quantize stage does: ORT would otherwise drop the Relu inside each SE block
            extra_options={"QDQKeepRemovableActivations": True},
        )
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.optimized_model_filepath = str(root / "model.ort-all.onnx")
    ort.InferenceSession(str(fp32), options, providers=["CPUExecutionProvider"])
    made["built"] = root / "model.ort-all.onnx"
    made["paddle"] = root / "paddle.onnx"
    onnx.save(se_forms.paddle2onnx(), str(made["paddle"]))
    return made


def inspect(args: list[str], monkeypatch: pytest.MonkeyPatch, capsys) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["se-deploy", "inspect", *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out, captured.err


def as_json(path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> dict:
    code, out, err = inspect([str(path), "--json"], monkeypatch, capsys)
    assert code == 0, err
    return json.loads(out)


def test_zoo_export_facts_and_json_schema(files, monkeypatch, capsys) -> None:
    facts = as_json(files["fp32"], monkeypatch, capsys)
    assert set(facts) == KEYS
    assert facts["inputs"] == [
        {"name": "input", "dtype": "float", "shape": ["batch", 3, TINY_SIZE, TINY_SIZE]}
    ]
    assert facts["outputs"] == [{"name": "logits", "dtype": "float", "shape": ["batch", 10]}]
    assert facts["opsets"] == {"ai.onnx": 17}
    assert facts["producer"].startswith("pytorch")
    model = onnx.load(str(files["fp32"]))
    assert facts["nodes"] == len(model.graph.node) == sum(facts["ops"].values())
    expected = graph_facts(model)
    assert (facts["macs"], facts["params"]) == (expected.macs, expected.params)
    assert facts["precision"] == "fp32" and facts["quantization"] is None
    blocks = facts["se_blocks"]
    assert len(blocks) == 13  # one per depthwise-separable block of SE-MobileNet v1
    first = blocks[0]
    assert (first["gate"], first["squeeze"], first["canonical"]) == ("sigmoid", "avg", True)
    assert first["channels"] / first["reduced_channels"] == pytest.approx(first["reduction"])
    assert all(name in {n.name for n in model.graph.node} for name in first["nodes"])
    # the head's pool starts no SE block, and says why
    assert any("/head/" in miss and "graph output" in miss for miss in facts["se_misses"])


def test_tables_fit_80_columns_and_markdown(files, monkeypatch, capsys) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    code, out, _ = inspect([str(files["fp32"])], monkeypatch, capsys)
    assert code == 0
    assert max(len(line) for line in out.splitlines()) <= 80
    for text in ("MACs", "SE blocks", "batchx3x32x32", "GlobalAveragePool", "sigmoid"):
        assert text in out
    code, out, _ = inspect([str(files["fp32"]), "--format", "md"], monkeypatch, capsys)
    assert code == 0 and "| op | count |" in out


def test_int8_files_report_their_quantization(files, monkeypatch, capsys) -> None:
    fp32 = as_json(files["fp32"], monkeypatch, capsys)
    qdq = as_json(files["qdq"], monkeypatch, capsys)
    quant = qdq["quantization"]
    assert qdq["precision"] == "int8"
    assert quant["quantize_nodes"] > 0 and quant["dequantize_nodes"] > quant["quantize_nodes"]
    assert quant["per_channel"] is True
    assert (quant["scheme"], quant["weight_types"]) == ("u8s8", ["INT8"])
    assert quant["int8_ops"]["Conv"] == fp32["ops"]["Conv"]
    assert qdq["macs"] == fp32["macs"]  # the conv behind DequantizeLinear counts once
    # the SE blocks are found through the Q/DQ pairs, the same ones as in the float file
    assert [b["name"] for b in qdq["se_blocks"]] == [b["name"] for b in fp32["se_blocks"]]
    qop = as_json(files["qoperator"], monkeypatch, capsys)["quantization"]
    assert qop["qoperator_ops"]["QLinearConv"] == fp32["ops"]["Conv"]
    assert qop["per_channel"] is True


def test_an_ort_built_artifact(files, monkeypatch, capsys) -> None:
    facts = as_json(files["built"], monkeypatch, capsys)
    assert "com.microsoft" in facts["opsets"]
    contrib = [op for op in facts["macs_not_counted_ops"] if op.startswith("com.microsoft")]
    assert any(op.endswith("Conv") for op in contrib)  # named as not counted, not dropped
    assert facts["ops"][contrib[0]] == facts["macs_not_counted_ops"][contrib[0]]
    code, out, _ = inspect([str(files["built"])], monkeypatch, capsys)
    assert code == 0 and "MACs not counted" in out


def test_another_exporters_se_form(files, monkeypatch, capsys) -> None:
    facts = as_json(files["paddle"], monkeypatch, capsys)
    (block,) = facts["se_blocks"]
    assert (block["channels"], block["reduced_channels"]) == (se_forms.C, se_forms.R)
    assert (block["gate"], block["canonical"]) == ("hard_sigmoid", False)
    assert (block["gate_alpha"], block["gate_beta"]) == (0.2, 0.5)
    assert facts["opsets"] == {"ai.onnx": 11}
    assert facts["inputs"][0]["shape"] == [1, 3, se_forms.H, se_forms.W]


@pytest.mark.parametrize("form", sorted(se_forms.FORMS))
def test_every_exporter_form_shows_its_block_raw(form: str, tmp_path, monkeypatch, capsys) -> None:
    """A file as the other exporter wrote it (no export passes run): dynamo's arithmetic
    hard-sigmoid gate and the Expand-ed HardSwish-middle gate included."""
    path = tmp_path / f"{form}.onnx"
    onnx.save(se_forms.FORMS[form](), path)
    (block,) = as_json(path, monkeypatch, capsys)["se_blocks"]
    assert (block["channels"], block["reduced_channels"]) == (se_forms.C, se_forms.R)


@pytest.mark.parametrize("kind", ["missing", "directory", "text", "truncated", "empty"])
def test_bad_inputs_are_one_line_exit_2(kind, files, tmp_path, monkeypatch, capsys) -> None:
    path = tmp_path / "bad.onnx"
    if kind == "directory":
        path = tmp_path
    elif kind == "text":
        path.write_text("not a model\n")
    elif kind == "truncated":
        path.write_bytes(files["fp32"].read_bytes()[:500])
    elif kind == "empty":
        path.write_bytes(b"")
    code, out, err = inspect([str(path)], monkeypatch, capsys)
    assert code == 2 and out == ""
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("se-deploy: error: "), err
    assert "Traceback" not in err


def test_symbolic_dims_give_unknown_macs_until_shapes_pin_them(
    tmp_path, monkeypatch, capsys
) -> None:
    model = se_forms.paddle2onnx()
    dims = model.graph.input[0].type.tensor_type.shape.dim
    dims[2].dim_param, dims[3].dim_param = "H", "W"
    path = tmp_path / "dynamic.onnx"
    onnx.save(model, str(path))
    assert as_json(path, monkeypatch, capsys)["macs"] is None
    code, out, err = inspect([str(path), "--json", "--shapes", "x:1x3x6x10"], monkeypatch, capsys)
    assert code == 0, err
    assert json.loads(out)["macs"] == graph_facts(se_forms.paddle2onnx()).macs > 0
