"""The bench plan: which artifacts to measure, on which backend, paired how. Built first, then run.

A plan is a list of groups; a group is one SE target and (usually) its baseline on the same
backend and precision, measured together so their latency ratio can be interleaved. Targets come
from registered model names (the baseline is the registry's; artifacts are located by an
ArtifactResolver) or from artifact files given directly. A target that cannot be located still
enters the plan with the reason, so the report shows a failed row rather than silently less.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from se_deploy.backends import Device, GraphOptimization, backend_names, runner_class
from se_deploy.bench.latency import InterleaveConfig, LatencyConfig
from se_deploy.core.errors import SeDeployError
from se_deploy.core.shapes import InputShapes

PRECISIONS = ("fp32", "fp16", "int8")


class Role(enum.StrEnum):
    SE = "se"
    BASE = "base"
    SINGLE = "single"  # no pair: a baseline or a bare artifact measured alone


@dataclass(frozen=True)
class Target:
    """One thing to load and measure. `missing` holds why it cannot be (no artifact yet)."""

    label: str
    role: Role
    backend: str
    precision: str
    artifact: Path | None = None  # ONNX or engine file; None for the torch backend
    model: str | None = None  # registered model name, when known
    weights: Path | None = None  # the trained checkpoint it was made from (None: random/unknown)
    dataset: str | None = None  # the eval set those weights were trained on
    note: str | None = None  # why accuracy is not scored (random init, unknown origin)
    eval_limit: int | None = None  # score its first N eval images (--eval-limit overrides)
    source_onnx: Path | None = None  # the ONNX graph an engine was built from (profiling)
    missing: str | None = None  # why it cannot be measured: the row fails
    skipped: str | None = None  # why it is left out on purpose (no checkpoint yet)

    @property
    def key(self) -> str:
        return f"{self.label}/{self.backend}/{self.precision}"

    def to_dict(self) -> dict[str, Any]:
        return {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self).items()}


@dataclass(frozen=True)
class Group:
    """Targets measured together: an SE model and its baseline, or one target alone."""

    se: Target
    base: Target | None = None

    @property
    def name(self) -> str:
        return f"{self.se.label} vs {self.base.label}" if self.base else self.se.label

    @property
    def targets(self) -> tuple[Target, ...]:
        return (self.se, self.base) if self.base else (self.se,)


@dataclass(frozen=True)
class Plan:
    groups: tuple[Group, ...]

    def backends(self) -> list[str]:
        return list(dict.fromkeys(t.backend for g in self.groups for t in g.targets))

    def rows(self) -> list[dict[str, Any]]:
        """One line per target, for printing the plan before running it."""
        return [
            {"group": g.name, "key": t.key, "status": _plan_status(t), **t.to_dict()}
            for g in self.groups
            for t in g.targets
        ]


@dataclass(frozen=True)
class BenchConfig:
    """How every target is measured; recorded verbatim in results.json."""

    latency: LatencyConfig = field(default_factory=LatencyConfig)
    interleave: InterleaveConfig | None = field(default_factory=InterleaveConfig)  # None: skip
    batch_sizes: tuple[int, ...] = (1,)
    threads: tuple[int, ...] = (0,)  # intra-op threads per run; 0 = the runtime's default
    device: Device | None = None  # None: each backend's own first device
    graph_optimization: GraphOptimization = GraphOptimization.ALL
    cuda_graphs: bool = False
    input_size: int | None = None  # for targets whose size is not in the artifact/weights
    shapes: InputShapes = field(default_factory=InputShapes)  # --shapes: symbolic dims
    accuracy: bool = True  # score targets made from trained weights
    dataset: str | None = None  # None: each target's own training set (from its weights)
    data_dir: Path | None = None
    split: str = "test"
    eval_batch_size: int = 100
    eval_limit: int | None = None
    profile: bool = False
    profile_iterations: int = 20
    seed: int = 0

    def __post_init__(self) -> None:
        problems = []
        if not self.batch_sizes or min(self.batch_sizes) < 1:
            problems.append(f"batch sizes {self.batch_sizes} (use >= 1)")
        if not self.threads or min(self.threads) < 0:
            problems.append(f"threads {self.threads} (use >= 0)")
        if self.eval_batch_size < 1 or (self.eval_limit is not None and self.eval_limit < 1):
            problems.append("eval batch size and limit must be >= 1")
        if self.profile_iterations < 1:
            problems.append(f"profile iterations {self.profile_iterations} (use >= 1)")
        if problems:
            raise SeDeployError("bad bench config: " + "; ".join(problems))

    def to_dict(self) -> dict[str, Any]:
        return {**_plain(asdict(self)), "shapes": self.shapes.to_text()}


@dataclass(frozen=True)
class Located:
    """Where an artifact is; `problem` says why it is not usable (the row fails), `skip` why it
    is left out on purpose (the row is skipped)."""

    path: Path
    problem: str | None = None
    skip: str | None = None


class ArtifactResolver(Protocol):
    """Where a registered model's artifact for (backend, precision) lives (the default suite's
    resolver also makes it), the label its rows carry, and its torch-backend weights."""

    def locate(self, model: str, backend: str, precision: str) -> Located: ...

    def label(self, model: str) -> str: ...

    def weights(self, model: str) -> Path | None: ...


@dataclass(frozen=True)
class ExportDirResolver:
    """The layout DESIGN.md gives: export/<model>/<precision>/model.onnx (and model.engine)."""

    root: Path = Path("export")

    def locate(self, model: str, backend: str, precision: str) -> Located:
        path = artifact_path(self.root, model, backend, precision)
        if path.is_file():
            return Located(path)
        return Located(
            path,
            f"no {precision} artifact for {model} at {path}; "
            f"{make_hint(model, backend, precision)}",
        )

    def label(self, model: str) -> str:
        return model

    def weights(self, model: str) -> Path | None:
        from se_deploy.core.spec import zoo_checkpoint

        try:
            return zoo_checkpoint(model)
        except SeDeployError:
            return None


def artifact_path(root: Path, model: str, backend: str, precision: str) -> Path:
    """<root>/<model>/<precision>/model<the backend's first artifact suffix>."""
    suffixes = runner_class(backend).suffixes or (".onnx",)
    return root / model / precision / f"model{suffixes[0]}"


def makes_own_artifacts(backend: str) -> bool:
    """Whether `backend` runs artifacts that `se-deploy build` makes (not export/quantize)."""
    return runner_class(backend).made_by != "se-deploy export"


def make_hint(model: str, backend: str, precision: str) -> str:
    """The commands that make a missing artifact."""
    if makes_own_artifacts(backend):
        made_by = runner_class(backend).made_by
        return f"run `{made_by} --model {model} --precision {precision}`"
    hint = f"run `se-deploy export --model {model}`"
    if precision != "fp32":
        hint += f" and `se-deploy quantize --model {model} --precision {precision}`"
    return hint


def build_plan(
    backends: Sequence[str],
    models: Sequence[str] = (),
    precisions: Sequence[str] = ("fp32",),
    pairs: Sequence[tuple[Path, Path]] = (),
    artifacts: Sequence[Path] = (),
    resolver: ArtifactResolver | None = None,
) -> Plan:
    """Groups for every (model or artifact, backend, precision); the baseline of each SE model
    joins it. A model named on its own and as some SE model's baseline is measured once."""
    _check_names(backends, precisions)
    if not (models or pairs or artifacts):
        raise SeDeployError("nothing to benchmark: pass --model, --pair or ONNX/engine paths")
    resolver = resolver or ExportDirResolver()
    groups: list[Group] = []
    for se_name, base_name in _model_pairs(models):
        for backend in backends:
            for precision in precisions:
                se = _model_target(
                    se_name, Role.SE if base_name else Role.SINGLE, backend, precision, resolver
                )
                base = (
                    _model_target(base_name, Role.BASE, backend, precision, resolver)
                    if base_name
                    else None
                )
                groups.append(Group(se, base))
    for se_path, base_path in pairs:
        for backend in backends:
            groups.append(
                Group(
                    _file_target(se_path, Role.SE, backend),
                    _file_target(base_path, Role.BASE, backend),
                )
            )
    for path in artifacts:
        for backend in backends:
            groups.append(Group(_file_target(path, Role.SINGLE, backend)))
    return Plan(tuple(_distinct_labels(groups)))


def _distinct_labels(groups: list[Group]) -> list[Group]:
    """Give different files that would share a key (two exports of one model under different
    roots, e.g. two SE gate forms) as many parent folders as tell them apart, so their rows,
    keys and profile folders differ."""
    paths: dict[str, set[Path]] = {}
    for target in (t for group in groups for t in group.targets if t.artifact is not None):
        paths.setdefault(target.key, set()).add(Path(target.artifact))
    longer = {
        path: label
        for shared in paths.values()
        if len(shared) > 1
        for path, label in _telling_apart(shared).items()
    }
    if not longer:
        return groups

    def relabel(target: Target | None) -> Target | None:
        if target is None or target.artifact is None or Path(target.artifact) not in longer:
            return target
        return replace(target, label=longer[Path(target.artifact)])

    return [Group(relabel(group.se), relabel(group.base)) for group in groups]


def _telling_apart(paths: set[Path]) -> dict[Path, str]:
    """The shortest '<folders>/<file label>' suffixes that differ for every path."""
    split = {path: _label_and_above(path) for path in paths}
    for depth in range(1, max(len(path.parts) for path in paths)):
        labels = {
            path: "/".join((*above.parts[-depth:], label)) for path, (label, above) in split.items()
        }
        if len(set(labels.values())) == len(paths):
            return labels
    return {path: str(path) for path in paths}


def _check_names(backends: Sequence[str], precisions: Sequence[str]) -> None:
    unknown = [b for b in backends if b not in backend_names()]
    if unknown or not backends:
        raise SeDeployError(
            f"unknown backend(s) {', '.join(unknown) or '(none)'}; choose from "
            f"{', '.join(backend_names())}"
        )
    bad = [p for p in precisions if p not in PRECISIONS]
    if bad or not precisions:
        raise SeDeployError(
            f"unknown precision(s) {', '.join(bad) or '(none)'}; choose from "
            f"{', '.join(PRECISIONS)}"
        )


def _model_pairs(models: Sequence[str]) -> list[tuple[str, str | None]]:
    if not models:  # artifact-only plans must not import the registry: it needs torch
        return []
    from se_deploy.core.spec import get_spec

    pairs = [(name, get_spec(name).baseline) for name in dict.fromkeys(models)]
    paired_bases = {base for _, base in pairs if base}
    return [(name, base) for name, base in pairs if base or name not in paired_bases]


def _model_target(
    model: str, role: Role, backend: str, precision: str, resolver: ArtifactResolver
) -> Target:
    from se_deploy.bench.origin import artifact_origin, weights_origin

    target = Target(resolver.label(model), role, backend, precision, model=model)
    runner = runner_class(backend)
    if not runner.suffixes:  # it builds the registered model itself
        missing = None if precision == "fp32" else f"the {backend} backend runs fp32 only"
        origin = weights_origin(resolver.weights(model))
        return replace(target, missing=missing, **origin.fields())
    located = resolver.locate(model, backend, precision)
    source = _graph_source(runner, located.path)
    target = replace(
        target,
        artifact=located.path,
        source_onnx=source,
        missing=located.problem,
        skipped=located.skip,
    )
    if located.problem or located.skip:
        return target
    return replace(target, **artifact_origin(located.path).fields())


def _file_target(path: Path, role: Role, backend: str) -> Target:
    path = Path(path)
    runner = runner_class(backend)
    precision = runner.artifact_precision(path) if path.is_file() else "?"
    target = Target(_file_label(path), role, backend, precision, artifact=path)
    if not path.is_file():
        return replace(target, missing=f"'{path}' does not exist")
    if not runner.suffixes:
        return replace(target, missing=f"the {backend} backend runs registered models; use --model")
    if path.suffix not in runner.suffixes:
        kinds = f"{runner.artifact_kind}s ({'/'.join(runner.suffixes)})"
        why = f"backend {backend} runs {kinds}, not '{path.name}'"
        return replace(target, missing=f"{why}; make one with `{runner.made_by}`")
    if precision == "?" and path.suffix == ".onnx":
        return replace(target, missing=_unreadable(path))
    from se_deploy.bench.origin import artifact_origin

    return replace(
        target, source_onnx=_graph_source(runner, path), **artifact_origin(path).fields()
    )


def _graph_source(runner: type, artifact: Path) -> Path | None:
    """The ONNX graph behind `artifact` when it is another file (an engine's source)."""
    source = runner.graph_source(artifact)
    return source if source != artifact else None


def _file_label(path: Path) -> str:
    return _label_and_above(path)[0]


def _label_and_above(path: Path) -> tuple[str, Path]:
    """<model>/<precision> for a file in the export layout (every file there has the same name),
    else <folder>/<file>; and the folder above the ones the label names."""
    if path.stem == "model" and path.parent.parent.name:
        return f"{path.parent.parent.name}/{path.parent.name}", path.parent.parent.parent
    if path.parent.name:
        return f"{path.parent.name}/{path.name}", path.parent.parent
    return path.name, path.parent


def _unreadable(path: Path) -> str:
    """Why an ONNX file whose precision cannot be read is no target: the loader's one line."""
    from se_deploy.core.onnx.graph import load_model

    try:
        load_model(path, load_external_data=False)
    except SeDeployError as exc:
        return str(exc)
    return f"'{path}' is an ONNX model se-deploy cannot tell the precision of"


def _plan_status(target: Target) -> str:
    if target.skipped:
        return f"skipped: {target.skipped}"
    return f"missing: {target.missing}" if target.missing else "ready"


def _plain(value: Any) -> Any:
    """asdict output made JSON-friendly: paths and enums as strings, tuples as lists."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Path | enum.Enum):
        return str(value.value if isinstance(value, enum.Enum) else value)
    return value
