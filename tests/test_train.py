"""Training: a step lowers the loss, checkpoints resume, eval reproduces the card's figure."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from se_deploy.core.checks import topk_correct
from se_deploy.core.errors import SeDeployError
from se_deploy.data import load_dataset
from se_deploy.stages.train import TrainConfig, Trainer, lr_at, train_model

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
    for _ in range(20):  # the loss plateaus near ln(10) for ~8 steps, then falls
        loss = loss_fn(trainer.model(x), y)
        trainer.optimizer.zero_grad()
        loss.backward()
        trainer.optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


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


def test_train_cli_bad_dataset(cli_in_process, tmp_path) -> None:
    result = cli_in_process(
        "train",
        "--model",
        "mobilenet",
        "--dataset",
        str(tmp_path / "nope"),
        "--out",
        str(tmp_path / "run"),
    )
    assert result.returncode == 2
    assert "neither 'fashion-mnist'" in result.stderr
    assert not (tmp_path / "run").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_train_cli_cuda_without_gpu_is_a_one_line_error(cli_in_process, tmp_path) -> None:
    result = cli_in_process(
        "train",
        "--model",
        "mobilenet",
        "--dataset",
        "synthetic",
        "--device",
        "cuda",
        "--out",
        str(tmp_path / "run"),
    )
    assert result.returncode == 2
    assert "--device cuda: this torch build sees no CUDA GPU" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "run").exists()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU and a CUDA torch")
def test_cuda_training_stores_cpu_fp16_weights_that_eval_reproduces(tmp_path) -> None:
    result = train_model(
        TrainConfig(**TINY_TRAIN, epochs=1, batch_size=64, device="cuda"), tmp_path
    )
    state = torch.load(result.weights, weights_only=True)["state_dict"]
    assert {t.device.type for t in state.values()} == {"cpu"}
    assert "CUDA" in result.card["machine"] or "NVIDIA" in result.card["machine"]


def test_pair_cards_record_the_se_delta(tmp_path) -> None:
    from se_deploy.models.cards import link_pair_cards, write_card

    def card(model: str, top1: float, seed: int = 0) -> dict:
        return {
            "model": model,
            "dataset": "fashion-mnist",
            "architecture": "mobilenet_v1",
            "reference": "-",
            "baseline": None,
            "se_blocks": 0,
            "params_m": 1.0,
            "mflops": 1.0,
            "train_seconds": 60.0,
            "weights": f"{model}.pt",
            "sha256": "0",
            "machine": "-",
            "reproduce": "-",
            "test": {"top1": top1, "top5": 0.99, "count": 10},
            "model_config": {
                "width": 0.5,
                "num_classes": 10,
                "in_chans": 1,
                "small_input": True,
                "dropout": 0.0,
            },
            "preprocess": {"input_size": 28, "resize": "bilinear", "mean": [0.3], "std": [0.3]},
            "train_config": {
                "model": model,
                "seed": seed,
                "epochs": 10,
                "threads": 1,
                "momentum": 0.9,
                "lr": 0.1,
                "warmup_epochs": 1.0,
                "weight_decay": 5e-4,
                "batch_size": 128,
            },
        }

    write_card(tmp_path, "se_mobilenet", card("se_mobilenet", 0.9250))
    assert link_pair_cards(tmp_path, "se_mobilenet") == []  # baseline not trained yet
    write_card(tmp_path, "mobilenet", card("mobilenet", 0.9200))
    written = link_pair_cards(tmp_path, "mobilenet")
    assert tmp_path / "se_mobilenet.md" in written
    delta = json.loads((tmp_path / "se_mobilenet.json").read_text())["vs_baseline"]
    assert delta["top1_delta_pt"] == 0.5 and delta["same_recipe"] and delta["seeds"] == [0]
    assert "top-1 +0.50 pt (0.9250 vs 0.9200)" in (tmp_path / "se_mobilenet.md").read_text()
    assert "One seed was trained" in (tmp_path / "se_mobilenet.md").read_text()

    seed_dir = tmp_path / "seed1"  # a second seed's cards: the zoo's SE card gains the spread
    seed_dir.mkdir()
    write_card(seed_dir, "se_mobilenet", card("se_mobilenet", 0.9180, seed=1))
    write_card(seed_dir, "mobilenet", card("mobilenet", 0.9200, seed=1))
    assert tmp_path / "se_mobilenet.json" in link_pair_cards(seed_dir, "mobilenet")
    delta = json.loads((tmp_path / "se_mobilenet.json").read_text())["vs_baseline"]
    assert delta["per_seed_top1_delta_pt"] == {"0": 0.5, "1": -0.2}
    assert "mean +0.15, range 0.70 pt" in (tmp_path / "se_mobilenet.md").read_text()
    seed_delta = json.loads((seed_dir / "se_mobilenet.json").read_text())["vs_baseline"]
    assert seed_delta["top1_delta_pt"] == -0.2 and seed_delta["seeds"] == [1]
