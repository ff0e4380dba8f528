"""`se-deploy train`: train a registered model on Fashion-MNIST or an ImageFolder."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import typer

from se_deploy.backends.base import Device
from se_deploy.cli.replay import config_option
from se_deploy.core.console import activity


def train_command(
    model: str = typer.Option(..., help="Registered model name (see `se-deploy models`)."),
    dataset: str = typer.Option("fashion-mnist", help="'fashion-mnist' or an ImageFolder dir."),
    data_dir: str = typer.Option(None, help="Directory of the Fashion-MNIST IDX .gz files."),
    input_size: int = typer.Option(28, help="Input side in pixels."),
    width: float = typer.Option(0.5, help="Width multiplier."),
    small_input: bool = typer.Option(
        True, help="Stride-1 stem (output stride 16) for 28-64 px inputs; same for SE and base."
    ),
    epochs: int = typer.Option(10),
    batch_size: int = typer.Option(128),
    lr: float = typer.Option(0.1, help="Peak learning rate (after warm-up)."),
    weight_decay: float = typer.Option(5e-4),
    warmup_epochs: float = typer.Option(1.0),
    label_smoothing: float = typer.Option(0.0),
    seed: int = typer.Option(0),
    threads: int = typer.Option(0, help="Torch threads; 0 uses every core."),
    device: Device = typer.Option(
        Device.CPU, help="Same recipe on either; cuda needs a CUDA torch."
    ),
    out: str = typer.Option(None, help="Run directory (default runs/train/<model>)."),
    resume: bool = typer.Option(False, help="Continue from the checkpoint in --out."),
    _config: str = config_option(),
) -> None:
    """Train a model; checkpoint each epoch; write fp16 weights and a model card."""
    from pathlib import Path

    from se_deploy.core.console import console
    from se_deploy.stages.train import TrainConfig, train_model

    config = TrainConfig(
        model=model,
        dataset=dataset,
        data_dir=data_dir,
        input_size=input_size,
        width=width,
        small_input=small_input,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        weight_decay=weight_decay,
        warmup_epochs=warmup_epochs,
        label_smoothing=label_smoothing,
        seed=seed,
        threads=threads,
        device=device,
    )
    out_dir = Path(out) if out else Path("runs/train") / model
    with EpochBars(f"train {model}") as bars:

        def on_epoch(r) -> None:
            bars.close()
            console.print(
                f"epoch {r.epoch}/{epochs}: loss {r.loss:.4f} train top-1 "
                f"{r.train_top1:.4f} test top-1 {r.test.top1:.4f} top-5 "
                f"{r.test.top5:.4f} ({r.seconds:.0f} s)"
            )

        result = train_model(config, out_dir, resume, on_epoch, bars.step)
    test = result.card["test"]
    console.print(
        f"wrote {result.weights} (test top-1 {test['top1']:.4f}, top-5 "
        f"{test['top5']:.4f}) and its model card"
    )


class EpochBars(contextlib.ExitStack):
    """One counted progress step per training batch, a bar per epoch (an epoch's batch count is
    known once it starts): rich with ETA on a terminal, `(n/total, eta)` lines on stderr off it."""

    def __init__(self, label: str) -> None:
        super().__init__()
        self.label = label
        self.update: Callable[..., None] | None = None

    def step(self, step: int, steps: int, loss: float, top1: float) -> None:
        if self.update is None or step == 1:
            self.close()
            self.update = self.enter_context(activity(self.label, total=steps))
        self.update(f"batch loss {loss:.4f} top-1 {top1:.4f}")

    def close(self) -> None:
        super().close()
        self.update = None
