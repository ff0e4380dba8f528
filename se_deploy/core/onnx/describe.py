"""What `se-deploy inspect` reports about any ONNX file, without torch or a runtime: its inputs
and outputs, opsets, producer, op histogram, MACs and params, SE blocks (any accepted form) with
the misses explained, and for quantized files how they are quantized.

One plain dict, so `--json` and the tables print the same facts; the SE finder, the MAC counter
and the QDQ summary are the ones every stage uses, not copies.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import onnx

from se_deploy.core.console import TableFormat, print_json, print_table
from se_deploy.core.errors import SeDeployError
from se_deploy.core.onnx.facts import graph_facts
from se_deploy.core.onnx.graph import GraphIndex, attribute, load_model
from se_deploy.core.onnx.qdq import DEQUANTIZE, QUANTIZE, has_qdq, qdq_summary, strip_qdq
from se_deploy.core.onnx.se_pattern import survey_se
from se_deploy.core.shapes import InputShapes, graph_inputs

_SCHEME_CODES = {"INT8": "s8", "UINT8": "u8", "INT16": "s16", "UINT16": "u16", "INT4": "s4"}


def describe_file(path: str | Path, shapes: InputShapes | None = None) -> dict[str, Any]:
    """The facts of the ONNX file at `path` (a bad path or file is a one-line error)."""
    file = Path(path)
    if file.is_dir():
        raise SeDeployError(f"'{file}' is a directory; pass the .onnx file inside it")
    if not file.is_file():
        raise SeDeployError(f"no file at '{file}'; pass an existing .onnx file")
    return describe_model(load_model(file, load_external_data=False), str(file), shapes)


def describe_model(
    model: onnx.ModelProto, name: str = "", shapes: InputShapes | None = None
) -> dict[str, Any]:
    facts = graph_facts(model, dict(shapes.dims) if shapes else None)
    quantized = facts.precision == "int8"
    blocks, misses = survey_se(strip_qdq(model) if has_qdq(model) else model)
    foreign = Counter(
        _op_name(node) for node in model.graph.node if node.domain not in ("", "ai.onnx")
    )
    return {
        "file": name,
        "producer": " ".join(p for p in (model.producer_name, model.producer_version) if p),
        "ir_version": model.ir_version,
        "opsets": {entry.domain or "ai.onnx": entry.version for entry in model.opset_import},
        "inputs": [_value(v) for v in graph_inputs(model)],
        "outputs": [_value(v) for v in model.graph.output],
        "nodes": len(model.graph.node),
        "ops": dict(Counter(_op_name(node) for node in model.graph.node).most_common()),
        "precision": facts.precision,
        "macs": facts.macs,
        "macs_unknown_at": list(facts.unknown),
        "macs_by_op": facts.macs_by_op,
        "macs_not_counted_ops": dict(sorted(foreign.items())),
        "params": facts.params,
        "se_blocks": [{**block.to_dict(), "canonical": canonical} for block, canonical in blocks],
        "se_misses": misses,
        "quantization": quantization(model) if quantized else None,
    }


def quantization(model: onnx.ModelProto) -> dict[str, Any]:
    """Q/DQ counts, QOperator ops, per-channel weights and the activation/weight types."""
    index = GraphIndex(model)
    activation_types: set[str] = set()
    weight_types: set[str] = set()
    per_channel = False
    for node in model.graph.node:
        if node.op_type == QUANTIZE and len(node.input) > 2 and node.input[2]:
            zero_point = index.initializers.get(node.input[2])
            if zero_point is not None:
                activation_types.add(onnx.TensorProto.DataType.Name(zero_point.data_type))
        if node.op_type == DEQUANTIZE and node.input[0] in index.initializers:
            weight = index.initializers[node.input[0]]
            type_name = onnx.TensorProto.DataType.Name(weight.data_type)
            if type_name != "INT32":  # an int32 DQ input is a bias, not a weight
                weight_types.add(type_name)
            scale = index.constant(node.input[1])
            per_channel |= scale is not None and scale.size > 1
    qoperators = Counter(node.op_type for node in model.graph.node if _is_qoperator(node.op_type))
    for node in model.graph.node:
        if node.op_type in ("QLinearConv", "QLinearMatMul"):
            scale = index.constant(node.input[4])
            per_channel |= scale is not None and scale.size > 1
    scheme = None
    if len(activation_types) == 1 and len(weight_types) == 1:
        scheme = _SCHEME_CODES.get(next(iter(activation_types)), "?") + _SCHEME_CODES.get(
            next(iter(weight_types)), "?"
        )
    return {
        **qdq_summary(model),
        "qoperator_ops": dict(sorted(qoperators.items())),
        "per_channel": per_channel,
        "activation_types": sorted(activation_types),
        "weight_types": sorted(weight_types),
        "scheme": scheme,
        "block_sizes": sorted(
            {attribute(n, "block_size", 0) for n in model.graph.node if n.op_type == DEQUANTIZE}
            - {0}
        ),
    }


def _op_name(node: onnx.NodeProto) -> str:
    """The op type, prefixed by its domain outside ai.onnx (com.microsoft.nchwc.Conv)."""
    return node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}.{node.op_type}"


def _is_qoperator(op_type: str) -> bool:
    """QLinearConv, QLinearMatMul, ConvInteger, MatMulInteger and ORT's QLinear* contrib ops."""
    return op_type.startswith("QLinear") or op_type.endswith("Integer")


def _value(value: onnx.ValueInfoProto) -> dict[str, Any]:
    tensor = value.type.tensor_type
    shape = None
    if tensor.HasField("shape"):
        shape = [
            d.dim_value if d.HasField("dim_value") else (d.dim_param or "?")
            for d in tensor.shape.dim
        ]
    return {
        "name": value.name,
        "dtype": onnx.TensorProto.DataType.Name(tensor.elem_type).lower(),
        "shape": shape,
    }


def print_description(facts: dict[str, Any], as_json: bool, fmt: TableFormat) -> None:
    """The facts as one JSON object, or as tables readable at 80 columns."""
    if as_json:
        print_json(facts)
        return
    opsets = ", ".join(f"{domain} {version}" for domain, version in facts["opsets"].items())
    macs = facts["macs"]
    summary = [
        {"key": "file", "value": facts["file"]},
        {"key": "producer", "value": facts["producer"] or "-"},
        {"key": "opsets", "value": opsets},
        {"key": "precision", "value": facts["precision"]},
        {"key": "nodes", "value": facts["nodes"]},
        {
            "key": "MACs",
            "value": f"{macs:,}"
            if macs is not None
            else f"unknown (shapes unknown at {', '.join(facts['macs_unknown_at'][:3])}; "
            "pin them with --shapes)",
        },
        {"key": "params", "value": f"{facts['params']:,}"},
        {"key": "SE blocks", "value": len(facts["se_blocks"])},
    ]
    if facts["macs_not_counted_ops"]:
        listed = ", ".join(f"{op} x{n}" for op, n in facts["macs_not_counted_ops"].items())
        summary.append({"key": "MACs not counted", "value": listed})
    print_table("Model", summary, [("key", "fact"), ("value", "value")], fmt=fmt)
    tensors = [
        {
            "io": io,
            "name": v["name"],
            "dtype": v["dtype"],
            "shape": "x".join(str(d) for d in v["shape"]) if v["shape"] is not None else "?",
        }
        for io in ("inputs", "outputs")
        for v in facts[io]
    ]
    columns = [("io", "io"), ("name", "name"), ("dtype", "dtype"), ("shape", "shape")]
    print_table("Inputs and outputs", tensors, columns, fmt=fmt)
    ops = [{"op": op, "count": count} for op, count in facts["ops"].items()]
    print_table("Ops", ops, [("op", "op"), ("count", "count")], fmt=fmt)
    _print_se(facts, fmt)
    if facts["quantization"] is not None:
        _print_quantization(facts["quantization"], fmt)


def _print_se(facts: dict[str, Any], fmt: TableFormat) -> None:
    if facts["se_blocks"]:
        rows = [
            {
                **block,
                "reduction": round(block["reduction"], 2),
                "form": "canonical" if block["canonical"] else "other",
                "nodes": len(block["nodes"]),
            }
            for block in facts["se_blocks"]
        ]
        columns = [
            ("name", "block"),
            ("channels", "C"),
            ("reduction", "r"),
            ("squeeze", "squeeze"),
            ("activation", "activation"),
            ("gate", "gate"),
            ("form", "form"),
            ("nodes", "nodes"),
        ]
        print_table("SE blocks (node names: --json)", rows, columns, fmt=fmt)
    if facts["se_misses"]:
        misses = [{"miss": line} for line in facts["se_misses"]]
        print_table("Squeeze nodes that start no SE block", misses, [("miss", "why")], fmt=fmt)


def _print_quantization(quant: dict[str, Any], fmt: TableFormat) -> None:
    rows = [
        {"key": "QuantizeLinear", "value": quant["quantize_nodes"]},
        {"key": "DequantizeLinear", "value": quant["dequantize_nodes"]},
        {"key": "scheme", "value": quant["scheme"] or "-"},
        {"key": "activation types", "value": ", ".join(quant["activation_types"]) or "-"},
        {"key": "weight types", "value": ", ".join(quant["weight_types"]) or "-"},
        {"key": "per-channel", "value": "yes" if quant["per_channel"] else "no"},
        {"key": "int8 ops", "value": _counts(quant["int8_ops"])},
        {"key": "float ops", "value": _counts(quant["float_ops"])},
        {"key": "QOperator ops", "value": _counts(quant["qoperator_ops"])},
    ]
    print_table("Quantization", rows, [("key", "fact"), ("value", "value")], fmt=fmt)


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{op} x{n}" for op, n in counts.items()) or "-"
