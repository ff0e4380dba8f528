"""The `se-deploy` command line: one thin module per command, each parsing its options and
calling one library function; this module registers them, adds what every command shares
(`--version`, `-v/-q`, shell completion, `COMMAND --config MANIFEST`) and turns user errors into
one line."""

from __future__ import annotations

import sys

import typer

from se_deploy.cli import bench, build, evaluate, export, fold, inspect, models, quantize, train
from se_deploy.core.errors import SeDeployError

# Only export, train and fold import these; an ORT-only install (the runtime image) lacks them.
TORCH_SIDE = frozenset({"torch", "onnxsim", "safetensors"})

app = typer.Typer(
    name="se-deploy",
    help="Export, quantize, compile and benchmark Squeeze-and-Excitation networks.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


def _print_version(value: bool) -> None:
    if value:
        from se_deploy import __version__

        print(f"se-deploy {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    _version: bool = typer.Option(
        False,
        "--version",
        callback=_print_version,
        is_eager=True,
        help="Print the version and exit.",
    ),
    verbose: int = typer.Option(
        0,
        "--verbose",
        "-v",
        count=True,
        help="More output: progress of short steps, ORT/TensorRT/quantizer info (-vv: debug).",
    ),
    quiet: bool = typer.Option(
        False, "--quiet", "-q", help="Only results and errors: no progress, no library warnings."
    ),
) -> None:
    """Export, quantize, compile and benchmark Squeeze-and-Excitation networks."""
    from se_deploy.core.verbosity import set_verbosity

    set_verbosity(-1 if quiet else verbose)


app.command("models")(models.models_command)
app.command("train")(train.train_command)
app.command("eval")(evaluate.eval_command)
app.command("bench")(bench.bench_command)
app.command("export")(export.export_command)
app.command("quantize")(quantize.quantize_command)
app.command("fold")(fold.fold_command)
app.command("build")(build.build_command)
app.command("inspect")(inspect.inspect_command)


def main() -> None:
    """Console entry point: user errors, ours and the option parser's alike, become one line on
    stderr and exit code 2."""
    try:
        code = app(standalone_mode=False)
    except typer.Abort:
        print("se-deploy: aborted", file=sys.stderr)
        sys.exit(130)
    except typer.TyperException as exc:
        if type(exc).__name__ == "NoArgsIsHelpError" or not hasattr(exc, "format_message"):
            exc.show()  # bare `se-deploy`: the help, as click would print it
            sys.exit(2)
        print(f"se-deploy: error: {_one_line(exc)}", file=sys.stderr)
        sys.exit(getattr(exc, "exit_code", 2))
    except SeDeployError as exc:
        print(f"se-deploy: error: {exc}", file=sys.stderr)
        sys.exit(2)
    except ModuleNotFoundError as exc:
        if exc.name == "onnxruntime":
            print(
                "se-deploy: error: ONNX Runtime is not installed; install one of the two "
                "wheels: pip install 'se-deploy[cpu]' (onnxruntime) or 'se-deploy[gpu]' "
                "(onnxruntime-gpu), not both (they share the onnxruntime module)",
                file=sys.stderr,
            )
            sys.exit(2)
        if exc.name not in TORCH_SIDE:
            raise
        print(
            f"se-deploy: error: this command needs {exc.name}, which this ORT-only install "
            "lacks (it runs bench on ONNX files); use the full install (README, 'Install and "
            "run') or the ci image",
            file=sys.stderr,
        )
        sys.exit(2)
    sys.exit(code if isinstance(code, int) else 0)


def _one_line(exc: Exception) -> str:
    """click's message on one line, after the command it belongs to, e.g. "bench: Invalid value
    for '--order': 'zigzag' is not one of 'alternate', 'random'."."""
    message = " ".join(exc.format_message().split())  # type: ignore[attr-defined]
    name = getattr(getattr(exc, "ctx", None), "info_name", None)
    return f"{name}: {message}" if name and name != "se-deploy" else message
