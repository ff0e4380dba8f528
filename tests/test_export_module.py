"""`se-deploy export --module`: a PyTorch module from its own file, written unlike the zoo,
through export -> quantize int8 -> bench, and the module options' errors."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from tests.conftest import CONSOLE_SCRIPT
from tests.fixtures import third_party_se

MODULE_FILE = Path(third_party_se.__file__)
FACTORY = f"{MODULE_FILE}:build"


def test_module_file_goes_through_export_quantize_and_bench(cli, tmp_path: Path) -> None:
    out = tmp_path / "export"
    weights = tmp_path / "weights.safetensors"
    state = third_party_se.build(num_classes=5).state_dict()
    nudged = {
        k: v + 0.01 * torch.randn_like(v) if v.is_floating_point() else v for k, v in state.items()
    }
    save_file(nudged, str(weights))
    done = cli(
        "export",
        "--module",
        FACTORY,
        "--module-arg",
        "num_classes=5",
        "--weights",
        str(weights),
        "--shapes",
        "input:1x3x24x40",
        "--expect-se",
        "2",
        "--out",
        str(out),
        "--name",
        "tiny",
    )
    assert done.returncode == 0, done.stderr
    manifest = json.loads((out / "tiny" / "fp32" / "manifest.json").read_text())
    origin = manifest["model"]["origin"]
    assert origin["kind"] == "module" and origin["factory"] == FACTORY
    assert origin["file_sha256"] == hashlib.sha256(MODULE_FILE.read_bytes()).hexdigest()
    assert origin["module_args"] == {"num_classes": "5"}
    assert manifest["weights"]["sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    blocks = manifest["se_blocks"]["blocks"]
    assert [(b["activation"], b["gate"], b["channels"]) for b in blocks] == [
        ("SiLU", "hard_sigmoid", 16)
    ] * 2
    assert manifest["verification"]["results"][0]["max_abs_diff"] < 1e-5

    done = cli(
        "quantize",
        "--input",
        str(out / "tiny" / "fp32"),
        "--precision",
        "int8",
        "--calib",
        "synthetic",
        "--calib-size",
        "64",
        "--json",
    )
    assert done.returncode == 0, done.stderr
    quantized = json.loads((out / "tiny" / "int8" / "manifest.json").read_text())
    assert quantized["se_blocks"]["found_in_artifact"] == 2
    assert quantized["calibration"]["preprocess"]["input_size"] == [24, 40]

    done = cli(
        "bench",
        str(out / "tiny" / "int8" / "model.onnx"),
        "--iterations",
        "10",
        "--profile",
        "--out",
        str(tmp_path / "bench"),
        "--json",
    )
    assert done.returncode == 0, done.stderr
    (target,) = json.loads(done.stdout)["targets"]
    assert target["errors"] == [] and target["precision"] == "int8"
    assert target["latency"][0]["p50_ms"] > 0 and target["macs"] > 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--module", "nowhere.py:build", "--shapes", "input:1x3x8x8"], "does not exist"),
        (["--module", f"{MODULE_FILE}:missing", "--shapes", "input:1x3x8x8"], "no callable"),
        (["--module", "no_such_package_x:build", "--shapes", "input:1x3x8x8"], "cannot be imp"),
        (["--module", FACTORY], "--module without --shapes"),
        (["--module", FACTORY, "--shapes", "input:1x1x8x8"], "fails on an input of 1x1x8x8"),
        (["--module", FACTORY, "--shapes", "input:1x3x8x8", "--module-arg", "x"], "key=value"),
        (
            ["--module", FACTORY, "--shapes", "input:1x3x8x8", "--module-arg", "colour=1"],
            "rejects the --module-arg keywords",
        ),
    ],
)
def test_bad_module_options_are_one_line_errors(cli, tmp_path, args, message):
    done = cli("export", *args, "--out", str(tmp_path / "out"))
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()


LAYERS = """
import torch
from torch import nn


class SEUnit(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, channels, 3, padding=1)
        self.fc1, self.fc2 = nn.Conv2d(channels, 4, 1), nn.Conv2d(4, channels, 1)

    def forward(self, x):
        y = torch.relu(self.conv(x))
        s = torch.sigmoid(self.fc2(torch.relu(self.fc1(y.mean((2, 3), keepdim=True)))))
        return (y * s).mean((2, 3))
"""


def _export_cmd(module: str, out: Path) -> list[str]:
    shapes = ["--shapes", "input:1x3x16x16", "--expect-se", "1"]
    return ["export", "--module", module, *shapes, "--out", str(out), "--name", "user_se"]


def test_a_module_file_imports_its_sibling_modules(cli, tmp_path: Path) -> None:
    """A model file in a user's repo imports its neighbours, as under `python net.py`."""
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "se_layers_sibling.py").write_text(LAYERS)
    (repo / "net.py").write_text(
        "from se_layers_sibling import SEUnit\n\n\ndef build():\n    return SEUnit(16)\n"
    )
    done = cli(*_export_cmd(f"{repo / 'net.py'}:build", tmp_path / "out"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "user_se" / "fp32" / "model.onnx").exists()


def test_a_dotted_module_resolves_from_the_current_directory(cli, tmp_path: Path) -> None:
    """`package.module:FACTORY` from the working directory through the console script itself
    (which, unlike `python -m`, puts no working directory on sys.path), relative imports too."""
    package = tmp_path / "user_se_models"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "layers.py").write_text(LAYERS)
    (package / "net.py").write_text(
        "from .layers import SEUnit\n\n\ndef build():\n    return SEUnit(16)\n"
    )
    if not CONSOLE_SCRIPT.exists():
        pytest.skip(f"no console script {CONSOLE_SCRIPT} (se-deploy is not pip-installed)")
    command = _export_cmd("user_se_models.net:build", tmp_path / "out")
    done = cli(*command, cwd=tmp_path, console_script=True)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "user_se" / "fp32" / "model.onnx").exists()


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("import no_such_dependency_x\n", "failed to import: ModuleNotFoundError"),
        ("def build():\n    raise RuntimeError('checkpoint path unset')\n", "raised RuntimeError"),
        ("def build(:\n", "failed to import: SyntaxError"),
    ],
)
def test_a_failing_user_module_is_one_line(cli, tmp_path: Path, source: str, message: str) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text(source)
    done = cli(*_export_cmd(f"{broken}:build", tmp_path / "out"))
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()
