"""Model cards (.json for machines, .md for people) written beside trained checkpoints."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from se_deploy.artifacts import atomic_write_json, atomic_write_text


def write_card(directory: Path, name: str, card: dict[str, Any]) -> tuple[Path, Path]:
    json_path, md_path = directory / f"{name}.json", directory / f"{name}.md"
    atomic_write_json(json_path, card)
    atomic_write_text(md_path, render_card(card))
    return json_path, md_path


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
        "",
    ]
    return "\n".join(lines)
