"""A generator without checkerboards: nearest-neighbour upsampling, then 3x3 convolutions.

Transposed convolutions with stride 2 overlap unevenly and paint a checkerboard (Odena et al. 2016,
"Deconvolution and Checkerboard Artifacts"); resize-then-convolve cannot. The layout follows
FastGAN's generator (Liu et al., ICLR 2021): a 4x4 start from the latent, one upsampling block per
octave, and skip-layer excitation (SLE), where a coarse map gates the channels of a fine one, so
global layout steers fine texture at almost no cost. Widths come from the same ladder as the other
nets, and the finest octaves get one convolution instead of two, so a CPU step stays near a second
at 128 px.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .layers import level_widths


def _conv_bn_act(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, 1, 1, bias=False), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2, inplace=True)]


class UpBlock(nn.Module):
    """(B, c_in, S, S) -> (B, c_out, 2S, 2S): nearest x2, then one or two conv-BN-LeakyReLU."""

    def __init__(self, c_in: int, c_out: int, convs: int):
        super().__init__()
        layers = _conv_bn_act(c_in, c_out)
        for _ in range(convs - 1):
            layers += _conv_bn_act(c_out, c_out)
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(F.interpolate(x, scale_factor=2, mode="nearest"))


class SkipExcitation(nn.Module):
    """FastGAN's SLE: a coarse map, pooled to 4x4, gives per-channel gates in (0, 1) for a fine map."""

    def __init__(self, c_coarse: int, c_fine: int):
        super().__init__()
        self.net = nn.Sequential(nn.AdaptiveAvgPool2d(4), nn.Conv2d(c_coarse, c_fine, 4, 1, 0),
                                 nn.LeakyReLU(0.2, inplace=True), nn.Conv2d(c_fine, c_fine, 1), nn.Sigmoid())

    def forward(self, fine: torch.Tensor, coarse: torch.Tensor) -> torch.Tensor:
        return fine * self.net(coarse)


class UpsampleGenerator(nn.Module):
    """z (B, latent_dim) -> image (B, 3, R, R) in [-1, 1], for R in 32 ... 256."""

    def __init__(self, resolution: int, latent_dim: int = 128, base_channels: int = 32, max_channels: int = 256,
                 skip_excitation: bool = True):
        super().__init__()
        self.resolution, self.latent_dim = resolution, latent_dim
        widths = level_widths(resolution, base_channels, max_channels) + [base_channels]  # at 4, 8, ..., R
        self.stem = nn.Sequential(nn.Linear(latent_dim, widths[0] * 16, bias=False))
        self.stem_norm = nn.Sequential(nn.BatchNorm2d(widths[0]), nn.LeakyReLU(0.2, inplace=True))
        sizes = [4 * 2**i for i in range(len(widths))]
        # Two convolutions per octave up to 32x32, one above (where a 3x3 conv costs the most).
        self.blocks = nn.ModuleList(UpBlock(c_in, c_out, 2 if size <= 32 else 1)
                                    for c_in, c_out, size in zip(widths, widths[1:], sizes[1:]))
        # SLE pairs (coarse size -> fine size), FastGAN's 8->128, 16->256 (and 4->64 at 64 px), where they exist.
        self.excite_pairs = [(c, f) for c, f in ((4, 64), (8, 128), (16, 256)) if f <= resolution] if skip_excitation else []
        self.excitations = nn.ModuleDict({f"{c}to{f}": SkipExcitation(widths[sizes.index(c)], widths[sizes.index(f)])
                                          for c, f in self.excite_pairs})
        self.to_rgb = nn.Conv2d(widths[-1], 3, 3, 1, 1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.stem_norm(self.stem(z).view(z.shape[0], -1, 4, 4))
        maps = {4: h}
        for block in self.blocks:
            h = block(h)
            size = h.shape[-1]
            for c, f in self.excite_pairs:
                if f == size:
                    h = self.excitations[f"{c}to{f}"](h, maps[c])
            maps[size] = h
        return torch.tanh(self.to_rgb(h))
