"""Model cards (.json for machines, .md for people) written beside trained checkpoints."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from se_deploy.core.files import atomic_write_json, atomic_write_text
from se_deploy.core.spec import se_pairs


def write_card(directory: Path, name: str, card: dict[str, Any]) -> tuple[Path, Path]:
    json_path, md_path = directory / f"{name}.json", directory / f"{name}.md"
    atomic_write_json(json_path, card)
    atomic_write_text(md_path, render_card(card))
    return json_path, md_path


SEED_DIR = re.compile(r"seed\d+")  # a zoo's extra seeds: cards in <zoo>/seedN/ (weights stay out)


def link_pair_cards(directory: Path, name: str) -> list[Path]:
    """Record the SE-vs-baseline top-1 difference in the SE model's card once both pair cards
    exist, whichever of the two finished training last; returns the cards rewritten. A run in a
    seedN/ folder also refreshes the zoo's own card, whose delta gathers every seed's."""
    written = []
    for se_name, base_name in se_pairs():
        if name not in (se_name, base_name):
            continue
        for folder in _zoo_folders(directory):
            se_path, base_path = folder / f"{se_name}.json", folder / f"{base_name}.json"
            if not (se_path.is_file() and base_path.is_file()):
                continue
            se_card = json.loads(se_path.read_text())
            se_card["vs_baseline"] = pair_delta(se_card, json.loads(base_path.read_text()))
            spread = seed_spread(folder, se_name, base_name)
            if len(spread) > 1:
                se_card["vs_baseline"]["per_seed_top1_delta_pt"] = spread
            written.extend(write_card(folder, se_name, se_card))
    return written


def _zoo_folders(directory: Path) -> list[Path]:
    if SEED_DIR.fullmatch(directory.name):
        return [directory, directory.parent]
    return [directory]


def seed_spread(zoo: Path, se_name: str, base_name: str) -> dict[str, float]:
    """SE-minus-baseline top-1 (points) per seed, from the zoo's cards and its seedN/ folders;
    only seeds trained with one recipe (seed aside) count, so the spread is the seed's alone."""
    main = json.loads((zoo / f"{se_name}.json").read_text())
    spread = {}
    for folder in [zoo, *sorted(p for p in zoo.iterdir() if SEED_DIR.fullmatch(p.name))]:
        se_path, base_path = folder / f"{se_name}.json", folder / f"{base_name}.json"
        if not (se_path.is_file() and base_path.is_file()):
            continue
        se_card, base_card = (json.loads(p.read_text()) for p in (se_path, base_path))
        if _recipe(se_card, "seed") == _recipe(main, "seed") == _recipe(base_card, "seed"):
            seed = str(se_card["train_config"]["seed"])
            spread[seed] = round(100 * (se_card["test"]["top1"] - base_card["test"]["top1"]), 2)
    return spread


def pair_delta(se_card: dict[str, Any], base_card: dict[str, Any]) -> dict[str, Any]:
    """Top-1/top-5 difference in points of one SE/baseline run pair (one seed)."""
    se_test, base_test = se_card["test"], base_card["test"]
    seeds = sorted({se_card["train_config"]["seed"], base_card["train_config"]["seed"]})
    return {
        "baseline": base_card["model"],
        "top1": se_test["top1"],
        "baseline_top1": base_test["top1"],
        "baseline_top5": base_test["top5"],
        "top1_delta_pt": round(100 * (se_test["top1"] - base_test["top1"]), 2),
        "top5_delta_pt": round(100 * (se_test["top5"] - base_test["top5"]), 2),
        "seeds": seeds,
        "same_recipe": _recipe(se_card) == _recipe(base_card),
    }


# Differ without changing what is trained (device: same recipe, other float rounding).
_NOT_PAIR_RECIPE = frozenset({"model", "threads", "data_dir", "device"})


def _recipe(card: dict[str, Any], *also_ignore: str) -> dict[str, Any]:
    ignored = _NOT_PAIR_RECIPE.union(also_ignore)
    return {k: v for k, v in card["train_config"].items() if k not in ignored}


def render_card(card: dict[str, Any]) -> str:
    test, train, model_cfg = card["test"], card["train_config"], card["model_config"]
    pre = card["preprocess"]
    lines = [
        f"# {card['model']} ({card['dataset']})",
        "",
        f"{card['architecture']} ({card['reference']}); baseline: {card['baseline'] or 'none'}; "
        f"SE blocks: {card['se_blocks']}.",
        "",
        "| test top-1 | test top-5 | params | MFLOPs @ input | epochs | seed | training time |",
        "|---|---|---|---|---|---|---|",
        f"| {test['top1']:.4f} | {test['top5']:.4f} | {card['params_m']:.3f} M | "
        f"{card['mflops']:.2f} | {train['epochs']} | {train['seed']} | "
        f"{card['train_seconds'] / 60:.1f} min |",
        "",
        f"- Model config: width {model_cfg['width']}, {model_cfg['num_classes']} classes, "
        f"{model_cfg['in_chans']} input channel(s), small_input={model_cfg['small_input']}, "
        f"dropout {model_cfg['dropout']}.",
        f"- Data: {card['dataset']} train split, evaluated on its test split "
        f"({test['count']} images).",
        f"- Preprocessing: {pre['input_size']}x{pre['input_size']} ({pre['resize']} resize), "
        f"x/255, mean {pre['mean']}, std {pre['std']}.",
        f"- Recipe: SGD Nesterov momentum {train['momentum']}, peak lr {train['lr']}, "
        f"{train['warmup_epochs']} warm-up epoch(s) then cosine, weight decay "
        f"{train['weight_decay']} (conv/linear weights), batch {train['batch_size']}, "
        "random crop (pad 4) + horizontal flip.",
        f"- Checkpoint: `{card['weights']}` (fp16 state_dict), sha256 `{card['sha256']}`.",
        f"- Test figures are from `se-deploy eval` on the stored fp16 weights; machine: "
        f"{card['machine']}.",
        f"- Reproduce: `{card['reproduce']}`.",
        *_pair_lines(card.get("vs_baseline")),
        "",
    ]
    return "\n".join(lines)


def _pair_lines(delta: dict[str, Any] | None) -> list[str]:
    if not delta:
        return []
    recipe = "same recipe" if delta["same_recipe"] else "DIFFERENT recipes"
    line = (
        f"- SE vs baseline `{delta['baseline']}` ({recipe}, seed "
        f"{'/'.join(map(str, delta['seeds']))}): top-1 "
        f"{delta['top1_delta_pt']:+.2f} pt ({delta['top1']:.4f} vs "
        f"{delta['baseline_top1']:.4f}), top-5 {delta['top5_delta_pt']:+.2f} pt."
    )
    spread = delta.get("per_seed_top1_delta_pt")
    if not spread:
        return [line + " One seed was trained, so no seed spread is known."]
    values = list(spread.values())
    per_seed = ", ".join(f"seed {seed} {value:+.2f}" for seed, value in spread.items())
    mean, width = sum(values) / len(values), max(values) - min(values)
    return [
        line,
        f"- Over {len(values)} seeds (cards in seedN/): top-1 delta {per_seed} pt; "
        f"mean {mean:+.2f}, range {width:.2f} pt.",
    ]
