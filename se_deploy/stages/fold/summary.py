"""Terminal output of `se-deploy fold`: a step display while it runs, a block table when done."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from se_deploy.core.artifact import OnnxSource, RunResult
from se_deploy.core.console import activity, console, err_console, print_json, print_table
from se_deploy.stages.fold.pipeline import StepCallback
from se_deploy.stages.fold.plot import short_block_name

_COLUMNS = [
    ("block", "SE block"),
    ("mean", "gate mean"),
    ("spread", "spread"),
    ("error", "output change"),
    ("site", "fold site"),
    ("folded", "folded"),
    ("drop_pt", "drop pt"),
]


@contextlib.contextmanager
def step_display(source: OnnxSource) -> Iterator[StepCallback]:
    """The running step on stderr (stdout stays clean for --json)."""
    label = str(source.path)
    with activity(label) as update:
        yield update


def print_fold_summary(result: RunResult, as_json: bool = False) -> None:
    manifest = result.manifest
    if as_json:
        print_json(manifest)
        return
    folded = manifest["folded"]
    rows = [
        {
            **block,
            "block": short_block_name(block["block"]),
            "folded": "yes" if block["folded"] else "no",
        }
        for block in manifest["se_blocks"]
    ]
    print_table(
        f"SE blocks ({folded['count']} of {folded['of']} folded; the manifest says why)",
        rows,
        _COLUMNS,
    )
    selection, check = manifest["selection"], manifest["check"]
    if selection:
        console.print(
            f"selection: {selection['images']} {selection['split']} images, unfolded "
            f"top-1 {selection['top1_unfolded']:.4f}, budget "
            f"{selection['max_drop_pt']} pt"
        )
    if check:
        console.print(
            f"check: {check['images']} {check['split']} images, top-1 "
            f"{check['top1_unfolded']:.4f} -> {check['top1_folded']:.4f} "
            f"(drop {check['drop_pt']:.2f} pt), top-1 agreement "
            f"{check['top1_agreement']:.4f}"
        )
    if selection and check and check["drop_pt"] > selection["max_drop_pt"]:
        err_console.print(
            f"warning: the check set lost {check['drop_pt']:.2f} pt, more than the "
            f"{selection['max_drop_pt']} pt budget the selection set kept to "
            "(each greedy step keeps a fold when its measured drop is low, noise "
            "included); raise --select-size or lower --max-drop"
        )
    console.print(
        f"wrote {result.onnx_path.parent}/ (model.onnx, gate_stats.json, gates.png, manifest.json)"
    )
