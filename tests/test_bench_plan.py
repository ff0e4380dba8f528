"""The bench plan: pairs and labels, missing artifacts with the commands that make them, file
targets, what an artifact was made from (manifest weights), and the up-front backend check."""

# ruff: noqa: F401, F811  (pytest fixtures imported from tests.bench_support)
from __future__ import annotations

import json
from pathlib import Path

import pytest

from se_deploy.backends import runner_class
from se_deploy.bench import build_plan, parse_pairs
from se_deploy.bench.origin import RANDOM_INIT, artifact_origin
from se_deploy.bench.plan import ExportDirResolver, Role
from se_deploy.bench.run import validate_backends
from se_deploy.core.errors import BackendUnavailableError, SeDeployError
from tests.bench_support import TINY_DATASET, bench_workdir

TRT_MISSING = runner_class("trt").unavailable_reason() is not None


def test_an_se_model_brings_its_baseline_and_a_named_baseline_is_measured_once(
    bench_workdir: Path,
) -> None:
    resolver = ExportDirResolver(bench_workdir / "export")
    plan = build_plan(["ort"], ["se_mobilenet", "mobilenet"], ["fp32"], resolver=resolver)
    (group,) = plan.groups
    assert (group.name, group.se.role, group.base.role) == (
        "se_mobilenet vs mobilenet",
        Role.SE,
        Role.BASE,
    )
    assert group.se.artifact == bench_workdir / "export/se_mobilenet/fp32/model.onnx"
    assert group.se.missing is None and group.base.missing is None
    assert group.se.weights == bench_workdir / "checkpoints/se_mobilenet/se_mobilenet.pt"
    assert group.se.dataset == TINY_DATASET
    assert [row["status"] for row in plan.rows()] == ["ready", "ready"]


def test_a_missing_artifact_names_the_commands_that_make_it(tmp_path: Path) -> None:
    plan = build_plan(
        ["ort", "trt"], ["se_mobilenet"], ["fp32", "int8"], resolver=ExportDirResolver(tmp_path)
    )
    missing = {t.key: t.missing for g in plan.groups for t in g.targets}
    assert len(missing) == 8
    assert missing["se_mobilenet/ort/fp32"] == (
        f"no fp32 artifact for se_mobilenet at {tmp_path}/se_mobilenet/fp32/model.onnx; "
        "run `se-deploy export --model se_mobilenet`"
    )
    assert missing["mobilenet/ort/int8"].endswith(
        "run `se-deploy export --model mobilenet` and "
        "`se-deploy quantize --model mobilenet --precision int8`"
    )
    assert missing["se_mobilenet/trt/int8"].endswith(
        "run `se-deploy build --backend trt --model se_mobilenet --precision int8`"
    )


def test_unknown_names_are_refused_with_the_choices() -> None:
    with pytest.raises(SeDeployError, match=r"unknown backend\(s\) tflite; choose from ort, "):
        build_plan(["tflite"], ["se_mobilenet"])
    with pytest.raises(SeDeployError, match=r"unknown precision\(s\) int4; choose from fp32"):
        build_plan(["ort"], ["se_mobilenet"], ["int4"])
    with pytest.raises(SeDeployError, match="nothing to benchmark"):
        build_plan(["ort"])
    with pytest.raises(SeDeployError, match="needs two paths"):
        parse_pairs(["a.onnx"])
    assert parse_pairs(["a.onnx, b.onnx"]) == [(Path("a.onnx"), Path("b.onnx"))]


def test_file_targets_check_suffix_and_backend(bench_workdir: Path, tmp_path: Path) -> None:
    se = bench_workdir / "export/se_mobilenet/fp32/model.onnx"
    base = bench_workdir / "export/mobilenet/fp32/model.onnx"
    plan = build_plan(
        ["ort", "trt", "torch"], pairs=[(se, base)], artifacts=[tmp_path / "gone.onnx"]
    )
    targets = {(t.label, t.backend): t for g in plan.groups for t in g.targets}
    ort = targets[("se_mobilenet/fp32", "ort")]
    assert (ort.precision, ort.missing, ort.role) == ("fp32", None, Role.SE)
    assert targets[("mobilenet/fp32", "ort")].role == Role.BASE
    assert targets[("se_mobilenet/fp32", "ort")].weights is not None  # its manifest names them
    assert targets[("se_mobilenet/fp32", "trt")].missing.startswith(
        "backend trt runs engines (.engine/.plan/.trt), not 'model.onnx'"
    )
    assert targets[("mobilenet/fp32", "torch")].missing == (
        "the torch backend runs registered models; use --model"
    )
    assert targets[(f"{tmp_path.name}/gone.onnx", "ort")].missing == (
        f"'{tmp_path / 'gone.onnx'}' does not exist"
    )


def write_manifest(folder: Path, weights: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "manifest.json").write_text(json.dumps({"weights": weights}))
    (folder / "model.onnx").write_bytes(b"")
    return folder / "model.onnx"


def test_origin_follows_the_manifest_weights(bench_workdir: Path, tmp_path: Path) -> None:
    trained = artifact_origin(bench_workdir / "export/mobilenet/fp32/model.onnx")
    assert trained.weights == bench_workdir / "checkpoints/mobilenet/mobilenet.pt"
    assert (trained.dataset, trained.note) == (TINY_DATASET, None)
    random_init = write_manifest(tmp_path / "random", {"init": "random", "seed": 0})
    assert artifact_origin(random_init).fields() == {
        "weights": None,
        "dataset": None,
        "note": RANDOM_INIT,
    }
    weights = tmp_path / "w.pt"
    weights.write_bytes(b"old")
    changed = write_manifest(tmp_path / "changed", {"path": str(weights), "sha256": "0" * 64})
    assert (
        artifact_origin(changed).note == f"{weights} changed since the artifact was made; "
        "re-export it"
    )
    gone = write_manifest(tmp_path / "gone", {"path": str(tmp_path / "nope.pt")})
    assert artifact_origin(gone).note == f"its weights {tmp_path / 'nope.pt'} are gone: no accuracy"


@pytest.mark.skipif(not TRT_MISSING, reason="TensorRT is installed here")
def test_backends_are_checked_before_anything_runs() -> None:
    with pytest.raises(BackendUnavailableError, match=r"^trt: tensorrt is not installed"):
        validate_backends(["trt"])
    validate_backends(["trt", "ort"])  # one usable backend: the trt rows fail on their own


def test_two_files_with_one_label_get_the_folders_that_tell_them_apart(tmp_path: Path) -> None:
    plain = tmp_path / "export" / "se_mobilenet" / "fp32" / "model.onnx"
    resized = tmp_path / "resize" / "se_mobilenet" / "fp32" / "model.onnx"
    base = tmp_path / "export" / "mobilenet" / "fp32" / "model.onnx"
    plan = build_plan(["ort"], pairs=[(plain, base), (resized, base)], artifacts=[plain])
    labels = [(group.se.label, group.base.label if group.base else None) for group in plan.groups]
    assert labels == [
        ("export/se_mobilenet/fp32", "mobilenet/fp32"),
        ("resize/se_mobilenet/fp32", "mobilenet/fp32"),
        ("export/se_mobilenet/fp32", None),
    ]
    assert len({group.se.key for group in plan.groups[:2]}) == 2
