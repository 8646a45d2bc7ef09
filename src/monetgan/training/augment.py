"""DiffAugment (Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN Training").

The same differentiable transformations are applied to real and generated images, in both the
critic and the generator step, so the critic cannot overfit 300 paintings and gradients still
reach the generator through the augmentation. Each transformation is applied to a sample with
probability `p` (p = 1 is the paper's setting; p = 0 is the identity).

All randomness comes from an explicit CPU `torch.Generator`, so a run that uses it resumes exactly
on any device; the drawn parameters reach the GPU through `host_to_device`, without a host stall.
The trainer applies it when the config's `diffaugment` policy is set (see docs/experiments.md).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from ..config import parse_policy
from ..devices import host_to_device

# (offset, global batch): the batch holds rows offset.. of a larger batch split over processes. Random
# values are then drawn for the whole global batch and sliced, so every process advances the generator
# alike and N processes augment exactly as one would (data-parallel training).
Shard = tuple[int, int]
Transform = Callable[..., torch.Tensor]  # (x, generator, *, shard=None) -> x augmented


def _per_sample(draw: Callable[[int], torch.Tensor], like: torch.Tensor, shard: Shard | None) -> torch.Tensor:
    """`draw(n)` -> random values for n samples (on the CPU); the rows of `like`'s batch, on its device."""
    rows = like.shape[0]
    if shard is None:
        return host_to_device(draw(rows), like.device)
    offset, total = shard
    return host_to_device(draw(total)[offset : offset + rows], like.device)


def _uniform(like: torch.Tensor, generator: torch.Generator, shard: Shard | None) -> torch.Tensor:
    """(B, 1, 1, 1) U[0, 1) drawn on the CPU generator (device-independent), on `like`'s device and dtype."""
    return _per_sample(lambda n: torch.rand((n, 1, 1, 1), generator=generator), like, shard).to(like.dtype)


def brightness(x: torch.Tensor, g: torch.Generator, *, shard: Shard | None = None) -> torch.Tensor:
    return x + (_uniform(x, g, shard) - 0.5)


def saturation(x: torch.Tensor, g: torch.Generator, *, shard: Shard | None = None) -> torch.Tensor:
    mean = x.mean(dim=1, keepdim=True)
    return (x - mean) * (_uniform(x, g, shard) * 2) + mean


def contrast(x: torch.Tensor, g: torch.Generator, *, shard: Shard | None = None) -> torch.Tensor:
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_uniform(x, g, shard) + 0.5) + mean


def translation(x: torch.Tensor, g: torch.Generator, ratio: float = 0.125, *,
                shard: Shard | None = None) -> torch.Tensor:
    """Shift by up to `ratio` of the size, filling with zeros (the paper's translation)."""
    b, _, h, w = x.shape
    sx, sy = int(h * ratio + 0.5), int(w * ratio + 0.5)
    tx = _per_sample(lambda n: torch.randint(-sx, sx + 1, (n, 1, 1), generator=g), x, shard)
    ty = _per_sample(lambda n: torch.randint(-sy, sy + 1, (n, 1, 1), generator=g), x, shard)
    gb, gx, gy = torch.meshgrid(torch.arange(b, device=x.device), torch.arange(h, device=x.device),
                                torch.arange(w, device=x.device), indexing="ij")
    gx = torch.clamp(gx + tx + 1, 0, h + 1)
    gy = torch.clamp(gy + ty + 1, 0, w + 1)
    padded = F.pad(x, [1, 1, 1, 1, 0, 0, 0, 0])  # (B, C, H+2, W+2): the zero border is what shifts in
    return padded.permute(0, 2, 3, 1).contiguous()[gb, gx, gy].permute(0, 3, 1, 2)


def cutout(x: torch.Tensor, g: torch.Generator, ratio: float = 0.5, *, shard: Shard | None = None) -> torch.Tensor:
    """Zero one random square of `ratio` times the size per sample."""
    b, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    ox = _per_sample(lambda n: torch.randint(0, h + (1 - ch % 2), (n, 1, 1), generator=g), x, shard)
    oy = _per_sample(lambda n: torch.randint(0, w + (1 - cw % 2), (n, 1, 1), generator=g), x, shard)
    gb, gx, gy = torch.meshgrid(torch.arange(b, device=x.device), torch.arange(ch, device=x.device),
                                torch.arange(cw, device=x.device), indexing="ij")
    gx = torch.clamp(gx + ox - ch // 2, 0, h - 1)
    gy = torch.clamp(gy + oy - cw // 2, 0, w - 1)
    mask = torch.ones(b, h, w, dtype=x.dtype, device=x.device)
    mask[gb, gx, gy] = 0
    return x * mask.unsqueeze(1)


POLICIES: dict[str, list[Transform]] = {
    "color": [brightness, saturation, contrast],
    "translation": [translation],
    "cutout": [cutout],
}


def diff_augment(x: torch.Tensor, policy: str, generator: torch.Generator, p: float = 1.0,
                 shard: Shard | None = None) -> torch.Tensor:
    """Apply `policy` to a batch (B, C, H, W); each transform hits each sample with probability p.

    Differentiable with respect to `x`. Call it on the real and on the fake batch alike. `shard`:
    x is one process's rows of a global batch (see `Shard`).
    """
    for name in parse_policy(policy):
        for transform in POLICIES[name]:
            if p >= 1.0:
                x = transform(x, generator, shard=shard)
            else:
                keep = _per_sample(lambda n: torch.rand(n, generator=generator) < p, x, shard)
                x = torch.where(keep.view(-1, 1, 1, 1), transform(x, generator, shard=shard), x)
    return x
