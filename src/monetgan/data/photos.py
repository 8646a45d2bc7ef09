"""The photographs a photo -> painting run learns from, and the ones it keeps out for evaluation.

Which photos are held out depends only on each photo's name (a hash of it), never on the order the
files were found in or on how many there are: the same photo is held out in every run, on every
machine, and `RUN_DIR/holdout.txt` lists them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import torch

from .dataset import Dataset, pixels_fingerprint


def held_out(name: str, percent: int) -> bool:
    """Whether the photo called `name` is kept out of training (about `percent` % of names are)."""
    digest = hashlib.sha256(name.encode("utf-8", "backslashreplace")).digest()
    return int.from_bytes(digest[:8], "big") % 100 < percent


@dataclass
class PhotoSplit:
    train: torch.Tensor  # (M, 3, S, S) uint8
    train_names: list[str]
    holdout: torch.Tensor
    holdout_names: list[str]

    def fingerprint(self) -> str:
        """SHA-256 of the training photos' pixels: a resumed run must see the same ones."""
        return pixels_fingerprint(self.train)


def split_photos(photos: Dataset, percent: int) -> PhotoSplit:
    """Training and held-out photos, in the dataset's (sorted) order."""
    keep = torch.tensor([not held_out(name, percent) for name in photos.names], dtype=torch.bool)
    names = list(photos.names)
    return PhotoSplit(photos.images[keep], [n for n, k in zip(names, keep) if k],
                      photos.images[~keep], [n for n, k in zip(names, keep) if not k])
