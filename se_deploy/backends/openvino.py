"""OpenVINO runner: the CPU peer runtime a CPU user would otherwise pick, on the same ONNX file.

`core.compile_model` on the ONNX with the LATENCY performance hint and f32 inference precision,
CPU device. Needs the optional `openvino` package (pip install se-deploy[openvino]), imported
only here.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from se_deploy.backends.base import (
    Device,
    LayerTime,
    Prepared,
    Runner,
    RunnerOptions,
    TensorSpec,
    require_file,
)
from se_deploy.core.errors import SeDeployError

OV_DEVICE = "CPU"


class OpenVinoRunner(Runner):
    name: ClassVar[str] = "openvino"
    devices: ClassVar[tuple[Device, ...]] = (Device.CPU,)

    @classmethod
    def unavailable_impl(cls, options: RunnerOptions) -> str | None:
        try:
            import openvino as ov
        except ImportError:
            return "openvino is not installed (pip install se-deploy[openvino])"
        if OV_DEVICE not in ov.Core().available_devices:
            return f"openvino {ov.__version__} sees no {OV_DEVICE} device"
        return None

    def load_impl(
        self, artifact: Any, options: RunnerOptions
    ) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
        import openvino as ov

        path = require_file(artifact, self.artifact_kind, self.suffixes)
        # f32 inference precision: on CPUs with native bf16 (avx512_bf16, AMX) OpenVINO's default
        # is bf16, which would time and score a different model than the FP32 ONNX given.
        config: dict[str, Any] = {
            "PERFORMANCE_HINT": "LATENCY",
            "PERF_COUNT": options.profile,
            "INFERENCE_PRECISION_HINT": "f32",
        }
        if options.threads:
            config["INFERENCE_NUM_THREADS"] = options.threads
        core = ov.Core()
        try:
            self._compiled = core.compile_model(core.read_model(str(path)), OV_DEVICE, config)
        except RuntimeError as exc:
            raise SeDeployError(
                f"openvino cannot compile '{path}': {str(exc).strip().splitlines()[0]}"
            ) from None
        self._request = self._compiled.create_infer_request()
        self._totals: dict[str, list[Any]] = {}
        return (
            tuple(_spec(port) for port in self._compiled.inputs),
            tuple(_spec(port) for port in self._compiled.outputs),
        )

    def infer_impl(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        self._request.infer(feed, share_inputs=True)
        if self.options.profile:
            self._accumulate_profile()
        return {
            spec.name: self._request.get_output_tensor(i).data.copy()
            for i, spec in enumerate(self.outputs)
        }

    def prepare(self, feed: Any) -> Prepared:
        """A request of its own with the inputs set once (shared, not copied); each call is one
        `infer()`, unaffected by other calls on this runner."""
        import openvino as ov

        if self.options.profile:
            return super().prepare(feed)
        request = self._compiled.create_infer_request()
        for name, array in self.validate(feed).items():
            request.set_tensor(name, ov.Tensor(array, shared_memory=True))
        return Prepared(run=request.infer)

    def profile_impl(self) -> list[LayerTime]:
        return [
            LayerTime(name, op, total_us=total, calls=calls)
            for name, (op, total, calls) in self._totals.items()
        ]

    def _accumulate_profile(self) -> None:
        """OpenVINO keeps the last inference's per-node times only; sum them per call."""
        import openvino as ov

        for info in self._request.get_profiling_info():
            if info.status != ov.ProfilingInfo.Status.EXECUTED:
                continue  # fused into a neighbour
            entry = self._totals.setdefault(info.node_name, [info.node_type, 0.0, 0])
            entry[1] += info.real_time.total_seconds() * 1e6
            entry[2] += 1

    def close_impl(self) -> None:
        del self._request, self._compiled


def _spec(port: Any) -> TensorSpec:
    shape = tuple(dim.get_length() if dim.is_static else None for dim in port.get_partial_shape())
    return TensorSpec(port.get_any_name(), shape, np.dtype(port.get_element_type().to_dtype()))
