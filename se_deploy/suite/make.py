"""The embedded default of `se-deploy bench`: what runs when no model or artifact is named.

Two parts, each SE model with its non-SE baseline, on ORT CPU in FP32 and INT8:
- `fmnist`: the zoo's trained Fashion-MNIST checkpoints (models/fashion-mnist/<model>.pt), so
  accuracy and agreement with PyTorch are real; a pair whose checkpoint is not there yet is
  skipped, with the reason in its row;
- `224`: the SENet paper's 224x224, 1000-class models from a seeded random init, latency only
  (no ImageNet weights ship with se-deploy).

Rows are labelled <model>@<part>.

The artifacts are made by the export and quantize pipelines under export/bench/<part>/ and kept
there; they are made again only when their inputs changed (the checkpoint's sha256, the export
or quantize options, the fp32 source's sha256). A failed step is remembered the same way
(failed.json beside the artifact) and reported without being retried. Delete export/bench/ to
remake everything after upgrading se-deploy.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from se_deploy.backends import Device
from se_deploy.bench.plan import (
    ExportDirResolver,
    Group,
    Located,
    Plan,
    artifact_path,
    build_plan,
    makes_own_artifacts,
)
from se_deploy.bench.run import Progress, validate_backends
from se_deploy.core.artifact import MANIFEST_FILE, Manifest
from se_deploy.core.errors import SeDeployError
from se_deploy.core.files import atomic_write_json, sha256_file

SUITE_ROOT = Path("export/bench")
SUITE_BACKENDS = ("ort",)
SUITE_PRECISIONS = ("fp32", "int8")
FAILED = "failed.json"


@dataclass(frozen=True)
class SuitePart:
    """One set of pairs in the default run and how its artifacts are made."""

    name: str  # the label suffix and the artifact folder
    models: tuple[str, ...]  # SE models; each brings its registered baseline
    zoo: str | None  # the zoo dataset whose trained checkpoints it uses; None: random init
    calib: str  # int8 calibration images (train split); trained parts also verify the export
    calib_size: int
    input_size: int | None = None  # None: the checkpoint's (trained) or 224 (random init)
    eval_limit: int | None = None  # accuracy on the first N test images (None: all)

    @property
    def trained(self) -> bool:
        return self.zoo is not None


SUITE = (
    # Static batch-1 artifacts are scored one image per call: 2,000 test images keep the default
    # run to minutes on 2 cores; --eval-limit 10000 scores the whole test split.
    SuitePart(
        name="fmnist",
        models=("se_mobilenet", "se_shufflenet"),
        zoo="fashion-mnist",
        calib="fashion-mnist",
        calib_size=512,
        eval_limit=2000,
    ),
    # Random-init weights: the calibration set shapes only the scales, not int8 speed, and a
    # 224x224 Fashion-MNIST train split would not fit in memory; 128 synthetic images do.
    SuitePart(
        name="224",
        models=("se_mobilenet", "se_shufflenet"),
        zoo=None,
        calib="synthetic",
        calib_size=128,
        input_size=224,
    ),
)


def build_suite_plan(
    backends: Sequence[str] = SUITE_BACKENDS,
    precisions: Sequence[str] = SUITE_PRECISIONS,
    device: Device | None = None,
    make: bool = True,
    progress: Progress | None = None,
    root: Path = SUITE_ROOT,
    parts: Sequence[SuitePart] = SUITE,
) -> Plan:
    """The default run's plan; with `make`, every missing or stale artifact is made first.
    Backends are checked before any of that work."""
    validate_backends(backends, device)
    groups = []
    for part in parts:
        resolver = SuiteResolver(part, root, make, progress or (lambda _: None))
        for group in build_plan(backends, part.models, precisions, resolver=resolver).groups:
            se, base = (
                replace(t, eval_limit=part.eval_limit) if t else None
                for t in (group.se, group.base)
            )
            groups.append(Group(se, base))
    return Plan(tuple(groups))


@dataclass(frozen=True)
class SuiteResolver:
    """Locates a suite part's artifacts under <root>/<part>/<model>/<precision>/, making them
    with the export and quantize pipelines when `make` is set."""

    part: SuitePart
    root: Path
    make: bool
    progress: Progress
    keep_existing: bool = False  # a step whose artifact exists counts as current

    @property
    def folder(self) -> Path:
        return self.root / self.part.name

    def label(self, model: str) -> str:
        return f"{model}@{self.part.name}" if self.part.name else model

    def weights(self, model: str) -> Path | None:
        return self._checkpoint(model) if self.part.trained else None

    def locate(self, model: str, backend: str, precision: str) -> Located:
        path = artifact_path(self.folder, model, backend, precision)
        if self.part.trained and self._checkpoint(model) is None:
            return Located(path, skip=self._no_checkpoint(model))
        if makes_own_artifacts(backend):  # engines come from `se-deploy build`, not made here
            return ExportDirResolver(self.folder).locate(model, backend, precision)
        steps = self._steps(model, precision)
        stale = [
            step
            for step in steps
            if not (step.is_current() or (self.keep_existing and step.artifact.is_file()))
        ]
        if stale and not self.make:
            return Located(path, f"not made yet; `se-deploy bench` makes it ({stale[0].name})")
        try:
            for step in stale:
                failure = step.cached_failure()
                if failure is not None:
                    return Located(
                        path,
                        f"making the {precision} artifact failed before with "
                        f"the same inputs (delete {step.failure_path} to "
                        f"retry): {failure}",
                    )
                self.progress(f"{step.name} {self.label(model)}")
                step.attempt()
        except SeDeployError as exc:
            return Located(path, f"making the {precision} artifact failed: {exc}")
        return Located(path)

    def _checkpoint(self, model: str) -> Path | None:
        from se_deploy.core.spec import zoo_checkpoint

        try:
            return zoo_checkpoint(model, self.part.zoo or "")
        except SeDeployError:
            return None

    def _no_checkpoint(self, model: str) -> str:
        from se_deploy.core.spec import ZOO_DIR

        path = ZOO_DIR / str(self.part.zoo) / f"{model}.pt"
        shown = path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path
        return f"no checkpoint {shown} yet (`se-deploy train --model {model}`)"

    def _steps(self, model: str, precision: str) -> list[_Step]:
        """Export, then quantize unless fp32: each with the manifest fields that make it current."""
        from se_deploy.stages.export import ExportConfig, export_model

        weights = self.weights(model)
        config = ExportConfig(
            model=model,
            weights=weights,
            input_size=self.part.input_size,
            out=self.folder,
            dataset=self.part.calib if self.part.trained else None,
        )
        fp32 = artifact_path(self.folder, model, "ort", "fp32")
        expected: dict[str, Any] = {"options": config.to_dict()}
        if weights is not None:
            expected["weights_sha256"] = _lazy_sha(weights)
        steps = [_Step("export", fp32, expected, lambda: export_model(config))]
        if precision != "fp32":
            steps.append(self._quantize_step(model, precision, fp32))
        return steps

    def _quantize_step(self, model: str, precision: str, fp32: Path) -> _Step:
        from se_deploy.stages.quantize import (
            Precision,
            QuantConfig,
            quantize_artifact,
            resolve_source,
        )

        calibration = (
            {"calib": self.part.calib, "calib_size": self.part.calib_size}
            if precision == "int8"
            else {}
        )
        config = QuantConfig(Precision(precision), **calibration, enforce_check=self.part.trained)
        path = artifact_path(self.folder, model, "ort", config.tag)
        expected = {"options": config.to_dict(), "source_sha256": _lazy_sha(fp32)}

        def run() -> None:
            quantize_artifact(resolve_source(None, model, "fp32", self.folder), config)

        return _Step("quantize", path, expected, run)


@dataclass(frozen=True)
class _Step:
    """One pipeline step: the artifact it writes and the Manifest fields (property names; values
    or zero-argument callables) that must match for the artifact on disk to be reused. A
    failure is kept beside it with those inputs, so a step that cannot succeed (INT8 of
    random-init weights can fail quantize's fidelity check) is not retried on every run."""

    name: str
    artifact: Path
    expected: dict[str, Any]
    run: Callable[[], object]

    @property
    def failure_path(self) -> Path:
        return self.artifact.parent / FAILED

    def is_current(self) -> bool:
        manifest = Manifest.read(self.artifact.parent / MANIFEST_FILE)
        if manifest is None or not self.artifact.is_file():
            return False
        return all(getattr(manifest, key) == value for key, value in self._inputs().items())

    def cached_failure(self) -> str | None:
        """The error of an earlier attempt with the same inputs, if any."""
        if not self.failure_path.is_file():
            return None
        recorded = json.loads(self.failure_path.read_text())
        return recorded["error"] if recorded.get("inputs") == self._inputs() else None

    def attempt(self) -> None:
        try:
            self.run()
        except SeDeployError as exc:
            atomic_write_json(self.failure_path, {"inputs": self._inputs(), "error": str(exc)})
            raise
        self.failure_path.unlink(missing_ok=True)

    def _inputs(self) -> dict[str, Any]:
        return {key: value() if callable(value) else value for key, value in self.expected.items()}


@dataclass(frozen=True)
class ExportMaker:
    """`bench --model NAME`: export/<model>/<precision>/ as DESIGN.md lays it out. An artifact
    that is there is used as it is (never remade: it may come from the user's own options); a
    missing one is made as the suite makes it: from the zoo checkpoint when the model has one
    (the `fmnist` part), else from a seeded random init at 224 (the `224` part). With `make`
    off, a missing one names the exact commands that make it."""

    root: Path = Path("export")
    make: bool = True
    progress: Progress = lambda _: None

    def label(self, model: str) -> str:
        return model

    def weights(self, model: str) -> Path | None:
        return ExportDirResolver(self.root).weights(model)

    def locate(self, model: str, backend: str, precision: str) -> Located:
        path = artifact_path(self.root, model, backend, precision)
        if path.is_file() or makes_own_artifacts(backend):
            return ExportDirResolver(self.root).locate(model, backend, precision)
        part = self._part(model)
        if not self.make:
            return Located(
                path,
                f"no {precision} artifact for {model} at {path}; run "
                + " and ".join(f"`{command}`" for command in make_commands(part, model, precision))
                + " (bench makes it unless --no-make or --plan is given)",
            )
        resolver = SuiteResolver(part, self.root, self.make, self.progress, keep_existing=True)
        return resolver.locate(model, backend, precision)

    def _part(self, model: str) -> SuitePart:
        """The suite part whose recipe makes this model's artifacts, writing under root itself."""
        trained, random_init = SUITE
        has_checkpoint = SuiteResolver(trained, self.root, False, self.progress).weights(model)
        return replace(trained if has_checkpoint else random_init, name="", eval_limit=None)


def make_commands(part: SuitePart, model: str, precision: str) -> list[str]:
    """The CLI commands that make what the suite's steps make for `part`."""
    if part.trained:
        export = f"se-deploy export --zoo --model {model} --dataset {part.calib}"
    else:
        export = f"se-deploy export --model {model} --input-size {part.input_size or 224}"
    commands = [export]
    if precision == "int8":
        commands.append(
            f"se-deploy quantize --model {model} --precision int8 --calib {part.calib} "
            f"--calib-size {part.calib_size}"
        )
    elif precision != "fp32":
        commands.append(f"se-deploy quantize --model {model} --precision {precision}")
    return commands


def _lazy_sha(path: Path) -> Any:
    """The file's sha256, computed when compared (the fp32 file may not exist yet)."""
    return lambda: sha256_file(path) if path.is_file() else None
