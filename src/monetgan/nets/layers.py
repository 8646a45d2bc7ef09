"""Pieces shared by the networks: the width ladder, normalisation choices, initialisation, counting,
and fixed (untrained) image filters."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
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


def gaussian_kernel(sigma: float) -> torch.Tensor:
    """A normalised 1-D Gaussian of radius ceil(3 sigma); [1.] (the identity) for sigma 0."""
    if sigma <= 0:
        return torch.ones(1)
    radius = math.ceil(3 * sigma)
    taps = torch.arange(-radius, radius + 1, dtype=torch.float64)
    kernel = torch.exp(-0.5 * (taps / sigma) ** 2)
    return (kernel / kernel.sum()).float()


def separable_blur(image: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Blur each channel by `kernel` along both axes, reflecting at the borders (no dark frame)."""
    channels, radius = image.shape[1], kernel.numel() // 2
    k = kernel.to(image.dtype)
    image = F.pad(image, (radius, radius, radius, radius), mode="reflect")
    image = F.conv2d(image, k.view(1, 1, 1, -1).expand(channels, 1, 1, -1), groups=channels)
    return F.conv2d(image, k.view(1, 1, -1, 1).expand(channels, 1, -1, 1), groups=channels)


# JPEG's (ITU-R BT.601, full range) RGB -> YCbCr, without the offsets: a linear map of [-1, 1] pixels.
RGB_TO_YCBCR = torch.tensor([[0.299, 0.587, 0.114],
                             [-0.168736, -0.331264, 0.5],
                             [0.5, -0.418688, -0.081312]], dtype=torch.float64)
YCBCR_TO_RGB = torch.linalg.inv(RGB_TO_YCBCR)
# The two halves of the identity (luma + chroma = I), built once here, not on every forward:
_LUMA_ONLY = (YCBCR_TO_RGB[:, :1] @ RGB_TO_YCBCR[:1]).float()  # RGB -> the RGB of its Y alone
_CHROMA_ONLY = (YCBCR_TO_RGB[:, 1:] @ RGB_TO_YCBCR[1:]).float()  # RGB -> the RGB of its Cb, Cr alone


def chroma_low_pass(image: torch.Tensor, sigma: float) -> torch.Tensor:
    """Blur an RGB image's colour (Cb, Cr) by a Gaussian of `sigma` px and leave its brightness (Y)
    exactly as it is. Linear, so it is one blur and two 3x3 colour maps: image's luma + blur's chroma."""
    if sigma <= 0:
        return image
    # In fp32 (or finer) even under bf16 autocast: a fixed filter on the finished picture gains nothing
    # from bf16, and oneDNN's bf16 depthwise kernels can stall for minutes in code generation (torch
    # 2.13, a 49-tap blur on an AVX-512 BF16 CPU).
    with torch.autocast(image.device.type, enabled=False):
        image = image.to(torch.promote_types(image.dtype, torch.float32))
        luma = _LUMA_ONLY.to(image.device, image.dtype)
        chroma = _CHROMA_ONLY.to(image.device, image.dtype)
        blurred = separable_blur(image, gaussian_kernel(sigma).to(image.device))
        return torch.einsum("ij,bjhw->bihw", luma, image) + torch.einsum("ij,bjhw->bihw", chroma, blurred)
