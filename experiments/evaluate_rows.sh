#!/usr/bin/env bash
# Evaluate the generators that experiments/gpu_session.sh packed (one NAME.tar per run):
# paint 1,000 images from each with `monetgan paint --weights`, then `monetgan evaluate --fake`
# against the 300 paintings. Runs on a CPU; the real-image features are cached after the first row.
#
# Usage: bash experiments/evaluate_rows.sh TAR_DIR [NAME ...]     (env: MONETGAN_DATA, NUM)
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=$1; shift
DATA=${MONETGAN_DATA:-../shared/data/monet_jpg}
NUM=${NUM:-1000}
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  for t in "$DIR"/*.tar; do names+=("$(basename "$t" .tar)"); done
fi
for name in "${names[@]}"; do
  [ -f "$DIR/$name/eval.json" ] && { echo "$name: done"; continue; }
  tar -C "$DIR" -xf "$DIR/$name.tar"
  set -x
  monetgan paint --weights "$DIR/$name/$name.safetensors" --num "$NUM" --out "$DIR/$name/fakes" --device cpu
  monetgan evaluate --fake "$DIR/$name/fakes" --real "$DATA" --num "$NUM" --json "$DIR/$name/eval.json" --quiet \
    > "$DIR/$name/eval.txt"
  { set +x; } 2>/dev/null
  cat "$DIR/$name/eval.txt"
done
