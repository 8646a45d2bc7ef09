"""ResNet generator and critic, as in the WGAN-GP paper's ResNet models (Gulrajani et al. 2017,
appendix F) and SNGAN (Miyato et al. 2018), sized by resolution on the same width ladder as the DCGAN.

Generator block: BN-ReLU-up-conv3-BN-ReLU-conv3 plus an upsampled 1x1 shortcut.
Critic block: ReLU-conv3-ReLU-conv3-avgpool plus an avgpooled 1x1 shortcut; the first block has no
pre-activation (so the raw image is not rectified). The critic ends in ReLU, a global sum and a
linear layer: a real-valued score, no sigmoid.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .layers import critic_norm_layer, level_widths


class UpBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.bn1, self.bn2 = nn.BatchNorm2d(c_in), nn.BatchNorm2d(c_out)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, 1, 1)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1)
        self.shortcut = nn.Conv2d(c_in, c_out, 1, 1, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.interpolate(F.relu(self.bn1(x)), scale_factor=2, mode="nearest")
        h = self.conv2(F.relu(self.bn2(self.conv1(h))))
        return h + self.shortcut(F.interpolate(x, scale_factor=2, mode="nearest"))


class DownBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, norm: str, preactivate: bool = True):
        super().__init__()
        self.preactivate = preactivate
        self.conv1 = nn.Conv2d(c_in, c_out, 3, 1, 1)
        self.norm = critic_norm_layer(norm, c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1)
        self.shortcut = nn.Conv2d(c_in, c_out, 1, 1, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(x) if self.preactivate else x
        h = self.conv2(F.relu(self.norm(self.conv1(h))))
        return F.avg_pool2d(h, 2) + self.shortcut(F.avg_pool2d(x, 2))


class ResNetGenerator(nn.Module):
    """z (B, latent_dim) -> image (B, 3, R, R) in [-1, 1]."""

    def __init__(self, resolution: int, latent_dim: int = 128, base_channels: int = 64, max_channels: int = 512):
        super().__init__()
        self.resolution, self.latent_dim = resolution, latent_dim
        widths = level_widths(resolution, base_channels, max_channels)  # at 4x4 ... R/2
        self.stem = nn.Linear(latent_dim, widths[0] * 16)
        outs = widths[1:] + [widths[-1]]  # each block doubles the size; the last keeps the width
        self.blocks = nn.Sequential(*(UpBlock(c_in, c_out) for c_in, c_out in zip(widths, outs)))
        self.head = nn.Sequential(nn.BatchNorm2d(outs[-1]), nn.ReLU(), nn.Conv2d(outs[-1], 3, 3, 1, 1), nn.Tanh())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.stem(z).view(z.shape[0], -1, 4, 4)
        return self.head(self.blocks(h))


class ResNetCritic(nn.Module):
    """image (B, 3, R, R) -> score (B,)."""

    def __init__(self, resolution: int, base_channels: int = 64, max_channels: int = 512, norm: str = "none"):
        super().__init__()
        self.resolution = resolution
        widths = list(reversed(level_widths(resolution, base_channels, max_channels)))  # at R/2 ... 4x4
        ins = [3] + widths[:-1]
        self.blocks = nn.Sequential(*(DownBlock(c_in, c_out, norm, preactivate=i > 0)
                                      for i, (c_in, c_out) in enumerate(zip(ins, widths))))
        self.head = nn.Linear(widths[-1], 1)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.blocks(image)).sum(dim=(2, 3))  # global sum pooling over the final 4x4
        return self.head(h).flatten()
