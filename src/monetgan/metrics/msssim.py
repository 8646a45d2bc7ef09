"""Multi-scale SSIM (Wang, Simoncelli & Bovik 2003) and the pairwise MS-SSIM diversity score.

Pure torch math; no I/O. Conventions follow pytorch-msssim: 11-tap Gaussian window (sigma 1.5)
applied 'valid' (no padding), K1 = 0.01, K2 = 0.03, data range L = 255, 2x2 average pooling
between scales, and relu on the per-scale terms before the power so negative values give 0,
not NaN.

Small images: the 5-scale MS-SSIM needs at least 11 * 2^4 = 176 px for an 11-px window at the
coarsest scale. For smaller images we keep the 11-px window and use only the scales at which it
still fits (image side >= 11), with the first weights renormalised to sum to 1:
256 px -> 5 scales, 128 -> 4, 64 -> 3, 32 -> 2, 11..21 -> 1 (plain SSIM). Shrinking the window
instead would change what each scale measures; dropping the coarsest scales keeps every term
identical to the full-size definition.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
WINDOW_SIZE = 11
WINDOW_SIGMA = 1.5


def _gaussian_1d(size: int, sigma: float, dtype: torch.dtype) -> torch.Tensor:
    coords = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    return (g / g.sum()).to(dtype)


def _filter(x: torch.Tensor, win: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian filter per channel, 'valid' (output shrinks by size - 1)."""
    c = x.shape[1]
    # channels_last and contiguous repeated weights: ~3x faster depthwise conv on CPU than the
    # default layout with expanded (stride-0) weights.
    x = x.contiguous(memory_format=torch.channels_last)
    x = F.conv2d(x, win.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    x = F.conv2d(x, win.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)
    # Back to NCHW: elementwise math on channel slices of a channels_last tensor is very slow.
    return x.contiguous()


def _ssim_cs(x: torch.Tensor, y: torch.Tensor, win: torch.Tensor, data_range: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean SSIM and contrast-structure term cs, each (B, C) (Wang et al. 2004)."""
    c1 = (0.01 * data_range) ** 2
    c2 = (0.03 * data_range) ** 2
    # Moments of the data shifted to [-L/2, L/2]: (co)variances are shift-invariant, and
    # E[x^2] - mu^2 cancels 4x less badly in float32 than with raw [0, 255] values.
    shift = data_range / 2
    xs, ys = x - shift, y - shift
    # One depthwise conv over the five stacked moment maps instead of five calls.
    m_x, m_y, e_xx, e_yy, e_xy = _filter(torch.cat([xs, ys, xs * xs, ys * ys, xs * ys], dim=1), win).chunk(5, dim=1)
    var_x, var_y, cov = e_xx - m_x * m_x, e_yy - m_y * m_y, e_xy - m_x * m_y
    mu_x, mu_y = m_x + shift, m_y + shift
    mu_xx, mu_yy, mu_xy = mu_x * mu_x, mu_y * mu_y, mu_x * mu_y
    cs_map = (2 * cov + c2) / (var_x + var_y + c2)
    ssim_map = (2 * mu_xy + c1) / (mu_xx + mu_yy + c1) * cs_map
    return ssim_map.mean(dim=(-2, -1)), cs_map.mean(dim=(-2, -1))


def num_scales(height: int, width: int, window: int = WINDOW_SIZE, max_scales: int = len(MS_SSIM_WEIGHTS)) -> int:
    """Number of MS-SSIM scales at which the window still fits (side >= window), at most 5."""
    h, w, n = height, width, 0
    while n < max_scales and min(h, w) >= window:
        n += 1
        h, w = (h + 1) // 2, (w + 1) // 2  # avg-pool with padding for odd sides rounds up
    return n


def ms_ssim(a: torch.Tensor, b: torch.Tensor, data_range: float = 255.0) -> torch.Tensor:
    """MS-SSIM (Wang, Simoncelli & Bovik 2003) of float images in [0, data_range], (B, C, H, W).

    Returns (B,): prod_j relu(cs_j)^w_j * relu(ssim_M)^w_M per channel, averaged over channels,
    with the standard weights (0.0448, 0.2856, 0.3001, 0.2363, 0.1333). Images under 176 px use
    fewer scales with renormalised weights (see the module docstring); at least 11 px is needed.
    """
    if a.shape != b.shape or a.ndim != 4:
        raise ValueError(f"need two (B, C, H, W) tensors of equal shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    scales = num_scales(a.shape[-2], a.shape[-1])
    if scales == 0:
        raise ValueError(f"images must be at least {WINDOW_SIZE} px, got {tuple(a.shape[-2:])}")
    dtype = a.dtype if a.dtype in (torch.float32, torch.float64) else torch.float32
    x, y = a.to(dtype), b.to(dtype)
    win = _gaussian_1d(WINDOW_SIZE, WINDOW_SIGMA, dtype).to(x.device)
    weights = torch.tensor(MS_SSIM_WEIGHTS[:scales], dtype=dtype, device=x.device)
    weights = weights / weights.sum()
    terms = []
    for i in range(scales):
        ssim_pc, cs = _ssim_cs(x, y, win, data_range)
        if i < scales - 1:
            terms.append(torch.relu(cs))
            pad = (x.shape[-2] % 2, x.shape[-1] % 2)
            x = F.avg_pool2d(x, kernel_size=2, padding=pad)
            y = F.avg_pool2d(y, kernel_size=2, padding=pad)
    terms.append(torch.relu(ssim_pc))
    stacked = torch.stack(terms, dim=0)  # (scales, B, C)
    return torch.prod(stacked ** weights.view(-1, 1, 1), dim=0).mean(dim=1)


def pairwise_ms_ssim(
    images_uint8: np.ndarray, num_pairs: int = 1000, seed: int = 0, batch_size: int = 64
) -> tuple[float, float]:
    """Mean and std (ddof=0) of MS-SSIM over random pairs of distinct images of one set.

    The sample-diversity measure of Odena, Olah & Shlens 2017 (AC-GAN): lower mean = more diverse
    samples; a collapsed generator scores near 1. images_uint8 is (N, H, W, 3) uint8, N >= 2.
    Pairs (i, j), i != j, are drawn uniformly with replacement, deterministically from seed.
    """
    images = np.asarray(images_uint8)
    if images.ndim != 4 or images.shape[0] < 2:
        raise ValueError(f"need (N, H, W, C) images with N >= 2, got {images.shape}")
    rng = np.random.default_rng(seed)
    first = rng.integers(0, images.shape[0], size=num_pairs)
    # Uniform over the other N - 1 images: skip over i itself.
    second = rng.integers(0, images.shape[0] - 1, size=num_pairs)
    second = second + (second >= first)
    values = []
    with torch.no_grad():
        for start in range(0, num_pairs, batch_size):
            i, j = first[start:start + batch_size], second[start:start + batch_size]
            xa = torch.from_numpy(images[i]).permute(0, 3, 1, 2).float()
            xb = torch.from_numpy(images[j]).permute(0, 3, 1, 2).float()
            values.append(ms_ssim(xa, xb).double().numpy())
    if not values:
        return math.nan, math.nan
    v = np.concatenate(values)
    return float(v.mean()), float(v.std())
