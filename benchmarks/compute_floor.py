"""How close ONNX Runtime runs se_mobilenet FP32 at 224x224 to this CPU's compute floor, and how it
compares with OpenVINO on the same ONNX file.

compute floor = batch x model FLOPs / peak FP32 FLOP/s of the cores the process may use, where
- model FLOPs = 2 x multiply-adds of conv and linear layers (torch's FlopCounterMode, as
  `se-deploy models` counts them; 1.138 GFLOP for se_mobilenet);
- peak = what an FMA-throughput microkernel reaches on every usable core: 12 independent
  accumulators of the widest vector the CPU has (AVX-512: 16 FP32 lanes, else AVX2: 8), built
  with the system C compiler and OpenMP (no Python library measures this). Dividing by
  cores x FLOP/cycle of the microarchitecture (PEAK_RULES: FMA pipes x lanes x 2, from
  /proc/cpuinfo's vendor and family) gives the clock it ran at, printed as a cross-check: in a
  VM /proc/cpuinfo shows the nominal clock, not the boost clock the cores really run at. Without
  a C compiler the peak falls back to cores x nominal clock x FLOP/cycle (then an underestimate).
A measured SGEMM rate (numpy's BLAS, large square matmul) is printed beside it.

ORT and OpenVINO are timed interleaved in one process (bench.latency: per-round medians, the
ORT/OpenVINO ratio with a percentile-bootstrap 95% interval over rounds), all cores, batch 1.

    python benchmarks/compute_floor.py [--model se_mobilenet] [--batch 1] [--rounds 30]
        [--calls 10] [--threads 0] [--work export/compute_floor]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from se_cost import export_fp32  # this folder's script: `se-deploy export`, cached under --work

from se_deploy.backends import RunnerOptions, runner_class, unavailable_reason
from se_deploy.bench.latency import InterleaveConfig, LatencyConfig, interleaved_ratio, time_calls
from se_deploy.models import ModelConfig, create_model
from se_deploy.models.stats import count_macs

INPUT_SIZE = 224

# (vendor, family, needs avx512f) -> (FP32 FLOP per cycle per core, why). First match wins.
PEAK_RULES = (
    ("AuthenticAMD", 0x1A, True, 64, "Zen 5: 2 FMA pipes x 16 FP32 lanes (512-bit) x 2"),
    ("AuthenticAMD", 0x19, False, 32, "Zen 3/4: 2 FMA pipes x 8 FP32 lanes (256-bit) x 2"),
    ("AuthenticAMD", 0x17, False, 32, "Zen 2: 2 FMA pipes x 8 FP32 lanes x 2"),
    ("GenuineIntel", None, True, 64, "AVX-512 server core: 2 FMA units x 16 lanes x 2"),
    ("GenuineIntel", None, False, 32, "AVX2 core: 2 FMA units x 8 lanes x 2"),
)


FMA_KERNEL = r"""
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
typedef float vec __attribute__((vector_size(LANES * 4)));
int main(int argc, char **argv) {
  long iters = atol(argv[1]);
  int threads = 1;
  float sink = 0;
  double start = omp_get_wtime();
#pragma omp parallel reduction(+ : sink)
  {
    vec acc[12], a, b;
    for (int l = 0; l < LANES; l++) { a[l] = 0.999999f; b[l] = 1e-7f; }
    for (int k = 0; k < 12; k++) acc[k] = a * (float)k;
    for (long i = 0; i < iters; i++)
      _Pragma("GCC unroll 12") for (int k = 0; k < 12; k++) acc[k] = acc[k] * a + b;
    for (int k = 0; k < 12; k++) for (int l = 0; l < LANES; l++) sink += acc[k][l];
#pragma omp single
    threads = omp_get_num_threads();
  }
  double seconds = omp_get_wtime() - start;
  printf("%d %.3f %g\n", threads, 2.0 * LANES * 12 * iters * threads / seconds / 1e9, sink);
  return 0;
}
"""


@dataclass(frozen=True)
class CpuPeak:
    cores: int
    gflops: float
    flop_per_cycle: int | None
    rule: str
    how: str

    @property
    def ghz(self) -> float | None:
        return self.gflops / self.cores / self.flop_per_cycle if self.flop_per_cycle else None


def cpu_info() -> dict[str, str]:
    """The first processor's /proc/cpuinfo fields."""
    fields: dict[str, str] = {}
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if not line.strip():
            break
        key, _, value = line.partition(":")
        fields[key.strip()] = value.strip()
    return fields


def has_avx512(info: dict[str, str]) -> bool:
    return "avx512f" in info.get("flags", "").split()


def flop_rule(info: dict[str, str]) -> tuple[int, str] | None:
    vendor, family = info.get("vendor_id", ""), int(info.get("cpu family", "0"))
    avx512 = has_avx512(info)
    for rule_vendor, rule_family, needs_avx512, flop, why in PEAK_RULES:
        if vendor == rule_vendor and rule_family in (None, family) and (avx512 or not needs_avx512):
            return flop, why
    return None


def fma_kernel_gflops(lanes: int, cores: int, iterations: int = 200_000_000) -> float | None:
    """Best of three runs of the FMA microkernel on `cores` threads; None without a compiler."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        source, binary = Path(tmp) / "fma.c", Path(tmp) / "fma"
        source.write_text(FMA_KERNEL)
        build = [
            compiler,
            "-O3",
            "-march=native",
            "-ffp-contract=fast",
            "-fopenmp",
            f"-DLANES={lanes}",
            str(source),
            "-o",
            str(binary),
        ]
        if subprocess.run(build, capture_output=True).returncode != 0:
            return None
        env = {**os.environ, "OMP_NUM_THREADS": str(cores), "OMP_PROC_BIND": "true"}
        command = [str(binary), str(iterations)]
        rates = [
            float(
                subprocess.run(
                    command, capture_output=True, text=True, env=env, check=True
                ).stdout.split()[1]
            )
            for _ in range(3)
        ]
    return max(rates)


def cpu_peak(info: dict[str, str]) -> CpuPeak | None:
    cores = len(os.sched_getaffinity(0))
    rule = flop_rule(info)
    flop, why = rule if rule else (None, "no PEAK_RULES entry for this CPU")
    lanes = 16 if has_avx512(info) else 8
    measured = fma_kernel_gflops(lanes, cores)
    if measured:
        return CpuPeak(cores, measured, flop, why, f"FMA microkernel, {lanes} FP32 lanes")
    if flop is None:
        return None
    nominal = float(info["cpu MHz"]) / 1e3
    return CpuPeak(
        cores,
        cores * nominal * flop,
        flop,
        why,
        "no C compiler: cores x nominal clock x FLOP/cycle",
    )


def sgemm_gflops(n: int = 2048, repeats: int = 10) -> float:
    """Best-of-N FP32 matmul rate of numpy's BLAS on all allowed cores."""
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((n, n), dtype=np.float32) for _ in range(2))
    a @ b  # warm-up: thread pool and caches
    best = float(time_calls(lambda: a @ b, iterations=repeats).min())
    return 2 * n**3 / best / 1e9


def model_gflop(model: str) -> float:
    return 2 * count_macs(create_model(model, ModelConfig()), INPUT_SIZE) / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="se_mobilenet")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--calls", type=int, default=10, help="calls of each runtime per round")
    parser.add_argument("--threads", type=int, default=0, help="0: each runtime's default")
    parser.add_argument("--work", type=Path, default=Path("export/compute_floor"))
    args = parser.parse_args()

    info = cpu_info()
    peak = cpu_peak(info)
    gflop = args.batch * model_gflop(args.model)
    sgemm = sgemm_gflops()
    print(
        f"CPU: {info.get('model name')} (family {info.get('cpu family')}, "
        f"avx512f={has_avx512(info)}, /proc/cpuinfo clock "
        f"{float(info['cpu MHz']) / 1e3:.3f} GHz), {len(os.sched_getaffinity(0))} usable "
        f"cores, load average {os.getloadavg()[0]:.1f}"
    )
    if peak:
        clock = (
            f" = {peak.cores} cores x {peak.ghz:.2f} GHz x {peak.flop_per_cycle} FLOP/cycle "
            f"({peak.rule})"
            if peak.ghz
            else f" ({peak.rule})"
        )
        print(f"peak FP32 ({peak.how}): {peak.gflops:.1f} GFLOP/s{clock}")
    else:
        print("peak FP32: no C compiler and no PEAK_RULES entry; only the SGEMM rate is known")
    print(f"measured SGEMM (numpy BLAS, 2048^2, best of 10): {sgemm:.1f} GFLOP/s")
    print(
        f"{args.model} @ {INPUT_SIZE}, batch {args.batch}: {gflop:.3f} GFLOP "
        "(2 x FlopCounterMode multiply-adds)"
    )

    onnx_path = export_fp32(args.model, args.work / f"b{args.batch}", False, args.batch)
    options = RunnerOptions(threads=args.threads)
    missing = unavailable_reason("openvino", options)
    runners = [runner_class("ort")().load(onnx_path, options)]
    if not missing:
        runners.append(runner_class("openvino")().load(onnx_path, options))
    shape = (args.batch, 3, INPUT_SIZE, INPUT_SIZE)
    feed = np.random.default_rng(0).standard_normal(shape, np.float32)
    calls = [runner.prepare(feed).run for runner in runners]
    if len(calls) == 1:
        calls.append(calls[0])  # no peer: time ORT against itself, the ratio is then ~1
    estimate, timings = interleaved_ratio(
        calls[0],
        calls[1],
        InterleaveConfig(args.rounds, args.calls),
        LatencyConfig(warmup_iterations=20, warmup_seconds=2.0),
    )
    for runner in runners:
        runner.close()

    ort_ms = float(np.median(timings.a_s)) * 1e3
    print(
        f"\nORT FP32 (graph level all, threads {args.threads or 'default'}, batch "
        f"{args.batch}): median of {args.rounds} round medians {ort_ms:.2f} ms per call"
    )
    floors = [("the SGEMM rate", gflop / sgemm * 1e3)]
    if peak:
        floors.insert(0, ("peak FP32", gflop / peak.gflops * 1e3))
    for name, floor_ms in floors:
        print(f"  compute floor at {name}: {floor_ms:.2f} ms -> ORT is {ort_ms / floor_ms:.2f}x it")
    if missing:
        print(f"OpenVINO: not measured ({missing})")
    else:
        ov_ms = float(np.median(timings.b_s)) * 1e3
        print(
            f"OpenVINO FP32 (f32 precision hint, LATENCY): {ov_ms:.2f} ms; ORT/OpenVINO "
            f"{estimate.ratio:.3f} (95% CI {estimate.low:.3f}-{estimate.high:.3f}, "
            f"<1 means ORT is faster)"
        )
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
