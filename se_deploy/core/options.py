"""Validation shared by the frozen option dataclasses (QuantConfig, BuildConfig): each checks its
fields once, up front, and reports every problem as flag names the user typed."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import fields
from typing import Any


def flag(name: str) -> str:
    """The CLI flag of a config field: calib_size -> --calib-size."""
    return "--" + name.replace("_", "-")


def coerce_enums(config: Any, kinds: Mapping[str, type[enum.Enum]]) -> list[str]:
    """Turn each field's string value into its enum member in place (the CLI passes strings);
    one problem per value that is no member, naming the choices. None stays None (an optional
    field whose default another field decides, e.g. the INT8 scheme its target's)."""
    problems = []
    optional = {f.name for f in fields(config) if f.default is None}
    for name, kind in kinds.items():
        if getattr(config, name) is None and name in optional:
            continue
        try:
            object.__setattr__(config, name, kind(getattr(config, name)))
        except ValueError:
            choices = "|".join(str(member.value) for member in kind)
            problems.append(f"{flag(name)} '{getattr(config, name)}' (choose {choices})")
    return problems


def changed_flags(config: Any, names: Iterable[str]) -> list[str]:
    """The flags among `names` whose field differs from its default: options that another mode
    would silently ignore, so the caller rejects them."""
    defaults = {f.name: f.default for f in fields(config)}
    return [flag(name) for name in names if getattr(config, name) != defaults[name]]


def float_list(text: str | None, option: str) -> tuple[float, ...] | None:
    """'0.485,0.456,0.406' -> a tuple of floats (None when not given); else a one-line error."""
    if text is None:
        return None
    try:
        return tuple(float(part) for part in text.split(","))
    except ValueError:
        from se_deploy.core.errors import SeDeployError

        raise SeDeployError(
            f"{option} '{text}' is not a comma-separated list of numbers (e.g. 0.5,0.5,0.5)"
        ) from None
