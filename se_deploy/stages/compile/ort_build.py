"""`se-deploy build --backend ort`: the session configuration per execution provider, checked by
building the session, and for the CPU provider the graph ORT optimized saved offline.

ORT's offline mode saves the graph after its optimizations. At levels up to `extended` that
file holds ONNX and com.microsoft fused ops only, so it loads on any machine's CPU provider
(with optimizations off, skipping that work at start-up). Level `all` adds NCHWc layout nodes
chosen for this CPU's vector width; ORT itself warns that such a file should be used only in
the environment it was optimized in, and the manifest marks it `portable: false`. GPU
providers get no saved graph (their fused kernels are provider-specific); the TensorRT provider
gets its engine cache instead.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import onnx

from se_deploy.backends import Device, GraphOptimization, RunnerOptions
from se_deploy.backends.ort import (
    OrtRunner,
    OrtTensorrtRunner,
    machine_facts,
    open_session,
    session_options,
    session_outputs,
)
from se_deploy.core.artifact import OnnxSource, Precision
from se_deploy.core.checks import (
    FP32,
    TOLERANCES,
    Tolerance,
    batch_plan,
    compare_outputs,
    random_batches,
)
from se_deploy.core.onnx.facts import detect_precision
from se_deploy.core.onnx.graph import load_model
from se_deploy.core.shapes import InputShapes
from se_deploy.data.calibration import image_input
from se_deploy.stages.compile.config import BuildConfig, OrtProvider
from se_deploy.stages.compile.nchwc_se import (
    BlockPlacement,
    GateForm,
    place_se_gates,
    reader_summary,
    static_batch,
)

PROVIDERS = {
    OrtProvider.CPU: ("CPUExecutionProvider", OrtRunner, Device.CPU),
    OrtProvider.CUDA: ("CUDAExecutionProvider", OrtRunner, Device.CUDA),
    OrtProvider.TENSORRT: ("TensorrtExecutionProvider", OrtTensorrtRunner, Device.CUDA),
}
TRT_CACHE_DIR = "ort-trt-cache"
VERIFY_SAMPLES = 8
# A GPU provider may compute in TF32/FP16; the CPU file must match the source as an fp32 export.
GPU_TOLERANCE = Tolerance(max_abs=1e-2, min_cosine=0.999, min_top1_agreement=0.98)
# SE gates placed in NCHWc: the depthwise-1x1 and pooled forms do the same float products (bit
# identical or within a rounding of the pool's sum); scaled depthwise weights reassociate one
# product per tap: within 1e-5 of the output range.
NCHWC_SE_TOLERANCE = Tolerance(max_abs=1e-5)
# INT8 gates as unit-weight QLinearConvs do QLinearMul's arithmetic with the scale products
# associated differently: an element on a rounding tie lands one int8 step away (seen: 1 of
# 8192), which a random-init model's small logits amplify; judged as INT8 noise is judged.
INT8_GATE_TOLERANCE = TOLERANCES[Precision.INT8]


def ort_unavailable(config: BuildConfig) -> str | None:
    """Why the chosen provider cannot run here (e.g. no onnxruntime-gpu), or None."""
    _, runner, device = PROVIDERS[config.provider]
    return runner.unavailable_reason(RunnerOptions(device=device))


def optimized_name(config: BuildConfig) -> str:
    return f"model.ort-{config.graph_opt}.onnx"


def build_ort(source: OnnxSource, config: BuildConfig) -> tuple[dict[str, bytes], dict[str, Any]]:
    """Build the session as configured; return the files to write and the manifest section."""

    provider, _, device = PROVIDERS[config.provider]
    with tempfile.TemporaryDirectory(prefix="se-deploy-build-") as workdir:
        work = Path(workdir)
        cpu = config.provider is OrtProvider.CPU
        options = RunnerOptions(
            device=device,
            threads=config.threads,
            inter_threads=config.inter_threads,
            graph_optimization=config.graph_opt,
            optimized_model_path=work / "optimized.onnx" if cpu else None,
        )
        so = session_options(options, "build")
        provider_options = _provider_options(config, source, work / TRT_CACHE_DIR)
        session = open_session(source.path, options, [(provider, provider_options)])
        built = (work / "optimized.onnx").read_bytes() if cpu else None
        placement, parity, fallback = (
            _placed_gates(source, built, options, work, config.shapes)
            if config.places_se_gates
            else (None, None, "")
        )
        if placement is not None:
            built = placement["model"]
        if parity is None:  # ORT's own graph (or engine), as built
            tolerance = FP32 if cpu else GPU_TOLERANCE
            checked = _unoptimized_session(built) if cpu else session
            parity = _verify(source.path, checked, tolerance, config.shapes)
        files = {optimized_name(config): built} if cpu else _cache_files(work / TRT_CACHE_DIR)
        record = {
            "provider": provider,
            "provider_options": session.get_provider_options().get(provider, {}),
            "session_options": {
                "intra_op_num_threads": so.intra_op_num_threads,
                "inter_op_num_threads": so.inter_op_num_threads,
                "graph_optimization_level": str(config.graph_opt),
                "execution_mode": str(so.execution_mode),
            },
            "optimized_model": (
                _optimized_record(config, built, source, placement, fallback) if cpu else None
            ),
            "verification": {
                "reference": "source ONNX on ORT CPU (level all)",
                "results": [parity.to_dict()],
            },
        }
    if not parity.passed:
        from se_deploy.core.errors import VerificationError

        raise VerificationError(
            f"the ORT {config.provider} build disagrees with its source: "
            f"{', '.join(parity.failures)}; nothing was written"
        )
    return files, record


def _placed_gates(
    source: OnnxSource, optimized: bytes, options: RunnerOptions, work: Path, shapes: InputShapes
) -> tuple[dict[str, Any] | None, Any, str]:
    """The placement of `_place_se_gates` with its passed check against the source; or
    (None, None, why) where the pass fails on a graph form it does not handle or its graph
    disagrees with the source: the gates are an optimization over arbitrary third-party graphs,
    so ORT's own graph is built instead (as with --se-gates ort) and the manifest says why."""
    from se_deploy.core.errors import SeDeployError, exception_line

    try:
        placement = _place_se_gates(source, optimized, options, work)
    except SeDeployError:
        raise
    except Exception as exc:  # any failure of the pass falls back, recorded
        return None, None, f"the SE gate pass failed ({exception_line(exc)}); ORT's graph kept"
    checked = _unoptimized_session(placement["model"])
    parity = _verify(source.path, checked, _cpu_tolerance(placement), shapes)
    if not parity.passed:
        failures = ", ".join(parity.failures)
        why = f"the placed gates disagreed with the source ({failures}); ORT's graph kept"
        return None, None, why
    return placement, parity, ""


def _cpu_tolerance(placement: dict[str, Any]) -> Tolerance:
    if any(block["form"] == GateForm.INT8_SCALE for block in placement["blocks"]):
        return INT8_GATE_TOLERANCE
    return NCHWC_SE_TOLERANCE


def _unoptimized_session(model: bytes) -> Any:
    """The saved graph loaded as a deployment would: optimizations off, CPU provider."""

    options = RunnerOptions(graph_optimization=GraphOptimization.DISABLED)
    return open_session(model, options, [PROVIDERS[OrtProvider.CPU][0]])


def _place_se_gates(
    source: OnnxSource, optimized: bytes, options: RunnerOptions, work: Path
) -> dict[str, Any]:
    """ORT's level-`all` graph with every SE gate it left in NCHW placed in the NCHWc layout
    (stages.compile.nchwc_se), the blocks found on the source graph by the SE finder (on a QDQ
    source: its float graph, so an INT8 build records each block too; an INT8 gate ORT runs as
    an NHWC QLinearMul becomes a unit-weight QLinearConv, stages.compile.qlinear_se). A float
    block whose map a linear 1x1 conv writes first has its squeeze moved before that conv and,
    where ORT runs the conv in NCHW, its gate in the conv's weights (stages.compile.se_producer);
    the moved source is optimized by ORT again, so its layout choices stay ORT's."""
    from se_deploy.core.errors import SeDeployError
    from se_deploy.core.onnx.qdq import has_qdq, strip_qdq
    from se_deploy.core.onnx.se_pattern import find_se_blocks
    from se_deploy.stages.compile import se_producer
    from se_deploy.stages.compile.qlinear_se import place_int8_gates

    block_size = machine_facts()["nchwc_block"]
    if block_size is None:
        raise SeDeployError(
            "ONNX Runtime has no NCHWc layout on this CPU, so there are no SE gates to place; "
            "build with --se-gates ort"
        )
    graph = load_model(source.path)
    quantized = has_qdq(graph)
    blocks = find_se_blocks(strip_qdq(graph) if quantized else graph)
    producers = [] if quantized else se_producer.linear_producers(graph, blocks)
    model = onnx.load_from_string(optimized)
    scaled = se_producer.scaled_blocks(producers, se_producer.nchw_maps(model), static_batch(graph))
    if producers:
        moved = se_producer.move_squeezes(graph, producers, scaled)
        model = _optimized_again(moved, options, work / "moved.onnx")
    int8: dict[str, Any] = {}
    if quantized:
        model, int8 = place_int8_gates(model, blocks)
    rest = [b for b in blocks if b.name not in scaled and b.name not in int8]
    model, placed = place_se_gates(model, rest, block_size)
    placements = {**int8, **{placement.block: placement for placement in placed}}
    for producer in producers:
        name = producer.block.name
        found = placements.get(name) or _producer_placement(graph, producer)
        placements[name] = dataclasses.replace(found, squeeze_input=producer.source)
    return {
        "model": model.SerializeToString(),
        "blocks": [placements[block.name].to_dict() for block in blocks],
    }


def _optimized_again(model: onnx.ModelProto, options: RunnerOptions, path: Path):
    """The graph ORT saves for `model` under the build's own session options."""
    open_session(
        model.SerializeToString(),
        dataclasses.replace(options, optimized_model_path=path),
        [PROVIDERS[OrtProvider.CPU][0]],
    )
    return onnx.load(str(path))


def _producer_placement(graph: onnx.ModelProto, producer) -> BlockPlacement:
    """The record of a block whose gate went into its producing conv's weights."""
    readers = (node.op_type for node in graph.graph.node if producer.block.output in node.input)
    return BlockPlacement(producer.block.name, GateForm.PRODUCER, reader_summary(readers))


def _provider_options(config: BuildConfig, source: OnnxSource, cache_dir: Path) -> dict:
    """TensorRT provider: engine and timing caches kept with the artifact, FP16/INT8 as the
    source's precision asks (INT8 reads the QDQ scales). Other providers: ORT's defaults."""
    if config.provider is not OrtProvider.TENSORRT:
        return {}
    model = load_model(source.path, load_external_data=False)
    precision = detect_precision(model)
    cache_dir.mkdir(parents=True, exist_ok=True)
    return {
        "trt_engine_cache_enable": True,
        "trt_engine_cache_path": str(cache_dir),
        "trt_timing_cache_enable": True,
        "trt_fp16_enable": precision == "fp16",
        "trt_int8_enable": precision == "int8",
    }


def _cache_files(cache_dir: Path) -> dict[str, bytes]:
    if not cache_dir.is_dir():
        return {}
    return {
        f"{TRT_CACHE_DIR}/{path.name}": path.read_bytes()
        for path in sorted(cache_dir.iterdir())
        if path.is_file()
    }


def _verify(source: Path, session: Any, tolerance: Tolerance, shapes: InputShapes):
    """The built session (or saved graph) against the source on seeded random inputs."""
    target = image_input(onnx.load(str(source), load_external_data=False), shapes)
    batches = random_batches(batch_plan(VERIFY_SAMPLES, target.batch), target.chw, seed=0)
    batches = [batch.astype(target.dtype) for batch in batches]
    reference = session_outputs(open_session(source.read_bytes()), batches)
    return compare_outputs(reference, session_outputs(session, batches), "random", tolerance)


def _optimized_record(
    config: BuildConfig,
    data: bytes,
    source: OnnxSource,
    placement: dict[str, Any] | None,
    fallback: str,
) -> dict[str, Any]:
    model = onnx.load_from_string(data)
    ops = Counter(f"{n.domain}:{n.op_type}" if n.domain else n.op_type for n in model.graph.node)
    note = (
        "ONNX and com.microsoft ops only: loads on any machine's ORT CPU provider"
        if config.portable
        else "NCHWc layout nodes for this CPU's vector width: use only on this machine type; "
        "--graph-opt extended saves a portable file"
    )
    return {
        "path": optimized_name(config),
        "level": str(config.graph_opt),
        "portable": config.portable,
        "note": note,
        "nodes": len(model.graph.node),
        "ops": dict(sorted(ops.items())),
        "load_with": "graph optimization disabled (the work is done)",
        "session_options": {"graph_optimization_level": str(GraphOptimization.DISABLED)},
        **({} if config.portable else {"valid_for": machine_facts()}),
        "source": str(source.path),
        "se_gates": _se_gates_record(config, placement, fallback),
    }


def _se_gates_record(
    config: BuildConfig, placement: dict[str, Any] | None, fallback: str
) -> dict[str, Any]:
    """Which form each SE block's gate took (nchwc_se.GateForm), or why none was placed."""
    if placement is None:
        why = fallback or (
            "kept as ORT placed them (--se-gates ort)"
            if config.places_se_gates_possible
            else "no NCHWc layout below --graph-opt all"
        )
        return {"placed": False, "note": why}
    forms = Counter(block["form"] for block in placement["blocks"])
    return {"placed": True, "forms": dict(sorted(forms.items())), "blocks": placement["blocks"]}
