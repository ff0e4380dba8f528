"""What SE costs on ONNX Runtime CPU, and what exact rewrites and static SE folding buy back.

Two parts, each SE model against its registered baseline, SE/base latency ratios measured
interleaved in this one process (bench.latency: geometric mean of per-round median ratios,
percentile-bootstrap 95% interval over rounds):

- `224`: the paper pairs at 224x224, batch 1, seeded random init with settled BatchNorm
  (latency only). Forms of the same SE graph, all exact (max |logit diff| vs the plain export is
  printed): `plain` (what `se-deploy export` writes) and `resize` (`--se-gate resize`: the gate
  expanded to HxW with Resize(nearest), which ORT turns into an NCHWc Upsample so the Mul runs
  NCHWc: no reorders);
  `extended` is the plain graph run without ORT's NCHWc layout pass (graph level `extended`)
  against the baseline at `all`. Two more FP32 rows are diagnostics, not exact: `squeeze path
  only` drops every block's Mul (the gates are still computed, as extra graph outputs),
  `pools only` keeps just the global pools, and `Mul only` multiplies by a constant gate (pool
  and FCs gone); together they split the SE cost into the pool pass, the small FC ops and the
  multiply pass, which bounds what any exact graph form can reach. FP32 and
  INT8 (ORT QDQ, s8s8 per-channel, synthetic calibration: latency only). `reorders` counts
  the nchwc Reorder nodes in ORT's saved optimized graph (SE / base).
- `built`: every registered pair at 224x224, batch 1, at each --threads-list count: the plain
  export, the artifact `se-deploy build --backend ort --graph-opt all` writes (SE gates placed in
  ORT's NCHWc layout, stages.compile.nchwc_se), INT8 with `quantize`'s defaults (--target ort-cpu:
  u8s8) and that INT8 model built the same way. A built SE model is divided by the FASTER of its
  baseline's built and plain forms (both are timed against it; the larger ratio is printed, with
  the baseline it used), so placing gates can never flatter the ratio by slowing the baseline.
  `INT8 speed-up` is the SE model's faster FP32 form over its INT8 default (interleaved).
  Two diagnostics, over the same faster baseline: `fp32 pools only` (the diagnostic below: every
  SE block's Mul dropped, only its global pool kept, the pooled vectors graph outputs) is what
  the pool pass alone costs: no exact placement of the gate goes under it where the squeeze
  reads the map itself (a build that moves the squeeze before a linear conv, `producer`
  forms, pools a smaller tensor). `int8 squeeze only` is that diagnostic's INT8 twin with the
  whole squeeze kept (pool, FCs, gate activation; no Mul), quantized and built like the others:
  `int8 built` minus it is what the INT8 gate multiply costs where both graphs quantize alike
  (se_mobilenet, v2; in ShuffleNet v2 dropping the Mul changes how ORT fuses the blocks' Q/DQ
  neighbours, and the diagnostic runs slower than the model). Both count one graph output per
  block, which a real graph does not have (mobilenet at 224 with 13 extra vector outputs, each
  behind a Relu: 1.015 [1.006, 1.023], Xeon, 2026-12-03).
- `fmnist`: the trained Fashion-MNIST pairs at their own input size. `se-deploy fold --fold-se
  auto --max-drop 0.3` picks blocks on 5000 test images and checks the choice on the other
  5000 (`held-out drop`: the figure the budget is judged by); the figures are the SE model
  unfolded and folded against the baseline, top-1 on all 10000 test images (ORT FP32), and
  latency ratios FP32 and INT8 (the folded fp32 model quantized like the others).

    python benchmarks/se_cost.py [--part 224,built,fmnist] [--models se_mobilenet,...]
        [--threads 1] [--threads-list 1,2] [--batch 1] [--rounds 20] [--calls 5]
        [--work export/se_cost]

Artifacts are cached under --work (delete it to remake them). Ratios are relative figures: on a
loaded machine both sides slow down together, but the intervals widen.
"""

from __future__ import annotations

import argparse
import collections
import functools
import json
import os
import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import onnx
from onnx import helper

from se_deploy.backends import GraphOptimization, RunnerOptions, runner_class
from se_deploy.bench.latency import (
    InterleaveConfig,
    LatencyConfig,
    RatioEstimate,
    interleaved_ratio,
)
from se_deploy.bench.score import evaluate_runner
from se_deploy.core.artifact import resolve_source
from se_deploy.core.errors import SeDeployError
from se_deploy.core.onnx.graph import (
    NameAllocator,
    add_initializer,
    inferred_shapes,
    prune,
    rename_inputs,
    working_copy,
)
from se_deploy.core.onnx.se_pattern import find_se_blocks
from se_deploy.core.spec import se_pairs, zoo_checkpoint
from se_deploy.data import load_dataset
from se_deploy.data.calibration import (
    CALIBRATION_SPLIT,
    BatchReader,
    fixed_batches,
    image_input,
    load_images,
)
from se_deploy.models import get_spec
from se_deploy.stages.compile import BuildConfig, build_artifact
from se_deploy.stages.export import ExportConfig, export_model
from se_deploy.stages.export.passes import expand_se_gates
from se_deploy.stages.fold import FoldConfig, fold_artifact
from se_deploy.stages.quantize.config import Precision, QuantConfig, QuantScheme, SePrecision
from se_deploy.stages.quantize.int8 import quantize_int8 as quantize_static_int8
from se_deploy.stages.quantize.pipeline import quantize_artifact

PAPER_PAIRS = (
    "se_mobilenet",
    "se_shufflenet",
    "se_mobilenet_v2",
    "mobilenet_v3_small",
    "mobilenet_v3_large",
)
FMNIST_PAIRS = ("se_mobilenet", "se_shufflenet")
INPUT = "input"


@dataclass(frozen=True)
class Timing:
    rounds: int
    calls: int
    threads: int

    def ratio(
        self, se: Path, base: Path, se_level: GraphOptimization = GraphOptimization.ALL
    ) -> RatioEstimate:
        """SE/base latency, interleaved, on ORT CPU with `threads` intra-op threads."""
        runners = [_load(se, self.threads, se_level), _load(base, self.threads)]
        try:
            calls = [runner.prepare(_feed(runner)).run for runner in runners]
            estimate, _ = interleaved_ratio(
                calls[0],
                calls[1],
                InterleaveConfig(self.rounds, self.calls),
                LatencyConfig(warmup_iterations=10),
            )
        finally:
            for runner in runners:
                runner.close()
        return estimate


def _load(path: Path, threads: int, level: GraphOptimization = GraphOptimization.ALL):
    return runner_class("ort")().load(
        path, RunnerOptions(threads=threads, graph_optimization=level)
    )


def _feed(runner) -> np.ndarray:
    spec = runner.inputs[0]
    shape = tuple(dim or 1 for dim in spec.shape)
    return np.random.default_rng(0).standard_normal(shape).astype(spec.dtype)


def reorders(path: Path, threads: int, level: GraphOptimization = GraphOptimization.ALL) -> int:
    """Layout changes in the graph ORT actually runs: nchwc Reorder nodes and Transposes."""
    with tempfile.TemporaryDirectory() as tmp:
        saved = Path(tmp) / "optimized.onnx"
        options = RunnerOptions(
            threads=threads, graph_optimization=level, optimized_model_path=saved
        )
        runner = runner_class("ort")().load(path, options)
        runner.close()
        ops = collections.Counter(node.op_type for node in onnx.load(saved).graph.node)
    return ops["ReorderInput"] + ops["ReorderOutput"] + ops["Transpose"]


def squeeze_only_form(model: onnx.ModelProto, keep: str = "gate") -> onnx.ModelProto:
    """Diagnostic: every block's output is its input (no Mul); the gates (keep="gate") or only
    the pooled vectors (keep="pool") become graph outputs, so ORT still runs that much of the
    squeeze path. Its cost is that part's alone."""
    model = working_copy(model)
    blocks, shapes = find_se_blocks(model), inferred_shapes(model)
    by_name = {node.name: node for node in model.graph.node}
    kept = [
        block.scale if keep == "gate" else by_name[block.nodes[0]].output[0] for block in blocks
    ]
    rename_inputs(model.graph, {block.output: block.input for block in blocks})
    model.graph.output.extend(
        helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, shapes[name]) for name in kept
    )
    return _checked(prune(model))


def mul_only_form(model: onnx.ModelProto, gate: float = 0.5) -> onnx.ModelProto:
    """Diagnostic: every block multiplies its input by a constant (1, C, 1, 1) gate, so the pool
    and FCs are gone and the broadcast Mul, with what it does to ORT's layout pass, is left."""
    model = working_copy(model)
    names = NameAllocator(model.graph)
    blocks = find_se_blocks(model)
    constants = {
        block.scale: add_initializer(
            model.graph,
            names,
            f"{block.name}/constant_gate",
            np.full((1, block.channels, 1, 1), gate, np.float32),
        )
        for block in blocks
    }
    rename_inputs(model.graph, constants)
    return _checked(prune(model))


def _checked(model: onnx.ModelProto) -> onnx.ModelProto:
    onnx.checker.check_model(model, full_check=True)
    return model


FORMS = {
    "resize": expand_se_gates,
    "squeeze-only": squeeze_only_form,
    "pool-only": functools.partial(squeeze_only_form, keep="pool"),
    "mul-only": mul_only_form,
}


def max_logit_diff(a: Path, b: Path) -> float:
    outputs = []
    for path in (a, b):
        runner = _load(path, 1)
        outputs.append(runner.run(_feed(runner)))
        runner.close()
    return float(np.abs(outputs[0] - outputs[1]).max())


def export_fp32(model: str, root: Path, trained: bool, batch: int = 1) -> Path:
    """`se-deploy export`: the zoo's trained checkpoint, or a seeded random init at 224."""
    path = root / model / "fp32" / "model.onnx"
    if not path.exists():
        weights = zoo_checkpoint(model) if trained else None
        export_model(ExportConfig(model=model, weights=weights, batch=batch, out=root))
    return path


def quantize_int8(
    fp32: Path, calib: str, scheme: QuantScheme | None, se: SePrecision = SePrecision.INT8
) -> Path:
    """`se-deploy quantize` for trained models (checked against the float model on test images);
    for random-init ones (latency only) the same quantizer without that check, which random
    near-tied logits would fail for reasons that have nothing to do with speed. scheme None:
    quantize's default (--target ort-cpu)."""
    config = QuantConfig(
        precision=Precision.INT8, calib=calib, calib_size=128, scheme=scheme, se_precision=se
    )
    out = (
        fp32.parent.parent / f"{fp32.parent.name.replace('fp32', config.tag)}-{config.int8_scheme}"
    )
    if (out / "model.onnx").exists():
        return out / "model.onnx"
    if calib != "synthetic":
        quantize_artifact(resolve_source(fp32, None, "fp32"), config, out)
        return out / "model.onnx"
    target = image_input(onnx.load(fp32))
    images = load_images(calib, target, CALIBRATION_SPLIT)
    stream = fixed_batches(images, target.batch or 1, config.calib_size, 0, target.dtype)
    with tempfile.TemporaryDirectory() as workdir:
        result = quantize_static_int8(fp32, config, BatchReader(target.name, stream), Path(workdir))
    out.mkdir(parents=True, exist_ok=True)
    onnx.save(result.model, out / "model.onnx")
    return out / "model.onnx"


def built(path: Path) -> Path:
    """`se-deploy build --backend ort --graph-opt all` beside `path` (cached)."""
    out = path.with_name("model.ort-all.onnx")
    if not out.exists():
        build_artifact(resolve_source(path, None, "fp32"), BuildConfig("ort", graph_opt="all"))
    return out


def gate_forms(path: Path) -> str:
    """The SE gate forms the build chose, as 'depthwise-weights 12, pooled 1'."""
    record = json.loads(path.with_name("build-ort-cpu.json").read_text())
    gates = record["ort"]["optimized_model"]["se_gates"]
    return ", ".join(f"{form} {count}" for form, count in gates.get("forms", {}).items()) or "-"


def against_faster(timing: Timing, se: Path, bases: dict[str, Path]) -> tuple[str, RatioEstimate]:
    """`se` over each form of the other side: the larger ratio (over the faster form) and the
    form's name."""
    estimates = {name: timing.ratio(se, base) for name, base in bases.items()}
    name = max(estimates, key=lambda key: estimates[key].ratio)
    return name, estimates[name]


def over_faster_base(timing: Timing, se: Path, bases: dict[str, Path]) -> str:
    name, estimate = against_faster(timing, se, bases)
    return f"{_cell(estimate)} /{name}"


def part_built(
    models: list[str], work: Path, timing: Timing, threads: list[int]
) -> list[dict[str, str]]:
    rows = []
    for model in models:
        base = get_spec(model).baseline
        se32, base32 = (export_fp32(name, work, False) for name in (model, base))
        se8, base8 = (quantize_int8(path, "synthetic", None) for path in (se32, base32))
        se32b, base32b, se8b, base8b = (built(path) for path in (se32, base32, se8, base8))
        fp32_bases, int8_bases = (
            {"plain": base32, "built": base32b},
            {"plain": base8, "built": base8b},
        )
        pools, squeeze = (write_form(se32, form) for form in ("pool-only", "squeeze-only"))
        squeeze8b = built(quantize_int8(squeeze, "synthetic", None))
        for count in threads:
            timed = replace(timing, threads=count)
            print(f"  {model} threads {count} ...", file=sys.stderr, flush=True)
            fp32_form, speedup = against_faster(timed, se8, {"plain": se32, "built": se32b})
            rows.append(
                {
                    "pair": f"{model}/{base}",
                    "thr": str(count),
                    "fp32 plain": _cell(timed.ratio(se32, base32)),
                    "fp32 built": over_faster_base(timed, se32b, fp32_bases),
                    "fp32 pools only": over_faster_base(timed, pools, fp32_bases),
                    "int8 default": _cell(timed.ratio(se8, base8)),
                    "int8 built": over_faster_base(timed, se8b, int8_bases),
                    "int8 squeeze only": over_faster_base(timed, squeeze8b, int8_bases),
                    "int8 speed-up": f"{1 / speedup.ratio:.2f}x "
                    f"[{1 / speedup.high:.2f}, {1 / speedup.low:.2f}] /{fp32_form}",
                    "gate forms (fp32)": gate_forms(se32b),
                    "max|diff| built": f"{max_logit_diff(se32b, se32):.2g}",
                }
            )
    return rows


def write_form(fp32: Path, form: str) -> Path:
    path = fp32.parent.parent / f"fp32-{form}" / "model.onnx"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        onnx.save(FORMS[form](onnx.load(fp32)), path)
        (path.parent / "manifest.json").write_text((fp32.parent / "manifest.json").read_text())
    return path


def _cell(estimate: RatioEstimate) -> str:
    return f"{estimate.ratio:.3f} [{estimate.low:.3f}, {estimate.high:.3f}]"


def part_224(models: list[str], work: Path, timing: Timing, batch: int) -> list[dict[str, str]]:
    rows = []
    for model in models:
        base = get_spec(model).baseline
        se32, base32 = (export_fp32(name, work, False, batch) for name in (model, base))
        resize32, squeeze32, pool32, mul32 = (write_form(se32, form) for form in FORMS)
        s8, u8 = QuantScheme.S8S8, QuantScheme.U8S8
        se8, base8 = quantize_int8(se32, "synthetic", s8), quantize_int8(base32, "synthetic", s8)
        seu8, baseu8 = quantize_int8(se32, "synthetic", u8), quantize_int8(base32, "synthetic", u8)
        sefloat8 = quantize_int8(se32, "synthetic", s8, SePrecision.FLOAT)
        all_, extended = GraphOptimization.ALL, GraphOptimization.EXTENDED
        cases = [
            ("fp32", "plain", se32, base32, all_, se32),
            ("fp32", "resize", resize32, base32, all_, se32),
            ("fp32", "plain, no NCHWc", se32, base32, extended, se32),
            ("fp32", "diagnostic: squeeze path only", squeeze32, base32, all_, se32),
            ("fp32", "diagnostic: pools only", pool32, base32, all_, se32),
            ("fp32", "diagnostic: Mul only", mul32, base32, all_, se32),
            ("int8 s8s8", "plain", se8, base8, all_, se8),
            ("int8 s8s8", "SE in float", sefloat8, base8, all_, se8),
            ("int8 u8s8", "plain", seu8, baseu8, all_, seu8),
        ]
        for precision, form, se, ref, level, plain in cases:
            print(f"  {model} {precision} {form} ...", file=sys.stderr, flush=True)
            rows.append(
                {
                    "pair": f"{model}/{base}",
                    "precision": precision,
                    "form": form,
                    "SE/base [95% CI]": _cell(timing.ratio(se, ref, level)),
                    "layout ops SE/base": f"{reorders(se, timing.threads, level)}/"
                    f"{reorders(ref, timing.threads)}",
                    "max|diff| vs plain": f"{max_logit_diff(se, plain):.2g}",
                }
            )
    return rows


def part_fmnist(models: list[str], work: Path, timing: Timing) -> list[dict[str, str]]:
    rows = []
    for model in models:
        base = get_spec(model).baseline
        if not all(_has_checkpoint(name) for name in (model, base)):
            print(f"  {model}: no trained checkpoint pair yet, skipped", file=sys.stderr)
            continue
        se32, base32 = export_fp32(model, work, True), export_fp32(base, work, True)
        folded_dir = se32.parent.parent / "fp32-folded"
        if not (folded_dir / "model.onnx").exists():
            print(f"  {model} fold auto ...", file=sys.stderr, flush=True)
            fold_artifact(
                resolve_source(se32, None, "fp32"),
                FoldConfig.from_fold_se("auto", data="fashion-mnist"),
            )
        folded32 = folded_dir / "model.onnx"
        manifest = json.loads((folded_dir / "manifest.json").read_text())
        base_top1, unfolded_top1 = top1(base32), top1(se32)
        for form, fp32 in (("unfolded", se32), ("folded auto", folded32)):
            print(f"  {model} {form} ...", file=sys.stderr, flush=True)
            row = {
                "pair": f"{model}/{base}",
                "SE form": form,
                "blocks folded": f"{manifest['folded']['count'] if fp32 == folded32 else 0}/"
                f"{manifest['folded']['of']}",
                "top-1 fp32 SE (base)": f"{top1(fp32):.4f} ({base_top1:.4f})",
                "fold delta (pt)": f"{(top1(fp32) - unfolded_top1) * 100:+.2f}",
                "held-out drop (pt)": f"{manifest['check']['drop_pt']:.2f}"
                if fp32 == folded32
                else "",
                "fp32 SE/base": _cell(timing.ratio(fp32, base32)),
            }
            for scheme in (QuantScheme.S8S8, QuantScheme.U8S8):
                se8 = quantize_int8(fp32, "fashion-mnist", scheme)
                base8 = quantize_int8(base32, "fashion-mnist", scheme)
                row[f"int8 {scheme} SE/base"] = _cell(timing.ratio(se8, base8))
                row[f"top-1 {scheme} SE (base)"] = f"{top1(se8):.4f} ({top1(base8):.4f})"
            rows.append(row)
    return rows


def _has_checkpoint(name: str) -> bool:
    try:
        zoo_checkpoint(name)
    except SeDeployError:  # the zoo names the missing file; here it means "not trained yet"
        return False
    return True


def top1(path: Path) -> float:
    runner = _load(path, os.cpu_count() or 1)
    size = runner.inputs[0].shape[2]
    data = load_dataset("fashion-mnist", "test", size, None, runner.inputs[0].shape[1])
    batch = runner.inputs[0].shape[0] or 256
    try:
        return evaluate_runner(runner, data.batches(batch)).top1
    finally:
        runner.close()


def print_rows(title: str, rows: list[dict[str, str]]) -> None:
    if not rows:
        return
    keys = list(rows[0])
    widths = {k: max(len(k), *(len(str(r.get(k, ""))) for r in rows)) for k in keys}
    print(f"\n{title}")
    print("  ".join(k.ljust(widths[k]) for k in keys))
    for row in rows:
        print("  ".join(str(row.get(k, "")).ljust(widths[k]) for k in keys))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", default="224,fmnist")
    parser.add_argument("--models", default=None, help="SE models (default: each part's own)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--threads-list", default="1,2", help="built part: thread counts")
    parser.add_argument("--batch", type=int, default=1, help="224 part: static batch size")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--calls", type=int, default=5, help="calls of each side per round")
    parser.add_argument("--work", type=Path, default=Path("export/se_cost"))
    args = parser.parse_args()
    timing = Timing(args.rounds, args.calls, args.threads)
    parts = args.part.split(",")
    chosen = args.models.split(",") if args.models else None
    header = (
        f"ORT CPU, {args.threads} thread(s), batch {args.batch} (224 part), "
        f"{args.rounds} interleaved rounds x "
        f"{args.calls} calls, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    print(header)
    if "224" in parts:
        root = args.work / ("224" if args.batch == 1 else f"224-b{args.batch}")
        rows = part_224(chosen or list(PAPER_PAIRS), root, timing, args.batch)
        print_rows("224x224 random init: exact forms (SE/base latency, 95% CI)", rows)
    if "built" in parts:
        threads = [int(count) for count in args.threads_list.split(",")]
        pairs = chosen or [se for se, _ in se_pairs()]
        rows = part_built(pairs, args.work / "224", timing, threads)
        print_rows(
            "224x224 random init, batch 1: plain export vs built (SE gates in NCHWc), FP32 and "
            "INT8 default (SE/base latency, 95% CI; built rows over the faster baseline)",
            rows,
        )
    if "fmnist" in parts:
        rows = part_fmnist(chosen or list(FMNIST_PAIRS), args.work / "fmnist", timing)
        print_rows("Fashion-MNIST trained pairs: static SE folding", rows)
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
