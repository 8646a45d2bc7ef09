#!/usr/bin/env bash
# One GPU session, prepared to run unattended inside a short lease (an H200 here; any CUDA GPU works):
#   1. the training/paint speed benchmark on a quiet GPU (issue 5, docs/performance.md);
#   2. the recipe table's runs at 64 px (issue 4, docs/experiments.md) and the bundled generator's
#      128-px run (preset monet-128), all at once on the one GPU, each under its own wall-clock limit;
#   3. each run packed as <name>.tar: its generator (fp16 safetensors + card, via monetgan.painting.bundled),
#      config, log and time-lapse GIF. Evaluation happens afterwards, anywhere, from these weights.
#
# Usage: bash experiments/gpu_session.sh           (env: MONETGAN_DATA, RESULTS, ROW_MINUTES,
#        BUNDLE_MINUTES, BENCH_ARGS, EXTRA_SET to shrink everything for a dry run on a CPU;
#        WITH_ROWS=0 skips the table's rows, so monet-128 trains alone on the GPU: the next bundled
#        generator, e.g. WITH_ROWS=0 BUNDLE_MINUTES=9)
# Every command is printed before it runs, so the log is the exact record of what was run.
set -uo pipefail
cd "$(dirname "$0")/.."
DATA=${MONETGAN_DATA:-../shared/data/monet_jpg}
RES=${RESULTS:-/tmp/monetgan-gpu}
ROW_MINUTES=${ROW_MINUTES:-3.5}
BUNDLE_MINUTES=${BUNDLE_MINUTES:-4.5}
BENCH_ARGS=${BENCH_ARGS:---device cuda --iters 20 --reps 3}
EXTRA_SET=${EXTRA_SET:-}
WITH_ROWS=${WITH_ROWS:-1}
export PYTHONPATH="$PWD/src:$PWD:${PYTHONPATH:-}" PYTHONUNBUFFERED=1 OMP_NUM_THREADS=2
mkdir -p "$RES/runs" "$RES/out"
started=$(date +%s)
stamp() { echo "[$(( $(date +%s) - started )) s] $*"; }
# COPY_TO (e.g. a lease's output folder) gets the files named in COPY_NAMES as soon as they exist,
# so a session cut short still returns what was finished.
early_copy() {
  if [ -n "${COPY_TO:-}" ] && [[ " ${COPY_NAMES:-} " == *" $1 "* ]]; then cp "$RES/out/$1" "$COPY_TO/"; fi
}


stamp "gpu: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo none)"
stamp "torch $(python3 -c 'import torch; print(torch.__version__, torch.cuda.is_available())')"

stamp "benchmark: python3 -m benchmarks.train_speed $BENCH_ARGS --json $RES/out/bench.json"
timeout 150 python3 -m benchmarks.train_speed $BENCH_ARGS --json "$RES/out/bench.json" 2>&1 | tee "$RES/out/bench.txt"
early_copy bench.json; early_copy bench.txt

# name | preset | overrides (beyond the shared ones below)
ROWS=(
  "wgan|wgan-64|ema_decay=0"
  "gan|gan-64|ema_decay=0"
  "wgan-gp|wgan-gp-64|"
  "wgan-gp-diffaugment|wgan-gp-64|ema_decay=0 diffaugment=color,translation,cutout"
  "wgan-gp-lazy4|wgan-gp-64|ema_decay=0 gp_every=4"
  "wgan-gp-resnet|wgan-gp-64|ema_decay=0 architecture=resnet"
  "wgan-gp-all|wgan-gp-64|diffaugment=color,translation,cutout gp_every=4 architecture=resnet"
  # bf16 (the GPU default) vs fp32 at an equal step count, and a second seed for the noise between runs
  "steps800-bf16|wgan-gp-64|ema_decay=0 precision=bf16 steps=800"
  "steps800-bf16-seed1|wgan-gp-64|ema_decay=0 precision=bf16 steps=800 seed=1"
  "steps800-fp32|wgan-gp-64|ema_decay=0 precision=fp32 steps=800"
)
SHARED="steps=1000000 log_every=10 sample_every=100 checkpoint_every=2000 keep_checkpoints=1 num_frame_samples=16"
[ "$WITH_ROWS" = 1 ] || ROWS=()
for row in "${ROWS[@]}"; do
  IFS='|' read -r name preset extra <<<"$row"
  cmd=(python3 -m monetgan train --data "$DATA" --run "$RES/runs/$name" --preset "$preset" --quiet
       --set $SHARED time_limit_minutes=$ROW_MINUTES $extra $EXTRA_SET)
  stamp "${cmd[*]}"
  "${cmd[@]}" >"$RES/runs/$name.txt" 2>&1 &
done
cmd=(python3 -m monetgan train --data "$DATA" --run "$RES/runs/monet-128" --preset monet-128 --quiet
     --set time_limit_minutes=$BUNDLE_MINUTES $EXTRA_SET)
stamp "${cmd[*]}"
"${cmd[@]}" >"$RES/runs/monet-128.txt" 2>&1 &
wait
stamp "training done"

pack() {  # pack NAME [bundle flags...]: generator + card, config, log, time-lapse -> $RES/out/NAME.tar
  local name=$1 run=$RES/runs/$1; shift
  local ckpt; ckpt=$(ls -d "$run"/checkpoints/step-* 2>/dev/null | tail -1)
  [ -n "$ckpt" ] || { stamp "$name: no checkpoint"; tail -3 "$RES/runs/$name.txt"; return; }
  mkdir -p "$RES/pack/$name"
  python3 -m monetgan.painting.bundled --checkpoint "$ckpt" --out "$RES/pack/$name" --name "$name" "$@" >/dev/null
  # at most 30 evenly spaced frames (first and last kept), so a time-lapse GIF stays a few MB
  python3 - "$run/frames" <<'PY'
import sys
from pathlib import Path
frames = sorted(Path(sys.argv[1]).glob("step-*.png"))
keep = {frames[round(i * (len(frames) - 1) / 29)] for i in range(30)} if len(frames) > 30 else set(frames)
for f in frames:
    if f not in keep:
        f.unlink()
PY
  python3 -m monetgan timelapse "$run" --out "$RES/pack/$name/timelapse.gif" --fps 6 >/dev/null
  cp "$run/config.json" "$run/log.jsonl" "$RES/runs/$name.txt" "$RES/pack/$name/"
  tar -C "$RES/pack" -cf "$RES/out/$name.tar" "$name"
  stamp "$name: $(basename "$ckpt"), $(du -h "$RES/out/$name.tar" | cut -f1)"
  early_copy "$name.tar"
}
pack monet-128 --half
for row in "${ROWS[@]}"; do
  name=${row%%|*}
  [ "$name" = wgan-gp-all ] || pack "$name" --no-ema --half
done
# The EMA twin of the plain wgan-gp row measures what the EMA alone buys.
[ "$WITH_ROWS" = 1 ] && mkdir -p "$RES/pack/wgan-gp-ema" && python3 -m monetgan.painting.bundled --checkpoint "$(ls -d "$RES"/runs/wgan-gp/checkpoints/step-* | tail -1)" \
  --out "$RES/pack/wgan-gp-ema" --name wgan-gp-ema --ema --half >/dev/null \
  && tar -C "$RES/pack" -cf "$RES/out/wgan-gp-ema.tar" wgan-gp-ema && early_copy wgan-gp-ema.tar
# wgan-gp-all is evaluated with its EMA weights, as the recipe uses them.
[ "$WITH_ROWS" = 1 ] && pack wgan-gp-all --ema --half
stamp "all done"
ls -la "$RES/out"
