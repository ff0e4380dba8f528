"""Top-k accuracy: numpy scoring shared by every backend, and the PyTorch evaluation loop."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from se_deploy.data import Batch


@dataclass(frozen=True)
class Accuracy:
    top1: float
    top5: float
    count: int

    def to_dict(self) -> dict[str, float | int]:
        return {"top1": self.top1, "top5": self.top5, "count": self.count}


def topk_correct(logits: np.ndarray, labels: np.ndarray, k: int) -> int:
    """How many rows have their label among the k largest logits (k capped at the class count)."""
    k = min(k, logits.shape[1])
    top = np.argpartition(-logits, k - 1, axis=1)[:, :k]
    return int((top == labels[:, None]).any(axis=1).sum())


class AccuracyMeter:
    """Accumulates top-1/top-5 over batches of logits."""

    def __init__(self) -> None:
        self.top1 = self.top5 = self.count = 0

    def update(self, logits: np.ndarray, labels: np.ndarray) -> None:
        self.top1 += topk_correct(logits, labels, 1)
        self.top5 += topk_correct(logits, labels, 5)
        self.count += len(labels)

    def result(self) -> Accuracy:
        count = max(self.count, 1)
        return Accuracy(self.top1 / count, self.top5 / count, self.count)


def evaluate_torch(model, batches: Iterable[Batch], device: Any = "cpu") -> Accuracy:
    """Evaluate a PyTorch module (on `device`) in eval mode on (images, labels) numpy batches."""
    import torch

    meter = AccuracyMeter()
    model.eval()
    with torch.inference_mode():
        for images, labels in batches:
            logits = model(torch.from_numpy(images).to(device)).float().cpu().numpy()
            meter.update(logits, labels)
    return meter.result()


def evaluate_weights(
    model: str | None,
    weights: str | None,
    dataset: str,
    data_dir: str | None,
    split: str,
    batch_size: int,
) -> dict:
    """`se-deploy eval` for PyTorch weights: the model is rebuilt from the checkpoint's config."""
    from pathlib import Path

    from se_deploy.data import load_dataset
    from se_deploy.errors import SeDeployError
    from se_deploy.models.checkpoint import load_checkpoint_model
    from se_deploy.zoo import zoo_checkpoint

    if weights is None:
        if model is None:
            raise SeDeployError("eval needs --model or --weights")
        weights = str(zoo_checkpoint(model))
    net, meta = load_checkpoint_model(Path(weights), model)
    pre = meta.get("preprocess", {})
    data = load_dataset(dataset, split, pre.get("input_size"),
                        Path(data_dir) if data_dir else None, pre.get("channels"))  # fmt: skip
    accuracy = evaluate_torch(net, data.batches(batch_size))
    name = model or meta.get("model")
    return {"model": name, "weights": weights, "backend": "torch", "precision": "fp32",
            "dataset": dataset, "split": split, **accuracy.to_dict()}  # fmt: skip


def evaluate_artifact(
    artifact: str,
    backend: str,
    device: str | None,
    dataset: str,
    data_dir: str | None,
    split: str,
    batch_size: int,
) -> dict:
    """`se-deploy eval` for a deployable artifact (ONNX file, engine) through its Runner, with
    the preprocessing its manifest recorded (else the dataset's own at the input's size)."""
    from pathlib import Path

    from se_deploy.backends import RunnerOptions, runner_class

    path = Path(artifact)
    manifest = _artifact_manifest(path)
    runner_type = runner_class(backend)
    options = RunnerOptions(device=device) if device else runner_type.default_options()
    with runner_type().load(path, options) as runner:
        data = _artifact_dataset(runner.inputs[0].shape, manifest, dataset, data_dir, split)
        static_batch = runner.inputs[0].shape[0]
        meter = AccuracyMeter()
        for images, labels in data.batches(static_batch or batch_size):
            meter.update(run_padded(runner, images, static_batch), labels)
    model = manifest.get("model") or {}
    return {"model": model.get("name"), "artifact": str(path), "backend": backend,
            "device": str(options.device), "precision": _artifact_precision(path, manifest),
            "weights": (manifest.get("weights") or {}).get("path"), "dataset": dataset,
            "split": split, "preprocess": data.preprocess.to_dict(),
            **meter.result().to_dict()}  # fmt: skip


def run_padded(runner, images: np.ndarray, static_batch: int | None) -> np.ndarray:
    """Logits of `images` in the runner's input dtype; a short last batch is zero-padded to an
    artifact's static batch and the padding's logits dropped."""
    count = len(images)
    if static_batch and count < static_batch:
        padding = np.zeros((static_batch - count, *images.shape[1:]), images.dtype)
        images = np.concatenate([images, padding])
    logits = runner.run(images.astype(runner.inputs[0].dtype, copy=False))
    return logits[:count].astype(np.float32)


def _artifact_manifest(path) -> dict:
    """The manifest.json beside the artifact ({} when it has none)."""
    from se_deploy.errors import SeDeployError
    from se_deploy.quantize.source import MANIFEST_FILE, read_manifest

    if not path.is_file():
        raise SeDeployError(f"artifact '{path}' does not exist; pass an ONNX file from "
                            "`se-deploy export`/`quantize` or an engine from `build`")  # fmt: skip
    return read_manifest(path.parent / MANIFEST_FILE) or {}


def _artifact_dataset(shape: tuple, manifest: dict, dataset: str, data_dir: str | None,
                      split: str):  # fmt: skip
    """The eval set resized to the artifact's input and normalized as its manifest recorded."""
    import dataclasses
    from pathlib import Path

    from se_deploy.data import Preprocess, load_dataset
    from se_deploy.errors import SeDeployError

    if len(shape) != 4 or shape[1] is None or shape[2] is None or shape[2] != shape[3]:
        raise SeDeployError(f"artifact input shape {shape} is not NCHW with a static square "
                            "image; eval feeds classifiers of one square image input")  # fmt: skip
    data = load_dataset(dataset, split, shape[2], Path(data_dir) if data_dir else None, shape[1])
    recorded = manifest.get("preprocess")
    if recorded is None:
        return data
    preprocess = Preprocess.from_dict(recorded)
    if (preprocess.input_size, preprocess.channels) != (shape[2], shape[1]):
        raise SeDeployError(f"the manifest records {preprocess.channels}x"
                            f"{preprocess.input_size} inputs but the artifact takes "
                            f"{shape[1:]}; re-export it")  # fmt: skip
    return dataclasses.replace(data, preprocess=preprocess)


def _artifact_precision(path, manifest: dict) -> str | None:
    """'fp32' for an export, the quantize tag (fp16, int8, int8-sefloat) for a quantized one,
    and for a TensorRT engine the precision its build record gives."""
    from se_deploy.build.pipeline import TRT_MANIFEST
    from se_deploy.quantize.source import read_manifest

    build = read_manifest(path.parent / TRT_MANIFEST) if path.suffix != ".onnx" else None
    if build is not None:
        return build["trt"]["engine_precision"]
    return manifest.get("precision") or (manifest.get("export") or {}).get("precision")
