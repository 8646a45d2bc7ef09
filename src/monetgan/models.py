"""DCGAN-style generator and critic (Radford et al. 2016), sized by the training resolution.

Both networks work on a ladder of 4x4 -> 8x8 -> ... -> resolution. The width at a level is
`base * 2**(levels above the output)`, capped at `max_channels`, so a 64 px net with base 64 is
exactly the DCGAN of the WGAN and WGAN-GP reference code (512-256-128-64).
"""

from __future__ import annotations

import math

import torch
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


class Generator(nn.Module):
    """z (B, latent_dim) -> image (B, 3, R, R) in [-1, 1]."""

    def __init__(self, resolution: int, latent_dim: int = 100, base_channels: int = 64, max_channels: int = 512):
        super().__init__()
        self.resolution, self.latent_dim = resolution, latent_dim
        widths = level_widths(resolution, base_channels, max_channels)
        layers: list[nn.Module] = [
            # (B, latent_dim, 1, 1) -> (B, widths[0], 4, 4)
            nn.ConvTranspose2d(latent_dim, widths[0], 4, 1, 0, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(inplace=True),
        ]
        for c_in, c_out in zip(widths, widths[1:]):
            layers += [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]
        layers += [nn.ConvTranspose2d(widths[-1], 3, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        init_dcgan_weights(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.view(z.shape[0], self.latent_dim, 1, 1))


class Critic(nn.Module):
    """image (B, 3, R, R) -> score (B,), a real number: no sigmoid (WGAN section 3)."""

    def __init__(self, resolution: int, base_channels: int = 64, max_channels: int = 512, norm: str = "layernorm"):
        super().__init__()
        self.resolution = resolution
        widths = list(reversed(level_widths(resolution, base_channels, max_channels)))
        # DCGAN: no normalisation on the first layer.
        layers: list[nn.Module] = [nn.Conv2d(3, widths[0], 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True)]
        for c_in, c_out in zip(widths, widths[1:]):
            layers += [nn.Conv2d(c_in, c_out, 4, 2, 1, bias=False), critic_norm_layer(norm, c_out), nn.LeakyReLU(0.2, inplace=True)]
        # (B, widths[-1], 4, 4) -> (B, 1, 1, 1)
        layers.append(nn.Conv2d(widths[-1], 1, 4, 1, 0, bias=False))
        self.net = nn.Sequential(*layers)
        init_dcgan_weights(self)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.net(image).flatten()


def init_dcgan_weights(module: nn.Module) -> None:
    """DCGAN initialisation: conv weights N(0, 0.02), norm scales N(1, 0.02), biases 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def build_generator(cfg) -> nn.Module:
    """The generator a (resolved) `TrainConfig` describes."""
    if cfg.architecture == "resnet":
        from .resnet import ResNetGenerator

        return ResNetGenerator(cfg.resolution, cfg.latent_dim, cfg.generator_channels, cfg.max_channels)
    return Generator(cfg.resolution, cfg.latent_dim, cfg.generator_channels, cfg.max_channels)


def build_critic(cfg) -> nn.Module:
    """The critic a (resolved) `TrainConfig` describes."""
    if cfg.architecture == "resnet":
        from .resnet import ResNetCritic

        return ResNetCritic(cfg.resolution, cfg.critic_channels, cfg.max_channels, cfg.critic_norm)
    return Critic(cfg.resolution, cfg.critic_channels, cfg.max_channels, cfg.critic_norm)
