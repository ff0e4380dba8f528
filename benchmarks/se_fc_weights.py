"""Where MobileNetV3's built SE cost sits: the same network with the SE squeeze at the paper's
1/4 (as designed) and at 1/64 (FCs ~1/16 the size), each built by `se-deploy build --backend
ort`, and the designed one with every gate computed but applied nowhere (se_cost's
`squeeze_only_form`: the squeeze path alone), each benched against the built no-SE twin.

    python benchmarks/se_fc_weights.py [--work export/se_fc_weights] [--variants large,small]
        [--threads 1] [--rounds 24]

At batch 1 each SE block's two FCs are matrix-vector products: every weight is read once per
image, from a cache the rest of the network has long evicted it from. MobileNetV3-Large's SE
FCs hold 1.5 M of its 5.5 M parameters, so no placement of the gate (the build's job) touches
that part of the cost; the 1/64 row shows what is left without it (pools, gate passes, node
overheads), and the squeeze-path row what applying the gates costs on top (its difference to
the designed row). Artifacts are cached under --work (delete it to remake them).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
from se_cost import squeeze_only_form  # benchmarks/se_cost.py, beside this script

from se_deploy.backends.ort import machine_facts
from se_deploy.core.onnx.se_pattern import find_se_blocks
from se_deploy.core.spec import V3_SE
from se_deploy.models.mobilenet import MobileNetV3

DESIGNED = "as designed (1/4)"
REDUCTIONS = {DESIGNED: 4, "FCs 1/16 (1/64)": 64}


def mobilenet_v3(variant: str = "large", reduction: str = "4"):
    """`export --module` factory: MobileNetV3 with its SE squeeze at 1/`reduction` (0: no SE)."""
    from dataclasses import replace

    se = replace(V3_SE, reduction=int(reduction)) if int(reduction) else None
    return MobileNetV3(variant, se=se)


def cli(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "se_deploy", "-q", *args], capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"`se-deploy {' '.join(args)}` failed:\n{done.stderr}")
    return done.stdout


def built(work: Path, variant: str, reduction: int) -> Path:
    """The built graph of one variant (exported and built once, kept between runs)."""
    name = f"v3_{variant}_r{reduction}"
    source = work / name / "fp32" / "model.onnx"
    if not source.exists():
        cli(
            "export", "--module", f"{Path(__file__).resolve()}:mobilenet_v3",
            "--module-arg", f"variant={variant}", "--module-arg", f"reduction={reduction}",
            "--shapes", "input:1x3x224x224", "--out", str(work), "--name", name,
            *(["--expect-se", "0"] if reduction == 0 else []),
        )  # fmt: skip
    target = source.with_name("model.ort-all.onnx")
    if not target.exists():
        cli("build", "--backend", "ort", "--input", str(source))
    return target


def squeeze_path(designed: Path) -> Path:
    """The designed source with no gate applied (gates kept as outputs), ORT-optimized at load:
    with no Mul left there is no gate to place."""
    target = designed.parent.parent.parent / f"{designed.parent.parent.name}_squeeze" / "fp32"
    if not (target / "model.onnx").exists():
        target.mkdir(parents=True, exist_ok=True)
        onnx.save(
            squeeze_only_form(onnx.load(str(designed.with_name("model.onnx")))),
            target / "model.onnx",
        )
    return target / "model.onnx"


def fc_parameters(built_path: Path) -> tuple[int, int]:
    """(SE FC weights, all weights) of the source graph the build read."""
    model = onnx.load(str(built_path.with_name("model.onnx")))
    sizes = {init.name: int(np.prod(init.dims)) for init in model.graph.initializer}
    nodes = {node.name: node for node in model.graph.node}
    fc = sum(
        sizes.get(name, 0)
        for block in find_se_blocks(model)
        for node_name in block.nodes
        if nodes[node_name].op_type in ("Conv", "Gemm", "MatMul")
        for name in nodes[node_name].input[1:]
    )
    return fc, sum(sizes.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("export/se_fc_weights"))
    parser.add_argument("--variants", default="large,small")
    parser.add_argument("--threads", default="1")
    parser.add_argument("--rounds", type=int, default=24)
    args = parser.parse_args()
    rows = []
    bench = ["bench", "--backend", "ort", "--threads", args.threads, "--no-accuracy"]
    bench += ["--rounds", str(args.rounds), "--sessions", "6", "--json"]
    for variant in args.variants.split(","):
        base = built(args.work, variant, 0)
        for label, reduction in REDUCTIONS.items():
            se = built(args.work, variant, reduction)
            rows.append((variant, label, *fc_parameters(se)))
            bench += ["--pair", f"{se},{base}"]
        designed = built(args.work, variant, REDUCTIONS[DESIGNED])
        rows.append((variant, "1/4, no gate applied", *fc_parameters(designed)))
        bench += ["--pair", f"{squeeze_path(designed)},{base}"]
    report = json.loads(cli(*bench, "--out", str(args.work / "bench")))
    facts = machine_facts()
    print(
        f"onnxruntime {facts['onnxruntime']}, NCHWc block {facts['nchwc_block']}, "
        f"CPU {' '.join(facts['cpu_flags'])}, {args.threads} thread(s), 224x224, batch 1, "
        f"{args.rounds} interleaved rounds over 6 sessions; built SE / built no-SE twin"
    )
    print(f"{'MobileNetV3':8s} {'SE squeeze':20s} {'SE FC weights':>22s}  SE/base [95% CI]")
    for (variant, label, fc, total), pair in zip(rows, report["pairs"], strict=True):
        ratio = pair["ratios"][0]
        weights = f"{fc / 1e6:.2f} M of {total / 1e6:.2f} M"
        print(
            f"{variant:8s} {label:20s} {weights:>22s}  "
            f"{ratio['ratio']:.3f} [{ratio['low']:.3f}, {ratio['high']:.3f}]"
        )


if __name__ == "__main__":
    main()
