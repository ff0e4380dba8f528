"""Table rows for `se-deploy models`: each model's figures, measured on the built module."""

from __future__ import annotations

from typing import Any

from se_deploy.models import create_model, get_spec, list_models
from se_deploy.models.stats import count_macs, count_params


def model_row(name: str, input_size: int = 224, num_classes: int = 1000) -> dict[str, Any]:
    """One model's figures at ImageNet shape, measured on the built module."""
    spec = get_spec(name)
    model = create_model(name, num_classes=num_classes)
    paper = spec.paper
    return {
        "name": name,
        "family": spec.family,
        "baseline": spec.baseline,
        "se_blocks": spec.se_blocks,
        "params_m": round(count_params(model) / 1e6, 4),
        "mflops": round(count_macs(model, input_size) / 1e6, 2),
        "input_size": input_size,
        "num_classes": num_classes,
        "paper_mflops": paper.mflops if paper else None,
        "paper_params_m": paper.params_m if paper else None,
        "paper_top1_err": paper.top1_err if paper else None,
        "paper_source": paper.source if paper else None,
        "reference": spec.reference,
    }


def model_table(input_size: int = 224) -> list[dict[str, Any]]:
    return [model_row(name, input_size) for name in list_models()]
