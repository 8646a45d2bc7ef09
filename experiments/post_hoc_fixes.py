"""Cheap things done to a trained stylizer's output, judged on validation photos: do any of them help?

    python experiments/post_hoc_fixes.py --val VAL --fit-photos FIT --paintings PAINTINGS \
        [--critic RUN/checkpoints/step-N] [--soup CKPT ...] [--only NAME ...]

VAL: photos the stylizer neither trained on nor is judged on (experiments/never_seen_photos.py);
FIT: photos it trained on, to fit the colour maps (every second of them, up to 575). Each row
prints FID (with its mean term), KID and SWD of the bundled stylizer's paintings, changed as the
row says, against the paintings:

- colour-ot-A: the closed-form W2 optimal transport map between Gaussians (the stylized training
  photos' RGB distribution -> the paintings'), moved a fraction A of the way;
- colour-quantile-A: each RGB channel's monotone (1-D optimal transport) quantile map, likewise;
- blur-R: a Gaussian blur of radius R px (the paintings are softer than the photos);
- dot-K: discriminator optimal transport (Tanaka 2019) in pixel space: K normalised ascent steps
  of 0.01 on the critic of --critic (a projected critic: EfficientNet-Lite0, not FID's network),
  with its gradient blurred (sigma 1 px) against hatching;
- soup: the weight average of --soup checkpoints (fine-tunes of one stylizer: one basin);
- scale-S: stylized at S px, resized to 256 (a coarser or finer touch than trained);
- chroma-S: the translator's own colour blur (nets/translator.py) of S px: its colour (Cb, Cr) low-passed,
  its brightness kept;
- jpeg-Q: saved as JPEG at quality Q as `export-kaggle` does (Pillow: colour at half resolution, 4:2:0,
  as in Kaggle's own files) and read back; jpeg-95-444 keeps the colour at full resolution;
  chroma-1+jpeg-95: both, as `export-kaggle --photos` writes the bundled stylizer's paintings;
- chroma-1+strength-A: the colour blur with the residual's strength A (nets/translator.py);
- chroma-1+flip-average: the mean of each photo's painting and its mirror image's, mirrored back
  (test-time augmentation: what the two paintings do not share is averaged down);
- chroma-1+luma-S: the colour blur, and a Gaussian of S px on the brightness (Y) alone;
- chroma-1+critic-picks-mirror / -strength: discriminator rejection (Azadi et al. 2019) with one
  painting kept per photo: the critic of --critic chooses between the photo's painting and its mirror
  image's (mirrored back), or among strengths 0.8-1.2, whichever it scores highest;
- chroma-1+tone-X: per-image tone transport: each painting's brightness mean (b), brightness
  contrast (c) and colourfulness (s) moved by a 1-D monotone (quantile) map from the FIT photos'
  paintings' per-image distribution to the paintings' (X names which: b, bc, bcs, s);
- chroma-1+palette-nearest: each painting's colour (Cb, Cr) Gaussian moved by the W2 map onto the
  nearest (in W2) of the 300 paintings' colour Gaussians, brightness kept;
- chroma-1+gram-mean / -nearest: Gatys-style texture matching: 30 Adam steps (rate 0.01, the change
  blurred with sigma 1 px against hatching) on each painting's pixels toward the Gram matrices of
  EfficientNet-Lite0's four tapped layers (not FID's network), averaged over the paintings or of
  the painting nearest in those Gram matrices.
"""

from __future__ import annotations

import argparse
import copy
import functools
import io
import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageFilter
from safetensors.torch import load_file

from monetgan.config import config_from_dict
from monetgan.data.dataset import load_dataset
from monetgan.data.images import from_uint8, to_uint8
from monetgan.metrics.inception import InceptionFeatures
from monetgan.metrics.stats import fid_terms, kernel_inception_distance, sqrt_psd
from monetgan.metrics.swd import sliced_wasserstein
from monetgan.nets import build_critic
from monetgan.nets.feature_network import load_feature_network
from monetgan.nets.layers import YCBCR_TO_RGB, RGB_TO_YCBCR, chroma_low_pass, gaussian_kernel, separable_blur
from monetgan.nets.translator import apply_painting_settings
from monetgan.painting.stylize import load_stylizer, stylize_batch
from monetgan.reports.evaluate import cached_features, default_cache_dir, load_real_set


def images(folder: str) -> np.ndarray:
    return load_dataset(folder, 256, show_progress=False).pixels()


def gaussian_ot_map(src: np.ndarray, dst: np.ndarray):
    """The W2-optimal map between the Gaussians fitted to two samples (rows)."""
    return gaussian_ot_between(src.mean(0), np.cov(src.T), dst.mean(0), np.cov(dst.T))


def gaussian_ot_between(m1: np.ndarray, c1: np.ndarray, m2: np.ndarray, c2: np.ndarray):
    """x -> m2 + A (x - m1), A = S1^-1/2 (S1^1/2 S2 S1^1/2)^1/2 S1^-1/2: W2-optimal between Gaussians."""
    r1 = sqrt_psd(c1)
    r1_inv = np.linalg.inv(r1 + 1e-6 * np.eye(len(c1)))  # a flat grey picture has a singular colour covariance
    a = r1_inv @ sqrt_psd(r1 @ c2 @ r1) @ r1_inv
    return lambda x: (x - m1) @ a.T + m2


def gaussian_w2(m1: np.ndarray, c1: np.ndarray, m2: np.ndarray, c2: np.ndarray) -> float:
    """Squared W2 distance between two Gaussians."""
    r1 = sqrt_psd(c1)
    return float(((m1 - m2) ** 2).sum() + np.trace(c1 + c2 - 2 * sqrt_psd(r1 @ c2 @ r1)))


def quantile_map(src: np.ndarray, dst: np.ndarray, n: int = 1024):
    qs = np.linspace(0, 1, n)
    tables = [(np.quantile(src[:, c], qs), np.quantile(dst[:, c], qs)) for c in range(3)]
    return lambda x: np.stack([np.interp(x[:, c], *tables[c]) for c in range(3)], 1)


def moved(colour_map, imgs: np.ndarray, fraction: float) -> np.ndarray:
    x = imgs.reshape(-1, 3).astype(np.float64)
    return np.clip(x + fraction * (colour_map(x) - x), 0, 255).round().astype(np.uint8).reshape(imgs.shape)


def discriminator_transport(critic, imgs: np.ndarray, steps: int, eps: float = 0.01) -> np.ndarray:
    blur, out = gaussian_kernel(1.0), []
    for i in range(0, len(imgs), 16):
        x = from_uint8(imgs[i : i + 16])
        for _ in range(steps):
            x.requires_grad_(True)
            (grad,) = torch.autograd.grad(critic(x).sum(), x)
            grad = separable_blur(grad, blur)
            grad = grad / grad.flatten(1).pow(2).mean(1).sqrt().view(-1, 1, 1, 1).clamp_min(1e-12)
            x = (x.detach() + eps * grad).clamp(-1, 1)
        out.append(((x + 1) * 127.5).round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy())
    return np.concatenate(out)


def soup(paths: list[str]) -> torch.nn.Module:
    models = [load_stylizer(checkpoint=p) for p in paths]
    keys = models[0].state_dict().keys()
    models[0].load_state_dict({k: sum(m.state_dict()[k].float() for m in models) / len(models) for k in keys})
    return models[0]


def rescaled(translator, imgs: np.ndarray, side: int) -> np.ndarray:
    def resize(batch, s):
        return np.stack([np.asarray(Image.fromarray(v).resize((s, s), Image.Resampling.LANCZOS)) for v in batch])
    return resize(stylize_batch(translator, resize(imgs, side)), 256)


def with_settings(translator, **settings: float):
    changed = copy.deepcopy(translator)
    apply_painting_settings(changed, **settings)
    return changed


def mirrored(translator, photos: np.ndarray) -> np.ndarray:
    """The painting of each photo's mirror image, mirrored back."""
    return np.ascontiguousarray(stylize_batch(translator, np.ascontiguousarray(photos[:, :, ::-1]))[:, :, ::-1])


def flip_averaged(translator, photos: np.ndarray) -> np.ndarray:
    """The mean of a photo's painting and its mirror image's painting, mirrored back."""
    both = stylize_batch(translator, photos).astype(np.float32) + mirrored(translator, photos)
    return np.clip(both / 2, 0, 255).round().astype(np.uint8)


def luma_low_pass(imgs: np.ndarray, sigma: float) -> np.ndarray:
    """A Gaussian of `sigma` px on the brightness (Y) alone. blur(x) = Y(blur x) + C(blur x) and
    chroma_low_pass(x) = Y(x) + C(blur x), so x + blur(x) - chroma_low_pass(x) = Y(blur x) + C(x)."""
    x = from_uint8(imgs)
    blurred = separable_blur(x, gaussian_kernel(sigma))
    return to_uint8(x + blurred - chroma_low_pass(x, sigma))


def critic_picks(critic, candidates: list[np.ndarray]) -> np.ndarray:
    """Per photo, the candidate painting the critic scores highest (one painting kept per photo)."""
    with torch.no_grad():
        scores = np.stack([np.concatenate([critic(from_uint8(c[i : i + 16])).flatten().numpy()
                                           for i in range(0, len(c), 16)]) for c in candidates])
    best = scores.argmax(0)
    print(f"  critic's choices: {np.bincount(best, minlength=len(candidates)).tolist()}", flush=True)
    return np.stack([candidates[k][i] for i, k in enumerate(best)])


def jpeg_round_trip(imgs: np.ndarray, quality: int, subsampling: int = 2) -> np.ndarray:
    """Each image saved as JPEG (subsampling 2: 4:2:0, Pillow's default; 0: 4:4:4) and decoded again."""
    out = []
    for v in imgs:
        buf = io.BytesIO()
        Image.fromarray(v).save(buf, format="JPEG", quality=quality, subsampling=subsampling)
        out.append(np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB")))
    return np.stack(out)


def to_ycbcr(imgs: np.ndarray) -> np.ndarray:
    """uint8 RGB (..., 3) -> float64 Y, Cb, Cr without offsets (nets/layers.py's JPEG matrix)."""
    return imgs.astype(np.float64) @ RGB_TO_YCBCR.numpy().T


def from_ycbcr(ycc: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(ycc @ YCBCR_TO_RGB.numpy().T), 0, 255).astype(np.uint8)


def _tone_statistics_of(ycc: np.ndarray) -> np.ndarray:
    return np.stack([ycc[..., 0].mean((1, 2)), ycc[..., 0].std((1, 2)),
                     np.hypot(ycc[..., 1], ycc[..., 2]).mean((1, 2))], 1)


def tone_statistics(imgs: np.ndarray) -> np.ndarray:
    """(N, 3): each image's brightness mean and standard deviation and mean colourfulness (|CbCr|)."""
    return _tone_statistics_of(to_ycbcr(imgs))


def tone_transported(imgs: np.ndarray, fit: np.ndarray, target: np.ndarray, which: str) -> np.ndarray:
    """Each image's tone statistics (`which` of b, c, s) moved by the quantile map from `fit`'s
    per-image distribution to `target`'s; brightness mean and contrast on Y, colourfulness on CbCr."""
    qs = np.linspace(0, 1, 201)
    src, dst = tone_statistics(fit), tone_statistics(target)
    maps = [lambda v, k=k: np.interp(v, np.quantile(src[:, k], qs), np.quantile(dst[:, k], qs)) for k in range(3)]
    out = []
    for ycc in to_ycbcr(imgs):
        mean, std, colour = _tone_statistics_of(ycc[None])[0]
        if "c" in which:
            ycc[..., 0] = mean + (ycc[..., 0] - mean) * maps[1](std) / max(std, 1e-6)
        if "b" in which:
            ycc[..., 0] += maps[0](mean) - mean
        if "s" in which:
            ycc[..., 1:] *= maps[2](colour) / max(colour, 1e-6)
        out.append(from_ycbcr(ycc))
    return np.stack(out)


def colour_gaussian(ycc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of the colour (Cb, Cr) of pixels in YCbCr (rows)."""
    return ycc[:, 1:].mean(0), np.cov(ycc[:, 1:].T)


def nearest_palette(imgs: np.ndarray, paintings: np.ndarray) -> np.ndarray:
    """Each image's colour (Cb, Cr; brightness kept) moved by the W2 map between its colour Gaussian
    and that of the painting nearest to it in W2: a palette Monet used, one picture at a time."""
    palettes = [colour_gaussian(to_ycbcr(p.reshape(-1, 3))) for p in paintings]
    out = []
    for image in imgs:
        ycc = to_ycbcr(image.reshape(-1, 3))  # once per picture: its Gaussian and its map both read it
        own = colour_gaussian(ycc)
        target = min(palettes, key=lambda palette: gaussian_w2(*own, *palette))
        ycc[:, 1:] = gaussian_ot_between(*own, *target)(ycc[:, 1:])
        out.append(from_ycbcr(ycc).reshape(image.shape))
    return np.stack(out)


def gram_matrices(net, x: torch.Tensor) -> list[torch.Tensor]:
    grams = []
    for f in net(x):
        f = f.float().flatten(2)
        grams.append(f @ f.transpose(1, 2) / f.shape[-1])
    return grams


def gram_matched(imgs: np.ndarray, paintings: np.ndarray, nearest: bool, steps: int = 30) -> np.ndarray:
    """Each image's pixels moved toward the paintings' EfficientNet-Lite0 Gram matrices (see the rows);
    the network in bf16 autocast, the Gram matrices and the loss in fp32."""
    net, blur = load_feature_network(), gaussian_kernel(1.0)
    bf16 = functools.partial(torch.autocast, "cpu", dtype=torch.bfloat16)
    with torch.no_grad(), bf16():
        real = [torch.cat(g) for g in zip(*[gram_matrices(net, from_uint8(paintings[i : i + 20]))
                                            for i in range(0, len(paintings), 20)])]
    scale = [g.pow(2).flatten(1).sum(1).mean() for g in real]  # each layer's loss on one scale
    out = []
    for i in range(0, len(imgs), 16):
        x0 = from_uint8(imgs[i : i + 16])
        with torch.no_grad(), bf16():
            own = gram_matrices(net, x0)
        if nearest:
            d = sum((g[:, None] - r[None]).pow(2).flatten(2).sum(-1) / c for g, r, c in zip(own, real, scale))
            target = [r[d.argmin(1)] for r in real]
        else:
            target = [r.mean(0, keepdim=True).expand_as(g) for r, g in zip(real, own)]
        delta = torch.zeros_like(x0, requires_grad=True)
        optimizer = torch.optim.Adam([delta], lr=0.01)

        def changed() -> torch.Tensor:
            return (x0 + separable_blur(delta, blur)).clamp(-1, 1)

        for _ in range(steps):
            with bf16():
                grams = gram_matrices(net, changed())
            loss = sum((g - t).pow(2).flatten(1).sum(1).mean() / c for g, t, c in zip(grams, target, scale))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            out.append(to_uint8(changed()))
    return np.concatenate(out)


def row_scorer(paintings: str):
    """(score, real): score(name, images) prints one row, FID (with its mean term), KID and SWD of the
    images against the paintings; real holds the paintings' pixels and Inception features."""
    extractor, cache = InceptionFeatures(), default_cache_dir()
    real = load_real_set(paintings, 256, extractor, cache, show_progress=False)

    def score(name: str, imgs: np.ndarray) -> None:
        feats = cached_features(imgs, extractor, cache, show_progress=False)
        mean_term, cov_term = fid_terms(feats, real.features)
        kid, _ = kernel_inception_distance(feats, real.features, seed=0)
        swd = sliced_wasserstein(imgs, real.images, seed=0)["mean"]
        print(f"{name:22s} FID {mean_term + cov_term:7.2f} (mean term {mean_term:5.2f})  KID {kid:.4f}  SWD {swd:6.2f}",
              flush=True)

    return score, real


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--val", required=True)
    parser.add_argument("--fit-photos", required=True)
    parser.add_argument("--paintings", required=True)
    parser.add_argument("--critic", help="a checkpoint folder whose critic the dot rows follow")
    parser.add_argument("--soup", nargs="*", default=[], help="checkpoint folders to average")
    parser.add_argument("--only", nargs="*", help="row names to run (default: all)")
    args = parser.parse_args()
    score, real = row_scorer(args.paintings)
    stylizer = load_stylizer(chroma_blur=0.0)  # as trained: the card's colour blur is one of the rows
    photos = images(args.val)  # decoded once: several rows paint them again
    val = stylize_batch(stylizer, photos)
    rows = {"as-trained": lambda: val}

    @functools.cache
    def colour_map(kind: str):  # fitted once, and only when a row asks for it
        fit = stylize_batch(stylizer, images(args.fit_photos)[::2][:575]).reshape(-1, 3).astype(np.float64)
        target = real.images.reshape(-1, 3).astype(np.float64)
        return (gaussian_ot_map if kind == "ot" else quantile_map)(fit, target)

    for fraction in (0.5, 1.0):
        for kind in ("ot", "quantile"):
            rows[f"colour-{kind}-{fraction:g}"] = lambda k=kind, f=fraction: moved(colour_map(k), val, f)
    for radius in (0.5, 1.0):
        rows[f"blur-{radius:g}"] = lambda r=radius: np.stack(
            [np.asarray(Image.fromarray(v).filter(ImageFilter.GaussianBlur(r))) for v in val])
    if args.critic:
        critic = build_critic(config_from_dict(json.loads((Path(args.critic) / "config.json").read_text()), args.critic))
        critic.load_state_dict(load_file(str(Path(args.critic) / "critic.safetensors")))
        critic.eval().requires_grad_(False)
        rows["dot-5"] = lambda: discriminator_transport(critic, val, 5)
        rows["chroma-1+critic-picks-mirror"] = lambda: critic_picks(critic, [rows["chroma-1"](), mirrored(
            with_settings(stylizer, chroma_blur=1.0), photos)])
        rows["chroma-1+critic-picks-strength"] = lambda: critic_picks(critic, [stylize_batch(
            with_settings(stylizer, chroma_blur=1.0, strength=a), photos) for a in (0.8, 0.9, 1.0, 1.1, 1.2)])
    if args.soup:
        rows["soup"] = lambda: stylize_batch(soup(args.soup), photos)
    for side in (224, 320):
        rows[f"scale-{side}"] = lambda s=side: rescaled(stylizer, photos, s)
    for sigma in (0.75, 1.0, 1.5):
        # cached: several rows start from these paintings
        rows[f"chroma-{sigma:g}"] = functools.cache(lambda s=sigma: stylize_batch(with_settings(stylizer, chroma_blur=s),
                                                                                 photos))
    for quality in (75, 95):
        rows[f"jpeg-{quality}"] = lambda q=quality: jpeg_round_trip(val, q)
    rows["jpeg-95-444"] = lambda: jpeg_round_trip(val, 95, subsampling=0)
    rows["chroma-1+jpeg-95"] = lambda: jpeg_round_trip(rows["chroma-1"](), 95)  # what export-kaggle now writes
    for strength in (0.9, 1.1):
        rows[f"chroma-1+strength-{strength:g}"] = lambda a=strength: stylize_batch(
            with_settings(stylizer, chroma_blur=1.0, strength=a), photos)
    rows["chroma-1+flip-average"] = lambda: flip_averaged(with_settings(stylizer, chroma_blur=1.0), photos)
    rows["chroma-1+luma-0.4"] = lambda: luma_low_pass(rows["chroma-1"](), 0.4)
    fit_chroma_1 = functools.cache(lambda: stylize_batch(with_settings(stylizer, chroma_blur=1.0),
                                                         images(args.fit_photos)[::2][:575]))
    for which in ("b", "bc", "bcs", "s"):
        rows[f"chroma-1+tone-{which}"] = lambda w=which: tone_transported(rows["chroma-1"](), fit_chroma_1(),
                                                                         real.images, w)
    rows["chroma-1+palette-nearest"] = lambda: nearest_palette(rows["chroma-1"](), real.images)
    for target in ("mean", "nearest"):
        rows[f"chroma-1+gram-{target}"] = lambda t=target: gram_matched(rows["chroma-1"](), real.images,
                                                                       nearest=t == "nearest")
    for name, paint in rows.items():
        if args.only is None or name in args.only:
            score(name, paint())


if __name__ == "__main__":
    main()
