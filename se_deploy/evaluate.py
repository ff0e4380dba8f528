"""Top-k accuracy: numpy scoring shared by every backend, and the PyTorch evaluation loop."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

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


def evaluate_torch(model, batches: Iterable[Batch]) -> Accuracy:
    """Evaluate a PyTorch module in eval mode on (images, labels) numpy batches."""
    import torch

    meter = AccuracyMeter()
    model.eval()
    with torch.inference_mode():
        for images, labels in batches:
            logits = model(torch.from_numpy(images)).float().numpy()
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
