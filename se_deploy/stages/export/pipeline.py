"""`se-deploy export` end to end: model -> ONNX -> graph passes -> SE check -> verify -> files.

Nothing is written unless every check passes; then model.onnx and manifest.json land atomically
in <out>/<model>/fp32/. The ONNX bytes depend only on the options and the weights, so the same
export twice gives byte-identical files.
"""

from __future__ import annotations

import contextlib
import dataclasses
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from torch import nn

from se_deploy.core.artifact import RunResult
from se_deploy.core.checks import (
    FP32,
    batch_plan,
    random_batches,
    require_parity,
    split_batches,
)
from se_deploy.core.errors import SeDeployError, VerificationError
from se_deploy.core.files import (
    atomic_path,
    atomic_write_json,
    run_lock,
    sha256_bytes,
    sha256_file,
    tool_versions,
)
from se_deploy.core.onnx.se_pattern import SEBlock, explain_se_misses, find_se_blocks
from se_deploy.models import (
    ModelConfig,
    ModelSpec,
    create_random_model,
    default_config,
    get_spec,
)
from se_deploy.models.checkpoint import load_checkpoint_model, read_checkpoint_meta
from se_deploy.models.random_init import SETTLE_BATCH_SIZE, SETTLE_BATCHES
from se_deploy.stages.export.config import DEFAULT_INPUT_SIZE, PRECISION, ExportConfig
from se_deploy.stages.export.onnx_export import EXPORTER, INPUT_NAME, OUTPUT_NAME, export_onnx
from se_deploy.stages.export.passes import export_passes, run_passes
from se_deploy.stages.export.verify import verify_against_torch

StepCallback = Callable[[str], None]
_MAX_LISTED_MISSES = 3


@dataclass(frozen=True)
class SourceModel:
    """The PyTorch model to export and what the manifest says about where it came from."""

    spec: ModelSpec
    module: nn.Module
    config: ModelConfig
    weights: dict[str, Any]
    preprocess: dict[str, Any] | None
    input_size: int


def export_model(config: ExportConfig, on_step: StepCallback | None = None) -> RunResult:
    """Export, rewrite, check and verify one model; write its artifacts; fail loudly otherwise.
    --onnx and --module configs take their own routes (onnx_file, module_export)."""
    if config.onnx is not None:
        from se_deploy.stages.export.onnx_file import export_onnx_file

        return export_onnx_file(config, on_step)
    if config.module is not None:
        from se_deploy.stages.export.module_export import export_module

        return export_module(config, on_step)
    clock = StepClock(on_step)
    require_writable_root(config.out)
    with clock("build model"):
        source = load_source_model(config)
    with clock("export to ONNX"):
        shape = (config.trace_batch, source.config.in_chans, source.input_size, source.input_size)
        exported = export_onnx(source.module, shape, config.torch_opset, config.dynamic_batch)
    with clock("graph passes"):
        graph, records = run_passes(exported, export_passes(config.se_gate))
    with clock("find SE blocks"):
        blocks = require_se_blocks(graph, source.spec)
    with clock("check graph"):
        require_valid_graph(graph, source.spec.name)
    model_bytes = graph.SerializeToString()
    with clock("verify vs PyTorch"):
        inputs = verification_inputs(config, source)
        parity = verify_against_torch(model_bytes, source.module, inputs)
        require_parity(parity, source.spec.name)
    run_dir = config.out / source.spec.name / PRECISION
    onnx_path, manifest_path = run_dir / "model.onnx", run_dir / "manifest.json"
    manifest = {
        "command": "export",
        "model": _model_record(source),
        "weights": source.weights,
        "preprocess": source.preprocess,
        "options": config.to_dict(),
        "export": {
            "exporter": EXPORTER,
            "opset": config.torch_opset,
            "precision": PRECISION,
            "input": INPUT_NAME,
            "output": OUTPUT_NAME,
            "input_shape": _input_shape(graph),
            "dynamic_batch": config.dynamic_batch,
        },
        "tools": tool_versions(),
        "passes": [record.to_dict() for record in records],
        "graph": {
            "nodes_exported": len(exported.graph.node),
            "nodes": len(graph.graph.node),
            "ops": dict(sorted(Counter(n.op_type for n in graph.graph.node).items())),
        },
        "se_blocks": {
            "expected": source.spec.se_blocks,
            "found": len(blocks),
            "blocks": [block.to_dict() for block in blocks],
        },
        "verification": {"tolerance": FP32.to_dict(), "results": [p.to_dict() for p in parity]},
    }
    return write_export(onnx_path, model_bytes, manifest_path, manifest, clock)


def write_export(
    onnx_path: Path,
    model_bytes: bytes,
    manifest_path: Path,
    manifest: dict[str, Any],
    clock: StepClock,
) -> RunResult:
    """Finish an export's manifest (step seconds, the output record) and write both files: the
    end every export path (registered model, module, ONNX file) shares."""
    manifest = {
        **manifest,
        "seconds": dict(clock.seconds),  # the steps before writing, as on disk
        "outputs": [
            {"path": onnx_path.name, "bytes": len(model_bytes), "sha256": sha256_bytes(model_bytes)}
        ],
    }
    with clock("write files"):
        write_artifacts(onnx_path, model_bytes, manifest_path, manifest)
    return RunResult.written(onnx_path, manifest_path)


def load_source_model(config: ExportConfig) -> SourceModel:
    """Build the registered model: from a checkpoint (its config and preprocessing, then explicit
    overrides) or from a seeded random init with settled BatchNorm statistics."""
    weights_path = _weights_path(config)
    meta = _checkpoint_meta(weights_path)
    name = config.model or meta.get("model")
    if name is None:
        raise SeDeployError(
            f"weights '{weights_path}' do not say which model they belong to; pass --model"
        )
    spec = get_spec(name)
    if meta.get("model", name) != name:
        raise SeDeployError(
            f"weights '{weights_path}' were trained for '{meta['model']}', not "
            f"'{name}'; pass --model {meta['model']} or other weights"
        )
    base = ModelConfig.from_dict(meta["model_config"]) if "model_config" in meta else None
    model_config = dataclasses.replace(base or default_config(name), **config.model_overrides())
    preprocess = meta.get("preprocess")
    input_size = config.input_size or (preprocess or {}).get("input_size", DEFAULT_INPUT_SIZE)
    if preprocess is not None:
        preprocess = {**preprocess, "input_size": input_size}  # what the exported graph takes
    if weights_path is not None:
        module, _ = load_checkpoint_model(weights_path, name, model_config)
        weights = {
            "path": str(weights_path),
            "sha256": sha256_file(weights_path),
            "dataset": meta.get("dataset"),  # the default eval set, readable without torch
        }
    else:
        module = create_random_model(name, model_config, input_size, config.seed)
        weights = {
            "init": "random",
            "seed": config.seed,
            "batchnorm": f"settled on {SETTLE_BATCHES} batches of {SETTLE_BATCH_SIZE} "
            f"standard-normal {input_size}x{input_size} images",
        }
    return SourceModel(spec, module.eval(), model_config, weights, preprocess, input_size)


def _weights_path(config: ExportConfig) -> Path | None:
    """--weights, else the committed zoo checkpoint with --zoo, else None (random init)."""
    if config.zoo:
        from se_deploy.core.spec import zoo_checkpoint

        return zoo_checkpoint(config.model)
    return config.weights


def _checkpoint_meta(weights: Path | None) -> dict[str, Any]:
    return {} if weights is None else read_checkpoint_meta(weights)


def require_writable_root(root: Path) -> None:
    """Fail before any work when the output root cannot take files; create nothing."""
    existing = root
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise SeDeployError(
            f"--out '{root}': '{existing}' is a file, not a directory; pass a directory to --out"
        )
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        raise SeDeployError(
            f"--out '{root}' is not writable ({exc.strerror} in '{existing}'); "
            "pass a writable directory to --out"
        ) from None


def write_artifacts(
    onnx_path: Path, model_bytes: bytes, manifest_path: Path, manifest: dict[str, Any]
) -> None:
    """Both files or neither: the ONNX is renamed into place only once its manifest is."""
    try:
        with run_lock(onnx_path.parent), atomic_path(onnx_path) as onnx_tmp:
            onnx_tmp.write_bytes(model_bytes)
            atomic_write_json(manifest_path, manifest)
    except OSError as exc:
        raise SeDeployError(
            f"cannot write '{onnx_path.parent}' ({exc.strerror}); pass a "
            "writable directory to --out"
        ) from None


def require_se_blocks(model: onnx.ModelProto, spec: ModelSpec) -> list[SEBlock]:
    """The SE blocks of the exported graph; raise unless there are exactly as many as the model
    registers, naming where the SE pattern broke."""
    blocks = find_se_blocks(model)
    if len(blocks) == spec.se_blocks:
        return blocks
    misses = explain_se_misses(model)[:_MAX_LISTED_MISSES]
    where = f"; where the SE pattern broke: {'; '.join(misses)}" if misses else ""
    raise VerificationError(
        f"{spec.name}: found {len(blocks)} SE blocks in the exported graph, the registry says "
        f"{spec.se_blocks}{where}. The ONNX file was not written; this is an exporter or "
        "graph-pass defect, please report it with the model name and options"
    )


def require_valid_graph(model: onnx.ModelProto, name: str) -> None:
    try:
        onnx.checker.check_model(model, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        first_line = str(exc).strip().splitlines()[0]
        raise VerificationError(
            f"{name}: the exported graph fails onnx.checker: {first_line}. Try another --opset"
        ) from None


def verification_inputs(config: ExportConfig, source: SourceModel) -> dict[str, list[np.ndarray]]:
    """Seeded random batches, plus the first images of `config.dataset` when one is given."""
    plan = batch_plan(config.verify_samples, None if config.dynamic_batch else config.trace_batch)
    chw = (source.config.in_chans, source.input_size, source.input_size)
    inputs = {"random": random_batches(plan, chw, config.seed)}
    if config.dataset is not None:
        from se_deploy.data import load_dataset

        dataset = load_dataset(
            config.dataset, "test", source.input_size, config.data_dir, source.config.in_chans
        )
        batches = [images for images, _ in dataset.batches(sum(plan), limit=sum(plan))]
        batches = split_batches(np.concatenate(batches), plan) if batches else []
        if not batches:
            raise SeDeployError(
                f"dataset '{config.dataset}' has {len(dataset)} test images, "
                f"fewer than one batch of {plan[0]}; use a smaller --batch"
            )
        inputs[config.dataset] = batches
    return inputs


def _model_record(source: SourceModel) -> dict[str, Any]:
    spec = source.spec
    return {
        "name": spec.name,
        "family": spec.family,
        "baseline": spec.baseline,
        "se_blocks": spec.se_blocks,
        "config": source.config.to_dict(),
    }


def _input_shape(model: onnx.ModelProto) -> list[int | str]:
    dims = model.graph.input[0].type.tensor_type.shape.dim
    return [dim.dim_param or dim.dim_value for dim in dims]


# The steps each export route announces, in order (the progress bar's total; a test checks
# them against what each route records).
MODEL_STEPS = (
    "build model",
    "export to ONNX",
    "graph passes",
    "find SE blocks",
    "check graph",
    "verify vs PyTorch",
    "write files",
)
_IMPORTED_STEPS = ("prepare", "graph passes", "find SE blocks", "check graph", "verify")
ONNX_FILE_STEPS = ("read ONNX", *_IMPORTED_STEPS, "write files")
MODULE_STEPS = ("build model", "export to ONNX", *_IMPORTED_STEPS, "write files")


def planned_steps(config: ExportConfig) -> tuple[str, ...]:
    """The steps `export_model` will announce for `config`."""
    if config.onnx is not None:
        return ONNX_FILE_STEPS
    return MODULE_STEPS if config.module is not None else MODEL_STEPS


class StepClock:
    """Announces each step to the progress display and records its seconds for the manifest."""

    def __init__(self, on_step: StepCallback | None) -> None:
        self.on_step = on_step
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, step: str) -> Iterator[None]:
        if self.on_step is not None:
            self.on_step(step)
        start = time.perf_counter()
        yield
        self.seconds[step] = round(time.perf_counter() - start, 3)
