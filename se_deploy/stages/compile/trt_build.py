"""`se-deploy build --backend trt`: a TensorRT engine from an ONNX artifact, with the record of
how it was built (TensorRT 10 Python API: ONNX parser, builder config, optimization profile).

Precision: a QDQ model builds INT8 from its own scales (explicit quantization, TensorRT's
recommended path); `--engine-precision int8` on a float model calibrates implicitly with an
entropy calibrator and keeps the calibration cache; FP16 sets the FP16 builder flag. The batch
axis gets one optimization profile (min/opt/max); a timing cache is loaded and saved so later
builds on the same GPU and TensorRT skip tactic timing; the workspace pool is capped.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from se_deploy.backends.ort import open_session, session_outputs
from se_deploy.backends.trt import ENGINE_SUFFIXES, TrtRunner, cuda_call, import_cudart
from se_deploy.core.artifact import OnnxSource, Precision
from se_deploy.core.checks import TOLERANCES, compare_outputs, random_batches
from se_deploy.core.errors import SeDeployError, VerificationError
from se_deploy.core.onnx.facts import detect_precision
from se_deploy.core.onnx.graph import load_model
from se_deploy.core.options import changed_flags
from se_deploy.core.verbosity import trt_severity
from se_deploy.data.calibration import (
    CALIBRATION_SPLIT,
    ImageInput,
    fixed_batches,
    image_input,
    load_images,
)
from se_deploy.stages.compile.config import BuildConfig, EnginePrecision

ENGINE_FILE = "model" + ENGINE_SUFFIXES[0]
TIMING_CACHE_FILE = "timing.cache"
CALIBRATION_CACHE_FILE = "calibration.cache"
# TensorRT runs FP32 convolutions in TF32 by default: an FP16-sized mantissa.
_TOLERANCES = {
    EnginePrecision.FP32: TOLERANCES[Precision.FP16],
    EnginePrecision.FP16: TOLERANCES[Precision.FP16],
    EnginePrecision.INT8: TOLERANCES[Precision.INT8],
}
_BATCH_FLAGS = ("min_batch", "opt_batch", "max_batch")


def engine_precision(requested: EnginePrecision, model: onnx.ModelProto) -> EnginePrecision:
    """The precision to build: `auto` follows the ONNX file; a request it contradicts fails."""
    found = EnginePrecision(detect_precision(model))
    if requested is EnginePrecision.AUTO or requested is found:
        return found
    if found is EnginePrecision.FP32:  # FP16 kernels or implicit INT8 from a float32 model
        return requested
    evidence = "Q/DQ nodes" if found is EnginePrecision.INT8 else "float16 weights"
    raise SeDeployError(
        f"the model is {found} ({evidence}); "
        f"--engine-precision {requested} needs the fp32 artifact "
        "(--precision fp32)"
    )


def weakly_typed(trt: Any) -> bool:
    """TensorRT 10 builds weakly typed networks (BuilderFlag.FP16/INT8 let it pick lower
    precisions, INT8 may be calibrated implicitly); TensorRT 11 removed those flags and the
    calibrator: every network is strongly typed, its precisions are the ONNX graph's own types
    and Q/DQ nodes."""
    return hasattr(trt.BuilderFlag, "FP16")


def require_typed_precision(trt: Any, precision: EnginePrecision, model: onnx.ModelProto) -> None:
    """On a strongly typed TensorRT, the requested precision must already be in the graph."""
    found = engine_precision(EnginePrecision.AUTO, model)
    if precision is found:
        return
    make = (
        "`se-deploy quantize --precision int8` (Q/DQ)"
        if precision is EnginePrecision.INT8
        else "`se-deploy quantize --precision fp16`"
    )
    raise SeDeployError(
        f"TensorRT {trt.__version__} builds strongly typed networks only (no FP16/INT8 "
        f"builder flags, no implicit INT8 calibration): {precision} comes from a {precision} "
        f"ONNX; make it with {make} and build that (--precision {precision})"
    )


def profile_shapes(target: ImageInput, config: BuildConfig) -> tuple[tuple[int, ...], ...]:
    """(min, opt, max) input shapes; a static batch admits only itself."""
    if target.batch is None:
        batches = (config.min_batch, config.opt_batch, config.max_batch)
    elif changed_flags(config, _BATCH_FLAGS):
        raise SeDeployError(
            f"input '{target.name}' has a static batch of {target.batch}; "
            "re-export with --dynamic-batch for a batch range, or drop "
            "--min/opt/max-batch"
        )
    else:
        batches = (target.batch,) * 3
    return tuple((batch, *target.chw) for batch in batches)


def trt_unavailable() -> str | None:
    return TrtRunner.unavailable_reason()


def build_trt(
    source: OnnxSource, config: BuildConfig, run_dir: Path
) -> tuple[dict[str, bytes], dict[str, Any]]:
    """Parse, configure, build and check the engine; return files to write and the record."""
    import tensorrt as trt

    model = load_model(source.path)
    target = image_input(model, config.shapes)
    precision = engine_precision(config.engine_precision, model)
    weak = weakly_typed(trt)
    if not weak:
        require_typed_precision(trt, precision, model)
    shapes = profile_shapes(target, config)
    logger = trt.Logger(trt_severity(trt))
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # explicit batch only (10); strongly typed only (11)
    _parse(trt, network, logger, source.path)
    explicit = _has_qdq_layers(trt, network)
    settings = builder.create_builder_config()
    settings.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, config.workspace_mib << 20)
    settings.profiling_verbosity = trt.ProfilingVerbosity.DETAILED  # layer -> ONNX node names
    if weak and precision is EnginePrecision.FP16:
        settings.set_flag(trt.BuilderFlag.FP16)
    if weak and precision is EnginePrecision.INT8:
        settings.set_flag(trt.BuilderFlag.INT8)
    profile = builder.create_optimization_profile()
    profile.set_shape(target.name, *shapes)
    settings.add_optimization_profile(profile)
    calibrator = (
        _attach_calibrator(builder, settings, target, config)
        if (precision is EnginePrecision.INT8 and not explicit)
        else None
    )
    timing_path = config.timing_cache or run_dir / TIMING_CACHE_FILE
    timing_loaded = timing_path.is_file()
    timing = settings.create_timing_cache(timing_path.read_bytes() if timing_loaded else b"")
    settings.set_timing_cache(timing, ignore_mismatch=False)
    start = time.perf_counter()
    try:
        serialized = builder.build_serialized_network(network, settings)
    finally:
        if calibrator is not None:
            calibrator.free()
    seconds = round(time.perf_counter() - start, 3)
    if serialized is None:
        raise SeDeployError(
            f"TensorRT {trt.__version__} could not build '{source.path}' as "
            f"{precision}; see TensorRT's log above"
        )
    engine = bytes(serialized)
    parity = _verify(engine, source.path, target, shapes[1], precision)
    files = {ENGINE_FILE: engine}
    timing_bytes = bytes(timing.serialize())
    _store(files, timing_path, run_dir, timing_bytes)
    if calibrator is not None:
        files[CALIBRATION_CACHE_FILE] = calibrator.cache
    record = {
        "tensorrt": trt.__version__,
        "typing": "weak (precision flags)" if weak else "strong (types from the ONNX graph)",
        "device": _device_record(),
        "engine_precision": str(precision),
        "quantization": (
            "explicit (Q/DQ scales from the ONNX model)"
            if explicit
            else "implicit (entropy calibration)"
            if calibrator
            else None
        ),
        "calibration": _calibration_record(calibrator, config),
        "profile": {"input": target.name, "min": shapes[0], "opt": shapes[1], "max": shapes[2]},
        "workspace_bytes": config.workspace_mib << 20,
        "timing_cache": {
            "path": str(timing_path),
            "loaded": timing_loaded,
            "bytes": len(timing_bytes),
        },
        "network": {
            "layers": network.num_layers,
            "inputs": network.num_inputs,
            "outputs": network.num_outputs,
        },
        "profiling_verbosity": "detailed",
        "build_seconds": seconds,
        "verification": {
            "reference": "source ONNX on ORT CPU",
            "tolerance": _TOLERANCES[precision].to_dict(),
            "results": [parity.to_dict()],
        },
    }
    return files, record


def _parse(trt: Any, network: Any, logger: Any, path: Path) -> None:
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(path)):
        errors = [parser.get_error(i).desc() for i in range(parser.num_errors)] or ["?"]
        raise SeDeployError(
            f"TensorRT's ONNX parser rejects '{path}': {errors[0]} "
            f"(+{len(errors) - 1} more); try another --opset on export"
        )


def _has_qdq_layers(trt: Any, network: Any) -> bool:
    kinds = (trt.LayerType.QUANTIZE, trt.LayerType.DEQUANTIZE)
    return any(network.get_layer(i).type in kinds for i in range(network.num_layers))


def _attach_calibrator(builder: Any, settings: Any, target: ImageInput, config: BuildConfig) -> Any:
    """Implicit INT8: calibrate on real images at one fixed batch shape (its own profile)."""
    from se_deploy.stages.compile.trt_calibrator import entropy_calibrator

    if config.calib is None:
        raise SeDeployError(
            "--engine-precision int8 on a float model calibrates in TensorRT: pass "
            "--calib fashion-mnist|synthetic|DIR (or build the int8 QDQ artifact "
            "from `se-deploy quantize`)"
        )
    batch = target.batch or config.calib_batch_size
    images = load_images(config.calib, target, CALIBRATION_SPLIT, config.data_dir)
    stream = fixed_batches(images, batch, config.calib_size, config.seed, target.dtype)
    cache = config.calib_cache.read_bytes() if config.calib_cache else None
    calibrator = entropy_calibrator(stream, (batch, *target.chw), target.dtype, cache)
    calibration_profile = builder.create_optimization_profile()
    shape = (batch, *target.chw)
    calibration_profile.set_shape(target.name, shape, shape, shape)
    settings.int8_calibrator = calibrator
    settings.set_calibration_profile(calibration_profile)
    return calibrator


def _calibration_record(calibrator: Any, config: BuildConfig) -> dict[str, Any] | None:
    if calibrator is None:
        return None
    start = str(config.calib_cache) if config.calib_cache else None
    return {
        "method": "IInt8EntropyCalibrator2",
        "dataset": config.calib,
        "split": CALIBRATION_SPLIT,
        "images": calibrator.images,
        "cache": CALIBRATION_CACHE_FILE,
        "started_from_cache": start,
    }


def _verify(
    engine: bytes,
    source: Path,
    target: ImageInput,
    opt_shape: tuple[int, ...],
    precision: EnginePrecision,
):
    """The engine through the TrtRunner against ORT CPU on the source, at the opt batch."""
    batches = [b.astype(target.dtype) for b in random_batches([opt_shape[0]], target.chw, 0)]
    reference = session_outputs(open_session(source.read_bytes()), batches)
    with tempfile.TemporaryDirectory(prefix="se-deploy-engine-") as workdir:
        path = Path(workdir) / ENGINE_FILE
        path.write_bytes(engine)
        with TrtRunner().load(path) as runner:
            outputs = np.concatenate([runner.run(batch) for batch in batches])
    parity = compare_outputs(
        reference, outputs.astype(np.float32), "random", _TOLERANCES[precision]
    )
    if not parity.passed:
        raise VerificationError(
            f"the {precision} engine disagrees with ORT on its source: "
            f"{', '.join(parity.failures)}; nothing was written"
        )
    return parity


def _store(files: dict[str, bytes], path: Path, run_dir: Path, data: bytes) -> None:
    """The timing cache goes with the run's files when it lives there, else to its own path."""
    from se_deploy.core.files import atomic_write_bytes

    if path.parent.resolve() == run_dir.resolve():
        files[path.name] = data
    else:
        atomic_write_bytes(path, data)


def _device_record() -> dict[str, Any]:
    """The GPU the engine was built for (engines do not move between GPU models)."""
    properties = cuda_call(import_cudart().cudaGetDeviceProperties(0))
    name = properties.name
    return {
        "name": name.decode() if isinstance(name, bytes) else str(name),
        "compute_capability": f"{properties.major}.{properties.minor}",
    }
