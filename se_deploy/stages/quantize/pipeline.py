"""`se-deploy quantize` end to end: float ONNX -> FP16 or INT8 -> checks -> run directory.

Checks before anything is written: the quantized model runs in ONNX Runtime and agrees with its
float source within the precision's tolerance (on real images when a dataset is given), and its
SE blocks are still found by the SE finder or were kept float on request.
"""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from se_deploy.backends.ort import open_session, session_outputs
from se_deploy.core.artifact import MODEL_FILE, OnnxSource, RunResult, base_manifest, write_run
from se_deploy.core.checks import (
    TOLERANCES,
    Parity,
    batch_plan,
    compare_outputs,
    random_batches,
    split_batches,
)
from se_deploy.core.console import activity
from se_deploy.core.errors import SeDeployError, VerificationError
from se_deploy.core.onnx.facts import detect_precision
from se_deploy.core.onnx.graph import load_model
from se_deploy.core.onnx.qdq import qdq_summary
from se_deploy.core.onnx.se_pattern import find_se_blocks
from se_deploy.data.calibration import (
    CALIBRATION_SPLIT,
    BatchReader,
    ImageInput,
    batch_count,
    fixed_batches,
    image_input,
    load_images,
    with_recorded_preprocess,
)
from se_deploy.stages.quantize.config import RANDOM, Precision, QuantConfig
from se_deploy.stages.quantize.fp16 import clamped_values, convert_fp16
from se_deploy.stages.quantize.int8 import quantize_int8


def quantize_artifact(
    source: OnnxSource, config: QuantConfig, out: Path | None = None
) -> RunResult:
    """Quantize `source` as `config` says; write model.onnx + manifest.json into the run dir."""
    run_dir = source.run_dir(config.tag, out)
    float_model = load_model(source.path)
    _require_float32(float_model, source.path)
    target = image_input(float_model, config.shapes)
    if config.precision is Precision.FP16:
        quantized, details = _fp16(float_model, config)
    else:
        quantized, details = _int8(source.path, target, config, source.carried()["preprocess"])
    model_bytes = quantized.SerializeToString()
    start = time.perf_counter()
    parity = verify_quantized(
        float_model, model_bytes, target, config, source.carried()["preprocess"]
    )
    details["seconds"]["verify"] = round(time.perf_counter() - start, 3)
    if not parity.passed and config.enforce_check:
        raise VerificationError(
            f"the {config.tag} model disagrees with its float source on {parity.samples} "
            f"{parity.source} inputs: {', '.join(parity.failures)}; nothing was written. Check "
            "that --calib matches the data the model was trained on, or try --calib-method "
            "entropy/percentile"
        )
    manifest = {
        **base_manifest("quantize", source, config.to_dict()),
        "precision": config.tag,
        **details,
        "graph": {
            "nodes": len(quantized.graph.node),
            "ops": dict(sorted(Counter(n.op_type for n in quantized.graph.node).items())),
        },
        "verification": {
            "tolerance": TOLERANCES[config.precision].to_dict(),
            "enforced": config.enforce_check,
            "reference": "float source in ONNX Runtime (CPU)",
            "results": [parity.to_dict()],
        },
    }
    path = write_run(run_dir, {MODEL_FILE: model_bytes}, manifest)
    return RunResult.written(run_dir / MODEL_FILE, path)


def _require_float32(model: onnx.ModelProto, path: Path) -> None:
    """Quantizing twice compounds the error and hides it: only float32 sources are taken."""
    precision = detect_precision(model)
    if precision != "fp32":
        shown = "int8 (QDQ)" if precision == "int8" else precision
        raise SeDeployError(
            f"'{path}' is already {shown}; quantize the fp32 export "
            "(export/<model>/fp32/model.onnx) instead"
        )


def _fp16(model: onnx.ModelProto, config: QuantConfig) -> tuple[onnx.ModelProto, dict[str, Any]]:
    start = time.perf_counter()
    converted = convert_fp16(model, config.keep_io_types)
    seconds = {"convert_float_to_float16": round(time.perf_counter() - start, 3)}
    blocks = find_se_blocks(model)
    found = len(find_se_blocks(converted))
    if found != len(blocks):
        raise VerificationError(
            f"the FP16 graph has {found} SE blocks where its float source had "
            f"{len(blocks)}; nothing was written"
        )
    details = {
        "fp16": {
            "converter": "onnxruntime.transformers.float16.convert_float_to_float16",
            "clamped_weights": clamped_values(model),
        },
        "se_blocks": {
            "found": len(blocks),
            "found_in_artifact": found,
            "precision": "fp16",
            "blocks": [block.to_dict() for block in blocks],
        },
        "seconds": seconds,
    }
    return converted, details


def _int8(
    path: Path, target: ImageInput, config: QuantConfig, recorded: dict[str, Any] | None
) -> tuple[onnx.ModelProto, dict[str, Any]]:
    images = with_recorded_preprocess(
        load_images(config.calib, target, CALIBRATION_SPLIT, config.data_dir), recorded
    )
    batch_size = target.batch or config.calib_batch_size  # a static batch wins
    stream = fixed_batches(images, batch_size, config.calib_size, config.seed, target.dtype)
    batches = batch_count(images, batch_size, config.calib_size)
    with (
        activity("calibrate", total=batches) as update,
        tempfile.TemporaryDirectory(prefix="se-deploy-quantize-") as workdir,
    ):
        reader = BatchReader(target.name, stream, lambda n: update(f"batch of {batch_size}"))
        result = quantize_int8(path, config, reader, Path(workdir))
    details = {
        "calibration": {
            "dataset": images.name,
            "split": CALIBRATION_SPLIT,
            "source": images.source,
            "images": result.calibration_images,
            "batch_size": batch_size,
            "preprocess": images.preprocess.to_dict(),
        },
        "int8": {
            **qdq_summary(result.model),
            "clamps_absorbed": result.clamps_absorbed,
            "se_gates_collapsed": result.se_gates_collapsed,
        },
        "se_blocks": result.se_record(config),
        "seconds": result.seconds,
    }
    return result.model, details


def verify_quantized(
    float_model: onnx.ModelProto,
    model_bytes: bytes,
    target: ImageInput,
    config: QuantConfig,
    recorded: dict[str, Any] | None = None,
) -> Parity:
    """Both models in ONNX Runtime on the same inputs; figures judged by the precision's
    tolerance. Inputs are cast to each model's own input dtype."""
    batches = _verify_batches(target, config, recorded)
    reference = session_outputs(open_session(float_model.SerializeToString()), batches)
    candidate_session = open_session(model_bytes)
    dtype = image_input(onnx.load_from_string(model_bytes), config.shapes).dtype
    candidate = session_outputs(candidate_session, [batch.astype(dtype) for batch in batches])
    return compare_outputs(
        reference, candidate.astype(np.float32), config.verify_source, TOLERANCES[config.precision]
    )


def _verify_batches(
    target: ImageInput, config: QuantConfig, recorded: dict[str, Any] | None
) -> list[np.ndarray]:
    """The first `verify_size` test images of the verify set, or seeded normal inputs, in the
    export check's batch plan (sizes 1 and n-1 for a dynamic batch, else the static one)."""
    if config.verify_source == RANDOM:
        return random_batches(batch_plan(config.verify_size, target.batch), target.chw, config.seed)
    images = with_recorded_preprocess(
        load_images(config.verify_source, target, "test", config.data_dir), recorded
    )
    plan = batch_plan(min(config.verify_size, len(images)), target.batch)
    loaded = [batch for batch, _ in images.batches(sum(plan), limit=sum(plan))]
    batches = split_batches(np.concatenate(loaded), plan) if loaded else []
    if not batches:
        raise SeDeployError(
            f"verify set '{config.verify_source}' has {len(images)} test images, "
            "too few for one batch; pass another --verify-data"
        )
    return [batch.astype(target.dtype) for batch in batches]
