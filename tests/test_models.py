"""Every registered model builds and runs; paper figures; SE knobs change the structure."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from se_deploy.core.errors import SeDeployError
from se_deploy.models import (
    Gate,
    SEConfig,
    Squeeze,
    SqueezeExcite,
    count_se_blocks,
    create_model,
    get_spec,
    list_models,
    se_pairs,
)
from se_deploy.models.stats import count_macs, count_params
from tests.conftest import TINY, TINY_SIZE


@pytest.mark.parametrize("name", list_models())
def test_every_model_runs_tiny(name: str) -> None:
    model = create_model(name, TINY)
    with torch.no_grad():
        out = model(torch.randn(2, 3, TINY_SIZE, TINY_SIZE))
    assert out.shape == (2, 10)
    assert torch.isfinite(out).all()
    assert count_se_blocks(model) == get_spec(name).se_blocks


@pytest.mark.parametrize("name", ["mobilenet", "se_shufflenet", "mobilenet_v3_small"])
def test_in_chans_and_input_size_are_free(name: str) -> None:
    model = create_model(name, TINY, in_chans=1)
    for size in (28, 64):
        assert model(torch.randn(1, 1, size, size)).shape == (1, 10)


def test_every_se_model_names_a_baseline_without_se() -> None:
    pairs = dict(se_pairs())
    assert pairs["se_mobilenet"] == "mobilenet"
    assert pairs["se_shufflenet"] == "shufflenet"
    assert pairs["mobilenet_v3_large"] == "mobilenet_v3_large_no_se"
    assert len(pairs) == 6
    for se_name, base in pairs.items():
        assert get_spec(se_name).se_blocks > 0
        assert get_spec(base).se_blocks == 0


def test_pair_differs_only_by_se() -> None:
    se_model, base = create_model("se_mobilenet", TINY), create_model("mobilenet", TINY)
    se_params = {n for n, _ in se_model.named_parameters() if ".se." not in n}
    assert se_params == {n for n, _ in base.named_parameters()}


# (name, paper MFLOPs, MFLOPs tolerance, paper params M, params tolerance): SENet paper Table 3.
PAPER = [
    ("mobilenet", 569, 0.01, 4.2, 0.05),
    ("se_mobilenet", 572, 0.01, 4.7, 0.05),
    ("shufflenet", 140, None, 1.8, 0.07),
    ("se_shufflenet", 142, None, 2.4, 0.07),
]


@pytest.mark.parametrize(("name", "mflops", "f_tol", "params", "p_tol"), PAPER)
def test_paper_figures(name: str, mflops: float, f_tol: float | None, params: float, p_tol: float):
    model = create_model(name)
    macs = count_macs(model) / 1e6
    if f_tol is None:  # ShuffleNet: 137 (its own paper) to 140 (SENet Table 3)
        assert 137 <= macs <= 142 * 1.02
    else:
        assert abs(macs - mflops) <= f_tol * mflops
    assert abs(count_params(model) / 1e6 - params) <= p_tol * params


def test_se_shufflenet_flops_within_two_percent_of_baseline() -> None:
    base = count_macs(create_model("shufflenet"))
    se = count_macs(create_model("se_shufflenet"))
    assert base < se <= 1.02 * base


def test_se_options_change_structure() -> None:
    block = SqueezeExcite(64, SEConfig(reduction=4, squeeze=Squeeze.MAX, gate=Gate.HARD_SIGMOID))
    assert isinstance(block.pool, nn.AdaptiveMaxPool2d)
    assert isinstance(block.gate, nn.Hardsigmoid)
    assert block.reduce.out_channels == 16
    for gate, module in [("sigmoid", nn.Sigmoid), ("tanh", nn.Tanh), ("relu", nn.ReLU)]:
        assert isinstance(SqueezeExcite(32, SEConfig(gate=gate)).gate, module)
    assert isinstance(SqueezeExcite(32, SEConfig()).pool, nn.AdaptiveAvgPool2d)
    assert SEConfig(reduction=4, divisor=8).reduced_channels(72) == 24  # v3: 72/4=18 -> 24


def test_se_config_through_create_model() -> None:
    model = create_model("se_mobilenet", TINY, se=SEConfig(reduction=2, gate="tanh"))
    blocks = [m for m in model.modules() if isinstance(m, SqueezeExcite)]
    assert all(isinstance(b.gate, nn.Tanh) for b in blocks)
    assert blocks[0].reduce.out_channels == blocks[0].channels // 2


def test_se_block_math() -> None:
    block = SqueezeExcite(8, SEConfig(reduction=2)).eval()
    x = torch.randn(1, 8, 5, 5)
    gate = torch.sigmoid(block.expand(torch.relu(block.reduce(x.mean((2, 3), keepdim=True)))))
    torch.testing.assert_close(block(x), x * gate)


def test_bad_inputs_raise_clear_errors() -> None:
    with pytest.raises(SeDeployError, match=r"unknown model 'resnet'.*se_mobilenet"):
        create_model("resnet")
    with pytest.raises(SeDeployError, match=r"has no SE blocks.*se_mobilenet"):
        create_model("mobilenet", se=SEConfig())
    with pytest.raises(SeDeployError, match="width"):
        create_model("mobilenet", width=0)
    with pytest.raises(ValueError, match="reduction"):
        SEConfig(reduction=0)


def test_models_command_json(cli) -> None:
    result = cli("models", "--json")
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert set(rows) == set(list_models())
    assert abs(rows["mobilenet"]["mflops"] - 569) <= 5.69
    assert abs(rows["se_mobilenet"]["params_m"] - 4.7) <= 0.235
    assert rows["se_shufflenet"]["baseline"] == "shufflenet"
    assert rows["se_mobilenet"]["se_blocks"] == 13


def test_unknown_command_option_is_one_line(cli_in_process) -> None:
    result = cli_in_process("eval", "--model", "nope")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert "unknown model 'nope'" in result.stderr
    assert "Traceback" not in result.stderr
