"""settle_batchnorm / create_random_model: random-init outputs keep a trained network's scale."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from se_deploy.models import create_model, create_random_model, list_models, settle_batchnorm
from tests.conftest import TINY, TINY_SIZE

IMAGES = torch.randn(8, 3, TINY_SIZE, TINY_SIZE, generator=torch.Generator().manual_seed(1))


def logits(model: nn.Module) -> torch.Tensor:
    with torch.no_grad():
        return model(IMAGES)


def test_unsettled_random_init_collapses_and_settling_restores_the_scale() -> None:
    torch.manual_seed(0)
    model = create_model("se_mobilenet", TINY)
    assert logits(model).std() < 1e-12  # the defect: BN running stats 0/1 on a shrinking signal

    settle_batchnorm(model, (2, 3, TINY_SIZE, TINY_SIZE), batches=2, seed=0)

    settled = logits(model)
    assert 0.05 < settled.std() < 10
    assert len(set(settled.argmax(1).tolist())) > 1  # inputs are told apart


@pytest.mark.parametrize("name", list_models())
def test_every_registered_model_has_non_trivial_random_init_logits(name: str) -> None:
    output = logits(create_random_model(name, TINY, TINY_SIZE, seed=0))

    # MobileNetV3's head stacks two Linear layers initialized N(0, 0.01): ~1e-2 is its scale.
    assert output.std() > 5e-3
    assert output.max() - output.min() > 1e-2


def test_settling_is_seeded_leaves_global_rng_and_restores_eval_mode() -> None:
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)

    first = create_random_model("mobilenet_v3_small", TINY, TINY_SIZE, seed=4)
    second = create_random_model("mobilenet_v3_small", TINY, TINY_SIZE, seed=4)
    other = create_random_model("mobilenet_v3_small", TINY, TINY_SIZE, seed=5)

    assert torch.rand(1) == expected_next
    assert torch.equal(logits(first), logits(second))
    assert not torch.equal(logits(first), logits(other))
    norms = [m for m in first.modules() if isinstance(m, nn.BatchNorm2d)]
    assert not first.training and not any(m.training for m in first.modules())
    assert {norm.momentum for norm in norms} == {0.1}  # the training momentum is back
    assert {int(norm.num_batches_tracked) for norm in norms} == {2}


def test_a_model_without_batchnorm_is_returned_in_eval_mode() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()).train()

    assert settle_batchnorm(model, (1, 3, 8, 8)) is model
    assert not model.training


def test_settled_statistics_do_not_depend_on_the_thread_count() -> None:
    """The CI failure this guards: a process whose torch threads were changed exported other
    bytes (1-ulp different folded weights) than a fresh one."""
    before = torch.get_num_threads()
    stats = []
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            model = create_random_model("se_mobilenet", TINY, TINY_SIZE, seed=0)
            stats.append(
                [m.running_var.clone() for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
            )
            assert torch.get_num_threads() == threads  # restored after settling
    finally:
        torch.set_num_threads(before)
    assert all(torch.equal(a, b) for a, b in zip(*stats, strict=True))
