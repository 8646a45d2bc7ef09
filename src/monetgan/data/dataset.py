"""Training data: find paintings in a folder or zip, decode them once into a uint8 tensor, and
deal batches in a deterministic, resumable order."""

from __future__ import annotations

import hashlib
import os
import stat
import zipfile
import zlib
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
import torch
from tqdm.auto import tqdm

from ..errors import UserError
from .images import UnusableImage, decode_square

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
KAGGLE_MONET_FOLDER = "monet_jpg"  # inside Kaggle's gan-getting-started.zip
KAGGLE_PHOTO_FOLDER = "photo_jpg"  # the same zip's 7,038 photographs
MAX_FILE_BYTES = 256 * 1024 * 1024  # a file (or zip member) larger than this is not a painting
# What zipfile raises for a damaged archive or member: BadZipFile, NotImplementedError (a
# RuntimeError, as is "password required"), zlib.error and EOFError from the inflater,
# UnicodeDecodeError (a ValueError) for a name flagged UTF-8 that is not.
_ZIP_ERRORS = (zipfile.BadZipFile, OSError, RuntimeError, ValueError, EOFError, zlib.error)


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
        return pixels_fingerprint(self.images)

    def pixels(self) -> np.ndarray:
        """The images as (N, R, R, 3) uint8, channels last, as Pillow and numpy code wants them."""
        return self.images.permute(0, 2, 3, 1).contiguous().numpy()


def pixels_fingerprint(images: torch.Tensor) -> str:
    """SHA-256 of a uint8 image tensor's pixels."""
    return hashlib.sha256(images.numpy().tobytes()).hexdigest()


def _is_image_name(name: str) -> bool:
    """An image by its suffix, except macOS metadata (`._name.jpg`, `__MACOSX/`), which zips made on a Mac carry."""
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if not parts or parts[-1].startswith("._") or "__MACOSX" in parts:
        return False
    return name.lower().endswith(IMAGE_SUFFIXES)


def display_name(name: str) -> str:
    """`name` safe to print or to write one per line: undecodable bytes and control characters escaped.

    A Linux file name is bytes; Python carries the undecodable ones as lone surrogates, which cannot
    be printed or written as UTF-8. `caf\\xe9.jpg` says which file is meant and cannot forge a line.
    """
    try:
        name = name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a surrogate that does not stand for a byte: keep it visible
        name = name.encode("utf-8", "backslashreplace").decode("utf-8")
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in name)


def _prefer_folder(names: list[str], folder: str) -> list[str]:
    """Kaggle's zip holds paintings and photos: when a `folder` (monet_jpg/ or photo_jpg/) is present, take only it."""
    inside = [n for n in names if folder in PurePosixPath(n.replace(os.sep, "/")).parts[:-1]]
    return inside or names


def _read_file(path: Path) -> bytes:
    """The bytes of a regular file of at most MAX_FILE_BYTES, or `UnusableImage` saying why not.

    Opened non-blocking and checked with fstat, so a FIFO or device named .jpg cannot hang or
    flood the loader; symlinks are followed (a loop fails with ELOOP).
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except OSError as exc:
        raise UnusableImage(f"cannot be read ({exc.strerror or exc.__class__.__name__})") from None
    with os.fdopen(fd, "rb") as f:
        try:
            info = os.fstat(f.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise UnusableImage("not a regular file")
            if info.st_size > MAX_FILE_BYTES:
                raise UnusableImage(f"{info.st_size:,} bytes, over the {MAX_FILE_BYTES:,} limit")
            return f.read(MAX_FILE_BYTES + 1)
        except OSError as exc:
            raise UnusableImage(f"cannot be read ({exc.strerror or exc.__class__.__name__})") from None


def _folder_sources(root: Path, bad: list[tuple[str, str]], prefer: str,
                    flag: str) -> list[tuple[str, Callable[[], bytes]]]:
    def unreadable_folder(exc: OSError) -> None:
        where = Path(exc.filename or root)
        if where == root:
            raise UserError(f"{flag} {root}: cannot read the folder ({exc.strerror}); check its permissions")
        name = os.path.relpath(where, root)
        bad.append((name, f"folder cannot be read ({exc.strerror or exc.__class__.__name__}); its files were not searched"))

    found = []
    # followlinks=False: a symlink loop cannot trap the walk; symlinked files are still read.
    for folder, dirs, files in os.walk(root, onerror=unreadable_folder, followlinks=False):
        dirs[:] = sorted(d for d in dirs if d != "__MACOSX")
        for name in sorted(files):
            if _is_image_name(name):
                path = Path(folder) / name
                found.append((str(path.relative_to(root)), lambda path=path: _read_file(path)))
    keep = set(_prefer_folder([name for name, _ in found], prefer))
    return [(name, read) for name, read in found if name in keep]


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """A zip member's bytes, read in memory (never extracted); `UnusableImage` if the archive is damaged there."""
    try:
        return archive.read(info)
    except _ZIP_ERRORS as exc:
        raise UnusableImage(f"cannot be read from the zip ({exc.__class__.__name__}: {exc})") from None


def _zip_sources(archive: zipfile.ZipFile, prefer: str) -> tuple[list[tuple[str, Callable[[], bytes]]], list[tuple[str, str]]]:
    bad: list[tuple[str, str]] = []
    members = {}
    for info in archive.infolist():
        if info.is_dir() or not _is_image_name(info.filename):
            continue
        parts = PurePosixPath(info.filename.replace("\\", "/")).parts
        # Members are read into memory, never extracted, but an absolute or ../ path is still a red flag.
        if info.filename.startswith(("/", "\\")) or ".." in parts or (parts and ":" in parts[0]):
            bad.append((info.filename, "unsafe path inside the zip (absolute or ../); ignored"))
        elif info.file_size > MAX_FILE_BYTES:
            bad.append((info.filename, f"declares {info.file_size:,} bytes uncompressed; ignored"))
        else:
            members[info.filename] = info
    keep = _prefer_folder(sorted(members), prefer)
    return [(name, lambda info=members[name]: _read_member(archive, info)) for name in keep], bad


@contextmanager
def image_sources(path: str | os.PathLike, *, prefer: str = KAGGLE_MONET_FOLDER, flag: str = "--data",
                  what: str = "paintings", single_file: bool = False,
                  ) -> Iterator[tuple[list[tuple[str, Callable[[], bytes]]], list[tuple[str, str]]]]:
    """(sources, bad) of a folder (searched recursively) or zip: `sources` are (name, read bytes) of
    every JPEG/PNG/WebP (only the `prefer` folder's when there is one), `bad` the (name, reason) of
    files refused before reading. With `single_file`, an image file is a source of its own. A zip
    stays open while the block runs. Raises `UserError` when there is nothing to read at all."""
    root = Path(path)
    if not root.exists():
        raise UserError(f"{flag} {root}: no such file or folder; point it at a folder or zip of {what}")
    archive = None
    bad: list[tuple[str, str]] = []
    if root.is_dir():
        sources = _folder_sources(root, bad, prefer, flag)
    elif root.is_file() and zipfile.is_zipfile(root):  # is_file first: a FIFO would block is_zipfile
        try:
            archive = zipfile.ZipFile(root)
            sources, bad = _zip_sources(archive, prefer)
        except _ZIP_ERRORS as exc:
            if archive is not None:
                archive.close()
            raise UserError(f"{flag} {root}: cannot open the zip ({exc.__class__.__name__}: "
                            f"{display_name(str(exc))}); is it damaged?") from None
    elif single_file and root.is_file() and _is_image_name(root.name):
        sources = [(root.name, lambda: _read_file(root))]
    else:
        raise UserError(f"{flag} {root}: not a folder or a zip file; point it at a folder or zip of {what}")
    try:
        if not sources and not bad:
            raise UserError(f"{flag} {root}: no .jpg, .png or .webp images found; check the path")
        yield sources, bad
    finally:
        if archive is not None:
            archive.close()


class NoneAskedFor(UserError):
    """`load_dataset(only=...)` found none of the names it was asked for."""


def load_dataset(path: str | os.PathLike, resolution: int, show_progress: bool = True, *,
                 prefer: str = KAGGLE_MONET_FOLDER, flag: str = "--data", what: str = "paintings",
                 only: Collection[str] | None = None) -> Dataset:
    """Decode every JPEG/PNG/WebP under a folder (recursively) or inside a zip.

    When the folder or zip holds a `prefer` folder (Kaggle's monet_jpg/ or photo_jpg/), only that
    one is read. `flag` and `what` name the input in error messages (--data paintings, --photos photos).
    `only`: decode just the images with these `display_name`s (a run's held-out photos, say).

    A readable image of any mode or size is converted to RGB and used. A file that cannot be
    (unreadable, not a regular file, corrupt, over the size limits, or an unsafe zip path) is
    skipped and listed in `Dataset.skipped` as (name, reason); names there and in `Dataset.names`
    are `display_name`s, safe to print. Raises `UserError` when the path does not exist or holds no
    usable image at all.
    """
    arrays, names = [], []
    with image_sources(path, prefer=prefer, flag=flag, what=what) as (sources, bad):
        if only is not None:
            sources = [(name, read) for name, read in sources if display_name(name) in only]
        for name, read in tqdm(sources, desc="decoding images", unit="img", disable=not show_progress, leave=False):
            try:
                arrays.append(decode_square(read(), resolution))
                names.append(display_name(name))
            except UnusableImage as exc:
                bad.append((name, str(exc)))
    root = Path(path)
    skipped = [(display_name(name), display_name(why)) for name, why in bad]
    if not arrays and not skipped:  # `only` matched nothing
        raise NoneAskedFor(f"{flag} {root}: none of the {len(only or ())} {what} asked for are there")
    if not arrays:
        raise UserError(f"{flag} {root}: none of the {len(skipped)} image files could be used "
                        f"(e.g. {skipped[0][0]}: {skipped[0][1]})")
    images = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()  # (N, 3, R, R) uint8
    return Dataset(images=images, names=names, skipped=skipped)


class BatchOrder:
    """Deterministic shuffled batches: epoch e uses permutation randperm(N, seed + e).

    The whole position is two integers, so resuming the data order exactly is trivial.
    Batches run across epoch boundaries, so every image is seen equally often.
    """

    def __init__(self, size: int, seed: int, epoch: int = 0, position: int = 0):
        self.size, self.seed, self.epoch, self.position = size, seed, epoch, position
        self._perm = self._permutation(epoch)

    def _permutation(self, epoch: int) -> torch.Tensor:
        # Wrapped to torch's 64-bit seed range: unchanged for every seed that fitted before, and a large
        # --set seed=... no longer overflows.
        seed = (self.seed * 1_000_003 + epoch) % (1 << 64)
        return torch.randperm(self.size, generator=torch.Generator().manual_seed(seed))

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
