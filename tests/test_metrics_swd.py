"""Sliced Wasserstein distance: the pyramid against ProGAN's scipy code, the 1-D core against
closed forms, and the image-level metric's basic properties (zero, monotone in noise, symmetric)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.ndimage
from scipy.special import gammaln

from monetgan.metrics import swd

FAST = dict(patches_per_image=32, num_projections=32, num_repeats=2)

# ProGAN metrics/sliced_wasserstein.py, verbatim apart from naming.
_GAUSS = np.float32([[1, 4, 6, 4, 1], [4, 16, 24, 16, 4], [6, 24, 36, 24, 6], [4, 16, 24, 16, 4], [1, 4, 6, 4, 1]]) / 256.0


def _ref_pyr_down(m):
    return scipy.ndimage.convolve(m, _GAUSS[None, None], mode="mirror")[:, :, ::2, ::2]


def _ref_pyr_up(m):
    s = m.shape
    res = np.zeros((s[0], s[1], s[2] * 2, s[3] * 2), m.dtype)
    res[:, :, ::2, ::2] = m
    return scipy.ndimage.convolve(res, _GAUSS[None, None] * 4.0, mode="mirror")


def _ref_laplacian_pyramid(m, num_levels):
    pyramid = [np.array(m, dtype=np.float32)]
    for _ in range(1, num_levels):
        pyramid.append(_ref_pyr_down(pyramid[-1]))
        pyramid[-2] -= _ref_pyr_up(pyramid[-1])
    return pyramid


def smooth_images(n: int, size: int, seed: int = 0) -> np.ndarray:
    """Random colour gradients with a gentle wave: structured, noise-free uint8 images."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    out = []
    for _ in range(n):
        base, slope = rng.uniform(40, 200, 3), rng.uniform(-60, 60, (3, 2))
        phase = rng.uniform(0, 2 * np.pi)
        img = [base[c] + slope[c, 0] * xx + slope[c, 1] * yy + 15 * np.sin(6 * xx + phase) for c in range(3)]
        out.append(np.stack(img, -1))
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def add_noise(images: np.ndarray, sigma: float, seed: int = 1) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(0, sigma, images.shape)
    return np.clip(np.round(images + noise), 0, 255).astype(np.uint8)


# --- pyramid --------------------------------------------------------------------------------

def test_laplacian_pyramid_matches_progan_reference():
    x = np.random.default_rng(0).uniform(0, 255, (2, 3, 32, 32)).astype(np.float32)
    ours = swd.laplacian_pyramid(x, 3)
    ref = _ref_laplacian_pyramid(x, 3)
    assert [p.shape for p in ours] == [(2, 3, 32, 32), (2, 3, 16, 16), (2, 3, 8, 8)]
    for a, b in zip(ours, ref):
        np.testing.assert_allclose(a, b, atol=1e-3)


def test_laplacian_pyramid_collapses_to_input():
    x = np.random.default_rng(1).uniform(0, 255, (1, 3, 64, 64)).astype(np.float32)
    pyramid = swd.laplacian_pyramid(x, 3)
    recon = pyramid[-1]
    for band in reversed(pyramid[:-1]):
        recon = band + swd.pyr_up(recon)
    np.testing.assert_allclose(recon, x, atol=1e-3)
    assert np.abs(pyramid[0]).mean() < np.abs(x - x.mean()).mean()  # band-pass, not a copy


# --- 1-D core -------------------------------------------------------------------------------

def test_descriptor_swd_ignores_order_and_measures_shift():
    rng = np.random.default_rng(2)
    d = 20
    a = rng.standard_normal((500, d)).astype(np.float32)
    assert swd.sliced_wasserstein_descriptors(a, a[rng.permutation(500)]) == pytest.approx(0.0, abs=1e-6)
    # Shifting every sample by c along axis 0 moves each projection by c * u_0, so the distance is
    # c * E|u_0| for u uniform on the sphere: Gamma(d/2) / (sqrt(pi) Gamma((d+1)/2)).
    c = 2.0
    shifted = a.copy()
    shifted[:, 0] += c
    expected = c * math.exp(gammaln(d / 2) - gammaln((d + 1) / 2)) / math.sqrt(math.pi)
    got = swd.sliced_wasserstein_descriptors(a, shifted, num_projections=256, num_repeats=4)
    assert got == pytest.approx(expected, rel=0.1)


# --- images ---------------------------------------------------------------------------------

def test_levels_for_64px_and_min_resolution():
    imgs = smooth_images(4, 64)
    result = swd.sliced_wasserstein(imgs, imgs, **FAST)
    assert list(result["levels"]) == [64, 32, 16]
    assert result["mean"] == pytest.approx(np.mean(list(result["levels"].values())))
    assert list(swd.sliced_wasserstein(imgs, imgs, min_resolution=32, **FAST)["levels"]) == [64, 32]


def test_identical_sets_give_zero():
    imgs = smooth_images(6, 32)
    result = swd.sliced_wasserstein(imgs, imgs.copy(), **FAST)
    assert all(abs(v) < 1e-6 for v in result["levels"].values())


def textured_images(n: int, size: int, seed: int = 0) -> np.ndarray:
    """Smooth gradients plus a spatially correlated texture, so every pyramid band has content."""
    rng = np.random.default_rng(seed)
    tex = scipy.ndimage.gaussian_filter(rng.standard_normal((n, size, size, 3)), (0, 1.0, 1.0, 0))
    out = smooth_images(n, size, seed).astype(float) + tex / tex.std() * 25
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def test_swd_grows_with_noise():
    clean = textured_images(12, 64, seed=3)
    values = [swd.sliced_wasserstein(clean, add_noise(clean, s), **FAST) for s in (0, 5, 20, 60)]
    means = [v["mean"] for v in values]
    assert means[0] == 0.0
    assert means == sorted(means) and means[1] > 1.0 and means[3] > 2 * means[1]
    for res in (64, 32, 16):
        per_level = [v["levels"][res] for v in values]
        assert per_level == sorted(per_level), res


def test_swd_ignores_per_set_contrast_and_brightness():
    # ProGAN normalises each descriptor set by its own per-channel mean and std, so an affine
    # intensity change of a whole set (exact here: even values halved, plus 50) leaves SWD ~0.
    a = (textured_images(6, 32, seed=8) // 2) * 2
    b = a // 2 + 50
    result = swd.sliced_wasserstein(a, b, **FAST)
    assert all(v < 1e-2 for v in result["levels"].values())
    assert swd.sliced_wasserstein(a, add_noise(a, 20), **FAST)["mean"] > 10.0


def test_swd_symmetric_with_unequal_sizes():
    a, b = smooth_images(5, 32, seed=5), add_noise(smooth_images(7, 32, seed=6), 20)
    ab, ba = swd.sliced_wasserstein(a, b, **FAST), swd.sliced_wasserstein(b, a, **FAST)
    assert ab["mean"] > 1.0
    for res in ab["levels"]:
        assert ab["levels"][res] == pytest.approx(ba["levels"][res], rel=1e-5)


def test_real_floor_deterministic_and_below_noise():
    imgs = smooth_images(16, 32, seed=7)
    floor = swd.swd_real_floor(imgs, **FAST)
    assert floor == swd.swd_real_floor(imgs, **FAST)
    assert list(floor["levels"]) == [32, 16]
    noisy = swd.sliced_wasserstein(imgs[:8], add_noise(imgs[8:], 40), **FAST)
    assert 0 < floor["mean"] < noisy["mean"]


@pytest.mark.parametrize("shape,dtype", [((2, 32, 16, 3), np.uint8), ((2, 24, 24, 3), np.uint8),
                                         ((2, 8, 8, 3), np.uint8), ((2, 32, 32, 3), np.float32)])
def test_rejects_bad_images(shape, dtype):
    bad = np.zeros(shape, dtype)
    with pytest.raises(ValueError):
        swd.sliced_wasserstein(bad, bad, **FAST)
