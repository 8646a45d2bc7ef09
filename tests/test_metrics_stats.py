"""Feature statistics: running moments, FID against the scipy/pytorch-fid formula, KID against the
StyleGAN2-ADA loop and a naive kernel sum, MiFID, nearest neighbours and Spearman vs scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import linalg
from scipy.spatial.distance import cdist
from scipy.stats import spearmanr

from monetgan.metrics import stats


def correlated(n: int, d: int, seed: int, shift: float = 0.0) -> np.ndarray:
    """Features with a non-trivial covariance (random mixing) and a non-zero mean."""
    rng = np.random.default_rng(seed)
    mix = rng.standard_normal((d, d)) / math.sqrt(d)
    return rng.standard_normal((n, d)) @ mix + rng.uniform(0, 1, d) + shift


def pytorch_fid_reference(mu1, sigma1, mu2, sigma2, eps=1e-6):
    """pytorch-fid's calculate_frechet_distance (scipy sqrtm of the non-symmetric product)."""
    diff = mu1 - mu2
    covmean = linalg.sqrtm(sigma1.dot(sigma2))
    if not np.isfinite(covmean).all():
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
    covmean = np.real(covmean)
    return diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean)


# --- FeatureStats ---------------------------------------------------------------------------

def test_feature_stats_batches_match_numpy_moments():
    x = correlated(103, 16, seed=0)
    s = stats.FeatureStats()
    s.update(torch.from_numpy(x[:40]).float())  # float32 tensor
    s.update(x[40:41])  # a single row
    s.update(x[41:].astype(np.float64))
    assert s.count == 103
    # float32 rounding of the first batch is the only difference from the float64 reference
    np.testing.assert_allclose(s.mean(), x.mean(0), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(s.covariance(), np.cov(x, rowvar=False), rtol=1e-5, atol=1e-6)
    assert s.covariance().dtype == np.float64


def test_feature_stats_unbiased_covariance_exact_in_float64():
    x = correlated(7, 5, seed=1)
    s = stats.FeatureStats()
    s.update(x)
    np.testing.assert_allclose(s.covariance(), np.cov(x, rowvar=False, ddof=1), rtol=1e-12, atol=1e-12)
    assert not np.allclose(s.covariance(), np.cov(x, rowvar=False, ddof=0))  # N, not N-1, would fail


def test_feature_stats_dict_round_trip_and_continue():
    x = correlated(30, 8, seed=2)
    s = stats.FeatureStats()
    s.update(x[:20])
    d = s.to_dict()
    assert all(isinstance(v, np.ndarray) for v in d.values())
    restored = stats.FeatureStats.from_dict({k: v.copy() for k, v in d.items()})
    restored.update(x[20:])
    s.update(x[20:])
    assert restored.count == 30
    np.testing.assert_array_equal(restored.mean(), s.mean())
    np.testing.assert_array_equal(restored.covariance(), s.covariance())


def test_feature_stats_rejects_bad_input():
    s = stats.FeatureStats()
    with pytest.raises(ValueError):
        s.mean()
    s.update(np.ones((1, 4)))
    with pytest.raises(ValueError):
        s.covariance()  # one sample
    with pytest.raises(ValueError):
        s.update(np.ones((2, 5)))
    with pytest.raises(ValueError):
        s.update(np.ones(4))


# --- FID ------------------------------------------------------------------------------------

def _moments(x):
    return x.mean(0), np.cov(x, rowvar=False)


@pytest.mark.parametrize("n,d", [(200, 64), (50, 128)])  # full-rank, and singular (N < D)
def test_frechet_distance_matches_scipy_sqrtm(n, d):
    mu1, s1 = _moments(correlated(n, d, seed=3))
    mu2, s2 = _moments(correlated(n, d, seed=4, shift=0.05))
    ours = stats.frechet_distance(mu1, s1, mu2, s2)
    ref = pytorch_fid_reference(mu1, s1, mu2, s2)
    assert ours == pytest.approx(ref, rel=1e-3)


def test_frechet_distance_closed_form_for_diagonal_gaussians():
    rng = np.random.default_rng(5)
    a, b = rng.uniform(0.1, 2.0, 10), rng.uniform(0.1, 2.0, 10)
    mu1, mu2 = rng.standard_normal(10), rng.standard_normal(10)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    got = stats.frechet_distance(mu1, np.diag(a), mu2, np.diag(b))
    assert got == pytest.approx(expected, rel=1e-10)


def test_frechet_terms_split_a_shift_from_a_change_of_spread():
    # Diagonal Gaussians: the mean term is ||mu1 - mu2||^2 alone and the covariance term
    # sum (sqrt(a) - sqrt(b))^2 alone; a pure shift leaves the second at 0, a pure change of
    # spread the first.
    rng = np.random.default_rng(9)
    a, b = rng.uniform(0.1, 2.0, 10), rng.uniform(0.1, 2.0, 10)
    mu1, mu2 = rng.standard_normal(10), rng.standard_normal(10)
    mean_term, cov_term = stats.frechet_terms(mu1, np.diag(a), mu2, np.diag(b))
    assert mean_term == pytest.approx(np.sum((mu1 - mu2) ** 2), rel=1e-12)
    assert cov_term == pytest.approx(np.sum((np.sqrt(a) - np.sqrt(b)) ** 2), rel=1e-10)
    shifted = stats.frechet_terms(mu1, np.diag(a), mu2, np.diag(a))
    assert shifted[1] == pytest.approx(0.0, abs=1e-10) and shifted[0] > 1
    spread = stats.frechet_terms(mu1, np.diag(a), mu1, np.diag(b))
    assert spread[0] == 0.0 and spread[1] == pytest.approx(cov_term, rel=1e-10)
    x, y = correlated(120, 12, seed=10), correlated(90, 12, seed=11, shift=0.3)
    assert sum(stats.fid_terms(x, y)) == pytest.approx(stats.fid_from_features(x, y), rel=1e-12)


def test_frechet_distance_of_identical_gaussians_is_zero():
    mu, s = _moments(correlated(50, 128, seed=6))  # singular: clamping must keep this ~0
    assert abs(stats.frechet_distance(mu, s, mu, s)) < 1e-8 * np.trace(s)


def test_fid_from_features_symmetric_and_consistent():
    a, b = correlated(120, 12, seed=7), correlated(90, 12, seed=8, shift=0.3)
    fab, fba = stats.fid_from_features(a, b), stats.fid_from_features(torch.from_numpy(b), a)
    assert fab == pytest.approx(fba, rel=1e-9)
    assert fab == pytest.approx(pytorch_fid_reference(*_moments(a), *_moments(b)), rel=1e-6)


def test_fid_infinity_removes_the_small_sample_bias():
    # Fakes N(0, I) and reals N(0.3, I) in 64 dimensions: the true FID is 64 * 0.09 = 5.76. The reals
    # are many, so what is left is the fakes' finite-sample bias: FID at 400 fakes reads about 2.7
    # high on every seed, and the extrapolation to 1/N = 0 must take most of it away on average.
    dim, truth = 64, 64 * 0.09
    biases, errors = [], []
    for seed in range(6):
        rng = np.random.default_rng(seed)
        fake, real = rng.normal(size=(400, dim)), rng.normal(loc=0.3, size=(20000, dim))
        plain = stats.fid_from_features(fake, real)
        estimate, curve = stats.fid_infinity(fake, real, seed=seed)
        biases.append(plain - truth)
        errors.append(abs(estimate - truth))
        sizes = [size for size, _ in curve]
        assert sizes == sorted(sizes) and sizes[0] == 120 and sizes[-1] == 400 and len(sizes) == 8
        assert curve[-1][1] == pytest.approx(plain, rel=1e-9)  # the largest subset is every fake
        assert curve[0][1] > curve[-1][1]  # fewer fakes, higher FID
    assert min(biases) > 2.0  # the bias is there to remove
    assert np.mean(errors) < 0.35 * np.mean(biases)


def test_fid_infinity_needs_two_sizes():
    with pytest.raises(ValueError, match="at least 2 sizes"):
        stats.fid_infinity(np.zeros((2, 4)), np.zeros((10, 4)))


# --- KID ------------------------------------------------------------------------------------

def stylegan2_ada_kid(fake, real, num_subsets, max_subset_size, rng):
    """StyleGAN2-ADA metrics/kernel_inception_distance.py, with the rng passed in."""
    n = real.shape[1]
    m = min(min(real.shape[0], fake.shape[0]), max_subset_size)
    t = 0
    for _ in range(num_subsets):
        x = fake[rng.choice(fake.shape[0], m, replace=False)]
        y = real[rng.choice(real.shape[0], m, replace=False)]
        a = (x @ x.T / n + 1) ** 3 + (y @ y.T / n + 1) ** 3
        b = (x @ y.T / n + 1) ** 3
        t += (a.sum() - np.diag(a).sum()) / (m - 1) - b.sum() * 2 / m
    return t / num_subsets / m


def test_kid_matches_stylegan2_ada():
    fake, real = correlated(60, 16, seed=9, shift=0.2), correlated(45, 16, seed=10)
    mean, std = stats.kernel_inception_distance(fake, real, num_subsets=20, subset_size=30, seed=3)
    ref = stylegan2_ada_kid(fake, real, 20, 30, np.random.default_rng(3))
    assert mean == pytest.approx(ref, rel=1e-10)
    assert std > 0


def test_kid_is_the_unbiased_mmd_with_cubic_kernel():
    rng = np.random.default_rng(11)
    x, y = rng.standard_normal((6, 3)), rng.standard_normal((6, 3)) + 0.5
    k = lambda u, v: (u @ v / 3 + 1) ** 3  # noqa: E731
    m = 6
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    # the subset is the whole set (m = n), in some order: MMD^2 does not depend on the order
    mean, std = stats.kernel_inception_distance(x, y, num_subsets=3, subset_size=100)
    assert mean == pytest.approx(xx + yy - 2 * xy, rel=1e-10)
    assert std == pytest.approx(0.0, abs=1e-12)


def test_kid_near_zero_for_same_distribution_positive_for_shift():
    same, std_same = stats.kernel_inception_distance(
        correlated(200, 8, seed=12), correlated(200, 8, seed=12)[::-1].copy(), num_subsets=10, subset_size=100
    )
    rng = np.random.default_rng(13)
    base = rng.standard_normal((200, 8))
    shifted, _ = stats.kernel_inception_distance(base + 1.0, rng.standard_normal((200, 8)), num_subsets=10, subset_size=100)
    assert abs(same) < 3 * std_same + 1e-3
    assert shifted > 10 * (abs(same) + 1e-3)


def test_kid_deterministic_given_seed():
    a, b = correlated(40, 4, seed=14), correlated(40, 4, seed=15)
    r1 = stats.kernel_inception_distance(a, b, num_subsets=5, subset_size=20, seed=1)
    r2 = stats.kernel_inception_distance(a, b, num_subsets=5, subset_size=20, seed=1)
    r3 = stats.kernel_inception_distance(a, b, num_subsets=5, subset_size=20, seed=2)
    assert r1 == r2 and r1 != r3


# --- memorization ---------------------------------------------------------------------------

def test_min_cosine_distances_per_fake_matches_brute_force():
    rng = np.random.default_rng(16)
    fake, train = rng.uniform(0, 1, (13, 10)), rng.uniform(0, 1, (7, 10))
    got = stats.min_cosine_distances(fake, train)
    assert got.shape == (13,)  # one per generated vector, not per training vector
    np.testing.assert_allclose(got, cdist(fake, train, "cosine").min(axis=1), rtol=1e-10, atol=1e-12)
    dist, idx = stats.nearest_cosine(fake, train)
    np.testing.assert_array_equal(idx, cdist(fake, train, "cosine").argmin(axis=1))
    np.testing.assert_array_equal(dist, got)


def test_nearest_cosine_finds_scaled_copy():
    rng = np.random.default_rng(17)
    train = rng.uniform(0, 1, (20, 6))
    fake = np.stack([train[4] * 3.0, rng.uniform(0, 1, 6)])
    dist, idx = stats.nearest_cosine(fake, train)
    assert idx[0] == 4 and dist[0] == pytest.approx(0.0, abs=1e-12)
    assert dist[1] > 1e-4


def test_mifid_thresholding():
    rng = np.random.default_rng(18)
    train = rng.uniform(0, 1, (30, 8))
    far = rng.uniform(0, 1, (10, 8)) * np.array([5, 0, 0, 0, 0, 0, 0, 1])  # unlike the train vectors
    score, d = stats.mifid(50.0, far, train, epsilon=0.1)
    assert d >= 0.1 and score == 50.0  # not memorizing: MiFID = FID
    near = train[:10] + rng.normal(0, 0.01, (10, 8))
    score, d = stats.mifid(50.0, near, train, epsilon=0.1)
    assert 0 < d < 0.1 and score == pytest.approx(50.0 / d)  # penalised by 1/d
    score, d = stats.mifid(50.0, train, train)  # exact copies
    assert d == pytest.approx(0.0, abs=1e-12) and math.isfinite(score) and score >= 50.0 / 1e-12


def test_nearest_pixel_l2_matches_brute_force_and_finds_copies():
    rng = np.random.default_rng(19)
    train = rng.integers(0, 256, (9, 8, 8, 3), dtype=np.uint8)
    fake = rng.integers(0, 256, (5, 8, 8, 3), dtype=np.uint8)
    fake[1] = train[6]
    fake[3] = train[2]
    fake[3, 0, 0, 0] ^= 1  # one value off by one
    brute = np.sqrt((((fake[:, None].astype(float) - train[None].astype(float)) / 255.0) ** 2).reshape(5, 9, -1).mean(-1))
    dist, idx = stats.nearest_pixel_l2(fake, train)
    np.testing.assert_array_equal(idx, brute.argmin(1))
    np.testing.assert_allclose(dist, brute.min(1), rtol=1e-12)
    assert dist[1] == 0.0 and idx[1] == 6
    assert dist[3] == pytest.approx(math.sqrt((1 / 255) ** 2 / (8 * 8 * 3)), rel=1e-9) and idx[3] == 2


# --- Spearman -------------------------------------------------------------------------------

def test_spearman_matches_scipy_with_ties():
    rng = np.random.default_rng(20)
    x = rng.integers(0, 5, 40).astype(float)  # many ties
    y = x + rng.normal(0, 2, 40)
    y[:6] = 1.0
    assert stats.spearman(x, y) == pytest.approx(spearmanr(x, y).statistic, rel=1e-12)


def test_spearman_rank_based_and_degenerate_cases():
    x = np.arange(10.0)
    assert stats.spearman(x, np.exp(x)) == pytest.approx(1.0)  # monotone, non-linear
    assert stats.spearman(x, -x**3) == pytest.approx(-1.0)
    assert math.isnan(stats.spearman([1.0, 2.0], [2.0, 1.0]))
    assert math.isnan(stats.spearman([1.0, 1.0, 1.0, 1.0], [1.0, 2.0, 3.0, 4.0]))


# --- precision and recall (Kynkaanniemi et al. 2019) ----------------------------------------

def brute_precision_recall(fake: np.ndarray, real: np.ndarray, k: int) -> tuple[float, float]:
    """The definition read literally: sorted distances, the k-th neighbour's radius, any ball."""
    def inside(points, support):
        radii = np.sort(cdist(support, support), axis=1)[:, k]
        return (cdist(points, support) <= radii[None]).any(1).mean()
    return inside(fake, real), inside(real, fake)


def test_precision_recall_matches_the_definition_and_is_one_for_the_set_itself():
    rng = np.random.default_rng(21)
    real, fake = rng.normal(size=(60, 5)), rng.normal(0.5, 1.2, size=(60, 5))
    pr = stats.precision_recall(fake, real, k=3)
    assert (pr["precision"], pr["recall"]) == pytest.approx(brute_precision_recall(fake, real, 3), abs=1e-12)
    assert pr["precision_std"] == 0.0 and pr["size"] == 60  # equal sizes: one draw
    same = stats.precision_recall(real, real)
    assert same["precision"] == 1.0 and same["recall"] == 1.0


def test_precision_and_recall_tell_a_collapsed_generator_from_a_scattered_one():
    rng = np.random.default_rng(22)
    real = rng.normal(size=(200, 4))
    collapsed = real[:5].repeat(40, 0) + rng.normal(0, 0.01, size=(200, 4))  # five paintings, over and over
    scattered = rng.normal(0, 4.0, size=(200, 4))                           # everywhere, mostly off the paintings
    far = real + 100.0
    c, s, f = (stats.precision_recall(x, real) for x in (collapsed, scattered, far))
    assert c["precision"] > 0.95 and c["recall"] < 0.15
    assert s["recall"] > 0.8 and s["precision"] < 0.3
    assert f["precision"] == 0.0 and f["recall"] == 0.0


def test_precision_recall_draws_the_larger_set_down_to_the_smaller_and_is_seeded():
    rng = np.random.default_rng(23)
    real, fake = rng.normal(size=(40, 3)), rng.normal(size=(300, 3))
    a, b = stats.precision_recall(fake, real, seed=1), stats.precision_recall(fake, real, seed=1)
    assert a == b and a["size"] == 40 and a["precision_std"] > 0  # ten different draws of 40 fakes
    # Judged whole, 300 fakes would cover the 40 reals with room to spare: the draw keeps recall honest.
    assert brute_precision_recall(fake, real, 3)[1] > a["recall"]
    with pytest.raises(ValueError, match="more than 3"):
        stats.precision_recall(fake[:3], real)
