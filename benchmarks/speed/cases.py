"""The cases: what each one trains, the images it trains on, and the peak figures every case prints."""

from __future__ import annotations

import os
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .timing import Peaks, fmt, spread

REPO = Path(__file__).resolve().parents[2]  # the repository root, above benchmarks/speed/
DEFAULT_DATA = REPO.parent / "shared" / "data" / "monet_jpg"


@dataclass(frozen=True)
class Case:
    preset: str
    overrides: dict[str, Any]
    random_images: int  # how many random uint8 images to train on (speed does not depend on content)


CASES = {
    "wgan": Case("wgan-64", {"wgan_warmup": False}, 128),
    "wgan-gp": Case("wgan-gp-64", {}, 128),
    "256": Case("wgan-gp-256", {}, 64),
    "paint": Case("wgan-gp-256", {}, 16),
}
BASE_OVERRIDES = {"ema_decay": 0.0}  # the reference keeps no EMA generator


def load_images(case: Case, resolution: int, data: str) -> torch.Tensor:
    """(N, 3, R, R) uint8: random, or decoded from a folder / zip of paintings."""
    if data == "random":
        return torch.randint(0, 256, (case.random_images, 3, resolution, resolution), dtype=torch.uint8,
                             generator=torch.Generator().manual_seed(0))
    from monetgan.data.dataset import load_dataset

    path = os.environ.get("MONETGAN_DATA", str(DEFAULT_DATA)) if data == "real" else data
    return load_dataset(path, resolution, show_progress=False).images


def describe(cfg) -> str:
    return (f"loss {cfg.loss}, {cfg.resolution} px, batch {cfg.batch_size}, n_critic {cfg.n_critic}, "
            f"critic {cfg.critic_norm}, {cfg.optimizer}, widths G {cfg.generator_channels} D {cfg.critic_channels}, "
            f"precision {cfg.precision}")


def peak_figures(gflops: dict[str, float], peaks: Peaks, reps: int) -> dict[str, Any]:
    """Achieved GFLOP/s per path, and as fractions of the matmul peaks sampled during the last `reps` reps."""
    fp32_peak = statistics.median(peaks.fp32[-reps:])
    return {
        "fp32_matmul_gflops": spread(peaks.fp32[-reps:]),
        "achieved_gflops": gflops,
        "fraction_of_fp32_peak": {k: v / fp32_peak for k, v in gflops.items()},
        "fraction_of_bf16_peak": {k: v / peaks.bf16 for k, v in gflops.items()},
    }


def print_peak_figures(result: dict[str, Any], peaks: Peaks) -> None:
    gf, fp32, bf16 = result["achieved_gflops"], result["fraction_of_fp32_peak"], result["fraction_of_bf16_peak"]
    print(f"achieved GFLOP/s      reference {gf['reference']:.1f}, monetgan {gf['monetgan']:.1f}   "
          f"(fp32 matmul {fmt(result['fp32_matmul_gflops'], 1)})")
    print(f"fraction of peak      fp32: reference {fp32['reference']:.2f}, monetgan {fp32['monetgan']:.2f};  "
          f"bf16 ({peaks.bf16:.1f} GFLOP/s): reference {bf16['reference']:.2f}, monetgan {bf16['monetgan']:.2f}\n",
          flush=True)
