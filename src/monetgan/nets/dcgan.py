"""DCGAN-style generator and critic (Radford et al. 2016), sized by the training resolution.

Both networks work on a ladder of 4x4 -> 8x8 -> ... -> resolution. The width at a level is
`base * 2**(levels above the output)`, capped at `max_channels`, so a 64 px net with base 64 is
exactly the DCGAN of the WGAN and WGAN-GP reference code (512-256-128-64).
"""

from __future__ import annotations

import torch
from torch import nn

from .layers import critic_norm_layer, init_dcgan_weights, level_widths


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
