"""The paper's own pair, SE-ResNet-50 against ResNet-50, as a user brings it: written the way
torchvision/timm write it (tests/fixtures/se_resnet.py), through `export --module`, `build
--backend ort` and `bench --pair`, all by the CLI.

    python benchmarks/se_resnet.py [--work export/se_resnet] [--threads 1] [--rounds 20]

Prints SE/base latency (interleaved, 95% interval) at 224x224, batch 1: the plain exports, the
built graphs (SE gates placed by the build; the forms it chose are printed), and the built SE
model over the plain baseline, so the ratio is honest against the faster baseline form. The
paper (Hu et al. 2017) reports 164 -> 167 ms on a CPU for ~0.26% more FLOPs.
Artifacts are cached under --work (delete it to remake them).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

from se_deploy.backends.ort import machine_facts

FIXTURE = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "se_resnet.py"
MODELS = {"se_resnet50": ("se_resnet", "16"), "resnet50": ("resnet", "0")}


def cli(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "se_deploy", "-q", *args], capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"`se-deploy {' '.join(args)}` failed:\n{done.stderr}")
    return done.stdout


def make(work: Path, name: str) -> Path:
    """The export and the built graph of one model; the export is kept between runs."""
    factory, expected = MODELS[name]
    source = work / name / "fp32" / "model.onnx"
    if not source.exists():
        cli(
            "export", "--module", f"{FIXTURE}:{factory}", "--shapes", "input:1x3x224x224",
            "--expect-se", expected, "--out", str(work), "--name", name,
        )  # fmt: skip
    if not source.with_name("model.ort-all.onnx").exists():
        cli("build", "--backend", "ort", "--input", str(source))
    return source


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("export/se_resnet"))
    parser.add_argument("--threads", default="1")
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    se, base = make(args.work, "se_resnet50"), make(args.work, "resnet50")
    built = {path: path.with_name("model.ort-all.onnx") for path in (se, base)}
    pairs = {
        "plain / plain": (se, base),
        "built / built": (built[se], built[base]),
        "built / plain": (built[se], base),
    }
    bench = ["bench", "--backend", "ort", "--threads", args.threads, "--no-accuracy"]
    bench += ["--rounds", str(args.rounds), "--sessions", "4", "--json"]
    for a, b in pairs.values():
        bench += ["--pair", f"{a},{b}"]
    report = json.loads(cli(*bench, "--out", str(args.work / "bench")))
    facts = machine_facts()
    record = json.loads(se.with_name("build-ort-cpu.json").read_text())
    forms = Counter(b["form"] for b in record["ort"]["optimized_model"]["se_gates"]["blocks"])
    print(
        f"onnxruntime {facts['onnxruntime']}, NCHWc block {facts['nchwc_block']}, "
        f"CPU {' '.join(facts['cpu_flags'])}, {args.threads} thread(s), 224x224, batch 1, "
        f"{args.rounds} interleaved rounds over 4 sessions"
    )
    print("built SE gate forms: " + ", ".join(f"{k} {v}" for k, v in sorted(forms.items())))
    print(f"{'SE-ResNet-50 / ResNet-50':28s} SE/base latency [95% CI]")
    for label, pair in zip(pairs, report["pairs"], strict=True):
        ratio = pair["ratios"][0]
        print(f"{label:28s} {ratio['ratio']:.3f} [{ratio['low']:.3f}, {ratio['high']:.3f}]")


if __name__ == "__main__":
    main()
