"""Timing loop, statistics on known inputs, harness overhead, and the interleaved ratio with its
bootstrap interval (on synthetic paired samples with a known true ratio, and through the real
loop driven by a simulated clock so the expected figures are exact)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from se_deploy.bench.latency import (
    InterleaveConfig,
    LatencyConfig,
    Order,
    bootstrap_ratio,
    interleaved_ratio,
    measure_latency,
    measure_overhead,
    summarize,
    time_calls,
)
from se_deploy.core.errors import SeDeployError


class SimulatedClock:
    """perf_counter_ns that only moves when a simulated call spends time."""

    def __init__(self) -> None:
        self.now = 0

    def __call__(self) -> int:
        return self.now

    def spend(self, ns: int):
        def call() -> None:
            self.now += ns

        return call


@pytest.fixture
def clock(monkeypatch) -> SimulatedClock:
    simulated = SimulatedClock()
    monkeypatch.setattr(time, "perf_counter_ns", simulated)
    return simulated


def test_summary_of_known_samples() -> None:
    stats = summarize(np.arange(1, 101) / 1e3)  # 1..100 ms
    assert (stats.n, stats.min_ms, stats.mean_ms) == (100, 1.0, 50.5)
    assert stats.p50_ms == pytest.approx(50.5)
    assert stats.p90_ms == pytest.approx(90.1)
    assert stats.p99_ms == pytest.approx(99.01)
    assert stats.std_ms == pytest.approx(np.std(np.arange(1, 101), ddof=1))
    single = summarize(np.array([0.002]))
    assert (single.std_ms, single.p99_ms) == (0.0, 2.0)
    with pytest.raises(SeDeployError, match="no latency samples"):
        summarize(np.array([]))


def test_time_calls_counts_iterations_or_runs_for_a_duration(clock: SimulatedClock) -> None:
    samples = time_calls(clock.spend(2_000_000), iterations=7)
    np.testing.assert_allclose(samples, 0.002)
    assert samples.size == 7
    assert time_calls(clock.spend(1_000_000), duration_s=0.01).size == 10


def test_measure_latency_warms_up_then_reports_throughput(clock: SimulatedClock) -> None:
    calls = []

    def call() -> None:
        calls.append(1)
        clock.now += 4_000_000  # 4 ms

    result = measure_latency(call, LatencyConfig(warmup_iterations=3, iterations=20), batch_size=8)
    assert len(calls) == 23
    assert result.stats.n == 20 and result.stats.p50_ms == pytest.approx(4.0)
    assert result.throughput == pytest.approx(8 / 0.004)
    assert result.to_dict()["batch_size"] == 8


def test_harness_overhead_is_measured_and_small() -> None:
    overhead = measure_overhead(calls=2000)
    assert overhead.n == 2000
    assert 0 < overhead.p50_ms < 0.05  # an empty call costs well under 50 us even when loaded


def test_bad_configs_are_refused_with_the_fix() -> None:
    with pytest.raises(SeDeployError, match="iterations 0 \\(use >= 1, or a duration\\)"):
        LatencyConfig(iterations=0)
    assert LatencyConfig(iterations=0, duration_s=1.0).duration_s == 1.0
    with pytest.raises(SeDeployError, match="rounds 1"):
        InterleaveConfig(rounds=1)
    with pytest.raises(SeDeployError, match=r"confidence 1\.5"):
        InterleaveConfig(confidence=1.5)


def drifting_pairs(rounds: int, ratio: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Paired round times with a shared slow drift (up to 2x) and 3% independent noise."""
    rng = np.random.default_rng(seed)
    drift = 1.0 + np.linspace(0, 1, rounds) + 0.2 * np.sin(np.arange(rounds))
    base = 1e-3 * drift * rng.lognormal(0, 0.03, rounds)
    return ratio * 1e-3 * drift * rng.lognormal(0, 0.03, rounds), base


@pytest.mark.parametrize("seed", range(5))
def test_bootstrap_interval_holds_the_true_ratio_despite_drift(seed: int) -> None:
    se, base = drifting_pairs(30, 1.2, seed)
    estimate = bootstrap_ratio(se, base, resamples=2000, seed=0)
    assert estimate.low <= 1.2 <= estimate.high
    assert estimate.low <= estimate.ratio <= estimate.high
    assert estimate.high - estimate.low < 0.05  # drift cancels: unpaired means would not
    assert estimate.rounds == 30 and estimate.confidence == 0.95


def test_bootstrap_is_reproducible_and_narrows_with_rounds() -> None:
    se, base = drifting_pairs(200, 1.1, 7)
    first = bootstrap_ratio(se[:20], base[:20], seed=3)
    assert first == bootstrap_ratio(se[:20], base[:20], seed=3)
    wide = first.high - first.low
    narrow = bootstrap_ratio(se, base, seed=3)
    assert narrow.high - narrow.low < wide
    with pytest.raises(SeDeployError, match="two equal-length series"):
        bootstrap_ratio(se[:3], base[:4])


@pytest.mark.parametrize("order", list(Order))
def test_interleaved_rounds_pair_a_and_b(clock: SimulatedClock, order: Order) -> None:
    config = InterleaveConfig(rounds=8, calls_per_round=3, order=order, seed=1, resamples=200)
    estimate, timings = interleaved_ratio(
        clock.spend(3_000_000), clock.spend(2_000_000), config, LatencyConfig(warmup_iterations=2)
    )
    assert estimate.ratio == pytest.approx(1.5)
    assert (estimate.low, estimate.high) == (pytest.approx(1.5), pytest.approx(1.5))
    np.testing.assert_allclose(timings.a_s, 0.003)
    np.testing.assert_allclose(timings.b_s, 0.002)
    if order is Order.ALTERNATE:
        assert timings.a_first.tolist() == [True, False] * 4
    else:
        again = interleaved_ratio(clock.spend(3), clock.spend(2), config, LatencyConfig())[1]
        assert timings.a_first.tolist() == again.a_first.tolist()
    record = timings.to_dict()
    assert record["a_round_ms"] == [3.0] * 8


def test_session_bootstrap_widens_the_interval_to_cover_load_to_load_shifts() -> None:
    """Four loads whose ratios differ (1.10 .. 1.25) with tight rounds inside each: the rounds-only
    interval is too narrow to hold most loads' ratios, the session one holds them all."""
    rng = np.random.default_rng(0)
    session_ratios = [1.10, 1.25, 1.15, 1.20]
    base = 1e-3 * rng.lognormal(0, 0.01, 40)
    se = base * np.repeat(session_ratios, 10) * rng.lognormal(0, 0.005, 40)
    labels = np.repeat(np.arange(4), 10)

    rounds_only = bootstrap_ratio(se, base, seed=0)
    by_session = bootstrap_ratio(se, base, seed=0, session=labels)

    assert by_session.ratio == rounds_only.ratio and by_session.sessions == 4
    assert "over sessions" in by_session.method and rounds_only.sessions == 1
    assert rounds_only.high - rounds_only.low < 0.04
    assert by_session.low < 1.13 and by_session.high > 1.22


def test_sessions_reload_both_sides_and_label_their_rounds(clock: SimulatedClock) -> None:
    opened, closed = [], []

    def reopen():
        opened.append(len(opened))
        return clock.spend(2_400_000), clock.spend(2_000_000), lambda: closed.append(True)

    config = InterleaveConfig(rounds=6, calls_per_round=2, sessions=3, resamples=200)
    estimate, timings = interleaved_ratio(
        clock.spend(3_000_000),
        clock.spend(2_000_000),
        config,
        LatencyConfig(warmup_iterations=1),
        reopen,
    )

    assert len(opened) == 2 and len(closed) == 2
    assert timings.session.tolist() == [0, 0, 1, 1, 2, 2]
    np.testing.assert_allclose(timings.a_s * 1e3, [3, 3, 2.4, 2.4, 2.4, 2.4])
    assert estimate.sessions == 3 and estimate.low < estimate.ratio < estimate.high
    with pytest.raises(SeDeployError, match="needs a way to load both sides again"):
        interleaved_ratio(clock.spend(1), clock.spend(1), config, LatencyConfig())
    with pytest.raises(SeDeployError, match="sessions 4 for 6 rounds"):
        InterleaveConfig(rounds=6, sessions=4)
