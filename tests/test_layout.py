"""The layout's import rules (README, "Layout"), checked on the source: every import statement,
module-level or inside a function, of every module under se_deploy/."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "se_deploy"
STAGES = ("export", "quantize", "fold", "compile", "train")
# What each layer may import from se_deploy (besides itself); cli and suite may import anything.
ALLOWED = {
    "core": {"core"},
    "data": {"core", "data"},
    "models": {"core", "data", "models"},
    "backends": {"core", "backends"},
    "bench": {"core", "backends", "data", "bench"},
    "stages": {"core", "data", "backends", "models"},
}
# Only these may import torch: the builders, the torch runner, and the torch-side stages.
TORCH_SIDE = (
    "se_deploy.models",
    "se_deploy.backends.torch",
    "se_deploy.stages.export",
    "se_deploy.stages.train",
)
# The torch runner builds registered models: the one backend that imports models/.
EXTRA = {"se_deploy.backends.torch": {"models"}}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path) -> set[str]:
    """Absolute names of every module `path` imports (relative imports resolved)."""
    names = set()
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            names.add(".".join([*base, node.module or ""]).strip("."))
    return names


def layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "se_deploy" else None


def stage(module: str) -> str | None:
    parts = module.split(".")
    return parts[2] if len(parts) > 2 and parts[1] == "stages" else None


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p))
def test_imports_follow_the_layers(path: Path) -> None:
    module = module_name(path)
    own = layer(module)
    allowed = ALLOWED.get(own or "")
    bad = []
    for name in imported(path):
        other = layer(name)
        if other is None:
            if name.split(".")[0] == "torch" and not module.startswith(TORCH_SIDE):
                bad.append(f"{name} (only {', '.join(TORCH_SIDE)} import torch)")
            continue
        if own == "stages" and other == "stages" and stage(name) != stage(module):
            bad.append(f"{name} (a stage never imports another stage)")
        elif (
            allowed is not None and other != own and other not in allowed | EXTRA.get(module, set())
        ):
            bad.append(f"{name} ({own} imports only {', '.join(sorted(allowed))})")
    assert not bad, f"{module} imports " + "; ".join(sorted(bad))


def test_every_stage_is_checked() -> None:
    found = {stage(module_name(p)) for p in MODULES} - {None}
    assert found == set(STAGES)


def test_the_se_finder_and_core_import_without_torch() -> None:
    """The runtime image has no torch: the SE finder, the specs and every core module load."""
    core = [module_name(p) for p in MODULES if layer(module_name(p)) == "core"]
    code = (
        "import importlib, sys; sys.modules['torch'] = None\n"
        "from se_deploy.core.onnx.se_pattern import find_se_blocks\n"
        f"for name in {core!r}: importlib.import_module(name)\n"
        "import se_deploy.bench.run, se_deploy.bench.plan, se_deploy.backends.ort\n"
        "assert 'torch' not in [m for m in sys.modules if sys.modules[m] is not None]\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
