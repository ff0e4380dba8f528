"""A user's own PyTorch model: `FILE.py:FACTORY` or `package.module:FACTORY`, called with the
`--module-arg key=value` keywords, optionally loaded with `--weights` (state_dict .pt through
weights_only, or .safetensors: `models.weights.load_weights`).

Imports resolve as the user's own code expects: a FILE.py sees its folder on sys.path (as
`python FILE.py` would: model files import their sibling modules), a dotted name the current
directory (as `python -m` would, and uvicorn's `module:app`; the `se-deploy` console script
alone has neither). Whatever the user's code raises while it is imported or called becomes one
line naming the file or factory and the exception."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import sys
from pathlib import Path
from typing import Any

from torch import nn

from se_deploy.core.errors import SeDeployError, exception_line
from se_deploy.models.weights import load_weights


def parse_module_args(pairs: tuple[str, ...]) -> dict[str, Any]:
    """key=value pairs -> keywords; values are Python literals (1, 0.5, True, 'a', (1, 2)), or
    else the plain string; true/false in any case are booleans."""
    kwargs: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key.isidentifier():
            raise SeDeployError(f"--module-arg '{pair}' is not key=value (e.g. num_classes=10)")
        if key in kwargs:
            raise SeDeployError(f"--module-arg names '{key}' twice; give each keyword once")
        kwargs[key] = _literal(text)
    return kwargs


def _literal(text: str) -> Any:
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def load_factory(spec: str) -> Any:
    """The callable named by `FILE.py:FACTORY` or `package.module:FACTORY`."""
    where, sep, name = spec.rpartition(":")
    if not sep or not where or not name.isidentifier():
        raise SeDeployError(f"--module '{spec}' is not FILE.py:FACTORY or package.module:FACTORY")
    module = _import_file(Path(where)) if where.endswith(".py") else _import_module(where)
    factory = getattr(module, name, None)
    if not callable(factory):
        raise SeDeployError(
            f"--module '{spec}': '{where}' has no callable '{name}'; name a function or class "
            "that returns an nn.Module"
        )
    return factory


def _import_file(path: Path) -> Any:
    if not path.is_file():
        raise SeDeployError(f"--module file '{path}' does not exist; pass an existing .py file")
    name = f"se_deploy_user_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise SeDeployError(f"--module file '{path}' cannot be imported as Python")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look modules up here
    _on_sys_path(path.resolve().parent)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # the user's code: any failure is theirs to fix, in one line
        del sys.modules[name]
        raise SeDeployError(
            f"--module file '{path}' failed to import: {exception_line(exc)}; fix the file or its "
            f"imports (`python {path}` shows the traceback)"
        ) from None
    return module


def _import_module(name: str) -> Any:
    _on_sys_path(Path.cwd())
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        raise SeDeployError(
            f"--module package '{name}' cannot be imported ({exc.msg}); install it or pass "
            "FILE.py:FACTORY"
        ) from None
    except Exception as exc:
        raise SeDeployError(
            f"--module package '{name}' failed to import: {exception_line(exc)}; fix the package "
            f"(`python -c 'import {name}'` shows the traceback)"
        ) from None


def _on_sys_path(folder: Path) -> None:
    """Put `folder` first on sys.path once (later imports inside the factory need it too)."""
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))


def build_user_module(spec: str, kwargs: dict[str, Any], weights: Path | None) -> nn.Module:
    """Call the factory, check it made an nn.Module, load the weights, switch to eval mode."""
    factory = load_factory(spec)
    try:
        inspect.signature(factory).bind(**kwargs)
    except TypeError as exc:
        raise SeDeployError(f"--module '{spec}' rejects the --module-arg keywords: {exc}") from None
    except ValueError:  # no signature to check (a builtin): the call itself will tell
        pass
    try:
        module = factory(**kwargs)
    except Exception as exc:
        raise SeDeployError(
            f"--module '{spec}' raised {exception_line(exc)} building the model"
        ) from None
    if not isinstance(module, nn.Module):
        raise SeDeployError(
            f"--module '{spec}' returned {type(module).__name__}, not a torch.nn.Module"
        )
    if weights is not None:
        module = load_weights(module, weights)
    return module.eval()
