#!/usr/bin/env bash
# One GPU session, prepared to run unattended inside a short lease (an H200 here; any CUDA GPU works):
#   1. the training/paint speed benchmark on a quiet GPU (issue 5, docs/performance.md);
#   2. the recipe table's runs at 64 px (issue 4, docs/experiments.md) and the bundled generator's
#      128-px run (preset monet-128), all at once on the one GPU, each under its own wall-clock limit;
#   3. each run packed as <name>.tar: its generator (fp16 safetensors + card, via monetgan.bundled),
#      config, log and time-lapse GIF. Evaluation happens afterwards, anywhere, from these weights.
#
# Usage: bash experiments/gpu_session.sh           (env: MONETGAN_DATA, RESULTS, ROW_MINUTES,
#        BUNDLE_MINUTES, BENCH_ARGS, EXTRA_SET to shrink everything for a dry run on a CPU)
# Every command is printed before it runs, so the log is the exact record of what was run.
set -uo pipefail
cd "$(dirname "$0")/.."
DATA=${MONETGAN_DATA:-../shared/data/monet_jpg}
RES=${RESULTS:-/tmp/monetgan-gpu}
ROW_MINUTES=${ROW_MINUTES:-4.5}
BUNDLE_MINUTES=${BUNDLE_MINUTES:-5.5}
BENCH_ARGS=${BENCH_ARGS:---device cuda}
EXTRA_SET=${EXTRA_SET:-}
export PYTHONPATH="$PWD/src:$PWD:${PYTHONPATH:-}" PYTHONUNBUFFERED=1 OMP_NUM_THREADS=2
mkdir -p "$RES/runs" "$RES/out"
started=$(date +%s)
stamp() { echo "[$(( $(date +%s) - started )) s] $*"; }

stamp "gpu: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo none)"
stamp "torch $(python3 -c 'import torch; print(torch.__version__, torch.cuda.is_available())')"

stamp "benchmark: python3 -m benchmarks.train_speed $BENCH_ARGS --json $RES/out/bench.json"
timeout 240 python3 -m benchmarks.train_speed $BENCH_ARGS --json "$RES/out/bench.json" 2>&1 | tee "$RES/out/bench.txt"

# name | preset | overrides (beyond the shared ones below)
ROWS=(
  "wgan|wgan-64|ema_decay=0"
  "gan|gan-64|ema_decay=0"
  "wgan-gp|wgan-gp-64|"
  "wgan-gp-diffaugment|wgan-gp-64|ema_decay=0 diffaugment=color,translation,cutout"
  "wgan-gp-lazy4|wgan-gp-64|ema_decay=0 gp_every=4"
  "wgan-gp-resnet|wgan-gp-64|ema_decay=0 architecture=resnet"
  "wgan-gp-all|wgan-gp-64|diffaugment=color,translation,cutout gp_every=4 architecture=resnet"
)
SHARED="steps=1000000 log_every=10 sample_every=100 checkpoint_every=2000 keep_checkpoints=1 num_frame_samples=16"
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
  python3 -m monetgan.bundled --checkpoint "$ckpt" --out "$RES/pack/$name" --name "$name" "$@" >/dev/null
  python3 -m monetgan timelapse "$run" --out "$RES/pack/$name/timelapse.gif" --fps 8 >/dev/null
  cp "$run/config.json" "$run/log.jsonl" "$RES/runs/$name.txt" "$RES/pack/$name/"
  tar -C "$RES/pack" -cf "$RES/out/$name.tar" "$name"
  stamp "$name: $(basename "$ckpt"), $(du -h "$RES/out/$name.tar" | cut -f1)"
}
pack monet-128 --half
for row in "${ROWS[@]}"; do
  name=${row%%|*}
  [ "$name" = wgan-gp-all ] || pack "$name" --no-ema --half
done
# The EMA twin of the plain wgan-gp row measures what the EMA alone buys.
mkdir -p "$RES/pack/wgan-gp-ema"
python3 -m monetgan.bundled --checkpoint "$(ls -d "$RES"/runs/wgan-gp/checkpoints/step-* | tail -1)" \
  --out "$RES/pack/wgan-gp-ema" --name wgan-gp-ema --ema --half >/dev/null \
  && tar -C "$RES/pack" -cf "$RES/out/wgan-gp-ema.tar" wgan-gp-ema
# wgan-gp-all is evaluated with its EMA weights, as the recipe uses them.
pack wgan-gp-all --ema --half
stamp "all done"
ls -la "$RES/out"
