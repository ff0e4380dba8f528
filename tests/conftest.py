"""Shared fixtures: tiny model configs keep the suite fast on 2 cores."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from se_deploy.models import ModelConfig

TINY = ModelConfig(width=0.25, num_classes=10, in_chans=3, small_input=True)
TINY_SIZE = 32
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")


CONSOLE_SCRIPT = Path(sys.executable).with_name("se-deploy")


def run_cli(
    *args: str, cwd: Path | None = None, console_script: bool = False
) -> subprocess.CompletedProcess:
    """Run the real console entry point in a subprocess, as a user would: `python -m se_deploy`,
    or the installed `se-deploy` script where the difference matters (it puts no working
    directory on sys.path)."""
    command = [str(CONSOLE_SCRIPT)] if console_script else [sys.executable, "-m", "se_deploy"]
    return subprocess.run(
        [*command, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=600,
    )


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture
def cli_in_process(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture):
    """The console entry point (`se_deploy.cli.main`) called in this process, for cases that
    fail on their options or files before any work: a subprocess spends ~4 s of each such case
    importing torch and onnx. Runs that do real work stay in `cli` (process state: threads,
    sys.path, signal handlers)."""
    from se_deploy.cli import main

    def run(*args: str) -> subprocess.CompletedProcess:
        monkeypatch.setattr(sys, "argv", ["se-deploy", *args])
        capsys.readouterr()
        try:
            main()
            code = 0
        except SystemExit as exit_info:
            code = exit_info.code if isinstance(exit_info.code, int) else int(bool(exit_info.code))
        captured = capsys.readouterr()
        return subprocess.CompletedProcess(list(args), code, captured.out, captured.err)

    return run


requires_fashion_mnist = pytest.mark.skipif(
    not (FASHION_MNIST_DIR / "t10k-images-idx3-ubyte.gz").exists(),
    reason="Fashion-MNIST missing: apt-get install dataset-fashion-mnist",
)
