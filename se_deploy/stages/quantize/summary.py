"""Terminal output of `se-deploy quantize`: one field per row, read off the manifest it wrote."""

from __future__ import annotations

from typing import Any

from se_deploy.core.artifact import RunResult
from se_deploy.core.checks import format_agreement
from se_deploy.core.console import console, print_table


def print_quantize_summary(result: RunResult) -> None:
    manifest = result.manifest
    options, se, output = manifest["options"], manifest["se_blocks"], manifest["outputs"][0]
    fields: dict[str, Any] = {
        "model": (manifest.get("model") or {}).get("name", "-"),
        "source": manifest["source"]["path"],
        "precision": options["precision"],
    }
    fields.update(_int8_fields(manifest) if "int8" in manifest else _fp16_fields(manifest))
    excluded = len(se.get("excluded_nodes", []))
    fields["SE blocks found / in artifact"] = f"{se['found']} / {se['found_in_artifact']}"
    fields["SE path precision"] = f"{se['precision']} ({excluded} nodes kept float)"
    for parity in manifest["verification"]["results"]:
        fields[f"vs float, {parity['samples']} {parity['source']} inputs"] = (
            f"max abs {parity['max_abs_diff']:.3g} ({_judged(manifest, parity)}limit "
            f"{parity['abs_limit']:.3g}), cosine {parity['min_cosine']:.6f}, top-1 agree "
            f"{format_agreement(parity['top1_agreement'])}"
            + (
                ""
                if manifest["verification"].get("enforced", True)
                else f" ({'passed' if parity['passed'] else 'FAILED'}, not enforced: latency only)"
            )
        )
    fields["size / sha256"] = f"{output['bytes'] / 1e6:.2f} MB / {output['sha256'][:16]}"
    fields["seconds"] = f"{sum(manifest['seconds'].values()):.2f}"
    rows = [{"field": key, "value": str(value)} for key, value in fields.items()]
    print_table("se-deploy quantize", rows, [("field", "field"), ("value", "value")])
    if se["found"] and options.get("scheme", "").startswith("s8"):
        console.print(_SCHEME_HINT)
    console.print(f"wrote {result.onnx_path} and {result.manifest_path.name}")


# Measured with benchmarks/se_cost.py; README "Where the cost comes from" has the table.
_SCHEME_HINT = (
    "note: with int8 activations ORT CPU runs each SE block's pool and Mul in float "
    "between Q/DQ pairs; --scheme u8s8 runs them as integer ops (se_mobilenet at "
    "224: SE/base 2.1x -> 1.33x). TensorRT takes s8s8 only."
)


def _judged(manifest: dict[str, Any], parity: dict[str, Any]) -> str:
    quantile = manifest["verification"]["tolerance"].get("abs_quantile", 1.0)
    return "" if quantile == 1.0 else f"q{quantile:g} {parity['judged_abs_diff']:.3g}, "


def _int8_fields(manifest: dict[str, Any]) -> dict[str, str]:
    options, calib, int8 = manifest["options"], manifest["calibration"], manifest["int8"]
    method = options["calib_method"]
    if options["percentile"] is not None:
        method += f" {options['percentile']}"
    return {
        "calibration": f"{calib['images']} {calib['dataset']} {calib['split']} images, {method}",
        "scheme": f"{options['scheme']} QDQ, per-channel {options['per_channel']}, "
        f"reduce-range {options['reduce_range']}",
        "Q / DQ nodes": f"{int8['quantize_nodes']} / {int8['dequantize_nodes']}",
        "Relu/Clip folded into Quantize": str(int8["clamps_absorbed"]),
        "ops in int8 / float": f"{sum(int8['int8_ops'].values())} / "
        f"{sum(int8['float_ops'].values())}",
    }


def _fp16_fields(manifest: dict[str, Any]) -> dict[str, str]:
    clamped = manifest["fp16"]["clamped_weights"]
    return {
        "float32 inputs/outputs": str(manifest["options"]["keep_io_types"]),
        "weights clamped (tiny / huge)": f"{clamped['below_min_positive']} / "
        f"{clamped['above_max_finite']}",
    }
