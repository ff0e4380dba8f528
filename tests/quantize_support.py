"""A tiny trained SE model and its baseline in the export layout, shared by the quantize
and build tests. The SE model is trained for a few epochs on the synthetic set so its logits
carry signal (quantization error then shows up as accuracy, not noise)."""

from __future__ import annotations

from pathlib import Path

import pytest

from se_deploy.stages.export import ExportConfig, export_model
from se_deploy.stages.train import TrainConfig, train_model

SIZE = 32
TRAINED = "se_mobilenet"
BASELINE = "mobilenet"


@pytest.fixture(scope="session")
def quant_root(tmp_path_factory) -> Path:
    """<root>/se_mobilenet/fp32 (dynamic batch) and <root>/mobilenet/fp32 (static batch 1),
    both trained briefly on the synthetic set."""
    root = tmp_path_factory.mktemp("quant")
    for name, options in ((TRAINED, {"dynamic_batch": True}), (BASELINE, {})):
        trained = train_model(
            TrainConfig(
                model=name,
                dataset="synthetic",
                input_size=SIZE,
                width=0.25,
                epochs=3,
                batch_size=32,
                lr=0.2,
                warmup_epochs=0,
                threads=1,
            ),
            root / "train",
        )
        export_model(ExportConfig(weights=trained.weights, out=root, verify_samples=4, **options))
    return root


@pytest.fixture(scope="session")
def quantized(quant_root: Path) -> dict[str, Path]:
    """fp16, int8 and int8-sefloat artifacts of the trained SE model, by folder tag; s8s8 (the
    TensorRT target's scheme) named explicitly, as the tests of int8 activations read them."""
    from se_deploy.stages.quantize import QuantConfig, quantize_artifact, resolve_source

    source = resolve_source(None, TRAINED, "fp32", quant_root)
    configs = [
        QuantConfig("fp16"),
        QuantConfig("int8", calib="synthetic", calib_size=256, scheme="s8s8"),
        QuantConfig("int8", calib="synthetic", calib_size=256, scheme="s8s8", se_precision="float"),
    ]
    return {config.tag: quantize_artifact(source, config).onnx_path for config in configs}
