"""Eager PyTorch runner on CPU or CUDA, from a registered model and (optionally) its weights.

It is the FP32 reference every exported artifact is compared against. torch is imported only
when this runner is checked or loaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from se_deploy.backends.base import (
    Device,
    Prepared,
    Runner,
    RunnerOptions,
    TensorSpec,
)
from se_deploy.core.errors import SeDeployError

if TYPE_CHECKING:
    from se_deploy.models import ModelConfig

OUTPUT_NAME = "logits"


@dataclass(frozen=True)
class TorchModel:
    """What the torch runner loads: a registered model, its weights (a checkpoint from
    `se-deploy train` carries its own config) or random init from `config`, and the input side
    (None: the checkpoint's recorded preprocessing)."""

    name: str
    weights: Path | None = None
    config: ModelConfig | None = None
    input_size: int | None = None


class TorchRunner(Runner):
    name: ClassVar[str] = "torch"
    devices: ClassVar[tuple[Device, ...]] = (Device.CPU, Device.CUDA)
    suffixes: ClassVar[tuple[str, ...]] = ()
    artifact_kind: ClassVar[str] = "registered model"
    has_profiler: ClassVar[bool] = False

    @classmethod
    def loadable(
        cls,
        artifact: Path | None,
        model: str | None = None,
        weights: Path | None = None,
        input_size: int | None = None,
    ) -> Any:
        if model is None:
            raise SeDeployError("the torch backend runs registered models; use --model")
        return TorchModel(model, weights, input_size=input_size)

    @classmethod
    def graph_source(cls, artifact: Path) -> Path | None:
        return None

    @classmethod
    def artifact_precision(cls, artifact: Path) -> str:
        return "fp32"

    def static_cost(self) -> dict[str, Any] | None:
        from se_deploy.models.stats import count_macs, count_params

        spec = self.inputs[0]
        return {
            "macs": count_macs(self.module, spec.shape[2], spec.shape[1]),
            "params": count_params(self.module),
        }

    @classmethod
    def unavailable_impl(cls, options: RunnerOptions) -> str | None:
        try:
            import torch
        except ImportError:
            return "torch is not installed (pip install torch; the ORT-only image has none)"
        if options.device is Device.CUDA and not torch.cuda.is_available():
            return f"no CUDA device visible to torch {torch.__version__}"
        return None

    def load_impl(
        self, artifact: Any, options: RunnerOptions
    ) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
        import torch

        if options.profile:
            raise SeDeployError(
                "backend 'torch' has no per-layer profiler; profile ONNX "
                "artifacts with --backend ort"
            )
        if not isinstance(artifact, TorchModel):
            raise SeDeployError(
                f"the torch backend loads a registered model, not {artifact!r}; pass a model name"
            )
        model, input_size = _build(artifact)
        self._device = torch.device(options.device.value)
        self.module = model.to(self._device).eval()
        self._threads_before = torch.get_num_threads()
        if options.threads:
            torch.set_num_threads(options.threads)  # process-wide in torch; restored on close
        in_chans = _in_chans(model)
        num_classes = _num_classes(model, in_chans, input_size)
        return (
            (TensorSpec("input", (None, in_chans, input_size, input_size), np.dtype(np.float32)),),
            (TensorSpec(OUTPUT_NAME, (None, num_classes), np.dtype(np.float32)),),
        )

    def infer_impl(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import torch

        with torch.inference_mode():
            logits = self.module(torch.from_numpy(feed["input"]).to(self._device))
        return {OUTPUT_NAME: logits.float().cpu().numpy()}

    def prepare(self, feed: Any) -> Prepared:
        """Input placed on the device once; on CUDA each call synchronizes so wall time is real."""
        import torch

        host = torch.from_numpy(self.validate(feed)["input"])
        cuda = self._device.type == "cuda"
        if cuda:
            host = host.pin_memory()
        placed = host.to(self._device)
        sync = torch.cuda.synchronize if cuda else _no_sync
        outputs: list[Any] = [None]

        @torch.inference_mode()
        def run() -> None:
            outputs[0] = self.module(placed)
            sync()

        def copy_in() -> None:
            placed.copy_(host, non_blocking=True)
            sync()

        if not cuda:
            return Prepared(run=run)
        run()  # one output to copy back
        return Prepared(run=run, transfers={"h2d": copy_in, "d2h": lambda: outputs[0].cpu()})

    def close_impl(self) -> None:
        import torch

        torch.set_num_threads(self._threads_before)
        del self.module


def checkpoint_dataset(weights: Path) -> str | None:
    """The dataset a checkpoint records it was trained on (reading it needs torch)."""
    from se_deploy.models.checkpoint import read_checkpoint_meta

    return read_checkpoint_meta(weights).get("dataset")


def _build(ref: TorchModel) -> tuple[Any, int]:
    from se_deploy.models import create_model
    from se_deploy.models.checkpoint import load_checkpoint_model

    if ref.weights is None:
        model, meta = create_model(ref.name, ref.config), {}
    else:
        model, meta = load_checkpoint_model(Path(ref.weights), ref.name, ref.config)
    input_size = ref.input_size or meta.get("preprocess", {}).get("input_size")
    if input_size is None:
        raise SeDeployError(
            f"no input size for '{ref.name}': its weights record none; pass --input-size"
        )
    return model, int(input_size)


def _in_chans(model: Any) -> int:
    from torch import nn

    first_conv = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    return first_conv.in_channels


def _num_classes(model: Any, in_chans: int, input_size: int) -> int:
    """Read off one meta-device forward, so no real compute or memory is spent."""
    import copy

    import torch

    meta_model = copy.deepcopy(model).to("meta")
    with torch.no_grad():
        return int(
            meta_model(torch.empty(1, in_chans, input_size, input_size, device="meta")).shape[1]
        )


def _no_sync() -> None:
    """CPU work is done when the call returns."""
