"""Every fixed-choice option is an Enum: `--help` lists its choices, a bad value is one usage
line naming the option and the choices (exit 2), and `--config` replay of a manifest's plain
strings goes through the same choices."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main

from se_deploy.cli import app
from tests.conftest import run_cli

# (command, option, choices) for every fixed-choice option.
CHOICES = [
    ("quantize", "--precision", "fp16|int8"),
    ("quantize", "--calib-method", "minmax|entropy|percentile"),
    ("quantize", "--target", "ort-cpu|tensorrt"),
    ("quantize", "--scheme", "s8s8|u8s8|u8u8"),
    ("quantize", "--se-precision", "int8|float"),
    ("quantize", "--check", "enforce|warn"),
    ("build", "--backend", "ort|trt"),
    ("build", "--provider", "cpu|cuda|tensorrt"),
    ("build", "--graph-opt", "disabled|basic|extended|all"),
    ("build", "--se-gates", "nchwc|ort"),
    ("build", "--engine-precision", "auto|fp32|fp16|int8"),
    ("export", "--se-gate", "broadcast|resize"),
    ("export", "--channel-order", "rgb|bgr"),
    ("fold", "--gate-value", "mean|lsq"),
    ("eval", "--split", "train|test"),
    ("eval", "--device", "cpu|cuda"),
    ("train", "--device", "cpu|cuda"),
    ("bench", "--device", "cpu|cuda"),
    ("bench", "--order", "alternate|random"),
]


def _wide(*args: str) -> subprocess.CompletedProcess:
    """The CLI with a terminal wide enough that rich does not wrap a choice list."""
    env = {**os.environ, "COLUMNS": "400", "TERMINAL_WIDTH": "400"}
    return subprocess.run(
        [sys.executable, "-m", "se_deploy", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


@pytest.mark.parametrize("command", sorted({command for command, _, _ in CHOICES}))
def test_help_lists_the_choices_of_every_choice_option(command: str) -> None:
    result = _wide(command, "--help")
    assert result.returncode == 0, result.stderr
    for _, option, choices in (row for row in CHOICES if row[0] == command):
        line = next(line for line in result.stdout.splitlines() if f" {option} " in line)
        assert f"[{choices}]" in line or f"<{choices}>" in line, line


@pytest.mark.parametrize(
    "args",
    [
        ("quantize", "-i", "x.onnx", "--precision", "int4"),
        ("quantize", "-i", "x.onnx", "--precision", "int8", "--check", "maybe"),
        ("build", "--backend", "tflite", "-i", "x.onnx"),
        ("export", "--model", "se_mobilenet", "--se-gate", "tile"),
        ("fold", "--model", "se_mobilenet", "--gate-value", "median"),
        ("eval", "--split", "val"),
        ("train", "--model", "se_mobilenet", "--device", "tpu"),
    ],
)
def test_a_bad_choice_is_one_usage_line_naming_option_and_choices(
    args: tuple[str, ...], tmp_path: Path
) -> None:
    result = run_cli(*args, cwd=tmp_path)
    option = next(arg for arg in reversed(args) if arg.startswith("--"))
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert option in result.stderr and "is not one of" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def _replayed(command: str, manifest: dict, tmp_path: Path) -> dict:
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest))
    click_command = typer.main.get_command(app).commands[command]
    return click_command.make_context(command, ["--config", str(path)]).params


def test_config_replay_feeds_recorded_strings_through_the_choices(tmp_path: Path) -> None:
    options = {"backend": "ort", "graph_opt": "all", "se_gates": "ort", "provider": "cpu"}
    params = _replayed("build", {"command": "build", "options": options}, tmp_path)
    assert {key: params[key] for key in options} == options
    recorded = {"precision": "int8", "calib": "synthetic", "target": "tensorrt"}
    params = _replayed("quantize", {"command": "quantize", "options": recorded}, tmp_path)
    assert (params["precision"], params["target"]) == ("int8", "tensorrt")


def test_config_replay_of_a_bad_recorded_choice_fails_as_the_flag_would(tmp_path: Path) -> None:
    manifest = {"command": "build", "options": {"backend": "ort", "se_gates": "bogus"}}
    with pytest.raises(typer.BadParameter, match="bogus"):
        _replayed("build", manifest, tmp_path)
