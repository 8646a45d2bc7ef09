#!/usr/bin/env bash
# The equal-CPU-budget rows of docs/experiments.md ("Projected critic on a CPU"): every row trains at
# 128 px, seed 0, on one thread, until it has used BUDGET process-CPU-minutes. The projected wgan-gp row
# with n_critic 1 and DiffAugment is the default preset (projected-128) itself.
# Usage: bash experiments/cpu_rows.sh DATA RUNS_DIR [BUDGET_CPU_MINUTES]
set -euo pipefail
DATA=${1:?data folder}; RUNS=${2:?runs folder}; BUDGET=${3:-15}
common=(cpu_limit_minutes="$BUDGET" steps=1000000 seed=0 resolution=128 log_every=10 sample_every=100
        keep_checkpoints=0 num_frame_samples=16)
row() {  # name, preset, then key=value overrides
  local name=$1 preset=$2; shift 2
  [ -e "$RUNS/$name/.done" ] && return 0
  OMP_NUM_THREADS=1 nice -n 0 monetgan train --data "$DATA" --run "$RUNS/$name" --preset "$preset" --quiet \
    --set "${common[@]}" "$@"
  touch "$RUNS/$name/.done"
}
# (the projected wgan-gp row is the bundled run, read at the same CPU budget)
row seed-wgan wgan-64 checkpoint_every=5
row pixel-wgan-gp wgan-gp-64 checkpoint_every=10 generator_channels=32 critic_channels=32 batch_size=32 gp_every=4 \
    diffaugment=color,translation,cutout
row projected-hinge projected-128 checkpoint_every=15 loss=hinge
row projected-wgan projected-128 checkpoint_every=15 loss=wgan
row projected-no-diffaugment projected-128 checkpoint_every=15 diffaugment=
row projected-n-critic-5 projected-128 checkpoint_every=15 n_critic=5
