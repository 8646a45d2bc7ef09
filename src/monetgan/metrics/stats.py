"""Feature-space statistics for sample-quality metrics: FID, KID, MiFID, precision and recall, and
nearest-neighbour checks.

Pure numpy/torch math on feature vectors or uint8 images; no I/O, no network. The feature extractor
(Inception pool3) lives elsewhere, so everything here takes plain (N, D) arrays.
"""

from __future__ import annotations

import math

import numpy as np
import torch

# Bound on the elements of one block of a pairwise matrix (~64 MiB in float64).
_BLOCK_ELEMENTS = 8_000_000


def _as_float64_2d(feats: torch.Tensor | np.ndarray, name: str = "feats") -> np.ndarray:
    if isinstance(feats, torch.Tensor):
        feats = feats.detach().cpu().to(torch.float64).numpy()
    arr = np.asarray(feats, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be (N, D), got shape {arr.shape}")
    return arr


class FeatureStats:
    """Running mean and covariance of feature vectors, accumulated in float64.

    Keeps only the count, the sum and the sum of outer products (as torchmetrics' FID does), so
    memory is O(D^2) however many images are seen, and batches can be added in any order.
    The moments feed the Frechet distance of Heusel et al. 2017 ("GANs trained by a two
    time-scale update rule converge to a local Nash equilibrium").
    """

    def __init__(self, dim: int | None = None) -> None:
        self._count = 0
        self._sum: np.ndarray | None = None
        self._outer: np.ndarray | None = None
        if dim is not None:
            self._sum = np.zeros(dim, dtype=np.float64)
            self._outer = np.zeros((dim, dim), dtype=np.float64)

    @property
    def count(self) -> int:
        """Number of feature vectors seen."""
        return self._count

    @property
    def dim(self) -> int | None:
        """Feature dimension, or None before the first update when it was not given."""
        return None if self._sum is None else int(self._sum.shape[0])

    def update(self, feats: torch.Tensor | np.ndarray) -> None:
        """Add a batch of (N, D) float32/float64 features."""
        x = _as_float64_2d(feats)
        if self._sum is None:
            self._sum = np.zeros(x.shape[1], dtype=np.float64)
            self._outer = np.zeros((x.shape[1], x.shape[1]), dtype=np.float64)
        if x.shape[1] != self._sum.shape[0]:
            raise ValueError(f"feature dimension {x.shape[1]} != {self._sum.shape[0]}")
        if not np.isfinite(x).all():
            raise ValueError("features contain NaN or inf")
        self._count += x.shape[0]
        self._sum += x.sum(axis=0)
        self._outer += x.T @ x

    def mean(self) -> np.ndarray:
        """Sample mean, shape (D,)."""
        if self._count < 1 or self._sum is None:
            raise ValueError("no features seen")
        return self._sum / self._count

    def covariance(self) -> np.ndarray:
        """Unbiased (N - 1) sample covariance, shape (D, D), as np.cov(rowvar=False)."""
        if self._count < 2 or self._sum is None or self._outer is None:
            raise ValueError("covariance needs at least 2 feature vectors")
        mu = self._sum / self._count
        cov = (self._outer - self._count * np.outer(mu, mu)) / (self._count - 1)
        return (cov + cov.T) / 2  # exact symmetry for eigh downstream

    def to_dict(self) -> dict[str, np.ndarray]:
        """Plain numpy arrays (count as a shape-(1,) int64 array), e.g. for safetensors or npz."""
        if self._sum is None or self._outer is None:
            raise ValueError("no features seen")
        return {
            "count": np.array([self._count], dtype=np.int64),
            "sum": self._sum.copy(),
            "outer_sum": self._outer.copy(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, np.ndarray]) -> FeatureStats:
        """Inverse of to_dict."""
        stats = cls()
        stats._count = int(np.asarray(data["count"]).reshape(-1)[0])
        stats._sum = np.array(data["sum"], dtype=np.float64)
        stats._outer = np.array(data["outer_sum"], dtype=np.float64)
        d = stats._sum.shape
        if stats._sum.ndim != 1 or stats._outer.shape != (d[0], d[0]):
            raise ValueError("inconsistent shapes in FeatureStats dict")
        return stats


def _psd_eigvals(w: np.ndarray) -> np.ndarray:
    """Eigenvalues of a PSD matrix with round-off removed: negatives and values below the
    numerical-rank tolerance (as np.linalg.matrix_rank) become 0. The square root would otherwise
    turn 1e-16 noise into 1e-8 per null direction, which adds up for singular covariances."""
    tol = np.abs(w).max(initial=0.0) * w.shape[0] * np.finfo(np.float64).eps
    return np.where(w > tol, w, 0.0)


def sqrt_psd(mat: np.ndarray) -> np.ndarray:
    """Symmetric square root of a PSD matrix via eigh."""
    w, v = np.linalg.eigh(mat)
    return (v * np.sqrt(_psd_eigvals(w))) @ v.T


def frechet_terms(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> tuple[float, float]:
    """The two terms of the Frechet distance between N(mu1, sigma1) and N(mu2, sigma2) (FID):
    (||mu1 - mu2||^2, Tr(S1 + S2 - 2 (S1 S2)^{1/2})), the means' and the covariances' share.

    A global shift of the fakes (their palette, say) shows in the first; what a generator does
    not paint at all, or paints too uniformly, shows in the second.

    Tr((S1 S2)^{1/2}) is computed as Tr((S1^{1/2} S2 S1^{1/2})^{1/2}): the two matrices are
    similar (same eigenvalues), but the second is symmetric PSD, so two float64 eigh calls
    replace scipy's sqrtm of a non-symmetric product, which is slow and goes complex or
    non-finite when the covariances are singular (fewer samples than dimensions).
    """
    mu1, mu2 = np.asarray(mu1, np.float64).reshape(-1), np.asarray(mu2, np.float64).reshape(-1)
    s1, s2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    d = mu1.shape[0]
    if mu2.shape != (d,) or s1.shape != (d, d) or s2.shape != (d, d):
        raise ValueError("mean/covariance shapes do not agree")
    root1 = sqrt_psd((s1 + s1.T) / 2)
    middle = root1 @ s2 @ root1
    eig = np.linalg.eigvalsh((middle + middle.T) / 2)
    tr_covmean = np.sqrt(_psd_eigvals(eig)).sum()
    diff = mu1 - mu2
    return float(diff @ diff), float(np.trace(s1) + np.trace(s2) - 2.0 * tr_covmean)


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """Frechet distance between N(mu1, sigma1) and N(mu2, sigma2) (Heusel et al. 2017, FID):
    d^2 = ||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^{1/2}) (see `frechet_terms`)."""
    return sum(frechet_terms(mu1, sigma1, mu2, sigma2))


def fid_from_features(a: torch.Tensor | np.ndarray, b: torch.Tensor | np.ndarray) -> float:
    """FID between two (N, D) feature sets (Heusel et al. 2017), unbiased covariances."""
    return sum(fid_terms(a, b))


def fid_terms(a: torch.Tensor | np.ndarray, b: torch.Tensor | np.ndarray) -> tuple[float, float]:
    """FID's (mean term, covariance term) between two (N, D) feature sets; they sum to the FID."""
    sa, sb = FeatureStats(), FeatureStats()
    sa.update(a)
    sb.update(b)
    return frechet_terms(sa.mean(), sa.covariance(), sb.mean(), sb.covariance())


def fid_infinity(fake: torch.Tensor | np.ndarray, real: torch.Tensor | np.ndarray, points: int = 8,
                 smallest: float = 0.3, seed: int = 0) -> tuple[float, list[tuple[int, float]]]:
    """FID extrapolated to infinitely many fakes ("FID_inf", Chong & Forsyth 2020, arXiv 1911.07023).

    FID is biased upwards by an amount close to proportional to 1/N in the number N of generated
    images, so two models judged on different N cannot be compared, and a few hundred or a thousand
    images read several points high. FID is computed on `points` random subsets of the fakes, sized
    evenly in 1/N from `smallest` of them to all of them, a line is fitted to FID against 1/N, and
    its value at 1/N = 0 is returned, with the (N, FID) points. The real set is used whole, so its
    own finite-size bias (300 paintings) stays in the figure.
    """
    fake = _as_float64_2d(fake, "fake")
    n = fake.shape[0]
    low = max(2, int(round(n * smallest)))
    if points < 2 or low >= n:
        raise ValueError(f"fid_infinity needs at least 2 sizes between {low} and {n} fakes")
    sizes = sorted({int(round(1.0 / x)) for x in np.linspace(1.0 / low, 1.0 / n, points)})
    reals = FeatureStats()
    reals.update(real)  # the same for every subset: its moments once
    real_mean, real_cov = reals.mean(), reals.covariance()
    rng = np.random.default_rng(seed)
    curve = []
    for size in sizes:
        subset = FeatureStats()
        subset.update(fake[rng.permutation(n)[:size]])
        curve.append((size, frechet_distance(subset.mean(), subset.covariance(), real_mean, real_cov)))
    _, intercept = np.polyfit([1.0 / size for size, _ in curve], [value for _, value in curve], 1)
    return float(intercept), curve


def kernel_inception_distance(
    feats_fake: torch.Tensor | np.ndarray,
    feats_real: torch.Tensor | np.ndarray,
    num_subsets: int = 100,
    subset_size: int = 1000,
    seed: int = 0,
) -> tuple[float, float]:
    """KID: unbiased MMD^2 with the cubic kernel k(x, y) = (x.y / d + 1)^3 (Binkowski et al. 2018).

    Follows StyleGAN2-ADA's metrics/kernel_inception_distance.py: subsets of size
    m = min(subset_size, n_fake, n_real) drawn without replacement from each set, fake first.
    Returns (mean, std) over the subsets' MMD^2 estimates; std is the population std (ddof=0,
    as torchmetrics). Deterministic given seed.
    """
    x_all, y_all = _as_float64_2d(feats_fake, "feats_fake"), _as_float64_2d(feats_real, "feats_real")
    if x_all.shape[1] != y_all.shape[1]:
        raise ValueError("feature dimensions differ")
    d = x_all.shape[1]
    m = min(subset_size, x_all.shape[0], y_all.shape[0])
    if m < 2:
        raise ValueError("KID needs at least 2 vectors per set")
    rng = np.random.default_rng(seed)
    values = np.empty(num_subsets, dtype=np.float64)
    for i in range(num_subsets):
        x = x_all[rng.choice(x_all.shape[0], m, replace=False)]
        y = y_all[rng.choice(y_all.shape[0], m, replace=False)]
        a = (x @ x.T / d + 1) ** 3 + (y @ y.T / d + 1) ** 3
        b = (x @ y.T / d + 1) ** 3
        # Off-diagonal k(x,x') and k(y,y') terms only: that is what makes the estimate unbiased.
        values[i] = ((a.sum() - np.diag(a).sum()) / (m - 1) - b.sum() * 2 / m) / m
    return float(values.mean()), float(values.std())


def _unit_rows(x: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    # A zero vector has no direction: it gets cosine 0 with everything (distance 1).
    return np.divide(x, norm, out=np.zeros_like(x), where=norm > 0)


def _row_blocks(n_rows: int, n_cols: int):
    """Row ranges whose (rows, n_cols) distance block stays within _BLOCK_ELEMENTS."""
    step = max(1, _BLOCK_ELEMENTS // n_cols)
    return [(start, min(start + step, n_rows)) for start in range(0, n_rows, step)]


def nearest_cosine(
    feats_fake: torch.Tensor | np.ndarray, feats_train: torch.Tensor | np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """For each fake vector, its nearest training vector in cosine distance 1 - cos (float64).

    Returns (distances (n_fake,), indices (n_fake,) into feats_train). Rows are processed in
    blocks so the (n_fake, n_train) similarity matrix is never held at once.
    """
    f = _unit_rows(_as_float64_2d(feats_fake, "feats_fake"))
    t = _unit_rows(_as_float64_2d(feats_train, "feats_train"))
    if f.shape[1] != t.shape[1]:
        raise ValueError("feature dimensions differ")
    if t.shape[0] == 0:
        raise ValueError("no training features")
    dist = np.empty(f.shape[0], dtype=np.float64)
    idx = np.empty(f.shape[0], dtype=np.int64)
    for start, stop in _row_blocks(f.shape[0], t.shape[0]):
        sim = f[start:stop] @ t.T
        best = sim.argmax(axis=1)
        idx[start:stop] = best
        dist[start:stop] = 1.0 - sim[np.arange(sim.shape[0]), best]
    return np.clip(dist, 0.0, 2.0), idx


def min_cosine_distances(
    feats_fake: torch.Tensor | np.ndarray, feats_train: torch.Tensor | np.ndarray
) -> np.ndarray:
    """Per generated vector, min over training vectors of 1 - cos(fake, train), shape (n_fake,).

    This is the direction of Kaggle's MiFID ("I'm Something of a Painter Myself"): the minimum
    is taken per generated image. torchmetrics' MemorizationInformedFrechetInceptionDistance
    takes it the other way, per real image. Kaggle uses 1 - |cos| and drops all-zero rows; for
    non-negative Inception pool3 features |cos| = cos, and all-zero rows do not occur in practice.
    """
    return nearest_cosine(feats_fake, feats_train)[0]


def mifid(
    fid: float,
    feats_fake: torch.Tensor | np.ndarray,
    feats_train: torch.Tensor | np.ndarray,
    epsilon: float = 0.1,
) -> tuple[float, float]:
    """Memorization-informed FID as scored in Kaggle's "I'm Something of a Painter Myself".

    d = mean over generated images of the minimum cosine distance to any training image
    (min_cosine_distances). The memorization distance is thresholded: d_thr = d if d < epsilon,
    otherwise 1, so MiFID = FID for non-memorizing models and FID / d (a penalty) for models
    whose samples sit close to training images (Bai et al. 2021, "On Training Sample
    Memorization: Lessons from Benchmarking Generative Modeling with a Large-scale Competition").
    Returns (mifid, d) with the unthresholded d. d is floored at 1e-15 so that exact copies of
    the training set give a huge but finite MiFID (Kaggle adds 1e-14 for the same reason).
    """
    d = float(min_cosine_distances(feats_fake, feats_train).mean())
    d_thr = d if d < epsilon else 1.0
    # FID is never negative, but its matrix square root leaves rounding noise (about -1e-13 for a set
    # against itself); divided by a near-zero d that noise would become a large negative MiFID.
    return max(float(fid), 0.0) / max(d_thr, 1e-15), d


def nearest_pixel_l2(fake_uint8: np.ndarray, train_uint8: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest training image of each fake in per-pixel RMS distance on the [0, 1] scale.

    For (N, H, W, 3) uint8 arrays of equal image size: distance = sqrt(mean((a/255 - b/255)^2)).
    Returns (distances (n_fake,) float64, indices (n_fake,) into train_uint8). A plain
    memorization check, complementary to the feature-space one of Bai et al. 2021.
    """
    fake, train = np.asarray(fake_uint8), np.asarray(train_uint8)
    if fake.ndim != 4 or train.ndim != 4 or fake.shape[1:] != train.shape[1:]:
        raise ValueError(f"need (N, H, W, C) arrays of equal image size, got {fake.shape} and {train.shape}")
    if train.shape[0] == 0:
        raise ValueError("no training images")
    n_pix = int(np.prod(fake.shape[1:]))
    # Candidates from a float32 matmul on centred data (fast), exact float64 distances for the
    # few best: |a|^2 + |b|^2 - 2ab cancels badly in float32 exactly where it matters, near copies.
    tr = torch.from_numpy(train.reshape(train.shape[0], -1)).to(torch.float32).div_(255.0).sub_(0.5)
    tr_sq = (tr * tr).sum(1)
    k = min(4, train.shape[0])
    dist = np.empty(fake.shape[0], dtype=np.float64)
    idx = np.empty(fake.shape[0], dtype=np.int64)
    train_flat = train.reshape(train.shape[0], -1)
    # Bound both the float32 copy of a block of fakes and its row of the distance matrix.
    step = max(1, min((1 << 24) // n_pix, _BLOCK_ELEMENTS // train.shape[0]))
    for start in range(0, fake.shape[0], step):
        block = fake[start:start + step].reshape(-1, n_pix)
        f = torch.from_numpy(block).to(torch.float32).div_(255.0).sub_(0.5)
        approx = tr_sq[None, :] - 2.0 * (f @ tr.T)  # |f|^2 is constant per row: irrelevant to the ranking
        cand = approx.topk(k, dim=1, largest=False).indices.numpy()
        for row in range(block.shape[0]):
            diffs = (train_flat[cand[row]].astype(np.float64) - block[row].astype(np.float64)) / 255.0
            exact = np.sqrt((diffs * diffs).mean(axis=1))
            j = int(exact.argmin())
            dist[start + row], idx[start + row] = exact[j], cand[row, j]
    return dist, idx


def _pairwise_euclidean(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    sq = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * (a @ b.T)
    return np.sqrt(np.clip(sq, 0.0, None))


def _knn_radii(vectors: np.ndarray, k: int) -> np.ndarray:
    """Each vector's distance to its k-th nearest neighbour within the set (column 0 is itself)."""
    radii = np.empty(len(vectors))
    for start, stop in _row_blocks(len(vectors), len(vectors)):
        radii[start:stop] = np.partition(_pairwise_euclidean(vectors[start:stop], vectors), k, axis=1)[:, k]
    return radii


def _mutual_coverage(f: np.ndarray, f_radii: np.ndarray, r: np.ndarray, r_radii: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Which fakes lie inside the reals' manifold, and which reals inside the fakes': a set's manifold
    is the union of balls around its vectors, each reaching the vector's k-th nearest neighbour
    (Kynkaanniemi et al. 2019). One pass over the fake-real distances serves both."""
    fake_inside, real_inside = np.zeros(len(f), dtype=bool), np.zeros(len(r), dtype=bool)
    for start, stop in _row_blocks(len(f), len(r)):
        d = _pairwise_euclidean(f[start:stop], r)
        fake_inside[start:stop] = (d <= r_radii[None, :]).any(1)
        real_inside |= (d <= f_radii[start:stop, None]).any(0)
    return fake_inside, real_inside


def precision_recall(fake: torch.Tensor | np.ndarray, real: torch.Tensor | np.ndarray, k: int = 3,
                     subsets: int = 10, seed: int = 0) -> dict[str, float]:
    """Improved precision and recall (Kynkaanniemi et al. 2019) of fakes against reals in feature space.

    Precision: the share of fakes inside the reals' manifold (are they like paintings?); recall: the
    share of reals inside the fakes' manifold (is each kind of painting made?). FID folds the two
    together. A manifold grows with its number of vectors, so both sets are judged at the same size:
    the larger is drawn down to the smaller's size `subsets` times (mean and std reported).
    """
    f, r = _as_float64_2d(fake, "fake"), _as_float64_2d(real, "real")
    if f.shape[1] != r.shape[1]:
        raise ValueError("feature dimensions differ")
    n = min(len(f), len(r))
    if n <= k:
        raise ValueError(f"precision and recall with k={k} need more than {k} vectors in each set")
    rng = np.random.default_rng(seed)
    draws = 1 if len(f) == len(r) else subsets
    # The set that is not drawn down is the same in every draw: its radii are computed once.
    f_radii = _knn_radii(f, k) if len(f) == n else None
    r_radii = _knn_radii(r, k) if len(r) == n else None
    scores = []
    for _ in range(draws):
        fs = f if len(f) == n else f[rng.choice(len(f), n, replace=False)]
        rs = r if len(r) == n else r[rng.choice(len(r), n, replace=False)]
        fake_inside, real_inside = _mutual_coverage(fs, _knn_radii(fs, k) if f_radii is None else f_radii,
                                                    rs, _knn_radii(rs, k) if r_radii is None else r_radii)
        scores.append((fake_inside.mean(), real_inside.mean()))
    p, q = np.array(scores).T
    return {"precision": float(p.mean()), "precision_std": float(p.std()), "recall": float(q.mean()),
            "recall_std": float(q.std()), "k": k, "size": n}


def _average_ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n, ties given the mean of the ranks they span (scipy.stats.rankdata 'average')."""
    ranks = np.empty(x.shape[0], dtype=np.float64)
    ranks[np.argsort(x, kind="mergesort")] = np.arange(1, x.shape[0] + 1)
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    return (np.bincount(inverse, weights=ranks) / counts)[inverse]


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman rank correlation (Spearman 1904): Pearson correlation of average ranks.

    NaN for fewer than 3 points, constant input, or any non-finite value.
    """
    a, b = np.asarray(x, np.float64).reshape(-1), np.asarray(y, np.float64).reshape(-1)
    if a.shape != b.shape:
        raise ValueError("x and y must have the same length")
    if a.shape[0] < 3 or not (np.isfinite(a).all() and np.isfinite(b).all()):
        return math.nan
    ra, rb = _average_ranks(a), _average_ranks(b)
    ra -= ra.mean()
    rb -= rb.mean()
    denom = math.sqrt(float(ra @ ra) * float(rb @ rb))
    if denom == 0.0:
        return math.nan
    return float(np.clip(ra @ rb / denom, -1.0, 1.0))
