"""Training data: find paintings in a folder or zip, decode them once into a uint8 tensor, and
deal batches in a deterministic, resumable order."""

from __future__ import annotations

import hashlib
import os
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
import torch
from tqdm.auto import tqdm

from .errors import UserError
from .images import UnusableImage, decode_square

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
KAGGLE_MONET_FOLDER = "monet_jpg"  # inside Kaggle's gan-getting-started.zip
MAX_MEMBER_BYTES = 256 * 1024 * 1024  # a zip member claiming more than this is not a painting


@dataclass
class Dataset:
    """All training images, decoded once: `images` is (N, 3, R, R) uint8."""

    images: torch.Tensor
    names: list[str]
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (name, reason)

    def __len__(self) -> int:
        return self.images.shape[0]

    def fingerprint(self) -> str:
        """SHA-256 of the decoded pixels: identifies the data a run was trained on."""
        return hashlib.sha256(self.images.numpy().tobytes()).hexdigest()


def _is_image_name(name: str) -> bool:
    return name.lower().endswith(IMAGE_SUFFIXES)


def _prefer_kaggle_monet(names: list[str]) -> list[str]:
    """Kaggle's zip holds photos too: when a `monet_jpg/` folder is present, take only it."""
    monet = [n for n in names if KAGGLE_MONET_FOLDER in PurePosixPath(n.replace(os.sep, "/")).parts[:-1]]
    return monet or names


def _folder_sources(root: Path) -> list[tuple[str, Callable[[], bytes]]]:
    found = []
    # followlinks=False: a symlink loop cannot trap the walk; symlinked files are still read.
    for folder, dirs, files in os.walk(root, followlinks=False):
        dirs.sort()
        for name in sorted(files):
            if _is_image_name(name):
                path = Path(folder) / name
                found.append((str(path.relative_to(root)), path.read_bytes))
    keep = set(_prefer_kaggle_monet([name for name, _ in found]))
    return [(name, read) for name, read in found if name in keep]


def _zip_sources(archive: zipfile.ZipFile) -> tuple[list[tuple[str, Callable[[], bytes]]], list[tuple[str, str]]]:
    bad: list[tuple[str, str]] = []
    members = {}
    for info in archive.infolist():
        if info.is_dir() or not _is_image_name(info.filename):
            continue
        parts = PurePosixPath(info.filename.replace("\\", "/")).parts
        # Members are read into memory, never extracted, but an absolute or ../ path is still a red flag.
        if info.filename.startswith(("/", "\\")) or ".." in parts or (parts and ":" in parts[0]):
            bad.append((info.filename, "unsafe path inside the zip (absolute or ../); ignored"))
        elif info.file_size > MAX_MEMBER_BYTES:
            bad.append((info.filename, f"declares {info.file_size:,} bytes uncompressed; ignored"))
        else:
            members[info.filename] = info
    keep = _prefer_kaggle_monet(sorted(members))
    return [(name, lambda info=members[name]: archive.read(info)) for name in keep], bad


def load_dataset(path: str | os.PathLike, resolution: int, show_progress: bool = True) -> Dataset:
    """Decode every JPEG/PNG/WebP under a folder (recursively) or inside a zip.

    Unusable files are skipped and listed in `Dataset.skipped`; raises `UserError` when the path
    does not exist or holds no usable image at all.
    """
    root = Path(path)
    if not root.exists():
        raise UserError(f"--data {root}: no such file or folder; point it at a folder or zip of paintings")
    archive = None
    bad: list[tuple[str, str]] = []
    if root.is_dir():
        sources = _folder_sources(root)
    elif zipfile.is_zipfile(root):
        try:
            archive = zipfile.ZipFile(root)
        except (zipfile.BadZipFile, OSError) as exc:
            raise UserError(f"--data {root}: cannot open the zip ({exc})") from None
        sources, bad = _zip_sources(archive)
    else:
        raise UserError(f"--data {root}: not a folder or a zip file; point it at a folder or zip of paintings")
    try:
        if not sources and not bad:
            raise UserError(f"--data {root}: no .jpg, .png or .webp images found; check the path")
        arrays, names = [], []
        for name, read in tqdm(sources, desc="decoding images", unit="img", disable=not show_progress, leave=False):
            try:
                arrays.append(decode_square(read(), resolution))
                names.append(name)
            except UnusableImage as exc:
                bad.append((name, str(exc)))
            except (OSError, zipfile.BadZipFile, RuntimeError) as exc:
                bad.append((name, f"cannot be read ({exc.__class__.__name__}: {exc})"))
    finally:
        if archive is not None:
            archive.close()
    if not arrays:
        raise UserError(f"--data {root}: none of the {len(bad)} image files could be used (e.g. {bad[0][0]}: {bad[0][1]})")
    images = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()  # (N, 3, R, R) uint8
    return Dataset(images=images, names=names, skipped=bad)


class BatchOrder:
    """Deterministic shuffled batches: epoch e uses permutation randperm(N, seed + e).

    The whole position is two integers, so resuming the data order exactly is trivial.
    Batches run across epoch boundaries, so every image is seen equally often.
    """

    def __init__(self, size: int, seed: int, epoch: int = 0, position: int = 0):
        self.size, self.seed, self.epoch, self.position = size, seed, epoch, position
        self._perm = self._permutation(epoch)

    def _permutation(self, epoch: int) -> torch.Tensor:
        return torch.randperm(self.size, generator=torch.Generator().manual_seed(self.seed * 1_000_003 + epoch))

    def next_indices(self, batch_size: int) -> torch.Tensor:
        chunks, need = [], batch_size
        while need > 0:
            if self.position >= self.size:
                self.epoch, self.position = self.epoch + 1, 0
                self._perm = self._permutation(self.epoch)
            take = min(need, self.size - self.position)
            chunks.append(self._perm[self.position : self.position + take])
            self.position += take
            need -= take
        return torch.cat(chunks)

    def state(self) -> dict[str, int]:
        return {"epoch": self.epoch, "position": self.position}


def real_batch(images: torch.Tensor, indices: torch.Tensor, flip_mask: torch.Tensor | None) -> torch.Tensor:
    """uint8 (N, 3, R, R) on device -> float batch in [-1, 1], horizontally flipped where flip_mask is True."""
    batch = images[indices].float().div_(127.5).sub_(1.0)
    if flip_mask is not None:
        batch = torch.where(flip_mask.view(-1, 1, 1, 1), batch.flip(3), batch)
    return batch
