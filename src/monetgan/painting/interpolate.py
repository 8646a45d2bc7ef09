"""Walks between paintings: latents interpolated from seed to seed, painted frame by frame, as GIF or MP4.

Gaussian latents live near a sphere of radius sqrt(latent_dim); a straight line between two of them
dips towards the origin, where a generator has seen few latents, so the middle of a linear walk
looks washed out. Spherical interpolation (slerp, Shoemake 1985; White 2016, "Sampling Generative
Networks") keeps the walk on the shell. Linear interpolation (lerp) stays available to compare.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from ..errors import UserError
from ..nets.sampling import generate, latents_for_seeds
from .paint import output_size, pick_generator, require_painter, resize_square
from .animation import check_animation_args, write_animation

MODES = ("slerp", "lerp")
MAX_FRAMES = 2000
MAX_SEEDS = 64


def lerp(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    """(1 - t) a + t b; exactly `a` at t=0 and exactly `b` at t=1."""
    if t == 0:
        return a.clone()
    if t == 1:
        return b.clone()
    return (1 - t) * a + t * b


def slerp(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    """Spherical interpolation between latents `a` and `b` (1-D, same shape) at fraction `t` in [0, 1].

    sin((1-t) w)/sin(w) a + sin(t w)/sin(w) b, with w the angle between them. Exactly `a` at t=0 and
    `b` at t=1 (not merely to rounding), so a walk's end frames are the seeds' own paintings. Nearly
    parallel latents (sin w ~ 0) fall back to lerp, where the formula would divide by ~0.
    """
    if t == 0:
        return a.clone()
    if t == 1:
        return b.clone()
    a64, b64 = a.double(), b.double()  # the angle of near-parallel 512-d vectors needs float64
    cos = torch.dot(a64, b64) / (a64.norm() * b64.norm()).clamp_min(1e-12)
    omega = torch.arccos(cos.clamp(-1.0, 1.0))
    sin = torch.sin(omega)
    if sin.abs() < 1e-6:
        return lerp(a, b, t)
    mixed = (torch.sin((1 - t) * omega) / sin) * a64 + (torch.sin(t * omega) / sin) * b64
    return mixed.to(a.dtype)


def _check_walk(seeds: list[int], frames: int, mode: str) -> None:
    if len(seeds) < 2:
        raise UserError(f"--seeds: give at least two seeds separated by commas, got {len(seeds)}")
    if len(seeds) > MAX_SEEDS:
        raise UserError(f"--seeds: at most {MAX_SEEDS} seeds, got {len(seeds)}")
    if any(s < 0 for s in seeds):
        raise UserError("--seeds: every seed must be 0 or more")
    if not len(seeds) <= frames <= MAX_FRAMES:
        raise UserError(f"--frames must lie in {len(seeds)}..{MAX_FRAMES} (at least one per seed), got {frames}")
    if mode not in MODES:
        raise UserError(f"--mode must be one of {', '.join(MODES)}, got {mode!r}")


def keyframe_indices(num_seeds: int, frames: int) -> list[int]:
    """The frame index at which the walk passes through each seed: the first, the last, evenly between."""
    return [round(i * (frames - 1) / (num_seeds - 1)) for i in range(num_seeds)]


def walk_latents(seeds: list[int], frames: int, latent_dim: int, mode: str = "slerp") -> torch.Tensor:
    """(frames, latent_dim) latents walking through each seed's latent in order.

    Frame `keyframe_indices(...)[i]` is exactly seed i's latent (as `latents_for_seeds` draws it);
    the frames between two seeds interpolate them with `mode` (slerp or lerp).
    """
    seeds = [int(s) for s in seeds]
    _check_walk(seeds, frames, mode)
    anchors = latents_for_seeds(seeds, latent_dim)
    keys = keyframe_indices(len(seeds), frames)
    step = slerp if mode == "slerp" else lerp
    rows = []
    for i in range(frames):
        # The segment [keys[k], keys[k+1]] holding frame i (the last segment also holds the last frame).
        k = min(max(j for j in range(len(keys) - 1) if keys[j] <= i), len(keys) - 2)
        span = keys[k + 1] - keys[k]
        t = (i - keys[k]) / span if span else 0.0
        rows.append(step(anchors[k], anchors[k + 1], t))
    return torch.stack(rows)


def walk_frames(generator: nn.Module, seeds: list[int], frames: int, mode: str = "slerp",
                size: int | None = None, indices: list[int] | None = None) -> np.ndarray:
    """(n, size, size, 3) uint8 frames of a walk (all of them, or just `indices`), at `size`
    (default the painter's `output_size`).

    Painted one latent per forward pass, as `paint` paints, so the frame at a seed is exactly that
    seed's painting.
    """
    z = walk_latents(seeds, frames, generator.latent_dim, mode)
    if indices is not None:
        z = z[indices]
    return resize_square(generate(generator, z, batch_size=1), size or output_size(generator))


def write_walk(images: np.ndarray, out: str | os.PathLike, fps: float = 24.0) -> Path:
    """Write frames (N, H, W, 3) uint8 to `out` (.gif or .mp4 by suffix), atomically, as `timelapse` does.

    An existing file is replaced, as `timelapse` replaces it.
    """
    out_path = Path(out)
    check_animation_args(out_path, fps, 0.0, None)
    return write_animation((Image.fromarray(image) for image in images), len(images), out_path, fps, 0.0)


def parse_seeds(text: str) -> list[int]:
    """'3,17,42' -> [3, 17, 42]; anything else is a UserError naming --seeds."""
    try:
        seeds = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise UserError(f"--seeds {text!r}: expected whole numbers separated by commas, e.g. 3,17,42") from None
    return seeds


def interpolate(seeds: list[int], out: str | os.PathLike, *, frames: int = 60, mode: str = "slerp",
                run: str | os.PathLike | None = None, checkpoint: str | os.PathLike | None = None,
                weights: str | os.PathLike | None = None, ema: bool | None = None, device: str = "auto",
                size: int | None = None, fps: float = 24.0) -> Path:
    """Paint a walk through `seeds` in `frames` frames and write it to `out` (.gif or .mp4).

    The painter is chosen as `paint` chooses it (run, checkpoint, weights, or the bundled one). The
    first and last frames are exactly `paint`'s pictures of the first and last seed, before encoding
    (GIF quantises to 256 colours and MP4 compresses, so the file itself is approximate).
    """
    _check_walk([int(s) for s in seeds], frames, mode)
    check_animation_args(Path(out), fps, 0.0, None)
    if size is not None and not 16 <= size <= 4096:
        raise UserError(f"--size must lie in 16..4096 pixels, got {size}")
    generator = require_painter(pick_generator(run, checkpoint, weights, ema, device))
    return write_walk(walk_frames(generator, seeds, frames, mode, size), out, fps)
