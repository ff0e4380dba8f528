"""`se-deploy train`: train a registered model on Fashion-MNIST or an ImageFolder directory.

Recipe (the same for an SE model and its baseline, so the pair differs only by SE): SGD with
Nesterov momentum, linear warm-up then cosine decay per step, weight decay on conv/linear weights
only, crop-with-padding + horizontal-flip augmentation. A checkpoint is written atomically after
every epoch; `resume` continues from it. The final weights are stored as fp16 with the model
config and preprocessing, so `eval`/`export` need no repeated options.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from se_deploy.core.checks import Accuracy
from se_deploy.core.errors import SeDeployError
from se_deploy.core.files import atomic_path, sha256_file
from se_deploy.data import ImageSet, load_dataset
from se_deploy.models import ModelConfig, create_model, get_spec
from se_deploy.models.evaluate import evaluate_torch

CHECKPOINT_SUFFIX = ".checkpoint.pt"
_NOT_RECIPE = ("epochs", "threads", "device")  # may change on --resume; the recipe stays


@dataclass(frozen=True)
class TrainConfig:
    model: str
    dataset: str = "fashion-mnist"
    data_dir: str | None = None
    input_size: int = 28
    width: float = 0.5
    small_input: bool = True
    epochs: int = 10
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    warmup_epochs: float = 1.0
    label_smoothing: float = 0.0
    seed: int = 0
    threads: int = 0  # 0: all cores
    device: str = "cpu"  # cpu or cuda: the same recipe, only faster

    def __post_init__(self) -> None:
        get_spec(self.model)
        require_device(self.device)
        for name in ("epochs", "batch_size", "input_size"):
            if getattr(self, name) < 1:
                raise SeDeployError(f"--{name.replace('_', '-')} must be >= 1")
        if self.lr <= 0:
            raise SeDeployError("--lr must be > 0")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class EpochResult:
    epoch: int
    loss: float
    train_top1: float
    test: Accuracy
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        test = {f"test_{k}": v for k, v in self.test.to_dict().items()}
        return {
            "epoch": self.epoch,
            "loss": self.loss,
            "train_top1": self.train_top1,
            "seconds": self.seconds,
            **test,
        }


StepCallback = Callable[[int, int, float, float], None]  # (step, steps, loss, running top-1)


def require_device(device: str) -> None:
    """Training runs where the user asked; a missing GPU is an error, never a silent CPU run."""
    if device not in ("cpu", "cuda"):
        raise SeDeployError(f"--device must be cpu or cuda, not '{device}'")
    if device == "cuda" and not torch.cuda.is_available():
        raise SeDeployError(
            "--device cuda: this torch build sees no CUDA GPU; install a CUDA "
            "build of torch on a GPU machine or use --device cpu"
        )


def model_config_for(config: TrainConfig, num_classes: int, channels: int) -> ModelConfig:
    return ModelConfig(
        width=config.width,
        num_classes=num_classes,
        in_chans=channels,
        small_input=config.small_input,
        dropout=get_spec(config.model).default_dropout,
    )


def load_train_test(config: TrainConfig) -> tuple[ImageSet, ImageSet]:
    data_dir = Path(config.data_dir) if config.data_dir else None
    train = load_dataset(config.dataset, "train", config.input_size, data_dir)
    test = load_dataset(config.dataset, "test", config.input_size, data_dir)
    return train, test


def build_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """SGD with weight decay on weight matrices/kernels only (not BN scales or biases)."""
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    groups = [
        {"params": decay, "weight_decay": config.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum, nesterov=True)


def lr_at(step: int, total: int, warmup: int, peak: float) -> float:
    """Linear warm-up to `peak`, then cosine decay to zero."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return peak * 0.5 * (1.0 + math.cos(math.pi * progress))


class Trainer:
    """Owns the model, optimizer and the per-epoch checkpoint of one training run."""

    def __init__(self, config: TrainConfig, out_dir: Path, train: ImageSet, test: ImageSet):
        self.config = config
        self.out_dir = out_dir
        self.train_set, self.test_set = train, test
        self.model_config = model_config_for(config, len(train.classes), train.preprocess.channels)
        torch.manual_seed(config.seed)
        self.device = torch.device(config.device)
        self.model = create_model(config.model, self.model_config).to(self.device)
        self.optimizer = build_optimizer(self.model, config)
        self.steps_per_epoch = math.ceil(len(train) / config.batch_size)
        self.history: list[EpochResult] = []
        self.start_epoch = 0

    @property
    def checkpoint_path(self) -> Path:
        return self.out_dir / f"{self.config.model}{CHECKPOINT_SUFFIX}"

    def resume(self) -> None:
        path = self.checkpoint_path
        if not path.is_file():
            raise SeDeployError(
                f"--resume found no checkpoint at '{path}'; run without --resume "
                "or pass the --out of the interrupted run"
            )
        state = torch.load(path, map_location=self.device, weights_only=True)
        saved = {k: v for k, v in state["train_config"].items() if k not in _NOT_RECIPE}
        current = {k: v for k, v in self.config.to_dict().items() if k not in _NOT_RECIPE}
        if saved != current:
            changed = sorted(k for k in current if saved.get(k) != current[k])
            raise SeDeployError(
                f"--resume: options {changed} differ from the checkpoint in "
                f"'{path}'; use the same options (only --epochs may change)"
            )
        self.model.load_state_dict(state["state_dict"])
        self.optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["torch_rng"].cpu())
        self.history = [_epoch_from_dict(e) for e in state["history"]]
        self.start_epoch = len(self.history)

    def run_epoch(self, epoch: int, on_step: StepCallback | None = None) -> EpochResult:
        config, model = self.config, self.model
        total = config.epochs * self.steps_per_epoch
        warmup = int(config.warmup_epochs * self.steps_per_epoch)
        loss_fn = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
        model.train()
        started = time.perf_counter()
        seen = correct = 0
        loss_sum = 0.0
        batches = self.train_set.batches(
            config.batch_size, shuffle=True, seed=config.seed * 1000 + epoch, augment=True
        )
        for i, (images, labels) in enumerate(batches):
            step = epoch * self.steps_per_epoch + i
            for group in self.optimizer.param_groups:
                group["lr"] = lr_at(step, total, warmup, config.lr)
            x = torch.from_numpy(images).to(self.device, non_blocking=True)
            y = torch.from_numpy(labels).to(self.device, non_blocking=True)
            logits = model(x)
            loss = loss_fn(logits, y)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            seen += len(y)
            correct += int((logits.argmax(1) == y).sum())
            loss_sum += loss.item() * len(y)
            if on_step:
                on_step(i + 1, self.steps_per_epoch, loss_sum / seen, correct / seen)
        test = evaluate_torch(model, self.test_set.batches(256), self.device)
        result = EpochResult(
            epoch + 1, loss_sum / seen, correct / seen, test, time.perf_counter() - started
        )
        self.history.append(result)
        self.save_checkpoint()
        return result

    def save_checkpoint(self) -> None:
        state = {
            "state_dict": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "train_config": self.config.to_dict(),
            "history": [e.to_dict() for e in self.history],
        }
        with atomic_path(self.checkpoint_path) as tmp:
            torch.save(state, tmp)

    def export_weights(self, path: Path) -> str:
        """Write the fp16 deployable checkpoint (weights, config, preprocessing); return sha256."""
        payload = {
            "state_dict": {k: _to_storage(v) for k, v in self.model.state_dict().items()},
            "model": self.config.model,
            "model_config": self.model_config.to_dict(),
            "preprocess": self.train_set.preprocess.to_dict(),
            "dataset": self.config.dataset,
        }
        with atomic_path(path) as tmp:
            torch.save(payload, tmp)
        return sha256_file(path)


def _to_storage(tensor: torch.Tensor) -> torch.Tensor:
    """fp16 for float tensors (halves the file); integer buffers such as BN counters unchanged."""
    tensor = tensor.cpu()
    return tensor.half() if tensor.is_floating_point() else tensor


def _epoch_from_dict(data: dict[str, Any]) -> EpochResult:
    test = Accuracy(data["test_top1"], data["test_top5"], data["test_count"])
    return EpochResult(data["epoch"], data["loss"], data["train_top1"], test, data["seconds"])


def set_threads(threads: int) -> int:
    count = threads or os.cpu_count() or 1
    torch.set_num_threads(count)
    return count


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed)


@dataclass(frozen=True)
class TrainResult:
    weights: Path
    card: dict[str, Any]


def train_model(
    config: TrainConfig,
    out_dir: Path,
    resume: bool = False,
    on_epoch: Callable[[EpochResult], None] | None = None,
    on_step: StepCallback | None = None,
) -> TrainResult:
    """Train, checkpoint every epoch, then store fp16 weights and a model card in `out_dir`."""
    set_threads(config.threads)
    train, test = load_train_test(config)
    trainer = Trainer(config, out_dir, train, test)
    if resume:
        trainer.resume()
    for epoch in range(trainer.start_epoch, config.epochs):
        result = trainer.run_epoch(epoch, on_step)
        if on_epoch:
            on_epoch(result)
    weights = out_dir / f"{config.model}.pt"
    sha = trainer.export_weights(weights)
    stored = evaluate_checkpoint(weights, test)
    card = build_card(config, trainer, weights, sha, stored)
    from se_deploy.models.cards import link_pair_cards, write_card

    write_card(out_dir, config.model, card)
    link_pair_cards(out_dir, config.model)
    return TrainResult(weights, card)


def evaluate_checkpoint(weights: Path, dataset: ImageSet) -> Accuracy:
    """Accuracy of the stored (fp16) checkpoint, exactly as `se-deploy eval` computes it."""
    from se_deploy.models.checkpoint import load_checkpoint_model

    model, _ = load_checkpoint_model(weights)
    return evaluate_torch(model, dataset.batches(256))


def _reproduce(config: TrainConfig) -> str:
    """The zoo script's command line: seed 0 is the zoo's checkpoint, others go to seedN/."""
    env = f"SEED={config.seed} " if config.seed else ""
    return f"{env}scripts/train_zoo.sh {config.model}"


def _machine(device: str) -> str:
    import platform

    threads = torch.get_num_threads()
    where = f"{platform.machine()}, {os.cpu_count()} CPU cores, torch threads {threads}"
    return f"{where}, {torch.cuda.get_device_name()}" if device == "cuda" else where


def build_card(
    config: TrainConfig, trainer: Trainer, weights: Path, sha: str, test: Accuracy
) -> dict[str, Any]:
    from se_deploy.core.files import tool_versions
    from se_deploy.models.stats import count_macs, count_params

    spec = get_spec(config.model)
    model_cfg = trainer.model_config
    return {
        "model": config.model,
        "architecture": spec.family,
        "reference": spec.reference,
        "baseline": spec.baseline,
        "se_blocks": spec.se_blocks,
        "dataset": config.dataset,
        "model_config": model_cfg.to_dict(),
        "train_config": config.to_dict(),
        "preprocess": trainer.train_set.preprocess.to_dict(),
        "params_m": count_params(trainer.model) / 1e6,
        "mflops": count_macs(trainer.model, config.input_size, model_cfg.in_chans) / 1e6,
        "test": test.to_dict(),
        "history": [e.to_dict() for e in trainer.history],
        "train_seconds": sum(e.seconds for e in trainer.history),
        "weights": weights.name,
        "sha256": sha,
        "machine": _machine(config.device),
        "tool_versions": tool_versions(),
        "reproduce": _reproduce(config),
    }
