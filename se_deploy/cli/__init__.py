"""The `se-deploy` command line: one thin module per command, each parsing its options and
calling one library function; this module registers them and turns user errors into one line."""

from __future__ import annotations

import sys

import typer

from se_deploy.cli import bench, build, evaluate, export, fold, models, quantize, train
from se_deploy.core.errors import SeDeployError

# Only export, train and fold import these; an ORT-only install (the runtime image) lacks them.
TORCH_SIDE = frozenset({"torch", "onnxsim", "safetensors"})

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


app.command("models")(models.models_command)
app.command("train")(train.train_command)
app.command("eval")(evaluate.eval_command)
app.command("bench")(bench.bench_command)
app.command("export")(export.export_command)
app.command("quantize")(quantize.quantize_command)
app.command("fold")(fold.fold_command)
app.command("build")(build.build_command)


def main() -> None:
    """Console entry point: user errors become one line on stderr and exit code 2."""
    try:
        app()
    except SeDeployError as exc:
        print(f"se-deploy: error: {exc}", file=sys.stderr)
        sys.exit(2)
    except ModuleNotFoundError as exc:
        if exc.name not in TORCH_SIDE:
            raise
        print(
            f"se-deploy: error: this command needs {exc.name}, which this ORT-only install "
            "lacks (it runs bench on ONNX files); use the full install (README, 'Install and "
            "run') or the ci image",
            file=sys.stderr,
        )
        sys.exit(2)
