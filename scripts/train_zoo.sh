#!/usr/bin/env bash
# Reproduce the committed Fashion-MNIST zoo checkpoints and model cards in models/fashion-mnist/.
# Usage: scripts/train_zoo.sh [MODEL ...]   (default: both pairs). One recipe for SE and baseline.
# SEED (default 0): seed 0 is the zoo's checkpoint; another seed writes to models/fashion-mnist/
#   seedN/, whose cards give the zoo's SE cards their seed spread (its weights are not committed).
# DEVICE (default cpu; the committed zoo was trained with cuda, ~6 min per model on one GPU).
# Extra options (e.g. --resume, --threads 1) come from $TRAIN_ARGS.
set -euo pipefail
cd "$(dirname "$0")/.."
models=("$@")
[ ${#models[@]} -gt 0 ] || models=(se_mobilenet mobilenet se_shufflenet shufflenet)
seed=${SEED:-0}
out=models/fashion-mnist
[ "$seed" = 0 ] || out=$out/seed$seed
for model in "${models[@]}"; do
  # shellcheck disable=SC2086
  se-deploy train --model "$model" --dataset fashion-mnist --input-size 28 --width 1.0 \
    --small-input --epochs 35 --batch-size 256 --lr 0.1 --weight-decay 5e-4 --seed "$seed" \
    --device "${DEVICE:-cpu}" --out "$out" ${TRAIN_ARGS:-}
done
