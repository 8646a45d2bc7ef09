"""`evaluate()`: how good and how original the paintings are, measured honestly.

For a set of generated images against the real paintings it reports FID and KID (Inception
pool3 features), Kaggle's MiFID, the sliced Wasserstein distance on Laplacian-pyramid patches
(no pretrained network), memorisation (nearest training painting in feature and pixel space) and
diversity (pairwise MS-SSIM). Every figure comes with its real-vs-real floor: the same metric
between two halves of the real set, which is as low as a perfect generator could hope to score
on this many images.

Paintings are judged as a user gets them: at 256 px, against the 256-px paintings. A generator
that paints smaller is upsampled with Lanczos, exactly as `export-kaggle` does, and the report
gives the floor that its resolution sets (the real paintings downsampled to it and upsampled back,
scored against the originals): no generator at that resolution can score below it. `judge_at=
"native"` instead resizes the real paintings to the generator's resolution (the older protocol,
which hides blur).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.numpy import load_file, save_file

from ..training.checkpoint import checkpoints_named, list_checkpoints
from ..data.dataset import KAGGLE_PHOTO_FOLDER, NoneAskedFor, load_dataset
from ..devices import computes_in_bf16, pick_device
from ..errors import UserError
from ..files import atomic_output, atomic_write_text
from ..data.images import make_grid, save_png
from ..metrics.inception import InceptionFeatures, inception_weights_path
from ..metrics.msssim import pairwise_ms_ssim
from ..metrics.stats import (fid_from_features, fid_infinity, fid_terms, kernel_inception_distance, mifid,
                            nearest_cosine, nearest_pixel_l2, precision_recall, spearman)
from ..metrics.swd import sliced_wasserstein, swd_real_floor
from ..painting.export import KAGGLE_SIZE, as_submitted, check_jpeg_quality
from ..painting.paint import pick_generator, resize_square, resolve_checkpoint
from ..painting.stylize import check_precision, load_stylizer, stylize_batch, stylizer_flags_given
from ..nets.sampling import generate, latents_for_seeds
from ..nets.translator import Translator, apply_painting_settings, check_painting_settings

FEATURE_CACHE_VERSION = 1  # bump when feature extraction changes, so old caches are not reused
COSINE_THRESHOLDS = (0.05, 0.1)  # 0.1 is Kaggle's MiFID epsilon
PIXEL_RMS_THRESHOLDS = (0.02, 0.04)  # RMS distance on a 0-1 scale
FAKE_SEED_OFFSET = 10_000_000  # evaluation latents never overlap the preview / export seeds
# FID_inf fits FID against 1/N over subsets of 30-100 % of the images; below this many the subsets
# are too small (and the extra Frechet distances not worth their seconds).
FID_INFINITY_MIN_IMAGES = 100


def default_cache_dir() -> Path:
    return Path(os.environ.get("MONETGAN_CACHE", Path.home() / ".cache" / "monetgan"))


@dataclass
class RealSet:
    """Real paintings at the evaluation resolution, with their Inception features."""

    images: np.ndarray  # (N, R, R, 3) uint8
    features: np.ndarray  # (N, 2048) float64
    path: Path


def _feature_settings(extractor: InceptionFeatures) -> str:
    """Everything about feature extraction that changes the numbers (not the device or batch size)."""
    return f"resize={extractor.resize},dtype={extractor.dtype}"


def _weights_id() -> str:
    path = inception_weights_path()
    return f"{path.name}:{path.stat().st_size}"


def cached_features(images: np.ndarray, extractor: InceptionFeatures, cache_dir: Path | None,
                    show_progress: bool = True) -> np.ndarray:
    """Inception features of (N, R, R, 3) uint8 images, computed once and then read from the cache.

    The cache key hashes the pixels and every setting that changes the features, so a changed
    folder, resolution or network can never reuse stale statistics. Real paintings and the photos a
    stylizer is judged on both go through here: judging five stylizers on the same 1,019 photos
    extracts the photos' features once.
    """
    pixels = hashlib.sha256(np.ascontiguousarray(images).tobytes()).hexdigest()
    key = hashlib.sha256(
        f"{pixels}|{images.shape}|{_weights_id()}|{_feature_settings(extractor)}|{FEATURE_CACHE_VERSION}".encode()
    ).hexdigest()[:24]
    cache = (cache_dir / f"features-{key}.safetensors") if cache_dir else None
    if cache is not None and cache.exists():
        try:
            return load_file(str(cache))["features"]
        except Exception:  # a damaged cache is recomputed, never trusted
            cache.unlink(missing_ok=True)
    features = extractor(images, show_progress=show_progress)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        with atomic_output(cache) as tmp:
            save_file({"features": np.ascontiguousarray(features)}, str(tmp))
    return features


def load_real_set(path: str | os.PathLike, resolution: int, extractor: InceptionFeatures,
                  cache_dir: Path | None, show_progress: bool = True) -> RealSet:
    """Decode a real image set at `resolution` and its features (cached, see `cached_features`)."""
    dataset = load_dataset(path, resolution, show_progress=show_progress)
    images = dataset.images.permute(0, 2, 3, 1).contiguous().numpy()
    return RealSet(images, cached_features(images, extractor, cache_dir, show_progress), Path(path))


PR_NEIGHBOURS = 3  # k of precision and recall, as Kynkaanniemi et al. use


def quality_metrics(fake_images: np.ndarray, fake_features: np.ndarray, real: RealSet, seed: int = 0) -> dict[str, Any]:
    """FID (and its mean and covariance terms), KID (mean and std over subsets), MiFID, SWD, and
    precision and recall (what FID folds together: like the paintings, and covering them) of fakes
    against reals."""
    fid_mean, fid_covariance = fid_terms(fake_features, real.features)
    fid = fid_mean + fid_covariance
    kid, kid_std = kernel_inception_distance(fake_features, real.features, seed=seed)
    mi, memorization_distance = mifid(fid, fake_features, real.features)
    swd = sliced_wasserstein(fake_images, real.images, seed=seed)
    return {"fid": fid, "fid_mean_term": fid_mean, "fid_covariance_term": fid_covariance,
            "kid": kid, "kid_std": kid_std, "mifid": mi,
            "memorization_distance": memorization_distance, "swd": swd["mean"],
            "swd_levels": {str(k): v for k, v in swd["levels"].items()},
            "precision_recall": _precision_recall_if_possible(fake_features, real.features, seed)}


def _precision_recall_if_possible(fake: np.ndarray, real: np.ndarray, seed: int) -> dict[str, Any] | None:
    """Precision and recall, or None where a set is too small to have k nearest neighbours."""
    if min(len(fake), len(real)) <= PR_NEIGHBOURS:
        return None
    return precision_recall(fake, real, k=PR_NEIGHBOURS, seed=seed)


def real_floor(real: RealSet, seed: int = 0) -> dict[str, Any]:
    """The same metrics between two random halves of the real set: the noise floor."""
    order = np.random.default_rng(seed).permutation(len(real.features))
    a, b = order[: len(order) // 2], order[len(order) // 2 : 2 * (len(order) // 2)]
    fid = fid_from_features(real.features[a], real.features[b])
    kid, kid_std = kernel_inception_distance(real.features[a], real.features[b], seed=seed)
    swd = swd_real_floor(real.images, seed=seed)
    return {"fid": fid, "kid": kid, "kid_std": kid_std, "swd": swd["mean"], "halves": [len(a), len(b)],
            "precision_recall": _precision_recall_if_possible(real.features[a], real.features[b], seed)}


def memorization(fake_images: np.ndarray, fake_features: np.ndarray, real: RealSet, grid_path: Path | None,
                 pairs: int = 16) -> dict[str, Any]:
    """Nearest training painting of each fake, in Inception cosine distance and pixel RMS distance.

    Writes a grid of the closest pairs (fake left, its nearest painting right) for a person to judge.
    """
    cos_d, cos_i = nearest_cosine(fake_features, real.features)
    pix_d, _ = nearest_pixel_l2(fake_images, real.images)
    report = {
        "cosine_min": float(cos_d.min()), "cosine_median": float(np.median(cos_d)),
        "pixel_rms_min": float(pix_d.min()), "pixel_rms_median": float(np.median(pix_d)),
        **{f"fraction_cosine_below_{t}": float((cos_d < t).mean()) for t in COSINE_THRESHOLDS},
        **{f"fraction_pixel_rms_below_{t}": float((pix_d < t).mean()) for t in PIXEL_RMS_THRESHOLDS},
    }
    if grid_path is not None:
        closest = np.argsort(cos_d)[:pairs]
        tiles = np.stack([np.concatenate([fake_images[i], real.images[cos_i[i]]], axis=1) for i in closest])
        save_png(make_grid(tiles, columns=4, padding=4), grid_path)
        report["grid"] = str(grid_path)
    return report


def diversity(fake_images: np.ndarray, real: RealSet, seed: int = 0) -> dict[str, float]:
    """Mean pairwise MS-SSIM of fakes and of reals: higher than the reals' means less diverse.

    1,000 random pairs, or as many as a small set has distinct pairs (more would repeat them)."""
    pairs = lambda n: min(1000, n * (n - 1) // 2)  # noqa: E731
    fake_mean, fake_std = pairwise_ms_ssim(fake_images, num_pairs=pairs(len(fake_images)), seed=seed)
    real_mean, real_std = pairwise_ms_ssim(real.images, num_pairs=pairs(len(real.images)), seed=seed)
    return {"fake_ms_ssim": fake_mean, "fake_ms_ssim_std": fake_std, "real_ms_ssim": real_mean,
            "real_ms_ssim_std": real_std}


def evaluation_seeds(num: int, seed: int) -> range:
    """The latent seeds of an evaluation: `--seed` s takes the s-th block of `num`, so two seeds
    judge disjoint sets of paintings (consecutive offsets would share all but one)."""
    start = FAKE_SEED_OFFSET + seed * num
    return range(start, start + num)


def _paint(generator, num: int, seed: int) -> np.ndarray:
    return generate(generator, latents_for_seeds(evaluation_seeds(num, seed), generator.latent_dim))


def _evaluation_photos(run: str | os.PathLike | None, photos: str | os.PathLike | None, size: int,
                       num: int) -> tuple[np.ndarray, str]:
    """The photos a stylizer is judged on, (N, size, size, 3) uint8, and where they came from: `photos`
    as given, or else the run's held-out photos (RUN_DIR/holdout.txt), which it never trained on."""
    if photos is not None:
        images = load_dataset(photos, size, show_progress=False, prefer=KAGGLE_PHOTO_FOLDER, flag="--photos",
                              what="photos").images
        where = str(photos)
    elif run is not None and (Path(run) / "holdout.txt").is_file():
        info = json.loads((Path(run) / "run.json").read_text())
        held = set((Path(run) / "holdout.txt").read_text().splitlines())
        try:  # only the held-out photos are decoded
            found = load_dataset(info["photos"], size, show_progress=False, prefer=KAGGLE_PHOTO_FOLDER,
                                 flag="--photos", what="photos", only=held)
        except NoneAskedFor:  # a missing or unreadable folder keeps load_dataset's own message
            raise UserError(f"--run {run}: none of its held-out photos were found in {info['photos']}; "
                            "pass --photos") from None
        images = found.images
        where = f"the {len(found.names)} photos held out of {run}'s training ({info['photos']})"
    else:
        raise UserError("a stylizer is judged on photos: pass --photos DIR (photos it never trained on)")
    return images[:num].permute(0, 2, 3, 1).numpy(), where


def _checkpoint_config(checkpoint: Path) -> tuple[int, bool]:
    """(resolution, is a photo -> painting translator) of a checkpoint, from its config.json (no weights loaded)."""
    try:
        config = json.loads((checkpoint / "config.json").read_text())
        return int(config["resolution"]), config.get("generator") == "translator"
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise UserError(f"checkpoint {checkpoint}: cannot read its config.json ({exc})") from None


def resolution_floor(real_path: str | os.PathLike, resolution: int, real: RealSet, extractor: InceptionFeatures,
                     seed: int = 0, show_progress: bool = False) -> dict[str, Any]:
    """FID, KID and SWD of the real paintings themselves, downsampled to `resolution` and upsampled
    back as a painter's output is: the best any generator at that resolution can score here."""
    size = real.images.shape[1]
    small = load_dataset(real_path, resolution, show_progress=False).images.permute(0, 2, 3, 1).numpy()
    back = resize_square(small, size)
    features = extractor(back, show_progress=show_progress)
    kid, kid_std = kernel_inception_distance(features, real.features, seed=seed)
    return {"resolution": resolution, "fid": fid_from_features(features, real.features), "kid": kid,
            "kid_std": kid_std, "swd": sliced_wasserstein(back, real.images, seed=seed)["mean"]}


def _checkpoint_list(run: str | os.PathLike | None, checkpoint: str | None) -> list[Path]:
    if checkpoint is None or run is None:
        return [resolve_checkpoint(run, checkpoint)]
    run_dir = Path(run)
    found = list_checkpoints(run_dir)
    if not found:
        raise UserError(f"--run {run_dir} has no checkpoints to evaluate")
    if checkpoint == "all":
        return found
    return checkpoints_named(run_dir, checkpoint, "--checkpoint", " or all")  # one name or step, or a comma list


def _wasserstein_near(log_path: Path, step: int, window: int = 50) -> float | None:
    """Mean logged Wasserstein estimate over the `window` steps up to `step` (the raw value is noisy)."""
    if not log_path.exists():
        return None
    values = []
    for line in log_path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if step - window < record.get("step", -1) <= step and record.get("wasserstein_estimate") is not None:
            values.append(record["wasserstein_estimate"])
    return float(np.mean(values)) if values else None


def _write_metrics_jsonl(run_dir: Path, rows: list[dict[str, Any]]) -> None:
    """Merge rows into RUN_DIR/metrics.jsonl, one line per step, replacing older evaluations of a step."""
    path = run_dir / "metrics.jsonl"
    by_step: dict[int, dict[str, Any]] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                record = json.loads(line)
                by_step[int(record["step"])] = record
            except (json.JSONDecodeError, KeyError, ValueError, TypeError):
                continue
    for row in rows:
        by_step[row["step"]] = row
    atomic_write_text(path, "".join(json.dumps(by_step[s]) + "\n" for s in sorted(by_step)))


def evaluate(run: str | os.PathLike | None = None, *, checkpoint: str | None = None,
             fake: str | os.PathLike | None = None, weights: str | os.PathLike | None = None,
             real: str | os.PathLike, holdout: str | os.PathLike | None = None,
             num: int = 1000, json_out: str | os.PathLike | None = None, ema: bool | None = None,
             device: str = "auto", seed: int = 0, cache_dir: str | os.PathLike | None = "default",
             judge_at: str = "256", photos: str | os.PathLike | None = None, strength: float | None = None,
             chroma_blur: float | None = None, jpeg: int | None = None, precision: str = "auto",
             show_progress: bool = True) -> dict[str, Any]:
    """Measure a run's checkpoint(s), a generator file, the bundled painter, or a folder of images,
    against real paintings.

    Args:
        run / checkpoint: a run folder and which checkpoint: None (latest), "step-N" or N, a comma
            list of them, or "all" (every checkpoint). Several checkpoints also merge one line per
            step into RUN_DIR/metrics.jsonl.
        fake: instead of a generator, a folder or zip of generated images.
        weights: a generator file written by `monetgan.painting.bundled` (card beside it). With none of
            run, checkpoint, weights and fake, the painter bundled with monetgan is measured (with
            `photos` alone, the bundled stylizer).
        real: the real paintings (the training set, to measure memorisation against).
        holdout: optional second real set never trained on; FID/KID against it are reported too.
        num: generated images per checkpoint.
        cache_dir: where real-image features are cached ("default": $MONETGAN_CACHE or ~/.cache/monetgan; None: off).
        judge_at: "256" (default): at 256 px, smaller paintings upsampled as export does, with the
            floor their resolution sets; "native": at the generator's own resolution.
        photos: for a stylizer (photo -> painting): the photos to paint and judge. Default for a
            run: the photos it held out of training. The photos' own scores and how much of each
            photo survives (`content_cosine`, in Inception's features: not the critic's network) are
            reported beside the paintings'.
        strength: a residual stylizer's strength (nets/translator.py); None: its card's, else 1.
        chroma_blur: a stylizer's colour blur in px (nets/translator.py); None: its card's or run's.
        precision: how a stylizer computes (painting/stylize.check_precision): auto, fp32 or bf16. The
            row says when its paintings were computed in bf16.
        jpeg: judge the paintings as a submission stores them: each through a JPEG at this quality with
            4:2:0 colour and back (export-kaggle writes quality 95), since Kaggle scores the JPEGs.
            None: as painted. Generated images only: a --fake folder is judged as its files are; and at
            256 px only, the size a submission stores.

    Returns a dict with `results` (one entry per checkpoint or the fake folder) and the `real_floor`.
    """
    if fake is not None and (run is not None or checkpoint is not None or weights is not None):
        raise UserError("give --fake DIR alone, or a generator (--run, --checkpoint or --weights), not both")
    if jpeg is not None:
        if fake is not None:
            raise UserError("--jpeg is for paintings made here; --fake images are judged as their files are")
        if judge_at == "native":  # a submission stores 256-px JPEGs: a smaller painting's JPEG is not what Kaggle sees
            raise UserError("--jpeg judges what a submission stores, 256-px JPEGs; leave out --judge-at native")
        check_jpeg_quality(jpeg)
    if judge_at not in ("256", "native"):
        raise UserError(f"--judge-at must be 256 or native, got {judge_at!r}")
    if num < 2:
        raise UserError(f"--num must be at least 2, got {num}")
    cache = default_cache_dir() if cache_dir == "default" else (Path(cache_dir) if cache_dir else None)
    extractor = InceptionFeatures(device=pick_device(device), show_progress=show_progress)

    translating = False
    if fake is not None:
        jobs: list[tuple[str, Any]] = [("fake", Path(fake))]
        generator_resolution = _native_size(Path(fake)) or KAGGLE_SIZE
    elif run is not None:
        jobs = [(p.name, p) for p in _checkpoint_list(run, checkpoint)]
        trained_at, translating = _checkpoint_config(jobs[0][1])
        generator_resolution = KAGGLE_SIZE if translating else trained_at
    elif photos is not None and checkpoint is None and weights is None:  # photos alone: the bundled stylizer
        painter = load_stylizer(device=device)
        jobs, translating, generator_resolution = [("bundled-stylizer", painter)], True, KAGGLE_SIZE
    else:  # one generator: a checkpoint folder, a generator file, or the bundled painter
        painter = pick_generator(None, checkpoint, weights, ema, device)
        name = Path(checkpoint).name if checkpoint else Path(weights).stem if weights else "bundled"
        jobs = [(name, painter)]
        translating = isinstance(painter, Translator)  # paints each photo at the photo's size
        generator_resolution = KAGGLE_SIZE if translating else painter.resolution
    if photos is not None and not translating:
        raise UserError("--photos is for judging a stylizer (a run trained with --photos); this generator paints from noise")
    if (given := stylizer_flags_given(strength, chroma_blur, precision)) and not translating:
        raise UserError(f"{given[0]} is for judging a stylizer (a run trained with --photos); this generator "
                        "paints from noise")
    # Set on each stylizer below; a bad value fails here, before minutes of features.
    check_painting_settings(strength=strength, chroma_blur=chroma_blur)
    check_precision(precision)
    size = KAGGLE_SIZE if judge_at == "256" else generator_resolution
    real_set = load_real_set(real, size, extractor, cache, show_progress)
    floor = real_floor(real_set, seed)
    holdout_set = load_real_set(holdout, size, extractor, cache, show_progress) if holdout else None
    res_floor = (resolution_floor(real, generator_resolution, real_set, extractor, seed)
                 if generator_resolution < size else None)
    photo_report: dict[str, Any] | None = None
    if translating:
        photo_images, where = _evaluation_photos(run, photos, size, num)
        photo_features = cached_features(photo_images, extractor, cache, show_progress)
        photo_report = {"source": where, "num": len(photo_images),
                        **{k: v for k, v in quality_metrics(photo_images, photo_features, real_set, seed).items()
                           if k in ("fid", "kid", "kid_std", "mifid", "swd", "precision_recall")}}
        if len(photo_images) >= FID_INFINITY_MIN_IMAGES:  # the baseline on the same footing as the paintings
            photo_report["fid_infinity"], _ = fid_infinity(photo_features, real_set.features, seed=seed)

    results = []
    for name, source in jobs:
        if name == "fake":
            images = load_dataset(source, size, show_progress=False).images.permute(0, 2, 3, 1).numpy()
        else:
            painter = source if isinstance(source, torch.nn.Module) else pick_generator(None, source, None, ema, device)
            if translating:
                apply_painting_settings(painter, strength=strength, chroma_blur=chroma_blur)
                images = stylize_batch(painter, photo_images, show_progress=show_progress, precision=precision)
            else:
                images = resize_square(_paint(painter, num, seed), size)
            if jpeg is not None:
                images = as_submitted(images, jpeg)
        features = extractor(images, show_progress=show_progress)
        row: dict[str, Any] = {"name": name, "num_fake": len(images), "num_real": len(real_set.features),
                               "resolution": size, "generator_resolution": generator_resolution,
                               **quality_metrics(images, features, real_set, seed)}
        if isinstance(source, Path) and name != "fake":
            row["step"] = int(json.loads((source / "state.json").read_text())["step"])
        if translating:
            row["strength"], row["chroma_blur"] = painter.strength, painter.chroma_blur
            row["bf16"] = computes_in_bf16(next(painter.parameters()).device, precision)
            # How much of each photo survives: cosine of its Inception features with its painting's.
            a = features / np.linalg.norm(features, axis=1, keepdims=True)
            b = photo_features / np.linalg.norm(photo_features, axis=1, keepdims=True)
            row["content_cosine"] = float(np.mean(np.sum(a * b, axis=1)))
        if holdout_set is not None:
            row["holdout_fid"] = fid_from_features(features, holdout_set.features)
            row["holdout_kid"], row["holdout_kid_std"] = kernel_inception_distance(features, holdout_set.features, seed=seed)
        if len(jobs) == 1:
            # The nearest-pair grid goes beside the run or the JSON report; never into the working folder unasked.
            grid_dir = Path(run) if run is not None else (Path(json_out).parent if json_out else None)
            row["memorization"] = memorization(images, features, real_set,
                                               grid_dir / "memorization.png" if grid_dir else None)
            row["diversity"] = diversity(images, real_set, seed)
            if len(images) >= FID_INFINITY_MIN_IMAGES:
                row["fid_infinity"], row["fid_curve"] = fid_infinity(features, real_set.features, seed=seed)
        results.append(row)

    report: dict[str, Any] = {"real": str(real_set.path), "real_floor": floor, "results": results,
                              "settings": {"num": num, "seed": seed, "resolution": size, "judge_at": judge_at,
                                           "generator_resolution": generator_resolution,
                                           "features": _feature_settings(extractor), "ema": ema,
                                           "jpeg": jpeg}}
    if res_floor is not None:
        report["resolution_floor"] = res_floor
    if photo_report is not None:
        report["photos"] = photo_report
    if run is not None and (len(jobs) > 1 or checkpoint == "all"):
        log = Path(run) / "log.jsonl"
        for row in results:
            row["wasserstein_estimate"] = _wasserstein_near(log, row["step"])
        _write_metrics_jsonl(Path(run), [{**{k: row[k] for k in ("step", "fid", "kid", "kid_std", "mifid", "swd",
                                                                   "wasserstein_estimate")}, "judged_at": size}
                                         for row in results])
        w = [row["wasserstein_estimate"] for row in results]
        if all(v is not None for v in w):
            report["spearman_wasserstein"] = {m: spearman(np.array(w), np.array([r[m] for r in results]))
                                              for m in ("fid", "kid", "swd")}
    if json_out is not None:
        out = Path(json_out)
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out, json.dumps(report, indent=2, default=float) + "\n")
    return report


def _native_size(folder: Path) -> int | None:
    """The side of the first image in a folder of generated images, to evaluate at its own size."""
    from PIL import Image

    if not folder.is_dir():
        return None
    for path in sorted(folder.rglob("*")):
        if path.suffix.lower() in (".png", ".jpg", ".jpeg", ".webp"):
            with Image.open(path) as img:
                return min(img.size)
    return None


def _painting_settings(row: dict[str, Any]) -> str:
    """' (strength 0.9, colour blur 1 px, computed in bf16)' for a stylizer painting with settings other
    than the plain ones."""
    said = ([f"strength {row['strength']:g}"] if row.get("strength", 1.0) != 1.0 else []) + \
        ([f"colour blur {row['chroma_blur']:g} px"] if row.get("chroma_blur", 0.0) else []) + \
        (["computed in bf16"] if row.get("bf16") else [])
    return f" ({', '.join(said)})" if said else ""


def _precision_recall_text(pr: dict[str, Any]) -> str:
    """'precision P ± s, recall R ± s (n vs n)'; sets of equal size are one draw, with no spread."""
    parts = [f"{key} {pr[key]:.3f}" + (f" ± {pr[key + '_std']:.3f}" if pr[key + "_std"] else "")
             for key in ("precision", "recall")]
    return f"{', '.join(parts)} ({pr['size']} vs {pr['size']})"


def format_report(report: dict[str, Any]) -> str:
    """A plain-text table of an `evaluate` report."""
    floor = report["real_floor"]
    settings = report["settings"]
    judged = (f"{settings['resolution']} px (paintings of {settings['generator_resolution']} px upsampled with Lanczos)"
              if settings.get("generator_resolution", settings["resolution"]) < settings["resolution"]
              else f"{settings['resolution']} px")
    if settings.get("jpeg") is not None:
        judged += f", each painting through a JPEG at quality {settings['jpeg']} (4:2:0) first, as a submission stores it"
    lines = [f"real set {report['real']} at {judged}; "
             f"real-vs-real floor ({floor['halves'][0]} vs {floor['halves'][1]}): FID {floor['fid']:.2f}  "
             f"KID {floor['kid']:.4f} ± {floor['kid_std']:.4f}  SWD {floor['swd']:.2f}",
             *([f"floor of {report['resolution_floor']['resolution']}-px paintings (the reals downsampled and "
                f"upsampled back): FID {report['resolution_floor']['fid']:.2f}  KID {report['resolution_floor']['kid']:.4f}  "
                f"SWD {report['resolution_floor']['swd']:.2f}"] if "resolution_floor" in report else []),
             f"{'checkpoint':<14}{'n':>6}{'FID':>9}{'KID':>18}{'MiFID':>9}{'mem.d':>7}{'SWD':>8}"]
    for row in report["results"]:
        lines.append(f"{row['name']:<14}{row['num_fake']:>6}{row['fid']:>9.2f}{row['kid']:>10.4f} ± {row['kid_std']:.4f}"
                     f"{row['mifid']:>9.2f}{row['memorization_distance']:>7.3f}{row['swd']:>8.2f}")
        if "holdout_fid" in row:
            lines.append(f"{'':<14}holdout: FID {row['holdout_fid']:.2f}  KID {row['holdout_kid']:.4f} ± {row['holdout_kid_std']:.4f}")
    if len(report["results"]) == 1:
        row = report["results"][0]
        m, d = row["memorization"], row["diversity"]
        lines.append("memorization: " + "  ".join(f"{k}={v:.3f}" for k, v in m.items() if k != "grid")
                     + (f"  (pairs: {m['grid']})" if "grid" in m else ""))
        lines.append(f"FID = mean term {row['fid_mean_term']:.2f} (a shift, e.g. of palette) + covariance term "
                     f"{row['fid_covariance_term']:.2f} (what is painted, and how varied)")
        if "fid_infinity" in row:
            lines.append(f"FID extrapolated to infinitely many images (FID_inf, Chong & Forsyth 2020; the "
                         f"{row['num_real']} reals as they are): {row['fid_infinity']:.2f}, from "
                         + ", ".join(f"{fid:.2f} at {n}" for n, fid in row["fid_curve"][::3]))
        if row.get("precision_recall") and floor.get("precision_recall"):
            lines.append(f"precision and recall (Kynkaanniemi et al. 2019, Inception features, k={PR_NEIGHBOURS}: "
                         "the share of paintings-like fakes, the share of paintings covered): "
                         + _precision_recall_text(row["precision_recall"])
                         + f"; two halves of the paintings: {_precision_recall_text(floor['precision_recall'])}")
        lines.append(f"diversity: pairwise MS-SSIM fake {d['fake_ms_ssim']:.3f} ± {d['fake_ms_ssim_std']:.3f}, "
                     f"real {d['real_ms_ssim']:.3f} ± {d['real_ms_ssim_std']:.3f} (lower is more diverse)")
    if "photos" in report:
        p = report["photos"]
        lines.append(f"photos before stylizing ({p['source']}, {p['num']}): FID {p['fid']:.2f}  KID {p['kid']:.4f}  "
                     f"MiFID {p['mifid']:.2f}  SWD {p['swd']:.2f}"
                     + (f"  FID_inf {p['fid_infinity']:.2f}" if "fid_infinity" in p else "")
                     + (f"  {_precision_recall_text(p['precision_recall'])}" if p.get("precision_recall") else ""))
        lines.append("content kept (cosine of photo and painting in Inception features, 1 = the photo itself): " +
                     ", ".join(f"{row['name']} {row['content_cosine']:.3f}"
                               + _painting_settings(row)
                               for row in report["results"]))
    if "spearman_wasserstein" in report:
        s = report["spearman_wasserstein"]
        lines.append("Spearman correlation of the Wasserstein estimate with: " +
                     ", ".join(f"{k.upper()} {v:+.3f}" for k, v in s.items()))
    return "\n".join(lines)
