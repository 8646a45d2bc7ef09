#!/usr/bin/env bash
# Evaluate one checkpoint folder the way docs/experiments.md's rows are evaluated: paint 1,000
# images (EMA weights when the run kept them), then `monetgan evaluate --fake` against the paintings.
#
# Usage: bash experiments/evaluate_checkpoint.sh RUN/checkpoints/step-N OUT_DIR    (env: MONETGAN_DATA, NUM)
set -euo pipefail
CKPT=$1; OUT=$2
DATA=${MONETGAN_DATA:-../shared/data/monet_jpg}
NUM=${NUM:-1000}
mkdir -p "$OUT"
set -x
monetgan paint --checkpoint "$CKPT" --num "$NUM" --out "$OUT/fakes" --device cpu
monetgan evaluate --fake "$OUT/fakes" --real "$DATA" --num "$NUM" --json "$OUT/eval.json" --quiet > "$OUT/eval.txt"
{ set +x; } 2>/dev/null
cat "$OUT/eval.txt"
