"""ExportConfig: every option of `se-deploy export`, validated once when it is built."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from se_deploy.core.errors import SeDeployError
from se_deploy.stages.export.onnx_export import DEFAULT_OPSET, MAX_OPSET, MIN_OPSET
from se_deploy.stages.export.passes import SE_GATE_FORMS

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
    opset: int = DEFAULT_OPSET
    out: Path = Path("export")
    width: float | None = None
    num_classes: int | None = None
    in_chans: int | None = None
    small_input: bool | None = None
    dataset: str | None = None  # also verify on real images: 'fashion-mnist', 'synthetic', a dir
    data_dir: Path | None = None
    verify_samples: int = 8
    seed: int = 0
    se_gate: str = "broadcast"  # a key of passes.SE_GATE_FORMS: how the gate reaches the Mul

    def __post_init__(self) -> None:
        problems = []
        if self.model is None and self.weights is None:
            problems.append("no model (pass --model NAME, or --weights of a trained checkpoint)")
        if self.zoo and self.weights is not None:
            problems.append("both --zoo and --weights (choose one)")
        if self.batch is not None and self.dynamic_batch:
            problems.append("both --batch and --dynamic-batch (choose one)")
        if self.batch is not None and self.batch < 1:
            problems.append(f"batch {self.batch} (use >= 1)")
        if not MIN_OPSET <= self.opset <= MAX_OPSET:
            problems.append(f"opset {self.opset} (use {MIN_OPSET}..{MAX_OPSET})")
        if self.input_size is not None and self.input_size < MIN_INPUT_SIZE:
            problems.append(f"input size {self.input_size} (use >= {MIN_INPUT_SIZE})")
        if self.se_gate not in SE_GATE_FORMS:
            problems.append(f"--se-gate '{self.se_gate}' (choose {' or '.join(SE_GATE_FORMS)})")
        if self.verify_samples < 1:
            problems.append(f"verify samples {self.verify_samples} (use >= 1)")
        if problems:
            raise SeDeployError("bad export options: " + "; ".join(problems))

    @property
    def trace_batch(self) -> int:
        """Batch of the traced input; 2 for a dynamic axis so no size-1 special case is baked in."""
        return 2 if self.dynamic_batch else self.batch or 1

    def model_overrides(self) -> dict[str, Any]:
        """The ModelConfig fields given explicitly; they win over the checkpoint's config."""
        fields = ("width", "num_classes", "in_chans", "small_input")
        return {name: getattr(self, name) for name in fields if getattr(self, name) is not None}

    def to_dict(self) -> dict[str, Any]:
        return {
            key: str(value) if isinstance(value, Path) else value
            for key, value in dataclasses.asdict(self).items()
        }
