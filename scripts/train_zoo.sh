#!/usr/bin/env bash
# Reproduce the committed Fashion-MNIST zoo checkpoints and model cards in models/fashion-mnist/.
# Usage: scripts/train_zoo.sh [MODEL ...]   (default: both pairs). One recipe for SE and baseline.
# Extra options (e.g. --resume, --threads 1) come from $TRAIN_ARGS.
set -euo pipefail
cd "$(dirname "$0")/.."
models=("$@")
[ ${#models[@]} -gt 0 ] || models=(se_mobilenet mobilenet se_shufflenet shufflenet)
for model in "${models[@]}"; do
  # shellcheck disable=SC2086
  se-deploy train --model "$model" --dataset fashion-mnist --input-size 28 --width 0.5 \
    --small-input --epochs "${EPOCHS:-10}" --batch-size 128 --lr 0.1 --weight-decay 5e-4 \
    --seed "${SEED:-0}" --out models/fashion-mnist ${TRAIN_ARGS:-}
done
