"""Whether an artifact can be scored, read off the manifest.json beside it.

Export writes the weights (path, sha256 and the dataset they were trained on, or random init)
into its manifest and quantize/build carry them forward, so bench scores accuracy only where it
means something (trained weights, on the set they were trained on) and compares against the
PyTorch FP32 model of exactly those weights. Random-init artifacts (the 224x224 paper pairs) are
latency-only. Reading the manifest needs no torch.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from se_deploy.core.artifact import MANIFEST_FILE, Manifest, Origin
from se_deploy.core.errors import SeDeployError
from se_deploy.core.files import sha256_file

RANDOM_INIT = "random init: latency only"


def artifact_origin(artifact: Path) -> Origin:
    """The trained weights named in the manifest beside `artifact`, if they are still the same
    file (sha256); otherwise an Origin whose note says why accuracy is not scored."""
    manifest_path = Path(artifact).parent / MANIFEST_FILE
    try:
        manifest = Manifest.read(manifest_path)
    except SeDeployError:
        return Origin(note=f"{manifest_path} is not valid JSON: weights unknown, no accuracy")
    if manifest is None:
        return Origin(note=f"no {MANIFEST_FILE} beside it: weights unknown, no accuracy")
    origin = manifest.origin
    if origin.random_init:
        return replace(origin, note=RANDOM_INIT)
    if origin.note is not None:  # an imported model: weights inside the ONNX file
        return origin
    if origin.weights is None:
        return Origin(note=f"{manifest_path} names no weights: no accuracy")
    if not origin.weights.is_file():
        return Origin(note=f"its weights {origin.weights} are gone: no accuracy")
    if origin.weights_sha256 and sha256_file(origin.weights) != origin.weights_sha256:
        return Origin(note=f"{origin.weights} changed since the artifact was made; re-export it")
    return origin if origin.dataset else weights_origin(origin.weights)


def weights_origin(weights: Path | None) -> Origin:
    """A checkpoint and the dataset it records, read from the checkpoint itself (torch): for the
    torch backend, and for manifests written before export recorded the dataset."""
    if weights is None:
        return Origin(note=RANDOM_INIT)
    from se_deploy.backends.torch import checkpoint_dataset

    try:
        dataset = checkpoint_dataset(weights)
    except ImportError:
        return Origin(
            note="torch is not installed and the manifest records no dataset: no accuracy"
        )
    return Origin(weights, dataset=dataset)
