"""Terminal output of `se-deploy export`: a step display while it runs, tables when it is done."""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator

from se_deploy.core.artifact import RunResult
from se_deploy.core.checks import format_agreement
from se_deploy.core.console import activity, console, print_table
from se_deploy.stages.export.config import ExportConfig
from se_deploy.stages.export.pipeline import StepCallback, planned_steps


@contextlib.contextmanager
def step_display(config: ExportConfig) -> Iterator[StepCallback]:
    """The running step on stderr (stdout stays clean for --json)."""
    label = config.model or config.module or str(config.onnx or config.weights)
    with activity(label, total=len(planned_steps(config))) as update:
        yield update


def print_export_summary(result: RunResult) -> None:
    """One field per row (it fits 80 columns), then the pass table."""
    manifest = result.manifest
    se, graph, output = manifest["se_blocks"], manifest["graph"], manifest["outputs"][0]
    weights = manifest["weights"]
    fields = {
        "model": manifest["model"]["name"],
        "weights": weights.get("path")
        or weights.get("file")
        or f"random init (seed {weights.get('seed')}, BN statistics settled)",
        "input": "x".join(str(d) for d in manifest["export"]["input_shape"]),
        "exporter / opset": f"{manifest['export']['exporter']} / {manifest['export']['opset']}",
        "nodes exported -> final": f"{graph['nodes_exported']} -> {graph['nodes']}",
        "SE blocks found / expected": f"{se['found']} / {se['expected']} {_se_kinds(se['blocks'])}",
    }
    origin = manifest["model"].get("origin") or {}
    reference = "the file" if origin.get("kind") == "onnx" else "PyTorch"
    for parity in manifest["verification"]["results"]:
        fields[f"vs {reference}, {parity['samples']} {parity['source']} inputs"] = (
            f"max abs {parity['max_abs_diff']:.3g} (limit {parity['abs_limit']:.3g}), "
            f"cosine {parity['min_cosine']:.6f}, top-1 agree "
            f"{format_agreement(parity['top1_agreement'])}, "
            f"output range {parity['output_range']:.3g}"
        )
    fields["size / sha256"] = f"{output['bytes'] / 1e6:.2f} MB / {output['sha256'][:16]}"
    fields["seconds"] = f"{sum(manifest['seconds'].values()):.2f}"
    rows = [{"field": key, "value": value} for key, value in fields.items()]
    print_table("se-deploy export", rows, [("field", "field"), ("value", "value")])
    print_table(
        "graph passes",
        manifest["passes"],
        [
            ("name", "pass"),
            ("nodes_before", "nodes before"),
            ("nodes_after", "nodes after"),
            ("seconds", "s"),
            ("skipped", "skipped"),
        ],
    )
    console.print(f"wrote {result.onnx_path} and {result.manifest_path.name}")


def _se_kinds(blocks: list[dict]) -> str:
    """'(avg/sigmoid)' style summary of the squeeze/gate kinds found."""
    kinds = Counter(f"{block['squeeze']}/{block['gate']}" for block in blocks)
    return f"({', '.join(kinds)})" if kinds else ""
