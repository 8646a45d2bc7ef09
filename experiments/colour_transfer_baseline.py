"""A classical baseline for photo -> Monet: move each photo's colour statistics onto the paintings'.

Reinhard et al. (2001) colour transfer, in Pillow's YCbCr instead of their l-alpha-beta: each
channel of the photo is shifted and scaled to the mean and standard deviation that channel has
over all the paintings. No learning, no texture: it measures how much of the distance between
photos and Monet is palette alone.

    python experiments/colour_transfer_baseline.py --run RUN --photos PHOTOS --paintings PAINTINGS --out DIR
    monetgan evaluate --fake DIR --real PAINTINGS --num 1019

It paints the photos RUN held out of training (RUN/holdout.txt), so its scores sit beside the
stylizer's on the same photos. DIR must lie outside the repository (the photos are Kaggle's).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image


def ycbcr(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB").convert("YCbCr"), dtype=np.float64)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True)
    parser.add_argument("--photos", required=True)
    parser.add_argument("--paintings", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    paintings = np.stack([ycbcr(p) for p in sorted(Path(args.paintings).glob("*.jpg"))]).reshape(-1, 3)
    target_mean, target_std = paintings.mean(0), paintings.std(0)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    names = sorted((Path(args.run) / "holdout.txt").read_text().split())
    for name in names:
        photo = ycbcr(Path(args.photos) / name)
        pixels = photo.reshape(-1, 3)
        moved = (pixels - pixels.mean(0)) / (pixels.std(0) + 1e-6) * target_std + target_mean
        image = Image.fromarray(np.clip(moved, 0, 255).round().astype(np.uint8).reshape(photo.shape), "YCbCr")
        image.convert("RGB").save(out / f"{Path(name).stem}.png")
    print(f"{len(names)} photos moved onto the paintings' YCbCr mean and spread -> {out}")


if __name__ == "__main__":
    main()
