"""The runtime image's promise, checked on the host: with torch, onnxsim, safetensors and
matplotlib unimportable (the runtime image installs requirements-runtime.txt, which lacks them),
`se-deploy bench --backend ort` still measures an exported SE/base pair and prints its tables."""

# ruff: noqa: F401, F811  (pytest fixtures imported from tests.bench_support)
from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

from se_deploy.cli import TORCH_SIDE
from tests.bench_support import bench_workdir

ROOT = Path(__file__).resolve().parents[1]
NOT_IN_RUNTIME = TORCH_SIDE | {"matplotlib"}  # distribution names == import names here
QUICK = shlex.split("--iterations 3 --warmup 1 --rounds 2 --calls-per-round 1 --threads 1")

# Runs the CLI with a meta-path finder in front that refuses NOT_IN_RUNTIME, as if not installed.
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


def run_as_in_runtime_image(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    code = BLOCKED_CLI.format(blocked=sorted(NOT_IN_RUNTIME))
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=cwd, timeout=600
    )


def test_runtime_requirements_are_pyproject_and_cpu_extra_minus_torch_side_and_plots() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    project = requirement_specs(
        [*pyproject["dependencies"], *pyproject["optional-dependencies"]["cpu"]]
    )
    runtime = requirement_specs((ROOT / "requirements-runtime.txt").read_text().splitlines())
    assert set(project) - set(runtime) == NOT_IN_RUNTIME
    assert {name: project[name] for name in runtime} == runtime


def test_bench_measures_an_exported_pair_without_torch(bench_workdir: Path) -> None:
    se, base = (f"export/{name}/fp32/model.onnx" for name in ("se_mobilenet", "mobilenet"))
    args = ["bench", "--backend", "ort", "--pair", f"{se},{base}", "--profile", *QUICK]
    result = run_as_in_runtime_image(*args, "--out", "run-no-torch", cwd=bench_workdir)
    assert result.returncode == 0, result.stderr
    assert "bench: targets" in result.stdout
    assert "SE vs baseline (interleaved)" in result.stdout
    document = json.loads((bench_workdir / "run-no-torch" / "results.json").read_text())
    assert [t["status"] for t in document["targets"]] == ["ok", "ok"]
    assert all(t["latency"][0]["p50_ms"] > 0 for t in document["targets"])
    accuracy = document["targets"][0]["accuracy"]  # the manifest names the dataset: no torch
    assert accuracy["top1"] > 0 and accuracy["reference"] is None  # agreement needs torch
    assert document["pairs"][0]["ratios"][0]["ratio"] > 0
    assert not list((bench_workdir / "run-no-torch").glob("*.png"))  # no matplotlib, no plots
    se_profile, base_profile = (t["profile"] for t in document["targets"])
    assert se_profile["se_nodes_found"]["blocks"] == 13  # the SE finder, not node names
    assert 0 < se_profile["se_fraction"] < 1 and base_profile["se_fraction"] == 0


def test_model_plans_need_no_torch(bench_workdir: Path) -> None:
    """Registered names, baselines and artifact locations come from core.spec, not models/."""
    result = run_as_in_runtime_image(
        "bench", "--model", "se_mobilenet", "--plan", "--json", cwd=bench_workdir
    )
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [(row["model"], row["role"], row["status"]) for row in rows] == [
        ("se_mobilenet", "se", "ready"),
        ("mobilenet", "base", "ready"),
    ]


def test_a_command_that_needs_torch_says_so_in_one_line(bench_workdir: Path) -> None:
    """Also proves the blocker works: export cannot run without torch."""
    args = ["export", "--model", "mobilenet", "--width", "0.25", "--input-size", "32"]
    result = run_as_in_runtime_image(*args, "--out", "never", cwd=bench_workdir)
    assert result.returncode == 2
    assert result.stderr.startswith("se-deploy: error: this command needs torch, which this ")
    assert result.stderr.count("\n") == 1
    assert not (bench_workdir / "never").exists()
