"""PyTorch-side evaluation: top-1/top-5 of a module or of checkpoint weights on a dataset."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from se_deploy.core.checks import Accuracy, AccuracyMeter
from se_deploy.data import Batch


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

    from se_deploy.core.errors import SeDeployError
    from se_deploy.core.spec import zoo_checkpoint
    from se_deploy.data import load_dataset
    from se_deploy.models.checkpoint import load_checkpoint_model

    if weights is None:
        if model is None:
            raise SeDeployError("eval needs --model or --weights")
        weights = str(zoo_checkpoint(model))
    net, meta = load_checkpoint_model(Path(weights), model)
    pre = meta.get("preprocess", {})
    data = load_dataset(
        dataset,
        split,
        pre.get("input_size"),
        Path(data_dir) if data_dir else None,
        pre.get("channels"),
    )
    accuracy = evaluate_torch(net, data.batches(batch_size))
    name = model or meta.get("model")
    return {
        "model": name,
        "weights": weights,
        "backend": "torch",
        "precision": "fp32",
        "dataset": dataset,
        "split": split,
        **accuracy.to_dict(),
    }
