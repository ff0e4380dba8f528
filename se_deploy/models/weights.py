"""Loading user weights without ever unpickling arbitrary objects.

`.pt`/`.pth` files go through `torch.load(weights_only=True)` (tensors and plain containers only);
`.safetensors` through safetensors. Checkpoints written by `se-deploy train` hold the state_dict
under "state_dict" (stored as fp16 when committed); both forms are accepted.
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import torch
from torch import nn

from se_deploy.core.errors import SeDeployError

SUFFIXES = (".pt", ".pth", ".safetensors")
_MAX_LISTED = 6


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Read a state_dict from `path`, refusing anything that is not plain tensors."""
    path = Path(path)
    if not path.is_file():
        raise SeDeployError(
            f"weights file '{path}' does not exist; pass an existing .pt or "
            ".safetensors file to --weights"
        )
    if path.suffix not in SUFFIXES:
        raise SeDeployError(
            f"weights file '{path}' has suffix '{path.suffix}'; se-deploy reads "
            f"{', '.join(SUFFIXES)} state_dicts"
        )
    if path.suffix == ".safetensors":
        return _read_safetensors(path)
    return _read_torch(path)


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise SeDeployError(
            f"weights file '{path}' is not a valid safetensors file ({exc}); "
            "re-save it with safetensors.torch.save_file"
        ) from None


# torch's weights_only unpickler names the global it refused: "Unsupported global: GLOBAL a.b"
# (a class) or "unsupported GLOBAL posix.system whose module posix is blocked" (a function).
_PICKLED_GLOBAL = re.compile(r"unsupported global:? (?:GLOBAL )?([\w.]+)", re.IGNORECASE)


def _read_torch(path: Path) -> dict[str, torch.Tensor]:
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        called = _PICKLED_GLOBAL.search(str(exc))
        if called:  # weights_only met a callable or class it will not rebuild
            raise SeDeployError(
                f"weights file '{path}' is a pickle with code in it (it calls "
                f"{called.group(1)}), not only tensors; se-deploy never runs a weights file's "
                "code: save torch.save(model.state_dict(), path) or a .safetensors file"
            ) from None
        raise SeDeployError(
            f"weights file '{path}' cannot be read as a torch file; check the file is complete"
        ) from None
    except Exception as exc:  # a corrupt file fails anywhere inside the unpickler
        raise SeDeployError(
            f"weights file '{path}' cannot be read as a torch file "
            f"({type(exc).__name__}); check the file is complete"
        ) from None
    if isinstance(payload, dict) and isinstance(payload.get("state_dict"), dict):
        payload = payload["state_dict"]
    if not isinstance(payload, dict) or not all(
        isinstance(v, torch.Tensor) for v in payload.values()
    ):
        raise SeDeployError(
            f"weights file '{path}' is not a state_dict (name -> tensor); "
            "save torch.save(model.state_dict(), path)"
        )
    return payload


def load_weights(model: nn.Module, path: Path) -> nn.Module:
    """Load `path` into `model` strictly; mismatches are listed in one error."""
    state = read_state_dict(path)
    check_state_dict(model, state, Path(path))
    target = model.state_dict()
    model.load_state_dict({k: v.to(target[k].dtype) for k, v in state.items()})
    return model


def check_state_dict(model: nn.Module, state: dict[str, torch.Tensor], path: Path) -> None:
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    shapes = [
        f"{k} {tuple(state[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in sorted(set(expected) & set(state))
        if state[k].shape != expected[k].shape
    ]
    problems = [
        f"{label} ({len(items)}): {_listing(items)}"
        for label, items in (("missing", missing), ("unexpected", unexpected), ("shape", shapes))
        if items
    ]
    if problems:
        raise SeDeployError(
            f"weights '{path}' do not match the model: "
            + "; ".join(problems)
            + "; check --model and the width/classes/input options"
        )


def _listing(items: list[str]) -> str:
    shown = ", ".join(items[:_MAX_LISTED])
    return shown + (f", ... {len(items) - _MAX_LISTED} more" if len(items) > _MAX_LISTED else "")
