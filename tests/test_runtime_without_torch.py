"""The runtime image's promise, checked on the host: with torch, onnxsim and safetensors
unimportable (the runtime image installs requirements-runtime.txt, which lacks them),
`se-deploy bench --backend ort` still measures an exported SE/base pair and prints its tables."""

# ruff: noqa: F401, F811  (pytest fixtures imported from tests.bench_support)
from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

from tests.bench_support import bench_workdir

ROOT = Path(__file__).resolve().parents[1]
TORCH_SIDE = {"torch", "onnxsim", "safetensors"}  # distribution names == import names
QUICK = ["--iterations", "3", "--warmup", "1", "--rounds", "2", "--calls-per-round", "1",
         "--threads", "1"]  # fmt: skip

# Runs the CLI with a meta-path finder in front that refuses TORCH_SIDE, as a missing package.
BLOCKED_CLI = """
import sys
BLOCKED = {blocked!r}
class Missing:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}} (blocked)", name=name)
        return None
sys.meta_path.insert(0, Missing())
sys.argv[0] = "se-deploy"
from se_deploy.cli import main
main()
"""


def requirement_specs(lines: list[str]) -> dict[str, str]:
    """Distribution name (lower case) -> the whole requirement, for comparison."""
    specs = {}
    for line in lines:
        requirement = line.split("#")[0].strip()
        if requirement:
            name = re.match(r"[A-Za-z0-9_.-]+", requirement).group(0)  # type: ignore[union-attr]
            specs[name.lower()] = requirement.replace(" ", "")
    return specs


def run_without_torch_side(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    code = BLOCKED_CLI.format(blocked=sorted(TORCH_SIDE))
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          cwd=cwd, timeout=600)  # fmt: skip


def test_runtime_requirements_are_pyproject_minus_the_torch_side() -> None:
    project = requirement_specs(tomllib.loads((ROOT / "pyproject.toml").read_text())
                                ["project"]["dependencies"])  # fmt: skip
    runtime = requirement_specs((ROOT / "requirements-runtime.txt").read_text().splitlines())
    assert set(project) - set(runtime) == TORCH_SIDE
    assert {name: project[name] for name in runtime} == runtime


def test_bench_measures_an_exported_pair_without_torch(bench_workdir: Path) -> None:
    se, base = (f"export/{name}/fp32/model.onnx" for name in ("se_mobilenet", "mobilenet"))
    result = run_without_torch_side("bench", "--backend", "ort", "--pair", f"{se},{base}",
                                    *QUICK, "--out", "run-no-torch", cwd=bench_workdir)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "bench: targets" in result.stdout
    assert "SE vs baseline (interleaved)" in result.stdout
    document = json.loads((bench_workdir / "run-no-torch" / "results.json").read_text())
    assert [t["status"] for t in document["targets"]] == ["ok", "ok"]
    assert all(t["latency"][0]["p50_ms"] > 0 for t in document["targets"])
    assert "accuracy" not in document["targets"][0]  # scoring needs the torch checkpoint reader
    assert document["pairs"][0]["ratios"][0]["ratio"] > 0


def test_the_blocker_really_hides_torch(bench_workdir: Path) -> None:
    """Export needs torch, so under the blocker it must fail: the test above proves something."""
    args = ["export", "--model", "mobilenet", "--width", "0.25", "--input-size", "32"]
    result = run_without_torch_side(*args, "--out", "never", cwd=bench_workdir)
    assert result.returncode != 0
    assert "No module named 'torch" in result.stderr
    assert not (bench_workdir / "never").exists()
