"""Latents and images from a generator. One latent per integer seed, so image `s` is the same
whatever batch or count it is painted in (as StyleGAN's `--seeds`)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch
from torch import nn

from ..data.images import to_uint8


def latents_for_seeds(seeds: Iterable[int], latent_dim: int) -> torch.Tensor:
    """(len(seeds), latent_dim) standard-normal latents, row i drawn from its own seed."""
    rows = [torch.randn(latent_dim, generator=torch.Generator().manual_seed(int(s))) for s in seeds]
    return torch.stack(rows)


@torch.no_grad()
def generate(generator: nn.Module, z: torch.Tensor, batch_size: int = 64) -> np.ndarray:
    """Run `generator` (in eval mode) over latents in batches -> (B, H, W, 3) uint8."""
    was_training = generator.training
    generator.eval()
    device = next(generator.parameters()).device
    try:
        chunks = [to_uint8(generator(z[i : i + batch_size].to(device))) for i in range(0, len(z), batch_size)]
    finally:
        generator.train(was_training)
    return np.concatenate(chunks)
