"""`se-deploy COMMAND --config MANIFEST`: run COMMAND again with the options a manifest recorded.

The manifest's `options` (what export, quantize, fold and build record: their config's fields)
become the command's defaults through click's `default_map`, so the recorded run is replayed and
any flag given on the line still wins. Recorded fields that are no option of the command
(derived ones such as quantize's `format`) are left out; every value goes through the option's
own type and choices, so a hand-edited manifest fails as a bad flag would. A manifest without
`options` but with the command line it ran (`argv`: bench's manifest) is replayed by parsing
that line.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import typer

from se_deploy.core.errors import SeDeployError


def config_option() -> Any:
    """The `--config` option every command declares (its value is consumed here, eagerly,
    before the other options take their defaults)."""
    return typer.Option(
        None,
        "--config",
        is_eager=True,
        callback=_replay,
        help="Replay the options a manifest.json recorded (flags given here override them).",
    )


def _replay(ctx: typer.Context, value: str | None) -> None:
    if value is None:
        return
    manifest = _read(Path(value))
    name = ctx.info_name or ""
    recorded = manifest.get("command")
    if isinstance(recorded, str) and recorded.split()[0] not in (name, "se-deploy"):
        raise SeDeployError(
            f"--config '{value}' was written by `{recorded}`, not `{name}`; "
            f"pass it to `se-deploy {recorded} --config`"
        )
    ctx.default_map = {**(ctx.default_map or {}), **recorded_options(ctx.command, manifest, value)}


def recorded_options(command: Any, manifest: dict[str, Any], where: str) -> dict[str, Any]:
    """The manifest's options that are options of `command`, by parameter name."""
    names = {param.name for param in command.params if param.name and param.name != "config"}
    if isinstance(manifest.get("options"), dict):
        return {
            key: value
            for key, value in manifest["options"].items()
            if key in names and value is not None
        }
    if isinstance(manifest.get("argv"), str):
        args = shlex.split(manifest["argv"])[2:]  # drop "se-deploy COMMAND"
        parsed = command.make_context(command.name, args, resilient_parsing=True)
        defaults = {param.name: param.default for param in command.params}
        return {
            key: value
            for key, value in parsed.params.items()
            if key in names and value != defaults.get(key)
        }
    raise SeDeployError(
        f"--config '{where}' records no options (no 'options' or 'argv' field); pass a "
        "manifest.json written by se-deploy"
    )


def _read(path: Path) -> dict[str, Any]:
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise SeDeployError(f"--config '{path}' does not exist; pass a manifest.json") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SeDeployError(
            f"--config '{path}' is not a JSON manifest ({type(exc).__name__}); pass the "
            "manifest.json a command wrote"
        ) from None
    if not isinstance(manifest, dict):
        raise SeDeployError(f"--config '{path}' is not a JSON object; pass a manifest.json")
    return manifest
