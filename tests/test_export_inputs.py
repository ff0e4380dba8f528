"""What `se-deploy export` takes in: trained checkpoints, the zoo, real images, and bad input."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from se_deploy.core import spec as zoo
from se_deploy.core.errors import SeDeployError
from se_deploy.models import ModelConfig
from se_deploy.stages.export import ExportConfig, export_model
from se_deploy.stages.export.pipeline import require_writable_root
from tests.conftest import TINY, requires_fashion_mnist
from tests.export_support import save_checkpoint

GRAY = ModelConfig(width=0.25, num_classes=10, in_chans=1, small_input=True)


@requires_fashion_mnist
def test_a_grayscale_checkpoint_exports_at_its_shape_and_verifies_on_fashion_mnist(tmp_path):
    weights = save_checkpoint(tmp_path / "w.pt", "se_mobilenet", config=GRAY, input_size=28)

    manifest = export_model(
        ExportConfig(weights=weights, out=tmp_path, dataset="fashion-mnist", verify_samples=4)
    ).manifest

    assert manifest["export"]["input_shape"] == [1, 1, 28, 28]
    assert manifest["model"]["config"]["in_chans"] == 1
    assert manifest["preprocess"]["channels"] == 1
    random, fashion = manifest["verification"]["results"]
    assert (random["source"], fashion["source"]) == ("random", "fashion-mnist")
    assert fashion["samples"] == 4 and fashion["passed"] and fashion["output_range"] > 0.5


def test_an_input_size_override_is_what_the_manifest_preprocessing_says(tmp_path) -> None:
    weights = save_checkpoint(tmp_path / "w.pt", "shufflenet_v2")

    manifest = export_model(
        ExportConfig(weights=weights, out=tmp_path, input_size=48, verify_samples=1)
    ).manifest

    assert manifest["export"]["input_shape"] == [1, 3, 48, 48]
    assert manifest["preprocess"]["input_size"] == 48
    assert manifest["model"]["config"]["width"] == TINY.width


def test_zoo_uses_the_committed_checkpoint(tmp_path, monkeypatch) -> None:
    (tmp_path / "zoo" / "fashion-mnist").mkdir(parents=True)
    weights = save_checkpoint(tmp_path / "zoo" / "fashion-mnist" / "mobilenet.pt", "mobilenet")
    monkeypatch.setattr(zoo, "ZOO_DIR", tmp_path / "zoo")

    manifest = export_model(
        ExportConfig(model="mobilenet", zoo=True, out=tmp_path / "out", verify_samples=1)
    ).manifest

    assert manifest["weights"]["path"] == str(weights)
    assert manifest["export"]["input_shape"] == [1, 3, 32, 32]
    with pytest.raises(
        SeDeployError,
        match="no trained fashion-mnist checkpoint for 'se_mobil"
        r"enet' .*\(have: mobilenet\); pass --weights",
    ):
        export_model(ExportConfig(model="se_mobilenet", zoo=True, out=tmp_path / "out"))


def test_an_unwritable_out_is_refused_before_any_work(tmp_path, monkeypatch) -> None:
    def denied(**_):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "TemporaryFile", denied)
    with pytest.raises(
        SeDeployError,
        match=r"--out '.*/a/b' is not writable \(Permission denied "
        r"in '.*'\); pass a writable directory to --out",
    ):
        require_writable_root(tmp_path / "a" / "b")
    assert not (tmp_path / "a").exists()


def _bad_input(case: str, tmp: Path) -> tuple[list[str], str]:
    """The CLI arguments of a bad-input case and the start of the one error line expected."""
    weights = save_checkpoint(tmp / "se_mobilenet.pt", "se_mobilenet")
    a_file = tmp / "a_file"
    a_file.write_text("not a directory")
    cases = {
        "unknown model": (["--model", "se_resnet"], "unknown model 'se_resnet'; choose one of: "),
        "missing weights": (
            ["--weights", str(tmp / "nope.pt")],
            f"weights file '{tmp / 'nope.pt'}' does not exist",
        ),
        "weights of another model": (
            ["--model", "mobilenet", "--weights", str(weights)],
            f"weights '{weights}' were trained for 'se_mobilenet', not "
            "'mobilenet'; pass --model se_mobilenet or other weights",
        ),
        "weights of another width": (
            ["--weights", str(weights), "--width", "0.5"],
            f"weights '{weights}' do not match the model: shape ",
        ),
        "bad opset": (
            ["--model", "mobilenet", "--opset", "9"],
            "bad export options: opset 9 (use 14..20)",
        ),
        "batch and dynamic batch": (
            ["--model", "mobilenet", "--batch", "2", "--dynamic-batch"],
            "bad export options: both --batch and --dynamic-batch",
        ),
        "zoo and weights": (
            ["--model", "se_mobilenet", "--zoo", "--weights", str(weights)],
            "bad export options: both --zoo and --weights (choose one)",
        ),
        "out is a file": (
            ["--model", "mobilenet", "--out", str(a_file / "sub")],
            f"--out '{a_file / 'sub'}': '{a_file}' is a file, not a directory",
        ),
    }
    return cases[case]


BAD_INPUTS = (
    "unknown model",
    "missing weights",
    "weights of another model",
    "weights of another width",
    "bad opset",
    "batch and dynamic batch",
    "zoo and weights",
    "out is a file",
)


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(
    case: str, cli_in_process, tmp_path
) -> None:
    args, message = _bad_input(case, tmp_path)
    out = ["--out", str(tmp_path / "out")] if "--out" not in args else []

    done = cli_in_process("export", *args, *out)

    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"se-deploy: error: {message}"), done.stderr
    assert not (tmp_path / "out").exists()
    assert not list(tmp_path.rglob("*.onnx")) and not list(tmp_path.rglob("manifest.json"))
