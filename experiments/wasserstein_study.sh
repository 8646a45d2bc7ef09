#!/bin/bash
# Does the Wasserstein estimate still track quality? (docs/wasserstein-vs-quality.md, second study)
#
# Two wgan-gp runs, seed 0: the projected critic (projected-128 at 64 px) and the pixel critic
# (quick, 32 px). Every checkpoint is judged with 100 EMA paintings at the generator's own
# resolution, and the Spearman rho between the logged Wasserstein estimate and FID/KID/SWD gets a
# percentile bootstrap 95% interval.
#
#   experiments/wasserstein_study.sh PAINTINGS
#
# On a shared 2-core CPU the projected run is the slow part (about 2 CPU-seconds a step at 64 px).
# The checkpoint schedules below are the ones the study actually got: both runs were stopped with
# SIGTERM (which checkpoints the current step) when the CPU ran out, and the projected run was
# resumed twice with denser checkpoints. Resume is exact, so these commands give the same weights
# at the same steps (the first steps were checked bitwise against the study's log).
set -euo pipefail
data=${1:?usage: $0 PAINTINGS}
export OMP_NUM_THREADS=1
run=(nice -n 10 monetgan train --data "$data" --quiet)

# Pixel critic: the quick preset (32 px DCGAN, layer-norm critic, n_critic 2): 75, 150, ..., 1050, 1052.
"${run[@]}" --run runs/study-quick-wgan-gp --preset quick --loss wgan-gp --seed 0 \
  --set steps=1052 checkpoint_every=75 log_every=1 sample_every=300 keep_checkpoints=0

# Projected critic at 64 px: 60, 120, 180, 190, 200, 208, 210, 240, ..., 360, 389, 390, 420, 450.
p=runs/study-projected-wgan-gp
common=(--preset projected-128 --loss wgan-gp --seed 0)
"${run[@]}" --run $p "${common[@]}" --set resolution=64 steps=190 checkpoint_every=60 log_every=1 sample_every=300 keep_checkpoints=0
"${run[@]}" --run $p --set steps=208 checkpoint_every=50
"${run[@]}" --run $p --set steps=389 checkpoint_every=30
"${run[@]}" --run $p --set steps=450 checkpoint_every=30   # 390, 420, 450: 16 checkpoints in all

nice -n 10 python -m benchmarks.quality_over_time runs/study-projected-wgan-gp runs/study-quick-wgan-gp \
  --real "$data" --num 100 --judge-at native --bootstrap 2000 --markdown \
  --json runs/study-wasserstein.json --tracking-plot docs/images/wasserstein-tracking.png
