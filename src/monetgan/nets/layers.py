"""Pieces shared by the networks: the width ladder, normalisation choices, initialisation, counting."""

from __future__ import annotations

import math

from torch import nn


def level_widths(resolution: int, base_channels: int, max_channels: int) -> list[int]:
    """Channel width at 4x4, 8x8, ..., resolution/2 (the levels between input and output)."""
    levels = int(math.log2(resolution)) - 2  # number of 2x resamplings between 4x4 and `resolution`
    return [min(max_channels, base_channels * 2 ** (levels - 1 - i)) for i in range(levels)]


def critic_norm_layer(kind: str, channels: int) -> nn.Module:
    if kind == "batchnorm":
        return nn.BatchNorm2d(channels)
    if kind == "layernorm":
        # Normalise over (C, H, W) per sample, as WGAN-GP's reference critic does; no batch coupling.
        return nn.GroupNorm(1, channels)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown critic norm {kind!r}")


def init_dcgan_weights(module: nn.Module) -> None:
    """DCGAN initialisation: conv weights N(0, 0.02), norm scales N(1, 0.02), biases 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    """Parameters of `module`; with `trainable_only`, those that train (a frozen feature network's are not)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)
