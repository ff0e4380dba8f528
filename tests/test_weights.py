"""Loading user weights: state_dicts and safetensors load; anything else is a one-line error."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from se_deploy.core.errors import SeDeployError
from se_deploy.models import create_model
from se_deploy.models.checkpoint import load_checkpoint_model
from se_deploy.models.weights import load_weights
from tests.conftest import TINY


@pytest.fixture
def tiny():
    return create_model("se_mobilenet", TINY)


def test_roundtrip_pt_and_safetensors(tmp_path, tiny) -> None:
    torch.save(tiny.state_dict(), tmp_path / "w.pt")
    save_file({k: v.contiguous() for k, v in tiny.state_dict().items()}, tmp_path / "w.safetensors")
    for name in ("w.pt", "w.safetensors"):
        other = create_model("se_mobilenet", TINY)
        load_weights(other, tmp_path / name)
        for key, value in tiny.state_dict().items():
            assert torch.equal(other.state_dict()[key], value)


def test_mismatch_lists_keys(tmp_path, tiny) -> None:
    state = tiny.state_dict()
    state.pop("stem.0.weight")
    state["extra.weight"] = torch.zeros(1)
    state["head.fc.weight"] = torch.zeros(3, 3)
    torch.save(state, tmp_path / "bad.pt")
    with pytest.raises(SeDeployError) as err:
        load_weights(create_model("se_mobilenet", TINY), tmp_path / "bad.pt")
    message = str(err.value)
    assert "missing (1): stem.0.weight" in message
    assert "unexpected (1): extra.weight" in message
    assert "head.fc.weight (3, 3) vs model (10, 256)" in message


class Evil:
    """Any non-tensor object: weights_only loading must refuse to rebuild it."""


def test_refuses_pickled_objects(tmp_path) -> None:
    torch.save({"w": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(SeDeployError, match="pickle with code in it"):
        load_weights(create_model("mobilenet", TINY), tmp_path / "evil.pt")


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("w.bin", b"x", "has suffix '.bin'"),
        ("w.pt", b"not a zip", "cannot be read as a torch file"),
        ("w.safetensors", b"garbage", "not a valid safetensors"),
    ],
)
def test_bad_files(tmp_path, name: str, content: bytes, message: str) -> None:
    (tmp_path / name).write_bytes(content)
    with pytest.raises(SeDeployError, match=message):
        load_weights(create_model("mobilenet", TINY), tmp_path / name)


def test_missing_file(tmp_path) -> None:
    with pytest.raises(SeDeployError, match="does not exist"):
        load_weights(create_model("mobilenet", TINY), tmp_path / "nope.pt")


def test_checkpoint_carries_its_config(tmp_path, tiny) -> None:
    payload = {
        "state_dict": {
            k: v.half() if v.is_floating_point() else v for k, v in tiny.state_dict().items()
        },
        "model": "se_mobilenet",
        "model_config": TINY.to_dict(),
    }
    torch.save(payload, tmp_path / "ckpt.pt")
    model, meta = load_checkpoint_model(tmp_path / "ckpt.pt")
    assert meta["model"] == "se_mobilenet"
    assert model.head.fc.out_features == 10
    with pytest.raises(SeDeployError, match="trained for 'se_mobilenet', not 'mobilenet'"):
        load_checkpoint_model(tmp_path / "ckpt.pt", "mobilenet")


def test_bad_weights_cli_is_one_line(cli_in_process, tmp_path) -> None:
    (tmp_path / "w.pt").write_bytes(b"junk")
    result = cli_in_process(
        "eval",
        "--model",
        "mobilenet",
        "--weights",
        str(tmp_path / "w.pt"),
        "--dataset",
        "synthetic",
    )
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "cannot be read as a torch file" in result.stderr
