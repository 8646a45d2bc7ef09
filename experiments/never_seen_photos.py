"""Folders of the Kaggle photos the bundled stylizer never trained on: a validation set and a test set.

    python experiments/never_seen_photos.py ../shared/data/photo_jpg /tmp/val /tmp/test_large

The bundled stylizer (monetgan/weights/stylizer.json) trained on a GPU lease that carried only
1,150 photos: the first 1,150 of every 5th training photo in name order (training photos: those
`data/photos.py` does not hold out). So besides the 1,019 held-out photos, 4,869 training photos
were never seen by it. This script splits those 5,888 photos in two, by name alone:
- validation (480): every 10th of the 4,869 in name order, from the 4th; for choices made after
  training (the stylizer's strength). The 1,019 held-out photos are never among them.
- test (5,408): the other 4,389 and the 1,019 held-out photos; Kaggle scores 7,000-10,000 images, and
  FID at 1,019 reads several points above FID at Kaggle's sample size.
The folders hold symbolic links to the photos, never copies.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from monetgan.data.photos import held_out

HOLDOUT_PERCENT = 15  # cut-128's photo_holdout_percent
GPU_EVERY, GPU_COUNT = 5, 1150  # the lease's training photos: train[::5][:1150]
VAL_EVERY, VAL_START, VAL_COUNT = 10, 3, 480


def split(names: list[str]) -> tuple[list[str], list[str], list[str]]:
    """(photos the stylizer trained on, validation, test), each in name order."""
    names = sorted(names)
    train = [n for n in names if not held_out(n, HOLDOUT_PERCENT)]
    seen = train[::GPU_EVERY][:GPU_COUNT]
    unseen = sorted(set(train) - set(seen))
    val = unseen[VAL_START::VAL_EVERY][:VAL_COUNT]
    test = sorted((set(unseen) - set(val)) | {n for n in names if held_out(n, HOLDOUT_PERCENT)})
    return seen, val, test


def link_all(photos: Path, names: list[str], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name in names:
        target = out / name
        if not target.exists():
            os.symlink((photos / name).resolve(), target)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("photos", type=Path, help="Kaggle's photo_jpg/")
    parser.add_argument("val", type=Path, help="folder for the validation photos (links)")
    parser.add_argument("test", type=Path, help="folder for the test photos (links)")
    args = parser.parse_args()
    names = [p.name for p in args.photos.iterdir() if p.suffix.lower() == ".jpg"]
    seen, val, test = split(names)
    link_all(args.photos, val, args.val)
    link_all(args.photos, test, args.test)
    print(f"{len(names)} photos: the stylizer trained on {len(seen)}; validation {len(val)} -> {args.val}, "
          f"test {len(test)} -> {args.test}")


if __name__ == "__main__":
    main()
