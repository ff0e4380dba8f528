"""Bad input over every command: exit 2, one line on stderr naming the problem, no traceback,
and no file left behind (the working directory holds exactly the inputs afterwards).

The commands run in-process through the console entry point (conftest.cli_in_process), as the
subprocess tests in test_bench_cli.py run it, so ~60 cases take seconds rather than minutes.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
import torch
from onnx import TensorProto, helper

GOOD = "good.onnx"  # a valid 1x1x28x28 float model (one Relu): bad options fail on it alone


class _Code:
    """Unpickling this runs os.system: what a malicious checkpoint carries."""

    def __reduce__(self):
        return (os.system, ("echo never",))


def _inputs(folder: Path) -> None:
    """The bad (and the one good) input files every case may name."""
    node = helper.make_node("Relu", ["input"], ["output"])
    shape = [1, 1, 28, 28]
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, shape)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    data = model.SerializeToString()
    (folder / GOOD).write_bytes(data)
    (folder / "TRUNCATED.onnx").write_bytes(data[: len(data) // 2])
    (folder / "TEXT.onnx").write_text("this is not a model\n")
    (folder / "EMPTY.onnx").write_bytes(b"")
    torch.save({"weight": _Code()}, folder / "code.pt")
    (folder / "text.pt").write_text("not a checkpoint\n")
    buffer = folder / "whole.pt"
    torch.save({"w": torch.zeros(3)}, buffer)
    (folder / "truncated.pt").write_bytes(buffer.read_bytes()[:40])
    buffer.unlink()
    (folder / "notjson.json").write_text("{not json")
    (folder / "list.json").write_text("[1, 2]")
    (folder / "noopts.json").write_text('{"command": "quantize"}')
    (folder / "pickle.pkl").write_bytes(pickle.dumps([1, 2]))


CASES = [
    # models
    ["models", "--input-size", "abc"],
    ["models", "--bogus"],
    # train
    ["train", "--model", "nosuch"],
    ["train", "--model", "se_mobilenet", "--dataset", "/nonexistent/set"],
    ["train", "--model", "se_mobilenet", "--data-dir", "/nonexistent/idx"],
    # eval
    ["eval", "--model", "nosuch"],
    ["eval", "--model", "se_mobilenet", "--weights", "MISSING.pt"],
    ["eval", "--model", "se_mobilenet", "--weights", "code.pt"],
    ["eval", "--model", "se_mobilenet", "--weights", "text.pt"],
    ["eval", "--model", "se_mobilenet", "--weights", "truncated.pt"],
    ["eval", "--artifact", "MISSING.onnx", "--backend", "ort"],
    ["eval", "--artifact", "TEXT.onnx", "--backend", "ort"],
    ["eval", "--artifact", "TRUNCATED.onnx", "--backend", "ort"],
    ["eval", "--model", "se_mobilenet", "--dataset", "/nonexistent/set"],
    # export
    ["export", "--model", "nosuch"],
    ["export", "--model", "se_mobilenet", "--weights", "MISSING.pt"],
    ["export", "--model", "se_mobilenet", "--weights", "code.pt"],
    ["export", "--model", "se_mobilenet", "--weights", "text.pt"],
    ["export", "--model", "se_mobilenet", "--weights", "truncated.pt"],
    ["export", "--model", "se_mobilenet", "--weights", "pickle.pkl"],
    ["export", "--model", "se_mobilenet", "--opset", "3"],
    ["export", "--model", "se_mobilenet", "--se-gate", "zigzag"],
    ["export"],
    # quantize
    ["quantize", "--input", "MISSING.onnx", "--precision", "int8"],
    ["quantize", "--input", "TEXT.onnx", "--precision", "fp16", "--out", "q"],
    ["quantize", "--input", "TRUNCATED.onnx", "--precision", "fp16", "--out", "q"],
    ["quantize", "--input", "EMPTY.onnx", "--precision", "fp16", "--out", "q"],
    ["quantize", "--input", GOOD, "--precision", "int4", "--out", "q"],
    ["quantize", "--input", GOOD, "--precision", "int8", "--calib", "/nonexistent", "--out", "q"],
    ["quantize", "--input", GOOD, "--precision", "int8", "--calib-size", "0", "--out", "q"],
    ["quantize", "--input", GOOD, "--precision", "int8", "--calib-method", "x", "--out", "q"],
    ["quantize", "--input", GOOD, "--precision", "int8", "--scheme", "x8", "--out", "q"],
    ["quantize", "--model", "nosuch", "--precision", "int8"],
    ["quantize", "--model", "se_mobilenet", "--precision", "int8"],
    ["quantize", "--input", GOOD],
    ["quantize", "--config", "MISSING.json", "--input", GOOD, "--precision", "fp16"],
    ["quantize", "--config", "notjson.json", "--input", GOOD, "--precision", "fp16"],
    ["quantize", "--config", "list.json", "--input", GOOD, "--precision", "fp16"],
    ["export", "--config", "noopts.json", "--model", "se_mobilenet"],
    # fold
    ["fold", "--input", "MISSING.onnx"],
    ["fold", "--input", "TEXT.onnx", "--out", "f"],
    ["fold", "--input", "TRUNCATED.onnx", "--out", "f"],
    ["fold", "--model", "nosuch"],
    ["fold", "--input", GOOD, "--max-drop", "-1", "--out", "f"],
    # build
    ["build", "--backend", "ort", "--input", "TEXT.onnx", "--out", "b"],
    ["build", "--backend", "ort", "--input", "TRUNCATED.onnx", "--out", "b"],
    ["build", "--backend", "ort", "--input", "MISSING.onnx", "--out", "b"],
    ["build", "--backend", "bogus", "--model", "se_mobilenet"],
    # bench
    ["bench", "MISSING.onnx"],
    ["bench", "TEXT.onnx"],
    ["bench", "TRUNCATED.onnx"],
    ["bench", "EMPTY.onnx"],
    ["bench", "--pair", "TEXT.onnx,MISSING.onnx"],
    ["bench", "--backend", "nosuch", "--model", "se_mobilenet"],
    ["bench", "--precision", "int4", "--model", "se_mobilenet"],
    ["bench", "--pair", "a.onnx"],
    ["bench", "--batch-size", "one", "--model", "se_mobilenet"],
    ["bench", "--threads", "x", "--model", "se_mobilenet"],
    ["bench", "--model", "nosuch"],
    ["bench", "--order", "zigzag"],
    ["bench", "--config", "notjson.json"],
]


def _tree(folder: Path) -> set[str]:
    return {str(path.relative_to(folder)) for path in folder.rglob("*")}


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    _inputs(tmp_path)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_matrix_covers_every_command_with_at_least_40_cases() -> None:
    commands = {case[0] for case in CASES}
    assert commands == {"models", "train", "eval", "export", "quantize", "fold", "build", "bench"}
    assert len(CASES) >= 40


@pytest.mark.parametrize("args", CASES, ids=[" ".join(case) for case in CASES])
def test_bad_input_is_one_line_exit_2_and_leaves_nothing(
    args: list[str], workdir: Path, cli_in_process
) -> None:
    before = _tree(workdir)
    done = cli_in_process(*args)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("se-deploy: error: "), done.stderr
    assert _tree(workdir) == before
