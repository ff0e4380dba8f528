"""An SE/base latency ratio measured without se-deploy's code: plain onnxruntime and numpy.

Issue 14 asks that a harness other than `se-deploy bench --pair` load each built artifact with
the session options its build manifest records and see the same ratio within the interval.
This one shares nothing with se_deploy/: it reads `build-ort-cpu.json` beside a
`model.ort-all.onnx` itself (`ort.optimized_model.session_options`: graph optimization
disabled, the rewrite is done), loads a plain export at ORT's default level, and times the
two sides interleaved, one session each, on one random input of the model's static shape:

    python benchmarks/independent_ratio.py SE.onnx BASE.onnx [--rounds 40] [--calls 5] [--threads 1]

Each round runs `calls` calls of each side (which goes first alternates) and keeps the median
of each; the ratio is the geometric mean of the per-round SE/base ratios, its interval a
percentile bootstrap over rounds (2000 resamples).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

LEVELS = {
    "disabled": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}
BUILD_MANIFEST = "build-ort-cpu.json"


def recorded_level(path: Path) -> str:
    """The level the build manifest beside a built file says to load it with; ORT's default
    ('all') for a file no build manifest names."""
    manifest = path.with_name(BUILD_MANIFEST)
    if not manifest.exists():
        return "all"
    built = json.loads(manifest.read_text())["ort"]["optimized_model"]
    if built["path"] != path.name:
        return "all"
    return built["session_options"]["graph_optimization_level"]


def session(path: Path, threads: int) -> tuple[ort.InferenceSession, dict[str, np.ndarray]]:
    if not path.is_file():
        raise SystemExit(f"{path}: no such file; pass an ONNX file (export or built)")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.graph_optimization_level = LEVELS[recorded_level(path)]
    loaded = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    inputs = loaded.get_inputs()[0]
    if not all(isinstance(dim, int) for dim in inputs.shape):
        raise SystemExit(f"{path}: input {inputs.name} has dynamic dims {inputs.shape}")
    feed = np.random.default_rng(0).standard_normal(inputs.shape).astype(np.float32)
    return loaded, {inputs.name: feed}


def median_call(loaded: ort.InferenceSession, feed: dict[str, np.ndarray], calls: int) -> float:
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        loaded.run(None, feed)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def interleaved_ratios(se: Path, base: Path, rounds: int, calls: int, threads: int) -> np.ndarray:
    sides = [session(se, threads), session(base, threads)]
    for loaded, feed in sides:  # warm-up: first-run allocations and caches
        median_call(loaded, feed, calls)
    ratios = []
    for index in range(rounds):
        order = (0, 1) if index % 2 == 0 else (1, 0)
        medians = {side: median_call(*sides[side], calls) for side in order}
        ratios.append(medians[0] / medians[1])
    return np.array(ratios)


def geometric_mean_interval(
    ratios: np.ndarray, resamples: int = 2000
) -> tuple[float, float, float]:
    logs = np.log(ratios)
    draws = np.random.default_rng(1).choice(logs, (resamples, len(logs)), replace=True)
    low, high = np.percentile(draws.mean(axis=1), [2.5, 97.5])
    return float(np.exp(logs.mean())), float(np.exp(low)), float(np.exp(high))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("se", type=Path)
    parser.add_argument("base", type=Path)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--calls", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    ratio, low, high = geometric_mean_interval(
        interleaved_ratios(args.se, args.base, args.rounds, args.calls, args.threads)
    )
    levels = f"loaded at {recorded_level(args.se)} / {recorded_level(args.base)}"
    print(
        f"{args.se} / {args.base}: {ratio:.3f} [{low:.3f}, {high:.3f}] "
        f"({args.rounds} rounds x {args.calls} calls, {args.threads} thread(s), {levels}; "
        f"onnxruntime {ort.__version__})"
    )


if __name__ == "__main__":
    main()
