"""Terminal output of `se-deploy build`: one field per row, read off the manifest it wrote."""

from __future__ import annotations

from typing import Any

from se_deploy.core.artifact import RunResult
from se_deploy.core.checks import format_agreement
from se_deploy.core.console import console, print_table


def print_build_summary(result: RunResult) -> None:
    manifest = result.manifest
    fields: dict[str, Any] = {
        "model": (manifest.get("model") or {}).get("name", "-"),
        "source": manifest["source"]["path"],
        "precision": manifest["precision"],
    }
    if "trt" in manifest:
        fields.update(_trt_fields(manifest["trt"]))
        checks = manifest["trt"]["verification"]["results"]
    else:
        fields.update(_ort_fields(manifest["ort"]))
        checks = manifest["ort"]["verification"]["results"]
    for parity in checks:
        fields[f"vs source, {parity['samples']} {parity['source']} inputs"] = (
            f"max abs {parity['max_abs_diff']:.3g} (limit {parity['abs_limit']:.3g}), "
            f"top-1 agree {format_agreement(parity['top1_agreement'])}"
        )
    for output in manifest["outputs"]:
        fields[output["path"]] = f"{output['bytes'] / 1e6:.2f} MB / {output['sha256'][:16]}"
    rows = [{"field": key, "value": str(value)} for key, value in fields.items()]
    print_table("se-deploy build", rows, [("field", "field"), ("value", "value")])
    console.print(f"wrote {result.manifest_path}")


def _ort_fields(ort: dict[str, Any]) -> dict[str, Any]:
    session = ort["session_options"]
    fields = {
        "provider": ort["provider"],
        "threads (intra / inter)": f"{session['intra_op_num_threads']} / "
        f"{session['inter_op_num_threads']}",
        "graph optimization": session["graph_optimization_level"],
    }
    optimized = ort["optimized_model"]
    if optimized:
        fields["optimized graph"] = f"{optimized['nodes']} nodes, portable {optimized['portable']}"
        gates = optimized.get("se_gates") or {}
        if gates.get("placed"):
            forms = ", ".join(f"{form} {count}" for form, count in gates["forms"].items())
            fields["SE gates in NCHWc"] = forms or "no SE blocks"
        elif gates.get("note"):
            fields["SE gates in NCHWc"] = f"none: {gates['note']}"
        if "valid_for" in optimized:
            facts = optimized["valid_for"]
            fields["valid for"] = (
                f"onnxruntime {facts['onnxruntime']}, NCHWc block {facts['nchwc_block']}"
            )
    return fields


def _trt_fields(trt: dict[str, Any]) -> dict[str, Any]:
    profile = trt["profile"]
    return {
        "TensorRT / GPU": f"{trt['tensorrt']} / {trt['device']['name']}",
        "engine precision": f"{trt['engine_precision']} ({trt['quantization'] or 'float'})",
        "batch profile": f"{profile['min'][0]} / {profile['opt'][0]} / {profile['max'][0]}",
        "timing cache": f"{trt['timing_cache']['path']} (loaded {trt['timing_cache']['loaded']})",
        "build seconds": trt["build_seconds"],
    }
