"""Where `quantize` and `build` read their ONNX input and write their run directory.

The layout is DESIGN.md's: <root>/<model>/<precision>/model.onnx with its manifest.json beside
it. A command takes either `--model NAME` (read from that layout) or an explicit file/dir; its
output lands beside the input in the same layout, or in `--out`. Every output file is written
atomically and the manifest last, so a manifest always describes complete files.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from se_deploy.core.errors import SeDeployError
from se_deploy.core.files import (
    atomic_write_bytes,
    atomic_write_json,
    file_record,
    run_lock,
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
class Origin:
    """What an artifact was made from, as every later stage needs it: the trained weights (None:
    random init or unknown), the dataset they were trained on (the default eval set) and the
    preprocessing its inputs expect; `note` says why there is nothing to score against."""

    weights: Path | None = None
    weights_sha256: str | None = None
    dataset: str | None = None
    preprocess: Mapping[str, Any] | None = None
    random_init: bool = False
    note: str | None = None

    def fields(self) -> dict[str, Any]:
        """Weights, dataset and note: what a scorer of the artifact needs (bench targets)."""
        return {"weights": self.weights, "dataset": self.dataset, "note": self.note}


class Manifest(Mapping[str, Any]):
    """A run directory's manifest.json, read-only: each stage's own sections by key, as written,
    and typed views of the fields later stages read (origin, model, precision, source), so no
    reader digs through nested string keys for them."""

    def __init__(self, data: Mapping[str, Any], path: Path | None = None) -> None:
        self._data = dict(data)
        self.path = path

    @classmethod
    def read(cls, path: Path) -> Manifest | None:
        """The manifest at `path`; None when there is none, an error when it is unreadable."""
        data = read_manifest(path)
        return None if data is None else cls(data, path)

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def to_dict(self) -> dict[str, Any]:
        return dict(self._data)

    @property
    def command(self) -> str | None:
        return self._data.get("command")

    @property
    def model_name(self) -> str | None:
        return (self._data.get("model") or {}).get("name")

    @property
    def precision(self) -> str | None:
        """The artifact's precision tag: quantize's (fp16, int8, int8-sefloat), export's fp32."""
        return self._data.get("precision") or (self._data.get("export") or {}).get("precision")

    @property
    def options(self) -> Mapping[str, Any] | None:
        """The command's options as given (its config's fields)."""
        return self._data.get("options")

    @property
    def source_sha256(self) -> str | None:
        return (self._data.get("source") or {}).get("sha256")

    @property
    def weights_sha256(self) -> str | None:
        return self.origin.weights_sha256

    @property
    def source_path(self) -> Path | None:
        """The file this artifact was made from (quantize, fold, build); None for an export."""
        source = self._data.get("source") or {}
        return Path(source["path"]) if source.get("path") else None

    @property
    def origin(self) -> Origin:
        """Weights, their training set and preprocessing as export recorded and later stages
        carried them."""
        weights = self._data.get("weights") or {}
        preprocess = self._data.get("preprocess")
        if weights.get("init") == "random":
            return Origin(preprocess=preprocess, random_init=True)
        if weights.get("inside"):  # export --onnx / --module: no zoo checkpoint to score against
            return Origin(
                weights_sha256=weights.get("sha256"),
                preprocess=preprocess,
                note=f"imported model (weights inside the {weights['inside']}): no accuracy",
            )
        path = weights.get("path")
        return Origin(
            weights=Path(path) if path else None,
            weights_sha256=weights.get("sha256"),
            dataset=weights.get("dataset"),
            preprocess=preprocess,
        )


@dataclass(frozen=True)
class RunResult:
    """What a stage wrote: its main file, the manifest beside it, and that manifest."""

    path: Path
    manifest_path: Path
    manifest: Manifest

    @property
    def onnx_path(self) -> Path:
        return self.path

    @property
    def run_dir(self) -> Path:
        return self.manifest_path.parent

    @classmethod
    def written(cls, path: Path, manifest_path: Path) -> RunResult:
        """The result of a run whose files are on disk, its manifest read back as written."""
        manifest = Manifest.read(manifest_path)
        if manifest is None:
            raise SeDeployError(f"'{manifest_path}' vanished right after it was written")
        return cls(path, manifest_path, manifest)

    def to_dict(self) -> dict[str, Any]:
        return {
            "onnx": str(self.path),
            "manifest_path": str(self.manifest_path),
            "manifest": self.manifest.to_dict(),
        }


@dataclass(frozen=True)
class OnnxSource:
    """An ONNX input: the file, its run's manifest (if any) and, in the export layout, the
    folder holding every precision of its model."""

    path: Path
    manifest: Manifest | None
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

    @property
    def precision(self) -> str | None:
        """The source's precision tag as its manifest records it (None without one)."""
        return self.manifest.precision if self.manifest is not None else None


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
    manifest = Manifest.read(file.parent / MANIFEST_FILE)
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
    with run_lock(run_dir):
        for file, data in files.items():
            atomic_write_bytes(run_dir / file, data)
        outputs = [file_record(run_dir / file, run_dir) for file in files]
        path = run_dir / name
        atomic_write_json(path, {**manifest, "outputs": outputs})
    return path
