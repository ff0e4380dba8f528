"""Where `quantize` and `build` read their ONNX input and write their run directory.

The layout is DESIGN.md's: <root>/<model>/<precision>/model.onnx with its manifest.json beside
it. A command takes either `--model NAME` (read from that layout) or an explicit file/dir; its
output lands beside the input in the same layout, or in `--out`. Every output file is written
atomically and the manifest last, so a manifest always describes complete files.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from se_deploy.core.errors import SeDeployError
from se_deploy.core.files import (
    atomic_write_bytes,
    atomic_write_json,
    file_record,
    sha256_file,
    tool_versions,
)


class Precision(enum.StrEnum):
    """What `quantize` makes from an fp32 export."""

    FP16 = "fp16"
    INT8 = "int8"


MODEL_FILE = "model.onnx"
MANIFEST_FILE = "manifest.json"
DEFAULT_ROOT = Path("export")
# Fields of the source run's manifest carried into every derived artifact's manifest.
_CARRIED = ("model", "weights", "preprocess")


@dataclass(frozen=True)
class OnnxSource:
    """An ONNX input: the file, its run's manifest (if any) and, in the export layout, the
    folder holding every precision of its model."""

    path: Path
    manifest: dict[str, Any] | None
    model_dir: Path | None  # <root>/<model>/ when the file sits at <model>/<precision>/model.onnx

    def run_dir(self, tag: str, out: Path | None) -> Path:
        """`out`, else <root>/<model>/<tag>/ beside the input; an error when neither exists."""
        if out is not None:
            return out
        if self.model_dir is None:
            raise SeDeployError(
                f"'{self.path}' is not in the export layout (<root>/<model>/"
                f"<precision>/{MODEL_FILE} + manifest); pass --out"
            )
        return self.model_dir / tag

    def record(self) -> dict[str, Any]:
        """The manifest entry naming this input: path, sha256 and its own manifest's path."""
        manifest = self.path.parent / MANIFEST_FILE if self.manifest is not None else None
        return {
            "path": str(self.path),
            "sha256": sha256_file(self.path),
            "manifest": str(manifest) if manifest else None,
        }

    def carried(self) -> dict[str, Any]:
        """Model, weights and preprocessing from the source manifest, so each artifact's
        manifest says on its own what it was made from."""
        return {key: (self.manifest or {}).get(key) for key in _CARRIED}


def resolve_source(
    path: str | Path | None, model: str | None, precision: str, root: Path = DEFAULT_ROOT
) -> OnnxSource:
    """The ONNX file named by `path` (a file or a run dir) or by `model` + `precision`."""
    if (path is None) == (model is None):
        raise SeDeployError(
            f"name the input once: --model NAME (reads {root}/NAME/"
            f"{precision}/{MODEL_FILE}) or --input FILE|DIR"
        )
    if model is not None:
        from se_deploy.core.spec import get_spec

        get_spec(model)  # an unknown name fails here with the list of registered ones
        file = root / model / precision / MODEL_FILE
        hint = (
            f"run `se-deploy export --model {model}` first"
            if precision == "fp32"
            else (f"run `se-deploy quantize --model {model} --precision {precision}` first")
        )
    else:
        file = Path(path)
        file = file / MODEL_FILE if file.is_dir() else file
        hint = "pass an existing .onnx file or a directory holding model.onnx"
    if not file.is_file() or file.suffix != ".onnx":
        raise SeDeployError(f"no ONNX model at '{file}'; {hint}")
    manifest = read_manifest(file.parent / MANIFEST_FILE)
    in_layout = manifest is not None and file.name == MODEL_FILE
    return OnnxSource(file, manifest, file.parent.parent if in_layout else None)


def read_manifest(path: Path) -> dict[str, Any] | None:
    """The JSON manifest at `path`, None when there is none, an error when it is unreadable."""
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise SeDeployError(
            f"'{path}' is not valid JSON ({exc.msg}); re-run the command that wrote it"
        ) from None


def base_manifest(command: str, source: OnnxSource, options: dict[str, Any]) -> dict[str, Any]:
    """The fields every derived artifact's manifest starts with."""
    return {
        "command": command,
        **source.carried(),
        "source": source.record(),
        "options": options,
        "tools": tool_versions(),
    }


def write_run(
    run_dir: Path, files: dict[str, bytes], manifest: dict[str, Any], name: str = MANIFEST_FILE
) -> Path:
    """Write `files` into `run_dir`, then the manifest `name` listing them with sizes and
    sha256; returns the manifest's path."""
    for file, data in files.items():
        atomic_write_bytes(run_dir / file, data)
    outputs = [file_record(run_dir / file, run_dir) for file in files]
    path = run_dir / name
    atomic_write_json(path, {**manifest, "outputs": outputs})
    return path
