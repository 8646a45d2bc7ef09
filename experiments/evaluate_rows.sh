#!/usr/bin/env bash
# Judge each equal-budget row (experiments/cpu_rows.sh) as a user gets it: 1,000 EMA paintings from
# the row's last checkpoint, at 256 px against the 256-px paintings, with memorisation and diversity.
# Usage: bash experiments/evaluate_rows.sh DATA RUN_DIR [RUN_DIR ...]   (writes RUN_DIR/eval-1000.json)
set -euo pipefail
DATA=${1:?data folder}; shift
for run in "$@"; do
  [ -e "$run/eval-1000.json" ] && continue
  monetgan evaluate --run "$run" --real "$DATA" --num 1000 --json "$run/eval-1000.json.tmp" --quiet > "$run/eval-1000.txt"
  mv "$run/eval-1000.json.tmp" "$run/eval-1000.json"
done
