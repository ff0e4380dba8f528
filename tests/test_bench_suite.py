"""The default suite on tiny parts: it makes its artifacts with the export and quantize pipelines,
reuses them while their inputs are unchanged, skips pairs without checkpoints, scores trained
models only, and checks backends before making anything.

The tiny models are untrained, so their near-uniform logits fail the INT8 fidelity check that
`quantize` applies (as they should), and random-init ones fail even FP16's; the made-artifact
path is exercised with FP16 on the tiny "trained" pair, the same quantize step with another
config. The real INT8 suite runs in the README's command."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from se_deploy.backends import runner_class
from se_deploy.bench.origin import RANDOM_INIT
from se_deploy.bench.plan import Plan
from se_deploy.bench.run import execute_plan
from se_deploy.core.errors import BackendUnavailableError, SeDeployError
from se_deploy.suite.make import SuitePart, build_suite_plan
from tests.bench_support import BENCH_CONFIG, PAIR, TINY_DATASET, export_tiny

TRAINED = SuitePart(
    "t", ("se_mobilenet", "se_shufflenet"), "tiny-zoo", TINY_DATASET, 16, eval_limit=64
)
RANDOM = SuitePart("r", ("se_mobilenet",), None, TINY_DATASET, 16, input_size=32)


@pytest.fixture(scope="module")
def zoo(tmp_path_factory) -> Path:
    """A zoo with trained-style checkpoints of the mobilenet pair only (no shufflenet yet)."""
    root = tmp_path_factory.mktemp("zoo")
    for seed, name in enumerate(PAIR):
        _, weights = export_tiny(name, root / "made", seed)
        (root / "tiny-zoo").mkdir(exist_ok=True)
        shutil.copy(weights, root / "tiny-zoo" / f"{name}.pt")
    return root


@pytest.fixture(scope="module")
def made(zoo: Path, tmp_path_factory) -> tuple[Path, list[str], object]:
    """The suite's artifact root after one planning pass (fp32 and fp16), its progress lines
    and the plan."""
    root = tmp_path_factory.mktemp("suite")
    messages: list[str] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("se_deploy.core.spec.ZOO_DIR", zoo)
        trained = build_suite_plan(
            ["ort"], ["fp32", "fp16"], progress=messages.append, root=root, parts=(TRAINED,)
        )
        random_init = build_suite_plan(
            ["ort"], ["fp32"], progress=messages.append, root=root, parts=(RANDOM,)
        )
    return root, messages, Plan(trained.groups + random_init.groups)


def test_suite_makes_every_artifact_and_skips_pairs_without_checkpoints(made) -> None:
    root, messages, plan = made
    assert messages == [
        "export se_mobilenet@t",
        "export mobilenet@t",
        "quantize se_mobilenet@t",
        "quantize mobilenet@t",
        "export se_mobilenet@r",
        "export mobilenet@r",
    ]
    status = {t.key: (t.missing, t.skipped) for g in plan.groups for t in g.targets}
    made_keys = [
        f"{model}@{part}/ort/{precision}"
        for model in PAIR
        for part, precision in (("t", "fp32"), ("t", "fp16"), ("r", "fp32"))
    ]
    for key in made_keys:
        assert status[key] == (None, None)
        label, _, precision = key.split("/")
        model, part = label.split("@")
        assert (root / part / model / precision / "model.onnx").is_file()
    skipped = status["se_shufflenet@t/ort/fp16"][1]
    assert skipped.startswith("no checkpoint ") and skipped.endswith(
        "tiny-zoo/se_shufflenet.pt yet (`se-deploy train --model se_shufflenet`)"
    )
    assert status["shufflenet@t/ort/fp32"][1].endswith(
        "tiny-zoo/shufflenet.pt yet (`se-deploy train --model shufflenet`)"
    )


def test_trained_targets_name_their_weights_and_random_ones_are_latency_only(made, zoo) -> None:
    _, _, plan = made
    targets = {t.key: t for g in plan.groups for t in g.targets}
    trained = targets["se_mobilenet@t/ort/fp16"]  # quantize carries the weights forward
    assert (trained.weights, trained.dataset) == (zoo / "tiny-zoo/se_mobilenet.pt", TINY_DATASET)
    random_init = targets["se_mobilenet@r/ort/fp32"]
    assert (random_init.weights, random_init.note) == (None, RANDOM_INIT)


def test_made_artifacts_are_reused_until_their_inputs_change(made, zoo: Path) -> None:
    root, _, _ = made
    onnx_path = root / "t/mobilenet/fp32/model.onnx"
    before = onnx_path.stat().st_mtime_ns
    messages: list[str] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("se_deploy.core.spec.ZOO_DIR", zoo)
        build_suite_plan(
            ["ort"], ["fp32", "fp16"], progress=messages.append, root=root, parts=(TRAINED,)
        )
        build_suite_plan(["ort"], ["fp32"], progress=messages.append, root=root, parts=(RANDOM,))
        assert messages == [] and onnx_path.stat().st_mtime_ns == before
        _, other = export_tiny("mobilenet", zoo / "retrained", weights_seed=7)
        shutil.copy(other, zoo / "tiny-zoo" / "mobilenet.pt")
        build_suite_plan(["ort"], ["fp32"], progress=messages.append, root=root, parts=(TRAINED,))
    assert messages == ["export mobilenet@t"]


def test_a_failed_step_is_remembered_until_its_inputs_change(made, monkeypatch) -> None:
    root, _, _ = made

    def refuse(*args: object, **kwargs: object) -> None:
        raise SeDeployError("the int8 model disagrees with its float source")

    monkeypatch.setattr("se_deploy.stages.quantize.quantize_artifact", refuse)
    messages: list[str] = []
    plans = [
        build_suite_plan(["ort"], ["int8"], progress=messages.append, root=root, parts=(RANDOM,))
        for _ in range(2)
    ]
    assert messages == ["quantize se_mobilenet@r", "quantize mobilenet@r"]  # tried once
    first, second = ({t.key: t.missing for g in plan.groups for t in g.targets} for plan in plans)
    assert first["se_mobilenet@r/ort/int8"] == (
        "making the int8 artifact failed: the int8 model disagrees with its float source"
    )
    failed = root / "r/se_mobilenet/int8/failed.json"
    assert second["se_mobilenet@r/ort/int8"] == (
        f"making the int8 artifact failed before with the same inputs (delete {failed} to "
        "retry): the int8 model disagrees with its float source"
    )
    assert not (root / "r/se_mobilenet/int8/model.onnx").exists()


def test_planning_only_makes_nothing(zoo: Path, tmp_path: Path) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("se_deploy.core.spec.ZOO_DIR", zoo)
        plan = build_suite_plan(["ort"], ["int8"], make=False, root=tmp_path, parts=(TRAINED,))
    missing = {t.key: t.missing for g in plan.groups for t in g.targets}
    assert missing["se_mobilenet@t/ort/int8"] == (
        "not made yet; `se-deploy bench` makes it (export)"
    )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(runner_class("trt").unavailable_reason() is None, reason="TensorRT present")
def test_an_unavailable_backend_is_refused_before_anything_is_made(tmp_path: Path) -> None:
    with pytest.raises(BackendUnavailableError, match=r"^trt: tensorrt is not installed"):
        build_suite_plan(["trt"], root=tmp_path, parts=(RANDOM,))
    assert list(tmp_path.iterdir()) == []


def test_suite_run_scores_trained_pairs_and_times_random_ones(made, tmp_path: Path) -> None:
    _, _, plan = made
    config = replace(BENCH_CONFIG, batch_sizes=(1,), profile=False)  # static batch-1 exports
    results = execute_plan(plan, config, tmp_path)
    rows = {row["key"]: row for row in results.targets}
    trained = rows["se_mobilenet@t/ort/fp16"]
    assert trained["status"] == "ok" and trained["accuracy"]["count"] == 64  # the part's limit
    assert trained["accuracy"]["top1_agreement"] >= 0.98  # fp16 against PyTorch fp32
    assert 0 < trained["accuracy"]["max_abs_diff"] < 0.05
    random_init = rows["mobilenet@r/ort/fp32"]
    assert random_init["status"] == "ok" and random_init["note"] == RANDOM_INIT
    assert "accuracy" not in random_init and random_init["latency"][0]["n"] == 5
    assert rows["se_shufflenet@t/ort/fp32"]["status"] == "skipped"
    pairs = {(pair["pair"], pair["precision"]): pair["status"] for pair in results.pairs}
    assert pairs == {
        ("se_mobilenet@t vs mobilenet@t", "fp32"): "ok",
        ("se_mobilenet@t vs mobilenet@t", "fp16"): "ok",
        ("se_shufflenet@t vs shufflenet@t", "fp32"): "skipped",
        ("se_shufflenet@t vs shufflenet@t", "fp16"): "skipped",
        ("se_mobilenet@r vs mobilenet@r", "fp32"): "ok",
    }
