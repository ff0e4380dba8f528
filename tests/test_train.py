"""Training: a step lowers the loss, checkpoints resume, eval reproduces the card's figure."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from se_deploy.data import load_dataset
from se_deploy.errors import SeDeployError
from se_deploy.evaluate import topk_correct
from se_deploy.train import TrainConfig, Trainer, lr_at, train_model

TINY_TRAIN = {"model": "se_mobilenet", "dataset": "synthetic", "input_size": 32, "width": 0.25}


def test_training_steps_lower_the_loss() -> None:
    config = TrainConfig(**TINY_TRAIN, epochs=1, lr=0.3, warmup_epochs=0)
    train = load_dataset("synthetic", "train", 32)
    trainer = Trainer(config, None, train, train)
    images, labels = next(train.batches(64))
    x, y = torch.from_numpy(images), torch.from_numpy(labels)
    loss_fn = torch.nn.CrossEntropyLoss()
    trainer.model.train()
    losses = []
    for _ in range(10):
        loss = loss_fn(trainer.model(x), y)
        trainer.optimizer.zero_grad()
        loss.backward()
        trainer.optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]


def test_lr_schedule() -> None:
    assert lr_at(0, 100, 10, 1.0) == pytest.approx(0.1)
    assert lr_at(9, 100, 10, 1.0) == pytest.approx(1.0)
    assert lr_at(55, 100, 10, 1.0) == pytest.approx(0.5)
    assert lr_at(100, 100, 10, 1.0) == pytest.approx(0.0)


def test_train_resume_and_eval_agree(tmp_path, cli) -> None:
    config = TrainConfig(**TINY_TRAIN, epochs=1, batch_size=64)
    train_model(config, tmp_path)
    longer = TrainConfig(**TINY_TRAIN, epochs=2, batch_size=64)
    result = train_model(longer, tmp_path, resume=True)
    card = json.loads((tmp_path / "se_mobilenet.json").read_text())
    assert [e["epoch"] for e in card["history"]] == [1, 2]
    assert (tmp_path / "se_mobilenet.md").read_text().startswith("# se_mobilenet (synthetic)")
    assert result.weights.stat().st_size < 1_000_000
    run = cli("eval", "--weights", str(result.weights), "--dataset", "synthetic", "--json")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["top1"] == pytest.approx(card["test"]["top1"])


def test_resume_rejects_changed_options(tmp_path) -> None:
    train_model(TrainConfig(**TINY_TRAIN, epochs=1, batch_size=64), tmp_path)
    with pytest.raises(SeDeployError, match=r"options \['seed'\] differ"):
        train_model(TrainConfig(**TINY_TRAIN, epochs=2, batch_size=64, seed=1), tmp_path, True)
    with pytest.raises(SeDeployError, match="found no checkpoint"):
        train_model(TrainConfig(**TINY_TRAIN, epochs=1), tmp_path / "other", resume=True)


def test_topk() -> None:
    logits = np.array([[0.1, 0.9, 0.0], [0.8, 0.1, 0.1]], np.float32)
    labels = np.array([1, 2])
    assert topk_correct(logits, labels, 1) == 1
    assert topk_correct(logits, labels, 2) == 1
    assert topk_correct(logits, labels, 5) == 2  # k capped at the class count


def test_train_cli_bad_dataset(cli, tmp_path) -> None:
    result = cli("train", "--model", "mobilenet", "--dataset", str(tmp_path / "nope"),
                 "--out", str(tmp_path / "run"))  # fmt: skip
    assert result.returncode == 2
    assert "neither 'fashion-mnist'" in result.stderr
    assert not (tmp_path / "run").exists()
