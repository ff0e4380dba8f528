"""ExportConfig: every option of `se-deploy export`, validated once when it is built."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from se_deploy.core.choices import ChannelOrder, SeGateForm
from se_deploy.core.errors import SeDeployError
from se_deploy.core.options import coerce_enums
from se_deploy.core.shapes import InputShapes
from se_deploy.stages.export.onnx_export import DEFAULT_OPSET, MAX_OPSET, MIN_OPSET
from se_deploy.stages.export.passes.opsets import LATEST_OPSET

DEFAULT_INPUT_SIZE = 224
MIN_INPUT_SIZE = 16
PRECISION = "fp32"  # export writes fp32; `se-deploy quantize` adds fp16/ and int8/ beside it


@dataclass(frozen=True)
class ExportConfig:
    """What to export and how. None means: take it from the checkpoint, else the default."""

    model: str | None = None  # None: the model named in the --weights checkpoint
    weights: Path | None = None  # None: random init (seeded, BN settled), for latency work
    zoo: bool = False  # weights = the committed trained checkpoint of `model`
    input_size: int | None = None  # None: the checkpoint's preprocessing size, else 224
    batch: int | None = None  # None: 1, or dynamic with dynamic_batch
    dynamic_batch: bool = False
    opset: int | None = None  # None: 17 for a torch export, the file's own for --onnx
    out: Path = Path("export")
    width: float | None = None
    num_classes: int | None = None
    in_chans: int | None = None
    small_input: bool | None = None
    dataset: str | None = None  # also verify on real images: 'fashion-mnist', 'synthetic', a dir
    data_dir: Path | None = None
    verify_samples: int = 8
    seed: int = 0
    se_gate: SeGateForm = SeGateForm.BROADCAST  # how the gate reaches the Mul (SE_GATE_FORMS)
    onnx: Path | None = None  # an ONNX file from any exporter, instead of a registered model
    module: str | None = None  # FILE.py:FACTORY or package.module:FACTORY returning an nn.Module
    module_args: tuple[str, ...] = ()  # the factory's key=value keywords
    name: str | None = None  # --onnx: the run directory's name; None: the file's stem
    shapes: str | None = None  # --onnx: trtexec-style NAME:1x3x48x192[,...] for dynamic dims
    dynamic: bool = False  # --onnx: keep symbolic dims (shapes then only size verification)
    expect_se: int | None = None  # fail when fewer SE blocks are found
    mean: tuple[float, ...] | None = None  # --onnx: the model's input normalization, recorded
    std: tuple[float, ...] | None = None
    channel_order: ChannelOrder = ChannelOrder.RGB  # Paddle and OpenCV pipelines feed BGR

    def __post_init__(self) -> None:
        imported = self.onnx is not None or self.module is not None
        problems = coerce_enums(self, {"se_gate": SeGateForm, "channel_order": ChannelOrder})
        problems += self._import_problems() if imported else []
        if not imported and self.model is None and self.weights is None:
            problems.append("no model (pass --model NAME, or --weights of a trained checkpoint)")
        if self.zoo and self.weights is not None:
            problems.append("both --zoo and --weights (choose one)")
        if self.batch is not None and self.dynamic_batch:
            problems.append("both --batch and --dynamic-batch (choose one)")
        if self.batch is not None and self.batch < 1:
            problems.append(f"batch {self.batch} (use >= 1)")
        if self.onnx is None and not MIN_OPSET <= self.torch_opset <= MAX_OPSET:
            problems.append(f"opset {self.opset} (use {MIN_OPSET}..{MAX_OPSET})")
        if self.input_size is not None and self.input_size < MIN_INPUT_SIZE:
            problems.append(f"input size {self.input_size} (use >= {MIN_INPUT_SIZE})")
        if self.verify_samples < 1:
            problems.append(f"verify samples {self.verify_samples} (use >= 1)")
        if problems:
            raise SeDeployError("bad export options: " + "; ".join(problems))

    def _import_problems(self) -> list[str]:
        """--onnx and --module bring their own model: options that build a zoo one do not apply."""
        source = "--onnx" if self.onnx is not None else "--module"
        zoo_only = ("model", "input_size", "batch", "width", "num_classes")
        zoo_only += ("in_chans", "small_input", "dataset", "data_dir")
        zoo_only += ("weights",) if self.onnx is not None else ()
        problems = [
            f"--{name.replace('_', '-')} with {source} (the model fixes it; drop the option)"
            for name in zoo_only
            if getattr(self, name) is not None
        ]
        if self.onnx is not None and self.module is not None:
            problems.append("both --onnx and --module (choose one)")
        if self.module_args and self.module is None:
            problems.append("--module-arg without --module")
        if self.zoo or self.dynamic_batch:
            problems.append(f"--zoo/--dynamic-batch with {source} (use --shapes or --dynamic)")
        if self.module is not None and self.shapes is None:
            problems.append("--module without --shapes (give input:1x3xHxW)")
        if self.opset is not None and not 7 <= self.opset <= LATEST_OPSET:
            problems.append(f"--opset {self.opset} (use 7..{LATEST_OPSET})")
        if self.expect_se is not None and self.expect_se < 0:
            problems.append(f"--expect-se {self.expect_se} (use >= 0)")
        if (self.mean is None) != (self.std is None):
            problems.append("only one of --mean/--std (give both, one value per channel)")
        try:
            InputShapes.parse(self.shapes)
        except SeDeployError as exc:
            problems.append(str(exc))
        return problems

    @property
    def torch_opset(self) -> int:
        return DEFAULT_OPSET if self.opset is None else self.opset

    def preprocess_record(self, hw: tuple[int, int] | None) -> dict[str, Any] | None:
        """The --onnx model's preprocessing as given (None when no --mean/--std was)."""
        if self.mean is None or self.std is None:
            return None
        return {
            "input_size": (hw[0] if hw[0] == hw[1] else list(hw)) if hw else None,
            "channels": len(self.mean),
            "mean": list(self.mean),
            "std": list(self.std),
            "channel_order": self.channel_order,
            "resize": "bilinear",
        }

    @property
    def trace_batch(self) -> int:
        """Batch of the traced input; 2 for a dynamic axis so no size-1 special case is baked in."""
        return 2 if self.dynamic_batch else self.batch or 1

    def model_overrides(self) -> dict[str, Any]:
        """The ModelConfig fields given explicitly; they win over the checkpoint's config."""
        fields = ("width", "num_classes", "in_chans", "small_input")
        return {name: getattr(self, name) for name in fields if getattr(self, name) is not None}

    def to_dict(self) -> dict[str, Any]:
        """JSON-shaped (paths as strings, tuples as lists), so a manifest read back compares
        equal to the config that wrote it (the suite's staleness check does)."""
        return {
            key: str(value)
            if isinstance(value, Path)
            else list(value)
            if isinstance(value, tuple)
            else value
            for key, value in dataclasses.asdict(self).items()
        }
