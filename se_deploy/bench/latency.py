"""Latency measurement: one timing loop, its summary statistics, the loop's own overhead, and the
interleaved A/B design that turns two models' timings into a ratio with a bootstrap interval.

Every timed call is a zero-argument function on inputs prepared beforehand (Runner.prepare), so
the timed region holds inference only. The garbage collector is paused while timing (as timeit
does) so a collection never lands inside one sample.
"""

from __future__ import annotations

import enum
import gc
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from se_deploy.core.errors import SeDeployError

Call = Callable[[], object]
Reopen = Callable[[], tuple[Call, Call, Callable[[], None]]]  # fresh A and B calls, and a closer
OVERHEAD_CALLS = 10_000
RATIO_METHOD = (
    "geometric mean over rounds of (median SE call / median base call) within the round; "
    "percentile bootstrap over rounds"
)
SESSIONS_METHOD = (
    "geometric mean over rounds of (median SE call / median base call) within the round; "
    "percentile bootstrap over sessions (fresh loads of both sides), then rounds within them"
)


@dataclass(frozen=True)
class LatencyConfig:
    """Warm-up runs until both `warmup_iterations` calls and `warmup_seconds` have passed; timing
    takes `iterations` calls, or as many as fit in `duration_s` when that is > 0."""

    warmup_iterations: int = 10
    warmup_seconds: float = 0.0
    iterations: int = 50
    duration_s: float = 0.0

    def __post_init__(self) -> None:
        problems = []
        if self.warmup_iterations < 0 or self.warmup_seconds < 0:
            problems.append("warm-up must be >= 0 iterations and seconds")
        if self.duration_s < 0:
            problems.append(f"duration {self.duration_s} s (use >= 0)")
        if self.duration_s == 0 and self.iterations < 1:
            problems.append(f"iterations {self.iterations} (use >= 1, or a duration)")
        if problems:
            raise SeDeployError("bad latency config: " + "; ".join(problems))


@dataclass(frozen=True)
class LatencyStats:
    """Per-call latency in milliseconds over `n` samples (std with ddof=1)."""

    n: int
    min_ms: float
    mean_ms: float
    std_ms: float
    p50_ms: float
    p90_ms: float
    p99_ms: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class LatencyResult:
    batch_size: int
    stats: LatencyStats
    throughput: float  # items per second: batch_size / mean latency
    total_s: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "batch_size": self.batch_size,
            **self.stats.to_dict(),
            "throughput": self.throughput,
            "total_s": self.total_s,
        }


def summarize(samples_s: np.ndarray) -> LatencyStats:
    """Statistics of per-call times given in seconds (percentiles: linear interpolation)."""
    samples = np.asarray(samples_s, dtype=np.float64) * 1e3
    if samples.size == 0:
        raise SeDeployError("no latency samples: the duration is shorter than one call")
    p50, p90, p99 = np.percentile(samples, [50, 90, 99])
    std = float(samples.std(ddof=1)) if samples.size > 1 else 0.0
    return LatencyStats(
        int(samples.size),
        float(samples.min()),
        float(samples.mean()),
        std,
        float(p50),
        float(p90),
        float(p99),
    )


def time_calls(call: Call, iterations: int = 0, duration_s: float = 0.0) -> np.ndarray:
    """Seconds taken by each call: `iterations` calls, or calls until `duration_s` has passed."""
    clock = time.perf_counter_ns
    samples: list[int] = []
    deadline = clock() + int(duration_s * 1e9) if duration_s > 0 else None
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        while (clock() < deadline) if deadline is not None else (len(samples) < iterations):
            start = clock()
            call()
            samples.append(clock() - start)
    finally:
        if gc_was_enabled:
            gc.enable()
    return np.asarray(samples, dtype=np.float64) / 1e9


def warm_up(call: Call, config: LatencyConfig) -> None:
    """Run `call` until the warm-up iterations and seconds are both spent (caches, JIT, arenas)."""
    time_calls(call, iterations=config.warmup_iterations)
    if config.warmup_seconds > 0:
        time_calls(call, duration_s=config.warmup_seconds)


def measure_latency(call: Call, config: LatencyConfig, batch_size: int = 1) -> LatencyResult:
    """Warm up, then time `call`; throughput counts `batch_size` items per call."""
    warm_up(call, config)
    samples = time_calls(call, config.iterations, config.duration_s)
    stats = summarize(samples)
    throughput = batch_size / (stats.mean_ms / 1e3)
    return LatencyResult(batch_size, stats, throughput, float(samples.sum()))


def measure_overhead(calls: int = OVERHEAD_CALLS) -> LatencyStats:
    """The timing loop's own cost per call: an empty call timed exactly like a real one."""

    def empty() -> None:
        return None

    time_calls(empty, iterations=calls // 10)
    return summarize(time_calls(empty, iterations=calls))


class Order(enum.StrEnum):
    ALTERNATE = "alternate"  # AB, BA, AB, ...
    RANDOM = "random"  # a seeded coin per round


@dataclass(frozen=True)
class InterleaveConfig:
    """A/B rounds: each round times `calls_per_round` calls of A and of B back to back, the order
    alternating (or random) so slow drift (thermal, other tenants) hits both sides equally."""

    rounds: int = 20
    calls_per_round: int = 5
    order: Order = Order.ALTERNATE
    seed: int = 0
    resamples: int = 2000
    confidence: float = 0.95
    # Fresh loads of both sides the rounds are split over. Two loads of one model differ more
    # than two rounds of one load (memory placement, runtime arenas); resampling sessions puts
    # that into the interval, so a rerun lands inside it.
    sessions: int = 1

    def __post_init__(self) -> None:
        problems = []
        if self.rounds < 2:
            problems.append(f"rounds {self.rounds} (use >= 2: the interval resamples rounds)")
        if self.sessions < 1 or self.rounds < 2 * self.sessions:
            problems.append(
                f"sessions {self.sessions} for {self.rounds} rounds (use 1 <= "
                "sessions <= rounds / 2: each session needs two rounds)"
            )
        if self.calls_per_round < 1:
            problems.append(f"calls_per_round {self.calls_per_round} (use >= 1)")
        if self.resamples < 100:
            problems.append(f"resamples {self.resamples} (use >= 100)")
        if not 0.5 < self.confidence < 1.0:
            problems.append(f"confidence {self.confidence} (use 0.5 < c < 1)")
        if problems:
            raise SeDeployError("bad interleave config: " + "; ".join(problems))


@dataclass(frozen=True)
class PairedTimings:
    """Per-round median call time (seconds) of A and B, whether A went first that round, and the
    session (load of both sides) the round ran in."""

    a_s: np.ndarray
    b_s: np.ndarray
    a_first: np.ndarray
    session: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        return {
            "a_round_ms": (self.a_s * 1e3).round(6).tolist(),
            "b_round_ms": (self.b_s * 1e3).round(6).tolist(),
            "a_first": self.a_first.tolist(),
            "session": self.session.tolist(),
        }


@dataclass(frozen=True)
class RatioEstimate:
    """A/B latency ratio with its bootstrap interval over `rounds` paired rounds."""

    ratio: float
    low: float
    high: float
    confidence: float
    rounds: int
    resamples: int
    seed: int
    method: str = RATIO_METHOD
    sessions: int = 1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def measure_interleaved(
    call_a: Call,
    call_b: Call,
    config: InterleaveConfig,
    warmup: LatencyConfig,
    on_round: Callable[[int], None] | None = None,
) -> PairedTimings:
    """Time A and B in alternating rounds within one process; both are warmed up first.
    `on_round(index)` hears of each round as it begins (a progress bar's step)."""
    warm_up(call_a, warmup)
    warm_up(call_b, warmup)
    rng = np.random.default_rng(config.seed)
    a_s, b_s, a_first = [], [], []
    for index in range(config.rounds):
        if on_round is not None:
            on_round(index)
        first = index % 2 == 0 if config.order is Order.ALTERNATE else bool(rng.integers(2))
        order = (call_a, call_b) if first else (call_b, call_a)
        t_first, t_second = (float(np.median(time_calls(c, config.calls_per_round))) for c in order)
        a_s.append(t_first if first else t_second)
        b_s.append(t_second if first else t_first)
        a_first.append(first)
    return PairedTimings(
        np.array(a_s), np.array(b_s), np.array(a_first), np.zeros(len(a_s), dtype=int)
    )


def bootstrap_ratio(
    a_s: np.ndarray,
    b_s: np.ndarray,
    resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
    session: np.ndarray | None = None,
) -> RatioEstimate:
    """A/B ratio as the geometric mean of per-round ratios; the interval resamples whole rounds
    (keeping each round's pair together, which is what cancels drift). With more than one
    `session` label it resamples sessions first, then rounds within each drawn session."""
    a_s, b_s = np.asarray(a_s, np.float64), np.asarray(b_s, np.float64)
    if a_s.shape != b_s.shape or a_s.size < 2 or (a_s <= 0).any() or (b_s <= 0).any():
        raise SeDeployError(
            "bootstrap_ratio needs two equal-length series of >= 2 positive round times"
        )
    log_ratios = np.log(a_s) - np.log(b_s)
    labels = np.zeros(a_s.size, int) if session is None else np.asarray(session)
    groups = [log_ratios[labels == label] for label in np.unique(labels)]
    rng = np.random.default_rng(seed)
    if len(groups) == 1:
        picks = rng.integers(0, log_ratios.size, size=(resamples, log_ratios.size))
        boot = np.exp(log_ratios[picks].mean(axis=1))
    else:
        boot = np.exp([_two_stage_mean(groups, rng) for _ in range(resamples)])
    tail = (1.0 - confidence) / 2
    low, high = np.quantile(boot, [tail, 1.0 - tail])
    method = RATIO_METHOD if len(groups) == 1 else SESSIONS_METHOD
    return RatioEstimate(
        float(np.exp(log_ratios.mean())),
        float(low),
        float(high),
        confidence,
        int(a_s.size),
        resamples,
        seed,
        method,
        len(groups),
    )


def _two_stage_mean(groups: list[np.ndarray], rng: np.random.Generator) -> float:
    drawn = [groups[i] for i in rng.integers(0, len(groups), len(groups))]
    return float(np.concatenate([g[rng.integers(0, g.size, g.size)] for g in drawn]).mean())


def interleaved_ratio(
    call_a: Call,
    call_b: Call,
    config: InterleaveConfig,
    warmup: LatencyConfig,
    reopen: Reopen | None = None,
    on_round: Callable[[int], None] | None = None,
) -> tuple[RatioEstimate, PairedTimings]:
    """Measure A/B interleaved and estimate the ratio with its interval. With
    `config.sessions` > 1 the rounds are split over sessions: the first on `call_a`/`call_b`,
    each later one on fresh loads from `reopen` (closed after its rounds)."""
    if config.sessions > 1 and reopen is None:
        raise SeDeployError("sessions > 1 needs a way to load both sides again (reopen)")
    parts = []
    for index, rounds in enumerate(np.array_split(np.arange(config.rounds), config.sessions)):
        part_config = replace(config, rounds=len(rounds), sessions=1, seed=config.seed + index)
        if index == 0:
            timings = measure_interleaved(call_a, call_b, part_config, warmup, on_round)
        else:
            fresh_a, fresh_b, close = reopen()  # type: ignore[misc]
            try:
                timings = measure_interleaved(fresh_a, fresh_b, part_config, warmup, on_round)
            finally:
                close()
        parts.append(replace(timings, session=np.full(len(rounds), index)))
    merged = PairedTimings(
        *(
            np.concatenate([getattr(p, f) for p in parts])
            for f in ("a_s", "b_s", "a_first", "session")
        )
    )
    estimate = bootstrap_ratio(
        merged.a_s, merged.b_s, config.resamples, config.confidence, config.seed, merged.session
    )
    return estimate, merged
