"""PatchNCE: the content term of CUT (Park et al. 2020, "Contrastive Learning for Unpaired
Image-to-Image Translation", arXiv 2007.15651).

A patch of the painting should be more like the same patch of its photo than like any other patch
of that photo. Both images go through the translator's encoder; at each tapped layer the same
randomly chosen positions are read from both, sent through a small MLP per layer, normalised, and
scored with InfoNCE: a cross-entropy whose right answer is the patch at the same position. The
negatives come from the same image, as CUT does for batch size 1 and as its paper advises.

Unlike a cycle loss it needs no second generator and no second critic, so it costs about half of
CycleGAN on a CPU.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

TEMPERATURE = 0.07  # CUT's tau


class PatchProjector(nn.Module):
    """One 2-layer MLP per tapped layer, as CUT's netF: features (C) -> unit vectors (dim)."""

    def __init__(self, channels: list[int], dim: int = 256):
        super().__init__()
        self.mlps = nn.ModuleList(nn.Sequential(nn.Linear(c, dim), nn.ReLU(inplace=True), nn.Linear(dim, dim))
                                  for c in channels)

    def forward(self, feats: list[torch.Tensor], positions: list[torch.Tensor]) -> list[torch.Tensor]:
        """(B, C, H, W) maps and flat positions (P,) per layer -> (B, P, dim) unit vectors per layer."""
        out = []
        for mlp, feat, where in zip(self.mlps, feats, positions):
            patches = feat.flatten(2)[:, :, where].transpose(1, 2)  # (B, P, C)
            out.append(F.normalize(mlp(patches), dim=-1))
        return out


def sample_positions(feats: list[torch.Tensor], num_patches: int, rng: torch.Generator) -> list[torch.Tensor]:
    """The same random positions for every image of the batch, one draw per layer, from `rng` (CPU)."""
    positions = []
    for feat in feats:
        count = feat.shape[2] * feat.shape[3]
        positions.append(torch.randperm(count, generator=rng)[: min(num_patches, count)].to(feat.device))
    return positions


def info_nce(query: torch.Tensor, key: torch.Tensor, temperature: float = TEMPERATURE) -> torch.Tensor:
    """Mean InfoNCE of (B, P, D) queries against (B, P, D) keys; query p's positive is key p."""
    logits = torch.bmm(query, key.transpose(1, 2)) / temperature  # (B, P, P)
    target = torch.arange(query.shape[1], device=query.device).expand(query.shape[0], -1)
    return F.cross_entropy(logits.flatten(0, 1), target.flatten())


def patch_nce_loss(translator: nn.Module, projector: PatchProjector, photo: torch.Tensor, painting: torch.Tensor,
                   num_patches: int, rng: torch.Generator) -> torch.Tensor:
    """The content term: mean over tapped layers of InfoNCE(painting's patches -> photo's patches)."""
    source = translator.encode(photo)
    target = translator.encode(painting)
    positions = sample_positions(source, num_patches, rng)
    keys = projector(source, positions)
    queries = projector(target, positions)
    return torch.stack([info_nce(q, k) for q, k in zip(queries, keys)]).mean()
