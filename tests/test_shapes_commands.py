"""`--shapes` on every command after export: a file exported with `--dynamic` keeps symbolic
N/H/W; quantize, build, fold, bench and eval take their numbers from `--shapes` (non-square
here), and without it each says so in one line naming the input and the option."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest

from se_deploy.core.checks import AccuracyMeter
from se_deploy.core.errors import SeDeployError
from se_deploy.core.shapes import InputShapes, declared_dims, graph_inputs
from tests.export_support import tiny_graph
from tests.test_export_onnx_file import _dynamic

SHAPES = "input:1x3x32x48"  # the tiny zoo graph, made non-square


@pytest.fixture(scope="module")
def dynamic_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.conftest import run_cli

    root = tmp_path_factory.mktemp("dynamic")
    source = root / "tiny_se.onnx"
    onnx.save(_dynamic(tiny_graph("se_mobilenet")), str(source))
    out = root / "export"
    done = run_cli(
        "export", "--onnx", str(source), "--dynamic", "--shapes", SHAPES, "--out", str(out)
    )
    assert done.returncode == 0, done.stderr
    return out / "tiny_se" / "fp32" / "model.onnx"


def dims_of(path: Path) -> list:
    return declared_dims(graph_inputs(onnx.load(str(path)))[0])


def one_line_error(done) -> str:
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    return done.stderr


def test_the_export_keeps_its_symbolic_dims(dynamic_export: Path) -> None:
    assert dims_of(dynamic_export) == ["N", 3, "H", "W"]


def test_quantize_needs_shapes_then_calibrates_at_them(cli, dynamic_export, tmp_path) -> None:
    args = ["quantize", "--input", str(dynamic_export), "--precision", "int8", "--calib"]
    args += [
        "synthetic",
        "--calib-size",
        "16",
        "--calib-batch-size",
        "8",
        "--check",
        "warn",
        "--out",
        str(tmp_path),
    ]
    assert "pass --shapes input:Nx3xNxN" in one_line_error(cli(*args))
    assert not any(tmp_path.iterdir())
    done = cli(*args, "--shapes", SHAPES, "--json")
    assert done.returncode == 0, done.stderr
    manifest = json.loads(done.stdout)
    assert manifest["options"]["shapes"] == SHAPES
    assert dims_of(tmp_path / "model.onnx") == ["N", 3, "H", "W"]  # still dynamic


def test_shapes_that_contradict_a_static_dim_or_name_no_input_are_refused(
    cli_in_process, dynamic_export, tmp_path
) -> None:
    base = ["build", "--backend", "ort", "--input", str(dynamic_export), "--out", str(tmp_path)]
    assert "does not fit the input's declared dims" in one_line_error(
        cli_in_process(*base, "--shapes", "input:1x1x32x48")
    )
    assert "not an input of the model" in one_line_error(
        cli_in_process(*base, "--shapes", "y:1x3x32x48")
    )


def test_build_verifies_at_the_given_shape(cli, dynamic_export, tmp_path) -> None:
    base = ["build", "--backend", "ort", "--input", str(dynamic_export), "--out", str(tmp_path)]
    assert "--shapes" in one_line_error(cli(*base))
    done = cli(*base, "--shapes", SHAPES, "--json")
    assert done.returncode == 0, done.stderr
    manifest = json.loads(done.stdout)
    assert manifest["options"]["shapes"] == SHAPES
    assert manifest["ort"]["verification"]["results"][0]["passed"]


def test_fold_takes_shapes(cli, dynamic_export, tmp_path) -> None:
    args = ["fold", "--input", str(dynamic_export), "--data", "synthetic", "--fold-se", "all"]
    args += ["--calib-size", "64", "--check-size", "0"]
    done = cli(*args, "--shapes", SHAPES, "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "model.onnx").is_file()


def test_bench_and_eval_feed_the_given_shape(cli, dynamic_export, tmp_path) -> None:
    bench = ["bench", "--backend", "ort", "--rounds", "0", "--iterations", "3", "--warmup", "1"]
    bench += [str(dynamic_export), "--out", str(tmp_path / "bench"), "--json"]
    done = cli(*bench, "--shapes", SHAPES)
    assert done.returncode == 0, done.stderr
    targets = json.loads(done.stdout)["targets"]
    assert targets and all(row["status"] == "ok" for row in targets)
    assert "--shapes" in json.dumps(json.loads(cli(*bench).stdout)["targets"][0]["errors"])
    evaluated = cli(
        "eval",
        "--artifact",
        str(dynamic_export),
        "--shapes",
        SHAPES,
        "--batch-size",
        "50",
        "--json",
    )
    assert evaluated.returncode == 0, evaluated.stderr
    assert json.loads(evaluated.stdout)["count"] >= 2000  # the full test set, or the subset
    assert "--shapes" in one_line_error(cli("eval", "--artifact", str(dynamic_export)))


def test_shapes_parse_once() -> None:
    assert InputShapes.parse(SHAPES).to_text() == SHAPES


def test_scoring_a_non_classifier_output_is_one_line() -> None:
    """A detection map or feature output (third-party models) cannot be top-1 scored."""
    with pytest.raises(SeDeployError, match=r"shape \(4, 1, 16, 24\) for 4 images") as error:
        AccuracyMeter().update(np.zeros((4, 1, 16, 24), np.float32), np.zeros(4, np.int64))
    assert "\n" not in str(error.value)
