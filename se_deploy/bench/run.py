"""Executes a bench Plan: load, time, compare, score, profile; a failure stays in its own row.

Per group (an SE target and its baseline on one backend/precision) and per thread count: both
runners are loaded (each load is a memory phase), each batch size is timed alone and then the pair
interleaved, accuracy is scored against the PyTorch FP32 reference, and with `profile` each target
is re-loaded with the profiler on (never timed with it). Any exception in a step is recorded on
the row it belongs to and the run moves on.
"""

from __future__ import annotations

import contextlib
import platform
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from se_deploy.backends import Device, Runner, RunnerOptions, TensorSpec, runner_class
from se_deploy.bench.latency import (
    Call,
    Reopen,
    interleaved_ratio,
    measure_latency,
    measure_overhead,
    summarize,
    time_calls,
    warm_up,
)
from se_deploy.bench.memory import MemoryMonitor, artifact_bytes
from se_deploy.bench.plan import BenchConfig, Group, Plan, Target
from se_deploy.bench.score import Scorer
from se_deploy.core.console import activity
from se_deploy.core.errors import BackendUnavailableError, SeDeployError
from se_deploy.core.onnx.se_roles import SeRole, block_roles

SeFinder = Callable[[Any], tuple[dict[str, SeRole], dict[str, int]]]
Progress = Callable[[str], None]


def find_se_nodes(model: Any) -> tuple[dict[str, SeRole], dict[str, int]]:
    """SE node names by the graph-pattern SE finder, each with its role (squeeze, excitation,
    scale), and what it found. The loose walk takes the forms exporters emit (reshapes, Gemm
    FCs, reduce squeezes) besides the canonical one; a QDQ graph is searched with its Q/DQ pairs
    bypassed, and each Q/DQ node then counts as SE, in the role of the SE node it belongs with,
    when the tensor it carries comes from an SE node or goes only to SE nodes."""
    from se_deploy.core.onnx.graph import GraphIndex
    from se_deploy.core.onnx.qdq import has_qdq, qdq_nodes_beside, strip_qdq
    from se_deploy.core.onnx.se_pattern import scan_se

    quantized = has_qdq(model)
    searched = strip_qdq(model) if quantized else model
    matches, _ = scan_se(GraphIndex(searched, with_shapes=True), strict=False)
    roles = {
        name: role
        for match in matches
        for name, role in block_roles(match.nodes, match.gate.name).items()
    }
    qdq = qdq_nodes_beside(model, roles) if quantized else {}
    found = {"blocks": len(matches), "nodes": len(roles), "qdq_nodes": len(qdq)}
    return {**roles, **{name: roles[member] for name, member in qdq.items()}}, found


@dataclass
class TargetRow:
    """Everything measured for one target at one thread count; `errors` lists failed steps."""

    target: Target
    threads: int
    device: str
    errors: list[str] = field(default_factory=list)
    tracebacks: list[str] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)
    latency: list[dict[str, Any]] = field(default_factory=list)

    @property
    def status(self) -> str:
        if self.target.skipped:
            return "skipped"
        return "failed" if self.errors else "ok"

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.target.key,
            **self.target.to_dict(),
            "threads": self.threads,
            "device": self.device,
            "status": self.status,
            "errors": self.errors,
            "tracebacks": self.tracebacks,
            **self.figures,
            "latency": self.latency,
        }


@dataclass
class BenchResults:
    run: dict[str, Any]
    targets: list[dict[str, Any]]
    pairs: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {"schema": 1, "run": self.run, "targets": self.targets, "pairs": self.pairs}


def validate_backends(backends: Sequence[str], device: Device | None = None) -> None:
    """Refuse a run whose every backend is unavailable here, in one line naming each reason
    (checked before any artifact is made or loaded)."""
    reasons = {}
    for backend in dict.fromkeys(backends):
        options = RunnerOptions(device=device) if device else None
        reasons[backend] = runner_class(backend).unavailable_reason(options)
    if reasons and all(reasons.values()):
        raise BackendUnavailableError("; ".join(f"{b}: {r}" for b, r in reasons.items()))


def execute_plan(
    plan: Plan,
    config: BenchConfig,
    run_dir: Path,
    progress: Progress | None = None,
    se_finder: SeFinder = find_se_nodes,
) -> BenchResults:
    """Run every group at every thread count; returns rows ready for the report."""
    session = _Session(config, run_dir, progress or (lambda _: None), se_finder)
    started = time.time()
    overhead = measure_overhead()
    targets, pairs = [], []
    for group in plan.groups:
        for threads in config.threads:
            rows, pair = session.run_group(group, threads)
            targets += [row.to_dict() for row in rows]
            if pair is not None:
                pairs.append(pair)
    run = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "seconds": round(time.time() - started, 3),
        "config": config.to_dict(),
        "host": host_info(),
        "harness_overhead": overhead.to_dict(),
        "run_peak_rss_mb": session.memory.run_peak_mb(),
    }
    return BenchResults(run, targets, pairs)


def host_info() -> dict[str, Any]:
    import os

    from se_deploy.core.files import tool_versions

    return {
        "cpu": _cpu_model(),
        "logical_cpus": os.cpu_count(),
        "machine": platform.machine(),
        "tools": tool_versions(),
    }


def make_feed(
    inputs: tuple[TensorSpec, ...], batch_size: int, seed: int, size: int | None = None
) -> dict[str, np.ndarray]:
    """Random normal inputs of each spec's dtype; dynamic non-batch dims take `size`."""
    rng = np.random.default_rng(seed)
    feed = {}
    for spec in inputs:
        dims = [batch_size, *spec.shape[1:]]
        if any(d is None for d in dims):
            if size is None:
                example = "x".join("N" if d is None else str(d) for d in dims)
                raise SeDeployError(
                    f"input {spec.describe()} has dynamic dimensions; pass --shapes "
                    f"{spec.name}:{example} with numbers (or --input-size for a square image)"
                )
            dims = [size if d is None else d for d in dims]
        feed[spec.name] = rng.standard_normal(dims).astype(spec.dtype)
    return feed


class _Session:
    """State shared across groups: config, memory monitor and the scorer (eval sets and
    reference logits, loaded once); it loads, times and interleaves, and hands scoring to
    bench.score and profile attribution to bench.profile."""

    def __init__(
        self, config: BenchConfig, run_dir: Path, progress: Progress, se_finder: SeFinder
    ) -> None:
        self.config = config
        self.run_dir = run_dir
        self.progress = progress
        self.se_finder = se_finder
        self.memory = MemoryMonitor()
        self.scorer = Scorer(config)

    def run_group(self, group: Group, threads: int) -> tuple[list[TargetRow], dict | None]:
        rows = [self._row(t, threads) for t in group.targets]
        with contextlib.ExitStack() as stack:
            runners = [self._open(row, stack) for row in rows]
            pair = self._pair_record(group, rows) if group.base else None
            for batch in self.config.batch_sizes:
                prepared = [
                    self._time(row, runner, batch) if runner else None
                    for row, runner in zip(rows, runners, strict=True)
                ]
                if pair is not None and not any(row.target.skipped for row in rows):
                    self._interleave(pair, prepared, batch, self._reopen(rows, batch))
            for row, runner in zip(rows, runners, strict=True):
                if runner is not None and self.config.accuracy:
                    self._accuracy(row, runner)
        if self.config.profile:
            for row in rows:
                self._profile(row)
        if pair is not None:
            _finish_pair(pair, rows)
        return rows, pair

    def _row(self, target: Target, threads: int) -> TargetRow:
        """A row for `target`; failed from the start when its backend cannot run here (the
        primary reason) or its artifact is missing."""
        cls = runner_class(target.backend)
        device = self.config.device or cls.devices[0]
        row = TargetRow(target, threads, device.value)
        if target.skipped:
            return row
        unavailable = cls.unavailable_reason(RunnerOptions(device=device))
        if unavailable or target.missing:
            row.errors.append(
                f"{target.backend}: {unavailable}" if unavailable else str(target.missing)
            )
        return row

    def _options(self, row: TargetRow, **overrides: Any) -> RunnerOptions:
        """The bench's settings, of which each backend keeps the ones it honours."""
        requested = {
            "device": Device(row.device),
            "threads": row.threads,
            "graph_optimization": self.config.graph_optimization,
            "shapes": self.config.shapes,
            "cuda_graphs": self.config.cuda_graphs and not overrides.get("profile"),
            **overrides,
        }
        return runner_class(row.target.backend).options_for(**requested)

    def _artifact(self, target: Target) -> Any:
        return runner_class(target.backend).loadable(
            target.artifact, target.model or target.label, target.weights, self.config.input_size
        )

    def _load(self, row: TargetRow) -> Runner:
        return runner_class(row.target.backend)().load(
            self._artifact(row.target), self._options(row)
        )

    def _open(self, row: TargetRow, stack: contextlib.ExitStack) -> Runner | None:
        """Load inside a memory phase that ends after one inference at the largest batch."""
        if row.errors or row.target.skipped:
            return None
        self.progress(f"load {row.target.key} (threads {row.threads})")
        runner: Runner | None = None
        with _step(row, "load"), self.memory.phase() as memory:
            start = time.perf_counter()
            runner = stack.enter_context(self._load(row))
            row.figures["load_s"] = time.perf_counter() - start
            runner.infer(self._feed(runner, max(self.config.batch_sizes)))
        if memory:
            row.figures["memory"] = memory[0].to_dict()
        if runner is not None:
            self._static_figures(row, runner)
        return runner if not row.errors else None

    def _feed(self, runner: Runner, batch: int) -> dict[str, np.ndarray]:
        return make_feed(runner.inputs, batch, self.config.seed, self.config.input_size)

    def _static_figures(self, row: TargetRow, runner: Runner) -> None:
        with _step(row, "size"):
            target = row.target
            if target.artifact is not None:
                row.figures["artifact_bytes"] = artifact_bytes(target.artifact)
            row.figures.update(_cost(target, runner))

    def _time(self, row: TargetRow, runner: Runner, batch: int) -> Any:
        self.progress(f"time {row.target.key} batch {batch}")
        entry: dict[str, Any] = {"batch_size": batch}
        row.latency.append(entry)
        with _step(row, f"latency batch {batch}", entry):
            prepared = runner.prepare(self._feed(runner, batch))
            entry.update(measure_latency(prepared.run, self.config.latency, batch).to_dict())
            for name, call in prepared.transfers.items():
                warm_up(call, self.config.latency)
                samples = time_calls(
                    call, self.config.latency.iterations, self.config.latency.duration_s
                )
                entry[f"{name}_ms"] = summarize(samples).to_dict()
            return prepared
        return None

    def _pair_record(self, group: Group, rows: list[TargetRow]) -> dict[str, Any]:
        se, base = rows
        return {
            "pair": group.name,
            "se": se.target.key,
            "base": base.target.key,
            "backend": se.target.backend,
            "precision": se.target.precision,
            "threads": se.threads,
            "device": se.device,
            "errors": [],
            "ratios": [],
        }

    def _reopen(self, rows: list[TargetRow], batch: int) -> Reopen:
        """Fresh loads of both sides with the same options and inputs: a ratio session."""

        def reopen() -> tuple[Call, Call, Callable[[], None]]:
            stack = contextlib.ExitStack()
            try:
                runners = [stack.enter_context(self._load(row)) for row in rows]
                calls = [runner.prepare(self._feed(runner, batch)).run for runner in runners]
            except BaseException:
                stack.close()
                raise
            return calls[0], calls[1], stack.close

        return reopen

    def _interleave(
        self, pair: dict[str, Any], prepared: list[Any], batch: int, reopen: Reopen
    ) -> None:
        if self.config.interleave is None:
            return
        entry: dict[str, Any] = {"batch_size": batch}
        if any(p is None for p in prepared):
            pair["errors"].append(f"batch {batch}: no interleaved ratio (a side failed to run)")
            return
        self.progress(f"interleave {pair['pair']} batch {batch}")
        rounds = self.config.interleave.rounds
        try:
            with activity(f"interleave {pair['pair']} batch {batch}", total=rounds) as update:
                estimate, timings = interleaved_ratio(
                    prepared[0].run,
                    prepared[1].run,
                    self.config.interleave,
                    self.config.latency,
                    reopen,
                    lambda _: update("A/B round"),
                )
        except Exception as exc:  # a bench never stops on one failing backend
            pair["errors"].append(f"interleave batch {batch}: {_message(exc)}")
            return
        entry.update(estimate.to_dict())
        entry.update(
            calls_per_round=self.config.interleave.calls_per_round,
            order=self.config.interleave.order.value,
        )
        rounds = timings.to_dict()
        entry.update(
            se_round_ms=rounds["a_round_ms"],
            base_round_ms=rounds["b_round_ms"],
            se_first=rounds["a_first"],
            session=rounds["session"],
        )
        pair["ratios"].append(entry)

    def _accuracy(self, row: TargetRow, runner: Runner) -> None:
        """Top-1/top-5 and agreement with PyTorch FP32, for targets made from trained weights,
        on --dataset or else the set those weights were trained on."""
        target = row.target
        dataset = self.config.dataset or target.dataset
        if target.weights is None or dataset is None:
            row.figures["note"] = target.note or "the weights record no dataset; pass --dataset"
            return
        self.progress(f"accuracy {target.key}")
        with _step(row, "accuracy"):
            row.figures["accuracy"] = self.scorer.score(target, runner, dataset, row.threads)

    def _profile(self, row: TargetRow) -> None:
        runner_type = runner_class(row.target.backend)
        if row.errors or row.target.skipped or not runner_type.has_profiler:
            return
        from se_deploy.bench.profile import profile_figures

        self.progress(f"profile {row.target.key}")
        folder = self.run_dir / "profiles" / row.target.key.replace("/", "_")
        saves_graph = "optimized_model_path" in runner_type.accepts
        optimized = folder / "optimized.onnx" if saves_graph else None
        options = self._options(
            row, profile=True, profile_dir=folder, optimized_model_path=optimized
        )
        with _step(row, "profile"):
            runner = runner_type()
            with runner.load(self._artifact(row.target), options):
                feed = self._feed(runner, self.config.batch_sizes[0])
                for _ in range(self.config.profile_iterations):
                    runner.infer(feed)
                layers = runner.collect_profile()
            source = row.target.source_onnx or row.target.artifact
            row.figures["profile"] = profile_figures(layers, source, optimized, self.se_finder)


@contextlib.contextmanager
def _step(row: TargetRow, name: str, entry: dict[str, Any] | None = None) -> Iterator[None]:
    """Record a failing step on `row` (and its latency `entry`) instead of stopping the run."""
    try:
        yield
    except Exception as exc:  # one failing backend never stops the others
        message = f"{name}: {_message(exc)}"
        row.errors.append(message)
        if entry is not None:
            entry["error"] = message
        if not isinstance(exc, SeDeployError):
            row.tracebacks.append(traceback.format_exc())


def _message(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    return first if isinstance(exc, SeDeployError) else f"{type(exc).__name__}: {first}"


def _cost(target: Target, runner: Runner) -> dict[str, Any]:
    """MACs and params: the runner's own (the torch module), else its ONNX graph's."""
    cost = runner.static_cost()
    if cost is not None:
        return cost
    source = target.source_onnx or target.artifact
    if source is None or not source.is_file():
        return {}
    import onnx

    from se_deploy.core.onnx.facts import graph_facts

    facts = graph_facts(onnx.load(str(source)))
    return {"macs": facts.macs, "params": facts.params}


def _finish_pair(pair: dict[str, Any], rows: list[TargetRow]) -> None:
    """Ratios of static figures and the accuracy delta beside the measured latency ratio."""
    se, base = (row.figures for row in rows)
    for key in ("macs", "params"):
        if se.get(key) and base.get(key):
            pair[f"{key}_ratio"] = se[key] / base[key]
    se_acc, base_acc = se.get("accuracy"), base.get("accuracy")
    if se_acc and base_acc:
        pair["top1_delta"] = se_acc["top1"] - base_acc["top1"]
    failed_sides = [f"{row.target.key} failed: {row.errors[0]}" for row in rows if row.errors]
    pair["errors"] = failed_sides + pair["errors"]
    skipped = [row.target.skipped for row in rows if row.target.skipped]
    if skipped:
        pair["skipped"] = "; ".join(skipped)
    pair["status"] = "failed" if pair["errors"] else "skipped" if skipped else "ok"


def _cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()
