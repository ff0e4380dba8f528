"""The `se-deploy` command line. Each command parses options and calls one library function."""

from __future__ import annotations

import sys

import typer

from se_deploy.errors import SeDeployError

app = typer.Typer(
    name="se-deploy",
    help="Export, quantize, compile and benchmark Squeeze-and-Excitation networks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


@app.callback()
def _root() -> None:
    """Export, quantize, compile and benchmark Squeeze-and-Excitation networks."""


@app.command("models")
def models_command(
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    input_size: int = typer.Option(224, help="Input side for the MFLOPs column."),
) -> None:
    """List every registered model with its baseline, params, MFLOPs and SE block count."""
    from se_deploy.console import print_json, print_table
    from se_deploy.zoo import model_table

    rows = model_table(input_size)
    if as_json:
        print_json(rows)
        return
    print_table(
        f"Registered models ({input_size}x{input_size}, 1000 classes; MFLOPs = multiply-adds)",
        rows,
        [("name", "model"), ("baseline", "baseline"), ("params_m", "params (M)"),
         ("mflops", "MFLOPs"), ("se_blocks", "SE blocks"), ("paper_mflops", "paper MFLOPs"),
         ("paper_params_m", "paper params (M)"), ("paper_top1_err", "paper top-1 err")],
    )  # fmt: skip


@app.command("train")
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
    out: str = typer.Option(None, help="Run directory (default runs/train/<model>)."),
    resume: bool = typer.Option(False, help="Continue from the checkpoint in --out."),
) -> None:
    """Train a model; checkpoint each epoch; write fp16 weights and a model card."""
    from pathlib import Path

    from se_deploy.console import console, step_progress
    from se_deploy.train import TrainConfig, train_model

    config = TrainConfig(
        model=model, dataset=dataset, data_dir=data_dir, input_size=input_size, width=width,
        small_input=small_input, epochs=epochs, batch_size=batch_size, lr=lr,
        weight_decay=weight_decay, warmup_epochs=warmup_epochs,
        label_smoothing=label_smoothing, seed=seed, threads=threads,
    )  # fmt: skip
    out_dir = Path(out) if out else Path("runs/train") / model
    with step_progress(f"{model}") as progress:
        task = progress.add_task("epoch", total=None, loss=0.0, top1=0.0)

        def on_step(step: int, steps: int, loss: float, top1: float) -> None:
            progress.update(task, completed=step, total=steps, loss=loss, top1=top1)

        def on_epoch(r) -> None:
            console.print(f"epoch {r.epoch}/{epochs}: loss {r.loss:.4f} train top-1 "
                          f"{r.train_top1:.4f} test top-1 {r.test.top1:.4f} top-5 "
                          f"{r.test.top5:.4f} ({r.seconds:.0f} s)")  # fmt: skip

        result = train_model(config, out_dir, resume, on_epoch, on_step)
    test = result.card["test"]
    console.print(f"wrote {result.weights} (test top-1 {test['top1']:.4f}, top-5 "
                  f"{test['top5']:.4f}) and its model card")  # fmt: skip


@app.command("eval")
def eval_command(
    model: str = typer.Option(None, help="Model name; default: the one the weights name."),
    weights: str = typer.Option(
        None, help="Checkpoint (.pt/.safetensors); default: the committed zoo checkpoint."
    ),
    dataset: str = typer.Option("fashion-mnist", help="'fashion-mnist' or an ImageFolder dir."),
    data_dir: str = typer.Option(None, help="Directory of the Fashion-MNIST IDX .gz files."),
    split: str = typer.Option("test"),
    batch_size: int = typer.Option(256),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Top-1/top-5 of a model's weights on a dataset (PyTorch FP32)."""
    from se_deploy.console import print_json, print_table
    from se_deploy.evaluate import evaluate_weights

    row = evaluate_weights(model, weights, dataset, data_dir, split, batch_size)
    if as_json:
        print_json(row)
        return
    print_table(f"eval on {dataset} ({split})", [row],
                [("model", "model"), ("backend", "backend"), ("precision", "precision"),
                 ("top1", "top-1"), ("top5", "top-5"), ("count", "images"),
                 ("weights", "weights")])  # fmt: skip


def main() -> None:
    """Console entry point: user errors become one line on stderr and exit code 2."""
    try:
        app()
    except SeDeployError as exc:
        print(f"se-deploy: error: {exc}", file=sys.stderr)
        sys.exit(2)
