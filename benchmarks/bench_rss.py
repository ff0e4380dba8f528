"""Does `bench` hold 10,000 timed calls with flat memory? Times one ONNX model through the same
runner and timing loop `se-deploy bench` uses (ORT runner, `prepare`, `time_calls`) in 10
blocks of 1,000 calls and prints the process RSS after each block, then the growth from the
first block to the last (a leak per call would show as steady growth; allocator warm-up shows in
the first block only).

    python benchmarks/bench_rss.py [MODEL.onnx] [--calls 10000] [--block 1000] [--threads 1]

Without MODEL it exports se_mobilenet at 28x28 from a seeded random init into a temporary
directory. Exit 1 when the RSS grew by more than --limit-mb (default 8) after the first block.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import psutil

from se_deploy.backends import RunnerOptions, runner_class
from se_deploy.bench.latency import time_calls


def default_model(folder: Path) -> Path:
    from se_deploy.stages.export import ExportConfig, export_model

    config = ExportConfig(model="se_mobilenet", input_size=28, out=folder)
    return export_model(config).onnx_path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", type=Path)
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--block", type=int, default=1_000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--limit-mb", type=float, default=8.0)
    args = parser.parse_args()
    process = psutil.Process()
    with tempfile.TemporaryDirectory(prefix="se-deploy-rss-") as tmp:
        model = args.model or default_model(Path(tmp))
        runner = runner_class("ort")().load(model, RunnerOptions(threads=args.threads))
        spec = runner.inputs[0]
        shape = tuple(dim or 1 for dim in spec.shape)
        feed = {spec.name: np.random.default_rng(0).standard_normal(shape, dtype=np.float32)}
        prepared = runner.prepare(feed)
        print(f"model {model}, input {shape}, {args.calls} calls in blocks of {args.block}")
        print(f"{'calls':>7} {'RSS MB':>8} {'p50 ms':>8}")
        rss = []
        for done in range(args.block, args.calls + 1, args.block):
            samples = time_calls(prepared.run, args.block)
            rss.append(process.memory_info().rss / 2**20)
            print(f"{done:>7} {rss[-1]:>8.1f} {np.median(samples) * 1e3:>8.3f}")
        runner.close()
    growth = rss[-1] - rss[0]
    print(f"RSS growth after the first block: {growth:+.1f} MB (limit {args.limit_mb} MB)")
    return 0 if growth <= args.limit_mb else 1


if __name__ == "__main__":
    sys.exit(main())
