"""Runner contract: every runner that can run here loads, validates, runs, prepares and closes
the same way, and agrees numerically with the others on the same weights."""

# ruff: noqa: F401, F811  (pytest fixtures imported from tests.bench_support)

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from se_deploy.backends import (
    GraphOptimization,
    Runner,
    RunnerOptions,
    backend_names,
    runner_class,
    unavailable_reason,
)
from se_deploy.backends.torch import TorchModel
from se_deploy.core.errors import BackendUnavailableError, SeDeployError
from tests.bench_support import tiny_export, tiny_onnx
from tests.conftest import TINY_SIZE

CPU_BACKENDS = [
    "ort",
    "torch",
    pytest.param(
        "openvino",
        marks=pytest.mark.skipif(
            importlib.util.find_spec("openvino") is None,
            reason="openvino is not installed (pip install se-deploy[openvino])",
        ),
    ),
]


def artifact_for(backend: str, tiny_export: Path) -> object:
    folder = tiny_export / "se_mobilenet" / "fp32"
    if backend == "torch":
        return TorchModel("se_mobilenet", folder / "se_mobilenet.pt")
    return folder / "model.onnx"


def batch(n: int = 2, dtype: type = np.float32) -> np.ndarray:
    return np.random.default_rng(0).standard_normal((n, 3, TINY_SIZE, TINY_SIZE)).astype(dtype)


@pytest.fixture(params=CPU_BACKENDS)
def runner(request, tiny_export: Path) -> Runner:
    with runner_class(request.param)().load(
        artifact_for(request.param, tiny_export), RunnerOptions(threads=1)
    ) as loaded:
        yield loaded


def test_registry_lists_every_backend_and_rejects_unknown_names() -> None:
    assert set(backend_names()) == {"ort", "ort-trt", "torch", "trt", "openvino"}
    with pytest.raises(SeDeployError, match=r"unknown backend 'tvm'.*ort"):
        runner_class("tvm")


def test_cpu_runners_are_available_here() -> None:
    assert unavailable_reason("ort") is None
    assert unavailable_reason("torch") is None


def test_runner_reports_specs_and_runs(runner: Runner) -> None:
    (spec,) = runner.inputs
    assert spec.shape == (None, 3, TINY_SIZE, TINY_SIZE)
    assert spec.dtype == np.float32
    logits = runner.run(batch(3))
    assert logits.shape == (3, 10) and logits.dtype == np.float32
    outputs = runner.infer({spec.name: batch(3)})
    assert set(outputs) == {runner.outputs[0].name}
    np.testing.assert_array_equal(outputs[runner.outputs[0].name], logits)


def test_runner_rejects_bad_feeds_naming_what_it_expects(runner: Runner) -> None:
    with pytest.raises(SeDeployError, match="float64; model expects float32"):
        runner.run(batch(dtype=np.float64))
    with pytest.raises(SeDeployError, match=r"shape \(2, 1, 32, 32\); model expects"):
        runner.run(batch()[:, :1])
    with pytest.raises(SeDeployError, match=r"feed has inputs \['x'\]; model expects input\["):
        runner.infer({"x": batch()})


def test_prepared_call_runs_without_transfers_on_cpu(runner: Runner) -> None:
    prepared = runner.prepare(batch(4))
    prepared.run()
    assert dict(prepared.transfers) == {}


def test_closed_runner_refuses_to_run_and_closes_twice(runner: Runner) -> None:
    runner.close()
    runner.close()
    with pytest.raises(SeDeployError, match="not loaded"):
        runner.run(batch())


@pytest.mark.parametrize("backend", ["openvino", "torch"])
def test_runners_agree_with_ort_on_the_same_weights(backend: str, tiny_export: Path) -> None:
    if unavailable_reason(backend):
        pytest.skip(unavailable_reason(backend))
    images = batch(4)
    with runner_class("ort")().load(artifact_for("ort", tiny_export)) as ort_runner:
        expected = ort_runner.run(images)
    with runner_class(backend)().load(artifact_for(backend, tiny_export)) as other:
        np.testing.assert_allclose(other.run(images), expected, rtol=1e-3, atol=1e-4)


def test_load_errors_name_the_file_and_the_fix(tmp_path: Path) -> None:
    with pytest.raises(SeDeployError, match=r"does not exist; pass an existing \.onnx"):
        runner_class("ort")().load(tmp_path / "missing.onnx")
    text = tmp_path / "model.txt"
    text.write_text("x")
    with pytest.raises(SeDeployError, match=r"suffix '\.txt'; expected \.onnx"):
        runner_class("ort")().load(text)
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a protobuf")
    with pytest.raises(SeDeployError, match="onnxruntime cannot load"):
        runner_class("ort")().load(broken)


def test_options_a_backend_ignores_are_refused(tiny_onnx: Path) -> None:
    with pytest.raises(SeDeployError, match="'ort' does not support cuda_graphs"):
        runner_class("ort")().load(tiny_onnx, RunnerOptions(cuda_graphs=True))
    with pytest.raises(SeDeployError, match="cuda_graphs and profile exclude each other"):
        RunnerOptions(cuda_graphs=True, profile=True)
    with pytest.raises(SeDeployError, match="thread counts must be >= 0"):
        RunnerOptions(threads=-1)


def test_device_the_backend_lacks_is_reported_not_raised() -> None:
    reason = unavailable_reason("openvino", RunnerOptions(device="cuda"))
    assert reason == "backend 'openvino' runs on cpu, not cuda"
    with pytest.raises(BackendUnavailableError, match="runs on cpu, not cuda"):
        runner_class("openvino")().load("x.onnx", RunnerOptions(device="cuda"))


def test_ort_saves_the_graph_it_runs_and_profiles_nodes(tiny_onnx: Path, tmp_path: Path) -> None:
    saved = tmp_path / "opt" / "optimized.onnx"
    options = RunnerOptions(
        threads=1,
        graph_optimization=GraphOptimization.BASIC,
        optimized_model_path=saved,
        profile=True,
        profile_dir=tmp_path / "trace",
    )
    with runner_class("ort")().load(tiny_onnx, options) as runner:
        for _ in range(3):
            runner.run(batch(1))
        layers = runner.collect_profile()
    assert saved.is_file()
    assert list((tmp_path / "trace").glob("model_*.json"))
    by_name = {layer.name: layer for layer in layers}
    mul = by_name["/blocks/blocks.0/se/Mul"]
    assert mul.op_type == "Mul" and mul.calls == 3 and mul.total_us > 0


def test_profile_needs_profile_option(tiny_onnx: Path) -> None:
    with (
        runner_class("ort")().load(tiny_onnx) as runner,
        pytest.raises(SeDeployError, match="loaded without profile=True"),
    ):
        runner.collect_profile()


def test_torch_runner_restores_the_thread_count(tiny_export: Path) -> None:
    import torch

    before = torch.get_num_threads()
    target = 1 if before != 1 else 2
    with runner_class("torch")().load(
        artifact_for("torch", tiny_export), RunnerOptions(threads=target)
    ):
        assert torch.get_num_threads() == target
    assert torch.get_num_threads() == before


def test_torch_runner_refuses_a_file_and_needs_an_input_size() -> None:
    with pytest.raises(SeDeployError, match="loads a registered model"):
        runner_class("torch")().load(Path("model.onnx"))
    with pytest.raises(SeDeployError, match="pass --input-size"):
        runner_class("torch")().load(TorchModel("mobilenet"))
