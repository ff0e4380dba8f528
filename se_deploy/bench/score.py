"""Accuracy of any Runner on an eval set, and its agreement with a reference's logits.

Top-1/top-5 come from the same scorer `se-deploy eval` uses. Agreement compares, image by image,
the runner's logits with a reference run over the same batches in the same order (PyTorch FP32
for trained models): the share of equal top-1 classes and the largest absolute logit difference.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from se_deploy.backends.base import Runner, RunnerOptions, TensorSpec
from se_deploy.bench.plan import BenchConfig, Target
from se_deploy.core.artifact import MANIFEST_FILE, Manifest
from se_deploy.core.checks import AccuracyMeter, Agreement, compare_logits, run_padded
from se_deploy.core.errors import SeDeployError
from se_deploy.core.shapes import InputShapes
from se_deploy.data import Batch


@dataclass(frozen=True)
class AccuracyResult:
    top1: float
    top5: float
    count: int
    agreement: Agreement | None = None
    reference: str | None = None

    def to_dict(self) -> dict[str, Any]:
        agreement = self.agreement.to_dict() if self.agreement else {}
        return {
            "top1": self.top1,
            "top5": self.top5,
            "count": self.count,
            "top1_agreement": agreement.get("top1_agreement"),
            "max_abs_diff": agreement.get("max_abs_diff"),
            "reference": self.reference,
        }


def collect_logits(runner: Runner, batches: Iterable[Batch]) -> tuple[np.ndarray, np.ndarray]:
    """All logits and labels of `batches`, in order; images are cast to the runner's input dtype
    (an FP16-input artifact takes the same normalized images)."""
    dtype = runner.inputs[0].dtype
    logits, labels = [], []
    for images, batch_labels in batches:
        logits.append(runner.run(images.astype(dtype, copy=False)).astype(np.float32))
        labels.append(batch_labels)
    if not logits:
        raise SeDeployError("the eval set yielded no batches")
    return np.concatenate(logits), np.concatenate(labels)


def evaluate_runner(
    runner: Runner,
    batches: Iterable[Batch],
    reference: np.ndarray | None = None,
    reference_name: str | None = None,
) -> AccuracyResult:
    """Top-1/top-5 of `runner` on `batches`; with `reference` logits (same batches, same order)
    also the agreement with them."""
    logits, labels = collect_logits(runner, batches)
    meter = AccuracyMeter()
    meter.update(logits, labels)
    accuracy = meter.result()
    agreement = compare_logits(logits, reference) if reference is not None else None
    return AccuracyResult(
        accuracy.top1,
        accuracy.top5,
        accuracy.count,
        agreement,
        reference_name if reference is not None else None,
    )


class Scorer:
    """Accuracy of bench targets: eval sets and PyTorch FP32 reference logits, each loaded once
    per run and shared by every target that needs them."""

    def __init__(self, config: BenchConfig) -> None:
        self.config = config
        self._datasets: dict[tuple[str, int, int], Any] = {}
        self._references: dict[tuple, tuple[np.ndarray, str]] = {}

    def score(self, target: Target, runner: Runner, dataset: str, threads: int) -> dict[str, Any]:
        """Top-1/top-5 of `runner` on `dataset`, with the agreement with PyTorch when it runs."""
        data = self._dataset(dataset, runner.inputs[0])
        reference, name = self._reference(target, runner, dataset, threads)
        result = evaluate_runner(
            runner, self._batches(data, runner.inputs[0], target), reference, name
        )
        return {"dataset": dataset, "data": data.source, **result.to_dict()}

    def _dataset(self, dataset: str, spec: TensorSpec) -> Any:
        from se_deploy.data import load_dataset
        from se_deploy.data.preprocess import compact_size

        channels, height, width = spec.shape[1], spec.shape[2], spec.shape[3]
        size = compact_size(height, width) if height and width else self.config.input_size
        key = (dataset, size, int(channels or 0))
        if key not in self._datasets:
            self._datasets[key] = load_dataset(
                dataset, self.config.split, size, self.config.data_dir, channels
            )
        return self._datasets[key]

    def _batches(self, data: Any, spec: TensorSpec, target: Target) -> Iterable[Batch]:
        """The first eval images (--eval-limit, else the target's own limit, else all) in
        batches of the artifact's static batch size, else of eval_batch_size."""
        size = spec.shape[0] or self.config.eval_batch_size
        return data.batches(size, limit=self.config.eval_limit or target.eval_limit)

    def _reference(
        self, target: Target, runner: Runner, dataset: str, threads: int
    ) -> tuple[np.ndarray | None, str | None]:
        """PyTorch FP32 logits of the target's trained weights, computed once per weights/input;
        none where torch cannot run (the runtime image scores top-1 without the agreement)."""
        from se_deploy.backends.torch import TorchModel, TorchRunner

        if target.weights is None or TorchRunner.unavailable_reason() is not None:
            return None, None
        spec = runner.inputs[0]
        key = (
            str(target.weights),
            dataset,
            int(spec.shape[2] or 0),
            int(spec.shape[1] or 0),
            self.config.eval_limit or target.eval_limit,
        )
        if key not in self._references:
            model = TorchModel(target.model or "", target.weights, input_size=spec.shape[2])
            data = self._dataset(dataset, spec)
            # Not timed, so one thread unless told: torch's spinning OpenMP pool runs ~7x slower
            # than one thread on a 2-core machine shared with other work (measured).
            with TorchRunner().load(model, RunnerOptions(threads=threads or 1)) as reference:
                # torch takes any batch: the same images in the same order, in eval_batch_size
                logits, _ = collect_logits(
                    reference, self._batches(data, reference.inputs[0], target)
                )
            self._references[key] = (logits, f"torch fp32 {target.weights}")
        return self._references[key]


def evaluate_artifact(
    artifact: str,
    backend: str,
    device: str | None,
    dataset: str,
    data_dir: str | None,
    split: str,
    batch_size: int,
    shapes: InputShapes | None = None,
) -> dict:
    """`se-deploy eval` for a deployable artifact (ONNX file, engine) through its Runner, with
    the preprocessing its manifest recorded (else the dataset's own at the input's size)."""
    from se_deploy.backends import RunnerOptions, runner_class

    path = Path(artifact)
    manifest = _artifact_manifest(path)
    runner_type = runner_class(backend)
    options = RunnerOptions(device=device) if device else runner_type.default_options()
    options = replace(options, shapes=shapes or InputShapes())
    with runner_type().load(path, options) as runner:
        data = _artifact_dataset(runner.inputs[0].shape, manifest, dataset, data_dir, split)
        static_batch = runner.inputs[0].shape[0]
        meter = AccuracyMeter()
        for images, labels in data.batches(static_batch or batch_size):
            meter.update(run_padded(runner, images, static_batch), labels)
    weights = manifest.origin.weights
    return {
        "model": manifest.model_name,
        "artifact": str(path),
        "backend": backend,
        "device": str(options.device),
        "precision": _artifact_precision(runner_type, path, manifest),
        "weights": str(weights) if weights else None,
        "dataset": dataset,
        "split": split,
        "preprocess": data.preprocess.to_dict(),
        **meter.result().to_dict(),
    }


def _artifact_manifest(path: Path) -> Manifest:
    """The manifest.json beside the artifact (an empty one when it has none)."""
    if not path.is_file():
        raise SeDeployError(
            f"artifact '{path}' does not exist; pass an ONNX file from "
            "`se-deploy export`/`quantize` or an engine from `build`"
        )
    return Manifest.read(path.parent / MANIFEST_FILE) or Manifest({})


def _artifact_dataset(
    shape: tuple, manifest: Manifest, dataset: str, data_dir: str | None, split: str
):
    """The eval set resized to the artifact's input and normalized as its manifest recorded."""
    import dataclasses
    from pathlib import Path

    from se_deploy.core.errors import SeDeployError
    from se_deploy.data import Preprocess, load_dataset
    from se_deploy.data.preprocess import compact_size

    if len(shape) != 4 or None in shape[1:]:
        raise SeDeployError(
            f"artifact input shape {shape} is not NCHW with static C, H, W; eval feeds "
            "classifiers of one image input (export --onnx with --shapes fixes the dims)"
        )
    size = compact_size(shape[2], shape[3])
    data = load_dataset(dataset, split, size, Path(data_dir) if data_dir else None, shape[1])
    recorded = manifest.origin.preprocess
    if recorded is None:
        return data
    preprocess = Preprocess.from_dict(recorded)
    if (preprocess.input_size, preprocess.channels) != (size, shape[1]):
        raise SeDeployError(
            f"the manifest records {preprocess.channels}x"
            f"{preprocess.input_size} inputs but the artifact takes "
            f"{shape[1:]}; re-export it"
        )
    return dataclasses.replace(data, preprocess=preprocess)


def _artifact_precision(runner_type: type[Runner], path: Path, manifest: Manifest) -> str:
    """The quantize tag the manifest records (fp16, int8, int8-sefloat), else what the backend
    reads off the artifact (an engine's build record, an ONNX file's weights)."""
    tag = manifest.precision if path.suffix == ".onnx" else None
    return tag or runner_type.artifact_precision(path)
