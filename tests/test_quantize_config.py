"""QuantConfig and BuildConfig reject bad or ignored options up front, in one line each."""

from __future__ import annotations

import pytest

from se_deploy.core.errors import SeDeployError
from se_deploy.stages.compile import BuildConfig, EnginePrecision, OrtProvider
from se_deploy.stages.quantize import CalibMethod, Precision, QuantConfig, SePrecision


def test_strings_become_enums_and_tags_name_the_folder() -> None:
    config = QuantConfig("int8", calib="synthetic", calib_method="entropy", se_precision="float")
    assert config.precision is Precision.INT8 and config.calib_method is CalibMethod.ENTROPY
    assert config.se_precision is SePrecision.FLOAT and config.tag == "int8-sefloat"
    assert QuantConfig("fp16").tag == "fp16"
    assert QuantConfig("int8", calib="synthetic").to_dict()["format"] == "QDQ"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"precision": "int9"}, r"--precision 'int9' \(choose fp16\|int8\)"),
        ({"precision": "int8"}, "int8 needs calibration data: pass --calib"),
        (
            {"precision": "int8", "calib": "synthetic", "calib_method": "mse"},
            r"--calib-method 'mse' \(choose minmax\|entropy\|percentile\)",
        ),
        (
            {"precision": "int8", "calib": "synthetic", "percentile": 99.9},
            "--percentile applies to --calib-method percentile, not minmax",
        ),
        (
            {"precision": "int8", "calib": "synthetic", "scheme": "u8u8", "reduce_range": True},
            "u8u8 cannot saturate: drop --reduce-range",
        ),
        ({"precision": "int8", "calib": "synthetic", "calib_size": 0}, "--calib-size 0"),
        (
            {"precision": "int8", "calib": "synthetic", "keep_io_types": False},
            "--no-keep-io-types applies to fp16 only",
        ),
        (
            {"precision": "fp16", "calib": "synthetic", "se_precision": "float"},
            "--calib, --se-precision apply to int8 only; drop them for fp16",
        ),
        ({"precision": "fp16", "verify_size": 0}, "--verify-size 0"),
    ],
)
def test_bad_quantize_options_fail_in_one_line(options: dict, message: str) -> None:
    with pytest.raises(SeDeployError, match=message) as caught:
        QuantConfig(**options)
    assert "\n" not in str(caught.value)


def test_percentile_default_is_ort_s() -> None:
    config = QuantConfig("int8", calib="synthetic", calib_method="percentile")
    assert config.to_dict()["percentile"] == 99.999
    assert QuantConfig("int8", calib="synthetic").to_dict()["percentile"] is None


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"backend": "onnx"}, r"--backend 'onnx' \(choose ort\|trt\)"),
        ({"backend": "ort", "max_batch": 4}, "--max-batch: not for --backend ort"),
        ({"backend": "trt", "provider": "cuda"}, "--provider: not for --backend trt"),
        ({"backend": "trt", "min_batch": 4, "opt_batch": 2}, r"batch profile 4/2/32"),
        (
            {"backend": "trt", "calib": "synthetic"},
            "--calib calibrate --engine-precision int8 only",
        ),
        ({"backend": "trt", "workspace_mib": 0}, "--workspace-mib 0"),
        ({"backend": "ort", "threads": -1}, "--threads/--inter-threads must be >= 0"),
        ({"backend": "ort", "graph_opt": "max"}, r"--graph-opt 'max'"),
    ],
)
def test_bad_build_options_fail_in_one_line(options: dict, message: str) -> None:
    with pytest.raises(SeDeployError, match=message) as caught:
        BuildConfig(**options)
    assert "\n" not in str(caught.value)


def test_build_portability_follows_provider_and_level() -> None:
    assert BuildConfig("ort", graph_opt="extended").portable
    assert not BuildConfig("ort").portable  # the default, level all: this ORT and CPU only
    assert not BuildConfig("ort", provider=OrtProvider.CUDA).portable
    assert BuildConfig("trt", engine_precision="int8", calib="synthetic").engine_precision is (
        EnginePrecision.INT8
    )


def test_reduce_range_is_on_by_default_except_for_u8u8() -> None:
    assert QuantConfig("int8", calib="synthetic").to_dict()["reduce_range"] is True
    assert QuantConfig("int8", calib="synthetic", scheme="u8u8").weight_reduce_range is False
    explicit = QuantConfig("int8", calib="synthetic", reduce_range=False)
    assert explicit.to_dict()["reduce_range"] is False


def test_the_scheme_follows_the_target_and_the_manifest_says_which() -> None:
    ort_cpu = QuantConfig("int8", calib="synthetic").to_dict()
    assert (ort_cpu["target"], ort_cpu["scheme"], ort_cpu["reduce_range"]) == (
        "ort-cpu",
        "u8s8",
        True,
    )
    assert ort_cpu["scheme_from"] == "--target ort-cpu default"
    trt = QuantConfig("int8", calib="synthetic", target="tensorrt").to_dict()
    assert (trt["scheme"], trt["reduce_range"]) == ("s8s8", False)
    explicit = QuantConfig("int8", calib="synthetic", scheme="s8s8").to_dict()
    assert explicit["scheme"] == "s8s8" and explicit["scheme_from"] == "--scheme"
    with pytest.raises(SeDeployError, match="TensorRT takes s8s8 only"):
        QuantConfig("int8", calib="synthetic", target="tensorrt", scheme="u8s8")
    with pytest.raises(SeDeployError, match="--target apply to int8 only"):
        QuantConfig("fp16", target="tensorrt")
