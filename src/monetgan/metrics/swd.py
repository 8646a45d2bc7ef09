"""Sliced Wasserstein distance between Laplacian-pyramid patch distributions.

Karras et al. 2018, "Progressive Growing of GANs for Improved Quality, Stability, and Variation"
(ProGAN), section 5 and their metrics/sliced_wasserstein.py. Each pyramid level's 7x7x3 patches
are compared between the two image sets, so fine levels measure texture/noise statistics and the
coarse residual measures colour layout. Pure numpy (tensors accepted where noted); no I/O.
"""

from __future__ import annotations

import numpy as np
import torch

# Images per pyramid batch: bounds peak memory (about 40 MB of float32 per 16 images at 256 px).
_CHUNK = 16


def pyr_down(x: np.ndarray) -> np.ndarray:
    """Blur (N, C, H, W) float32 images with the 5x5 binomial kernel ([1,4,6,4,1]/16 per axis) and
    keep every second pixel: ProGAN's pyr_down (cv2.pyrDown), with scipy 'mirror' borders, i.e.
    numpy 'reflect' (edge sample not repeated).

    Shifted-slice sums, not a convolution routine: 5-tap single-channel filters are memory-bound,
    and plain numpy slicing is several times faster than torch conv2d on CPU here.
    """
    h, w = x.shape[-2:]
    xp = np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2)), mode="reflect")
    t = [xp[..., j:j + w:2] for j in range(5)]
    y = (t[0] + t[4]) + 4.0 * (t[1] + t[3]) + 6.0 * t[2]
    t = [y[..., j:j + h:2, :] for j in range(5)]
    return ((t[0] + t[4]) + 4.0 * (t[1] + t[3]) + 6.0 * t[2]) * np.float32(1.0 / 256.0)


def _up_last_axis(x: np.ndarray) -> np.ndarray:
    # Polyphase form of "insert zeros, mirror-pad by 2, filter with [1,4,6,4,1]/8": even outputs
    # are (x[i-1] + 6x[i] + x[i+1]) / 8, odd ones (x[i] + x[i+1]) / 2. After zero insertion the
    # mirror border reads x[1] on the left but repeats x[-1] on the right.
    xe = np.concatenate([x[..., 1:2], x, x[..., -1:]], axis=-1)
    out = np.empty(x.shape[:-1] + (2 * x.shape[-1],), dtype=x.dtype)
    out[..., 0::2] = (xe[..., :-2] + xe[..., 2:] + 6.0 * xe[..., 1:-1]) * np.float32(0.125)
    out[..., 1::2] = (xe[..., 1:-1] + xe[..., 2:]) * np.float32(0.5)
    return out


def pyr_up(x: np.ndarray) -> np.ndarray:
    """Upsample (N, C, H, W) by 2: zero insertion then the binomial kernel times 4 (cv2.pyrUp, as
    ProGAN's pyr_up with scipy 'mirror' borders), computed without materialising the zeros."""
    y = _up_last_axis(x)
    return np.swapaxes(_up_last_axis(np.swapaxes(y, -1, -2)), -1, -2)


def laplacian_pyramid(images: np.ndarray, num_levels: int) -> list[np.ndarray]:
    """Laplacian pyramid (Burt & Adelson 1983) of (N, C, H, W) images as float32, finest first.

    Levels 0..num_levels-2 are band-pass (G_i - up(G_{i+1})); the last is the low-pass Gaussian
    level itself, as in ProGAN's generate_laplacian_pyramid. Collapsing it reconstructs the input.
    """
    pyramid = [np.array(images, dtype=np.float32)]  # a copy: the caller's array is never touched
    for _ in range(1, num_levels):
        pyramid.append(pyr_down(pyramid[-1]))
        pyramid[-2] -= pyr_up(pyramid[-1])
    return pyramid


def _patch_corners(seed: int, level: int, n: int, per_image: int, size: int, patch: int) -> np.ndarray:
    # One generator per level, independent of the set, so two identical sets get identical
    # patches (SWD exactly 0) and the number of levels does not reshuffle the others.
    rng = np.random.default_rng([seed, 0, level])
    # Top-left corners of patches lying fully inside the image (ProGAN: centre in [H, S - H)).
    return rng.integers(0, size - patch + 1, size=(n, per_image, 2))


def _extract(level: np.ndarray, corners: np.ndarray, patch: int) -> np.ndarray:
    n, c = level.shape[:2]
    off = np.arange(patch)
    ys = corners[..., 0, None] + off  # (n, per, patch)
    xs = corners[..., 1, None] + off
    img = np.arange(n)[:, None, None, None, None]
    ch = np.arange(c)[None, None, :, None, None]
    out = level[img, ch, ys[:, :, None, :, None], xs[:, :, None, None, :]]  # (n, per, c, p, p)
    return out.reshape(-1, c, patch, patch)


def _descriptors(
    images: np.ndarray, resolutions: list[int], patches_per_image: int, patch_size: int, seed: int
) -> list[np.ndarray]:
    """Raw (unnormalised) patch descriptors per level, each (N * patches_per_image, 3, p, p)."""
    n = images.shape[0]
    corners = [
        _patch_corners(seed, lvl, n, patches_per_image, res, patch_size) for lvl, res in enumerate(resolutions)
    ]
    out: list[list[np.ndarray]] = [[] for _ in resolutions]
    for start in range(0, n, _CHUNK):
        # ProGAN feeds raw uint8 values as float; the per-set normalisation removes the scale.
        batch = images[start:start + _CHUNK].transpose(0, 3, 1, 2)
        for lvl, band in enumerate(laplacian_pyramid(batch, len(resolutions))):
            out[lvl].append(_extract(band, corners[lvl][start:start + _CHUNK], patch_size))
    return [np.concatenate(parts) for parts in out]


def _normalise(desc: np.ndarray) -> np.ndarray:
    """ProGAN's finalize_descriptors: per colour channel, subtract the set's own mean and divide by
    its own std over (patches, rows, cols), so SWD compares shapes, not overall contrast."""
    mean = desc.mean(axis=(0, 2, 3), keepdims=True, dtype=np.float64)
    std = desc.std(axis=(0, 2, 3), keepdims=True, dtype=np.float64)
    std = np.where(std > 0, std, 1.0)  # a constant channel stays all-zero instead of NaN
    return ((desc - mean) / std).astype(np.float32).reshape(desc.shape[0], -1)


def _as_float32(x: torch.Tensor | np.ndarray) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float32)


def sliced_wasserstein_descriptors(
    desc_a: torch.Tensor | np.ndarray,
    desc_b: torch.Tensor | np.ndarray,
    *,
    num_projections: int = 128,
    num_repeats: int = 4,
    seed: int = 0,
    stream: int = 0,
) -> float:
    """Sliced Wasserstein-1 distance between two (M, D) descriptor sets (Rabin et al. 2011;
    ProGAN's sliced_wasserstein): mean over random unit directions of the 1-D W1 distance of the
    projections, i.e. the mean |difference| of the sorted projected values; averaged over repeats.

    Sets of different sizes are compared after subsampling the larger one (without replacement,
    deterministically from seed) to the smaller count; the result is symmetric in (a, b).
    stream is a second key for the generator, so each pyramid level gets its own directions.
    """
    a = _as_float32(desc_a)
    b = _as_float32(desc_b)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"need (M, D) descriptor sets of equal D, got {a.shape} and {b.shape}")
    rng = np.random.default_rng([seed, 1, stream])
    m = min(a.shape[0], b.shape[0])
    if a.shape[0] > m:
        a = a[np.sort(rng.choice(a.shape[0], m, replace=False))]
    elif b.shape[0] > m:
        b = b[np.sort(rng.choice(b.shape[0], m, replace=False))]
    results = []
    for _ in range(num_repeats):
        dirs = rng.standard_normal((a.shape[1], num_projections))
        dirs /= np.sqrt((dirs * dirs).sum(axis=0, keepdims=True))
        d = np.ascontiguousarray(dirs.T, dtype=np.float32)
        # (directions, samples), contiguous along the sorted axis; numpy's sort is ~10x faster
        # than torch.sort on CPU here.
        proj_a = np.sort(d @ a.T, axis=1)
        proj_b = np.sort(d @ b.T, axis=1)
        results.append(float(np.abs(proj_a - proj_b).mean(dtype=np.float64)))
    return float(np.mean(results))


def _check_images(images: np.ndarray, name: str, min_resolution: int) -> None:
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise ValueError(f"{name} must be (N, H, W, 3) uint8, got {images.shape} {images.dtype}")
    h, w = images.shape[1:3]
    if h != w or h & (h - 1) or h < min_resolution:
        raise ValueError(f"{name}: need square power-of-two images >= {min_resolution} px, got {h}x{w}")
    if images.shape[0] < 1:
        raise ValueError(f"{name} is empty")


def sliced_wasserstein(
    images_a: np.ndarray,
    images_b: np.ndarray,
    *,
    patches_per_image: int = 128,
    patch_size: int = 7,
    num_projections: int = 128,
    num_repeats: int = 4,
    min_resolution: int = 16,
    seed: int = 0,
) -> dict:
    """SWD between two sets of (N, H, W, 3) uint8 images, per Laplacian-pyramid level (ProGAN).

    Levels run from H down to min_resolution by halving (the last is the low-pass residual).
    Per level: patches_per_image random patch_size^2 x 3 patches per image (same positions for
    both sets, from seed), each set normalised per channel by its own mean/std, then sliced W1
    over num_projections random directions x num_repeats. Values are x1e3, as ProGAN reports.
    Returns {"levels": {resolution: swd}, "mean": mean over levels}. Identical inputs give 0.
    """
    images_a, images_b = np.asarray(images_a), np.asarray(images_b)
    if min_resolution & (min_resolution - 1) or min_resolution <= patch_size:
        raise ValueError("min_resolution must be a power of two larger than patch_size")
    _check_images(images_a, "images_a", min_resolution)
    _check_images(images_b, "images_b", min_resolution)
    if images_a.shape[1:] != images_b.shape[1:]:
        raise ValueError("image sets differ in size")
    resolutions = []
    res = images_a.shape[1]
    while res >= min_resolution:
        resolutions.append(res)
        res //= 2
    desc_a = _descriptors(images_a, resolutions, patches_per_image, patch_size, seed)
    desc_b = _descriptors(images_b, resolutions, patches_per_image, patch_size, seed)
    levels = {}
    for lvl, res in enumerate(resolutions):
        value = sliced_wasserstein_descriptors(
            _normalise(desc_a[lvl]), _normalise(desc_b[lvl]),
            num_projections=num_projections, num_repeats=num_repeats, seed=seed, stream=lvl,
        )
        levels[res] = value * 1e3
    return {"levels": levels, "mean": float(np.mean(list(levels.values())))}


def swd_real_floor(images: np.ndarray, **kw) -> dict:
    """Real-vs-real noise floor: SWD between two disjoint random halves of one set, N // 2 images
    each (the ProGAN-style reference). The split is a permutation drawn from kw's seed (default 0);
    kw goes to sliced_wasserstein. Generated-vs-real SWD near this value is indistinguishable at
    this N (compare at equal set sizes: the floor falls as N grows)."""
    images = np.asarray(images)
    if images.shape[0] < 2:
        raise ValueError("need at least 2 images to split")
    perm = np.random.default_rng([kw.get("seed", 0), 2]).permutation(images.shape[0])
    half = images.shape[0] // 2
    return sliced_wasserstein(images[np.sort(perm[:half])], images[np.sort(perm[half:2 * half])], **kw)
