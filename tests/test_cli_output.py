"""Output a pipe or a CI log can read: tables within 80 columns with no cell split mid-word,
progress as plain lines on stderr, Markdown with --format md; and the CLI conventions
(--version, -q, --config replay)."""

# ruff: noqa: F401, F811  (pytest fixtures imported from tests.bench_support)

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from se_deploy import __version__
from tests.bench_support import bench_workdir
from tests.test_bench_cli import QUICK


def piped(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """The CLI with stdout and stderr to pipes, as `se-deploy ... | cat` (COLUMNS unset)."""
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    return subprocess.run(
        [sys.executable, "-m", "se_deploy", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=600,
    )


def _fits(text: str, width: int = 80) -> None:
    assert text.strip()
    assert max(len(line) for line in text.splitlines()) <= width, text


def test_models_in_a_pipe_fit_80_columns_with_whole_names() -> None:
    result = piped("models")
    assert result.returncode == 0, result.stderr
    _fits(result.stdout)
    for name in ("mobilenet_v3_large_no_se", "se_shufflenet_v2", "se_mobilenet_v2"):
        assert f" {name} " in result.stdout  # the cell holds the whole name on one line
    assert "not shown: " in result.stdout  # the columns left out are named
    wide = piped("models", "--wide")
    assert "paper top-1 err" in wide.stdout


def test_models_as_markdown() -> None:
    result = piped("models", "--format", "md")
    lines = result.stdout.splitlines()
    assert lines[2].startswith("| model | baseline | params (M) | MFLOPs | SE blocks |")
    assert "| se_mobilenet | mobilenet | 4.718 | 569.2 | 13 |" in result.stdout


def test_bench_in_a_pipe_fits_80_columns_and_shows_progress_on_stderr(
    bench_workdir: Path,
) -> None:
    result = piped(
        "-v", "bench", "--model", "se_mobilenet", *QUICK, "--out", "piped", cwd=bench_workdir
    )
    assert result.returncode == 0, result.stderr
    _fits(result.stdout)
    for label in ("se_mobilenet", "mobilenet", "ok"):
        assert f" {label} " in result.stdout
    progress = [line for line in result.stderr.splitlines() if line.startswith("se-deploy: [")]
    assert any("bench: load se_mobilenet/ort/fp32" in line for line in progress), result.stderr
    assert any("bench: interleave" in line for line in progress), result.stderr
    rounds = [line for line in progress if ": A/B round (" in line]  # QUICK: --rounds 4
    assert re.search(r"\(1/4\)$", rounds[0]), rounds
    assert any(re.search(r"\(4/4, eta \d+s\)$", line) for line in rounds), rounds
    assert json.loads((bench_workdir / "piped" / "results.json").read_text())["targets"]


def test_quiet_prints_no_progress(bench_workdir: Path) -> None:
    result = piped(
        "-q", "bench", "--model", "se_mobilenet", *QUICK, "--out", "quiet", cwd=bench_workdir
    )
    assert result.returncode == 0, result.stderr
    assert "se-deploy: [" not in result.stderr


def test_version_is_the_installed_distributions() -> None:
    result = piped("--version")
    assert (result.returncode, result.stdout) == (0, f"se-deploy {__version__}\n")
    assert __version__[0].isdigit() and __version__ != "0+unknown"


def test_config_replays_a_manifests_options(bench_workdir: Path, tmp_path: Path) -> None:
    source = bench_workdir / "export" / "mobilenet" / "fp32" / "model.onnx"
    first = tmp_path / "first"
    args = ["quantize", "--input", str(source), "--precision", "fp16", "--verify-size", "4"]
    assert piped(*args, "--out", str(first)).returncode == 0
    again = tmp_path / "again"
    result = piped(
        "quantize",
        "--config",
        str(first / "manifest.json"),
        "--input",
        str(source),
        "--out",
        str(again),
    )
    assert result.returncode == 0, result.stderr
    recorded = json.loads((first / "manifest.json").read_text())["options"]
    assert json.loads((again / "manifest.json").read_text())["options"] == recorded
    assert recorded["verify_size"] == 4  # not the default 256: the option came from the manifest


def test_config_from_another_command_is_refused_in_one_line(bench_workdir: Path) -> None:
    manifest = bench_workdir / "export" / "mobilenet" / "fp32" / "manifest.json"
    result = piped("quantize", "--config", str(manifest), "--precision", "fp16")
    assert result.returncode == 2
    assert result.stderr.startswith("se-deploy: error: --config ")
    assert "written by `export`" in result.stderr and result.stderr.count("\n") == 1


def test_bench_model_names_the_commands_with_no_make(tmp_path: Path) -> None:
    result = piped(
        "bench", "--model", "se_mobilenet", "--precision", "int8", "--no-make", cwd=tmp_path
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert (
        "`se-deploy export --zoo --model se_mobilenet --dataset fashion-mnist` and "
        "`se-deploy quantize --model se_mobilenet --precision int8 --calib fashion-mnist "
        "--calib-size 512`" in result.stderr
    )
    assert not (tmp_path / "export").exists()


def test_bench_model_makes_missing_artifacts_as_the_suite_does(tmp_path: Path) -> None:
    args = ["bench", "--model", "se_mobilenet", *QUICK, "--eval-limit", "200", "--out", "run"]
    result = piped(*args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = json.loads((tmp_path / "run" / "results.json").read_text())["targets"]
    assert [(row["key"], row["status"]) for row in rows] == [
        ("se_mobilenet/ort/fp32", "ok"),
        ("mobilenet/ort/fp32", "ok"),
    ]
    assert rows[0]["accuracy"]["data"]["kind"] == "fashion-mnist"  # the zoo checkpoint's set
    manifest = json.loads((tmp_path / "export/se_mobilenet/fp32/manifest.json").read_text())
    assert manifest["options"]["dataset"] == "fashion-mnist"  # verified on real images
