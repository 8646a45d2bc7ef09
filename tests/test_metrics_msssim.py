"""MS-SSIM against a scipy re-derivation and closed forms; the pairwise diversity score."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.ndimage import correlate1d

from monetgan.metrics import msssim

WEIGHTS = np.array([0.0448, 0.2856, 0.3001, 0.2363, 0.1333])


def structured(size: int, batch: int = 2, seed: int = 0) -> torch.Tensor:
    """Gradients and stripes in [0, 255], (B, 3, size, size) float."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    imgs = []
    for _ in range(batch):
        f = rng.uniform(5, 20, 3)
        imgs.append([128 + 60 * np.sin(f[c] * xx + 3 * yy) + 40 * (yy - 0.5) for c in range(3)])
    return torch.tensor(np.clip(imgs, 0, 255), dtype=torch.float32)


def noisy(x: torch.Tensor, sigma: float, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (x + sigma * torch.randn(x.shape, generator=g)).clamp(0, 255)


def ref_ms_ssim(x: np.ndarray, y: np.ndarray) -> float:
    """Independent float64 re-derivation for one (C, H, W) pair with even sides at every scale."""
    g = np.exp(-((np.arange(11) - 5.0) ** 2) / (2 * 1.5**2))
    g /= g.sum()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    scales = 0
    while scales < 5 and x.shape[-1] // 2**scales >= 11:
        scales += 1
    w = WEIGHTS[:scales] / WEIGHTS[:scales].sum()
    per_channel = []
    for a, b in zip(x.astype(np.float64), y.astype(np.float64)):
        value = 1.0
        for s in range(scales):
            f = lambda z: correlate1d(correlate1d(z, g, axis=0), g, axis=1)[5:-5, 5:-5]  # noqa: E731  'valid'
            ma, mb = f(a), f(b)
            va, vb, cov = f(a * a) - ma**2, f(b * b) - mb**2, f(a * b) - ma * mb
            cs = (2 * cov + c2) / (va + vb + c2)
            if s < scales - 1:
                value *= max(cs.mean(), 0.0) ** w[s]
                a = a.reshape(a.shape[0] // 2, 2, a.shape[1] // 2, 2).mean((1, 3))
                b = b.reshape(b.shape[0] // 2, 2, b.shape[1] // 2, 2).mean((1, 3))
            else:
                lum = (2 * ma * mb + c1) / (ma**2 + mb**2 + c1)
                value *= max((lum * cs).mean(), 0.0) ** w[s]
        per_channel.append(value)
    return float(np.mean(per_channel))


@pytest.mark.parametrize("size", [16, 64])  # 1 scale (plain SSIM) and 3 scales
def test_ms_ssim_matches_reference(size):
    x = structured(size, batch=2).double()
    y = noisy(x, 25.0).double()
    got = msssim.ms_ssim(x, y)
    assert got.dtype == torch.float64 and got.shape == (2,)
    for i in range(2):
        assert got[i].item() == pytest.approx(ref_ms_ssim(x[i].numpy(), y[i].numpy()), rel=1e-9)


@pytest.mark.parametrize("size,scales,dtype,rel", [(256, 5, torch.float32, 1e-5), (64, 3, torch.float32, 1e-5),
                                                   (64, 3, torch.float64, 1e-12)])
def test_constant_images_closed_form(size, scales, dtype, rel):
    # Flat images: variances and covariance are 0, so every cs term is C2/C2 = 1 and only the
    # coarsest scale's luminance term remains, raised to its (renormalised) weight.
    a = torch.full((1, 3, size, size), 100.0, dtype=dtype)
    b = torch.full((1, 3, size, size), 150.0, dtype=dtype)
    c1 = (0.01 * 255) ** 2
    lum = (2 * 100 * 150 + c1) / (100**2 + 150**2 + c1)
    expected = lum ** (WEIGHTS[scales - 1] / WEIGHTS[:scales].sum())
    assert msssim.ms_ssim(a, b).item() == pytest.approx(expected, rel=rel)


def test_num_scales():
    # Odd sides round up when pooled (padding), so 21 px still has an 11 px second scale.
    sizes = (11, 20, 21, 32, 43, 64, 128, 175, 176, 256, 512)
    assert [msssim.num_scales(s, s) for s in sizes] == [1, 1, 2, 2, 3, 3, 4, 5, 5, 5, 5]
    assert msssim.num_scales(256, 32) == 2  # the smaller side decides
    assert msssim.num_scales(10, 10) == 0


@pytest.mark.parametrize("size", [32, 256])
def test_identity_and_noise_ordering(size):
    x = structured(size, batch=1)
    assert msssim.ms_ssim(x, x.clone()).item() == pytest.approx(1.0, abs=1e-5)
    values = msssim.ms_ssim(x.expand(3, -1, -1, -1), torch.cat([noisy(x, s) for s in (5, 20, 60)])).tolist()
    assert 1.0 > values[0] > values[1] > values[2] >= 0.0
    unrelated = torch.rand(x.shape, generator=torch.Generator().manual_seed(3)) * 255
    assert 0.0 <= msssim.ms_ssim(x, unrelated).item() < values[2]


def test_values_in_unit_interval_even_for_anticorrelated_images():
    x = structured(32, batch=2)
    result = msssim.ms_ssim(x, 255.0 - x)  # negative cs: relu keeps the result finite and in [0, 1]
    assert torch.isfinite(result).all() and (result >= 0).all() and (result <= 1).all()


def test_rejects_tiny_or_mismatched_images():
    with pytest.raises(ValueError):
        msssim.ms_ssim(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 8))
    with pytest.raises(ValueError):
        msssim.ms_ssim(torch.zeros(1, 3, 32, 32), torch.zeros(1, 3, 16, 16))


def to_uint8(x: torch.Tensor) -> np.ndarray:
    return x.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()


def test_pairwise_identical_set_is_one():
    same = np.repeat(to_uint8(structured(32, batch=1)), 5, axis=0)
    mean, std = msssim.pairwise_ms_ssim(same, num_pairs=20)
    assert mean == pytest.approx(1.0, abs=1e-5) and std < 1e-5


def test_pairwise_noise_set_is_diverse_and_pairs_are_distinct():
    rng = np.random.default_rng(4)
    noise = rng.integers(0, 256, (8, 32, 32, 3), dtype=np.uint8)
    mean, _ = msssim.pairwise_ms_ssim(noise, num_pairs=40, seed=1)
    assert mean < 0.1
    # Two images: every pair must be (0, 1) or (1, 0), never an image with itself (which scores 1).
    mean2, std2 = msssim.pairwise_ms_ssim(noise[:2], num_pairs=10)
    assert mean2 < 0.1 and std2 < 1e-6
    # Collapsed-ish set (small variations of one image) scores far higher than the noise set.
    base = structured(32, batch=1)
    collapsed = np.concatenate([to_uint8(noisy(base, 3, seed=s)) for s in range(6)])
    assert msssim.pairwise_ms_ssim(collapsed, num_pairs=20)[0] > 0.9
    assert msssim.pairwise_ms_ssim(noise, num_pairs=40, seed=1) == (mean, _)
