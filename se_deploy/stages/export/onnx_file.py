"""`se-deploy export --onnx FILE`: bring an ONNX model from any exporter into the export layout.

The file gets the same passes as a zoo export (gate fusions, SE canonicalization, onnxsim), each
only on the opsets it declares. It is verified against the original file run by ONNX Runtime
with graph optimizations disabled (the reference: the file as its exporter wrote it), every
output compared with its full shape, and lands as <out>/<name>/fp32/model.onnx with the same
manifest fields, so quantize, fold, compile, bench and eval take it as they take a zoo export.
The manifest's `origin` names the file (path, sha256, producer, opset, shapes given).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import version_converter

from se_deploy.backends.base import GraphOptimization, RunnerOptions
from se_deploy.backends.ort import open_session
from se_deploy.core.artifact import RunResult
from se_deploy.core.checks import FP32, Parity, compare_outputs, require_parity
from se_deploy.core.errors import SeDeployError, VerificationError
from se_deploy.core.files import sha256_file, tool_versions
from se_deploy.core.onnx.graph import model_opset
from se_deploy.core.onnx.se_pattern import SEBlock, explain_se_misses, find_se_blocks
from se_deploy.core.shapes import (
    InputShapes,
    concrete_shapes,
    declared_dims,
    fix_input_shapes,
    graph_inputs,
    random_feeds,
)
from se_deploy.stages.export.config import PRECISION, ExportConfig
from se_deploy.stages.export.passes import export_passes, run_passes
from se_deploy.stages.export.pipeline import (
    StepCallback,
    StepClock,
    require_valid_graph,
    require_writable_root,
    write_export,
)

_MAX_LISTED_MISSES = 3


@dataclass(frozen=True)
class ImportedModel:
    """A model brought in from outside the zoo, as its exporter wrote it, with what verifies it.

    `reference` maps input feeds to the outputs by name that the rewritten graph must match:
    the original file in ORT with graph optimizations off for --onnx, PyTorch for --module."""

    name: str
    original: onnx.ModelProto
    shapes: dict[str, tuple[int, ...]]
    origin: dict[str, Any]
    weights: dict[str, Any]
    exporter: str
    reference_label: str
    reference: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]


def export_onnx_file(config: ExportConfig, on_step: StepCallback | None = None) -> RunResult:
    """Import, rewrite, check and verify one ONNX file; write its artifacts or nothing."""
    assert config.onnx is not None  # ExportConfig routes only --onnx configs here
    clock = StepClock(on_step)
    require_writable_root(config.out)
    with clock("read ONNX"):
        original = read_onnx(config.onnx)
        shapes = concrete_shapes(original, InputShapes.parse(config.shapes))
    sha = sha256_file(config.onnx)
    imported = ImportedModel(
        name=config.name or model_name(config.onnx),
        original=original,
        shapes=shapes,
        origin={"kind": "onnx", "path": str(config.onnx), "sha256": sha, **_file_facts(original)},
        weights={"inside": "onnx", "file": str(config.onnx), "sha256": sha},
        exporter=_producer(original),
        reference_label="the original file in ONNX Runtime, graph optimizations disabled",
        reference=_ort_reference(original),
    )
    return export_imported(config, imported, clock)


def export_imported(config: ExportConfig, imported: ImportedModel, clock: StepClock) -> RunResult:
    """The shared route of --onnx and --module: opset, shapes, passes, SE check, verification
    against the reference, then the zoo's artifact layout and manifest fields."""
    name, original, shapes = imported.name, imported.original, imported.shapes
    with clock("prepare"):
        model = upgrade_opset(original, config.opset)
        if not config.dynamic:
            fix_input_shapes(model, shapes)
    with clock("graph passes"):
        graph, records = run_passes(model, export_passes(config.se_gate))
    with clock("find SE blocks"):
        blocks = require_expected_se(graph, config.expect_se, name)
    with clock("check graph"):
        require_valid_graph(graph, name)
    model_bytes = graph.SerializeToString()
    with clock("verify"):
        parity = verify_against_reference(imported, model_bytes, config)
        require_parity(parity, name, reference=imported.reference_label)
    run_dir = config.out / name / PRECISION
    onnx_path, manifest_path = run_dir / "model.onnx", run_dir / "manifest.json"
    inputs = graph_inputs(graph)
    manifest = {
        "command": "export",
        "model": {
            "name": name,
            "family": None,
            "baseline": None,
            "se_blocks": len(blocks),
            "origin": {
                **imported.origin,
                "opset_upgraded_to": config.opset,
                "shapes": config.shapes,
                "dynamic": config.dynamic,
            },
        },
        "weights": imported.weights,
        "preprocess": config.preprocess_record(_image_hw(graph)),
        "options": config.to_dict(),
        "export": {
            "exporter": imported.exporter,
            "opset": model_opset(graph),
            "precision": PRECISION,
            "input": inputs[0].name,
            "output": graph.graph.output[0].name,
            "input_shape": declared_dims(inputs[0]),
            "input_shapes": {value.name: declared_dims(value) for value in inputs},
            "dynamic_batch": config.dynamic,
        },
        "tools": tool_versions(),
        "passes": [record.to_dict() for record in records],
        "graph": {
            "nodes_exported": len(original.graph.node),
            "nodes": len(graph.graph.node),
            "ops": dict(sorted(Counter(n.op_type for n in graph.graph.node).items())),
        },
        "se_blocks": {
            "expected": config.expect_se,
            "found": len(blocks),
            "blocks": [block.to_dict() for block in blocks],
            "misses": explain_se_misses(graph, strict=False),
        },
        "verification": {
            "tolerance": FP32.to_dict(),
            "reference": imported.reference_label,
            "results": [p.to_dict() for p in parity],
        },
    }
    return write_export(onnx_path, model_bytes, manifest_path, manifest, clock)


def model_name(path: Path) -> str:
    """The run directory's name for a file: its stem with anything but [A-Za-z0-9._-] as '_'."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", path.stem) or "model"


def read_onnx(path: Path) -> onnx.ModelProto:
    """The file as an ONNX model, or a one-line error saying what is wrong with it."""
    if not path.is_file():
        raise SeDeployError(f"--onnx '{path}' is not a file; pass an existing .onnx file")
    try:
        model = onnx.load(str(path))
    except Exception as exc:  # onnx raises DecodeError, ValueError or OSError by version
        raise SeDeployError(
            f"--onnx '{path}' is not a readable ONNX model ({type(exc).__name__}); "
            "pass a .onnx file"
        ) from None
    if not model.graph.node:
        raise SeDeployError(f"--onnx '{path}' has an empty graph; pass a model with nodes")
    model_opset(model)  # a graph without the default domain fails here, in one line
    return model


def upgrade_opset(model: onnx.ModelProto, opset: int | None) -> onnx.ModelProto:
    """A copy at `opset` (onnx's version converter; only upwards), else an unchanged copy."""
    current = model_opset(model)
    copy = onnx.ModelProto.FromString(model.SerializeToString())
    if opset is None or opset == current:
        return copy
    if opset < current:
        raise SeDeployError(
            f"--opset {opset} is below the file's opset {current}; se-deploy only upgrades "
            f"(pass --opset {current} or higher)"
        )
    try:
        return version_converter.convert_version(copy, opset)
    except Exception as exc:  # the converter raises RuntimeError/ValueError per adapter
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SeDeployError(
            f"onnx's version converter cannot take the file from opset {current} to "
            f"{opset}: {first}; try another --opset"
        ) from None


def require_expected_se(model: onnx.ModelProto, expected: int | None, name: str) -> list[SEBlock]:
    """The SE blocks found; an error naming each miss when fewer than `expected` (or none when
    no expectation was given: se-deploy is for SE networks, --expect-se 0 takes any model)."""
    blocks = find_se_blocks(model)
    floor = 1 if expected is None else expected
    if len(blocks) >= floor:
        return blocks
    misses = explain_se_misses(model, strict=False)
    listed = "; ".join(misses[:_MAX_LISTED_MISSES]) if misses else "no squeeze node at all"
    more = (
        f" (+{len(misses) - _MAX_LISTED_MISSES} more)" if len(misses) > _MAX_LISTED_MISSES else ""
    )
    want = f"--expect-se {expected}" if expected is not None else "at least one"
    raise VerificationError(
        f"{name}: found {len(blocks)} SE blocks, {want} expected; where the SE pattern broke: "
        f"{listed}{more}. Nothing was written; `se-deploy inspect FILE` lists every block, "
        "--expect-se 0 exports the model anyway"
    )


def verify_against_reference(
    imported: ImportedModel, model_bytes: bytes, config: ExportConfig
) -> list[Parity]:
    """Every output of the rewritten model against the reference's, on seeded random inputs at
    the concrete shapes, each output compared with its full shape."""
    candidate = open_session(model_bytes)
    produced = [output.name for output in candidate.get_outputs()]
    results: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    for sample in range(config.verify_samples):
        feeds = random_feeds(imported.original, imported.shapes, config.seed + sample)
        got = dict(zip(produced, candidate.run(None, feeds), strict=True))
        for output, value in imported.reference(feeds).items():
            if output not in got:
                raise VerificationError(
                    f"the rewritten graph lost output '{output}' of the original; "
                    "this is a graph-pass defect, please report it"
                )
            results.setdefault(output, []).append((value, got[output]))
    return [
        compare_outputs(
            np.concatenate([ref for ref, _ in pairs]),
            np.concatenate([out for _, out in pairs]),
            f"random:{output}",
            FP32,
        )
        for output, pairs in results.items()
    ]


def _ort_reference(
    original: onnx.ModelProto,
) -> Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]:
    """The original file in ORT with graph optimizations off: the graph as its exporter wrote
    it, no fusion of ORT's own in the way."""
    disabled = RunnerOptions(graph_optimization=GraphOptimization.DISABLED)
    session = open_session(original.SerializeToString(), disabled)
    names = [output.name for output in session.get_outputs()]
    return lambda feeds: dict(zip(names, session.run(None, feeds), strict=True))


def _file_facts(model: onnx.ModelProto) -> dict[str, Any]:
    return {
        "producer": model.producer_name,
        "producer_version": model.producer_version,
        "opset": model_opset(model),
    }


def _producer(model: onnx.ModelProto) -> str:
    return f"{model.producer_name or 'unknown producer'} {model.producer_version}".strip()


def _image_hw(model: onnx.ModelProto) -> tuple[int, int] | None:
    dims = declared_dims(graph_inputs(model)[0])
    if len(dims) == 4 and isinstance(dims[2], int) and isinstance(dims[3], int):
        return dims[2], dims[3]
    return None
